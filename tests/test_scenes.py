"""Procedural layered scenes and the Monte-Carlo thin-lens reference."""

from __future__ import annotations

import math

import pytest
import torch

from bokehfx.errors import UsageError
from bokehfx.renderers import Look
from bokehfx.colour import linear_to_srgb, srgb_to_linear
from bokehfx.scenes import LayeredScene, aperture_samples, make_scene, ray_trace


def test_scene_is_deterministic_layered_and_bright() -> None:
    a = make_scene(40, 64, frames=3, layers=3, seed=7)
    b = make_scene(40, 64, frames=3, layers=3, seed=7)
    assert torch.equal(a.rgb, b.rgb) and torch.equal(a.alpha, b.alpha)
    assert a.rgb.shape == (3, 3, 3, 40, 64) and a.alpha.shape == (3, 3, 1, 40, 64)
    assert torch.all(a.disparity[1:] > a.disparity[:-1])
    frames, disparity = a.composite()
    assert frames.shape == (3, 3, 40, 64) and disparity.shape == (3, 1, 40, 64)
    assert set(torch.unique(disparity).tolist()) <= set(a.disparity.tolist())
    assert len(torch.unique(disparity)) == 3
    assert float(frames.max()) > 1.0
    assert not torch.equal(make_scene(40, 64, seed=8).rgb, a.rgb[:1])


def test_shapes_move_by_their_speed() -> None:
    scene = make_scene(48, 96, frames=3, layers=2, speed_px=2.5, lights=0)
    alpha = scene.alpha[:, 1, 0].double()
    xs = torch.arange(96, dtype=torch.float64)
    centroid = (alpha * xs).sum(dim=(1, 2)) / alpha.sum(dim=(1, 2))
    assert torch.allclose(centroid.diff(), torch.full((2,), 2.5, dtype=torch.float64), atol=0.05)


def test_ray_trace_without_blur_is_the_composite() -> None:
    scene = make_scene(32, 48, frames=2, layers=3)
    frames, _ = scene.composite()
    out = ray_trace(scene, torch.tensor([0.5, 0.5]), torch.tensor([0.0, 0.0]), grid=4)
    assert torch.allclose(out, frames, atol=1e-5)


def test_ray_trace_spreads_a_point_to_the_coc_disc() -> None:
    size, blur, d, focus = 65, 20.0, 0.1, 0.6
    rgb = torch.zeros(1, 1, 3, size, size)
    rgb[0, 0, :, 32, 32] = 100.0
    scene = LayeredScene(rgb=rgb, alpha=torch.ones(1, 1, 1, size, size), disparity=torch.tensor([d]))
    out = ray_trace(scene, torch.tensor([focus]), torch.tensor([blur]), grid=48)[0, 0].double()
    assert abs(float(out.sum()) / 100.0 - 1.0) < 0.01
    y, x = torch.meshgrid(torch.arange(size, dtype=torch.float64), torch.arange(size, dtype=torch.float64), indexing="ij")
    radius = math.sqrt(2 * float((out * ((y - 32) ** 2 + (x - 32) ** 2)).sum() / out.sum()))
    assert abs(radius - blur * abs(d - focus)) <= 1.0


def test_aperture_samples_follow_the_shape() -> None:
    disc = aperture_samples(Look(), grid=20)
    assert float(disc.norm(dim=1).max()) <= 1.0
    assert abs(disc.shape[0] / 400 - math.pi / 4) < 0.03
    tall = aperture_samples(Look(anamorphic=2.0), grid=20)
    assert float(tall[:, 0].abs().max()) <= 0.5 and float(tall[:, 1].abs().max()) > 0.9
    triangle = aperture_samples(Look(aperture="polygon", blades=3), grid=40)
    assert triangle.shape[0] < 0.6 * aperture_samples(Look(), grid=40).shape[0]


def test_bad_arguments_raise_usage_errors() -> None:
    with pytest.raises(UsageError, match="height"):
        make_scene(8, 64)
    with pytest.raises(UsageError, match="frames"):
        make_scene(32, 32, frames=0)
    scene = make_scene(32, 32, frames=2)
    with pytest.raises(UsageError, match="focus"):
        ray_trace(scene, torch.tensor([0.5]), torch.tensor([1.0, 1.0]))
    with pytest.raises(UsageError, match="grid"):
        aperture_samples(Look(), grid=0)


def test_srgb_round_trip() -> None:
    x = torch.linspace(0.0, 1.0, 101, dtype=torch.float64)
    assert torch.allclose(linear_to_srgb(srgb_to_linear(x)), x, atol=1e-9)
    assert float(srgb_to_linear(torch.tensor(0.5))) == pytest.approx(0.21404, abs=1e-4)
