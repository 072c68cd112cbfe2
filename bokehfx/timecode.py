"""Exact time: rational frame rates, seconds, frames and SMPTE timecode (shared by I/O and planning).

Every time in a focus plan is a :class:`fractions.Fraction` of seconds, and every rate a
:class:`fractions.Fraction` of frames per second, so that keyframes land on the exact frame at
NTSC rates (24000/1001, 30000/1001, 60000/1001) however long the clip.

Rules (documented for users):

- A rate given as a float or a decimal string within :data:`NTSC_TOLERANCE` of ``n * 1000/1001``
  for a standard ``n`` (:data:`NTSC_BASES`) is that NTSC rate exactly: ``23.976`` means
  ``24000/1001``. Other rates are taken as written (``"25"``, ``"24000/1001"``, ``"12.5"``).
- A time ``t`` lands on frame ``round(t * rate)``, halves rounding up, so a keyframe written in
  seconds goes to the nearest frame and a keyframe written in frames stays on that frame.
- SMPTE timecode ``HH:MM:SS:FF`` counts whole seconds of the *nominal* rate (30 at 29.97).
  ``HH:MM:SS;FF`` (semicolon) is drop-frame, valid only at 30000/1001 and 60000/1001.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Union

from bokehfx.errors import UsageError

RateLike = Union[Fraction, int, float, str]

#: Nominal rates whose NTSC variants (``n * 1000/1001``) are recognised from rounded decimals.
NTSC_BASES = (24, 30, 48, 60, 96, 120, 240)
#: How far a decimal rate may be from ``n * 1000/1001`` and still mean that NTSC rate.
NTSC_TOLERANCE = 0.002
#: Largest denominator kept when a float time or rate is turned into a fraction.
MAX_DENOMINATOR = 1_000_000

_TIMECODE = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})([:;])(\d{2,3})$")


def exact_rate(rate: RateLike, name: str = "rate") -> Fraction:
    """Turn a frame rate into an exact positive fraction.

    Args:
        rate (`Fraction`, `int`, `float` or `str`):
            A rate such as ``Fraction(24000, 1001)``, ``25``, ``23.976`` or ``"30000/1001"``.
        name (`str`, *optional*, defaults to ``"rate"``):
            The argument name used in error messages.

    Returns:
        `Fraction`: frames per second, exact.

    Raises:
        UsageError: when the rate is not a positive finite number.
    """
    if isinstance(rate, bool):
        raise UsageError(f"{name} must be a positive frame rate, got {rate!r}")
    if isinstance(rate, Fraction):
        value = rate
    elif isinstance(rate, int):
        value = Fraction(rate)
    else:
        text = str(rate).strip()
        try:
            if "/" in text:
                num, den = text.split("/", 1)
                value = Fraction(int(num), int(den))
            else:
                as_float = float(text)
                if not math.isfinite(as_float):
                    raise ValueError(text)
                value = _snap_decimal_rate(as_float)
        except (ValueError, ZeroDivisionError):
            raise UsageError(f"{name} must be a positive frame rate such as 24, 25, 23.976 or "
                             f"24000/1001, got {rate!r}") from None
    if value <= 0:
        raise UsageError(f"{name} must be a positive frame rate, got {rate!r}")
    return value


def _snap_decimal_rate(rate: float) -> Fraction:
    nearest_int = round(rate)
    if abs(rate - nearest_int) < 1e-9:
        return Fraction(nearest_int)
    for base in NTSC_BASES:
        ntsc = Fraction(base * 1000, 1001)
        if abs(rate - float(ntsc)) < NTSC_TOLERANCE:
            return ntsc
    return Fraction(rate).limit_denominator(MAX_DENOMINATOR)


def exact_seconds(value: Union[Fraction, int, float, str], name: str = "time") -> Fraction:
    """Turn seconds given as a number into an exact fraction (floats keep at most 6 decimals)."""
    if isinstance(value, bool):
        raise UsageError(f"{name} must be a number of seconds, got {value!r}")
    if isinstance(value, (Fraction, int)):
        return Fraction(value)
    try:
        as_float = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{name} must be a number of seconds, got {value!r}") from None
    if not math.isfinite(as_float):
        raise UsageError(f"{name} must be a finite number of seconds, got {value!r}")
    return Fraction(as_float).limit_denominator(MAX_DENOMINATOR)


def frame_at(seconds: Fraction, rate: Fraction) -> int:
    """The frame index a time lands on: ``round(seconds * rate)``, halves rounding up."""
    return math.floor(Fraction(seconds) * Fraction(rate) + Fraction(1, 2))


def seconds_at(frame: int, rate: Fraction) -> Fraction:
    """The exact time of a frame index at ``rate``."""
    return Fraction(frame) / Fraction(rate)


def parse_timecode(text: str, rate: RateLike, name: str = "timecode") -> int:
    """Parse SMPTE timecode into a frame count at ``rate``.

    Args:
        text (`str`): ``HH:MM:SS:FF`` (non-drop) or ``HH:MM:SS;FF`` (drop-frame).
        rate (`RateLike`): the clip's frame rate.
        name (`str`, *optional*): argument name for errors.

    Returns:
        `int`: the number of frames from ``00:00:00:00``.

    Raises:
        UsageError: on malformed timecode, frames beyond the rate, or drop-frame at a rate
            that has none.
    """
    rate = exact_rate(rate)
    match = _TIMECODE.match(text.strip())
    if not match:
        raise UsageError(f"{name} must be SMPTE timecode HH:MM:SS:FF, got {text!r}")
    hours, minutes, secs, sep, frames = match.groups()
    hours, minutes, secs, frames = int(hours), int(minutes), int(secs), int(frames)
    nominal = math.ceil(rate)
    if minutes > 59 or secs > 59 or frames >= nominal:
        raise UsageError(f"{name} {text!r} is not valid at {format_rate(rate)} fps "
                         f"(minutes and seconds below 60, frames below {nominal})")
    total_minutes = hours * 60 + minutes
    count = (total_minutes * 60 + secs) * nominal + frames
    if sep == ";":
        if rate.denominator != 1001 or nominal not in (30, 60):
            raise UsageError(f"{name} {text!r} is drop-frame (';'), which exists only at 29.97 "
                             f"and 59.94 fps, not {format_rate(rate)}")
        dropped_per_minute = 2 * nominal // 30
        if secs == 0 and frames < dropped_per_minute and minutes % 10 != 0:
            raise UsageError(f"{name} {text!r} names a frame that drop-frame timecode skips")
        count -= dropped_per_minute * (total_minutes - total_minutes // 10)
    return count


def format_rate(rate: Fraction) -> str:
    """``24`` for whole rates, ``24000/1001`` otherwise."""
    rate = Fraction(rate)
    return str(rate.numerator) if rate.denominator == 1 else f"{rate.numerator}/{rate.denominator}"


def format_timecode(frame: int, rate: RateLike, *, drop_frame: bool = False) -> str:
    """SMPTE timecode of a frame count at the nominal rate of ``rate``.

    With ``drop_frame`` (only at 29.97 and 59.94 fps) frame numbers 0 and 1 (0-3 at 59.94) of every
    minute not divisible by ten are skipped and the separator is ``;``.
    """
    rate = exact_rate(rate)
    nominal = math.ceil(rate)
    sign = "-" if frame < 0 else ""
    frame = abs(frame)
    sep = ":"
    if drop_frame and rate.denominator == 1001 and nominal in (30, 60):
        drop = 2 * nominal // 30
        per_10_minutes = nominal * 600 - drop * 9
        per_minute = nominal * 60 - drop
        tens, rest = divmod(frame, per_10_minutes)
        frame += drop * 9 * tens + (drop * ((rest - drop) // per_minute) if rest > drop else 0)
        sep = ";"
    secs, ff = divmod(frame, nominal)
    mins, ss = divmod(secs, 60)
    hh, mm = divmod(mins, 60)
    return f"{sign}{hh:02d}:{mm:02d}:{ss:02d}{sep}{ff:02d}"


def offset_timecode(text: str, frames: int, rate: RateLike) -> str:
    """``text`` moved on by ``frames`` frames, keeping its drop-frame or non-drop form."""
    return format_timecode(parse_timecode(text, rate) + frames, rate, drop_frame=";" in text)
