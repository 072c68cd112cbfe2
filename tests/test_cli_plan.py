"""`bokehfx plan`: keyframes and per-frame values, flags over prompts, timelines, error contract."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app

runner = CliRunner()


def run_json(*args: str) -> dict:
    result = runner.invoke(app, ["plan", *args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_prompt_rack_keyframes_and_neutral_per_frame_values() -> None:
    out = run_json("--prompt", "rack focus from the foreground to the background at 1s over 12 frames",
                   "--frames", "48")
    kfs = out["keyframes"]
    assert [(k["frame"], k["target"], k["interp"]) for k in kfs] == [
        (0, "near", "hold"), (24, "near", "hold"), (36, "far", "ease-in-out")]
    assert all(k["blur"] == 20 and k["blur_label"] == "medium" for k in kfs)
    focus = [row["focus"] for row in out["per_frame"]]
    assert len(focus) == 48 and focus[:25] == [0.9] * 25 and focus[36:] == [0.1] * 12
    assert focus[30] == pytest.approx(0.5)
    assert out["fps"] == "24" and "uniform" in out["neutral_disparity"]


def test_flags_override_prompt_and_fps_is_exact() -> None:
    out = run_json("--prompt", "focus on the foreground, small blur", "--focus", "0.3", "--blur", "f/1.4",
                   "--fps", "23.976", "--frames", "2")
    assert out["fps"] == "24000/1001"
    (kf,) = out["keyframes"]
    assert kf["target"] == "disparity" and kf["value"] == 0.3 and kf["blur"] == pytest.approx(40)
    assert kf["blur_label"] == "large"
    point = run_json("--focus-point", "0.5,0.4", "--frames", "2")
    assert point["keyframes"][0]["target"] == "point" and point["per_frame"][0]["focus"] is None


def test_default_frames_cover_the_last_keyframe() -> None:
    out = run_json("--prompt", "cut to the background at 8s")
    assert out["frames"] == 8 * 24 + 1
    assert run_json()["frames"] == 5 * 24


def test_text_output_lists_keyframes_and_frames() -> None:
    result = runner.invoke(app, ["plan", "--prompt", "keep the background sharp", "--frames", "3"])
    assert result.exit_code == 0
    assert "far" in result.output and "medium" in result.output
    assert result.output.count("0.100") == 3


def test_timeline_plans_per_clip(tmp_path: Path, shared: Path) -> None:
    out = run_json("--timeline", str(shared / "timelines/edl/25fps.edl"), "--fps", "25",
                   "--prompt", "rack focus to far over 1s", "--blur", "large")
    clips = out["clips"]
    assert len(clips) == 4 and all(c["rate"] == "25" for c in clips)
    first = clips[0]
    assert first["missing"] and first["plan_source"] == "default"
    assert [k["frame"] for k in first["plan"]["keyframes"]] == [0, 25]
    assert {k["blur"] for k in first["plan"]["keyframes"]} == {40.0}
    assert len(first["per_frame"]) == 161 and first["per_frame"][-1]["focus"] == 0.1
    text = runner.invoke(app, ["plan", "--timeline", str(shared / "timelines/core/simple_cut.otio")])
    assert text.exit_code == 0 and "4 video clip(s)" in text.output and "missing" in text.output


@pytest.mark.parametrize("args,needle", [
    (["--prompt", "focus on the cat"], "'cat'"),
    (["--focus", "7"], "--focus"),
    (["--blur", "huge"], "--blur"),
    (["--focus-point", "1.5,0.2"], "--focus-point"),
    (["--fps", "abc"], "--fps"),
    (["--frames", "0"], "--frames"),
    (["--focus", "0.3", "--focus-point", "0.1,0.1"], "not both"),
    (["--timeline", "/no/such/edit.otio"], "not found"),
])
def test_bad_input_is_exit_2_with_one_error_line(args, needle) -> None:
    result = runner.invoke(app, ["plan", *args])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], result.output


def test_broken_timeline_is_a_clear_error(shared: Path) -> None:
    result = runner.invoke(app, ["plan", "--timeline", str(shared / "timelines/fcp7/premiere_example_filter.xml")])
    assert result.exit_code == 2 and "premiere_example_filter.xml cannot be read" in result.output
