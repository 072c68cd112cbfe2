"""`bokehfx plan` and `render` say how the prompt was read ("understood as: ..."), or not with --quiet."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from cli.main import app

runner = CliRunner()
PROMPT = "Keep the nearest subject crisp and throw the background out of focus with a large blur"
READING = "focus on the foreground, a large blur (K=40)"


def test_plan_prints_the_reading_first_and_json_carries_it() -> None:
    text = runner.invoke(app, ["plan", "--prompt", PROMPT, "--frames", "2"])
    assert text.exit_code == 0 and text.output.splitlines()[0] == f"understood as: {READING}"
    quiet = runner.invoke(app, ["plan", "--prompt", PROMPT, "--frames", "2", "--quiet"])
    assert quiet.exit_code == 0 and "understood as" not in quiet.output
    data = json.loads(runner.invoke(app, ["plan", "--prompt", PROMPT, "--frames", "2", "--json"]).output)
    assert data["understood_as"] == READING
    flagged = json.loads(runner.invoke(app, ["plan", "--prompt", PROMPT, "--blur", "f/2.8", "--json",
                                             "--frames", "2"]).output)
    assert flagged["understood_as"] == "focus on the foreground, a medium blur (K=20)"  # flags included


def test_render_says_the_reading_before_rendering_and_quiet_silences_it(media: Path, tmp_path: Path) -> None:
    clip = media / "skv_carphone_pristine.mp4"
    said = runner.invoke(app, ["render", str(clip), "-o", str(tmp_path / "a.mov"), "--prompt",
                               "everything in focus", "--frames", "0-1"])
    assert said.exit_code == 0, said.stderr
    assert said.stderr.splitlines()[0] == "understood as: focus on the middle, no blur"
    quiet = runner.invoke(app, ["render", str(clip), "-o", str(tmp_path / "b.mov"), "--prompt",
                                "everything in focus", "--frames", "0-1", "-q"])
    assert quiet.exit_code == 0 and quiet.stderr == ""
    refused = runner.invoke(app, ["render", str(clip), "-o", str(tmp_path / "c.mov"), "--prompt",
                                  "focus on the foreground and blur the foreground"])
    assert refused.exit_code == 2 and refused.stderr.count("\n") == 1
    assert refused.stderr.startswith("error: prompt: the foreground cannot be both in focus and out of focus")
    assert not (tmp_path / "c.mov").exists()


def test_timeline_plan_json_carries_each_clips_reading(shared: Path) -> None:
    result = runner.invoke(app, ["plan", "--timeline", str(shared / "timelines/edl/25fps.edl"), "--fps", "25",
                                 "--prompt", "soften the background a lot", "--json"])
    assert result.exit_code == 0, result.output
    clips = json.loads(result.output)["clips"]
    assert clips and all(c["understood_as"] == "focus on the foreground, a large blur (K=40)" for c in clips)
