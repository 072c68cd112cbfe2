"""The front door for depth: one place decides where a clip's depth comes from, one interface gives it.

Every consumer (the render stage, ``--save-depth``, ``bokehfx eval``) asks here. A
:class:`DepthSource` yields *normalized disparity* per frame from the clip's frame 0: float32
``(H, W)`` in ``[0, 1]``, 0 the clip's farthest point and 1 its nearest, normalized once for the
whole clip (never per frame, which would make the focus pump).

Three sources sit behind it:

- :class:`SidecarDepth`: a file the user gave. :mod:`bokehfx.io.depthmaps` reads the stored
  values; :mod:`bokehfx.depth.sidecar` decides what they mean (kind, encoding, which are unknown)
  in two passes: the clip's range, then filled and normalized frames.
- :class:`CachedDepth`: an estimate already in the depth cache (files:
  :mod:`bokehfx.io.depthcache`; keys: :mod:`bokehfx.depth.cache`).
- :class:`EstimatedDepth`: the estimator run through the temporal stabiliser
  (:mod:`bokehfx.depth.temporal`), streamed into the cache, then read back as a
  :class:`CachedDepth` (the clip's range is only known once every frame has been estimated).

:func:`depth_source` is the one place that decides: a sidecar when given, else the cache, else the
estimator. Model libraries are imported only on the estimator's path, so reading a sidecar never
loads one.
"""

from __future__ import annotations

import abc
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from bokehfx.depth.cache import cache_key
from bokehfx.depth.convert import normalize_disparity
from bokehfx.depth.sidecar import SidecarOptions, normalized_sidecar_frames, sidecar_disparity_range
from bokehfx.errors import UnsupportedMediaError, UsageError
from bokehfx.io.depthcache import DepthCacheEntry, DepthCacheWriter, clip_fingerprint, open_cached_depth
from bokehfx.io.depthmaps import open_depth_sidecar, raw_depth_frames
from bokehfx.io.probe import MediaInfo
from bokehfx.windows import DEFAULT_BLEND_MODE, BlendMode

DEFAULT_CACHE_DIRNAME = ".bokehfx-cache"
"""Folder (beside the output) holding the depth cache when no cache folder is given."""
DEPTH_CACHE_SUBDIR = "depth"
"""Subfolder of :data:`DEFAULT_CACHE_DIRNAME` for estimated depth."""

FrameSupply = Iterable[np.ndarray] | Callable[[], Iterable[np.ndarray]]
"""Frames ``(3, H, W)`` of a clip, or a callable returning them (called only when they are needed)."""


@dataclass
class DepthSpec:
    """Where a clip's depth comes from (see :func:`depth_source`).

    Args:
        path: a sidecar (video, image sequence, or one still); ``None`` for ``--depth auto``.
        kind: ``"depth"`` (converted as 1/depth) or ``"disparity"``; ``None`` takes the encoding's own.
        encoding: stored encoding of the sidecar (``raw``, ``mm``, ``tum``, ``nyu``, ``sun``, ``middlebury``).
        depth_range: metric ``(near, far)`` fixing the normalization of a depth sidecar.
        invalid: a stored sidecar value that means "unknown" (besides what the encoding says).
        model: depth model hub id or local folder for estimation.
        device, dtype: where and in what precision the estimator runs.
        window, overlap: temporal windows of the estimator (aligned on their overlap).
        smoothing: flow-guided smoothing strength, 0 to 1.
        cache_dir: cache folder; ``None`` puts it beside the output.
    """

    path: Path | None = None
    kind: str | None = None
    encoding: str = "raw"
    depth_range: tuple[float, float] | None = None
    invalid: float | None = None
    model: str | None = None
    device: str = "cpu"
    dtype: str | None = None
    window: int | None = None
    overlap: int | None = None
    smoothing: float = 0.0
    cache_dir: Path | None = None

    def sidecar_options(self) -> SidecarOptions:
        """How to read :attr:`path` (validated: a kind that contradicts the encoding is refused)."""
        return SidecarOptions(kind=self.kind, encoding=self.encoding, depth_range=self.depth_range,
                              invalid=self.invalid)


class DepthSource(abc.ABC):
    """Normalized disparity of one clip, frame by frame.

    Attributes:
        origin (`str`): ``"sidecar"``, ``"cache"`` or ``"estimator"``: where the maps come from.
    """

    origin: ClassVar[str]

    @abc.abstractmethod
    def frames(self) -> Iterator[np.ndarray]:
        """float32 ``(H, W)`` in ``[0, 1]`` per frame from frame 0 (endless for a still sidecar:
        the consumer stops at the clip's end). Errors of a first pass surface before this returns."""


class SidecarDepth(DepthSource):
    """Depth from a sidecar file: a video, an image sequence, or one still used for every frame.

    Args:
        path (`str` or `Path`): Video, image, or ``%0Nd`` sequence pattern.
        options (`SidecarOptions`, *optional*): Kind, encoding, unknown values, metric range;
            defaults to depth as stored.
        size (`tuple[int, int]`, *optional*): Output ``(height, width)`` (the source's).

    Raises:
        InputNotFoundError: When the file, or every file of the pattern, is missing.
    """

    origin = "sidecar"

    def __init__(self, path: str | Path, options: SidecarOptions | None = None,
                 size: tuple[int, int] | None = None) -> None:
        self.path = Path(path)
        self.options = options or SidecarOptions()
        self.size = size
        self.sidecar = open_depth_sidecar(path)

    def read(self, num_frames: int | None = None) -> Iterator[np.ndarray]:
        """Normalized frames, reading the sidecar twice (once for the clip's range) unless
        ``options.depth_range`` fixes the range; memory stays at one frame. A still is decoded once.

        Args:
            num_frames (`int`, *optional*): The source clip's frame count (see
                :func:`bokehfx.io.depthmaps.raw_depth_frames`): a still is repeated this many times,
                a video or sequence stops there. Without it a still yields once.

        Raises:
            UnsupportedMediaError: When no frame has a valid pixel.
        """
        if self.sidecar.is_still:  # decoded once, for both passes
            values = next(raw_depth_frames(self.sidecar))

            def stored(count: int | None) -> Iterator[np.ndarray]:
                return itertools.repeat(values, 1 if count is None else count)
        else:
            def stored(count: int | None) -> Iterator[np.ndarray]:
                return raw_depth_frames(self.sidecar, count)
        clip_range = None
        if self.options.depth_range is None:
            clip_range = sidecar_disparity_range(stored(None if self.sidecar.is_still else num_frames), self.options)
            if clip_range.empty:
                raise UnsupportedMediaError(f"depth {str(self.path)!r} has no valid pixel in any frame")
        return normalized_sidecar_frames(stored(num_frames), self.options, clip_range, self.size)

    def frames(self) -> Iterator[np.ndarray]:
        frames = self.read()
        return itertools.repeat(next(frames)) if self.sidecar.is_still else frames


class CachedDepth(DepthSource):
    """Depth from a complete cache entry, normalized with the clip's stored range.

    Args:
        entry (`DepthCacheEntry`): From :func:`bokehfx.io.depthcache.open_cached_depth`.
        size (`tuple[int, int]`, *optional*): Expected ``(height, width)``; each map is checked
            against it.
    """

    origin = "cache"

    def __init__(self, entry: DepthCacheEntry, size: tuple[int, int] | None = None) -> None:
        self.entry = entry
        self.size = size

    def frames(self) -> Iterator[np.ndarray]:
        for disp in self.entry.frames():
            normalized = normalize_disparity(disp, self.entry.low, self.entry.high)
            yield normalized if self.size is None else normalized.reshape(self.size)


def estimation_settings(window: int | None = None, overlap: int | None = None, mode: BlendMode = DEFAULT_BLEND_MODE,
                        frame_alignment: bool = True, flow_smoothing: float = 0.0) -> dict[str, Any]:
    """The stabiliser's settings as they enter the cache key (``None`` window/overlap: the defaults)."""
    from bokehfx.depth.temporal import DEFAULT_OVERLAP, DEFAULT_WINDOW

    return {
        "window": DEFAULT_WINDOW if window is None else window,
        "overlap": DEFAULT_OVERLAP if overlap is None else overlap,
        "mode": mode,
        "frame_alignment": frame_alignment,
        "flow_smoothing": flow_smoothing,
    }


class EstimatedDepth(DepthSource):
    """Depth from an estimator, stabilised over time and stored in the cache as it streams.

    Args:
        frames (`FrameSupply`): The clip's frames (a callable is called only when estimating).
        estimate (`Callable`): Batched estimator, e.g. ``DepthAnythingEstimator(...).estimate``.
        cache_root (`str` or `Path`): Cache folder.
        key (`str`): The entry's :func:`bokehfx.depth.cache.cache_key`.
        settings (`dict`): From :func:`estimation_settings` (part of ``key``).
        meta (`dict`, *optional*): Facts recorded with the entry.
        size (`tuple[int, int]`, *optional*): Expected ``(height, width)``.
    """

    origin = "estimator"

    def __init__(self, frames: FrameSupply, estimate: Callable[[Any], Any], cache_root: str | Path, key: str,
                 settings: dict[str, Any], meta: dict[str, Any] | None = None,
                 size: tuple[int, int] | None = None) -> None:
        self.supply = frames
        self.estimate = estimate
        self.cache_root = Path(cache_root)
        self.key = key
        self.settings = settings
        self.meta = meta
        self.size = size

    def store(self) -> DepthCacheEntry:
        """Estimate every frame into a new cache entry and return it (nothing is left on failure)."""
        from bokehfx.depth.temporal import stabilized_disparity

        if self.supply is None:
            raise UsageError("estimating depth needs the clip's frames")
        source = self.supply() if callable(self.supply) else self.supply
        s = self.settings
        with DepthCacheWriter(self.cache_root, self.key, self.meta) as writer:
            stream = stabilized_disparity(source, self.estimate, s["window"], s["overlap"], s["mode"],
                                          s["frame_alignment"], flow_smoothing=s["flow_smoothing"])
            for disp in stream:
                writer.write(disp)
            return writer.commit()

    def frames(self) -> Iterator[np.ndarray]:
        return CachedDepth(self.store(), self.size).frames()


def estimate_into_cache(
    frames: FrameSupply,
    estimate: Callable[[Any], Any],
    cache_root: str | Path,
    clip: str,
    estimator: str,
    window: int | None = None,
    overlap: int | None = None,
    mode: BlendMode = DEFAULT_BLEND_MODE,
    frame_alignment: bool = True,
    flow_smoothing: float = 0.0,
) -> tuple[DepthCacheEntry, bool]:
    """Estimated, stabilized depth of a clip from the cache, estimating (and storing) it on a miss.

    Args:
        frames (`FrameSupply`): Frames ``(3, H, W)`` of the clip; a callable is only called on a
            miss (so nothing is decoded on a hit).
        estimate (`Callable`): Batched estimator.
        cache_root (`str` or `Path`): Cache folder.
        clip (`str`): :func:`bokehfx.io.depthcache.clip_fingerprint` of the source.
        estimator (`str`): The estimator's ``fingerprint``.
        window, overlap, mode, frame_alignment, flow_smoothing: Stabilization settings (part of
            the key), see :class:`bokehfx.depth.temporal.TemporalDepthStabilizer`.

    Returns:
        `tuple[DepthCacheEntry, bool]`: The entry (read it with :class:`CachedDepth`) and whether
        it was a hit.
    """
    settings = estimation_settings(window, overlap, mode, frame_alignment, flow_smoothing)
    key = cache_key(clip, estimator, settings)
    hit = open_cached_depth(cache_root, key)
    if hit is not None:
        return hit, True
    meta = {"clip": clip, "estimator": estimator, "settings": settings}
    return EstimatedDepth(frames, estimate, cache_root, key, settings, meta).store(), False


def depth_source(spec: DepthSpec, clip: Path, info: MediaInfo, output: Path, *,
                 frames_factory: FrameSupply | None = None) -> DepthSource:
    """Where this clip's depth comes from: a sidecar when given, else the cache, else the estimator.

    Args:
        spec (`DepthSpec`): The request (``--depth`` and its options).
        clip (`Path`): The source clip (its content keys the cache).
        info (`MediaInfo`): The probed clip (size, pixel aspect).
        output (`Path`): The render's output (the default cache lives beside it).
        frames_factory (`FrameSupply`, *optional*): The clip's frames for the estimator.

    Raises:
        UsageError: When the sidecar options contradict each other.
        ModelNotAvailableError: When the depth model cannot be loaded.
    """
    size = (info.video.height, info.video.width)
    if spec.path is not None:
        return SidecarDepth(spec.path, spec.sidecar_options(), size)

    from bokehfx.depth.estimator import DEFAULT_DEPTH_MODEL, DepthAnythingEstimator

    estimator = DepthAnythingEstimator(spec.model or DEFAULT_DEPTH_MODEL, device=spec.device, dtype=spec.dtype)
    cache = spec.cache_dir or (output.parent / DEFAULT_CACHE_DIRNAME / DEPTH_CACHE_SUBDIR)
    settings = estimation_settings(spec.window or None, spec.overlap, flow_smoothing=spec.smoothing)
    fingerprint = clip_fingerprint(clip)
    key = cache_key(fingerprint, estimator.fingerprint, settings)
    entry = open_cached_depth(cache, key)
    if entry is not None:
        return CachedDepth(entry, size)
    pixel_aspect = float(info.video.sample_aspect_ratio)
    meta = {"clip": fingerprint, "estimator": estimator.fingerprint, "settings": settings}
    return EstimatedDepth(frames_factory, lambda batch: estimator.estimate(batch, pixel_aspect=pixel_aspect),
                          cache, key, settings, meta, size)


def open_depth(spec: DepthSpec, clip: Path, info: MediaInfo, output: Path, *,
               frames_factory: FrameSupply | None = None) -> Iterator[np.ndarray]:
    """Normalized disparity ``(H, W)`` float32 per frame of the whole clip, from frame 0
    (:func:`depth_source`'s frames)."""
    return depth_source(spec, clip, info, output, frames_factory=frames_factory).frames()


def read_sidecar_disparity(
    path: str | Path,
    num_frames: int | None = None,
    options: SidecarOptions | None = None,
    size: tuple[int, int] | None = None,
) -> Iterator[np.ndarray]:
    """Normalized disparity (0 far, 1 near) per frame of a sidecar, one clip-wide normalization.

    Args:
        path (`str` or `Path`): Video, image, or ``%0Nd`` sequence pattern.
        num_frames (`int`, *optional*): The source clip's frame count (see :meth:`SidecarDepth.read`).
        options (`SidecarOptions`, *optional*): Kind, encoding, unknown values, metric range.
        size (`tuple[int, int]`, *optional*): Output ``(height, width)`` (the source's).

    Returns:
        `Iterator[np.ndarray]`: float32 ``(H, W)`` per frame. The first pass runs (and errors
        surface) before this returns.
    """
    return SidecarDepth(path, options, size).read(num_frames)


__all__ = [
    "DEFAULT_CACHE_DIRNAME",
    "CachedDepth",
    "DepthSource",
    "DepthSpec",
    "EstimatedDepth",
    "SidecarDepth",
    "depth_source",
    "estimate_into_cache",
    "estimation_settings",
    "open_depth",
    "read_sidecar_disparity",
]
