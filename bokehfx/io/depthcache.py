"""The depth cache's files: entries of quantized disparity chunks, and the content fingerprint of a clip.

An entry is a folder named by its key (:func:`bokehfx.depth.cache.cache_key`) holding
``meta.json`` and ``chunk_NNNNNN.npz`` files. Each chunk stores ``uint16`` codes between the chunk's
own minimum and maximum (:func:`quantize`): the error is at most ``(chunk max - chunk min) /
131070``, about 8e-6 of the clip's range. Maps are stored as written (aligned, not normalized);
the clip's minimum and maximum are recorded in the metadata so the reader can normalize once.

An entry appears under its key only when complete (:class:`DepthCacheWriter` writes a hidden
temporary folder and renames it into place). What the maps mean and when to estimate them is
decided by :mod:`bokehfx.depth.source`; this module only reads and writes files.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bokehfx.errors import CorruptMediaError, InputNotFoundError, OutputError, UsageError
from bokehfx.io.paths import is_sequence_pattern, sequence_files

CACHE_FORMAT_VERSION = 1
"""Bumped whenever the stored layout or the meaning of the stored maps changes."""
QUANT_LEVELS = 65535
"""uint16 levels between a chunk's minimum and maximum."""
CLIP_HASH_CHUNK = 4 * 1024 * 1024
"""Bytes read at a time when hashing a clip's content."""
CACHE_CHUNK_FRAMES = 16
"""Frames per stored chunk of a cache entry."""
META_NAME = "meta.json"
"""The metadata file of an entry (written last: an entry without it is incomplete)."""


def quantize(maps: np.ndarray) -> tuple[np.ndarray, float, float]:
    """uint16 codes of float maps between their own min and max: ``(codes, low, high)``."""
    maps = np.asarray(maps, dtype=np.float64)
    if not np.isfinite(maps).all():
        raise UsageError("maps must be finite to be cached")
    low, high = float(maps.min()), float(maps.max())
    if high <= low:
        return np.zeros(maps.shape, np.uint16), low, high
    codes = np.rint((maps - low) * (QUANT_LEVELS / (high - low)))
    return codes.astype(np.uint16), low, high


def dequantize(codes: np.ndarray, low: float, high: float) -> np.ndarray:
    """Inverse of :func:`quantize` (float32)."""
    if high <= low:
        return np.full(codes.shape, low, np.float32)
    return (low + codes.astype(np.float64) * ((high - low) / QUANT_LEVELS)).astype(np.float32)


def clip_fingerprint(path: str | Path) -> str:
    """Content fingerprint of a clip: SHA-256 of its size and bytes (every file of a sequence, in order).

    Reading the whole file costs about a second per GB, small next to estimating its depth, and
    makes the key independent of names and modification times.

    Raises:
        InputNotFoundError: When the file (or every file of a pattern) is missing.
    """
    p = Path(path)
    files = [f for _, f in sequence_files(p, contiguous=True)] if is_sequence_pattern(p) else [p]
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
class DepthCacheEntry:
    """A complete cache entry: the stored maps per frame and their clip-wide range.

    Args:
        folder (`Path`): The entry's folder.
        num_frames (`int`): Frames stored.
        height (`int`): Map height.
        width (`int`): Map width.
        low (`float`): Smallest stored value of the clip (its far end).
        high (`float`): Largest stored value (its near end).
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
        """The stored maps ``(H, W)`` float32 per frame, in order, as written (not normalized)."""
        for name in self.meta["chunks"]:
            try:
                with np.load(self.folder / name, allow_pickle=False) as data:
                    maps = dequantize(data["codes"], float(data["low"]), float(data["high"]))
            except (OSError, ValueError, KeyError) as err:
                raise CorruptMediaError(f"depth cache chunk {str(self.folder / name)!r} is unreadable: {err}") from None
            yield from maps


def open_cached_depth(root: str | Path, key: str) -> DepthCacheEntry | None:
    """The complete entry ``key`` under ``root``, or None when absent, partial or unreadable."""
    folder = Path(root) / key
    try:
        meta = json.loads((folder / META_NAME).read_text())
        if meta.get("version") != CACHE_FORMAT_VERSION or not meta.get("complete"):
            return None
        if not all((folder / name).is_file() for name in meta["chunks"]):
            return None
        return DepthCacheEntry(
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
        self.low = math.inf
        self.high = -math.inf

    def write(self, disparity: np.ndarray) -> None:
        """Append one map ``(H, W)``."""
        if disparity.ndim != 2:
            raise UsageError(f"disparity must be (H, W), got shape {tuple(disparity.shape)}")
        if not self._shape:
            self._shape = tuple(disparity.shape)
        elif tuple(disparity.shape) != self._shape:
            raise UsageError(f"disparity must keep the shape {self._shape}, got {tuple(disparity.shape)}")
        values = np.asarray(disparity, dtype=np.float32)
        finite = values[np.isfinite(values)]
        if finite.size:
            self.low = min(self.low, float(finite.min()))
            self.high = max(self.high, float(finite.max()))
        self._pending.append(values)
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

    def commit(self) -> DepthCacheEntry:
        """Finish the entry and move it into place; returns it opened."""
        if self._count == 0 or self.low > self.high:
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
            "low": self.low,
            "high": self.high,
            "chunks": self._chunks,
        }
        final = self.root / self.key
        try:
            (self._tmp / META_NAME).write_text(json.dumps(meta, indent=1, sort_keys=True))
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


__all__ = [
    "CACHE_CHUNK_FRAMES",
    "CACHE_FORMAT_VERSION",
    "CLIP_HASH_CHUNK",
    "QUANT_LEVELS",
    "DepthCacheEntry",
    "DepthCacheWriter",
    "clip_fingerprint",
    "dequantize",
    "open_cached_depth",
    "quantize",
]
