"""Depth for training windows: normalized disparity of ``T`` consecutive frames of a clip.

- :class:`SidecarWindows`: a depth sidecar opened for random windows, its clip-wide range measured
  once (a render reads a sidecar front to back; training jumps around in it).
- :func:`read_depth_window`: the window from such a sidecar or from a depth-cache entry (found by
  :func:`bokehfx.io.pairs.find_cached_depth`), with the clip's one normalization.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import torch

from bokehfx.depth.sidecar import SidecarOptions, normalized_sidecar_frames, sidecar_disparity_range
from bokehfx.depth.source import CachedDepth
from bokehfx.errors import CorruptMediaError, UnsupportedMediaError
from bokehfx.io.depthcache import DepthCacheEntry
from bokehfx.io.depthmaps import open_depth_sidecar, raw_depth_frames, read_still_values


class SidecarWindows:
    r"""A depth sidecar opened for random windows: its clip-wide range is measured once, here.

    Args:
        path (`str` or `Path`): video, image, or ``%0Nd`` sequence pattern.
        options (`SidecarOptions`, *optional*): how the stored values are meant.
    """

    def __init__(self, path: str | Path, options: object = None) -> None:
        self.path = Path(path)
        self.options = options or SidecarOptions()
        self.sidecar = open_depth_sidecar(path)
        self.clip_range = None
        if self.options.depth_range is None:  # type: ignore[attr-defined]
            self.clip_range = sidecar_disparity_range(raw_depth_frames(self.sidecar), self.options)  # type: ignore[arg-type]
            if self.clip_range.empty:
                raise UnsupportedMediaError(f"depth {str(path)!r} has no valid pixel in any frame")

    def __repr__(self) -> str:
        # Stable across runs: the pair cache is keyed by it.
        return f"SidecarWindows({str(self.path)!r}, {self.options!r})"

    def window(self, start: int, frames: int, size: tuple[int, int]) -> list[np.ndarray]:
        """Normalized disparity ``(H, W)`` of frames ``start .. start + frames - 1`` at ``size``."""
        if self.sidecar.is_still:
            raw = itertools.repeat(read_still_values(self.sidecar.path), frames)
        elif self.sidecar.layout == "sequence":
            raw = (read_still_values(f) for f in self.sidecar.files[start:start + frames])
        else:
            raw = itertools.islice(raw_depth_frames(self.sidecar), start, start + frames)
        return list(normalized_sidecar_frames(raw, self.options, self.clip_range, size))  # type: ignore[arg-type]


def read_depth_window(depth: SidecarWindows | DepthCacheEntry, start: int, frames: int, size: tuple[int, int]) -> torch.Tensor:
    """Normalized disparity ``(T, 1, H, W)`` of frames ``start ..`` from a sidecar or a depth-cache entry,
    with the clip's one normalization."""
    if isinstance(depth, DepthCacheEntry):
        window = [np.asarray(m, dtype=np.float32)
                  for m in itertools.islice(CachedDepth(depth).frames(), start, start + frames)]
        where = depth.folder
    else:
        window = [np.asarray(m, dtype=np.float32) for m in depth.window(start, frames, size)]
        where = depth.path
    if len(window) != frames:
        raise CorruptMediaError(f"depth {str(where)!r} has too few frames for frames {start}..{start + frames - 1}")
    out = torch.from_numpy(np.stack(window)).unsqueeze(1)
    if tuple(out.shape[-2:]) != tuple(size):
        out = torch.nn.functional.interpolate(out, size=size, mode="nearest-exact")
    return out.clamp(0.0, 1.0).contiguous()


__all__ = ["SidecarWindows", "read_depth_window"]
