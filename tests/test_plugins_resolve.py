"""The DaVinci Resolve scripts against a fake of Resolve's documented API (quirks included).

The scripts run as Resolve runs them: ``python -I -S`` with only the fakes on the path, globals
``resolve``/``fusion``/``bmd`` provided, the shared code found through ``$BOKEHFX_HOME/lib``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.plugin_helpers import install, queue_records, run_resolve_script, wait_for_final

FOCUS_NEAR = {"schema": "bokehfx.focus/1", "focus": "near", "blur": 12}
FOCUS_FAR = {"schema": "bokehfx.focus/1", "focus": "far", "interp": "linear"}


def scenario(media_path: str | None, *, left: int = 5, duration: int = 10, frames: int = 100,
             markers: dict | None = None, edition: str = "free", **extra) -> dict:
    item = {"id": "item-7", "name": "shot 7", "start": 86400, "duration": duration, "left_offset": left,
            "media": {"path": media_path, "frames": frames, "fps": 24} if media_path else None,
            "markers": markers or {}}
    other = {"id": "item-8", "name": "title", "start": 86400 + duration, "duration": 24, "media": None}
    data = {"edition": edition, "project": {"name": "Show", "timelines": [
        {"name": "Edit 1", "current": True, "fps": 24, "start_frame": 86400, "current_item": "item-7",
         "tracks": [[item, other]]}]}}
    data.update(extra)
    return data


@pytest.fixture()
def setup(tmp_path: Path, monkeypatch):
    home, scripts = tmp_path / "home", tmp_path / "Fusion Scripts" / "Edit"
    install("resolve", scripts, home, monkeypatch)
    return home, scripts


def test_install_records_the_command_and_copies_every_script(tmp_path: Path, monkeypatch) -> None:
    home, scripts = tmp_path / "home", tmp_path / "dest"
    config = install("resolve", scripts, home, monkeypatch)
    assert Path(config["command"][0]).is_absolute()
    assert sorted(p.name for p in scripts.iterdir()) == sorted(
        f"bokehfx_{n}.{e}" for n in ("render_clip", "import_renders", "render_timeline") for e in ("py", "lua"))
    assert (home / "lib" / "bokehfx_resolve.py").is_file() and (home / "lib" / "bokehfx_host.py").is_file()
    from typer.testing import CliRunner

    from cli.main import app

    assert CliRunner().invoke(app, ["plugin", "uninstall", "resolve"]).exit_code == 0
    assert not list(scripts.iterdir()) and not (home / "lib" / "bokehfx_resolve.py").exists()


def test_render_clip_writes_the_job_and_starts_the_cli_with_an_argument_list(setup, tmp_path: Path) -> None:
    home, scripts = setup
    media = tmp_path / "it's a \"quoted\" folder" / "shot 7.mov"  # missing on purpose: the render fails
    markers = {"3.0": {"name": "pull", "note": "", "duration": 1, "customData": json.dumps(FOCUS_NEAR)},
               "7.0": {"name": "far", "note": "focus: " + json.dumps(FOCUS_FAR), "duration": 4, "customData": ""},
               "8.0": {"name": "just a note", "note": "check the boom", "duration": 1, "customData": ""}}
    console, fake = run_resolve_script(scripts / "bokehfx_render_clip.py", scenario(str(media), markers=markers),
                                       home, tmp_path)
    assert not fake["imported_bokehfx"]
    [record] = queue_records(home)
    job = json.loads(Path(record["job"]).read_text())
    assert job["schema"] == "bokehfx.job/1" and job["input"] == str(media)
    assert job["frames"] == "0-26"  # left 5 - 12 handles (clamped at 0) .. 5 + 10 - 1 + 12
    assert job["keyframes"] == [{"frame": 8, "focus": "near", "blur": 12},
                                {"frame": 12, "duration": 4, "focus": "far", "interp": "linear"}]
    assert record["take_start"] == 5 and record["take_end"] == 14
    assert isinstance(record["args"], list) and record["args"][-4:] == [
        "--job", record["job"], "--progress-json", record["progress"]]
    final = wait_for_final(Path(record["progress"]))
    assert final["status"] == "failed" and repr(str(media)) in final["error"]  # the path survived intact
    assert "rendering 'shot 7'" in console


def test_a_failed_render_reaches_the_editor_with_its_error_line(setup, tmp_path: Path) -> None:
    home, scripts = setup
    data = scenario(str(tmp_path / "gone.mov"))
    run_resolve_script(scripts / "bokehfx_render_clip.py", data, home, tmp_path)
    [record] = queue_records(home)
    final = wait_for_final(Path(record["progress"]))
    console, fake = run_resolve_script(scripts / "bokehfx_import_renders.py", data, home, tmp_path)
    assert final["error"].startswith("error: ") and final["error"] in console
    assert "shot 7: failed" in console
    assert not [c for c in fake["calls"] if c[0] == "AddTake"]
    assert (home / "bokehfx.log").read_text().count(final["error"]) >= 1


def test_studio_dialog_settings_go_into_the_job(setup, tmp_path: Path) -> None:
    home, scripts = setup
    data = scenario(str(tmp_path / "a.mov"), edition="studio",
                    user={"click": "render", "values": {"prompt": "focus on the foreground", "blur": "f/2.8"}})
    run_resolve_script(scripts / "bokehfx_render_clip.py", data, home, tmp_path)
    [record] = queue_records(home)
    job = json.loads(Path(record["job"]).read_text())
    assert job["prompt"] == "focus on the foreground" and job["blur"] == "f/2.8"


def test_studio_dialog_cancel_starts_nothing(setup, tmp_path: Path) -> None:
    home, scripts = setup
    data = scenario(str(tmp_path / "a.mov"), edition="studio", user={"click": "cancel"})
    console, _ = run_resolve_script(scripts / "bokehfx_render_clip.py", data, home, tmp_path)
    assert queue_records(home) == [] and "cancelled" in console


def test_free_edition_takes_settings_from_markers_and_the_settings_file(setup, tmp_path: Path) -> None:
    home, scripts = setup
    (home / "settings.json").write_text(json.dumps({"blur": "large", "codec": "prores_hq",
                                                    "plugin": {"handles": 2}}))
    settings_marker = {"name": "settings", "note": "", "duration": 1,
                       "customData": json.dumps({"schema": "bokehfx.job/1", "blur": "small", "aperture": "polygon"})}
    data = scenario(str(tmp_path / "a.mov"), markers={"0.0": settings_marker})
    run_resolve_script(scripts / "bokehfx_render_clip.py", data, home, tmp_path)
    [record] = queue_records(home)
    job = json.loads(Path(record["job"]).read_text())
    assert job["blur"] == "small" and job["aperture"] == "polygon" and job["codec"] == "prores_hq"
    assert job["frames"] == "3-16" and "keyframes" not in job


@pytest.mark.parametrize("provided", ["bmd", "module"])
def test_finds_resolve_without_the_global(setup, tmp_path: Path, provided: str) -> None:
    home, scripts = setup
    run_resolve_script(scripts / "bokehfx_render_clip.py", scenario(str(tmp_path / "a.mov"), globals=provided),
                       home, tmp_path)
    assert len(queue_records(home)) == 1


def test_titles_and_generators_are_refused_in_the_console(setup, tmp_path: Path) -> None:
    home, scripts = setup
    data = scenario(None)
    console, _ = run_resolve_script(scripts / "bokehfx_render_clip.py", data, home, tmp_path)
    assert "no media to render" in console and queue_records(home) == []


def test_render_timeline_exports_otio_with_the_live_constants(setup, tmp_path: Path) -> None:
    home, scripts = setup
    media = tmp_path / "media" / "a.mov"
    media.parent.mkdir()
    console, fake = run_resolve_script(scripts / "bokehfx_render_timeline.py", scenario(str(media)), home, tmp_path)
    [record] = queue_records(home)
    job = json.loads(Path(record["job"]).read_text())
    assert [c[0] for c in fake["calls"]] == ["Export"]
    assert Path(job["timeline"]).is_file() and Path(job["output"]).parent == media.parent
    assert record["relinked"] == str(Path(job["output"]) / "Edit_1.bokehfx.otio")


def test_render_timeline_says_so_without_the_export_constants(setup, tmp_path: Path) -> None:
    home, scripts = setup
    console, fake = run_resolve_script(scripts / "bokehfx_render_timeline.py",
                                       scenario(str(tmp_path / "a.mov"), export_constants=False), home, tmp_path)
    assert "EXPORT_OTIO" in console and queue_records(home) == [] and fake["calls"] == []


def test_end_to_end_render_import_take(setup, tmp_path: Path, media: Path) -> None:
    """A real clip: render clip -> the real CLI renders -> import -> AddTake gets the item's source range."""
    import av
    import numpy as np

    home, scripts = setup
    source = tmp_path / "media dir" / "car phone.mp4"
    source.parent.mkdir()
    shutil.copyfile(media / "skv_carphone_pristine.mp4", source)
    (home / "settings.json").write_text(json.dumps({"blur": 0, "plugin": {"handles": 2}}))
    left, duration = 10, 6
    data = scenario(str(source), left=left, duration=duration, frames=30)
    run_resolve_script(scripts / "bokehfx_render_clip.py", data, home, tmp_path)
    [record] = queue_records(home)
    final = wait_for_final(Path(record["progress"]))
    assert final["status"] == "done", final
    console, fake = run_resolve_script(scripts / "bokehfx_import_renders.py", data, home, tmp_path)
    takes = [c for c in fake["calls"] if c[0] == "AddTake"]
    assert takes == [["AddTake", "item-7", record["output"], 2, 2 + duration - 1]], console
    assert ["SelectTakeByIndex", "item-7", 2] in fake["calls"]
    assert ["ImportMedia", record["output"], "bokehfx renders"] in fake["calls"]

    with av.open(str(source)) as c:
        src = [f.to_ndarray(format="rgb24").astype(float) for f in c.decode(video=0)][:30]
    with av.open(record["output"]) as c:
        out = [f.to_ndarray(format="rgb24").astype(float) for f in c.decode(video=0)]
    assert len(out) == duration + 2 * 2
    for i in range(duration):  # the take's frames are the item's source frames
        a, b = out[2 + i], src[left + i]
        psnr = 10 * np.log10(255.0 ** 2 / max(np.mean((a - b) ** 2), 1e-9))
        assert psnr > 35, (i, psnr)
    again, fake2 = run_resolve_script(scripts / "bokehfx_import_renders.py", data, home, tmp_path)
    assert not [c for c in fake2["calls"] if c[0] == "AddTake"], "a job is imported once"


def test_end_to_end_timeline_relinked(setup, tmp_path: Path, media: Path) -> None:
    """Render timeline -> the real CLI renders the exported OTIO -> import brings the relinked timeline."""
    home, scripts = setup
    source = tmp_path / "media dir" / "car phone.mp4"
    source.parent.mkdir()
    shutil.copyfile(media / "skv_carphone_pristine.mp4", source)
    (home / "settings.json").write_text(json.dumps({"blur": 0}))
    data = scenario(str(source), left=3, duration=4, frames=30)
    run_resolve_script(scripts / "bokehfx_render_timeline.py", data, home, tmp_path)
    [record] = queue_records(home)
    final = wait_for_final(Path(record["progress"]))
    assert final["status"] == "done", final
    console, fake = run_resolve_script(scripts / "bokehfx_import_renders.py", data, home, tmp_path)
    assert ["ImportTimelineFromFile", record["relinked"], "Edit 1 bokehfx"] in fake["calls"], console
