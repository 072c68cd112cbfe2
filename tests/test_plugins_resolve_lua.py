"""The Lua twins of the Resolve scripts: they parse (luac -p), and under a plain Lua interpreter
against a fake of Resolve's Lua API they write the same job file as the Python scripts and bring
the render back the same way."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.plugin_helpers import FAKES, REPO, install, queue_records, run_resolve_script, wait_for_final
from tests.test_plugins_resolve import FOCUS_FAR, FOCUS_NEAR, scenario

LUA_NAMES = ("lua5.1", "luajit", "lua5.4", "lua5.3", "lua")
LUAC_NAMES = ("luac5.1", "luac5.4", "luac5.3", "luac")
LUA_FILES = sorted((REPO / "plugins").glob("*/*.lua")) + sorted(FAKES.glob("*.lua"))


def _find(names: tuple[str, ...]) -> str | None:
    return next((shutil.which(n) for n in names if shutil.which(n)), None)


LUA, LUAC = _find(LUA_NAMES), _find(LUAC_NAMES)
needs_lua = pytest.mark.skipif(LUA is None or LUAC is None,
                               reason="no Lua interpreter/compiler on PATH (Debian: apt-get install lua5.1)")


def run_lua_script(script: Path, data: dict, home: Path, tmp: Path) -> tuple[str, dict]:
    path = tmp / f"scenario-{time.monotonic_ns()}.json"
    path.write_text(json.dumps(data))
    out = tmp / f"calls-{time.monotonic_ns()}.json"
    env = dict(os.environ, BOKEHFX_HOME=str(home))
    done = subprocess.run([LUA, str(FAKES / "run_resolve.lua"), str(path), str(script), str(out)], cwd=tmp, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    calls = json.loads(out.read_text())["calls"]
    return done.stdout, {"calls": calls or []}


@pytest.fixture()
def setup(tmp_path: Path, monkeypatch):
    home, scripts = tmp_path / "home", tmp_path / "Fusion Scripts" / "Edit"
    install("resolve", scripts, home, monkeypatch)
    return home, scripts


@needs_lua
@pytest.mark.parametrize("path", LUA_FILES, ids=lambda p: p.name)
def test_lua_scripts_parse(path: Path) -> None:
    done = subprocess.run([LUAC, "-p", str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def _normalized(record: dict) -> tuple[dict, dict]:
    job = json.loads(Path(record["job"]).read_text())
    job["output"] = re.sub(r"\.bokehfx\.[0-9a-f-]+\.mov$", ".bokehfx.ID.mov", job["output"])
    kept = {k: v for k, v in record.items() if k not in ("id", "job", "progress", "log", "args", "pid", "submitted",
                                                         "output")}
    return job, kept


@needs_lua
def test_lua_writes_the_same_job_file_as_python(setup, tmp_path: Path) -> None:
    home, scripts = setup
    (home / "settings.json").write_text(json.dumps({"blur": "large", "crf": 20, "plugin": {"handles": 3}}))
    media = tmp_path / "it's a \"quoted\" folder" / "shot 7.mov"
    markers = {"3.0": {"name": "near", "note": "", "duration": 1, "customData": json.dumps(FOCUS_NEAR)},
               "7.0": {"name": "far", "note": "pull: " + json.dumps(FOCUS_FAR), "duration": 4, "customData": ""},
               "1.0": {"name": "settings", "note": "", "duration": 1,
                       "customData": json.dumps({"schema": "bokehfx.job/1", "aperture": "polygon", "blades": 7})},
               "9.0": {"name": "note", "note": "no json here", "duration": 1, "customData": ""}}
    data = scenario(str(media), markers=markers)
    run_resolve_script(scripts / "bokehfx_render_clip.py", data, home, tmp_path)
    [python_record] = queue_records(home)
    console, _ = run_lua_script(scripts / "bokehfx_render_clip.lua", data, home, tmp_path)
    [lua_record] = [r for r in queue_records(home) if r["id"] != python_record["id"]]
    assert _normalized(lua_record) == _normalized(python_record), console
    assert lua_record["args"][-4:] == ["--job", lua_record["job"], "--progress-json", lua_record["progress"]]
    final = wait_for_final(Path(lua_record["progress"]))
    assert final["status"] == "failed" and repr(str(media)) in final["error"], "the quoted path reached the CLI intact"
    report, fake = run_lua_script(scripts / "bokehfx_import_renders.lua", data, home, tmp_path)
    assert final["error"] in report and "shot 7: failed" in report and fake["calls"] == []


@needs_lua
def test_lua_render_timeline_and_missing_constants(setup, tmp_path: Path) -> None:
    home, scripts = setup
    media = tmp_path / "media" / "a.mov"
    media.parent.mkdir()
    console, fake = run_lua_script(scripts / "bokehfx_render_timeline.lua", scenario(str(media)), home, tmp_path)
    [record] = queue_records(home)
    assert [c[0] for c in fake["calls"]] == ["Export"] and Path(json.loads(Path(record["job"]).read_text())["timeline"]).is_file()
    console, fake = run_lua_script(scripts / "bokehfx_render_timeline.lua",
                                   scenario(str(media), export_constants=False), home, tmp_path)
    assert "EXPORT_OTIO" in console and len(queue_records(home)) == 1


@needs_lua
def test_lua_end_to_end_take(setup, tmp_path: Path, media: Path) -> None:
    home, scripts = setup
    source = tmp_path / "media dir" / "car phone.mp4"
    source.parent.mkdir()
    shutil.copyfile(media / "skv_carphone_pristine.mp4", source)
    (home / "settings.json").write_text(json.dumps({"blur": 0, "plugin": {"handles": 2}}))
    data = scenario(str(source), left=4, duration=5, frames=30)
    run_lua_script(scripts / "bokehfx_render_clip.lua", data, home, tmp_path)
    [record] = queue_records(home)
    assert wait_for_final(Path(record["progress"]))["status"] == "done"
    console, fake = run_lua_script(scripts / "bokehfx_import_renders.lua", data, home, tmp_path)
    assert ["AddTake", "item-7", record["output"], 2, 6] in fake["calls"], console
    assert ["SelectTakeByIndex", "item-7", 2] in fake["calls"]


@needs_lua
@pytest.mark.parametrize("click", ["render", "cancel"])
def test_lua_studio_dialog_matches_python(setup, tmp_path: Path, click: str) -> None:
    home, scripts = setup
    data = scenario(str(tmp_path / "a.mov"), edition="studio",
                    user={"click": click, "values": {"prompt": "focus on the foreground", "blur": "f/2.8"}})
    run_resolve_script(scripts / "bokehfx_render_clip.py", data, home, tmp_path)
    python_records = queue_records(home)
    console, _ = run_lua_script(scripts / "bokehfx_render_clip.lua", data, home, tmp_path)
    lua_records = [r for r in queue_records(home) if r["id"] not in {p["id"] for p in python_records}]
    if click == "cancel":
        assert python_records == lua_records == [] and "cancelled" in console
        return
    [python_record], [lua_record] = python_records, lua_records
    assert _normalized(lua_record) == _normalized(python_record)
    assert _normalized(lua_record)[0]["prompt"] == "focus on the foreground"
