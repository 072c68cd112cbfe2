"""Where each depth slab is worked on, and what it holds there.

The physical renderer cuts the signed CoC into slices and composites runs of them as slabs (see
:mod:`bokehfx.renderers.physical` and :func:`occlusion_groups`). A slab only changes the picture
near its own pixels: within its own blur of them, also behind nearer slabs (rays pass beside a
sharp occluder), and within the blur of the nearer slabs around it (a blurred occluder shows what
lies behind it near its silhouette; :func:`blur_in_front`). That area is described band by band
(:func:`band_extents`) and cut into disjoint boxes (:func:`slab_regions`); each box is blurred
into itself grown by the blur's reach and the grown boxes add up (overlap-add), so the cost of a
frame follows the area the slabs cover rather than their number times the frame: on continuous
depth (floors, walls, faces) each slab is a band and its boxes a small part of the frame.

Inside a box a slab needs, at its own pyramid level (a reduction by a power of two ``f``), the
area averages of a few per-pixel quantities (:class:`SlabPieces`, :func:`cut_pieces`): its
premultiplied colour and coverage, the share of it each of its kernels blurs, the colour and
coverage of the next nearer slice, the coverage that nearer slices hide, and the area of this and
all farther slices.
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


#: Work, in pixels of area, that one more box costs in fixed overhead (calls, small tensors): runs
#: of bands are merged into one box while that costs less than this more area.
BOX_OVERHEAD_PX = 16384


def slab_regions(x0: list[int], x1: list[int], band: int, extend: float, spill: int, align: int,
                 h: int, w: int, max_area: int | None = None) -> list[tuple[Box, Box]]:
    """Where one slab is worked on: ``(box, grown)`` pairs with disjoint boxes that hold all its input.

    A slab's input (its pixels and their extension behind nearer slabs) lies within ``extend``
    pixels of its own pixels (``x0``/``x1``: its column extent per band of ``band`` rows, from
    :func:`band_extents`). That area is described band by band and cut into boxes, runs of bands
    merged into one rectangle while that costs less than working on them apart. Boxes are
    disjoint, so their blurred results add up (overlap-add): each box is blurred into ``grown``,
    the box grown by ``spill`` pixels (the blur's reach), clipped to the frame. Box corners lie on
    the grid of ``align`` (``band`` and ``spill`` are multiples of it). A box of more than
    ``max_area`` pixels is cut into side-by-side strips of about equal width: a box's working set
    then stays within the CPU's caches (a full-frame box is filtered faster in strips, their
    overlapping spill included).
    """
    bands = len(x0)
    reach = int(math.ceil(extend / band))
    pad = int(math.ceil(extend))
    starts = [a if b > a else w for a, b in zip(x0, x1)]
    ends = [b if b > a else 0 for a, b in zip(x0, x1)]
    spans: list[tuple[int, int] | None] = []
    for b in range(bands):
        lo, hi = min(starts[max(0, b - reach) : b + reach + 1]), max(ends[max(0, b - reach) : b + reach + 1])
        spans.append((max(0, (lo - pad) // align * align), min(w, -(-(hi + pad) // align) * align)) if hi > lo else None)

    def cost(y0: int, y1: int, lo: int, hi: int) -> int:
        return (min(h, y1 + spill) - max(0, y0 - spill)) * (min(w, hi + spill) - max(0, lo - spill)) + BOX_OVERHEAD_PX

    boxes: list[list[int]] = []
    for b, span in enumerate(spans):
        if span is None:
            continue
        y0, y1 = b * band, min(h, (b + 1) * band)
        if boxes and boxes[-1][1] == y0:
            c = boxes[-1]
            lo, hi = min(c[2], span[0]), max(c[3], span[1])
            if cost(c[0], y1, lo, hi) <= cost(*c) + cost(y0, y1, *span):
                boxes[-1] = [c[0], y1, lo, hi]
                continue
        boxes.append([y0, y1, *span])
    if max_area is not None:
        boxes = [strip for box in boxes for strip in _strips(box, max_area, align)]
    return [(Box(y0, y1, lo, hi), Box(max(0, y0 - spill), min(h, y1 + spill), max(0, lo - spill), min(w, hi + spill)))
            for y0, y1, lo, hi in boxes]


def _strips(box: list[int], max_area: int, align: int) -> list[list[int]]:
    """``[y0, y1, x0, x1]`` cut into side-by-side strips of at most ``max_area`` pixels where the grid
    of ``align`` allows, of about equal width, their edges on that grid."""
    y0, y1, lo, hi = box
    widest = max(align, max_area // (y1 - y0) // align * align)
    pieces = -(-(hi - lo) // widest)
    if pieces <= 1:
        return [box]
    step = -(-(hi - lo) // pieces // align) * align  # at most ``widest``: even widths on the grid
    return [[y0, y1, x, min(hi, x + step)] for x in range(lo, hi, step)]


def cover(boxes: list[Box]) -> list[Box]:
    """Disjoint rectangles that together cover every pixel of ``boxes`` (row runs of their union)."""
    cuts = sorted({b.y0 for b in boxes} | {b.y1 for b in boxes})
    out: list[Box] = []
    for y0, y1 in zip(cuts, cuts[1:]):
        rows = [b for b in boxes if b.y0 < y1 and b.y1 > y0]
        if not rows:
            continue
        lo, hi = min(b.x0 for b in rows), max(b.x1 for b in rows)
        if out and out[-1].y1 == y0 and (max(hi, out[-1].x1) - min(lo, out[-1].x0)) * (y1 - out[-1].y0) <= (
                (out[-1].x1 - out[-1].x0) * out[-1].height + (hi - lo) * (y1 - y0) + BOX_OVERHEAD_PX):
            last = out.pop()
            out.append(Box(last.y0, y1, min(lo, last.x0), max(hi, last.x1)))
        else:
            out.append(Box(y0, y1, lo, hi))
    return out


class SlabPieces:
    """One slab's inputs inside its box at its level.

    A slab here is a run of consecutive depth slices ``[j0, j1)`` composited as one layer; its
    pixels are blurred by the kernels at the ``n = j1 - j0 + 1`` radii bounding those slices.

    Attributes:
        whole: premultiplied colour (3 channels) and coverage (1) of the slab.
        adjacent: premultiplied colour (3) and coverage (1) of the next nearer slice.
        hidden: coverage of nearer slices, i.e. of the area this slab may extend behind (1).
        below: fraction of the area in this or a farther slice, whatever its alpha (1).
        parts: the premultiplied colour and coverage (4 each) blurred by each kernel, ``(T, 4 n, h, w)``.
    """

    def __init__(self, stacked: torch.Tensor, parts: torch.Tensor) -> None:
        self.whole, self.adjacent = stacked[:, 0:4], stacked[:, 4:8]
        self.hidden, self.below, self.parts = stacked[:, 8:9], stacked[:, 9:10], parts


def cut_pieces(frames: torch.Tensor, weight: torch.Tensor | None, index: torch.Tensor, frac: torch.Tensor,
               j0: int, j1: int, box: Box, factor: int, parts: torch.Tensor) -> SlabPieces:
    """The pieces of the slab of slices ``[j0, j1)`` inside ``box``, averaged to reduction ``factor``.

    Args:
        frames (`torch.Tensor`): ``(T, 3, H, W)`` colour.
        weight (`torch.Tensor`, *optional*): ``(T, 1, H, W)`` coverage (alpha); ``None``: opaque.
        index (`torch.Tensor`): ``(T, 1, H, W)`` integer slice of every pixel.
        frac (`torch.Tensor`): ``(T, 1, H, W)`` position inside the slice (weight of its upper kernel).
        j0, j1 (`int`): the slices.
        box (`Box`): where; its corner is on the grid of ``factor``.
        factor (`int`): the reduction, a power of two.
        parts (`torch.Tensor`): ``(T, 4 n, h, w)`` where to write the kernel parts (``h, w``: the
            box's size at the reduction, rounded up).
    """
    rgb, idx, fr = box.cut(frames), box.cut(index), box.cut(frac)
    t, _, bh, bw = rgb.shape
    n = j1 - j0 + 1
    # At full resolution the parts are written where they go; on a reduced level they are reduced there.
    stacked = torch.empty((t, 10 + (0 if factor == 1 else 4 * n), bh, bw), device=rgb.device, dtype=rgb.dtype)
    full = parts if factor == 1 else stacked[:, 10:]
    content, adjacent, hidden, below = stacked[:, 3:4], stacked[:, 7:8], stacked[:, 8:9], stacked[:, 9:10]
    torch.lt(idx, j1, out=below)
    torch.eq(idx, j1, out=adjacent)
    torch.ge(idx, j1, out=hidden)
    if n == 2:
        torch.eq(idx, j0, out=content)
    else:
        torch.logical_and(below, idx >= j0, out=content)
    if weight is not None:
        wgt = box.cut(weight)
        content.mul_(wgt)
        adjacent.mul_(wgt)
        hidden.mul_(wgt)
    if n == 2:
        upper = torch.mul(content, fr, out=full[:, 7:8])
        torch.sub(content, upper, out=full[:, 3:4])
    else:
        upper = content * fr
        # Kernel k takes the lower share of slice j0 + k and the upper share of slice j0 + k - 1.
        lower = content - upper
        inside = [(idx == j0 + k).to(rgb.dtype) for k in range(n - 1)]
        for k in range(n):
            share = full[:, 4 * k + 3 : 4 * k + 4]
            if k == n - 1:
                torch.mul(upper, inside[k - 1], out=share)
                continue
            torch.mul(lower, inside[k], out=share)
            if k > 0:
                share.addcmul_(upper, inside[k - 1])
    if factor > 1 and bh % 2 == 0 and bw % 2 == 0:
        reduced = reduce_area(_halve_products(rgb, stacked), factor // 2)
    else:
        for k in range(n):
            torch.mul(rgb, full[:, 4 * k + 3 : 4 * k + 4], out=full[:, 4 * k : 4 * k + 3])
        torch.mul(rgb, content, out=stacked[:, 0:3])
        torch.mul(rgb, adjacent, out=stacked[:, 4:7])
        if factor == 1:
            return SlabPieces(stacked, parts)
        reduced = reduce_area(stacked, factor)
    parts.copy_(reduced[:, 10:])
    return SlabPieces(reduced[:, :10], parts)


def _halve_products(rgb: torch.Tensor, stacked: torch.Tensor) -> torch.Tensor:
    """``reduce_area(x, 2)`` of the pieces, where ``x`` is ``stacked`` with each colour slot set to ``rgb`` times
    the coverage after it (slots 0, 4, 10, 14, ...; 8 and 9 are coverage alone).

    The products are formed a row pair at a time and summed at once, so no full-resolution copy of
    them is ever written (``stacked``'s colour slots are not read).
    """
    t, c, bh, bw = stacked.shape
    rows = stacked.new_empty((t, c, bh // 2, bw))
    even, odd = rgb[..., 0::2, :], rgb[..., 1::2, :]
    for slot in (0, 4, *range(10, c, 4)):
        cover = stacked[:, slot + 3 : slot + 4]
        torch.mul(even, cover[..., 0::2, :], out=rows[:, slot : slot + 3]).addcmul_(odd, cover[..., 1::2, :])
        torch.add(cover[..., 0::2, :], cover[..., 1::2, :], out=rows[:, slot + 3 : slot + 4])
    torch.add(stacked[:, 8:10, 0::2], stacked[:, 8:10, 1::2], out=rows[:, 8:10])
    return (rows[..., 0::2] + rows[..., 1::2]).mul_(0.25)


#: Side in full-resolution pixels of the tiles on which the blur in front of each slab is looked up.
REACH_TILE = 32


def blur_in_front(index: torch.Tensor, reach: list[float], tile: int = REACH_TILE) -> list[float]:
    """How far each slab's extension behind nearer slabs can show: the largest blur in front of it, nearby.

    A nearer slab shows what lies behind it only within its own CoC of its silhouette, so slab
    ``j`` needs to be extended behind nearer slabs by the largest ``reach`` of the nearer slabs
    around its own pixels: within that same distance (found by iterating from the largest
    nearer reach anywhere, which bounds it) plus its own reach. Looked up on tiles of ``tile``
    pixels, so the answer errs on the large side by at most a tile.

    Args:
        index (`torch.Tensor`): ``(T, 1, H, W)`` int64 slab of every pixel.
        reach (`list[float]`): largest kernel radius of every slab (0 for empty slabs), in pixels.
        tile (`int`): tile side in pixels.

    Returns:
        `list[float]`: per slab, the reach in pixels of the nearer slabs that can show it.
    """
    count = len(reach)
    h, w = index.shape[-2:]
    th, tw = -(-h // tile), -(-w // tile)
    cells = ((torch.arange(h, device=index.device) // tile).view(h, 1) * tw
             + (torch.arange(w, device=index.device) // tile).view(1, w))
    present = torch.zeros(count * th * tw, device=index.device, dtype=torch.float32)
    present[(index * (th * tw) + cells).reshape(-1)] = 1.0
    present = present.view(count, 1, th, tw)
    radii = torch.tensor(reach, device=index.device, dtype=torch.float32).view(count, 1, 1, 1)
    # nearer[j] = largest reach of the slabs i > j present in each tile.
    nearer = (present * radii).flip(0).cummax(dim=0).values.flip(0)
    nearer = torch.cat((nearer[1:], torch.zeros_like(nearer[:1])), dim=0)
    anywhere = nearer.amax(dim=(1, 2, 3)).tolist()
    result = []
    for j in range(count):
        if reach[j] == 0 or anywhere[j] == 0:
            result.append(0.0)
            continue
        steps = int(math.ceil((anywhere[j] + reach[j]) / tile))
        around = torch.nn.functional.max_pool2d(present[j : j + 1], 2 * steps + 1, stride=1, padding=steps)
        result.append(float((around * nearer[j : j + 1]).max()))
    return result


def occlusion_groups(radii: list[float], focus: int, step: float) -> list[tuple[int, int]]:
    """Runs ``(j0, j1)`` of consecutive depth slices composited as one slab, far to near.

    Slices are merged outward from the focal plane while a run spans at most ``step`` pixels of
    CoC: between them "over" is replaced by a sum, which changes nothing on a continuing surface
    and little where their blur differs by so little; each slice keeps its own kernels, so every
    pixel is still blurred by its own radius. The two slices that touch the focal plane (``focus``
    is the index of the slice starting at radius 0) stay alone, so in-focus pixels keep their
    exactness and what covers them.

    Args:
        radii (`list[float]`): slice boundaries, ascending (``len(radii) - 1`` slices).
        focus (`int`): the slice ``[0, radii[focus + 1])``.
        step (`float`): the largest CoC span of a merged run, in pixels.
    """
    count = len(radii) - 1
    near: list[tuple[int, int]] = []
    j0 = focus + 1
    while j0 < count:
        j1 = j0 + 1
        while j1 < count and radii[j1 + 1] - radii[j0] <= step:
            j1 += 1
        near.append((j0, j1))
        j0 = j1
    far: list[tuple[int, int]] = []
    j1 = focus - 1
    while j1 > 0:
        j0 = j1 - 1
        while j0 > 0 and radii[j1] - radii[j0 - 1] <= step:
            j0 -= 1
        far.append((j0, j1))
        j1 = j0
    middle = [(j, j + 1) for j in (focus - 1, focus) if 0 <= j < count]
    return far[::-1] + middle + near
