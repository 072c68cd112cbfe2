"""Diagnostic views: focus map colours, disparity image, layer slicing."""

from __future__ import annotations

import torch

from bokehfx.renderers import Look
from bokehfx.renderers.diagnostics import FAR_COLOUR, IN_FOCUS_COLOUR, NEAR_COLOUR, diagnostics


def _inputs():
    frames = torch.ones(2, 3, 8, 30)
    disparity = torch.linspace(0.0, 1.0, 30).view(1, 1, 1, 30).expand(2, 1, 8, 30).contiguous()
    return frames, disparity, torch.tensor([0.5, 0.5]), torch.tensor([20.0, 20.0])


def test_focus_map_colours_near_in_focus_and_far() -> None:
    frames, disparity, focus, blur = _inputs()
    views = diagnostics(frames, disparity, focus, blur, Look(), in_focus_px=1.0, shade_floor=1.0)
    fmap = views["focus_map"][0, :, 0]
    assert torch.allclose(fmap[:, 0], torch.tensor(FAR_COLOUR))
    assert torch.allclose(fmap[:, 29], torch.tensor(NEAR_COLOUR))
    in_focus = (20.0 * (disparity[0, 0, 0] - 0.5)).abs() <= 1.0
    assert in_focus.any()
    assert torch.allclose(fmap[:, in_focus], torch.tensor(IN_FOCUS_COLOUR).view(3, 1).expand(3, int(in_focus.sum())))


def test_disparity_view_is_grey_and_layers_change_along_a_ramp() -> None:
    frames, disparity, focus, blur = _inputs()
    views = diagnostics(frames, disparity, focus, blur)
    assert set(views) == {"focus_map", "disparity", "layers"}
    for view in views.values():
        assert view.shape == frames.shape and view.dtype == frames.dtype
    assert torch.allclose(views["disparity"][:, 0], disparity[:, 0])
    assert torch.equal(views["disparity"][:, 0], views["disparity"][:, 2])
    row = views["layers"][0, :, 0]
    changes = int((row[:, 1:] != row[:, :-1]).any(dim=0).sum())
    assert changes >= 10


def test_focus_map_is_shaded_by_the_image() -> None:
    frames, disparity, focus, blur = _inputs()
    frames[..., :, :15] = 0.0
    views = diagnostics(frames, disparity, focus, blur, shade_floor=0.35)
    dark, bright = views["focus_map"][0, :, 0, 0], views["focus_map"][0, :, 0, 1 + 15]
    assert torch.allclose(dark, 0.35 * torch.tensor(FAR_COLOUR))
    assert float(bright.max()) > float(dark.max())
