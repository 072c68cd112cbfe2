"""SMPTE timecode arithmetic (non-drop ``HH:MM:SS:FF`` and drop-frame ``HH:MM:SS;FF``)."""

from __future__ import annotations

import re
from fractions import Fraction

from bokehfx.errors import UsageError

_TC = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})([:;.,])(\d{2,3})$")


def _nominal(rate: Fraction) -> int:
    return round(rate)


def _is_drop_rate(rate: Fraction) -> bool:
    return rate.denominator == 1001 and _nominal(rate) % 30 == 0


def timecode_to_frames(tc: str, rate: Fraction) -> int:
    """Frame number of a timecode at ``rate`` (drop-frame when written with ``;`` at 30000/1001 multiples)."""
    m = _TC.match(tc.strip())
    if m is None:
        raise UsageError(f"timecode {tc!r} is not HH:MM:SS:FF")
    hh, mm, ss, sep, ff = int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4), int(m.group(5))
    fps = _nominal(Fraction(rate))
    if mm > 59 or ss > 59 or ff >= fps:
        raise UsageError(f"timecode {tc!r} is out of range at {fps} frames per second")
    frames = ((hh * 60 + mm) * 60 + ss) * fps + ff
    if sep in ";," and _is_drop_rate(Fraction(rate)):
        drop = 2 * (fps // 30)
        total_minutes = hh * 60 + mm
        frames -= drop * (total_minutes - total_minutes // 10)
    return frames


def frames_to_timecode(frames: int, rate: Fraction, *, drop_frame: bool = False) -> str:
    """Timecode string of a frame number at ``rate``."""
    fps = _nominal(Fraction(rate))
    if drop_frame and _is_drop_rate(Fraction(rate)):
        drop = 2 * (fps // 30)
        per_10min = fps * 600 - drop * 9
        per_min = fps * 60 - drop
        tens, rem = divmod(frames, per_10min)
        if rem > drop:
            frames += drop * 9 * tens + drop * ((rem - drop) // per_min)
        else:
            frames += drop * 9 * tens
        sep = ";"
    else:
        sep = ":"
    ff = frames % fps
    ss = (frames // fps) % 60
    mm = (frames // (fps * 60)) % 60
    hh = (frames // (fps * 3600)) % 24
    return f"{hh:02d}:{mm:02d}:{ss:02d}{sep}{ff:02d}"


def offset_timecode(tc: str, frames: int, rate: Fraction) -> str:
    """``tc`` moved on by ``frames`` frames, keeping its drop/non-drop form."""
    drop = ";" in tc or "," in tc
    return frames_to_timecode(timecode_to_frames(tc, rate) + frames, rate, drop_frame=drop)
