"""`bokehfx render --job JOB.json` and `--progress-json FILE`: the shared job file and progress lines."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import click
import pytest
from typer.testing import CliRunner

from bokehfx.errors import UsageError
from bokehfx.jobs.jobfile import JOB_SCHEMA, JobFile, keyframe_plan, parse_job, read_job, write_job
from bokehfx.jobs.progress import PROGRESS_INTERVAL_S, ProgressLog, read_progress
from cli.jobfile import command_vocabulary, job_arguments, progress_json, render_command, render_vocabulary
from cli.main import app
from tests.media_factory import gradient_frames, write_clip

runner = CliRunner()
RATE = Fraction(24)


@pytest.fixture()
def clip(tmp_path: Path) -> Path:
    return write_clip(tmp_path / "clip.mp4", gradient_frames(8, 48, 32), codec="libx264", pix_fmt="yuv420p")


def frame_count(path: Path) -> int:
    with av.open(str(path)) as c:
        return sum(1 for _ in c.decode(video=0))


def write(path: Path, data: dict) -> Path:
    path.write_text(json.dumps(data))
    return path


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def one_error_line(result) -> str:
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


# ----------------------------------------------------------------------------------------- vocabulary


def test_vocabulary_is_the_render_commands_own_long_options() -> None:
    vocab = render_vocabulary()
    command = render_command()
    longs = {o[2:].replace("-", "_") for p in command.params for o in getattr(p, "opts", []) if o.startswith("--")}
    assert set(vocab) == (longs - {"job", "help"}) | {"input"}
    assert vocab["output"] == "output" and vocab["focus_point"] == "focus_point" and vocab["depth_kind"]
    assert "job" not in vocab


def test_vocabulary_follows_a_new_option_without_a_list_to_edit() -> None:
    command = click.Command("c", params=[click.Argument(["src"]), click.Option(["-x", "--extra-thing"]),
                                         click.Option(["--job"])])
    assert command_vocabulary(command) == {"src": "src", "extra_thing": "extra_thing"}


# ------------------------------------------------------------------------------------------ parsing


@pytest.mark.parametrize("data, named", [
    ({"schema": JOB_SCHEMA, "blurr": 3}, "'blurr'"),
    ({"schema": JOB_SCHEMA, "depth-kind": "depth"}, "'depth-kind'"),
    ({"schema": "bokehfx.job/2", "blur": 3}, "'bokehfx.job/2'"),
    ({"schema": "other.job/1"}, "'other.job/1'"),
    ({"blur": 3}, "schema"),
    ({"schema": JOB_SCHEMA, "keyframes": [{"focus": "near"}]}, "frame"),
    ({"schema": JOB_SCHEMA, "keyframes": [{"frame": 2, "focus": "near", "zoom": 2}]}, "'zoom'"),
    ({"schema": JOB_SCHEMA, "keyframes": [{"frame": 2, "focus": "banana"}]}, "keyframes[0]"),
    ({"schema": JOB_SCHEMA, "keyframes": [{"frame": 2.5}]}, "2.5"),
])
def test_bad_jobs_are_refused_naming_the_key(data: dict, named: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_job(data, render_vocabulary(), "job file 'j.json'")
    assert named in str(err.value) and "j.json" in str(err.value)


def test_write_then_read_round_trips(tmp_path: Path) -> None:
    job = JobFile(options={"input": "/a b/it's.mov", "blur": 0, "force": True},
                  keyframes=({"frame": 3, "focus": "near"},))
    path = write_job(tmp_path / "j.json", job)
    back = read_job(path, render_vocabulary())
    assert back.options == job.options and back.keyframes == job.keyframes
    assert [p.name for p in tmp_path.iterdir()] == ["j.json"]


def test_keyframes_land_on_exact_frames() -> None:
    rate = Fraction(30000, 1001)
    job = parse_job({"schema": JOB_SCHEMA, "keyframes": [
        {"frame": 7, "focus": "near", "blur": 12},
        {"frame": 31, "duration": 12, "focus": "far", "interp": "linear"},
        {"frame": 1000, "focus": 0.25}]}, render_vocabulary())
    plan = keyframe_plan(job, rate)
    assert [k.frame(rate, None) for k in plan.keyframes] == [7, 31, 43, 1000]
    assert [k.interp.value for k in plan.keyframes] == ["hold", "hold", "linear", "hold"]
    assert plan.keyframes[2].target.describe() == "far" and plan.keyframes[0].blur.k == 12


def test_job_arguments_parse_back_to_the_same_values() -> None:
    job = parse_job({"schema": JOB_SCHEMA, "input": "in put.mov", "output": "o.mov", "focus_point": "0.5,0.4",
                     "force": True, "quiet": False, "crf": 20}, render_vocabulary())
    args = job_arguments(job)
    ctx = render_command().make_context("render", list(args))
    assert ctx.params["input"] == "in put.mov" and ctx.params["focus_point"] == "0.5,0.4"
    assert ctx.params["force"] is True and ctx.params["quiet"] is False and ctx.params["crf"] == 20


# ------------------------------------------------------------------------------------ through the CLI


def test_render_from_a_job_file(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "out file.mov"
    job = write(tmp_path / "job.json", {"schema": JOB_SCHEMA, "input": str(clip), "output": str(out),
                                        "frames": "2-5", "blur": 0})
    result = invoke("render", "--job", job)
    assert result.exit_code == 0, result.stderr
    assert frame_count(out) == 4


def test_flags_beside_the_job_override_it(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mov"
    out.write_bytes(b"old")
    job = write(tmp_path / "job.json", {"schema": JOB_SCHEMA, "input": str(clip), "output": str(out),
                                        "frames": "0-5", "blur": "large"})
    result = invoke("render", "--frames", "1-2", "--blur", "0", "--job", job, "--force")
    assert result.exit_code == 0, result.stderr
    assert frame_count(out) == 2


def test_a_bad_value_in_the_job_is_refused_like_the_flag(clip: Path, tmp_path: Path) -> None:
    job = write(tmp_path / "job.json", {"schema": JOB_SCHEMA, "input": str(clip), "output": str(tmp_path / "o.mov"),
                                        "aperture": "hexagon"})
    line = one_error_line(invoke("render", "--job", job))
    assert "hexagon" in line
    assert not (tmp_path / "o.mov").exists()


def test_unknown_key_refused_through_the_cli(tmp_path: Path) -> None:
    job = write(tmp_path / "job.json", {"schema": JOB_SCHEMA, "colour": "red"})
    line = one_error_line(invoke("render", "--job", job))
    assert "'colour'" in line and "job.json" in line


def test_keyframes_with_a_timeline_are_refused(tmp_path: Path) -> None:
    job = write(tmp_path / "job.json", {"schema": JOB_SCHEMA, "timeline": "t.otio", "output": str(tmp_path / "o"),
                                        "keyframes": [{"frame": 0, "focus": "near"}]})
    assert "keyframes" in one_error_line(invoke("render", "--job", job))


def test_keyframes_steer_the_render(tmp_path: Path) -> None:
    """A cut from near to far at frame 3: the focus map is different on frames 2 and 3, equal within each side."""
    import numpy as np

    still = gradient_frames(1, 32, 16)[0]  # a still picture: the focus map changes only with the plan
    clip = write_clip(tmp_path / "clip.mov", [still] * 6, codec="prores_ks", pix_fmt="yuv422p10le")
    depth = np.zeros((16, 32, 3), np.uint16)
    depth[:, :16] = 60000  # left near (disparity), right far
    depth[:, 16:] = 5000
    write_clip(tmp_path / "depth.mov", [depth] * 6, codec="prores_ks", pix_fmt="yuv422p10le")
    out = tmp_path / "map.mov"
    job = write(tmp_path / "job.json", {
        "schema": JOB_SCHEMA, "input": str(clip), "output": str(out), "depth": str(tmp_path / "depth.mov"),
        "depth_kind": "disparity", "view": "focus_map",
        "keyframes": [{"frame": 0, "focus": 1.0, "blur": 20}, {"frame": 3, "focus": 0.0}]})
    result = invoke("render", "--job", job)
    assert result.exit_code == 0, result.stderr
    with av.open(str(out)) as c:
        frames = [f.to_ndarray(format="rgb48le").astype(float) for f in c.decode(video=0)]
    assert np.abs(frames[0] - frames[2]).max() < 600 and np.abs(frames[3] - frames[5]).max() < 600
    assert np.abs(frames[2] - frames[3]).mean() > 3000


# ------------------------------------------------------------------------------------------ progress


def test_progress_lines_and_final_done(clip: Path, tmp_path: Path) -> None:
    out, log = tmp_path / "o.mov", tmp_path / "p.jsonl"
    result = invoke("render", clip, "-o", out, "--blur", "0", "--progress-json", log)
    assert result.exit_code == 0, result.stderr
    lines = read_progress(log)
    assert lines[-1]["status"] == "done" and lines[-1]["output"] == str(out)
    assert lines[-1]["frames_done"] == lines[-1]["frames_total"] == 8
    assert all("status" not in line for line in lines[:-1]) and lines[0]["stage"] == "start"
    assert {"frames_done", "frames_total", "fps", "seconds_left", "stage"} <= set(lines[-2])


def test_failed_render_ends_with_its_error_line(clip: Path, tmp_path: Path) -> None:
    out, log = tmp_path / "o.mov", tmp_path / "p.jsonl"
    out.write_bytes(b"keep")
    line = one_error_line(invoke("render", clip, "-o", out, "--blur", "0", "--progress-json", log))
    last = read_progress(log)[-1]
    assert last["status"] == "failed" and last["error"] == line


def test_an_unwritable_progress_file_is_bad_input(clip: Path, tmp_path: Path) -> None:
    line = one_error_line(invoke("render", clip, "-o", tmp_path / "o.mov", "--blur", "0",
                                 "--progress-json", tmp_path / "no such folder" / "p.jsonl"))
    assert "--progress-json" in line and not (tmp_path / "o.mov").exists()


def test_interrupted_render_says_so(tmp_path: Path) -> None:
    log = tmp_path / "p.jsonl"
    with pytest.raises(KeyboardInterrupt):
        with progress_json(str(log), "o.mov"):
            raise KeyboardInterrupt
    assert read_progress(log)[-1]["status"] == "interrupted"


def test_progress_is_throttled_and_estimates_time_left(tmp_path: Path) -> None:
    now = [0.0]
    log = ProgressLog(tmp_path / "p.jsonl", output="o.mov", clock=lambda: now[0])
    log.set_stage("render")
    for done in range(1, 11):
        now[0] = done * PROGRESS_INTERVAL_S / 4  # 4 frames per interval: most calls write nothing
        log.frames(done, 40)
    lines = read_progress(tmp_path / "p.jsonl")
    assert 2 <= len(lines) <= 5
    assert lines[-1]["frames_done"] == 8 and lines[-1]["seconds_left"] == pytest.approx(32 / 8.0)
    log.finish("done")


def test_reader_never_takes_half_a_line(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text('{"stage": "render", "frames_done": 1}\n{"stage": "ren')
    assert read_progress(path) == [{"stage": "render", "frames_done": 1}]
