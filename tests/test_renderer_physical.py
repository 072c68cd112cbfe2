"""Analytic behaviour of the physical renderer: spot size and energy, identity, occlusion, banding."""

from __future__ import annotations

import math

import pytest
import torch

from bokehfx.errors import UsageError
from bokehfx.renderers import Look, PhysicalRenderer, Renderer, aperture_kernel
from bokehfx.renderers.gather import gather_blur

SIZE = 97
CENTRE = SIZE // 2
POINT_ENERGY = 1000.0


def _point(d: float, size: int = SIZE) -> tuple[torch.Tensor, torch.Tensor]:
    frames = torch.zeros(1, 3, size, size)
    frames[0, :, size // 2, size // 2] = POINT_ENERGY
    return frames, torch.full((1, 1, size, size), d)


def _render(frames, disparity, focus, blur, look=None, renderer=None):
    t = frames.shape[0]
    renderer = renderer or PhysicalRenderer()
    return renderer.render(frames, disparity, torch.full((t,), float(focus)), torch.full((t,), float(blur)), look or Look())


def _second_moment_radius(spot: torch.Tensor) -> float:
    """Radius of the uniform disc with the same second moment as ``spot`` (``sqrt(2 E[rho^2])``)."""
    h, w = spot.shape
    y, x = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    total = spot.double().sum()
    cy, cx = (spot.double() * y).sum() / total, (spot.double() * x).sum() / total
    return math.sqrt(2 * float((spot.double() * ((y - cy) ** 2 + (x - cx) ** 2)).sum() / total))


@pytest.mark.parametrize(
    ("d", "focus", "blur"),
    [(0.0, 1.0, 5.0), (0.2, 0.6, 30.0), (0.9, 0.1, 20.0), (0.75, 0.5, 50.0), (1.0, 0.0, 13.3)],
)
def test_point_light_spreads_to_coc_radius_and_conserves_energy(d: float, focus: float, blur: float) -> None:
    frames, disparity = _point(d)
    out = _render(frames, disparity, focus, blur)[0, 0]
    expected = blur * abs(d - focus)
    assert abs(float(out.sum()) / POINT_ENERGY - 1.0) < 0.02
    assert abs(_second_moment_radius(out) - expected) <= 1.0
    y, x = torch.meshgrid(torch.arange(SIZE), torch.arange(SIZE), indexing="ij")
    rho = torch.sqrt(((y - CENTRE) ** 2 + (x - CENTRE) ** 2).float())
    plateau = out[rho <= 0.6 * expected]
    assert float(plateau.min()) > 0.5 * float(plateau.max())
    # The rim (half the plateau level) lies at the CoC radius.
    rim = float(rho[out > 0.5 * float(plateau.mean())].max())
    assert abs(rim - expected) <= 1.0, rim


def test_values_above_one_are_not_clipped() -> None:
    frames, disparity = _point(0.0)
    out = _render(frames, disparity, 0.0, 10.0)
    assert torch.equal(out, frames)
    blurred = _render(frames, disparity, 0.5, 10.0)
    assert float(blurred.max()) > 1.0


def test_zero_blur_frame_is_returned_bit_for_bit() -> None:
    gen = torch.Generator().manual_seed(3)
    frames = torch.rand(2, 3, 24, 32, generator=gen) * 4.0
    disparity = torch.rand(2, 1, 24, 32, generator=gen)
    out = PhysicalRenderer().render(frames, disparity, torch.tensor([0.3, 0.3]), torch.tensor([0.0, 12.0]), Look())
    assert torch.equal(out[0], frames[0])
    assert not torch.allclose(out[1], frames[1])
    assert out.dtype == frames.dtype and out.shape == frames.shape


def _psnr(a: torch.Tensor, b: torch.Tensor, peak: float = 1.0) -> float:
    mse = float(((a - b) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(peak**2 / mse)


def test_layer_at_focus_is_unchanged() -> None:
    gen = torch.Generator().manual_seed(0)
    h, w = 64, 96
    frames = torch.rand(1, 3, h, w, generator=gen)
    disparity = torch.full((1, 1, h, w), 0.1)
    disparity[..., :, 48:] = 0.6
    out = _render(frames, disparity, 0.6, 20.0)
    # Far layer blurs with radius 10; the focused half is untouched beyond that reach.
    assert _psnr(out[..., :, 60:], frames[..., :, 60:]) >= 50.0
    assert _psnr(out[..., :, :36], frames[..., :, :36]) < 30.0


def _gradient_energy(x: torch.Tensor) -> float:
    return float(((x[..., 1:, :] - x[..., :-1, :]) ** 2).mean() + ((x[..., :, 1:] - x[..., :, :-1]) ** 2).mean())


def test_blur_grows_monotonically_with_defocus() -> None:
    gen = torch.Generator().manual_seed(1)
    frames = torch.rand(1, 3, 48, 48, generator=gen)
    disparity = torch.full((1, 1, 48, 48), 0.5)
    for sign in (1.0, -1.0):
        energies = [_gradient_energy(_render(frames, disparity, 0.5 - sign * delta, 40.0)) for delta in (0.0, 0.01, 0.03, 0.06, 0.12, 0.25, 0.5)]
        assert all(a > b for a, b in zip(energies, energies[1:])), energies


def _two_planes(fg_d: float, bg_d: float, fg: float = 1.0, bg: float = 0.1, size: int = 80, edge: int = 40):
    """A bright foreground filling columns >= edge over a dark uniform background."""
    frames = torch.full((1, 3, size, size), bg)
    frames[..., :, edge:] = fg
    disparity = torch.full((1, 1, size, size), bg_d)
    disparity[..., :, edge:] = fg_d
    return frames, disparity


def test_sharp_foreground_leaves_no_halo_on_blurred_background() -> None:
    frames, disparity = _two_planes(fg_d=1.0, bg_d=0.0)
    out = _render(frames, disparity, 1.0, 16.0)
    assert torch.allclose(out[..., :, :40], torch.full_like(out[..., :, :40], 0.1), atol=2e-3)
    assert torch.allclose(out[..., :, 40:], frames[..., :, 40:], atol=1e-5)
    naive = gather_blur(frames, disparity, torch.tensor([1.0]), torch.tensor([16.0]))
    assert float((naive[..., :, :40] - 0.1).abs().max()) > 0.1


def _disc_coverage_beyond(distance: float, radius: float) -> float:
    """Fraction of a disc of ``radius`` lying beyond a straight edge at ``distance`` from its centre."""
    x = min(max(distance, -radius), radius)
    return (radius**2 * math.acos(x / radius) - x * math.sqrt(radius**2 - x**2)) / (math.pi * radius**2)


def test_blurred_foreground_covers_sharp_background() -> None:
    radius = 16.0
    frames, disparity = _two_planes(fg_d=1.0, bg_d=0.0, fg=1.0, bg=0.0)
    out = _render(frames, disparity, 0.0, radius)
    row = out[0, 0, 40]
    for column in (28, 32, 36, 39, 44, 50):
        # Pixel centre distance to the edge at x = 39.5; foreground coverage is the disc part beyond it.
        coverage = _disc_coverage_beyond(39.5 - column, radius)
        assert abs(float(row[column]) - coverage) < 0.04, (column, float(row[column]), coverage)
    naive = gather_blur(frames, disparity, torch.tensor([0.0]), torch.tensor([radius]))
    assert float(naive[0, 0, 40, 32]) == 0.0


def test_blurred_foreground_edge_reveals_background_not_itself() -> None:
    frames, disparity = _two_planes(fg_d=1.0, bg_d=0.0, fg=1.0, bg=0.2)
    frames[..., :, :40] = torch.tensor([0.0, 0.0, 0.2]).view(1, 3, 1, 1)
    out = _render(frames, disparity, 0.0, 16.0)
    # Half a disc inside the foreground edge: half foreground, half the (blue) background it hides.
    inside = out[0, :, 40, 40]
    assert abs(float(inside[0]) - 0.5) < 0.05
    assert abs(float(inside[2]) - 0.6) < 0.05


def _stripe_amplitude(radius: float, wavenumber: float) -> float:
    kernel = aperture_kernel(radius, Look(), dtype=torch.float64)
    ys = torch.arange(kernel.shape[0], dtype=torch.float64) - kernel.shape[0] // 2
    return float((kernel * torch.cos(wavenumber * ys).view(-1, 1)).sum())


def test_depth_ramp_blurs_smoothly_without_banding() -> None:
    h, w, blur, period = 64, 160, 16.0, 16.0
    wavenumber = 2 * math.pi / period
    ys = torch.arange(h, dtype=torch.float64).view(1, 1, h, 1)
    frames = (0.5 + 0.4 * torch.cos(wavenumber * ys)).expand(1, 3, h, w).float().contiguous()
    ramp = torch.linspace(0.0, 1.0, w).view(1, 1, 1, w).expand(1, 1, h, w).contiguous()
    out = _render(frames, ramp, 0.5, blur, renderer=PhysicalRenderer(dtype=torch.float64))[0, 1].double()
    rows = slice(2 * int(period), 3 * int(period))
    measured = 2.0 * ((out[rows] - 0.5) * torch.cos(wavenumber * ys[0, 0, rows])).mean(dim=0) / 0.4
    expected = torch.tensor([_stripe_amplitude(blur * abs(float(d) - 0.5), wavenumber) for d in ramp[0, 0, 0]])
    # Follows the local-radius attenuation (neighbouring depths mix in, hence the tolerance) ...
    assert float((measured - expected).abs().max()) < 0.08
    # ... without steps: one slab of radius (1 px) changes the attenuation by ~0.13 around r = 4,
    # which is what hard slicing shows between adjacent columns.
    assert float(measured.diff().abs().max()) < 0.06


def test_max_blur_caps_the_radius() -> None:
    frames, disparity = _point(0.0)
    out = _render(frames, disparity, 1.0, 40.0, look=Look(max_blur=10.0))[0, 0]
    assert abs(_second_moment_radius(out) - 10.0) <= 1.0


def test_highlight_gain_boosts_defocused_highlights_only() -> None:
    frames, disparity = _point(0.0)
    look = Look(highlight_threshold=1.0, highlight_gain=2.0)
    sharp = _render(frames, disparity, 0.0, 10.0, look)
    assert torch.equal(sharp, frames)
    out = _render(frames, disparity, 1.0, 10.0, look)
    expected = POINT_ENERGY + 2.0 * (POINT_ENERGY - 1.0)
    assert abs(float(out[0, 0].sum()) / expected - 1.0) < 0.02
    dim = torch.full((1, 3, 16, 16), 0.5)
    assert torch.allclose(_render(dim, torch.zeros(1, 1, 16, 16), 1.0, 5.0, look), dim, atol=1e-5)


def test_alpha_is_blurred_like_colour() -> None:
    frames = torch.ones(1, 3, 64, 64)
    alpha = torch.zeros(1, 1, 64, 64)
    alpha[..., 24:40, 24:40] = 1.0
    disparity = torch.zeros(1, 1, 64, 64)
    renderer = PhysicalRenderer()
    rgb, cov = renderer.render_rgba(frames, disparity, torch.tensor([1.0]), torch.tensor([8.0]), Look(), alpha)
    assert abs(float(cov.sum()) / 256.0 - 1.0) < 0.02
    assert float(cov[..., :10, :10].max()) < 1e-4
    assert torch.allclose(rgb, cov.expand_as(rgb), atol=1e-4)
    assert torch.equal(renderer.render(frames, disparity, torch.tensor([1.0]), torch.tensor([8.0]), Look(), alpha), rgb)


def test_low_precision_working_dtype_matches_float32() -> None:
    gen = torch.Generator().manual_seed(5)
    frames = torch.rand(2, 3, 40, 56, generator=gen)
    disparity = torch.rand(2, 1, 40, 56, generator=gen)
    focus, blur = torch.tensor([0.2, 0.7]), torch.tensor([12.0, 20.0])
    reference = PhysicalRenderer().render(frames, disparity, focus, blur, Look())
    for dtype in (torch.bfloat16, torch.float16):
        out = PhysicalRenderer(dtype=dtype).render(frames, disparity, focus, blur, Look())
        assert out.dtype == torch.float32
        assert _psnr(out, reference) > 35.0
    half_in = PhysicalRenderer().render(frames.bfloat16(), disparity.bfloat16(), focus, blur, Look())
    assert half_in.dtype == torch.bfloat16


def test_renderer_satisfies_protocol_and_validates_inputs() -> None:
    renderer = PhysicalRenderer()
    assert isinstance(renderer, Renderer)
    frames, disparity = torch.zeros(2, 3, 8, 8), torch.zeros(2, 1, 8, 8)
    with pytest.raises(UsageError, match="disparity"):
        renderer.render(frames, disparity[:1], torch.zeros(2), torch.ones(2), Look())
    with pytest.raises(UsageError, match="focus"):
        renderer.render(frames, disparity, torch.zeros(3), torch.ones(2), Look())
    with pytest.raises(UsageError, match="blur"):
        renderer.render(frames, disparity, torch.zeros(2), torch.tensor([1.0, -1.0]), Look())
    with pytest.raises(UsageError, match="frames"):
        renderer.render(frames[:, :2], disparity, torch.zeros(2), torch.ones(2), Look())
    with pytest.raises(UsageError, match="lowres_min_radius"):
        PhysicalRenderer(lowres_min_radius=0)
    with pytest.raises(UsageError, match="chunk_frames"):
        PhysicalRenderer(chunk_frames=0)


def test_batched_render_equals_frame_by_frame() -> None:
    gen = torch.Generator().manual_seed(9)
    frames = torch.rand(3, 3, 40, 56, generator=gen)
    disparity = torch.rand(3, 1, 40, 56, generator=gen)
    focus, blur = torch.tensor([0.1, 0.5, 0.9]), torch.tensor([8.0, 30.0, 16.0])
    renderer = PhysicalRenderer(chunk_frames=3)
    batched = renderer.render(frames, disparity, focus, blur, Look())
    chunked = PhysicalRenderer(chunk_frames=2).render(frames, disparity, focus, blur, Look())
    assert torch.allclose(batched, chunked, atol=1e-5)
    for t in range(3):
        single = renderer.render(frames[t : t + 1], disparity[t : t + 1], focus[t : t + 1], blur[t : t + 1], Look())
        assert torch.allclose(batched[t : t + 1], single, atol=1e-5)
