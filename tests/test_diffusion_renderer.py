"""The diffusion renderer adapter: any aspect ratio at its own size, source pixels kept in focus."""

from __future__ import annotations

import pytest
import torch

from bokehfx.errors import UsageError
from bokehfx.renderers.base import Look, Renderer
from bokehfx.renderers.diffusion import (DiffusionOptions, DiffusionRenderer, srgb_decode, srgb_encode,
                                         working_geometry)
from tests.diffusion_helpers import tiny_pipeline


@pytest.fixture(scope="module")
def renderer() -> DiffusionRenderer:
    return DiffusionRenderer(tiny_pipeline(), DiffusionOptions(prompt="large blur", steps=1, window=3, overlap=1,
                                                               size=(32, 24)))


def clip(frames: int, height: int, width: int):
    g = torch.Generator().manual_seed(2)
    rgb = torch.rand(frames, 3, height, width, generator=g) ** 2.2
    disp = torch.linspace(0, 1, width).view(1, 1, 1, width).expand(frames, 1, height, width).contiguous()
    return rgb, disp


@pytest.mark.parametrize("width,height", [(30, 40), (70, 20), (37, 23)])
def test_any_aspect_ratio_comes_back_at_its_own_size(renderer, width, height):
    rgb, disp = clip(4, height, width)
    out = renderer.render(rgb, disp, torch.full((4,), 0.5), torch.full((4,), 6.0), Look())
    assert out.shape == rgb.shape and torch.isfinite(out).all()


@pytest.mark.parametrize("width,height", [(1920, 1080), (1080, 1920), (4096, 1716), (640, 480)])
def test_working_size_keeps_the_aspect_and_pads_to_the_multiple(width, height):
    g = working_geometry(width, height, (1024, 576), 64)
    assert abs(g.work_width / g.work_height - width / height) < 0.01 * width / height
    assert abs(g.work_width * g.work_height - 1024 * 576) < 0.01 * 1024 * 576
    assert g.padded_width % 64 == 0 and g.padded_height % 64 == 0
    assert 0 <= g.padded_width - g.work_width < 64 and 0 <= g.padded_height - g.work_height < 64


def test_in_focus_pixels_keep_the_source_and_blur_zero_is_the_source(renderer):
    rgb, disp = clip(3, 24, 32)
    out = renderer.render(rgb, disp, torch.full((3,), 0.5), torch.full((3,), 4.0))
    in_focus = (4.0 * (disp - 0.5).abs() < 0.5).expand_as(rgb)
    assert in_focus.any() and (~in_focus).any()
    assert torch.equal(out[in_focus], rgb[in_focus])
    assert not torch.allclose(out[~in_focus], rgb[~in_focus])
    still = renderer.render(rgb, disp, torch.full((3,), 0.5), torch.zeros(3))
    assert torch.equal(still, rgb)


def test_renderer_interface_and_bad_options(renderer):
    assert isinstance(renderer, Renderer)
    with pytest.raises(UsageError, match="--steps"):
        DiffusionOptions(steps=0)
    with pytest.raises(UsageError, match="overlap"):
        DiffusionRenderer(renderer.pipe, DiffusionOptions(window=3, overlap=3))


def test_srgb_round_trip():
    x = torch.linspace(0, 1, 101)
    torch.testing.assert_close(srgb_decode(srgb_encode(x)), x, atol=1e-5, rtol=1e-4)
