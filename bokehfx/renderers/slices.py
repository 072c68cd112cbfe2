"""Depth slices of the physical renderer: the signed CoC, the slice radii and each pixel's slice.

The signed circle-of-confusion radius ``s = K * (d - F)`` is cut at a fixed ladder of radii (see
:func:`layer_centres`); a pixel belongs to the slice its radius falls in and is blurred by a mix of
the kernels at the slice's two bounds, linear in its position (``frac``) inside it. Pure tensor
functions used by :class:`bokehfx.renderers.physical.PhysicalRenderer`.
"""

from __future__ import annotations

import math

import torch

from bokehfx.errors import UsageError


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
    return slab_positions(s, centres)[0]


#: Most cells of the lookup grid of :func:`slab_positions` (more: a binary search instead).
SLAB_GRID_CELLS = 1 << 20


def slab_positions(s: torch.Tensor, centres: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The slab of every pixel (see :func:`slab`) and its position inside it, exactly as :func:`slab` says.

    Radii are looked up on a grid whose cells are a power of two no wider than the narrowest slab
    (scaling by it is exact in floating point), so a cell holds at most one boundary: a pixel's
    slab is its cell's first slab, plus one past that boundary. Several times faster than a
    binary search of every pixel.

    Returns:
        `tuple[torch.Tensor, torch.Tensor]`: int64 slab index and ``frac`` in ``[0, 1]`` (dtype of ``s``).
    """
    count = len(centres) - 1
    bounds64 = centres.to(device=s.device, dtype=torch.float64)
    narrowest = float((bounds64[1:] - bounds64[:-1]).min())
    scale = 2.0 ** -math.floor(math.log2(narrowest))
    first, last = math.floor(float(bounds64[0]) * scale), math.floor(float(bounds64[-1]) * scale)
    if last - first + 1 > SLAB_GRID_CELLS or s.dtype not in (torch.float32, torch.float64):
        index = (torch.searchsorted(bounds64, s.to(torch.float64).contiguous(), right=True) - 1).clamp_(0, count - 1)
    else:
        starts = torch.arange(first, last + 1, device=s.device, dtype=torch.float64) / scale
        after = torch.searchsorted(bounds64, starts, right=True)  # bounds <= each cell's start
        lowest = after - 1
        inner = bounds64[after.clamp(max=count)]
        split = torch.where((after <= count) & (inner < starts + 1.0 / scale), inner, torch.inf)
        if s.dtype != torch.float64:
            # s >= b for a value of s's type exactly when s >= b rounded up to that type.
            rounded = split.to(s.dtype)
            split = torch.where(rounded.to(torch.float64) < split, torch.nextafter(rounded, rounded.new_tensor(torch.inf)),
                                rounded)
        cell = (s * scale).floor_().clamp_(first, last).sub_(first).long()
        index = _lookup(lowest, cell).add_(s >= _lookup(split.to(s.dtype), cell)).clamp_(0, count - 1)
    bounds = centres.to(device=s.device, dtype=s.dtype)
    lower = _lookup(bounds, index)
    return index, ((s - lower) / _lookup(bounds[1:] - bounds[:-1], index)).clamp_(0.0, 1.0)


def _lookup(table: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``table[index]`` for a small 1-D table (``index_select``: several times faster than indexing on CPU)."""
    return torch.index_select(table, 0, index.reshape(-1)).view(index.shape)


def signed_coc(disparity: torch.Tensor, focus: torch.Tensor, blur: torch.Tensor, max_blur: float | None) -> torch.Tensor:
    """``K * (d - F)`` per pixel, shape of ``disparity``, clamped to ``[-max_blur, max_blur]``."""
    s = blur.view(-1, 1, 1, 1) * (disparity - focus.view(-1, 1, 1, 1))
    if max_blur is not None:
        s = s.clamp(-max_blur, max_blur)
    return s
