"""Image filters of the physical renderer: convolution, pull-push fill, area reduction and expansion.

Pure tensor functions on ``(B, C, h, w)`` batches; they know nothing of depth or lenses.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import torch
import torch.nn.functional as F

from bokehfx.errors import UsageError

#: Confidence below which a value is treated as unknown when normalising.
COVERAGE_EPS = 1e-6


def pull_push(premult: torch.Tensor, confidence: torch.Tensor, tau: float) -> torch.Tensor:
    r"""Fill unknown pixels by pull-push interpolation (a fast image pyramid inpainting).

    Args:
        premult (`torch.Tensor`): ``(B, C, h, w)`` values premultiplied by ``confidence``.
        confidence (`torch.Tensor`): ``(B, 1, h, w)`` or ``(B, C, h, w)`` (one per channel) in
            ``[0, 1]``; 0 means unknown.
        tau (`float`): confidence at and above which a pixel's own value is used unchanged.

    Returns:
        `torch.Tensor`: ``(B, C, h, w)`` normalised values, defined everywhere (0 where nothing at
        all is known).
    """
    channels = premult.shape[1]
    confidence = confidence.expand_as(premult)
    levels = [torch.cat((premult, confidence), dim=1)]
    while min(levels[-1].shape[-2:]) > 1:
        x = levels[-1]
        odd = (0, x.shape[-1] % 2, 0, x.shape[-2] % 2)
        levels.append(halve(F.pad(x, odd) if any(odd) else x))
    top = levels[-1]
    estimate = top[:, :channels] / top[:, channels:].clamp_min(COVERAGE_EPS)
    for x in reversed(levels[:-1]):
        up = expand_bilinear(estimate, 2, *x.shape[-2:])
        p, c = x[:, :channels], x[:, channels:]
        # A pixel's own value where it is trusted, the coarser estimate where it is not.
        estimate = torch.lerp(up, p / c.clamp_min(COVERAGE_EPS), c.div(tau).clamp_(0.0, 1.0))
    return estimate


#: FFT sizes are products of these primes, and multiples of ``FFT_MULTIPLE`` above ``4 * FFT_MULTIPLE``:
#: sizes with odd parts made of 3s and 5s only (1125, 375) run up to 1.5x slower than nearby even
#: sizes (measured with torch's CPU FFT at the renderer's sizes: about 10 % less time overall).
FFT_PRIMES = (2, 3, 5, 7)
FFT_MULTIPLE = 8
#: Bytes of spectra transformed at a time on a CPU (channels are grouped to fit): about a core's L2 cache.
#: Measured at the renderer's 1080p box sizes with torch's CPU FFT, one channel at a time instead of
#: four saves 15-20 % of a box's FFT time.
FFT_GROUP_BYTES = 2 << 20


def _fast_len(n: int) -> int:
    """Smallest fast FFT size >= n (see ``FFT_PRIMES``)."""
    size = n
    while True:
        m = size
        for prime in FFT_PRIMES:
            while m % prime == 0:
                m //= prime
        if m == 1 and (size % FFT_MULTIPLE == 0 or n < 4 * FFT_MULTIPLE):
            return size
        size += 1


def _direct_convolve(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Small-kernel convolution as a sum of shifted copies (faster than depthwise conv2d on CPU)."""
    kh, kw = kernel.shape
    h, w = x.shape[-2:]
    py, px = kh // 2, kw // 2
    padded = F.pad(x, (px, px, py, py), mode="replicate")
    out = torch.zeros_like(x)
    for a, b in torch.nonzero(kernel).tolist():
        out.add_(padded[..., 2 * py - a : 2 * py - a + h, 2 * px - b : 2 * px - b + w], alpha=float(kernel[a, b]))
    return out


def _fft_axis(length: int, half: int, zero_lo: int, zero_hi: int) -> tuple[int, int, int]:
    """Padding and FFT size along one axis: ``(pad_lo, pad_hi, size)``.

    A side with no known zeros (``zero_*`` is 0) is the frame's border: it is replicated ``half``
    samples out, and the blur spills ``half`` further. A side with zeros needs no padding, only
    room for what spills past them. With the kernel centred on the FFT's origin, the result is
    exact when the circular wrap of the linear convolution misses the read window.
    """
    pad_lo, pad_hi = (half if zero_lo == 0 else 0), (half if zero_hi == 0 else 0)
    return pad_lo, pad_hi, _fast_len(max(length + half + max(pad_lo - zero_lo, pad_hi - zero_hi, -half), 2 * half + 1))


class SpectrumCache:
    """Kernel spectra by kernel and FFT size, kept across calls; the least recently used go past ``max_bytes``.

    A kernel is known by its identity, and each entry holds its kernel, so an identity is never
    reused while its spectrum is kept. Safe to share between threads.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[tuple[int, tuple[int, int]], tuple[torch.Tensor, torch.Tensor]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, kernel: torch.Tensor, size: tuple[int, int]) -> torch.Tensor | None:
        """The spectrum of ``kernel`` at FFT ``size``, or ``None``."""
        key = (id(kernel), size)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry[0] is not kernel:
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, kernel: torch.Tensor, size: tuple[int, int], spectrum: torch.Tensor) -> None:
        """Keep ``spectrum`` as the spectrum of ``kernel`` at ``size``."""
        key = (id(kernel), size)
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.bytes -= old[1].nbytes
            self._entries[key] = (kernel, spectrum)
            self.bytes += spectrum.nbytes
            while self.bytes > self.max_bytes and len(self._entries) > 1:
                self.bytes -= self._entries.popitem(last=False)[1][1].nbytes


def convolve_sum(pairs: list[tuple[torch.Tensor, torch.Tensor]], direct_max_taps: int = 25,
                 spectra: SpectrumCache | None = None,
                 zeros: tuple[int, int, int, int] = (0, 0, 0, 0)) -> torch.Tensor:
    r"""``sum_i x_i * k_i``: convolve each tensor with its kernel (scatter semantics) and add up.

    Borders are replicated. Kernels with at most ``direct_max_taps`` taps are applied directly;
    larger ones through one shared FFT size, summing the spectra so a single inverse FFT is needed.

    Args:
        pairs (`list[tuple[torch.Tensor, torch.Tensor]]`): ``(x, kernel)`` with ``x`` of shape
            ``(B, C, h, w)`` (all equal, float32/float64) and odd-sided ``(kh, kw)`` kernels.
        direct_max_taps (`int`, defaults to 25): threshold between direct and FFT convolution.
        spectra (`SpectrumCache`, *optional*): where kernel spectra are kept between calls.
        zeros (`tuple[int, int, int, int]`, defaults to no zeros): rows at the top and bottom and
            columns at the left and right known to be zero in every ``x``. Such a side is not
            replicated (replicating zeros gives zeros) and the FFT only needs room for the blur
            spilling past them, so a blur of a padded box costs the box, not the box plus twice
            the kernel. The result is the same.

    Returns:
        `torch.Tensor`: ``(B, C, h, w)`` sum of the convolutions.
    """
    if not pairs:
        raise UsageError("pairs must hold at least one (tensor, kernel) pair, got none")
    if min(zeros) < 0:
        raise UsageError(f"zeros must be counts >= 0, got {zeros!r}")
    out: torch.Tensor | None = None
    spectral = []
    for x, kernel in pairs:
        kernel = kernel.to(x.dtype)
        kh, kw = kernel.shape
        if kh * kw <= direct_max_taps:
            y = x * kernel[0, 0] if kh == 1 and kw == 1 else _direct_convolve(x, kernel)
            out = y if out is None else out + y
        else:
            spectral.append((x, kernel))
    if spectral:
        h, w = spectral[0][0].shape[-2:]
        top, bottom, rows = _fft_axis(h, max(k.shape[0] for _, k in spectral) // 2, zeros[0], zeros[1])
        left, right, cols = _fft_axis(w, max(k.shape[1] for _, k in spectral) // 2, zeros[2], zeros[3])
        size = (rows, cols)
        kernels = [_spectrum_of(kernel, size, spectra) for _, kernel in spectral]
        padding = (left, right, top, bottom)
        batch, channels = spectral[0][0].shape[:2]
        # On a CPU, channels a few at a time: a group's spectra stay in the core's cache between the
        # forward transforms, the products and the inverse one, instead of a whole box's going
        # through memory. A GPU transforms them all in one batched call.
        complex_bytes = 2 * spectral[0][0].element_size()
        group = channels
        if spectral[0][0].device.type == "cpu":
            group = max(1, min(channels, FFT_GROUP_BYTES // (batch * rows * (cols // 2 + 1) * complex_bytes)))
        y = spectral[0][0].new_empty((batch, channels, rows, cols))
        buffer = None
        for c in range(0, channels, group):
            spectrum = None
            for (x, _), spectrum_k in zip(spectral, kernels):
                x = x[:, c : c + group]
                if buffer is None or buffer.shape[1] != x.shape[1]:
                    buffer = x.new_empty((*x.shape[:2], rows, cols))
                _pad_into(buffer, x, padding)
                if spectrum is None:
                    spectrum = torch.fft.rfft2(buffer).mul_(spectrum_k)
                else:
                    spectrum.addcmul_(torch.fft.rfft2(buffer), spectrum_k)
            torch.fft.irfft2(spectrum, s=size, out=y[:, c : c + group])
        y = y[..., top : top + h, left : left + w]
        out = y if out is None else out + y
    return out


def _pad_into(buffer: torch.Tensor, x: torch.Tensor, padding: tuple[int, int, int, int]) -> None:
    """``x`` into the corner of ``buffer``, its borders replicated by ``padding`` (left, right, top, bottom)
    and zeros beyond: ``F.pad(x, padding, mode="replicate")`` zero-padded to ``buffer``'s size, in one pass."""
    left, right, top, bottom = padding
    h, w = x.shape[-2:]
    rows, cols = h + top + bottom, w + left + right
    buffer[..., top : top + h, left : left + w] = x
    if top:
        buffer[..., :top, left : left + w] = x[..., :1, :]
    if bottom:
        buffer[..., top + h : rows, left : left + w] = x[..., -1:, :]
    if left:
        buffer[..., :rows, :left] = buffer[..., :rows, left : left + 1]
    if right:
        buffer[..., :rows, left + w : cols] = buffer[..., :rows, left + w - 1 : left + w]
    buffer[..., rows:, :].zero_()
    buffer[..., :rows, cols:].zero_()


def _spectrum_of(kernel: torch.Tensor, size: tuple[int, int], spectra: SpectrumCache | None) -> torch.Tensor:
    """The spectrum of ``kernel`` at FFT ``size``, its centre on the origin (the result needs no shift)."""
    spectrum = None if spectra is None else spectra.get(kernel, size)
    if spectrum is None:
        rows, cols = size
        centred = F.pad(kernel, (0, cols - kernel.shape[1], 0, rows - kernel.shape[0]))
        centred = centred.roll((-(kernel.shape[0] // 2), -(kernel.shape[1] // 2)), (0, 1))
        spectrum = torch.fft.rfft2(centred)
        if spectra is not None:
            spectra.put(kernel, size, spectrum)
    return spectrum


def convolve(x: torch.Tensor, kernel: torch.Tensor, direct_max_taps: int = 25) -> torch.Tensor:
    r"""Convolve every channel of ``x`` with ``kernel`` (scatter semantics), replicate borders.

    Args:
        x (`torch.Tensor`): ``(B, C, h, w)`` float32/float64 tensor.
        kernel (`torch.Tensor`): ``(kh, kw)`` kernel with odd sides.
        direct_max_taps (`int`, defaults to 25): kernels with at most this many taps are applied
            directly, larger ones by FFT.

    Returns:
        `torch.Tensor`: ``(B, C, h, w)`` convolved tensor.
    """
    return convolve_sum([(x, kernel)], direct_max_taps)


def halve(x: torch.Tensor) -> torch.Tensor:
    """Average 2 x 2 cells of a tensor with even sides (rows, then columns: several times faster than ``avg_pool2d`` on CPU)."""
    rows = x[..., 0::2, :] + x[..., 1::2, :]
    return (rows[..., 0::2] + rows[..., 1::2]).mul_(0.25)


def reduce_area(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Area-average by ``factor``, a power of two (replicating the border up to a multiple of it)."""
    if factor == 1:
        return x
    h, w = x.shape[-2:]
    pad = (0, (-w) % factor, 0, (-h) % factor)
    if any(pad):
        x = F.pad(x, pad, mode="replicate")
    while factor > 1:
        x = halve(x)
        factor //= 2
    return x


#: Elements below which :func:`expand_bilinear` calls ``F.interpolate`` (one call) rather than
#: summing phases (a dozen calls, faster only once their cost is spread over enough elements).
EXPAND_BY_PHASE_MIN = 1 << 15


def _expand_axis(x: torch.Tensor, factor: int, dim: int) -> torch.Tensor:
    """Bilinear upsampling of axis ``dim`` (2: rows, 3: columns) by ``factor``, edge samples held
    (as ``align_corners=False``): one weighted sum of neighbours per output phase."""
    n = x.shape[dim]
    out = x.new_empty((*x.shape[: dim + 1], factor, *x.shape[dim + 1 :]))
    for phase in range(factor):
        offset = (phase + 0.5) / factor - 0.5
        dst = out.select(dim + 1, phase)
        if offset < 0:
            torch.lerp(x.narrow(dim, 1, n - 1), x.narrow(dim, 0, n - 1), -offset, out=dst.narrow(dim, 1, n - 1))
            dst.narrow(dim, 0, 1).copy_(x.narrow(dim, 0, 1))
        else:
            torch.lerp(x.narrow(dim, 0, n - 1), x.narrow(dim, 1, n - 1), offset, out=dst.narrow(dim, 0, n - 1))
            dst.narrow(dim, n - 1, 1).copy_(x.narrow(dim, n - 1, 1))
    return out.flatten(dim, dim + 1)


def expand_bilinear(x: torch.Tensor, factor: int, h: int, w: int) -> torch.Tensor:
    """Bilinear upsampling by ``factor`` (inverse geometry of :func:`reduce_area`), cropped to ``h, w``.

    The same as ``F.interpolate(mode="bilinear", align_corners=False)`` to rounding, done as one
    weighted sum per output phase, columns then rows: several times faster on CPU.
    """
    if factor == 1:
        return x
    # Only the samples that reach the crop (one beyond it, so the crop's edge is not held).
    x = x[..., : -(-h // factor) + 1, : -(-w // factor) + 1]
    if x.numel() < EXPAND_BY_PHASE_MIN:
        size = (x.shape[-2] * factor, x.shape[-1] * factor)
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)[..., :h, :w]
    return _expand_axis(_expand_axis(x, factor, 3)[..., :w], factor, 2)[..., :h, :]


#: Taps of the reduction by two that is the adjoint of bilinear upsampling (it keeps centroids).
TENT_TAPS = (0.125, 0.375, 0.375, 0.125)


def reduce_tent(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Reduce by ``factor`` (a power of two) in steps of two with the tent ``TENT_TAPS``.

    Unlike the area average of :func:`reduce_area`, which moves a point to the centre of its cell,
    this keeps the centroid of every point where it was, so a point blurred on a reduced level and
    upsampled by :func:`expand_bilinear` lands where it belongs. Borders are replicated.
    """
    while factor > 1:
        h, w = x.shape[-2:]
        x = F.pad(x, (1, 1 + w % 2, 1, 1 + h % 2), mode="replicate")
        rows = x.shape[-2] // 2 - 1
        x = sum(tap * x[..., i : i + 2 * rows : 2, :] for i, tap in enumerate(TENT_TAPS))
        cols = x.shape[-1] // 2 - 1
        x = sum(tap * x[..., i : i + 2 * cols : 2] for i, tap in enumerate(TENT_TAPS))
        factor //= 2
    return x


def reduced_zeros(zeros: tuple[int, ...], factor: int) -> tuple[int, ...]:
    """Rows or columns at a border still known to be zero after :func:`reduce_tent` by ``factor``.

    Each step of two halves them, less the tent's reach; a side with no zeros (a replicated frame
    border) stays without.
    """
    while factor > 1:
        zeros = tuple(max(0, (z - 1) // 2) for z in zeros)
        factor //= 2
    return zeros
