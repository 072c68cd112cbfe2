"""Reading sidecar depth: a video, an image sequence (``%0Nd`` pattern) or one still.

Values are returned *as stored*: 16-bit PNG/TIFF/PGM as ``uint16``, EXR and float TIFF as
``float32``, 8-bit as ``uint8``. Nothing is transfer-function decoded or rescaled; what the values
mean (depth or disparity, millimetres, ...) is decided by :mod:`bokehfx.depth.sidecar`.

The depth cache lives here too (:class:`DepthCacheWriter`, :func:`open_cached_depth`,
:func:`estimate_into_cache`); its keys and quantization are :mod:`bokehfx.depth.cache`.

Multi-channel files (an RGB EXR or PNG holding depth in every channel, as many renderers write)
give their first (red) channel. Video sidecars give their luma, expanded to full range.

PyAV (FFmpeg) decodes everything it can; single-channel float TIFF, which FFmpeg's TIFF decoder
does not support (Middlebury ground truth), is read with OpenCV (``opencv-python-headless``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np

from bokehfx.depth.cache import CACHE_FORMAT_VERSION, cache_key, dequantize, quantize
from bokehfx.depth.convert import DisparityRange, normalize_disparity
from bokehfx.depth.sidecar import SidecarOptions, normalized_sidecar_frames, sidecar_disparity_range
from bokehfx.depth.temporal import DEFAULT_OVERLAP, DEFAULT_WINDOW, stabilized_disparity
from bokehfx.errors import CorruptMediaError, InputNotFoundError, OutputError, UnsupportedMediaError, UsageError
from bokehfx.io.paths import is_sequence_pattern, sequence_files
from bokehfx.windows import DEFAULT_BLEND_MODE, BlendMode

STILL_EXTENSIONS: frozenset[str] = frozenset(
    {".png", ".tif", ".tiff", ".exr", ".pgm", ".ppm", ".pnm", ".pfm", ".jpg", ".jpeg", ".bmp", ".dpx", ".webp"}
)
"""File extensions read as one still image (used for every frame) rather than as a video."""



@dataclass(frozen=True)
class DepthSidecar:
    """A located sidecar.

    Args:
        path (`Path`): The file or the sequence pattern as given.
        layout (`str`): ``"still"``, ``"sequence"`` or ``"video"``.
        files (`tuple[Path, ...]`): The frames of a sequence in order (the one file of a still;
            empty for a video).
    """

    path: Path
    layout: str
    files: tuple[Path, ...]

    @property
    def is_still(self) -> bool:
        """One image used for every frame."""
        return self.layout == "still"


def _sequence_files(pattern: Path) -> tuple[Path, ...]:
    # A sequence is the first contiguous run of numbers, as FFmpeg's image2 demuxer reads it.
    return tuple(entry for _, entry in sequence_files(pattern, contiguous=True))


def open_depth_sidecar(path: str | Path) -> DepthSidecar:
    """Locate a sidecar and decide whether it is a still, a sequence or a video.

    Args:
        path (`str` or `Path`): A video file, an image file, or a pattern such as
            ``depth/%05d.png``.

    Returns:
        `DepthSidecar`

    Raises:
        InputNotFoundError: When the file, or every file of the pattern, is missing.
        UnsupportedMediaError: When the path is a directory.
    """
    p = Path(path)
    if is_sequence_pattern(p):
        files = _sequence_files(p)
        if not files:
            raise InputNotFoundError(f"depth sequence {str(path)!r} matches no file")
        return DepthSidecar(p, "sequence", files)
    if p.is_dir():
        raise UnsupportedMediaError(
            f"depth path {str(path)!r} is a directory; give a video, an image or a pattern like depth/%05d.png"
        )
    if not p.exists():
        raise InputNotFoundError(f"depth file {str(path)!r} does not exist")
    if p.suffix.lower() in STILL_EXTENSIONS:
        return DepthSidecar(p, "still", (p,))
    return DepthSidecar(p, "video", ())


def frame_values(frame: av.VideoFrame) -> np.ndarray:
    """Stored values of one decoded frame as ``(H, W)``: uint8, uint16 or float32."""
    fmt = frame.format
    name = fmt.name
    bits = max(c.bits for c in fmt.components)
    if "f32" in name or "f16" in name:
        if len(fmt.components) == 1:
            return frame.to_ndarray(format="grayf32le")
        return frame.reformat(format="gbrpf32le").to_ndarray()[..., 0]
    if fmt.is_rgb or name.startswith("pal"):
        if bits > 8:
            return frame.to_ndarray(format="rgb48le")[..., 0]
        return frame.to_ndarray(format="rgb24")[..., 0]
    if bits > 8:
        return frame.to_ndarray(format="gray16le")
    return frame.to_ndarray(format="gray")


def _read_with_opencv(path: Path) -> np.ndarray | None:
    import cv2

    data = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if data is None:
        return None
    if data.ndim == 3:
        data = data[..., 2]  # OpenCV orders channels BGR: red is the last
    return np.ascontiguousarray(data)


def read_still_values(path: str | Path) -> np.ndarray:
    """Stored values of one image file, ``(H, W)``.

    Raises:
        UnsupportedMediaError: When neither PyAV nor OpenCV can decode it.
    """
    p = Path(path)
    try:
        with av.open(str(p)) as container:
            for frame in container.decode(video=0):
                return frame_values(frame)
    except (av.FFmpegError, ValueError, IndexError):
        pass
    data = _read_with_opencv(p)
    if data is None:
        raise UnsupportedMediaError(f"depth image {str(path)!r} cannot be decoded")
    return data


def _video_values(path: Path) -> Iterator[np.ndarray]:
    try:
        container = av.open(str(path))
    except av.FFmpegError as err:
        raise UnsupportedMediaError(f"depth file {str(path)!r} cannot be opened: {err}") from None
    with container:
        if not container.streams.video:
            raise UnsupportedMediaError(f"depth file {str(path)!r} has no video stream")
        try:
            for frame in container.decode(video=0):
                yield frame_values(frame)
        except av.FFmpegError as err:
            raise CorruptMediaError(f"depth file {str(path)!r} could not be decoded: {err}") from None


def raw_depth_frames(sidecar: DepthSidecar, num_frames: int | None = None) -> Iterator[np.ndarray]:
    """Stored values per frame, in order.

    Args:
        sidecar (`DepthSidecar`): From :func:`open_depth_sidecar`.
        num_frames (`int`, *optional*): Frames wanted (the source clip's length). A still is
            repeated this many times (decoded once); a video or sequence stops after this many
            frames. Without it, a still yields once and the others yield all their frames.

    Raises:
        UsageError: When a video or sequence has fewer than ``num_frames`` frames.
    """
    if num_frames is not None and num_frames < 0:
        raise UsageError(f"num_frames must be 0 or more, got {num_frames}")
    if sidecar.is_still:
        values = read_still_values(sidecar.path)
        values.setflags(write=False)
        for _ in range(1 if num_frames is None else num_frames):
            yield values
        return
    if sidecar.layout == "sequence":
        source: Iterator[np.ndarray] = (read_still_values(f) for f in sidecar.files)
    else:
        source = _video_values(sidecar.path)
    count = 0
    for values in source:
        if num_frames is not None and count >= num_frames:
            return
        count += 1
        yield values
    if num_frames is not None and count < num_frames:
        raise UsageError(f"depth {str(sidecar.path)!r} has {count} frames but the clip needs num_frames={num_frames}")


def read_sidecar_disparity(
    path: str | Path,
    num_frames: int | None = None,
    options: SidecarOptions | None = None,
    size: tuple[int, int] | None = None,
) -> Iterator[np.ndarray]:
    """Normalized disparity (0 far, 1 near) per frame from a sidecar, one clip-wide normalization.

    The sidecar is read twice (once for the clip's range, once to produce frames) unless
    ``options.depth_range`` fixes the range; memory stays at one frame.

    Args:
        path (`str` or `Path`): Video, image, or ``%0Nd`` sequence pattern.
        num_frames (`int`, *optional*): The source clip's frame count (see :func:`raw_depth_frames`).
        options (`SidecarOptions`, *optional*): Kind, encoding, metric range; defaults to depth as stored.
        size (`tuple[int, int]`, *optional*): Output ``(height, width)`` (the source's).

    Returns:
        `Iterator[np.ndarray]`: float32 ``(H, W)`` per frame. The first pass runs (and errors
        surface) before this returns.
    """
    options = options or SidecarOptions()
    sidecar = open_depth_sidecar(path)
    clip_range = None
    if options.depth_range is None:
        first_pass = raw_depth_frames(sidecar, None if sidecar.is_still else num_frames)
        clip_range = sidecar_disparity_range(first_pass, options)
        if clip_range.empty:
            raise UnsupportedMediaError(f"depth {str(path)!r} has no valid pixel in any frame")
    return normalized_sidecar_frames(raw_depth_frames(sidecar, num_frames), options, clip_range, size)


# --- depth cache -----------------------------------------------------------------------------

CLIP_HASH_CHUNK = 4 * 1024 * 1024
"""Bytes read at a time when hashing a clip's content."""
CACHE_CHUNK_FRAMES = 16
"""Frames per stored chunk of a cache entry."""
_META = "meta.json"


def clip_fingerprint(path: str | Path) -> str:
    """Content fingerprint of a clip: SHA-256 of its size and bytes (every file of a sequence, in order).

    Reading the whole file costs about a second per GB, small next to estimating its depth, and
    makes the key independent of names and modification times.

    Raises:
        InputNotFoundError: When the file (or every file of a pattern) is missing.
    """
    p = Path(path)
    files = list(_sequence_files(p)) if is_sequence_pattern(p) else [p]
    if not files or not all(f.is_file() for f in files):
        raise InputNotFoundError(f"clip {str(path)!r} does not exist")
    digest = hashlib.sha256()
    for f in files:
        digest.update(f"{f.stat().st_size}\n".encode())
        with open(f, "rb") as fh:
            while chunk := fh.read(CLIP_HASH_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


@dataclass(frozen=True)
class CachedDepth:
    """A complete cache entry: aligned disparity per frame and the clip's range.

    Args:
        folder (`Path`): The entry's folder.
        num_frames (`int`): Frames stored.
        height (`int`): Map height.
        width (`int`): Map width.
        low (`float`): Clip's far end (for normalization).
        high (`float`): Clip's near end.
        meta (`dict`): Everything recorded with the entry (key inputs, settings).
    """

    folder: Path
    num_frames: int
    height: int
    width: int
    low: float
    high: float
    meta: dict[str, Any]

    def frames(self) -> Iterator[np.ndarray]:
        """Aligned, unnormalized disparity ``(H, W)`` float32 per frame, in order."""
        for name in self.meta["chunks"]:
            try:
                with np.load(self.folder / name, allow_pickle=False) as data:
                    maps = dequantize(data["codes"], float(data["low"]), float(data["high"]))
            except (OSError, ValueError, KeyError) as err:
                raise CorruptMediaError(f"depth cache chunk {str(self.folder / name)!r} is unreadable: {err}") from None
            yield from maps

    def normalized(self) -> Iterator[np.ndarray]:
        """Normalized disparity (0 far, 1 near) per frame, with the clip's one range."""
        for disp in self.frames():
            yield normalize_disparity(disp, self.low, self.high)


def open_cached_depth(root: str | Path, key: str) -> CachedDepth | None:
    """The complete entry ``key`` under ``root``, or None when absent, partial or unreadable."""
    folder = Path(root) / key
    try:
        meta = json.loads((folder / _META).read_text())
        if meta.get("version") != CACHE_FORMAT_VERSION or not meta.get("complete"):
            return None
        if not all((folder / name).is_file() for name in meta["chunks"]):
            return None
        return CachedDepth(
            folder=folder,
            num_frames=int(meta["num_frames"]),
            height=int(meta["height"]),
            width=int(meta["width"]),
            low=float(meta["low"]),
            high=float(meta["high"]),
            meta=meta,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


class DepthCacheWriter:
    """Writes one cache entry; it appears under its key only when :meth:`commit` succeeds.

    Frames go to a hidden temporary folder beside the entry, in chunks of ``chunk_frames``;
    :meth:`commit` writes the metadata and renames the folder into place (another process that
    finished the same entry first wins, and this one is discarded). Used as a context manager,
    an exception aborts and removes everything written.

    Args:
        root (`str` or `Path`): Cache folder (created if missing).
        key (`str`): Entry name from :func:`bokehfx.depth.cache.cache_key`.
        meta (`dict`, *optional*): JSON-serializable facts recorded with the entry.
        chunk_frames (`int`, defaults to 16): Frames per stored chunk.
    """

    def __init__(
        self,
        root: str | Path,
        key: str,
        meta: dict[str, Any] | None = None,
        chunk_frames: int = CACHE_CHUNK_FRAMES,
    ) -> None:
        if chunk_frames < 1:
            raise UsageError(f"chunk_frames must be positive, got {chunk_frames}")
        self.root = Path(root)
        self.key = key
        self.meta = dict(meta or {})
        self.chunk_frames = chunk_frames
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self._tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", suffix=".partial", dir=self.root))
        except OSError as err:
            raise OutputError(f"depth cache folder {str(self.root)!r} cannot be written: {err}") from None
        self._pending: list[np.ndarray] = []
        self._chunks: list[str] = []
        self._count = 0
        self._shape: tuple[int, ...] = ()
        self.clip_range = DisparityRange()

    def write(self, disparity: np.ndarray) -> None:
        """Append one aligned, unnormalized map ``(H, W)``."""
        if disparity.ndim != 2:
            raise UsageError(f"disparity must be (H, W), got shape {tuple(disparity.shape)}")
        if not self._shape:
            self._shape = tuple(disparity.shape)
        elif tuple(disparity.shape) != self._shape:
            raise UsageError(f"disparity must keep the shape {self._shape}, got {tuple(disparity.shape)}")
        self.clip_range.update(disparity)
        self._pending.append(np.asarray(disparity, dtype=np.float32))
        self._count += 1
        if len(self._pending) == self.chunk_frames:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        codes, low, high = quantize(np.stack(self._pending))
        name = f"chunk_{len(self._chunks):06d}.npz"
        try:
            np.savez(self._tmp / name, codes=codes, low=np.float64(low), high=np.float64(high))
        except OSError as err:
            self.abort()
            raise OutputError(f"depth cache {str(self.root)!r} cannot be written: {err}") from None
        self._chunks.append(name)
        self._pending = []

    def commit(self) -> CachedDepth:
        """Finish the entry and move it into place; returns it opened."""
        if self._count == 0 or self.clip_range.empty:
            self.abort()
            raise UsageError("the depth cache entry holds no frame; nothing was stored")
        self._flush()
        meta = {
            **self.meta,
            "version": CACHE_FORMAT_VERSION,
            "complete": True,
            "num_frames": self._count,
            "height": self._shape[0],
            "width": self._shape[1],
            "low": self.clip_range.low,
            "high": self.clip_range.high,
            "chunks": self._chunks,
        }
        final = self.root / self.key
        try:
            (self._tmp / _META).write_text(json.dumps(meta, indent=1, sort_keys=True))
            if final.exists():
                shutil.rmtree(self._tmp, ignore_errors=True)
            else:
                os.replace(self._tmp, final)
        except OSError as err:
            self.abort()
            raise OutputError(f"depth cache {str(final)!r} cannot be written: {err}") from None
        entry = open_cached_depth(self.root, self.key)
        if entry is None:
            raise CorruptMediaError(f"depth cache entry {str(final)!r} is unreadable after writing")
        return entry

    def abort(self) -> None:
        """Remove everything written so far."""
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> DepthCacheWriter:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is not None:
            self.abort()


def estimate_into_cache(
    frames: Iterable[np.ndarray] | Callable[[], Iterable[np.ndarray]],
    estimate: Callable[[Any], Any],
    cache_root: str | Path,
    clip: str,
    estimator: str,
    window: int = DEFAULT_WINDOW,
    overlap: int = DEFAULT_OVERLAP,
    mode: BlendMode = DEFAULT_BLEND_MODE,
    frame_alignment: bool = True,
    flow_smoothing: float = 0.0,
) -> tuple[CachedDepth, bool]:
    """Estimated, stabilized depth of a clip from the cache, estimating (and storing) it on a miss.

    Args:
        frames (`Iterable` or a callable returning one): Frames ``(3, H, W)`` of the clip; a
            callable is only called on a miss (so nothing is decoded on a hit).
        estimate (`Callable`): Batched estimator, e.g. ``DepthAnythingEstimator(...).estimate``.
        cache_root (`str` or `Path`): Cache folder.
        clip (`str`): :func:`clip_fingerprint` of the source.
        estimator (`str`): The estimator's ``fingerprint``.
        window, overlap, mode, frame_alignment, flow_smoothing: Stabilization settings (part of
            the key), see :class:`bokehfx.depth.temporal.TemporalDepthStabilizer`.

    Returns:
        `tuple[CachedDepth, bool]`: The entry (use ``.normalized()``) and whether it was a hit.
    """
    settings = {
        "window": window,
        "overlap": overlap,
        "mode": mode,
        "frame_alignment": frame_alignment,
        "flow_smoothing": flow_smoothing,
    }
    key = cache_key(clip, estimator, settings)
    hit = open_cached_depth(cache_root, key)
    if hit is not None:
        return hit, True
    source = frames() if callable(frames) else frames
    meta = {"clip": clip, "estimator": estimator, "settings": settings}
    with DepthCacheWriter(cache_root, key, meta) as writer:
        stream = stabilized_disparity(
            source, estimate, window, overlap, mode, frame_alignment, flow_smoothing=flow_smoothing
        )
        for disp in stream:
            writer.write(disp)
        return writer.commit(), False

__all__ = [
    "CACHE_CHUNK_FRAMES",
    "CLIP_HASH_CHUNK",
    "STILL_EXTENSIONS",
    "CachedDepth",
    "DepthCacheWriter",
    "DepthSidecar",
    "clip_fingerprint",
    "estimate_into_cache",
    "open_cached_depth",
    "frame_values",
    "open_depth_sidecar",
    "raw_depth_frames",
    "read_sidecar_disparity",
    "read_still_values",
]
