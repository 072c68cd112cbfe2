"""What each depth slab holds, cut to the box it can reach, at the resolution it is filtered at.

The physical renderer cuts the signed CoC into slabs (see :mod:`bokehfx.renderers.physical`).
A slab only changes the picture near its own pixels: within its largest kernel radius, plus, for
the area it is extended into behind nearer slabs, the largest blur of those nearer slabs (a nearer
object shows what lies behind it only within its own CoC of its silhouette). Every slab is
therefore worked on inside a box around its pixels (:class:`Box`), so the cost of a frame follows
the area the slabs cover rather than the number of slabs times the frame: on continuous depth
(floors, walls, faces) each slab is a band and its box a small part of the frame.

Inside its box a slab needs, at its own pyramid level (a reduction by a power of two ``f``), the
area averages of a few per-pixel quantities (:class:`SlabPieces`): its premultiplied colour and
coverage, the same for its upper kernel part, the colour and coverage of the next nearer slab, the
coverage that nearer slabs hide, and the area of this and all farther slabs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from bokehfx.renderers.filters import reduce_area


@dataclass(frozen=True)
class Box:
    """A rectangle of the frame, ``[y0, y1) x [x0, x1)`` in full-resolution pixels."""

    y0: int
    y1: int
    x0: int
    x1: int

    def cut(self, x: torch.Tensor) -> torch.Tensor:
        """The part of a full-resolution ``(..., H, W)`` tensor inside the box (a view)."""
        return x[..., self.y0 : self.y1, self.x0 : self.x1]

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    @property
    def width(self) -> int:
        return self.x1 - self.x0


#: Height in full-resolution pixels of the row bands a slab's region is described in.
BAND_ROWS = 64


def band_extents(index: torch.Tensor, count: int, band: int) -> tuple[list[list[int]], list[list[int]]]:
    """Column extent ``[x0, x1)`` of every slab's pixels in every band of ``band`` rows, over all frames.

    Args:
        index (`torch.Tensor`): ``(T, 1, H, W)`` int64 slab of every pixel.
        count (`int`): number of slabs.
        band (`int`): rows per band.

    Returns:
        `tuple[list[list[int]], list[list[int]]]`: ``x0[j][b]`` and ``x1[j][b]``; an empty band has
        ``x1 <= x0``.
    """
    h, w = index.shape[-2:]
    bands = -(-h // band)
    rows = (torch.arange(h, device=index.device) // band).view(h, 1)
    key = (index * bands + rows).reshape(-1)
    cols = torch.arange(w, device=index.device).view(1, w).expand_as(index).reshape(-1)
    x0 = torch.full((count * bands,), w, dtype=torch.int64, device=index.device)
    x1 = torch.zeros(count * bands, dtype=torch.int64, device=index.device)
    x0.scatter_reduce_(0, key, cols, "amin")
    x1.scatter_reduce_(0, key, cols + 1, "amax")
    return x0.view(count, bands).tolist(), x1.view(count, bands).tolist()


def slab_regions(x0: list[int], x1: list[int], band: int, margin: float, slack: float, align: int,
                 h: int, w: int) -> list[tuple[Box, Box]]:
    """Where one slab is worked on: ``(core, box)`` pairs, cores disjoint, each box its core plus a halo.

    A slab changes the picture within ``margin`` pixels of its own pixels (``x0``/``x1``: its column
    extent per band of ``band`` rows, from :func:`band_extents`). That region is described band by
    band and cut into cores: runs of bands merged into one rectangle while that is cheaper than
    working on them apart. A core spans every column the slab reaches in its rows, so what reaches
    it from other rows lies within ``margin`` rows above and below: its result is computed on its
    box, the core grown by ``margin`` rows and by ``slack`` on every side (room for the filters'
    borders), on the grid of ``align``. ``band`` is a multiple of ``align``.
    """
    bands = len(x0)
    reach = int(math.ceil(margin / band))
    pad = int(math.ceil(margin))
    spans: list[tuple[int, int] | None] = []
    for b in range(bands):
        near = [k for k in range(max(0, b - reach), min(bands, b + reach + 1)) if x1[k] > x0[k]]
        if not near:
            spans.append(None)
            continue
        lo = max(0, (min(x0[k] for k in near) - pad) // align * align)
        hi = min(w, -(-(max(x1[k] for k in near) + pad) // align) * align)
        spans.append((lo, hi))
    grow, side = int(math.ceil(margin + slack)), int(math.ceil(slack))

    def cost(y0: int, y1: int, lo: int, hi: int) -> int:
        return (min(h, y1 + grow) - max(0, y0 - grow)) * (min(w, hi + side) - max(0, lo - side))

    cores: list[list[int]] = []
    for b, span in enumerate(spans):
        if span is None:
            continue
        y0, y1 = b * band, min(h, (b + 1) * band)
        if cores and cores[-1][1] == y0:
            c = cores[-1]
            lo, hi = min(c[2], span[0]), max(c[3], span[1])
            if cost(c[0], y1, lo, hi) <= cost(*c) + cost(y0, y1, *span):
                cores[-1] = [c[0], y1, lo, hi]
                continue
        cores.append([y0, y1, *span])
    regions = []
    for y0, y1, lo, hi in cores:
        box = Box(max(0, (y0 - grow) // align * align), min(h, -(-(y1 + grow) // align) * align),
                  max(0, (lo - side) // align * align), min(w, -(-(hi + side) // align) * align))
        regions.append((Box(y0, y1, lo, hi), box))
    return regions


class SlabPieces:
    """One slab's inputs inside its box at its level: views into one ``(T, 14, h, w)`` tensor.

    Attributes:
        whole: premultiplied colour (3 channels) and coverage (1) of the slab.
        upper: the same for the slab's upper kernel part (4).
        adjacent: premultiplied colour (3) and coverage (1) of the next nearer slab.
        hidden: coverage of nearer slabs, i.e. of the area this slab may extend behind (1).
        below: fraction of the area in this or a farther slab, whatever its alpha (1).
    """

    def __init__(self, stacked: torch.Tensor) -> None:
        self.stacked = stacked
        self.whole, self.upper, self.adjacent = stacked[:, 0:4], stacked[:, 4:8], stacked[:, 8:12]
        self.hidden, self.below = stacked[:, 12:13], stacked[:, 13:14]


def cut_pieces(frames: torch.Tensor, weight: torch.Tensor | None, index: torch.Tensor, frac: torch.Tensor,
               j: int, box: Box, factor: int) -> SlabPieces:
    """The pieces of slab ``j`` inside ``box``, averaged to reduction ``factor``.

    Args:
        frames (`torch.Tensor`): ``(T, 3, H, W)`` colour.
        weight (`torch.Tensor`, *optional*): ``(T, 1, H, W)`` coverage (alpha); ``None``: opaque.
        index (`torch.Tensor`): ``(T, 1, H, W)`` int64 slab of every pixel.
        frac (`torch.Tensor`): ``(T, 1, H, W)`` position inside the slab (weight of the upper kernel).
        j (`int`): the slab.
        box (`Box`): where; its corner is on the grid of ``factor``.
        factor (`int`): the reduction, a power of two.
    """
    rgb, idx, fr = box.cut(frames), box.cut(index), box.cut(frac)
    t, _, bh, bw = rgb.shape
    stacked = torch.empty((t, 14, bh, bw), device=rgb.device, dtype=rgb.dtype)
    content, upper_cov, adjacent = stacked[:, 3:4], stacked[:, 7:8], stacked[:, 11:12]
    hidden, below = stacked[:, 12:13], stacked[:, 13:14]
    torch.le(idx, j, out=below)
    torch.eq(idx, j, out=content)
    torch.eq(idx, j + 1, out=adjacent)
    torch.gt(idx, j, out=hidden)
    if weight is not None:
        wgt = box.cut(weight)
        content.mul_(wgt)
        adjacent.mul_(wgt)
        hidden.mul_(wgt)
    torch.mul(content, fr, out=upper_cov)
    torch.mul(rgb, content, out=stacked[:, 0:3])
    torch.mul(rgb, upper_cov, out=stacked[:, 4:7])
    torch.mul(rgb, adjacent, out=stacked[:, 8:11])
    return SlabPieces(reduce_area(stacked, factor))
