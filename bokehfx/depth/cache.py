"""Depth cache keys and quantization (pure; the store itself is :mod:`bokehfx.io.depthmaps`).

Estimated depth is cached so that changing focus or blur re-renders without re-estimating. An
entry is keyed by everything that changes the estimated maps:

- the clip's *content*: :func:`bokehfx.io.depthmaps.clip_fingerprint` hashes the file's bytes
  (SHA-256 over 4 MiB chunks, plus its size), so a renamed or copied clip still hits and an
  edited one misses; modification times are deliberately not used;
- the estimator's ``fingerprint`` (model id, hub revision / commit or local weights' sizes and
  times, config, input size, dtype, transfer);
- the stabilization settings (window, overlap, cross-fade, frame alignment) and the cache format
  version.

Maps are stored aligned but *not normalized* (the clip's range is stored beside them), in chunks
quantized to uint16 between each chunk's own minimum and maximum: the error is at most
``(chunk max - chunk min) / 131070``, about 8e-6 of the clip's range.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

import numpy as np

from bokehfx.errors import UsageError

CACHE_FORMAT_VERSION = 1
"""Bumped whenever the stored layout or the meaning of the stored maps changes."""

QUANT_LEVELS = 65535
"""uint16 levels between a chunk's minimum and maximum."""


def cache_key(clip: str, estimator: str, settings: Mapping[str, object] | None = None) -> str:
    """The cache entry name for a clip estimated with one estimator and settings.

    Args:
        clip (`str`): Content fingerprint of the clip.
        estimator (`str`): The estimator's ``fingerprint``.
        settings (`Mapping[str, object]`, *optional*): Everything else that changes the maps
            (JSON-serializable values).

    Returns:
        `str`: 32 hex digits.
    """
    if not clip or not estimator:
        raise UsageError(f"clip and estimator fingerprints must be non-empty, got {clip!r} and {estimator!r}")
    payload = {"version": CACHE_FORMAT_VERSION, "clip": clip, "estimator": estimator, "settings": dict(settings or {})}
    try:
        text = json.dumps(payload, sort_keys=True)
    except TypeError as err:
        raise UsageError(f"settings must be JSON-serializable, got {settings!r}: {err}") from None
    return hashlib.sha256(text.encode()).hexdigest()[:32]


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


__all__ = ["CACHE_FORMAT_VERSION", "QUANT_LEVELS", "cache_key", "dequantize", "quantize"]
