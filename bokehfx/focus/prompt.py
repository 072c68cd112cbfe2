"""The ``--prompt`` grammar: focus instructions in plain words, parsed deterministically.

A prompt is read without guessing: every word must belong to a form below, or the prompt is
refused with a :class:`bokehfx.errors.UsageError` that quotes the part not understood and lists
the accepted forms. Matching ignores case, the words *the, a, an, please, just, very, really,
quite, so* and brackets.

Grammar (``[x]`` optional, ``x | y`` either, ``{x}`` repeated)::

    prompt    := clause { SEP clause }
    SEP       := "," | ";" | "." | "and" | "then" | "while" | "but" | "plus" | "also"
               | "with"                       (not after start/begin/open/end)
                                              ("and" inside "between TIME and TIME" is not a SEP)
    clause    := static | pull | blur | dof | fstop

    static    := FOCUS [PREP] target {timing}          focus on the foreground / focus at 0.35
               | [KEEP] target [STAY] SHARP {timing}   keep the background sharp / foreground in focus
               | START [PREP] target                   start on the foreground
    pull      := [FOCUS] MOVE [FOCUS] { "from" target | TO target | timing | speed }
                                                      rack focus to the background at 2s over 1s
               | FOCUS "from" target TO target {timing | speed}
               | END [PREP] target                     end on the background (arrives on the last frame)
    blur      := [ADD] [SIZE] BLURWORD [["of" | "k"] NUMBER] [OBJECT] [ADVERB]
               | ADD SIZE BLURWORD | "k" NUMBER | "no blur"
                                                      a small blur / blur 12 / blur the rest heavily
    dof       := DOFSIZE ("depth of field" | "dof" | "focus")   shallow depth of field
               | "everything" ("in focus" | "sharp")
    fstop     := ["at" | "aperture" | "f-stop" | "f-number"] ("f/N" | "fN" | "f N" | N)   f/1.4

    target    := NEAR | MIDDLE | FAR [NOUN]
               | NUMBER in [0, 1]                      a normalized disparity (1 = nearest)
               | "disparity" ["of" | "at"] NUMBER
               | NUMBER ("m" | "metres" | "meters" | "cm" | "mm") ["away"]     a depth
               | ("point" | "pixel" | "position") NUMBER [","] NUMBER ["px"]
               | ("box" | "region" | "rect" | "rectangle") NUMBER NUMBER NUMBER NUMBER ["px"]
               | NUMBER "," NUMBER                     a point
    timing    := "at" TIME | ("starting" | "beginning") ["at"] TIME | "after" TIME
               | ("over" | "for" | "lasting" | "taking" | "during" | "within") DURATION
               | ("between" | "from") TIME ("and" | "to" | "until") TIME
               | ("until" | "by" | "till" | "ending at") TIME
    TIME      := NUMBER ("s" | "sec" | "second(s)" | "ms" | "min" | "minute(s)" | "f" | "frame(s)")
               | "frame" NUMBER | HH:MM:SS:FF | HH:MM:SS;FF (drop-frame) | "start" | "beginning"
               | one..twelve / half + unit, or a bare unit ("over a second")
    speed     := quick words (0.5 s pull) | slow words (2 s pull) | "linearly" | "smoothly" | "cut"

Vocabulary: NEAR = near, foreground, front, fg, closest, nearest, close; MIDDLE = middle,
midground, mid-ground, mid, middle-ground; FAR = far, background, back, bg, distance, farthest,
furthest, horizon, backdrop. FOCUS = focus, focused, focusing, focuses, refocus on ... (see
:data:`FOCUS_WORDS`); MOVE = rack, pull, shift, transition, move, go, travel, drift, change,
switch, sweep, slide (any tense); SHARP = sharp, crisp, clear, "in focus", focused. SIZE words
map to :data:`bokehfx.focus.plan.BLUR_LABELS`: small (small, slight, subtle, light, little,
gentle, mild, soft, minimal), medium (medium, moderate, normal, some, average), large (large,
big, heavy, strong, huge, lots, extreme, massive, creamy, dreamy); the adverbs heavily /
strongly / a lot, slightly / lightly / a little / gently / subtly, moderately / somewhat do the
same. DOFSIZE: shallow / narrow / thin / small → large blur; medium / moderate → medium;
deep / wide / large / big / great → small blur.

Meaning (deterministic rules):

- Times are from the clip's first frame. Timecode and frame counts need the clip's ``rate``.
- A static focus with no time is the starting focus; with ``at T`` it cuts to the target at T.
- A pull with ``at T`` lasts :data:`DEFAULT_PULL_SECONDS` (0.5 s when quick, 2 s when slow)
  unless ``over D`` or an end time is given; ``over D`` alone starts at the previous keyframe
  (or 0). A pull with no time spans the whole clip, first frame to last; nothing can follow it.
- A pull with no ``from`` starts from the focus before it, or from the middle. Pulls ease in
  and out unless told ``linearly`` or ``cut``.
- Blur applies to the whole plan. An explicit value (``blur 12``, ``f/1.4``) wins over a word
  (``shallow``, ``large``); two different explicit values, or two different words, are an error.
  With no blur stated the blur is medium.
- ``blur the background`` with no focus stated focuses near; ``blur the foreground`` far; with no
  focus at all the focus is the middle.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Optional, Sequence, Union

from bokehfx.errors import UsageError
from bokehfx.focus.plan import (
    DEFAULT_BLUR_LABEL,
    DEFAULT_TARGET_NAME,
    Blur,
    DepthTarget,
    DisparityTarget,
    FocusPlan,
    Interp,
    Keyframe,
    PointTarget,
    RegionTarget,
    SymbolicTarget,
    Target,
    parse_blur,
    parse_target,
)
from bokehfx.timecode import RateLike, exact_rate, exact_seconds, parse_timecode

#: Duration of a pull given a start time but no duration, in seconds.
DEFAULT_PULL_SECONDS = Fraction(1)
QUICK_PULL_SECONDS = Fraction(1, 2)
SLOW_PULL_SECONDS = Fraction(2)

ACCEPTED_FORMS = (
    "accepted forms: 'focus on the foreground|middle|background', 'focus at 0.35', "
    "'focus at 2m', 'focus on point 0.5,0.4', 'focus on box 0.2 0.2 0.6 0.8', "
    "'keep the background sharp', 'rack focus to the background at 2s over 1s', "
    "'pull focus from near to far between 00:00:01:00 and 00:00:03:12', "
    "'the focus transitions from the foreground to the background', "
    "'a small|medium|large blur', 'blur the rest heavily', 'blur 12', 'f/1.4', "
    "'shallow depth of field'"
)

FILLER = frozenset({"the", "a", "an", "please", "just", "very", "really", "quite", "so", "(", ")", "="})
SEPARATOR_WORDS = frozenset({"and", "then", "while", "but", "plus", "also", "with"})
NO_SPLIT_BEFORE_WITH = frozenset({"start", "starts", "starting", "begin", "begins", "beginning", "open",
                                  "opens", "opening", "end", "ends", "ending"})

NEAR_WORDS = frozenset({"near", "foreground", "fore-ground", "front", "fg", "closest", "nearest", "close"})
MIDDLE_WORDS = frozenset({"middle", "midground", "mid-ground", "mid", "middle-ground", "midrange", "mid-range"})
FAR_WORDS = frozenset({"far", "background", "back-ground", "back", "bg", "distance", "farthest",
                       "furthest", "horizon", "backdrop"})
TARGET_NOUNS = frozenset({"subject", "subjects", "object", "objects", "plane", "area", "areas", "part",
                          "layer", "elements", "element", "ground", "distance", "field", "region", "things"})
FOCUS_WORDS = frozenset({"focus", "focused", "focusing", "focussed", "focussing", "focuses", "refocus",
                         "refocuses", "refocused"})
FOCUS_LEAD = frozenset({"set", "put", "place", "keep", "hold", "lock", "sets", "puts", "lay"})
PREPS = frozenset({"on", "at", "to", "onto", "in", "upon", "into", "is", "stays", "remains", "sits", "of"})
MOVE_WORDS = frozenset({
    "rack", "racks", "racking", "racked", "pull", "pulls", "pulling", "pulled", "shift", "shifts",
    "shifting", "shifted", "transition", "transitions", "transitioning", "transitioned", "move", "moves",
    "moving", "moved", "go", "goes", "going", "went", "travel", "travels", "traveling", "travelling",
    "drift", "drifts", "drifting", "change", "changes", "changing", "changed", "switch", "switches",
    "switching", "switched", "sweep", "sweeps", "sweeping", "slide", "slides", "sliding", "glide",
    "glides", "gliding", "passes", "pass", "jumps", "jump", "snaps", "snap",
})
TO_WORDS = frozenset({"to", "onto", "towards", "toward", "into", "on"})
KEEP_WORDS = frozenset({"keep", "make", "leave", "have", "hold", "get", "let", "render", "show"})
STAY_WORDS = frozenset({"is", "stays", "stay", "remains", "remain", "be", "are", "looks", "look", "kept"})
SHARP_WORDS = frozenset({"sharp", "crisp", "clear", "focused", "focussed", "sharper"})
START_WORDS = frozenset({"start", "starts", "starting", "begin", "begins", "beginning", "open", "opens",
                         "opening"})
END_WORDS = frozenset({"end", "ends", "ending", "finish", "finishes", "finishing", "land", "lands", "landing",
                       "settle", "settles", "settling"})
QUICK_WORDS = frozenset({"quick", "quickly", "fast", "rapid", "rapidly", "snappy"})
SLOW_WORDS = frozenset({"slow", "slowly", "gradual", "gradually", "lazy", "lazily"})
LINEAR_WORDS = frozenset({"linear", "linearly", "evenly", "steadily", "constant"})
EASE_WORDS = frozenset({"smooth", "smoothly", "eased", "ease", "ease-in-out", "naturally"})
CUT_WORDS = frozenset({"cut", "instantly", "suddenly", "abruptly", "immediately", "instant"})

SIZE_WORDS = {
    "small": "small", "slight": "small", "subtle": "small", "light": "small", "little": "small",
    "gentle": "small", "mild": "small", "soft": "small", "minimal": "small", "tiny": "small", "low": "small",
    "medium": "medium", "moderate": "medium", "normal": "medium", "some": "medium", "average": "medium",
    "mid": "medium", "regular": "medium",
    "large": "large", "big": "large", "heavy": "large", "strong": "large", "huge": "large", "lots": "large",
    "extreme": "large", "massive": "large", "creamy": "large", "dreamy": "large", "high": "large",
    "maximum": "large", "intense": "large", "lot": "large",
}
ADVERB_SIZES = {
    "heavily": "large", "strongly": "large", "massively": "large", "hard": "large", "intensely": "large",
    "much": "large", "lot": "large", "lots": "large", "more": "large",
    "slightly": "small", "lightly": "small", "gently": "small", "subtly": "small", "softly": "small",
    "mildly": "small", "little": "small", "bit": "small", "less": "small",
    "moderately": "medium", "somewhat": "medium", "medium": "medium",
}
BLUR_WORDS = frozenset({"blur", "blurred", "blurry", "blurring", "blurs", "bokeh", "defocus", "defocused",
                        "blurriness", "out-of-focus"})
ADD_WORDS = frozenset({"add", "adding", "adds", "introduce", "introducing", "introduces", "use", "using",
                       "apply", "applying", "give", "giving", "want", "set", "sets", "create", "creating",
                       "make", "making", "of", "get", "gets", "put"})
BLUR_OBJECTS = {
    "rest": None, "everything": None, "else": None, "it": None, "frame": None, "image": None,
    "picture": None, "shot": None, "scene": None, "others": None, "other": None,
    "background": "near", "bg": "near", "backdrop": "near",
    "foreground": "far", "fg": "far",
}
DOF_SIZES = {"shallow": "large", "narrow": "large", "thin": "large", "small": "large", "tight": "large",
             "medium": "medium", "moderate": "medium", "normal": "medium",
             "deep": "small", "wide": "small", "large": "small", "big": "small", "great": "small",
             "long": "small"}
NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "half": Fraction(1, 2)}
SECOND_UNITS = {"s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1, "ms": Fraction(1, 1000),
                "millisecond": Fraction(1, 1000), "milliseconds": Fraction(1, 1000),
                "min": 60, "mins": 60, "minute": 60, "minutes": 60}
FRAME_UNITS = frozenset({"f", "fr", "frame", "frames"})
DEPTH_UNITS = {"m": 1, "metre": 1, "metres": 1, "meter": 1, "meters": 1, "cm": Fraction(1, 100),
               "mm": Fraction(1, 1000)}
PIXEL_UNITS = frozenset({"px", "pixel", "pixels"})
#: Numbers with more integer digits than this are not understood (no focus value is that large).
MAX_INTEGER_DIGITS = 9

_TOKEN = re.compile(
    r"(?P<tc>[0-9]{1,2}:[0-9]{2}:[0-9]{2}[:;][0-9]{2,3})"
    r"|(?P<fnum>(?<![a-z])f\s*/\s*(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)|(?<![a-z])f(?:[0-9]+(?:\.[0-9]+)?)(?![a-z0-9.]))"
    r"|(?P<num>[0-9]+(?:\.[0-9]+)?|\.[0-9]+)(?P<unit>[a-z]+(?![a-z']))?"
    r"|(?P<word>[a-z]+(?:['-][a-z]+)*)"
    r"|(?P<punct>[,;.()=])"
    r"|(?P<space>\s+)"
    r"|(?P<other>.)",
    re.DOTALL,
)


@dataclass(frozen=True)
class Token:
    """One lexical token with its span in the (lower-cased) prompt."""

    kind: str  # word, num, tc, fnum, punct, other
    text: str
    start: int
    end: int
    value: Any = None
    unit: Optional[str] = None


def tokenize(text: str) -> list[Token]:
    """Split a prompt into tokens (see the grammar); never raises."""
    lowered = text.lower().replace("\u2019", "'")
    tokens: list[Token] = []
    for m in _TOKEN.finditer(lowered):
        kind = m.lastgroup if m.lastgroup != "unit" else "num"
        if m.group("num") is not None:
            kind = "num"
        if kind == "space":
            continue
        if kind == "num" and len(m.group("num").split(".")[0]) > MAX_INTEGER_DIGITS:
            tokens.append(Token("other", m.group(0), m.start(), m.end()))
        elif kind == "num":
            tokens.append(Token("num", m.group(0), m.start(), m.end(), Fraction(m.group("num")), m.group("unit")))
        elif kind == "fnum":
            digits = m.group(0)[1:].replace("/", "").strip()
            if len(digits.split(".")[0]) > MAX_INTEGER_DIGITS:
                tokens.append(Token("other", m.group(0), m.start(), m.end()))
                continue
            tokens.append(Token("fnum", m.group(0), m.start(), m.end(), Fraction(digits)))
        elif kind == "tc":
            tokens.append(Token("tc", m.group(0), m.start(), m.end(), m.group(0)))
        else:
            tokens.append(Token(kind or "other", m.group(0), m.start(), m.end()))
    return tokens


def _split_clauses(tokens: list[Token]) -> list[list[Token]]:
    clauses: list[list[Token]] = [[]]
    in_between = False
    for i, tok in enumerate(tokens):
        prev = tokens[i - 1] if i else None
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if tok.kind == "word" and tok.text == "between":
            in_between = True
        if tok.kind == "punct" and tok.text in ",;.":
            if tok.text == "," and prev is not None and nxt is not None and prev.kind == "num" and nxt.kind == "num":
                clauses[-1].append(tok)
                continue
            clauses.append([])
            in_between = False
            continue
        if tok.kind == "word" and tok.text in SEPARATOR_WORDS:
            if tok.text == "and" and in_between:
                in_between = False
                clauses[-1].append(tok)
                continue
            if tok.text == "with" and prev is not None and prev.text in NO_SPLIT_BEFORE_WITH:
                clauses[-1].append(tok)
                continue
            clauses.append([])
            continue
        clauses[-1].append(tok)
    return [[t for t in c if t.text not in FILLER] for c in clauses if c]


# ----------------------------------------------------------------------------------- clause model


@dataclass
class _Timing:
    start: Optional[Fraction] = None
    end: Optional[Fraction] = None
    duration: Optional[Fraction] = None
    speed: Optional[Fraction] = None
    interp: Optional[Interp] = None


@dataclass
class _Clause:
    kind: str  # static, pull, end, blur
    target: Optional[Target] = None
    source: Optional[Target] = None
    timing: Optional[_Timing] = None
    blur_word: Optional[str] = None
    blur_value: Optional[Blur] = None
    implied: Optional[str] = None


class _Reader:
    """Recursive-descent matching over one clause's tokens; each method returns a new index or None."""

    def __init__(self, tokens: list[Token], rate: Optional[Fraction]) -> None:
        self.t = tokens
        self.rate = rate
        self.furthest = 0

    def word(self, i: int) -> Optional[str]:
        return self.t[i].text if i < len(self.t) and self.t[i].kind == "word" else None

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
            w = self.word(i + 1)
            if w is not None and (w in SECOND_UNITS or w in FRAME_UNITS):
                return Fraction(NUMBER_WORDS[tok.text]), w, i + 2
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

    def time(self, i: int, what: str = "time") -> Optional[tuple[Fraction, int]]:
        """TIME: seconds, frames, timecode, 'start'/'beginning', a bare unit ('a second')."""
        if i >= len(self.t):
            return None
        tok = self.t[i]
        if tok.kind == "tc":
            frames = parse_timecode(tok.value, self._rate(f"timecode {tok.text}"), name="prompt timecode")
            return Fraction(frames) / self._rate("timecode"), self.mark(i + 1)
        if self.word(i) in ("frame", "frames") and i + 1 < len(self.t) and self.t[i + 1].kind == "num" \
                and self.t[i + 1].unit is None:
            return self.seconds(self.t[i + 1].value, "frame", what), self.mark(i + 2)
        if self.word(i) in ("start", "beginning"):
            j = self.seq(i + 1, "of", "clip") or self.seq(i + 1, "of", "shot") or i + 1
            return Fraction(0), self.mark(j)
        if self.word(i) in ("second", "minute", "frame"):
            return self.seconds(Fraction(1), self.t[i].text, what), self.mark(i + 1)
        num = self.number(i, allow_unit=True)
        if num is None:
            return None
        value, unit, j = num
        if unit not in SECOND_UNITS and unit not in FRAME_UNITS:
            return None
        return exact_seconds(self.seconds(value, unit, what), "prompt time"), self.mark(j)

    # ------------------------------------------------------------------------------- targets

    def target(self, i: int) -> Optional[tuple[Target, int]]:
        w = self.word(i)
        for words, name in ((NEAR_WORDS, "near"), (MIDDLE_WORDS, "middle"), (FAR_WORDS, "far")):
            if w in words:
                j = i + 1
                while self.word(j) in TARGET_NOUNS:
                    j += 1
                if self.word(j) == "of" and self.word(j + 1) in ("frame", "shot", "image", "scene", "picture"):
                    j += 2
                return SymbolicTarget(name), self.mark(j)
        if w == "disparity":
            j = self.take(i + 1, {"of", "at"}) or i + 1
            num = self.number(j)
            if num is not None:
                if not 0 <= num[0] <= 1:
                    raise UsageError(f"prompt: disparity must be in [0, 1], got {float(num[0]):g}")
                return DisparityTarget(float(num[0])), self.mark(num[2])
            return None
        if w == "depth":
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

    # -------------------------------------------------------------------------------- timing

    def timing(self, i: int, timing: _Timing) -> Optional[int]:
        """One timing or speed phrase into ``timing``; the new index or None."""
        w = self.word(i)
        if w in QUICK_WORDS:
            timing.speed = QUICK_PULL_SECONDS
            return self.mark(i + 1)
        if w in SLOW_WORDS:
            timing.speed = SLOW_PULL_SECONDS
            return self.mark(i + 1)
        if w in LINEAR_WORDS:
            timing.interp = Interp.LINEAR
            return self.mark(i + 1)
        if w in EASE_WORDS:
            timing.interp = Interp.EASE
            return self.mark(i + 1)
        if w in CUT_WORDS:
            timing.interp = Interp.HOLD
            return self.mark(i + 1)
        if w == "at" or w in ("starting", "beginning", "after", "from"):
            j = i + 1
            if w in ("starting", "beginning") and self.word(j) in ("at", "from"):
                j += 1
            got = self.time(j, "start time")
            if got is None:
                return None
            start, j = got
            if w == "from" or self.word(j) in ("to", "until", "till"):
                if self.word(j) in ("to", "until", "till", "and"):
                    end = self.time(j + 1, "end time")
                    if end is None:
                        return None
                    timing.start, timing.end = start, end[0]
                    return self.mark(end[1])
                if w == "from":
                    return None
            timing.start = start
            return self.mark(j)
        if w == "between":
            got = self.time(i + 1, "start time")
            if got is None or self.word(got[1]) not in ("and", "to"):
                return None
            end = self.time(got[1] + 1, "end time")
            if end is None:
                return None
            timing.start, timing.end = got[0], end[0]
            return self.mark(end[1])
        if w in ("over", "for", "lasting", "taking", "during", "within"):
            got = self.time(i + 1, "duration")
            if got is None:
                return None
            timing.duration = got[0]
            return self.mark(got[1])
        if w in ("until", "by", "till") or (w == "ending" and self.word(i + 1) == "at"):
            j = i + 2 if w == "ending" else i + 1
            got = self.time(j, "end time")
            if got is None:
                return None
            timing.end = got[0]
            return self.mark(got[1])
        return None

    def timings(self, i: int, timing: _Timing) -> int:
        while i < len(self.t):
            j = self.timing(i, timing)
            if j is None:
                break
            i = j
        return i

    # ------------------------------------------------------------------------------- clauses

    def static(self, i: int) -> Optional[tuple[_Clause, int]]:
        j = i
        if self.word(j) in FOCUS_LEAD and self.word(j + 1) in FOCUS_WORDS:
            j += 1
        if self.word(j) in FOCUS_WORDS:
            j = self.mark(j + 1)
            while self.word(j) in PREPS:
                j = self.mark(j + 1)
            got = self.target(j)
            if got is None:
                return None
            timing = _Timing()
            k = self.timings(got[1], timing)
            return _Clause("static", target=got[0], timing=timing), k
        if self.word(j) in START_WORDS:
            j = self.mark(j + 1)
            while self.word(j) in PREPS or self.word(j) == "with" or self.word(j) in FOCUS_WORDS:
                j = self.mark(j + 1)
            got = self.target(j)
            if got is None:
                return None
            return _Clause("static", target=got[0], timing=_Timing(start=Fraction(0))), got[1]
        j = self.take(i, KEEP_WORDS) or i
        got = self.target(j)
        if got is None:
            return None
        k = got[1]
        while self.word(k) in STAY_WORDS:
            k = self.mark(k + 1)
        sharp = self.take(k, SHARP_WORDS) or self.seq(k, "in", "focus")
        if sharp is None:
            return None
        timing = _Timing()
        k = self.timings(sharp, timing)
        return _Clause("static", target=got[0], timing=timing), k

    def pull(self, i: int) -> Optional[tuple[_Clause, int]]:
        j = i
        timing = _Timing()
        j = self.timings(j, timing)
        if self.word(j) in END_WORDS:
            k = self.mark(j + 1)
            while self.word(k) in PREPS or self.word(k) in FOCUS_WORDS or self.word(k) == "with":
                k = self.mark(k + 1)
            got = self.target(k)
            if got is None:
                return None
            return _Clause("end", target=got[0], timing=timing), got[1]
        saw_focus = False
        if self.word(j) in FOCUS_LEAD and self.word(j + 1) in FOCUS_WORDS:
            j += 1
        if self.word(j) in FOCUS_WORDS:
            j, saw_focus = self.mark(j + 1), True
        saw_move = False
        for _ in range(2):
            if self.word(j) in CUT_WORDS:
                timing.interp, j, saw_move = Interp.HOLD, self.mark(j + 1), True
            j = self.timings(j, timing)
            if self.word(j) in MOVE_WORDS:
                j, saw_move = self.mark(j + 1), True
            if self.word(j) in FOCUS_WORDS:
                j, saw_focus = self.mark(j + 1), True
        if self.word(j) == "back" and self.word(j + 1) in TO_WORDS:
            j = self.mark(j + 1)
        saw_move = saw_move or timing.interp is Interp.HOLD
        if not saw_move and not (saw_focus and self.word(j) == "from"):
            return None
        source = target = None
        while j < len(self.t):
            w = self.word(j)
            if w == "from":
                got = self.target(j + 1)
                if got is not None:
                    source, j = got
                    continue
            if w in TO_WORDS or w == "over" and self.word(j + 1) == "to":
                k = j + 2 if w == "over" else j + 1
                got = self.target(k)
                if got is not None:
                    target, j = got
                    continue
            k = self.timing(j, timing)
            if k is None:
                break
            j = k
        if target is None:
            return None
        return _Clause("pull", target=target, source=source, timing=timing), j

    def blur(self, i: int) -> Optional[tuple[_Clause, int]]:
        j = i
        while self.word(j) in ADD_WORDS:
            j = self.mark(j + 1)
        size = None
        if self.word(j) in SIZE_WORDS:
            size, j = SIZE_WORDS[self.word(j)], self.mark(j + 1)  # type: ignore[index]
            if self.word(j) == "of":
                j = self.mark(j + 1)
        if self.word(j) == "no" and self.word(j + 1) in BLUR_WORDS:
            return _Clause("blur", blur_value=Blur(0)), self.mark(j + 2)
        if self.word(j) in ("k", "strength"):
            j2 = self.take(j + 1, {"of"}) or j + 1
            num = self.number(j2)
            if num is None:
                return None
            return _Clause("blur", blur_value=Blur(float(num[0]))), self.mark(num[2])
        if self.word(j) not in BLUR_WORDS:
            return None
        j = self.mark(j + 1)
        clause = _Clause("blur", blur_word=size)
        if self.word(j) in ("of", "k", "strength", "amount", "size", "level"):
            if self.number(j + 1) is not None:
                j += 1
            elif self.word(j + 1) in ("k", "of") and self.number(j + 2) is not None:
                j += 2
        num = self.number(j)
        if num is not None:
            clause.blur_value = Blur(float(num[0]))
            j = self.mark(num[2])
        # what is blurred
        while self.word(j) in BLUR_OBJECTS or self.word(j) == "of" and self.word(j + 1) in BLUR_OBJECTS:
            if self.word(j) != "of":
                implied = BLUR_OBJECTS[self.word(j)]  # type: ignore[index]
                clause.implied = clause.implied or implied
            j = self.mark(j + 1)
        # how much
        while self.word(j) in ADVERB_SIZES or self.word(j) in ("a", "bit", "lot"):
            word = self.word(j)
            if word in ADVERB_SIZES:
                size_word = ADVERB_SIZES[word]  # type: ignore[index]
                if clause.blur_word not in (None, size_word):
                    raise UsageError(f"prompt: conflicting blur sizes {clause.blur_word!r} and {size_word!r}")
                clause.blur_word = size_word
            j = self.mark(j + 1)
        return clause, j

    def dof(self, i: int) -> Optional[tuple[_Clause, int]]:
        j = i
        while self.word(j) in ADD_WORDS or self.word(j) == "with":
            j = self.mark(j + 1)
        w = self.word(j)
        if w == "everything" or w == "all":
            k = self.take(j + 1, STAY_WORDS) or j + 1
            end = self.seq(k, "in", "focus") or self.take(k, SHARP_WORDS)
            if end is not None:
                return _Clause("blur", blur_value=Blur(0)), end
            return None
        if w in ("wide", "wide-open") and self.word(j + 1) == "open":
            return _Clause("blur", blur_word="large"), self.mark(j + 2)
        if w not in DOF_SIZES:
            return None
        k = j + 1
        end = self.seq(k, "depth", "of", "field") or self.take(k, {"dof", "focus", "depth-of-field"})
        if end is None:
            return None
        return _Clause("blur", blur_word=DOF_SIZES[w]), end

    def fstop(self, i: int) -> Optional[tuple[_Clause, int]]:
        j = i
        while self.word(j) in ("at", "shot", "aperture", "f-stop", "fstop", "f-number", "of", "iris", "stop",
                               "wide", "open", "shoot", "shooting", "lens", "use", "using", "set", "to"):
            j = self.mark(j + 1)
        if j < len(self.t) and self.t[j].kind == "fnum":
            return _Clause("blur", blur_value=Blur.from_f_number(float(self.t[j].value))), self.mark(j + 1)
        if self.word(j) == "f" and self.number(j + 1) is not None:
            num = self.number(j + 1)
            return _Clause("blur", blur_value=Blur.from_f_number(float(num[0]))), self.mark(num[2])  # type: ignore[index]
        if j > i and any(self.word(k) in ("aperture", "f-stop", "fstop", "f-number") for k in range(i, j)):
            num = self.number(j)
            if num is not None:
                return _Clause("blur", blur_value=Blur.from_f_number(float(num[0]))), self.mark(num[2])
        return None


def _quote(text: str, tokens: Sequence[Token]) -> str:
    return text[tokens[0].start:tokens[-1].end] if tokens else text


def _parse_clause(text: str, tokens: list[Token], rate: Optional[Fraction]) -> _Clause:
    reader = _Reader(tokens, rate)
    for method in (reader.static, reader.pull, reader.blur, reader.dof, reader.fstop):
        got = method(0)
        if got is not None and got[1] == len(tokens):
            return got[0]
    lowered = text.lower().replace("\u2019", "'")
    left = tokens[reader.furthest:] if reader.furthest < len(tokens) else tokens
    whole = _quote(lowered, tokens)
    part = _quote(lowered, left)
    where = f" in {whole!r}" if part != whole else ""
    raise UsageError(f"prompt: did not understand {part!r}{where}; {ACCEPTED_FORMS}")


def _blur_of(clauses: list[_Clause], initial_blur: Optional[Blur] = None) -> Blur:
    values = {c.blur_value.k for c in clauses if c.kind == "blur" and c.blur_value is not None}
    words = {c.blur_word for c in clauses if c.kind == "blur" and c.blur_word is not None}
    if len(values) > 1:
        raise UsageError(f"prompt: more than one blur value ({', '.join(f'{v:g}' for v in sorted(values))}); "
                         "give one")
    if values:
        return Blur(values.pop())
    if len(words) > 1:
        raise UsageError(f"prompt: conflicting blur sizes ({', '.join(sorted(words))}); give one")
    if words:
        return Blur.from_label(words.pop())
    return initial_blur if initial_blur is not None else Blur.from_label(DEFAULT_BLUR_LABEL)


def parse_prompt(text: str, rate: Optional[RateLike] = None, initial: Optional[Target] = None,
                 initial_blur: Optional[Blur] = None) -> FocusPlan:
    """Parse a focus instruction into a :class:`FocusPlan` (grammar in the module docstring).

    Args:
        text (`str`): the instruction, e.g. ``"rack focus to the background at 2s over 1 second"``.
        rate (`RateLike`, *optional*): the clip's frame rate; needed for timecode and frame counts.
        initial (`Target`, *optional*): the focus in force before the prompt (a pull with no
            ``from`` starts there); the middle when None.
        initial_blur (`Blur`, *optional*): the blur when the prompt states none; medium when None.

    Returns:
        `FocusPlan`: keyframes in seconds from the clip's first frame (or relative to its length).

    Raises:
        UsageError: quoting the part not understood and listing the accepted forms, or naming
            the conflict (two blur values, keyframes out of order).
    """
    if not isinstance(text, str):
        raise UsageError(f"prompt must be text, got {type(text).__name__}")
    exact = exact_rate(rate, "fps") if rate is not None else None
    tokens = tokenize(text)
    clauses_tokens = [c for c in _split_clauses(tokens) if c]
    if not clauses_tokens:
        raise UsageError(f"prompt is empty; {ACCEPTED_FORMS}")
    clauses = [_parse_clause(text, ct, exact) for ct in clauses_tokens]
    blur = _blur_of(clauses, initial_blur)
    return _assemble(clauses, blur, initial)


def _assemble(clauses: list[_Clause], blur: Blur, initial: Optional[Target] = None) -> FocusPlan:
    keyframes: list[Keyframe] = []
    whole_clip = False
    focus_clauses = [c for c in clauses if c.kind != "blur"]
    implied = next((c.implied for c in clauses if c.kind == "blur" and c.implied), None)
    default_target: Target = initial if initial is not None else SymbolicTarget(implied or DEFAULT_TARGET_NAME)

    def last_time() -> Fraction:
        return keyframes[-1].time if keyframes else Fraction(0)

    def current() -> Target:
        return keyframes[-1].target if keyframes else default_target

    def add(kf: Keyframe) -> None:
        if whole_clip:
            raise UsageError("prompt: a change of focus with no times spans the whole clip, so nothing "
                             "can follow it; give times (at 2s over 1s)")
        if keyframes and not kf.relative and kf.time < last_time():
            raise UsageError(f"prompt: a focus change at {float(kf.time):g}s comes before the previous one "
                             f"at {float(last_time()):g}s; list changes in order")
        keyframes.append(kf)

    for c in focus_clauses:
        t = c.timing or _Timing()
        if c.kind == "static":
            if t.start is None and t.end is None and t.duration is None:
                if keyframes:
                    raise UsageError("prompt: a second focus with no time; say when it happens (at 3s) or "
                                     "use a rack or pull")
                add(Keyframe(Fraction(0), c.target, blur))  # type: ignore[arg-type]
                continue
            if t.duration is not None or t.end is not None:
                c = _Clause("pull", target=c.target, timing=t)
            else:
                if not keyframes and t.start > 0:  # type: ignore[operator]
                    add(Keyframe(Fraction(0), default_target, blur))
                add(Keyframe(t.start, c.target, blur, t.interp or Interp.HOLD))  # type: ignore[arg-type]
                continue
        if c.kind == "end":
            c = _Clause("pull", target=c.target, timing=t)
            if t.start is None and t.end is None and t.duration is None:
                if not keyframes:
                    add(Keyframe(Fraction(0), default_target, blur, relative=True))
                add(Keyframe(Fraction(1), c.target, blur, t.interp or Interp.EASE, relative=True))  # type: ignore[arg-type]
                whole_clip = True
                continue
        source = c.source or current()
        if c.source is not None and keyframes and c.source != current() and t.start is None:
            raise UsageError(f"prompt: a pull from {_name(c.source)} follows focus on {_name(current())}; "
                             "give it a start time")
        interp = t.interp or Interp.EASE
        if t.start is None and t.end is None and t.duration is None:
            if keyframes:
                add(Keyframe(Fraction(1), c.target, blur, interp, relative=True))  # type: ignore[arg-type]
            else:
                add(Keyframe(Fraction(0), source, blur, relative=True))
                add(Keyframe(Fraction(1), c.target, blur, interp, relative=True))  # type: ignore[arg-type]
            whole_clip = True
            continue
        start = t.start
        end = t.end
        if start is None:
            start = last_time() if end is None or end > last_time() else Fraction(0)
        if end is None and t.duration is None and interp is Interp.HOLD:
            end = start
        if end is None:
            end = start + (t.duration if t.duration is not None else (t.speed or DEFAULT_PULL_SECONDS))
        elif t.duration is not None and end != start + t.duration:
            raise UsageError(f"prompt: a pull from {float(start):g}s to {float(end):g}s cannot last "
                             f"{float(t.duration):g}s")
        if end < start:
            raise UsageError(f"prompt: a pull cannot end ({float(end):g}s) before it starts ({float(start):g}s)")
        if not keyframes and start > 0:
            add(Keyframe(Fraction(0), source, blur))
        add(Keyframe(start, source, blur, Interp.HOLD))
        add(Keyframe(end, c.target, blur, interp if end > start else Interp.HOLD))  # type: ignore[arg-type]
    if not keyframes:
        keyframes.append(Keyframe(Fraction(0), default_target, blur))
    return FocusPlan(tuple(keyframes))


def _name(target: Target) -> str:
    return target.name if isinstance(target, SymbolicTarget) else f"{target.kind} {target.describe()}"


# ------------------------------------------------------------------------------------- the flags


def parse_point(value: Union[str, Sequence[float]], name: str = "--focus-point") -> PointTarget:
    """``"x,y"`` (normalized) or ``"x,y px"`` / ``"640px,360px"`` (pixels) to a :class:`PointTarget`."""
    if isinstance(value, str):
        text = value.strip().lower()
        pixels = "px" in text
        parts = [p.strip().replace("px", "").strip() for p in text.replace("px", "px").split(",")]
        if len(parts) != 2:
            raise UsageError(f"{name} must be X,Y (normalized 0..1, or pixels with px), got {value!r}")
        try:
            x, y = float(parts[0]), float(parts[1])
        except ValueError:
            raise UsageError(f"{name} must be X,Y (normalized 0..1, or pixels with px), got {value!r}") from None
    else:
        pair = list(value)
        if len(pair) != 2:
            raise UsageError(f"{name} must be two numbers x, y, got {value!r}")
        x, y, pixels = pair[0], pair[1], False
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in pair):
            raise UsageError(f"{name} must be two numbers x, y, got {value!r}")
    try:
        return PointTarget(float(x), float(y), pixels=pixels)
    except UsageError as err:
        raise UsageError(f"{name}: {err}") from None


def merge_flags(plan: Optional[FocusPlan] = None, *, focus: Any = None, blur: Any = None,
                focus_point: Any = None) -> FocusPlan:
    """Apply explicit flags over a plan (from a prompt or a timeline): flags win.

    - ``focus`` (``--focus``: a disparity, near/middle/far, or metres like ``2m``) or
      ``focus_point`` (``--focus-point X,Y``) replaces the plan's focus entirely: the result is a
      static focus on that target from the first frame, keeping the plan's first blur.
    - ``blur`` (``--blur``: K, small/medium/large/none or ``f/N``) replaces the blur of every keyframe.

    Args:
        plan (`FocusPlan`, *optional*): the plan to override; the default plan when None.
        focus, blur, focus_point: the flags' values, or None when not given.

    Returns:
        `FocusPlan`: the merged plan.

    Raises:
        UsageError: when both ``focus`` and ``focus_point`` are given, or a value is bad.
    """
    if focus is not None and focus_point is not None:
        raise UsageError("give either --focus or --focus-point, not both")
    base = plan if plan is not None else FocusPlan.static()
    if focus is not None or focus_point is not None:
        target = parse_target(focus, "--focus") if focus is not None else parse_point(focus_point)
        base = FocusPlan((Keyframe(Fraction(0), target, base.keyframes[0].blur),))
    if blur is not None:
        base = base.with_blur(parse_blur(blur, "--blur"))
    return base


def plan_from_inputs(prompt: Optional[str] = None, *, focus: Any = None, blur: Any = None,
                     focus_point: Any = None, rate: Optional[RateLike] = None) -> FocusPlan:
    """The plan a command line asks for: the prompt (if any) with the flags merged over it."""
    plan = parse_prompt(prompt, rate) if prompt is not None else None
    return merge_flags(plan, focus=focus, blur=blur, focus_point=focus_point)


__all__ = ["ACCEPTED_FORMS", "merge_flags", "parse_point", "parse_prompt", "plan_from_inputs", "tokenize"]
