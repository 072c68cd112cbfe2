"""Pure conversions between stored depth values, disparity and normalized disparity.

Everything here works on numpy arrays; nothing opens files.

Conventions
-----------
*Disparity* is proportional to ``1 / depth``: large is near. bokehfx's renderers take
*normalized disparity*: per clip, ``0`` is the farthest and ``1`` the nearest point, computed once
for the whole clip (never per frame, which would make the focus pump).

Stored encodings (``encoding=``) turn the integers or floats found in a depth file into depth
(metres for every named depth encoding, the file's own unit for ``raw`` and ``middlebury``) plus a
validity mask:

==============  ======================================================================
``raw``         values as stored (EXR/float TIFF floats, 8/16-bit integers), depth or
                disparity as ``kind`` says
``mm``          uint16 millimetres (Redwood, Azure Kinect, RealSense default, SUN-style renders)
``tum``         uint16, 5000 units per metre (TUM RGB-D)
``nyu``         NYU Depth v2 raw Kinect disparity in a little-endian PGM (which FFmpeg reads
                as big-endian, so bytes are swapped back): ``metres = 351.3 / (1092.5 - raw)``,
                ``raw >= 2047`` invalid
``sun``         SUN RGB-D: uint16 millimetres rotated right by 3 bits
``middlebury``  disparity as stored, ``0`` = unknown (Middlebury stereo ground truth: float
                TIFF/PFM, or 8-bit PNG scaled by 4)
==============  ======================================================================

Which values are unknown ("holes") is decided by the encoding and the kind, never by a value that
could be a measurement:

- NaN and +/-inf are unknown everywhere;
- depth (every named depth encoding, and ``raw`` read as ``kind="depth"``): ``0`` and negative
  values are unknown (the sensors' convention: Kinect, RealSense, Redwood, TUM);
- disparity (``raw`` read as ``kind="disparity"``): ``0`` is the farthest point and valid (what
  Depth Anything, a compositor's disparity pass and BokehMe's inputs store); negative values are
  unknown;
- ``middlebury``: disparity whose ``0`` means unknown (the dataset's own convention);
- any other stored sentinel is named explicitly (``invalid=``, the CLI's ``--depth-invalid``).

Holes are filled from valid neighbours (:func:`fill_invalid`), never taken as infinitely near or far.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from bokehfx.errors import UsageError

DepthKind = Literal["depth", "disparity"]
DEPTH_KINDS: tuple[str, ...] = ("depth", "disparity")
DEPTH_ENCODINGS: tuple[str, ...] = ("raw", "mm", "tum", "nyu", "sun", "middlebury")
ENCODING_KINDS: dict[str, DepthKind] = {"mm": "depth", "tum": "depth", "nyu": "depth", "sun": "depth",
                                        "middlebury": "disparity"}
"""What each named encoding stores; ``raw`` may hold either (``kind`` says which)."""

MM_PER_METRE = 1000.0
"""Millimetre-encoded depth: stored units per metre."""
TUM_UNITS_PER_METRE = 5000.0
"""TUM RGB-D depth PNGs: stored units per metre."""
KINECT_DISPARITY_NUMERATOR = 351.3
"""NYU Depth v2 toolbox (``depth_rel2depth_abs``): ``metres = 351.3 / (1092.5 - raw)``."""
KINECT_DISPARITY_OFFSET = 1092.5
KINECT_INVALID_RAW = 2047
"""Raw Kinect disparity at or above this value means no measurement."""
SUN_BIT_ROTATION = 3
"""SUN RGB-D depth PNGs store millimetres rotated left by 3 bits within 16 bits."""

FLAT_DISPARITY = 0.5
"""Normalized disparity given to a clip whose disparity is constant (no depth to speak of)."""


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise UsageError(f"{name} must be one of {', '.join(choices)}, got {value!r}")


def validate_depth_range(depth_range: tuple[float, float] | None) -> tuple[float, float] | None:
    """Check a ``(near, far)`` metric depth range.

    Args:
        depth_range (`tuple[float, float]` or `None`): Nearest and farthest depth, ``0 < near < far``
            (``far`` may be ``inf``).

    Returns:
        `tuple[float, float]` or `None`: The range as floats.

    Raises:
        UsageError: When the range is malformed.
    """
    if depth_range is None:
        return None
    try:
        near, far = (float(v) for v in depth_range)
    except (TypeError, ValueError):
        raise UsageError(f"depth_range must be two numbers NEAR,FAR, got {depth_range!r}") from None
    if not (near > 0 and far > near) or math.isnan(far):
        raise UsageError(f"depth_range must satisfy 0 < NEAR < FAR, got {depth_range!r}")
    return near, far


def parse_depth_range(text: str) -> tuple[float, float]:
    """Parse a ``--depth-range`` value ``"NEAR,FAR"`` (``FAR`` may be ``inf``), e.g. ``"0.5,20"``.

    Raises:
        UsageError: When the text is not two numbers with ``0 < NEAR < FAR``.
    """
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) != 2:
        raise UsageError(f"depth_range must be NEAR,FAR (e.g. 0.5,20), got {text!r}")
    try:
        values = (float(parts[0]), float(parts[1]))
    except ValueError:
        raise UsageError(f"depth_range must be NEAR,FAR (e.g. 0.5,20), got {text!r}") from None
    validate_depth_range(values)
    return values


def encoding_kind(encoding: str, kind: str | None = None) -> DepthKind:
    """The kind of values an encoding stores, checked against an explicit ``kind``.

    Args:
        encoding (`str`): One of ``DEPTH_ENCODINGS``.
        kind (`str`, *optional*): ``"depth"`` or ``"disparity"`` as asked for; ``None`` takes the
            encoding's own (``"depth"`` for ``raw``).

    Returns:
        `str`: ``"depth"`` or ``"disparity"``.

    Raises:
        UsageError: When ``kind`` contradicts a named encoding (``mm`` values are never disparity).
    """
    _check_choice("encoding", encoding, DEPTH_ENCODINGS)
    if kind is not None:
        _check_choice("kind", kind, DEPTH_KINDS)
    own = ENCODING_KINDS.get(encoding)
    if own is None:
        return kind or "depth"  # type: ignore[return-value]
    if kind is not None and kind != own:
        raise UsageError(f"encoding {encoding!r} stores {own}, so kind {kind!r} does not apply")
    return own


def validate_invalid_value(invalid: float | None) -> float | None:
    """Check a stored "unknown" sentinel (``--depth-invalid``): a finite number, or None.

    Raises:
        UsageError: When it is not a finite number (NaN and inf are unknown anyway).
    """
    if invalid is None:
        return None
    try:
        value = float(invalid)
    except (TypeError, ValueError):
        raise UsageError(f"depth_invalid must be a number, got {invalid!r}") from None
    if not math.isfinite(value):
        raise UsageError(f"depth_invalid must be a finite number (NaN and inf are always unknown), got {invalid!r}")
    return value


def decode_depth_values(
    raw: np.ndarray, encoding: str = "raw", invalid: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Turn stored values into depth (or disparity, for ``raw`` and ``middlebury``) plus a validity mask.

    Only the encoding and ``invalid`` decide what is unknown (see the module docs); a ``raw`` zero
    stays valid here (:func:`to_disparity` drops it for depth, where it cannot be a measurement).

    Args:
        raw (`np.ndarray`): One frame of stored values, ``(H, W)``, integer or float.
        encoding (`str`, defaults to ``"raw"``): One of ``DEPTH_ENCODINGS`` (see module docs).
        invalid (`float`, *optional*): A stored value that means "unknown" (compared with the
            stored values before any decoding), e.g. ``0`` for Middlebury-style disparity or
            ``65535`` for a sensor that marks misses with its largest code.

    Returns:
        `tuple[np.ndarray, np.ndarray]`: ``values`` float32 ``(H, W)`` (metres for named depth
        encodings, stored units for ``raw`` and ``middlebury``) and ``valid`` bool ``(H, W)``.
    """
    _check_choice("encoding", encoding, DEPTH_ENCODINGS)
    invalid = validate_invalid_value(invalid)
    if raw.ndim != 2:
        raise UsageError(f"raw must be a 2-D (H, W) array, got shape {tuple(raw.shape)}")
    if encoding not in ("raw", "middlebury") and raw.dtype != np.uint16:
        raise UsageError(f"encoding {encoding!r} needs 16-bit integer data, got dtype {raw.dtype}")
    if encoding == "raw":
        values = raw.astype(np.float32)
        valid = np.isfinite(values)
    elif encoding == "middlebury":
        values = raw.astype(np.float32)
        valid = np.isfinite(values) & (values > 0)
    elif encoding == "mm":
        values = raw.astype(np.float32) / MM_PER_METRE
        valid = raw > 0
    elif encoding == "tum":
        values = raw.astype(np.float32) / TUM_UNITS_PER_METRE
        valid = raw > 0
    elif encoding == "sun":
        rotated = (raw >> SUN_BIT_ROTATION) | (raw << (16 - SUN_BIT_ROTATION))
        values = rotated.astype(np.float32) / MM_PER_METRE
        valid = rotated > 0
    else:  # nyu
        kinect = raw.byteswap().astype(np.float64)
        valid = (kinect < KINECT_INVALID_RAW) & (kinect > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            values = (KINECT_DISPARITY_NUMERATOR / (KINECT_DISPARITY_OFFSET - kinect)).astype(np.float32)
        valid &= np.isfinite(values) & (values > 0)
    if invalid is not None:
        valid &= raw.astype(np.float64) != invalid
    return values, valid


def to_disparity(
    values: np.ndarray,
    valid: np.ndarray,
    kind: DepthKind = "depth",
    depth_range: tuple[float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Convert decoded values to disparity.

    Args:
        values (`np.ndarray`): float ``(H, W)`` depth or disparity.
        valid (`np.ndarray`): bool ``(H, W)``; invalid pixels are left for :func:`fill_invalid`.
        kind (`str`, defaults to ``"depth"``): What ``values`` hold.
        depth_range (`tuple[float, float]`, *optional*): Metric ``(near, far)`` for ``kind="depth"``:
            depth is clipped to it and mapped to normalized disparity directly (``near`` -> 1,
            ``far`` -> 0), so the result is already normalized and the same for every clip.

    Returns:
        `tuple[np.ndarray, np.ndarray]`: float32 disparity (zero where invalid) and the updated
        validity mask.
    """
    _check_choice("kind", kind, DEPTH_KINDS)
    depth_range = validate_depth_range(depth_range)
    if depth_range is not None and kind != "depth":
        raise UsageError(f"depth_range applies to kind 'depth' only, got kind {kind!r}")
    valid = valid & np.isfinite(values)
    out = np.zeros(values.shape, dtype=np.float32)
    if kind == "disparity":
        valid &= values >= 0
        out[valid] = values[valid]
        return out, valid
    valid &= values > 0
    depth = values[valid].astype(np.float64)
    if depth_range is None:
        out[valid] = 1.0 / depth
        return out, valid
    near, far = depth_range
    inv_far = 0.0 if math.isinf(far) else 1.0 / far
    disp = (1.0 / np.clip(depth, near, far) - inv_far) / (1.0 / near - inv_far)
    out[valid] = disp
    return out, valid


def _scanline_fill(values: np.ndarray, valid: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Fill holes along one axis with the farther (smaller) of the nearest valid values on each side."""
    v = np.moveaxis(values, axis, -1)
    m = np.moveaxis(valid, axis, -1)
    n = v.shape[-1]
    idx = np.arange(n)
    before = np.where(m, idx, -1)
    np.maximum.accumulate(before, axis=-1, out=before)
    after = np.where(m, idx, n)
    after = np.minimum.accumulate(after[..., ::-1], axis=-1)[..., ::-1]
    has_before = before >= 0
    has_after = after < n
    from_before = np.take_along_axis(v, np.clip(before, 0, n - 1), axis=-1)
    from_after = np.take_along_axis(v, np.clip(after, 0, n - 1), axis=-1)
    fill = np.where(
        has_before & has_after,
        np.minimum(from_before, from_after),
        np.where(has_before, from_before, from_after),
    )
    out = np.where(m, v, fill)
    filled = m | has_before | has_after
    return np.moveaxis(out, -1, axis), np.moveaxis(filled, -1, axis)


def fill_invalid(
    disparity: np.ndarray, valid: np.ndarray, fallback: np.ndarray | float | None = None
) -> np.ndarray:
    """Fill unknown pixels of a disparity map from their valid neighbours.

    Holes are filled along each row with the *farther* (smaller disparity) of the nearest valid
    pixels to the left and right, the usual rule for stereo occlusions and depth-sensor shadows,
    which both lie on the background beside a foreground edge. Rows with no valid pixel are then
    filled the same way along columns. A hole never becomes infinitely near or far: it takes a
    measured value.

    Args:
        disparity (`np.ndarray`): float ``(H, W)``.
        valid (`np.ndarray`): bool ``(H, W)``.
        fallback (`np.ndarray` or `float`, *optional*): Used only when the frame has no valid
            pixel at all (e.g. the previous frame's filled map). Without it such a frame raises.

    Returns:
        `np.ndarray`: float32 ``(H, W)`` with every pixel set.

    Raises:
        UsageError: When no pixel is valid and no ``fallback`` was given.
    """
    if disparity.shape != valid.shape or disparity.ndim != 2:
        raise UsageError(
            f"disparity and valid must be equal (H, W) shapes, got {tuple(disparity.shape)} and {tuple(valid.shape)}"
        )
    disparity = disparity.astype(np.float32, copy=False)
    if valid.all():
        return disparity.copy()
    if not valid.any():
        if fallback is None:
            raise UsageError("valid has no valid pixel and no fallback was given")
        return np.broadcast_to(np.asarray(fallback, dtype=np.float32), disparity.shape).copy()
    out, filled = _scanline_fill(disparity, valid, axis=1)
    if not filled.all():
        out, _ = _scanline_fill(out, filled, axis=0)
    return out.astype(np.float32, copy=False)


@dataclass
class DisparityRange:
    """Running range of valid disparity over a clip: the one normalization of the clip.

    Feed every frame (:meth:`update`) in a first pass, then normalize every frame with the same
    :attr:`low` / :attr:`high` (:func:`normalize_disparity`). ``low_percentile`` and
    ``high_percentile`` (per frame, then the clip's extreme) trim outliers; the defaults 0 and 100
    give the plain minimum and maximum.

    Args:
        low_percentile (`float`, defaults to 0.0): Per-frame percentile taken as that frame's low end.
        high_percentile (`float`, defaults to 100.0): Per-frame percentile taken as its high end.
    """

    low_percentile: float = 0.0
    high_percentile: float = 100.0
    low: float = field(default=math.inf, init=False)
    high: float = field(default=-math.inf, init=False)
    frames: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.low_percentile < self.high_percentile <= 100.0:
            raise UsageError(
                "low_percentile and high_percentile must satisfy 0 <= low < high <= 100, "
                f"got {self.low_percentile!r} and {self.high_percentile!r}"
            )

    def update(self, disparity: np.ndarray, valid: np.ndarray | None = None) -> None:
        """Take one frame (or a batch) into the range; pixels outside ``valid`` are ignored."""
        values = disparity[valid] if valid is not None else np.asarray(disparity).reshape(-1)
        values = values[np.isfinite(values)]
        self.frames += 1
        if values.size == 0:
            return
        if self.low_percentile == 0.0 and self.high_percentile == 100.0:
            lo, hi = float(values.min()), float(values.max())
        else:
            lo, hi = (float(v) for v in np.percentile(values, [self.low_percentile, self.high_percentile]))
        self.low = min(self.low, lo)
        self.high = max(self.high, hi)

    @property
    def empty(self) -> bool:
        """True until a frame with a valid pixel has been seen."""
        return self.low > self.high

    def normalize(self, disparity: np.ndarray) -> np.ndarray:
        """:func:`normalize_disparity` with this range."""
        if self.empty:
            raise UsageError("DisparityRange has seen no valid pixel; call update() before normalize()")
        return normalize_disparity(disparity, self.low, self.high)


def normalize_disparity(disparity: np.ndarray, low: float, high: float) -> np.ndarray:
    """Map disparity to ``[0, 1]`` with a fixed range: ``low`` -> 0 (far), ``high`` -> 1 (near).

    Args:
        disparity (`np.ndarray`): Any shape.
        low (`float`): Clip-wide far end.
        high (`float`): Clip-wide near end.

    Returns:
        `np.ndarray`: float32, clipped to ``[0, 1]``; ``FLAT_DISPARITY`` everywhere when
        ``high <= low`` (a clip without depth variation).
    """
    disparity = np.asarray(disparity, dtype=np.float32)
    if not (high > low):
        return np.full(disparity.shape, FLAT_DISPARITY, dtype=np.float32)
    return np.clip((disparity - np.float32(low)) / np.float32(high - low), 0.0, 1.0).astype(np.float32)


__all__ = [
    "DEPTH_ENCODINGS",
    "DEPTH_KINDS",
    "ENCODING_KINDS",
    "DisparityRange",
    "decode_depth_values",
    "encoding_kind",
    "fill_invalid",
    "normalize_disparity",
    "parse_depth_range",
    "to_disparity",
    "validate_depth_range",
    "validate_invalid_value",
]
