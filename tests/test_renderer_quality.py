"""The physical renderer's pyramid: quality presets, in-focus exactness, batched and half-precision paths."""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from bokehfx.errors import UsageError
from bokehfx.renderers import Look, PhysicalRenderer
from bokehfx.renderers.filters import expand_bilinear, reduce_tent
from bokehfx.renderers.physical import QUALITIES
from cli.main import app
from tests.media_factory import write_clip, write_sequence

runner = CliRunner()


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.float() - b.float()) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(1.0 / mse)


def _ramp_scene(h: int = 48, w: int = 96, frames: int = 1, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    rgb = torch.rand(frames, 3, h, w, generator=gen)
    disparity = torch.linspace(0.0, 1.0, w).view(1, 1, 1, w).expand(frames, 1, h, w).contiguous()
    return rgb, disparity


def test_in_focus_pixels_no_nearer_blur_reaches_are_bit_exact() -> None:
    gen = torch.Generator().manual_seed(1)
    frames = torch.rand(1, 3, 40, 64, generator=gen) * 3.0
    disparity = torch.full((1, 1, 40, 64), 0.2)
    disparity[..., :, 20:40] = 0.6  # in focus
    disparity[..., :, 56:] = 1.0  # near, blurred by 16 px: reaches columns >= 40
    for quality in QUALITIES:
        out = PhysicalRenderer(quality=quality).render(frames, disparity, torch.tensor([0.6]), torch.tensor([40.0]), Look())
        assert torch.equal(out[..., 20:30], frames[..., 20:30]), quality
        assert not torch.allclose(out[..., :, :8], frames[..., :, :8], atol=1e-2)


def test_blurred_foreground_still_spreads_over_in_focus_pixels() -> None:
    frames = torch.zeros(1, 3, 40, 80)
    frames[..., :, 40:] = 1.0
    disparity = torch.zeros(1, 1, 40, 80)
    disparity[..., :, 40:] = 1.0
    out = PhysicalRenderer().render(frames, disparity, torch.tensor([0.0]), torch.tensor([12.0]), Look())
    assert float(out[0, 0, 20, 34]) > 0.05  # in focus (CoC 0) but covered by the near blur


@pytest.mark.parametrize("quality", QUALITIES)
def test_every_quality_blurs_the_ramp_smoothly(quality: str) -> None:
    frames, disparity = _ramp_scene()
    out = PhysicalRenderer(quality=quality).render(frames, disparity, torch.tensor([0.5]), torch.tensor([30.0]), Look())
    assert out.shape == frames.shape and torch.isfinite(out).all()
    detail = (out[..., 1:] - out[..., :-1]).abs().mean(dim=(0, 1, 2))
    # Detail is lowest far from focus and highest at it; no column jumps (banding) between.
    assert float(detail[44:52].mean()) > 2 * float(detail[:8].mean())
    column_mean = out.mean(dim=(0, 1, 2))
    assert float(column_mean.diff().abs().max()) < 0.05


def test_quality_dial_is_validated_and_orders_the_work() -> None:
    with pytest.raises(UsageError, match="quality"):
        PhysicalRenderer(quality="best")
    draft, final = PhysicalRenderer(quality="draft"), PhysicalRenderer(quality="final")
    assert draft._downsample_factor(40.0) > final._downsample_factor(40.0)
    assert draft.layer_step_ratio > final.layer_step_ratio


def test_tent_reduction_keeps_a_point_where_it_was() -> None:
    for size in (32, 33):
        x = torch.zeros(1, 1, size, size)
        x[0, 0, 13, 18] = 1.0
        y = expand_bilinear(reduce_tent(x, 4), 4, size, size)[0, 0]
        ys, xs = torch.meshgrid(torch.arange(float(size)), torch.arange(float(size)), indexing="ij")
        assert abs(float((y * ys).sum() / y.sum()) - 13.0) < 1e-4
        assert abs(float((y * xs).sum() / y.sum()) - 18.0) < 1e-4


def test_batched_half_precision_path_matches_float32_frame_by_frame() -> None:
    """The path a GPU takes (several frames at once, half precision) on the CPU."""
    frames, disparity = _ramp_scene(frames=3, seed=4)
    focus, blur = torch.tensor([0.2, 0.5, 0.8]), torch.tensor([20.0, 40.0, 10.0])
    single = torch.cat([PhysicalRenderer(chunk_frames=1).render(frames[t : t + 1], disparity[t : t + 1], focus[t : t + 1],
                                                                blur[t : t + 1], Look()) for t in range(3)])
    batched = PhysicalRenderer(chunk_frames=3).render(frames, disparity, focus, blur, Look())
    assert torch.allclose(batched, single, atol=1e-5)
    for dtype in (torch.bfloat16, torch.float16):
        half = PhysicalRenderer(dtype=dtype, chunk_frames=3).render(frames, disparity, focus, blur, Look())
        assert half.dtype == torch.float32
        assert _psnr(half, single) > 35.0, dtype


def test_cli_quality_option_reaches_the_renderer(tmp_path: Path) -> None:
    from bokehfx.io.source import read_frames

    h, w = 32, 64
    rng = np.random.default_rng(0)
    base = (rng.random((h, w, 3)) * 0.8 * 65535 + 0.1 * 65535).astype(np.uint16)
    clip = write_clip(tmp_path / "clip.mov", [base, base], codec="prores_ks", pix_fmt="yuv422p10le",
                      options={"profile": "hq"}, rate=Fraction(24))
    ramp = np.repeat(np.linspace(1000, 65535, w, dtype=np.float64)[None, :, None], h, axis=0)
    disp = np.repeat(ramp, 3, axis=2).astype(np.uint16)
    write_sequence(tmp_path / "disp.%d.png", [disp], codec="png", pix_fmt="rgb48be", in_fmt="rgb48le", start_number=0)
    outputs = {}
    for quality in ("draft", "final"):
        out = tmp_path / f"{quality}.%04d.exr"
        result = runner.invoke(app, ["render", str(clip), "-o", str(out), "--depth", str(tmp_path / "disp.0.png"),
                                     "--depth-kind", "disparity", "--focus", "1.0", "--blur", "40",
                                     "--quality", quality, "--quiet"])
        assert result.exit_code == 0, result.stderr
        outputs[quality] = next(read_frames(out)).image
    assert not np.array_equal(outputs["draft"], outputs["final"])
    assert np.abs(outputs["draft"] - outputs["final"]).mean() < 0.02
    bad = runner.invoke(app, ["render", str(clip), "-o", str(tmp_path / "x.mov"), "--blur", "0", "--quality", "best"])
    assert bad.exit_code == 2
