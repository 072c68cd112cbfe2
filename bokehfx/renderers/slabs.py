"""What each depth slab holds, at the resolution it is filtered at.

The physical renderer cuts the signed CoC into slabs (see :mod:`bokehfx.renderers.physical`).
Every slab needs, at its own pyramid level (a reduction by a power of two ``f``), the area averages
of a few per-pixel quantities: its premultiplied colour and coverage, the same for its upper kernel
part, the coverage of this and all farther slabs, the coverage that nearer slabs hide, and the
colour and coverage of the next nearer slab.

At full resolution these are masks of the slab index. At a reduced level they are gathered for
every slab of the level at once by one scatter-add over the frame (:class:`BinnedSlabs`), so the
cost of a level does not grow with how many slabs it holds; each slab then costs only its own
reduced area.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

#: Per-pixel channels gathered for a slab: premultiplied colour (3), coverage (1), and the same for
#: the part blurred with the slab's upper kernel (3, 1).
SLAB_CHANNELS = 8


@dataclass
class SlabPieces:
    """One slab's inputs at its level, each ``(T, C, h, w)``.

    Attributes:
        premult: premultiplied colour of the slab (3 channels).
        content: coverage of the slab (1).
        upper_rgb: premultiplied colour of the slab's upper kernel part (3).
        upper_cov: coverage of the upper kernel part (1).
        below: fraction of the area in this or a farther slab, whatever its alpha (1); ``None`` at
            full resolution, where only the fill (at a reduced level) needs it.
        hidden: coverage of nearer slabs, i.e. of the area this slab may extend behind (1).
        adjacent_rgb: premultiplied colour of the next nearer slab (3).
        adjacent: coverage of the next nearer slab (1).
    """

    premult: torch.Tensor
    content: torch.Tensor
    upper_rgb: torch.Tensor
    upper_cov: torch.Tensor
    below: torch.Tensor | None
    hidden: torch.Tensor
    adjacent_rgb: torch.Tensor
    adjacent: torch.Tensor


class MaskedSlabs:
    """Slab pieces at full resolution, as masks of the per-pixel slab index.

    Args:
        frames (`torch.Tensor`): ``(T, 3, H, W)`` colour.
        weight (`torch.Tensor`): ``(T, 1, H, W)`` coverage (alpha, or ones).
        index (`torch.Tensor`): ``(T, 1, H, W)`` int64 slab of every pixel.
        frac (`torch.Tensor`): ``(T, 1, H, W)`` position inside the slab (weight of the upper kernel).
    """

    def __init__(self, frames: torch.Tensor, weight: torch.Tensor, index: torch.Tensor, frac: torch.Tensor) -> None:
        self.frames, self.weight, self.index, self.frac = frames, weight, index, frac

    def pieces(self, j: int) -> SlabPieces:
        """The pieces of slab ``j``."""
        dtype = self.frames.dtype
        content = (self.index == j).to(dtype) * self.weight
        upper = content * self.frac
        adjacent = (self.index == j + 1).to(dtype) * self.weight
        return SlabPieces(
            premult=self.frames * content,
            content=content,
            upper_rgb=self.frames * upper,
            upper_cov=upper,
            below=None,
            hidden=(self.index > j).to(dtype) * self.weight,
            adjacent_rgb=self.frames * adjacent,
            adjacent=adjacent,
        )


class BinnedSlabs:
    r"""Slab pieces at a reduction ``factor`` for a set of slabs, gathered by one scatter-add.

    Every pixel adds its channels into the bin of (its slab, its reduced cell). Slabs that are
    asked for (and the next nearer slab of each) get a bin of their own; the slabs between them
    share one bin per run, which is all the cumulative coverages need. Cells at the right and bottom
    border that hold fewer than ``factor**2`` pixels average the pixels they hold.

    Args:
        frames (`torch.Tensor`): ``(T, 3, H, W)`` colour.
        weight (`torch.Tensor`): ``(T, 1, H, W)`` coverage (alpha, or ones).
        index (`torch.Tensor`): ``(T, 1, H, W)`` int64 slab of every pixel.
        frac (`torch.Tensor`): ``(T, 1, H, W)`` position inside the slab.
        slab_count (`int`): number of slabs.
        members (`list[int]`): the slabs filtered at this level.
        factor (`int`): the reduction, a power of two >= 2.
        opaque (`bool`): ``weight`` is all ones (no separate pixel count is needed).
    """

    def __init__(self, frames: torch.Tensor, weight: torch.Tensor, index: torch.Tensor, frac: torch.Tensor,
                 slab_count: int, members: list[int], factor: int, opaque: bool) -> None:
        t, _, h, w = frames.shape
        hf, wf = -(-h // factor), -(-w // factor)
        wanted = set(members) | {j + 1 for j in members if j + 1 < slab_count}
        table, bins, previous_own = [], -1, False
        for j in range(slab_count):
            own = j in wanted
            if own or previous_own or bins < 0:
                bins += 1
            table.append(bins)
            previous_own = own
        bins += 1
        self.table = table
        device = frames.device
        rows = (torch.arange(h, device=device) // factor) * wf
        cols = torch.arange(w, device=device) // factor
        cells = (rows.view(h, 1) + cols.view(1, w)).view(1, 1, h, w)
        area = hf * wf
        key = torch.tensor(table, device=device)[index] * (t * area) + cells
        key += (torch.arange(t, device=device) * area).view(t, 1, 1, 1)
        channels = [frames * weight, weight, frames * (weight * frac), weight * frac]
        if not opaque:
            channels.append(torch.ones_like(weight))
        values = torch.cat(channels, dim=1)
        c = values.shape[1]
        sums = torch.zeros(c, bins * t * area, device=device, dtype=values.dtype)
        sums.index_add_(1, key.view(-1), values.transpose(0, 1).reshape(c, -1))
        sums = sums.view(c, bins, t, hf, wf).permute(1, 2, 0, 3, 4)
        count = sums[:, :, c - 1 : c].sum(dim=0) if not opaque else sums[:, :, 3:4].sum(dim=0)
        self.bins = sums[:, :, :SLAB_CHANNELS] / count
        cover = self.bins[:, :, 3:4]
        self.cum_cover = cover.cumsum(dim=0)
        self.cum_area = self.cum_cover if opaque else (sums[:, :, c - 1 : c] / count).cumsum(dim=0)
        self.slab_count = slab_count

    def pieces(self, j: int) -> SlabPieces:
        """The pieces of slab ``j`` (one of ``members``)."""
        b = self.table[j]
        own = self.bins[b]
        if j + 1 < self.slab_count:
            nxt = self.bins[self.table[j + 1]]
            adjacent_rgb, adjacent = nxt[:, 0:3], nxt[:, 3:4]
        else:
            adjacent_rgb, adjacent = torch.zeros_like(own[:, 0:3]), torch.zeros_like(own[:, 3:4])
        return SlabPieces(
            premult=own[:, 0:3],
            content=own[:, 3:4],
            upper_rgb=own[:, 4:7],
            upper_cov=own[:, 7:8],
            below=self.cum_area[b],
            hidden=(self.cum_cover[-1] - self.cum_cover[b]).clamp_min(0.0),
            adjacent_rgb=adjacent_rgb,
            adjacent=adjacent,
        )
