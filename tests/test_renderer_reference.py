"""The physical renderer against Monte-Carlo thin-lens ground truth, and its temporal stability."""

from __future__ import annotations

import pytest
import torch

from bokehfx.metrics import edge_band_psnr, psnr, temporal_consistency_mae
from bokehfx.renderers import Look, PhysicalRenderer
from bokehfx.colour import linear_to_srgb
from bokehfx.renderers.gather import gather_blur
from bokehfx.scenes import make_scene, ray_trace

#: Aperture lattice of the reference (about 300 samples in the disc).
REFERENCE_GRID = 20


@pytest.mark.parametrize(
    ("focus", "blur", "seed"),
    [(0.45, 12.0, 1), (0.0, 16.0, 2), (0.9, 16.0, 3), (0.2, 20.0, 4)],
)
def test_closer_to_ray_traced_truth_than_naive_gather(focus: float, blur: float, seed: int) -> None:
    scene = make_scene(80, 112, frames=1, layers=3, seed=seed)
    frames, disparity = scene.composite()
    f, k = torch.tensor([focus]), torch.tensor([blur])
    truth = linear_to_srgb(ray_trace(scene, f, k, grid=REFERENCE_GRID))
    ours = linear_to_srgb(PhysicalRenderer().render(frames, disparity, f, k, Look()))
    naive = linear_to_srgb(gather_blur(frames, disparity, f, k))
    whole = (psnr(ours, truth), psnr(naive, truth))
    band = (edge_band_psnr(ours, truth, disparity, band_px=8), edge_band_psnr(naive, truth, disparity, band_px=8))
    print(f"F={focus} K={blur}: whole {whole[0]:.2f} vs naive {whole[1]:.2f} dB; edge band {band[0]:.2f} vs {band[1]:.2f} dB")
    assert whole[0] > whole[1]
    assert band[0] > band[1]


def test_moving_scene_with_static_focus_is_temporally_stable() -> None:
    scene = make_scene(64, 80, frames=5, layers=3, speed_px=1.5, seed=5)
    frames, disparity = scene.composite()
    focus, blur = torch.full((5,), 0.45), torch.full((5,), 14.0)
    truth = linear_to_srgb(ray_trace(scene, focus, blur, grid=REFERENCE_GRID))
    ours = linear_to_srgb(PhysicalRenderer().render(frames, disparity, focus, blur, Look()))
    ours_tc = temporal_consistency_mae(ours, truth)
    truth_change = float((truth[1:] - truth[:-1]).abs().mean())
    print(f"temporal consistency {ours_tc:.4f} vs ground-truth frame-to-frame change {truth_change:.4f}")
    assert ours_tc <= truth_change
