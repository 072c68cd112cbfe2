"""Sidecar depth: stored frames in, normalized disparity out (pure; the I/O layer reads the files).

A sidecar is read twice: the first pass (:func:`sidecar_disparity_range`) finds the clip's
disparity range, the second (:func:`normalized_sidecar_frames`) fills holes and normalizes every
frame with that one range. With a metric ``depth_range`` the first pass is skipped: the fixed
range is the normalization.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from bokehfx.depth.convert import (
    FLAT_DISPARITY,
    DepthKind,
    DisparityRange,
    decode_depth_values,
    encoding_kind,
    fill_invalid,
    normalize_disparity,
    to_disparity,
    validate_depth_range,
    validate_invalid_value,
)
from bokehfx.depth.resize import resize_disparity
from bokehfx.errors import UsageError


@dataclass(frozen=True)
class SidecarOptions:
    """How to interpret a sidecar's stored values.

    Which stored values are unknown follows from ``encoding`` and ``kind`` (see
    :mod:`bokehfx.depth.convert`): a depth of 0 is unknown, a disparity of 0 is the farthest point,
    ``middlebury`` disparity has 0 as unknown; ``invalid`` names any other sentinel.

    Args:
        kind (`str`, *optional*): ``"depth"`` (far is large; disparity = 1/depth) or
            ``"disparity"`` (near is large). Defaults to what the encoding stores (``"depth"`` for
            ``raw``); a kind that contradicts a named encoding is refused.
        encoding (`str`, defaults to ``"raw"``): Stored encoding, one of ``DEPTH_ENCODINGS``
            (see :mod:`bokehfx.depth.convert`).
        depth_range (`tuple[float, float]`, *optional*): Metric ``(near, far)`` in the decoded unit
            (metres for named encodings, stored units for ``raw``); fixes the normalization.
        invalid (`float`, *optional*): A stored value meaning "unknown" (``--depth-invalid``).
        low_percentile (`float`, defaults to 0.0): Clip range low end, see :class:`DisparityRange`.
        high_percentile (`float`, defaults to 100.0): Clip range high end.
    """

    kind: DepthKind | None = None
    encoding: str = "raw"
    depth_range: tuple[float, float] | None = None
    invalid: float | None = None
    low_percentile: float = 0.0
    high_percentile: float = 100.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", encoding_kind(self.encoding, self.kind))
        object.__setattr__(self, "invalid", validate_invalid_value(self.invalid))
        object.__setattr__(self, "depth_range", validate_depth_range(self.depth_range))
        if self.depth_range is not None and self.kind != "depth":
            raise UsageError(f"depth_range applies to kind 'depth' only, got kind {self.kind!r}")
        DisparityRange(self.low_percentile, self.high_percentile)


def raw_to_disparity(raw: np.ndarray, options: SidecarOptions) -> tuple[np.ndarray, np.ndarray]:
    """Stored values of one frame to (unfilled) disparity and its validity mask.

    Returns:
        `tuple[np.ndarray, np.ndarray]`: float32 disparity (already normalized when
        ``options.depth_range`` is set) and a bool mask of measured pixels.
    """
    values, valid = decode_depth_values(raw, options.encoding, options.invalid)
    return to_disparity(values, valid, options.kind or "depth", options.depth_range)


def sidecar_disparity_range(raw_frames: Iterable[np.ndarray], options: SidecarOptions) -> DisparityRange:
    """First pass: the clip-wide disparity range over the valid pixels of every frame."""
    clip_range = DisparityRange(options.low_percentile, options.high_percentile)
    for raw in raw_frames:
        disp, valid = raw_to_disparity(raw, options)
        clip_range.update(disp, valid)
    return clip_range


def normalized_sidecar_frames(
    raw_frames: Iterable[np.ndarray],
    options: SidecarOptions,
    clip_range: DisparityRange | None = None,
    size: tuple[int, int] | None = None,
) -> Iterator[np.ndarray]:
    """Second pass: filled, normalized disparity per frame (0 far, 1 near).

    Args:
        raw_frames (`Iterable[np.ndarray]`): Stored values per frame, ``(H, W)``.
        options (`SidecarOptions`): Interpretation of the values.
        clip_range (`DisparityRange`, *optional*): From :func:`sidecar_disparity_range`; required
            unless ``options.depth_range`` is set.
        size (`tuple[int, int]`, *optional*): Output ``(height, width)``, e.g. the source video's
            when the sidecar was stored smaller.

    Yields:
        `np.ndarray`: float32 ``(H, W)`` in ``[0, 1]``. A frame with no valid pixel repeats the
        previous frame's map (or ``FLAT_DISPARITY`` for the first frame).
    """
    if options.depth_range is None:
        if clip_range is None:
            raise UsageError("clip_range is required when options.depth_range is not set")
        if clip_range.empty:
            raise UsageError("clip_range has seen no valid pixel: the sidecar holds no usable depth")
    previous: np.ndarray | None = None
    for raw in raw_frames:
        disp, valid = raw_to_disparity(raw, options)
        if options.depth_range is None:
            disp = normalize_disparity(disp, clip_range.low, clip_range.high)  # type: ignore[union-attr]
        fallback = previous if previous is not None and previous.shape == disp.shape else FLAT_DISPARITY
        filled = fill_invalid(disp, valid, fallback=fallback)
        previous = filled
        yield resize_disparity(filled, size) if size is not None else filled


__all__ = ["SidecarOptions", "normalized_sidecar_frames", "raw_to_disparity", "sidecar_disparity_range"]
