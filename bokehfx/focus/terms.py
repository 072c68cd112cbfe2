"""The terms of a ``--prompt`` clause: numbers, times, timing phrases and focus targets.

:class:`TermReader` matches one clause's tokens by recursive descent; each method takes a token
index and returns what it read with the index after it, or None. It remembers the furthest
index any form reached, so a refusal can quote the part that was not understood.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Optional, Union

from bokehfx.errors import UsageError
from bokehfx.focus.lexicon import (
    ADVERB_SIZES,
    BLUR_VERBS,
    CAMERA_WORDS,
    CLIP_FRACTIONS,
    CLIP_WORDS,
    CUT_WORDS,
    DEPTH_UNITS,
    EASE_WORDS,
    END_WORDS,
    FOCUS_WORDS,
    MOVE_WORDS,
    NEGATION_WORDS,
    SEPARATOR_WORDS,
    START_WORDS,
    FAR_WORDS,
    FRAME_UNITS,
    FRAME_WORDS,
    HOLD_WORDS,
    LINEAR_WORDS,
    MIDDLE_WORDS,
    NEAR_WORDS,
    NUMBER_WORDS,
    ORDINALS,
    PART_FRACTIONS,
    PIXEL_UNITS,
    PLACE_LEADS,
    PLACE_LINKS,
    QUICK_WORDS,
    SCENE_NOUNS,
    SECOND_UNITS,
    SHARP_WORDS,
    SLOW_WORDS,
    SOFT_WORDS,
    SUBJECT_STOP,
    TARGET_NOUNS,
    WHOLE_WORDS,
)
from bokehfx.focus.lexicon import BLUR_WORDS as _BLUR_WORDS
from bokehfx.focus.plan import (
    DepthTarget,
    DisparityTarget,
    Interp,
    PointTarget,
    RegionTarget,
    SubjectTarget,
    SymbolicTarget,
    Target,
)
from bokehfx.focus.tokens import Token
from bokehfx.timecode import exact_seconds, parse_timecode

#: Duration of a pull given a start time but no duration, in seconds.
DEFAULT_PULL_SECONDS = Fraction(1)
QUICK_PULL_SECONDS = Fraction(1, 2)
SLOW_PULL_SECONDS = Fraction(2)
#: Longest named subject, in words ("the woman in the red coat").
MAX_SUBJECT_WORDS = 6
#: Where "the first / second / last half (third, quarter)" of the clip starts: 0 = at the start,
#: 1 = one part in, -1 = one part before the end.
PART_SPANS = {"first": 0, "opening": 0, "second": 1, "last": -1, "final": -1, "closing": -1}
#: Words that end a subject's name: the grammar's verbs, times, sizes and links.
NOT_SUBJECT_WORDS = (SUBJECT_STOP | SHARP_WORDS | SOFT_WORDS | _BLUR_WORDS | NEGATION_WORDS | FOCUS_WORDS | MOVE_WORDS
                     | QUICK_WORDS | SLOW_WORDS | LINEAR_WORDS | EASE_WORDS | CUT_WORDS | frozenset(SECOND_UNITS)
                     | FRAME_UNITS | frozenset(NUMBER_WORDS) | frozenset(CLIP_FRACTIONS) | WHOLE_WORDS | CLIP_WORDS
                     | START_WORDS | END_WORDS | SEPARATOR_WORDS | BLUR_VERBS | frozenset(ADVERB_SIZES)
                     | NEAR_WORDS | MIDDLE_WORDS | FAR_WORDS
                     | {"percent", "per-cent", "focal", "bokeh", "k", "aperture", "f-stop", "everything"})
#: Nouns that may open a place phrase ("the subject closest to the camera").
NOUN_LEADS = (TARGET_NOUNS | SCENE_NOUNS) - {"end", "depth", "point", "region", "side", "one", "ones", "distance",
                                             "field", "ground"}
_SYMBOLIC = ((NEAR_WORDS, "near"), (MIDDLE_WORDS, "middle"), (FAR_WORDS, "far"))


@dataclass
class Timing:
    """When and how a clause happens; ``relative`` when its times are fractions of the clip."""

    start: Optional[Fraction] = None
    end: Optional[Fraction] = None
    duration: Optional[Fraction] = None
    speed: Optional[Fraction] = None
    interp: Optional[Interp] = None
    relative: bool = False
    whole: bool = False

    @property
    def untimed(self) -> bool:
        """No start, end or duration (a whole-clip change, or a static focus from the start)."""
        return self.start is None and self.end is None and self.duration is None


class TermReader:
    """Numbers, times, timing and targets over one clause's tokens (see the module docstring).

    Args:
        tokens: the clause's tokens, fillers removed.
        rate: the clip's frame rate (timecode and frame counts need it).
        subjects: whether an unknown noun phrase may name a subject (a detector will find it).
        source: the lower-cased prompt the tokens come from (a subject keeps its own words).
    """

    def __init__(self, tokens: list[Token], rate: Optional[Fraction], subjects: bool = False,
                 source: str = "") -> None:
        self.t = tokens
        self.rate = rate
        self.subjects = subjects
        self.source = source
        self.furthest = 0

    def word(self, i: int) -> Optional[str]:
        return self.t[i].text if 0 <= i < len(self.t) and self.t[i].kind == "word" else None

    def take(self, i: int, words: Union[frozenset, dict, set]) -> Optional[int]:
        w = self.word(i)
        if w is not None and w in words:
            self.furthest = max(self.furthest, i + 1)
            return i + 1
        return None

    def seq(self, i: int, *words: str) -> Optional[int]:
        for w in words:
            if self.word(i) != w:
                return None
            i += 1
        self.furthest = max(self.furthest, i)
        return i

    def phrase(self, i: int, phrases: tuple[tuple[str, ...], ...]) -> Optional[int]:
        """The index after the first of ``phrases`` (word sequences) found at ``i``."""
        for words in phrases:
            j = self.seq(i, *words)
            if j is not None:
                return j
        return None

    def skip(self, i: int, words: Union[frozenset, dict, set]) -> int:
        while self.word(i) in words:
            i = self.mark(i + 1)
        return i

    def mark(self, i: int) -> int:
        self.furthest = max(self.furthest, i)
        return i

    # ------------------------------------------------------------------------------- numbers

    def number(self, i: int, allow_unit: bool = False) -> Optional[tuple[Fraction, Optional[str], int]]:
        """A number (digits or a number word); its attached or following unit word when asked."""
        if i >= len(self.t):
            return None
        tok = self.t[i]
        if tok.kind == "num":
            if tok.unit is not None:
                return (tok.value, tok.unit, i + 1) if allow_unit else None
            unit = None
            j = i + 1
            w = self.word(j)
            if allow_unit and w is not None and (w in SECOND_UNITS or w in FRAME_UNITS or w in DEPTH_UNITS
                                                 or w in PIXEL_UNITS):
                unit, j = w, j + 1
            return tok.value, unit, j
        if tok.kind == "word" and tok.text in NUMBER_WORDS and allow_unit:
            j = i + 1
            if self.seq(j, "and", "half") is not None or self.seq(j, "and", "a", "half") is not None:
                return None
            w = self.word(j)
            if w is not None and (w in SECOND_UNITS or w in FRAME_UNITS):
                return Fraction(NUMBER_WORDS[tok.text]), w, j + 1
        return None

    def seconds(self, value: Fraction, unit: str, what: str) -> Fraction:
        if unit in SECOND_UNITS:
            return value * SECOND_UNITS[unit]
        if unit in FRAME_UNITS:
            if value.denominator != 1:
                raise UsageError(f"prompt: {what} {value} frames is not a whole number of frames")
            return value / self._rate(f"{what} in frames")
        raise UsageError(f"prompt: {what} needs a time unit (s, frames or HH:MM:SS:FF), got {unit!r}")

    def _rate(self, what: str) -> Fraction:
        if self.rate is None:
            raise UsageError(f"prompt: {what} needs the clip's frame rate (give --fps)")
        return self.rate

    def _of_clip(self, j: int) -> int:
        """Skip ``through`` / ``into`` / ``of the clip`` / ``in`` after a point of the clip."""
        j = self.take(j, {"through", "into", "in", "of"}) or j
        return self.take(j, CLIP_WORDS) or j

    def clip_point(self, i: int) -> Optional[tuple[Fraction, int]]:
        """A point of the clip in words: halfway, the end, a quarter of the way, 25%."""
        w = self.word(i)
        if w in CLIP_FRACTIONS:
            return CLIP_FRACTIONS[w], self.mark(self._of_clip(i + 1))  # type: ignore[index]
        if w in ("end", "ending", "finish", "close") or self.seq(i, "last", "frame") is not None:
            j = self.seq(i, "last", "frame") or i + 1
            return Fraction(1), self.mark(self._of_clip(j))
        if w == "middle" and self.word(i + 1) == "of" and self.word(i + 2) in CLIP_WORDS:
            return Fraction(1, 2), self.mark(i + 3)
        if w in PART_FRACTIONS or w in ("one", "two", "three") and self.word(i + 1) in PART_FRACTIONS:
            j = i + 1 if w in PART_FRACTIONS else i + 2
            part = PART_FRACTIONS[self.word(j - 1)]  # type: ignore[index]
            count = NUMBER_WORDS[w] if w in ("one", "two", "three") else 1  # type: ignore[index]
            end = self.seq(j, "of", "way") or self.seq(j, "way")
            if end is None or not 0 < part * count <= 1:
                return None
            return part * count, self.mark(self._of_clip(end))
        tok = self.t[i] if i < len(self.t) else None
        if tok is not None and tok.kind == "num" and tok.unit is None and self.word(i + 1) in ("percent", "per-cent"):
            if not 0 <= tok.value <= 100:
                raise UsageError(f"prompt: {tok.text}% of the clip must be between 0% and 100%")
            j = self.seq(i + 2, "of", "way") or i + 2
            return tok.value / 100, self.mark(self._of_clip(j))
        return None

    def time(self, i: int, what: str = "time") -> Optional[tuple[Fraction, int, bool]]:
        """TIME: seconds, frames, timecode, start, or a point of the clip (relative: third value)."""
        if i >= len(self.t):
            return None
        tok = self.t[i]
        if tok.kind == "tc":
            frames = parse_timecode(tok.value, self._rate(f"timecode {tok.text}"), name="prompt timecode")
            return Fraction(frames) / self._rate("timecode"), self.mark(i + 1), False
        if self.word(i) in ("frame", "frames", "second") and i + 1 < len(self.t) and self.t[i + 1].kind == "num" \
                and self.t[i + 1].unit is None:
            return self.seconds(self.t[i + 1].value, self.word(i), what), self.mark(i + 2), False  # type: ignore[arg-type]
        if self.word(i) in ("start", "beginning", "outset", "top", "head", "first"):
            if self.word(i) == "first" and self.word(i + 1) != "frame":
                return None
            j = self.take(i + 1, {"frame"}) or i + 1
            j = self.seq(j, "of") and self.take(j + 1, CLIP_WORDS) or j
            return Fraction(0), self.mark(j), False
        point = self.clip_point(i)
        if point is not None:
            return point[0], point[1], True
        if self.word(i) in ("second", "minute", "frame"):
            return self.seconds(Fraction(1), self.t[i].text, what), self.mark(i + 1), False
        num = self.number(i, allow_unit=True)
        if num is None:
            return None
        value, unit, j = num
        if unit not in SECOND_UNITS and unit not in FRAME_UNITS:
            return None
        if self.seq(j, "and", "half") is not None or self.seq(j, "and", "a", "half") is not None:
            j += 2 if self.word(j + 1) == "half" else 3
            value += Fraction(1, 2)
        j = self.take(j, {"mark", "in", "into"}) or j
        j = self.take(j, CLIP_WORDS) or j
        return exact_seconds(self.seconds(value, unit, what), "prompt time"), self.mark(j), False

    # -------------------------------------------------------------------------------- timing

    def _part_span(self, i: int) -> Optional[tuple[Fraction, Fraction, int]]:
        """"the second half", "the first third", "the last quarter" of the clip."""
        w, part = self.word(i), self.word(i + 1)
        if w not in PART_SPANS or part not in ("half", "third", "quarter"):
            return None
        size = PART_FRACTIONS[part]  # type: ignore[index]
        start = 0 if PART_SPANS[w] == 0 else (size if PART_SPANS[w] == 1 else 1 - size)  # type: ignore[index]
        j = self.seq(i + 2, "of") and self.take(i + 3, CLIP_WORDS) or i + 2
        return Fraction(start), Fraction(start) + size, self.mark(j)

    def _set_time(self, timing: Timing, relative: bool) -> None:
        timing.relative = timing.relative or relative

    def timing(self, i: int, timing: Timing) -> Optional[int]:
        """One timing or speed phrase into ``timing``; the new index or None."""
        w = self.word(i)
        for words, field, value in ((QUICK_WORDS, "speed", QUICK_PULL_SECONDS), (SLOW_WORDS, "speed", SLOW_PULL_SECONDS),
                                    (LINEAR_WORDS, "interp", Interp.LINEAR), (EASE_WORDS, "interp", Interp.EASE),
                                    (CUT_WORDS, "interp", Interp.HOLD)):
            if w in words:
                setattr(timing, field, value)
                return self.mark(i + 1)
        if w in HOLD_WORDS:
            return self.mark(self.take(i + 1, {"there", "it", "focus"}) or i + 1)
        if w in WHOLE_WORDS and self.word(i + 1) in CLIP_WORDS | {"time", "way"}:
            return self.mark(self.take(i + 2, {"through"}) or i + 2)
        if w in ("throughout",) or (w in ("over", "across", "during", "for", "through", "throughout", "in")
                                    and self.word(i + 1) in WHOLE_WORDS | {"course"}):
            j = self.seq(i + 1, "course", "of") or self.take(i + 1, WHOLE_WORDS) or i + 1
            j = self.take(j, CLIP_WORDS) or j
            if w != "throughout" and self.word(j - 1) not in CLIP_WORDS:
                return None
            timing.whole = True
            return self.mark(j)
        if w in ("over", "across", "during", "in", "for", "through") and self._part_span(i + 1) is not None:
            start, end, j = self._part_span(i + 1)  # type: ignore[misc]
            timing.start, timing.end = start, end
            self._set_time(timing, True)
            return j
        if w in CLIP_FRACTIONS or w in PART_FRACTIONS or w in ("one", "two", "three") and self.word(i + 1) in PART_FRACTIONS:
            point = self.clip_point(i)
            if point is not None:
                timing.start = point[0]
                self._set_time(timing, True)
                return point[1]
        if w == "at" or w in ("starting", "beginning", "after", "from", "once", "when"):
            j = i + 1
            if w in ("starting", "beginning") and self.word(j) in ("at", "from"):
                j += 1
            got = self.time(j, "start time")
            if got is None:
                return None
            start, j, relative = got
            if w == "from" or self.word(j) in ("to", "until", "till"):
                if self.word(j) in ("to", "until", "till", "and"):
                    end = self.time(j + 1, "end time")
                    if end is None:
                        return None
                    timing.start, timing.end = start, end[0]
                    self._set_time(timing, relative or end[2])
                    return self.mark(end[1])
                if w == "from":
                    return None
            timing.start = start
            self._set_time(timing, relative)
            return self.mark(j)
        if w not in ("at", "from", "after", "by", "until", "over", "for", "in") and self.number(i, True) is not None:
            got = self.time(i, "time")
            if got is not None and self.word(got[1]) in ("to", "until", "till"):
                end = self.time(got[1] + 1, "end time")
                if end is not None:
                    timing.start, timing.end = got[0], end[0]
                    self._set_time(timing, got[2] or end[2])
                    return self.mark(end[1])
            if got is not None and self.word(got[1] - 1) in ("in", "into"):
                timing.start = got[0]
                return got[1]
        if w == "between":
            got = self.time(i + 1, "start time")
            if got is None or self.word(got[1]) not in ("and", "to"):
                return None
            end = self.time(got[1] + 1, "end time")
            if end is None:
                return None
            timing.start, timing.end = got[0], end[0]
            self._set_time(timing, got[2] or end[2])
            return self.mark(end[1])
        if w in ("over", "for", "lasting", "taking", "during", "within", "across", "in"):
            got = self.time(i + 1, "duration")
            if got is None or got[2]:
                return None
            timing.duration = got[0]
            return self.mark(got[1])
        if w in ("until", "by", "till") or (w == "ending" and self.word(i + 1) == "at"):
            j = i + 2 if w == "ending" else i + 1
            got = self.time(j, "end time")
            if got is None:
                return None
            timing.end = got[0]
            self._set_time(timing, got[2])
            return self.mark(got[1])
        return None

    def timings(self, i: int, timing: Timing) -> int:
        while i < len(self.t):
            j = self.timing(i, timing)
            if j is None:
                break
            i = j
        return i

    # ------------------------------------------------------------------------------- targets

    def _place_tail(self, j: int) -> int:
        """After a place word: nouns, "away", "of the frame", "to the camera"."""
        while True:
            k = self.take(j, TARGET_NOUNS | SCENE_NOUNS | {"away", "off"})
            if k is None and self.word(j) in ("of", "in") and self.word(j + 1) in FRAME_WORDS:
                k = j + 2
            if k is None and self.word(j) in ("to", "from") and self.word(j + 1) in CAMERA_WORDS:
                k = j + 2
            if k is None and self.word(j) in CAMERA_WORDS and self.word(j - 1) in NEAR_WORDS | FAR_WORDS:
                k = j + 1
            if k is None:
                return self.mark(j)
            j = k

    def _symbolic(self, i: int) -> Optional[tuple[Target, int]]:
        w = self.word(i)
        for words, name in _SYMBOLIC:
            if w in words:
                if w in ("front", "back") and self.word(i + 1) == "of" and self.word(i + 2) not in FRAME_WORDS:
                    return None
                return SymbolicTarget(name), self._place_tail(i + 1)
        if w in ORDINALS and w not in NEAR_WORDS:
            nxt = self.word(i + 1)
            if nxt in TARGET_NOUNS:
                return SymbolicTarget(ORDINALS[w]), self._place_tail(i + 1)  # type: ignore[index]
            if w == "second" and nxt in ("closest", "nearest", "farthest", "furthest"):
                return SymbolicTarget("middle"), self._place_tail(i + 2)
        return None

    def target(self, i: int) -> Optional[tuple[Target, int]]:
        got = self._symbolic(i)
        if got is not None:
            return got
        w = self.word(i)
        if w in PLACE_LEADS or w in NOUN_LEADS:
            j = i
            while self.word(j) in PLACE_LEADS | TARGET_NOUNS | SCENE_NOUNS | PLACE_LINKS and self._symbolic(j) is None:
                j += 1
            got = self._symbolic(j) if j > i else None
            if got is not None:
                return got[0], self.mark(got[1])
        got = self._measured(i)
        if got is not None:
            return got
        return self.subject(i) if self.subjects else None

    def subject(self, i: int) -> Optional[tuple[Target, int]]:
        """A named subject: up to :data:`MAX_SUBJECT_WORDS` words that are no grammar word."""
        j = i
        words: list[str] = []
        while len(words) < MAX_SUBJECT_WORDS:
            w = self.word(j)
            if w is None or w in NOT_SUBJECT_WORDS:
                break
            if w == "in" and self.word(j + 1) in ("focus", "sharp", "frame", "shot"):
                break
            if w == "focus" or w in CLIP_FRACTIONS:
                break
            words.append(w)
            j += 1
        links = ("in", "of", "on", "with", "at", "and", "or")
        if not words or words[0] in links or words[-1] in links:
            return None
        text = self.source[self.t[i].start:self.t[j - 1].end] if self.source else " ".join(words)
        return SubjectTarget(text), self.mark(j)

    def _measured(self, i: int) -> Optional[tuple[Target, int]]:
        """disparity N, depth N m, point X,Y, box X0 Y0 X1 Y1, N (disparity), N m, X, Y."""
        w = self.word(i)
        if w == "disparity":
            j = self.take(i + 1, {"of", "at"}) or i + 1
            num = self.number(j)
            if num is not None:
                if not 0 <= num[0] <= 1:
                    raise UsageError(f"prompt: disparity must be in [0, 1], got {float(num[0]):g}")
                return DisparityTarget(float(num[0])), self.mark(num[2])
            return None
        if w in ("depth", "distance"):
            j = self.take(i + 1, {"of", "at"}) or i + 1
            num = self.number(j, allow_unit=True)
            if num is not None and num[1] in DEPTH_UNITS:
                return self._depth(num[0], num[1]), self.mark(self.take(num[2], {"away"}) or num[2])
            return None
        if w in ("point", "pixel", "position", "xy", "coordinates", "coordinate"):
            j = self.take(i + 1, {"at", "of"}) or i + 1
            pair = self._numbers(j, 2)
            if pair is None:
                return None
            values, j, pixels = pair
            return PointTarget(float(values[0]), float(values[1]), pixels=pixels), self.mark(j)
        if w in ("box", "region", "rect", "rectangle"):
            j = self.take(i + 1, {"at", "of"}) or i + 1
            quad = self._numbers(j, 4)
            if quad is None:
                return None
            values, j, pixels = quad
            return RegionTarget(box=tuple(float(v) for v in values), pixels=pixels), self.mark(j)
        if i < len(self.t) and self.t[i].kind == "num":
            tok = self.t[i]
            if i + 2 < len(self.t) and self.t[i + 1].text == "," and self.t[i + 2].kind == "num":
                pair = self._numbers(i, 2)
                if pair is not None:
                    values, j, pixels = pair
                    return PointTarget(float(values[0]), float(values[1]), pixels=pixels), self.mark(j)
            num = self.number(i, allow_unit=True)
            if num is None:
                return None
            value, unit, j = num
            if unit in DEPTH_UNITS:
                return self._depth(value, unit), self.mark(self.take(j, {"away"}) or j)
            if unit is None:
                if not 0 <= value <= 1:
                    raise UsageError(f"prompt: focus value {tok.text} is neither a normalized disparity in "
                                     f"[0, 1] nor a depth (write {tok.text}m for metres)")
                return DisparityTarget(float(value)), self.mark(j)
        return None

    def _depth(self, value: Fraction, unit: str) -> DepthTarget:
        metres = value * DEPTH_UNITS[unit]
        if metres <= 0:
            raise UsageError(f"prompt: focus depth must be positive, got {float(value):g}{unit}")
        return DepthTarget(float(metres))

    def _numbers(self, i: int, n: int) -> Optional[tuple[list[Fraction], int, bool]]:
        values: list[Fraction] = []
        pixels = False
        j = i
        while len(values) < n:
            if j < len(self.t) and self.t[j].text == "," and values:
                j += 1
            if j >= len(self.t) or self.t[j].kind != "num":
                return None
            tok = self.t[j]
            if tok.unit is not None:
                if tok.unit not in PIXEL_UNITS:
                    return None
                pixels = True
            values.append(tok.value)
            j += 1
        if self.word(j) in PIXEL_UNITS:
            pixels, j = True, j + 1
        return values, j, pixels


__all__ = ["DEFAULT_PULL_SECONDS", "QUICK_PULL_SECONDS", "SLOW_PULL_SECONDS", "TermReader", "Timing"]
