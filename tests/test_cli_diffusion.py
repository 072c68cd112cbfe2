"""`bokehfx model` and `bokehfx render --renderer diffusion` end to end through the CLI."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from cli.main import app
from tests.media_factory import write_sequence

runner = CliRunner()
#: A real clip with audio (640x360 H.264 + MP3) and the frames rendered from it.
CLIP = "mp_chaplin.mp4"
FRAMES = 6


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("models") / "tiny"
    result = invoke("model", "init", "--tiny", out)
    assert result.exit_code == 0, result.stderr
    return out


def ramp_depth(folder: Path, width: int, height: int) -> Path:
    """A still disparity sidecar: a left-to-right ramp (16-bit PNG)."""
    ramp = np.linspace(0.2, 1.0, width)[None, :, None] * np.ones((height, 1, 3))
    write_sequence(folder / "disp.%d.png", [(ramp * 65535).astype(np.uint16)], codec="png", pix_fmt="rgb48be",
                   in_fmt="rgb48le", start_number=0)
    return folder / "disp.0.png"


def test_model_init_and_info(tiny_model: Path, tmp_path: Path):
    assert (tiny_model / "model_index.json").is_file() and not list(tiny_model.parent.glob("*.partial"))
    info = invoke("model", "info", tiny_model)
    assert info.exit_code == 0, info.stderr
    assert "BokehUNetSpatioTemporalModel" in info.stdout and "bokeh tokens: 4" in info.stdout
    again = invoke("model", "init", "--tiny", tiny_model)
    assert again.exit_code == 2 and again.stderr.startswith("error:") and "--force" in again.stderr


def test_missing_model_exits_2_naming_it_and_writes_nothing(media: Path, tmp_path: Path):
    depth = ramp_depth(tmp_path, 640, 360)
    before = {p.name for p in tmp_path.iterdir()}
    result = invoke("render", media / CLIP, "-o", tmp_path / "out.mov", "--renderer", "diffusion", "--model",
                    tmp_path / "no-model", "--depth", depth, "--depth-kind", "disparity", "--frames", "0-3")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: diffusion model") and "model init --tiny" in lines[0]
    assert {p.name for p in tmp_path.iterdir()} == before
    info = invoke("model", "info", tmp_path / "no-model")
    assert info.exit_code == 2 and info.stderr.startswith("error: diffusion model")


def test_render_a_real_clip_to_prores_with_its_audio(media: Path, tiny_model: Path, tmp_path: Path):
    depth = ramp_depth(tmp_path, 640, 360)
    (tmp_path / "ref").mkdir()
    ref = ramp_depth(tmp_path / "ref", 48, 32)  # any picture serves as a reference image
    out = tmp_path / "out.mov"
    result = invoke("render", media / CLIP, "-o", out, "--renderer", "diffusion", "--model", tiny_model,
                    "--depth", depth, "--depth-kind", "disparity", "--frames", f"0-{FRAMES - 1}",
                    "--prompt", "focus on the background, large blur", "--ref", ref, "--steps", "2", "--window",
                    "3", "--overlap", "1", "--seed", "5", "--guidance-image", "1.2", "--guidance-text", "2",
                    "--diffusion-size", "48x32", "--decode-chunk", "2", "--quiet")
    assert result.exit_code == 0, result.stderr
    with av.open(str(out)) as c:
        assert [s.type for s in c.streams] == ["video", "audio"]
        video = c.streams.video[0]
        assert video.codec_context.name == "prores"
        assert (video.codec_context.width, video.codec_context.height) == (640, 360)
        assert sum(1 for _ in c.decode(video=0)) == FRAMES
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


def test_physical_look_options_are_refused_not_ignored(media: Path, tiny_model: Path, tmp_path: Path):
    depth = ramp_depth(tmp_path, 640, 360)
    result = invoke("render", media / CLIP, "-o", tmp_path / "out.mov", "--renderer", "diffusion", "--model",
                    tiny_model, "--depth", depth, "--depth-kind", "disparity", "--frames", "0-1", "--blur", "6",
                    "--aperture", "polygon")
    assert result.exit_code == 2 and "--ref and --prompt" in result.stderr
    assert not (tmp_path / "out.mov").exists()


def test_resumable_chunks_are_refused_for_the_diffusion_renderer(media: Path, tiny_model: Path, tmp_path: Path):
    depth = ramp_depth(tmp_path, 640, 360)
    result = invoke("render", media / CLIP, "-o", tmp_path / "out.mov", "--renderer", "diffusion", "--model",
                    tiny_model, "--depth", depth, "--depth-kind", "disparity", "--frames", "0-1", "--blur", "6",
                    "--resume")
    assert result.exit_code == 2 and "diffusion renderer renders a clip in one pass" in result.stderr
    assert not (tmp_path / "out.mov").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


@pytest.mark.parametrize("args", [("model", "init", "--from-svd", "{missing}", "{out}"),
                                  ("model", "import", "any-to-bokeh", "{missing}", "--svd", "{missing}", "{out}")])
def test_missing_source_folders_give_one_error_line_before_any_library_loads(args, tmp_path: Path):
    import subprocess
    import sys

    argv = [a.format(missing=tmp_path / "nowhere", out=tmp_path / "out") for a in args]
    proc = subprocess.run([sys.executable, "-m", "cli.main", *argv], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [proc.stderr.strip()] and proc.stderr.startswith("error:")
    assert not (tmp_path / "out").exists()
