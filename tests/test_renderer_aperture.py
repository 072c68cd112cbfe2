"""Aperture shapes and the look: blades, anamorphic, ring, cat-eye, user kernels, validation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bokehfx.errors import UsageError
from bokehfx.renderers import Look, PhysicalRenderer, aperture_kernel

RADIUS = 20.0


def _angular_extent(kernel: torch.Tensor, angles: int = 360) -> torch.Tensor:
    """Distance from the centre to the kernel's half-level rim along each direction."""
    h, w = kernel.shape
    level = 0.5 * float(kernel.max())
    theta = torch.arange(angles, dtype=torch.float64) * 2 * math.pi / angles
    steps = torch.arange(0, max(h, w) // 2, 0.25, dtype=torch.float64)
    ys = (h // 2 - steps[None, :] * torch.sin(theta)[:, None]).round().long().clamp(0, h - 1)
    xs = (w // 2 + steps[None, :] * torch.cos(theta)[:, None]).round().long().clamp(0, w - 1)
    lit = kernel.double()[ys, xs] >= level
    return (lit.double() * steps).max(dim=1).values


def _dominant_harmonic(profile: torch.Tensor) -> int:
    spectrum = torch.fft.rfft(profile - profile.mean()).abs()
    return int(spectrum[1:30].argmax()) + 1


@pytest.mark.parametrize("blades", [5, 6, 7, 9])
def test_polygon_aperture_shows_its_blade_count(blades: int) -> None:
    kernel = aperture_kernel(RADIUS, Look(aperture="polygon", blades=blades))
    assert _dominant_harmonic(_angular_extent(kernel)) == blades


def test_rendered_point_light_shows_blade_count_and_rounding_removes_it() -> None:
    frames = torch.zeros(1, 3, 81, 81)
    frames[0, :, 40, 40] = 100.0
    disparity = torch.zeros(1, 1, 81, 81)
    render = PhysicalRenderer().render
    spot = render(frames, disparity, torch.tensor([1.0]), torch.tensor([RADIUS]), Look(aperture="polygon", blades=5))
    profile = _angular_extent(spot[0, 0])
    assert _dominant_harmonic(profile) == 5
    round_spot = render(frames, disparity, torch.tensor([1.0]), torch.tensor([RADIUS]), Look(aperture="polygon", blades=5, roundness=1.0))
    round_profile = _angular_extent(round_spot[0, 0])

    def fifth(p: torch.Tensor) -> float:
        return float(torch.fft.rfft(p - p.mean()).abs()[5])

    assert fifth(round_profile) < 0.3 * fifth(profile)


def test_near_bokeh_is_the_far_bokeh_point_reflected() -> None:
    # An even size: the cells of the reduced pyramid levels are then symmetric under the reflection.
    frames = torch.zeros(1, 3, 80, 80)
    frames[0, :, 40, 40] = 100.0
    look = Look(aperture="polygon", blades=3)
    render = PhysicalRenderer().render
    far = render(frames, torch.zeros(1, 1, 80, 80), torch.tensor([0.5]), torch.tensor([20.0]), look)
    near = render(frames.flip(-1, -2), torch.ones(1, 1, 80, 80), torch.tensor([0.5]), torch.tensor([20.0]), look)
    assert torch.allclose(near, far.flip(-1, -2), atol=1e-4)
    assert not torch.allclose(near, far, atol=1e-2)


def _moments(kernel: torch.Tensor) -> tuple[float, float]:
    """Vertical and horizontal standard deviations of a non-negative image about its centroid."""
    h, w = kernel.shape
    k = kernel.double() / kernel.double().sum()
    y = torch.arange(h, dtype=torch.float64).view(-1, 1)
    x = torch.arange(w, dtype=torch.float64).view(1, -1)
    y, x = y - (k * y).sum(), x - (k * x).sum()
    return float((k * y**2).sum().sqrt()), float((k * x**2).sum().sqrt())


def test_anamorphic_ratio_stretches_bokeh_vertically() -> None:
    sy, sx = _moments(aperture_kernel(RADIUS, Look(anamorphic=2.0)))
    assert abs(sy / sx - 2.0) < 0.05
    disc_y, _ = _moments(aperture_kernel(RADIUS, Look()))
    assert abs(sy - disc_y) < 0.2


def test_rotation_turns_the_polygon() -> None:
    plain = aperture_kernel(RADIUS, Look(aperture="polygon", blades=4))
    turned = aperture_kernel(RADIUS, Look(aperture="polygon", blades=4, rotation=45.0))
    quarter = aperture_kernel(RADIUS, Look(aperture="polygon", blades=4, rotation=90.0))
    assert float((plain - quarter).abs().sum()) < 0.1 * float((plain - turned).abs().sum())
    # A square standing on a vertex (0 deg) reaches the kernel's top row centre; turned 45 deg it is flat there.
    top = int(plain.shape[0] // 2 - RADIUS)
    assert float(plain[top + 1, plain.shape[1] // 2]) > 0 and float(turned[top + 1, plain.shape[1] // 2]) == 0


def test_ring_aperture_is_dark_in_the_middle() -> None:
    kernel = aperture_kernel(RADIUS, Look(aperture="ring", ring_inner=0.6))
    c = kernel.shape[0] // 2
    assert float(kernel[c, c]) == 0.0
    assert float(kernel[c, c + int(0.8 * RADIUS)]) > 0.0
    assert abs(float(kernel.sum()) - 1.0) < 1e-5


def test_cat_eye_narrows_bokeh_radially_toward_the_corners() -> None:
    look = Look(cat_eye=0.8)
    centre = aperture_kernel(RADIUS, look, position=(0.0, 0.0))
    assert torch.allclose(centre, aperture_kernel(RADIUS, Look()))
    right = aperture_kernel(RADIUS, look, position=(1.0, 0.0))
    sy, sx = _moments(right)
    assert sx < 0.8 * sy
    frames = torch.zeros(1, 3, 90, 160)
    frames[0, :, 45, 150] = 100.0
    frames[0, :, 45, 80] = 100.0
    out = PhysicalRenderer().render(frames, torch.zeros(1, 1, 90, 160), torch.tensor([1.0]), torch.tensor([12.0]), look)
    edge_y, edge_x = _moments(out[0, 0, 25:66, 125:160])
    middle_y, middle_x = _moments(out[0, 0, 25:66, 60:101])
    assert edge_x < 0.85 * middle_x
    assert abs(float(out[0, 0].sum()) / 200.0 - 1.0) < 0.02


def test_user_kernel_image_sets_the_bokeh_shape() -> None:
    square = np.ones((8, 8))
    kernel = aperture_kernel(RADIUS, Look(aperture="image", kernel_image=square))
    c = kernel.shape[0] // 2
    corner = int(0.9 * RADIUS)
    assert float(kernel[c - corner, c + corner]) > 0.5 * float(kernel[c, c])
    disc = aperture_kernel(RADIUS, Look())
    assert float(disc[c - corner, c + corner]) == 0.0
    heart = np.zeros((9, 9, 3))
    heart[2:7, 1:8] = 1.0
    wide = aperture_kernel(RADIUS, Look(aperture="image", kernel_image=heart))
    sy, sx = _moments(wide)
    assert sx > 1.3 * sy


def test_kernels_are_normalised_and_tiny_radii_are_identity() -> None:
    for look in (Look(), Look(aperture="polygon", blades=6, roundness=0.3), Look(anamorphic=0.5)):
        for radius in (0.7, 3.0, 17.5):
            assert abs(float(aperture_kernel(radius, look).sum()) - 1.0) < 1e-5
    assert torch.equal(aperture_kernel(0.2, Look()), torch.ones(1, 1))


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"aperture": "hexagon"}, "aperture"),
        ({"blades": 2}, "blades"),
        ({"roundness": 1.5}, "roundness"),
        ({"anamorphic": 0.0}, "anamorphic"),
        ({"ring_inner": 1.0}, "ring_inner"),
        ({"cat_eye": -0.1}, "cat_eye"),
        ({"aperture": "image"}, "kernel_image"),
        ({"aperture": "image", "kernel_image": np.zeros((3, 3))}, "kernel_image"),
        ({"highlight_gain": -1.0}, "highlight_gain"),
        ({"max_blur": -2.0}, "max_blur"),
    ],
)
def test_look_rejects_bad_values_naming_them(kwargs: dict, name: str) -> None:
    with pytest.raises(UsageError, match=name):
        Look(**kwargs)


def test_kernel_rejects_negative_radius() -> None:
    with pytest.raises(UsageError, match="radius"):
        aperture_kernel(-1.0, Look())
