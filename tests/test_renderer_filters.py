"""The physical renderer's image filters: FFT convolution over padded boxes, reduction and expansion."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from bokehfx.renderers import filters
from bokehfx.renderers.filters import (
    SpectrumCache,
    _fast_len,
    _fft_axis,
    convolve_sum,
    expand_bilinear,
    reduce_tent,
    reduced_zeros,
)


def _reference(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Scatter convolution with replicated borders, by conv2d in float64."""
    py, px = kernel.shape[0] // 2, kernel.shape[1] // 2
    padded = F.pad(x.double(), (px, px, py, py), mode="replicate")
    weight = kernel.double().flip(0, 1).expand(x.shape[1], 1, *kernel.shape)
    return F.conv2d(padded, weight, groups=x.shape[1]).float()


def _disc(radius: int) -> torch.Tensor:
    r = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = ((r.view(-1, 1) ** 2 + r.view(1, -1) ** 2) <= radius**2).float()
    k[radius, radius + 1] += 0.5  # not symmetric: a wrong orientation or shift shows
    return k / k.sum()


def _boxed(batch: int, zeros: tuple[int, int, int, int], seed: int) -> torch.Tensor:
    """``(batch, 4, 90, 110)`` random values inside zero margins of ``zeros`` (top, bottom, left, right)."""
    gen = torch.Generator().manual_seed(seed)
    h, w = 90, 110
    top, bottom, left, right = zeros
    x = torch.zeros(batch, 4, h, w)
    x[..., top : h - bottom, left : w - right] = torch.rand(batch, 4, h - top - bottom, w - left - right, generator=gen)
    return x


@pytest.mark.parametrize("zeros", [(0, 0, 0, 0), (12, 12, 12, 12), (3, 20, 0, 7), (0, 5, 30, 0), (40, 40, 40, 40)])
def test_fft_over_known_zeros_equals_the_replicated_convolution(zeros: tuple[int, int, int, int]) -> None:
    x = _boxed(1, zeros, seed=0)
    pairs = [(x, _disc(9)), (x.flip(-1).contiguous() * (x != 0), _disc(6))]
    expected = sum(_reference(xi, k) for xi, k in pairs)
    got = convolve_sum(pairs, direct_max_taps=0, zeros=zeros)
    assert torch.allclose(got, expected, atol=2e-6)


@pytest.mark.parametrize("group_bytes", [1, 1 << 17, 1 << 40])
@pytest.mark.parametrize("zeros", [(0, 0, 0, 0), (3, 20, 0, 7)])
def test_fft_channel_groups_give_the_whole_box_result(monkeypatch: pytest.MonkeyPatch, group_bytes: int,
                                                       zeros: tuple[int, int, int, int]) -> None:
    # One channel at a time, two, or all four: the cache budget changes the work's order, not its result.
    x = _boxed(2, zeros, seed=2)
    pairs = [(x, _disc(9)), (x.flip(-2).contiguous() * (x != 0), _disc(4))]
    expected = sum(_reference(xi, k) for xi, k in pairs)
    monkeypatch.setattr(filters, "FFT_GROUP_BYTES", group_bytes)
    got = convolve_sum(pairs, direct_max_taps=0, zeros=zeros)
    assert torch.allclose(got, expected, atol=2e-6)


def test_pad_into_is_replicate_padding_then_zeros() -> None:
    gen = torch.Generator().manual_seed(3)
    x = torch.rand(1, 3, 17, 23, generator=gen)
    for padding in [(0, 0, 0, 0), (2, 5, 3, 1), (0, 4, 6, 0), (7, 0, 0, 2)]:
        left, right, top, bottom = padding
        buffer = torch.full((1, 3, 40, 45), float("nan"))
        filters._pad_into(buffer, x, padding)
        expected = F.pad(F.pad(x, padding, mode="replicate"),
                         (0, 45 - (23 + left + right), 0, 40 - (17 + top + bottom)))
        assert torch.equal(buffer, expected)


def test_known_zeros_shrink_the_fft() -> None:
    # A box grown by the blur's reach on every side needs no more than itself.
    assert _fft_axis(200, 10, 10, 10) == (0, 0, _fast_len(200))
    assert _fft_axis(200, 10, 0, 0) == (10, 10, _fast_len(220))
    # At the frame's border (no zeros) the border is replicated and the spill still needs room.
    assert _fft_axis(200, 10, 0, 10) == (10, 0, _fast_len(220))
    assert _fft_axis(200, 10, 4, 10)[2] == _fast_len(206)


def test_zeros_stay_zero_through_the_tent_reduction() -> None:
    gen = torch.Generator().manual_seed(1)
    x = torch.zeros(1, 2, 77, 93)
    zeros = (9, 14, 0, 22)
    x[..., 9 : 77 - 14, 0 : 93 - 22] = torch.rand(1, 2, 77 - 23, 93 - 22, generator=gen) + 0.1
    for factor in (2, 4, 8):
        y = reduce_tent(x, factor)
        top, bottom, left, right = reduced_zeros(zeros, factor)
        assert left == 0  # the frame's border stays replicated
        h, w = y.shape[-2:]
        assert top == (4, 1, 0)[factor.bit_length() - 2]  # (9 - 1) // 2, then (4 - 1) // 2, ...
        for rows_or_cols in (y[..., :top, :], y[..., h - bottom :, :], y[..., :, w - right :]):
            assert bool((rows_or_cols == 0).all())


@pytest.mark.parametrize("factor", [1, 2, 4, 8])
@pytest.mark.parametrize("size", [(5, 7), (1, 6), (33, 2), (130, 70)])
def test_expand_bilinear_is_bilinear_upsampling(factor: int, size: tuple[int, int]) -> None:
    x = torch.rand(2, 3, *size, generator=torch.Generator().manual_seed(2))
    h, w = size[0] * factor - (factor > 1), size[1] * factor - (factor > 2)
    expected = F.interpolate(x, size=(size[0] * factor, size[1] * factor), mode="bilinear", align_corners=False)
    got = expand_bilinear(x, factor, h, w)
    assert got.shape == (2, 3, h, w)
    assert torch.allclose(got, expected[..., :h, :w], atol=1e-6)


def test_spectrum_cache_keeps_the_recent_spectra_within_its_budget() -> None:
    kernels = [torch.rand(5, 5) for _ in range(4)]
    spectrum = torch.zeros(10, 6, dtype=torch.complex64)  # 480 bytes
    cache = SpectrumCache(max_bytes=3 * spectrum.nbytes)
    for k in kernels:
        cache.put(k, (10, 10), spectrum.clone())
    assert len(cache) == 3 and cache.bytes == 3 * spectrum.nbytes
    assert cache.get(kernels[0], (10, 10)) is None  # the oldest went
    assert cache.get(kernels[1], (10, 10)) is not None
    assert cache.get(kernels[1], (12, 10)) is None  # another FFT size
    assert cache.get(kernels[1].clone(), (10, 10)) is None  # kernels are known by identity


def test_convolve_sum_reuses_cached_kernel_spectra(monkeypatch: pytest.MonkeyPatch) -> None:
    x = torch.rand(1, 4, 40, 50, generator=torch.Generator().manual_seed(3))
    kernel = _disc(7)
    cache = SpectrumCache(max_bytes=2**20)
    first = convolve_sum([(x, kernel)], direct_max_taps=0, spectra=cache)
    calls = []
    rfft2 = torch.fft.rfft2
    monkeypatch.setattr(torch.fft, "rfft2", lambda t, *a, **k: calls.append(t.dim()) or rfft2(t, *a, **k))
    again = convolve_sum([(x, kernel)], direct_max_taps=0, spectra=cache)
    assert calls == [4]  # the data's FFT only; the kernel's came from the cache
    assert torch.equal(first, again)
