"""Parsing of option values shared by several commands (light: no heavy imports)."""

from __future__ import annotations

from fractions import Fraction


def parse_fps(text: str | None) -> Fraction | None:
    """``24``, ``25``, ``23.976`` (taken as 24000/1001), or an exact ``24000/1001``; None passes."""
    if text is None:
        return None
    from bokehfx.timecode import exact_rate

    return exact_rate(text, "--fps")
