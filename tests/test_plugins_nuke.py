"""The Nuke BokehFX node against a fake of Nuke's API: knob types, animation curves and
expressions baked per frame, ``valueAt`` floats and lists, the main-thread rule, a cancellable
ProgressTask, and the result coming back as a Read. Runs under ``python -I -S``."""

from __future__ import annotations

import json
import shutil
import sys
import threading
import time
from pathlib import Path

import pytest

from bokehfx.jobs.progress import read_progress
from tests.plugin_helpers import FAKES, install, queue_records, run_isolated


@pytest.fixture()
def setup(tmp_path: Path, monkeypatch):
    home, folder = tmp_path / "home", tmp_path / "nuke plugins" / "bokehfx"
    install("nuke", folder, home, monkeypatch)
    return home, folder


def run_nuke(folder: Path, scenario: dict, home: Path, tmp: Path) -> dict:
    path = tmp / f"scenario-{time.monotonic_ns()}.json"
    path.write_text(json.dumps(scenario))
    out = tmp / f"nuke-{time.monotonic_ns()}.json"
    done = run_isolated([str(FAKES / "run_nuke.py"), str(folder), str(path), str(out)], home, tmp)
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    result["stdout"] = done.stdout
    return result


def job_of(home: Path) -> dict:
    [record] = queue_records(home)
    return json.loads(Path(record["job"]).read_text())


def test_animated_knobs_are_baked_per_frame_and_a_failure_reaches_the_artist(setup, tmp_path: Path) -> None:
    home, folder = setup
    result = run_nuke(folder, {
        "file": str(tmp_path / "missing shots" / "plate.####.exr"), "first": 1001, "last": 1005, "format": [200, 100],
        "knobs": {"focus": {"expression": "0.1 * (frame - 1000)"}, "blur": {"keys": [[1001, 10], [1005, 30]]}},
    }, home, tmp_path)
    assert result["finished"] and result["violations"] == [] and not result["imported_bokehfx"]
    job = job_of(home)
    assert job["input"].endswith("plate.%04d.exr") and job["frames"] == "0-4"
    assert [k["frame"] for k in job["keyframes"]] == [0, 1, 2, 3, 4]
    assert [k["focus"] for k in job["keyframes"]] == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])
    assert [k["blur"] for k in job["keyframes"]] == pytest.approx([10, 15, 20, 25, 30])
    assert "focus" not in job and "blur" not in job
    [message] = result["messages"]
    final = read_progress(queue_records(home)[0]["progress"])[-1]
    assert final["status"] == "failed" and message.endswith("failed: " + final["error"])
    assert result["read"] is None


def test_an_animated_focal_point_is_baked_from_xy_lists(setup, tmp_path: Path) -> None:
    home, folder = setup
    run_nuke(folder, {
        "file": str(tmp_path / "plate.%04d.exr"), "first": 1, "last": 3, "format": [200, 100],
        "knobs": {"use_point": {"value": True}, "focal_point": {"keys": [[1, [50, 25]], [3, [150, 75]]]},
                  "blur": {"value": 12}},
    }, home, tmp_path)
    job = job_of(home)
    assert [k["point"] for k in job["keyframes"]] == [[0.25, 0.75], [0.5, 0.5], [0.75, 0.25]]
    assert all(k["track"] is False for k in job["keyframes"]) and job["blur"] == "12.0"


def test_render_brings_the_result_back_as_a_read(setup, tmp_path: Path, media: Path) -> None:
    import av

    home, folder = setup
    source = tmp_path / "plates" / "car phone.mp4"
    source.parent.mkdir()
    shutil.copyfile(media / "skv_carphone_pristine.mp4", source)
    result = run_nuke(folder, {"file": str(source), "first": 1, "last": 6, "format": [176, 144],
                               "knobs": {"blur": {"value": 0}}}, home, tmp_path)
    assert result["finished"] and result["violations"] == [], result
    [record] = queue_records(home)
    assert result["read"] == {"file": record["output"], "first": 1, "last": 6} and result["reloaded"] == 1
    with av.open(record["output"]) as c:
        assert sum(1 for _ in c.decode(video=0)) == 6
    assert result["progress"] and result["progress"][0][-1] == 100


def test_cancel_stops_the_render_and_leaves_nothing(setup, tmp_path: Path, media: Path) -> None:
    home, folder = setup
    source = tmp_path / "clip.mp4"
    shutil.copyfile(media / "skv_carphone_pristine.mp4", source)
    result = run_nuke(folder, {"file": str(source), "first": 1, "last": 30, "cancel_after": 1,
                               "knobs": {"blur": {"value": 0}}}, home, tmp_path)
    [record] = queue_records(home)
    assert result["read"] is None and any("cancelled" in m for m in result["messages"])
    assert not Path(record["output"]).exists()
    assert not [p for p in Path(record["output"]).parent.iterdir()], "no partial output either"


def test_command_line_render_without_a_gui(setup, tmp_path: Path, media: Path) -> None:
    home, folder = setup
    source = tmp_path / "clip.mp4"
    shutil.copyfile(media / "skv_carphone_pristine.mp4", source)
    result = run_nuke(folder, {"gui": False, "file": str(source), "first": 1, "last": 3,
                               "knobs": {"blur": {"value": 0}}}, home, tmp_path)
    assert result["menus"] == [] and result["progress"] == [] and result["violations"] == []
    assert result["read"]["last"] == 3


def test_the_fake_enforces_the_main_thread_rule() -> None:
    sys.path.insert(0, str(FAKES))
    try:
        import nuke

        errors = []

        def worker() -> None:
            try:
                nuke.nodes.Read(name="x")
            except RuntimeError as err:
                errors.append(str(err))

        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()
        assert errors and "main thread" in errors[0]
    finally:
        sys.path.remove(str(FAKES))
        sys.modules.pop("nuke", None)


def test_install_without_dest_registers_the_folder_in_the_users_init(tmp_path: Path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.setenv("BOKEHFX_HOME", str(tmp_path / "home"))
    init = tmp_path / "user" / ".nuke" / "init.py"
    init.parent.mkdir(parents=True)
    init.write_text("import nuke\nnuke.pluginAddPath('./gizmos')\n")
    assert CliRunner().invoke(app, ["plugin", "install", "nuke"]).exit_code == 0
    assert (tmp_path / "user" / ".nuke" / "bokehfx" / "bokehfx_nuke.py").is_file()
    assert "bokehfx" in init.read_text() and "./gizmos" in init.read_text()
    assert CliRunner().invoke(app, ["plugin", "uninstall", "nuke"]).exit_code == 0
    assert init.read_text() == "import nuke\nnuke.pluginAddPath('./gizmos')\n"
    assert not (tmp_path / "user" / ".nuke" / "bokehfx").exists()
