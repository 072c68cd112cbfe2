"""Depth cache keys: what makes two estimates of a clip the same (pure; files are :mod:`bokehfx.io.depthcache`).

Estimated depth is cached so that changing focus or blur re-renders without re-estimating. An
entry is keyed by everything that changes the estimated maps:

- the clip's *content*: :func:`bokehfx.io.depthcache.clip_fingerprint` hashes the file's bytes
  (SHA-256 over 4 MiB chunks, plus its size), so a renamed or copied clip still hits and an
  edited one misses; modification times are deliberately not used;
- the estimator's ``fingerprint`` (model id, hub revision / commit or local weights' sizes and
  times, config, input size, dtype, transfer);
- the stabilization settings (window, overlap, cross-fade, frame alignment) and the cache format
  version.

Maps are stored aligned but *not normalized* (the clip's range is stored beside them); the
storage format (uint16 chunks, atomic entries) is :mod:`bokehfx.io.depthcache`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from bokehfx.errors import UsageError
from bokehfx.io.depthcache import CACHE_FORMAT_VERSION


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


__all__ = ["cache_key"]
