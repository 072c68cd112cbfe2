"""The physical renderer: layered, occlusion-aware thin-lens depth of field.

How it works (all batched over the frames of a window):

1. The signed circle-of-confusion radius ``s = K * (d - F)`` (pixels; negative = far, positive =
   near) is computed per pixel and clamped to ``look.max_blur``.
2. ``s`` is cut into slabs at a fixed grid of radii (0, then steps of ``layer_step_px`` growing
   geometrically by ``layer_step_ratio``). Slabs set the occlusion order. Inside its slab a pixel
   is blurred by a mix of the kernels at the slab's two bounding radii, linear in its position,
   so the blur varies continuously with depth: there is no banding between slices.
3. Each slab is extended behind the nearer slabs: its colour and coverage are inpainted by
   pull-push interpolation into the region that nearer slabs hide, so a defocused foreground edge
   reveals a plausible background instead of smearing itself.
4. Each slab's premultiplied colour and coverage are convolved with the aperture kernels
   (direct convolution for small kernels, FFT otherwise). Slabs with large radii are processed at
   a reduced resolution (``lowres_min_radius``) and upsampled.
5. Slabs are composited back to front with the "over" operator (a sharp foreground therefore never
   leaks a halo into a blurred background, and a blurred foreground spreads over a sharp one), and
   the result is normalised by the accumulated coverage.

Everything happens in linear light; values above 1.0 are kept.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from bokehfx.errors import UsageError
from bokehfx.renderers.aperture import aperture_kernel
from bokehfx.renderers.base import Look, check_inputs

#: Rec. 709 luminance weights of linear RGB (used by the highlight boost).
LUMA_WEIGHTS = (0.2126, 0.7152, 0.0722)

#: Accumulated coverage below which a pixel is considered empty when normalising.
COVERAGE_EPS = 1e-6


def layer_centres(max_radius: float, step_px: float = 1.0, step_ratio: float = 0.15) -> torch.Tensor:
    r"""Signed CoC radii of the layer slices, ascending (far to near), symmetric around 0.

    Args:
        max_radius (`float`): largest ``|s|`` that must be covered, in pixels.
        step_px (`float`, defaults to 1.0): smallest spacing between layers, in pixels.
        step_ratio (`float`, defaults to 0.15): spacing relative to the radius for large radii.

    Returns:
        `torch.Tensor`: float64 ``(2n + 1,)`` radii ``[-c_n, ..., -c_1, 0, c_1, ..., c_n]`` with
        ``c_n >= max_radius``.
    """
    if not (math.isfinite(max_radius) and max_radius >= 0):
        raise UsageError(f"max_radius must be a finite number >= 0, got {max_radius!r}")
    if not step_px > 0 or not step_ratio >= 0:
        raise UsageError(f"step_px must be > 0 and step_ratio >= 0, got {step_px!r}, {step_ratio!r}")
    radii = [0.0]
    while len(radii) < 2 or radii[-1] < max_radius:
        radii.append(radii[-1] + max(step_px, step_ratio * radii[-1]))
    positive = torch.tensor(radii[1:], dtype=torch.float64)
    return torch.cat((-positive.flip(0), torch.zeros(1, dtype=torch.float64), positive))


def slab(s: torch.Tensor, centres: torch.Tensor, j: int) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Membership of slab ``j`` (signed radii in ``[c_j, c_j+1)``) and the position inside it.

    Slabs partition the pixels (each pixel belongs to exactly one, the last slab is closed) and
    set the occlusion order. Within its slab a pixel's colour is split between the kernels of
    radius ``|c_j|`` (weight ``1 - frac``) and ``|c_j+1|`` (weight ``frac``), so the blur varies
    continuously with depth and there is no banding.

    Args:
        s (`torch.Tensor`): signed CoC radii.
        centres (`torch.Tensor`): ascending slab boundaries from :func:`layer_centres`.
        j (`int`): slab index in ``[0, len(centres) - 1)``.

    Returns:
        `tuple[torch.Tensor, torch.Tensor]`: boolean membership and ``frac`` in ``[0, 1]``, both
        shaped like ``s``.
    """
    lo, hi = float(centres[j]), float(centres[j + 1])
    inside = (s >= lo) & ((s < hi) if j < len(centres) - 2 else (s <= hi))
    return inside, ((s - lo) / (hi - lo)).clamp(0.0, 1.0)


def slab_index(s: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """Index of the slab (see :func:`slab`) of every pixel, as an int64 tensor shaped like ``s``."""
    bounds = centres.to(device=s.device, dtype=torch.float64)
    index = torch.searchsorted(bounds, s.to(torch.float64).contiguous(), right=True) - 1
    return index.clamp(0, len(centres) - 2)


def signed_coc(disparity: torch.Tensor, focus: torch.Tensor, blur: torch.Tensor, max_blur: float | None) -> torch.Tensor:
    """``K * (d - F)`` per pixel, shape of ``disparity``, clamped to ``[-max_blur, max_blur]``."""
    s = blur.view(-1, 1, 1, 1) * (disparity - focus.view(-1, 1, 1, 1))
    if max_blur is not None:
        s = s.clamp(-max_blur, max_blur)
    return s


def boost_highlights(frames: torch.Tensor, s: torch.Tensor, look: Look) -> torch.Tensor:
    """Apply ``L' = L + gain * max(0, L - threshold)`` to defocused pixels (see :class:`Look`)."""
    if look.highlight_gain == 0:
        return frames
    weights = torch.tensor(LUMA_WEIGHTS, device=frames.device, dtype=frames.dtype).view(1, 3, 1, 1)
    luma = (frames * weights).sum(dim=1, keepdim=True)
    excess = (luma - look.highlight_threshold).clamp_min(0.0)
    ramp = (s.abs() / look.highlight_ramp_px).clamp(0.0, 1.0)
    factor = 1.0 + ramp * look.highlight_gain * excess / luma.clamp_min(COVERAGE_EPS)
    return frames * factor


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
        levels.append(F.avg_pool2d(F.pad(x, (0, x.shape[-1] % 2, 0, x.shape[-2] % 2)), 2))
    top = levels[-1]
    estimate = top[:, :channels] / top[:, channels:].clamp_min(COVERAGE_EPS)
    for x in reversed(levels[:-1]):
        h, w = x.shape[-2:]
        size = (2 * estimate.shape[-2], 2 * estimate.shape[-1])
        up = F.interpolate(estimate, size=size, mode="bilinear", align_corners=False)[..., :h, :w]
        p, c = x[:, :channels], x[:, channels:]
        trust = (c / tau).clamp(0.0, 1.0)
        estimate = trust * (p / c.clamp_min(COVERAGE_EPS)) + (1.0 - trust) * up
    return estimate


def _fast_len(n: int) -> int:
    """Smallest 5-smooth integer >= n (fast FFT size)."""
    while True:
        m = n
        for prime in (2, 3, 5):
            while m % prime == 0:
                m //= prime
        if m == 1:
            return n
        n += 1


def _direct_convolve(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Small-kernel convolution as a sum of shifted copies (faster than depthwise conv2d on CPU)."""
    kh, kw = kernel.shape
    h, w = x.shape[-2:]
    py, px = kh // 2, kw // 2
    padded = F.pad(x, (px, px, py, py), mode="replicate")
    out = torch.zeros_like(x)
    for a, b in torch.nonzero(kernel).tolist():
        out += kernel[a, b] * padded[..., 2 * py - a : 2 * py - a + h, 2 * px - b : 2 * px - b + w]
    return out


def convolve_sum(pairs: list[tuple[torch.Tensor, torch.Tensor]], direct_max_taps: int = 25) -> torch.Tensor:
    r"""``sum_i x_i * k_i``: convolve each tensor with its kernel (scatter semantics) and add up.

    Borders are replicated. Kernels with at most ``direct_max_taps`` taps are applied directly;
    larger ones through one shared FFT size, summing the spectra so a single inverse FFT is needed.

    Args:
        pairs (`list[tuple[torch.Tensor, torch.Tensor]]`): ``(x, kernel)`` with ``x`` of shape
            ``(B, C, h, w)`` (all equal, float32/float64) and odd-sided ``(kh, kw)`` kernels.
        direct_max_taps (`int`, defaults to 25): threshold between direct and FFT convolution.

    Returns:
        `torch.Tensor`: ``(B, C, h, w)`` sum of the convolutions.
    """
    if not pairs:
        raise UsageError("pairs must hold at least one (tensor, kernel) pair, got none")
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
        py = max(k.shape[0] for _, k in spectral) // 2
        px = max(k.shape[1] for _, k in spectral) // 2
        size = (_fast_len(h + 2 * py), _fast_len(w + 2 * px))
        spectrum = None
        for x, kernel in spectral:
            ky, kx = py - kernel.shape[0] // 2, px - kernel.shape[1] // 2
            kernel = F.pad(kernel, (kx, kx, ky, ky))
            term = torch.fft.rfft2(F.pad(x, (px, px, py, py), mode="replicate"), s=size) * torch.fft.rfft2(kernel, s=size)
            spectrum = term if spectrum is None else spectrum + term
        y = torch.fft.irfft2(spectrum, s=size)[..., 2 * py : 2 * py + h, 2 * px : 2 * px + w]
        out = y if out is None else out + y
    return out


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


class PhysicalRenderer:
    r"""Layered, occlusion-aware thin-lens renderer (the default bokehfx engine).

    Implements :class:`bokehfx.renderers.base.Renderer`.

    Args:
        device (`torch.device` or `str`, defaults to `"cpu"`):
            Where the work happens. Inputs are moved there; the result goes back to the device of
            the input frames.
        dtype (`torch.dtype`, defaults to `torch.float32`):
            Working precision of the per-pixel layer arithmetic (float32, float64, or on GPUs
            float16/bfloat16). Convolutions always run in at least float32 (torch's FFT has no
            bfloat16 and only power-of-two float16).
        layer_step_px (`float`, defaults to 1.0):
            Smallest spacing of the layer radii, in pixels.
        layer_step_ratio (`float`, defaults to 0.15):
            Relative spacing of layer radii for large blurs (0.15: one layer every 15 % of radius).
        lowres_min_radius (`float`, defaults to 6.0):
            A layer is blurred at the coarsest power-of-two reduction ``f`` that keeps its radius
            at or above this many (reduced) pixels, then upsampled. Larger values are slower and
            sharper-edged.
        max_downsample (`int`, defaults to 16):
            Largest reduction factor ``f`` (a power of two).
        fill_confidence (`float`, defaults to 0.1):
            Pull-push trust threshold of the background fill: a pixel keeps its own colour once
            this much of it is known.
        cat_eye_zones (`int`, defaults to 3):
            Zones per frame axis between which cat-eye kernels are interpolated.
        direct_max_taps (`int`, defaults to 25):
            Kernels with at most this many taps are applied by direct convolution, larger by FFT.
        fill_downsample (`int`, defaults to 4):
            Reduction (power of two) at which the hidden-area fill is interpolated; the fill is
            smooth, so this costs little quality and saves most of its time.
        chunk_frames (`int`, defaults to 4):
            Frames rendered together; bounds memory (about 90 float32 values per pixel and frame
            at the peak). Results do not depend on it.
    """

    def __init__(
        self,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        layer_step_px: float = 1.0,
        layer_step_ratio: float = 0.15,
        lowres_min_radius: float = 6.0,
        max_downsample: int = 16,
        fill_confidence: float = 0.1,
        cat_eye_zones: int = 3,
        direct_max_taps: int = 25,
        fill_downsample: int = 4,
        chunk_frames: int = 4,
    ) -> None:
        if dtype not in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
            raise UsageError(f"dtype must be a floating torch dtype, got {dtype!r}")
        if not layer_step_px > 0 or not layer_step_ratio >= 0:
            raise UsageError(f"layer_step_px must be > 0 and layer_step_ratio >= 0, got {layer_step_px!r}, {layer_step_ratio!r}")
        if not lowres_min_radius > 0:
            raise UsageError(f"lowres_min_radius must be > 0, got {lowres_min_radius!r}")
        if max_downsample < 1 or max_downsample & (max_downsample - 1):
            raise UsageError(f"max_downsample must be a power of two >= 1, got {max_downsample!r}")
        if not 0 < fill_confidence <= 1:
            raise UsageError(f"fill_confidence must be in (0, 1], got {fill_confidence!r}")
        if fill_downsample < 1 or fill_downsample & (fill_downsample - 1):
            raise UsageError(f"fill_downsample must be a power of two >= 1, got {fill_downsample!r}")
        if chunk_frames < 1:
            raise UsageError(f"chunk_frames must be >= 1, got {chunk_frames!r}")
        if cat_eye_zones < 2:
            raise UsageError(f"cat_eye_zones must be >= 2, got {cat_eye_zones!r}")
        self.device = torch.device(device)
        self.dtype = dtype
        self.layer_step_px = layer_step_px
        self.layer_step_ratio = layer_step_ratio
        self.lowres_min_radius = lowres_min_radius
        self.max_downsample = max_downsample
        self.fill_confidence = fill_confidence
        self.cat_eye_zones = cat_eye_zones
        self.direct_max_taps = direct_max_taps
        self.fill_downsample = fill_downsample
        self.chunk_frames = chunk_frames

    def render(
        self,
        frames: torch.Tensor,
        disparity: torch.Tensor,
        focus: torch.Tensor,
        blur: torch.Tensor,
        look: Look,
        alpha: torch.Tensor | None = None,
    ) -> torch.Tensor:
        r"""Render depth of field (see :class:`bokehfx.renderers.base.Renderer`).

        Args:
            frames (`torch.Tensor`): ``(T, 3, H, W)`` linear-light frames (values > 1 allowed).
            disparity (`torch.Tensor`): ``(T, 1, H, W)`` disparity normalized per clip to ``[0, 1]``.
            focus (`torch.Tensor`): ``(T,)`` focal plane ``F`` per frame.
            blur (`torch.Tensor`): ``(T,)`` blur strength ``K`` per frame (pixels).
            look (`Look`): aperture and highlight settings.
            alpha (`torch.Tensor`, *optional*): ``(T, 1, H, W)`` straight coverage of ``frames``.
                When given, the result is the *premultiplied* colour (i.e. over black); use
                :meth:`render_rgba` to also get the blurred coverage.

        Returns:
            `torch.Tensor`: ``(T, 3, H, W)`` frames, dtype and device of ``frames``.
        """
        return self.render_rgba(frames, disparity, focus, blur, look, alpha)[0]

    def render_rgba(
        self,
        frames: torch.Tensor,
        disparity: torch.Tensor,
        focus: torch.Tensor,
        blur: torch.Tensor,
        look: Look,
        alpha: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        r"""Render colour and coverage.

        Args:
            frames, disparity, focus, blur, look: as in :meth:`render`.
            alpha (`torch.Tensor`, *optional*): ``(T, 1, H, W)`` straight coverage; ``None`` means
                fully opaque.

        Returns:
            `tuple[torch.Tensor, torch.Tensor]`: colour ``(T, 3, H, W)`` and coverage
            ``(T, 1, H, W)``. Without ``alpha`` the colour is normalised (opaque) and the coverage
            is all ones; with ``alpha`` the colour is premultiplied by the blurred coverage, which
            is the input coverage spread by the same kernels and occlusions as the colour.
        """
        check_inputs(frames, disparity, focus, blur, alpha)
        out_device, out_dtype = frames.device, frames.dtype
        colour = frames.detach().clone()
        coverage = torch.ones_like(frames[:, :1]) if alpha is None else alpha.detach().to(out_dtype).clone()
        if alpha is not None:
            colour = colour * coverage
        active = torch.nonzero(blur > 0).flatten().tolist()
        if not active:
            return colour, coverage
        wd = self.dtype
        for start in range(0, len(active), self.chunk_frames):
            index = torch.tensor(active[start : start + self.chunk_frames], device=out_device)
            rgb, cov = self._render_active(
                frames[index].to(self.device, wd),
                disparity[index].to(self.device, wd),
                focus[index].to(self.device, wd),
                blur[index].to(self.device, wd),
                look,
                None if alpha is None else alpha[index].to(self.device, wd),
            )
            colour[index] = rgb.to(out_device, out_dtype)
            coverage[index] = cov.to(out_device, out_dtype)
        return colour, coverage

    def _downsample_factor(self, radius: float) -> int:
        factor = 1
        while factor * 2 <= self.max_downsample and radius / (factor * 2) >= self.lowres_min_radius:
            factor *= 2
        return factor

    def _render_active(
        self,
        frames: torch.Tensor,
        disparity: torch.Tensor,
        focus: torch.Tensor,
        blur: torch.Tensor,
        look: Look,
        alpha: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        t, _, h, w = frames.shape
        s = signed_coc(disparity, focus, blur, look.max_blur)
        frames = boost_highlights(frames, s, look)
        centres = layer_centres(float(s.abs().max()), self.layer_step_px, self.layer_step_ratio)
        conv_dtype = torch.float64 if self.dtype == torch.float64 else torch.float32
        acc_rgb = torch.zeros_like(frames)
        acc_cov = torch.zeros_like(frames[:, :1])
        group: list[torch.Tensor] | None = None
        group_factor = 0
        index = slab_index(s, centres)
        occupied = torch.bincount(index.flatten(), minlength=len(centres) - 1).tolist()
        for j in range(len(centres) - 1):
            if occupied[j] == 0:
                continue
            inside = index == j
            following = index == j + 1
            lo_c, hi_c = float(centres[j]), float(centres[j + 1])
            frac = ((s - lo_c) / (hi_c - lo_c)).clamp(0.0, 1.0)
            lo, hi = float(centres[j]), float(centres[j + 1])
            factor = self._downsample_factor(min(abs(lo), abs(hi)))
            if group is not None and factor != group_factor:
                acc_rgb, acc_cov = self._flush(group, group_factor, acc_rgb, acc_cov, h, w)
                group = None
            content = inside.to(s.dtype) if alpha is None else inside * alpha
            below = (s < hi).to(s.dtype)
            hidden = 1.0 - below if alpha is None else (1.0 - below) * alpha
            adjacent = following.to(s.dtype) if alpha is None else following * alpha
            upper = content * frac
            pieces = [frames * content, content, frames * upper, upper, below, hidden, frames * adjacent, adjacent]
            layer_lo, layer_hi = self._extend([_reduce(x, factor) for x in pieces], factor)
            parts = [(layer_lo.to(conv_dtype), abs(lo) / factor, lo > 0), (layer_hi.to(conv_dtype), abs(hi) / factor, hi > 0)]
            layer = self._blur(parts, look, h, w).to(self.dtype)
            if group is None:
                group, group_factor = [layer[:, :3], layer[:, 3:4]], factor
            else:
                keep = (1.0 - layer[:, 3:4]).clamp_min(0.0)
                group = [layer[:, :3] + keep * group[0], layer[:, 3:4] + keep * group[1]]
        if group is not None:
            acc_rgb, acc_cov = self._flush(group, group_factor, acc_rgb, acc_cov, h, w)
        if alpha is None:
            safe = acc_cov.clamp_min(COVERAGE_EPS)
            rgb = torch.where(acc_cov > COVERAGE_EPS, acc_rgb / safe, frames)
            return rgb, torch.ones_like(acc_cov)
        return acc_rgb, acc_cov.clamp(0.0, 1.0)

    def _extend(self, pieces: list[torch.Tensor], factor: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Split a reduced slab into its two kernel parts, extended into the area nearer slabs hide.

        ``pieces`` holds, per pixel: premultiplied colour (3) and coverage (1) of the slab, the same
        for its upper kernel part (3, 1), the coverage of this and farther slabs (1), the hidden
        coverage (1), and the premultiplied colour (3) and coverage (1) of the adjacent nearer slab.

        The slab's presence is interpolated (pull-push) into the hidden area. Behind the adjacent
        slab (a depth step of at most one slab spacing, i.e. a continuing surface) it takes that
        slab's own colour; behind nearer slabs, colour inpainted from the slab itself. The
        extension is shared equally by the two kernel parts. The interpolation runs at a reduction
        of ``fill_downsample`` from full resolution (``factor`` is the slab's own reduction).
        """
        premult, content, upper_rgb, upper_cov, below, hidden, adjacent_rgb, adjacent = pieces
        upper = torch.cat((upper_rgb, upper_cov), dim=1)
        whole = torch.cat((premult, content), dim=1)
        if float(hidden.max()) > 0:
            tau = self.fill_confidence
            step = max(1, self.fill_downsample // factor)
            coarse = _reduce(torch.cat((premult, content, below), dim=1), step)
            confidence = torch.cat((coarse[:, 3:4].expand(-1, 3, -1, -1), coarse[:, 4:5]), dim=1)
            filled = _expand(pull_push(coarse[:, :4], confidence, tau), step, *premult.shape[-2:])
            fill_rgb, presence = filled[:, :3], filled[:, 3:4].clamp(0.0, 1.0)
            beyond = (hidden - adjacent).clamp_min(0.0)
            extra = presence * torch.cat((adjacent_rgb + beyond * fill_rgb, hidden), dim=1)
            whole = whole + extra
            upper = upper + 0.5 * extra
        return whole - upper, upper

    def _blur(self, parts: list[tuple[torch.Tensor, float, bool]], look: Look, full_h: int, full_w: int) -> torch.Tensor:
        """Convolve layer parts ``(tensor, radius, near)`` with their aperture kernels and add up.

        Far parts see the aperture upright; near parts (in front of the focal plane) see it
        point-reflected, as a thin lens does. With cat-eye vignetting, kernels are interpolated
        between ``cat_eye_zones`` x ``cat_eye_zones`` frame positions (scatter form: each source
        pixel's kernel is the bilinear mix of its zone kernels).
        """
        pairs = []
        for layer, radius, near in parts:
            device, dtype = layer.device, layer.dtype
            if radius < 0.5:
                pairs.append((layer, torch.ones((1, 1), device=device, dtype=dtype)))
                continue
            if look.cat_eye == 0:
                kernel = aperture_kernel(radius, look, device=device, dtype=dtype)
                pairs.append((layer, kernel.flip(0, 1) if near else kernel))
                continue
            _, _, h, w = layer.shape
            n = self.cat_eye_zones
            half_diag = math.hypot(full_w, full_h) / 2
            scale_x, scale_y = (full_w / 2) / half_diag, (full_h / 2) / half_diag
            xs = torch.linspace(-1.0, 1.0, w, device=device, dtype=dtype)
            ys = torch.linspace(-1.0, 1.0, h, device=device, dtype=dtype)
            spacing = 2.0 / (n - 1)
            for cy in torch.linspace(-1.0, 1.0, n).tolist():
                wy = (1.0 - (ys - cy).abs() / spacing).clamp_min(0.0).view(1, 1, h, 1)
                for cx in torch.linspace(-1.0, 1.0, n).tolist():
                    wx = (1.0 - (xs - cx).abs() / spacing).clamp_min(0.0).view(1, 1, 1, w)
                    kernel = aperture_kernel(radius, look, (cx * scale_x, cy * scale_y), device=device, dtype=dtype)
                    pairs.append((layer * (wy * wx), kernel.flip(0, 1) if near else kernel))
        return convolve_sum(pairs, self.direct_max_taps)

    def _flush(
        self,
        group: list[torch.Tensor],
        factor: int,
        acc_rgb: torch.Tensor,
        acc_cov: torch.Tensor,
        h: int,
        w: int,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Upsample a group of composited layers and put it over the accumulator."""
        rgb, cov = _expand(group[0], factor, h, w), _expand(group[1], factor, h, w)
        keep = 1.0 - cov
        return rgb + keep * acc_rgb, cov + keep * acc_cov


def _reduce(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Area-average by ``factor`` (replicating the border up to a multiple of it)."""
    if factor == 1:
        return x
    h, w = x.shape[-2:]
    pad = (0, (-w) % factor, 0, (-h) % factor)
    if any(pad):
        x = F.pad(x, pad, mode="replicate")
    return F.avg_pool2d(x, factor)


def _expand(x: torch.Tensor, factor: int, h: int, w: int) -> torch.Tensor:
    """Bilinear upsampling by ``factor`` (inverse geometry of :func:`_reduce`), cropped to ``h, w``."""
    if factor == 1:
        return x
    size = (x.shape[-2] * factor, x.shape[-1] * factor)
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)[..., :h, :w]
