"""The per-slab filters of the physical renderer: extension behind nearer slabs and the lens blur.

Pure tensor functions used by :class:`bokehfx.renderers.physical.PhysicalRenderer` on one slab's
box at a time (see :mod:`bokehfx.renderers.slabs`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from bokehfx.renderers.aperture import aperture_kernel
from bokehfx.renderers.base import Look
from bokehfx.renderers.filters import SpectrumCache, convolve_sum, expand_bilinear, pull_push, reduce_area
from bokehfx.renderers.slabs import Box, SlabPieces


@dataclass
class SlabFrame:
    """What every slab of one frame reads: the frame, its slab map, the look and the kernel caches.

    Attributes:
        frames: ``(T, 3, H, W)`` colour; alpha: ``(T, 1, H, W)`` coverage or ``None`` (opaque).
        index: ``(T, 1, H, W)`` integer slice of every pixel; frac: position inside the slab.
        look: the aperture; h, w: the frame size.
        kernels, spectra: rasterised kernels of ``look`` and their FFTs, filled as slabs need them and
            kept by the renderer from frame to frame (see :class:`~bokehfx.renderers.filters.SpectrumCache`).
    """

    frames: torch.Tensor
    alpha: torch.Tensor | None
    index: torch.Tensor
    frac: torch.Tensor
    look: Look
    h: int
    w: int
    kernels: dict
    spectra: SpectrumCache


def extend_behind(p: SlabPieces, fill_step: int, fill_confidence: float) -> torch.Tensor:
    """A slab's kernel parts, extended into the area nearer slabs hide (in place in ``p.parts``).

    The slab's presence is interpolated (pull-push) into the hidden area. Behind the adjacent
    slice (a depth step of at most one slice spacing, i.e. a continuing surface) it takes that
    slice's own colour; behind nearer slices, colour inpainted from the slab itself. The
    extension is shared equally by the slab's first and last kernel parts. The interpolation runs
    ``fill_step`` times coarser than the slab's level (it is smooth, so this costs little
    quality); ``fill_confidence`` is the pull-push trust threshold. Returns the ``(T, 4 n, h, w)``
    parts.
    """
    parts = p.parts
    if float(p.hidden.max()) > 0:
        coarse = torch.cat((reduce_area(p.whole, fill_step), reduce_area(p.below, fill_step)), dim=1)
        confidence = torch.cat((coarse[:, 3:4].expand(-1, 3, -1, -1), coarse[:, 4:5]), dim=1)
        filled = pull_push(coarse[:, :4], confidence, fill_confidence)
        filled = expand_bilinear(filled, fill_step, *parts.shape[-2:])
        fill_rgb, presence = filled[:, :3], filled[:, 3:4].clamp_(0.0, 1.0)
        beyond = (p.hidden - p.adjacent[:, 3:4]).clamp_min_(0.0)
        half = torch.cat((p.adjacent[:, :3].addcmul(beyond, fill_rgb), p.hidden), dim=1).mul_(presence.mul_(0.5))
        parts[:, :4].add_(half)
        parts[:, -4:].add_(half)
    return parts


def blur_parts(parts: list[tuple[torch.Tensor, float, bool]], frame: SlabFrame, box: Box, factor: int, cat_eye_zones: int,
               direct_max_taps: int, zeros: tuple[int, int, int, int] = (0, 0, 0, 0)) -> torch.Tensor:
    """Convolve layer parts ``(tensor, radius, near)`` (inside ``box``, at reduction ``factor``) with their kernels.

    Far parts see the aperture upright; near parts (in front of the focal plane) see it
    point-reflected, as a thin lens does. With cat-eye vignetting, kernels are interpolated
    between ``cat_eye_zones`` x ``cat_eye_zones`` frame positions (scatter form: each source
    pixel's kernel is the bilinear mix of its zone kernels). ``frame`` caches rasterised
    kernels and their FFTs (shared by threads: a kernel, once stored, is never replaced, so the
    FFT cache, which knows kernels by identity, stays right). ``zeros``:
    rows and columns at the parts' borders known to be zero (see :func:`convolve_sum`).
    """
    look = frame.look

    def kernel(radius: float, near: bool, position: tuple[float, float], device, dtype) -> torch.Tensor:
        key = (radius, near, position, device, dtype)
        k = frame.kernels.get(key)
        if k is None:
            k = aperture_kernel(radius, look, position, device=device, dtype=dtype)
            k = frame.kernels.setdefault(key, k.flip(0, 1) if near else k)
        return k

    pairs = []
    for layer, radius, near in parts:
        device, dtype = layer.device, layer.dtype
        if radius < 0.5:
            pairs.append((layer, torch.ones((1, 1), device=device, dtype=dtype)))
            continue
        if look.cat_eye == 0:
            pairs.append((layer, kernel(radius, near, (0.0, 0.0), device, dtype)))
            continue
        _, _, h, w = layer.shape
        n = cat_eye_zones
        half_diag = math.hypot(frame.w, frame.h) / 2
        scale_x, scale_y = (frame.w / 2) / half_diag, (frame.h / 2) / half_diag
        # Frame positions in [-1, 1] of this level's pixels inside the box.
        xs = torch.linspace(-1.0, 1.0, -(-frame.w // factor), device=device, dtype=dtype)
        ys = torch.linspace(-1.0, 1.0, -(-frame.h // factor), device=device, dtype=dtype)
        xs = xs[box.x0 // factor : box.x0 // factor + w]
        ys = ys[box.y0 // factor : box.y0 // factor + h]
        spacing = 2.0 / (n - 1)
        for cy in torch.linspace(-1.0, 1.0, n).tolist():
            wy = (1.0 - (ys - cy).abs() / spacing).clamp_min(0.0).view(1, 1, h, 1)
            for cx in torch.linspace(-1.0, 1.0, n).tolist():
                wx = (1.0 - (xs - cx).abs() / spacing).clamp_min(0.0).view(1, 1, 1, w)
                pairs.append((layer * (wy * wx), kernel(radius, near, (cx * scale_x, cy * scale_y), device, dtype)))
    return convolve_sum(pairs, direct_max_taps, frame.spectra, zeros)
