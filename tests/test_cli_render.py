"""`bokehfx render` / `probe` through the CLI: the error contract and the identity path."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from cli.main import app
from tests.media_factory import gradient_frames, write_clip

runner = CliRunner()


def digest(path: Path) -> tuple[str, float]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def assert_clean_failure(result, folder: Path, before: set[str]) -> None:
    """Exit 2, one `error:` line on stderr, no traceback, and nothing new in the output folder."""
    assert result.exit_code == 2, (result.exit_code, result.stderr, result.stdout)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert {p.name for p in folder.iterdir()} == before


@pytest.fixture()
def clip(tmp_path: Path) -> Path:
    return write_clip(tmp_path / "clip.mp4", gradient_frames(6, 64, 36), codec="libx264", pix_fmt="yuv420p",
                      audio_seconds=0.25)


def test_identity_render_through_the_cli(clip: Path, tmp_path: Path) -> None:
    before = digest(clip)
    out = tmp_path / "out.mov"
    result = invoke("render", clip, "-o", out, "--blur", "0")
    assert result.exit_code == 0, result.stderr
    assert out.is_file()
    assert digest(clip) == before, "the input must never be touched"
    with av.open(str(out)) as c:
        assert [s.type for s in c.streams] == ["video", "audio"]
        assert c.streams.video[0].codec_context.name == "prores"
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


def test_existing_output_needs_force(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.mp4"
    out.write_bytes(b"keep me")
    before = {p.name for p in tmp_path.iterdir()}
    result = invoke("render", clip, "-o", out, "--blur", "0")
    assert_clean_failure(result, tmp_path, before)
    assert "--force" in result.stderr
    assert out.read_bytes() == b"keep me"
    result = invoke("render", clip, "-o", out, "--blur", "0", "--force")
    assert result.exit_code == 0, result.stderr
    assert out.read_bytes() != b"keep me"


@pytest.mark.parametrize("case", ["missing", "directory", "no_video", "garbage", "truncated_mp4", "unknown_ext",
                                  "same_as_input", "bad_crf", "bad_frames", "bad_codec", "negative_blur",
                                  "focus_range", "image_output", "bad_fps", "no_output", "frames_past_end",
                                  "bit_depth"])
def test_bad_input_gives_exit_2_and_one_error_line(case: str, clip: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    out = work / "out.mov"
    src = clip
    extra: list[str] = []
    if case == "missing":
        src = tmp_path / "nope.mov"
    elif case == "directory":
        src = tmp_path
    elif case == "no_video":
        src = tmp_path / "audio.m4a"
        with av.open(str(src), "w") as c:
            s = c.add_stream("aac", rate=48000)
            s.layout = "mono"
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 48000, 0
            for p in s.encode(frame):
                c.mux(p)
            for p in s.encode(None):
                c.mux(p)
    elif case == "garbage":
        src = tmp_path / "garbage.mp4"
        src.write_bytes(np.random.default_rng(1).bytes(20000))
    elif case == "truncated_mp4":
        data = clip.read_bytes()
        src = tmp_path / "cut.mp4"
        src.write_bytes(data[: len(data) // 3])
    elif case == "unknown_ext":
        out = work / "out.avi"
    elif case == "same_as_input":
        src = work / "in.mov"
        shutil.copy(clip, src)
        out = src
    elif case == "bad_crf":
        extra = ["--crf", "99"]
        out = work / "out.mp4"
    elif case == "bad_frames":
        extra = ["--frames", "ten"]
    elif case == "bad_codec":
        extra = ["--codec", "dnxhd"]
    elif case == "negative_blur":
        extra = ["--blur", "-1"]
    elif case == "focus_range":
        extra = ["--focus", "1.5"]
    elif case == "image_output":
        out = work / "still.png"
    elif case == "bad_fps":
        extra = ["--fps", "fast"]
    elif case == "frames_past_end":
        extra = ["--frames", "100-200"]
    elif case == "bit_depth":
        extra = ["--bit-depth", "12"]
        out = work / "out.mp4"
    before = {p.name for p in work.iterdir()}
    input_before = digest(src) if src.is_file() else None
    args = ["render", src] + (["-o", out] if case != "no_output" else []) + (["--blur", "0"] if case != "negative_blur" else []) + extra
    result = invoke(*args)
    assert_clean_failure(result, work, before)
    if input_before is not None:
        assert digest(src) == input_before


def test_truncated_real_file_renders_its_frames(media: Path, tmp_path: Path) -> None:
    out = tmp_path / "t.mov"
    result = invoke("render", media / "ft_fixture2.mkv", "-o", out, "--blur", "0", "--quiet")
    assert result.exit_code == 0, result.stderr
    with av.open(str(out)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 37


def test_diffusion_flags_need_the_diffusion_renderer_and_a_model(clip: Path, tmp_path: Path) -> None:
    cases = ((["--renderer", "diffusion", "--blur", "0"], "needs --model"),
             (["--ref", str(clip), "--blur", "0"], "--ref apply to --renderer diffusion only"),
             (["--steps", "4", "--seed", "2"], "--steps, --seed apply to --renderer diffusion only"))
    for extra, needle in cases:
        result = invoke("render", clip, "-o", tmp_path / "x.mov", *extra)
        assert result.exit_code == 2
        assert result.stderr.startswith("error:") and needle in result.stderr, result.stderr
        assert not (tmp_path / "x.mov").exists()


def test_notes_are_printed_once_and_quiet_silences_them(media: Path, tmp_path: Path) -> None:
    result = invoke("render", media / "ft_fixture-mjpeg.mov", "-o", tmp_path / "a.mp4", "--blur", "0")
    assert result.exit_code == 0
    assert result.stderr.count("note: dropped audio stream #1 (pcm_u8)") == 1
    quiet = invoke("render", media / "ft_fixture-mjpeg.mov", "-o", tmp_path / "b.mp4", "--blur", "0", "--quiet")
    assert quiet.exit_code == 0 and quiet.stderr == ""


def test_probe_json(media: Path) -> None:
    result = invoke("probe", media / "mp_fire2.mp4", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["video"]["frame_rate"] == "750000/71393"
    assert data["video"]["rotation"] == -180
    assert [s["type"] for s in data["streams"]] == ["audio"]
    text = invoke("probe", media / "mb_sar_2x1.mp4")
    assert text.exit_code == 0 and "SAR 2" in text.stdout
    interlaced = invoke("probe", media / "ft_fixture-raw.mts")
    assert "scan interlaced, top field first" in interlaced.stdout


def test_probe_count_is_exact(media: Path) -> None:
    result = invoke("probe", media / "ft_fixture2.mkv", "--json", "--count")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["video"]["frame_count"] == 37 and data["video"]["frame_count_exact"] is True


def test_probe_bad_input(tmp_path: Path) -> None:
    result = invoke("probe", tmp_path / "missing.mp4")
    assert result.exit_code == 2 and result.stderr.startswith("error:")


def test_progress_is_off_when_not_a_terminal() -> None:
    from cli.progress import frame_progress, wants_progress

    assert wants_progress(quiet=True) is False
    assert wants_progress(quiet=False) is False  # pytest's stderr is not a terminal
    with frame_progress("x", enabled=True) as update:
        update(3, 10)
        update(10, 10)
