"""Parsing of option values shared by several commands (light: standard library only)."""

from __future__ import annotations

from fractions import Fraction

from bokehfx.errors import UsageError


def parse_fps(text: str | None) -> Fraction | None:
    """``24``, ``25``, ``23.976`` (taken as 24000/1001), or an exact ``24000/1001``."""
    if text is None:
        return None
    raw = text.strip()
    try:
        value = Fraction(raw)
    except (ValueError, ZeroDivisionError):
        raise UsageError(f"--fps {text!r} is not a frame rate; use e.g. 24, 25, 24000/1001") from None
    if value <= 0:
        raise UsageError(f"--fps {text!r} must be positive")
    if "/" not in raw and value.denominator != 1:
        for base in (24, 30, 48, 60, 120):
            ntsc = Fraction(base * 1000, 1001)
            if abs(float(value) - float(ntsc)) < 0.005:
                return ntsc
    return value
