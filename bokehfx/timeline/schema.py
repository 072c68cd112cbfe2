"""The ``bokehfx.focus/1`` metadata schema: focus keyframes carried by OpenTimelineIO objects.

Two places in a timeline carry focus, both under ``metadata["bokehfx"]``:

**Markers on a clip** (one keyframe each, at the marker's time in the clip's media time)::

    {"schema": "bokehfx.focus/1",          # optional; another major version is refused
     "focus": 0.3,                          # disparity in [0, 1], "near" | "middle" | "far", or "2.5m"
     "depth": 2.5,                          # or: metres (needs metric depth)
     "point": [0.5, 0.4],                   # or: image point, normalized (add "pixels": true for px),
                                            #     tracked from the marker on ("track": false to lock it)
     "region": [0.1, 0.2, 0.5, 0.8],        # or: box x0, y0, x1, y1 (normalized; "pixels": true for px)
     "subject": "the dog",                  # or: a named subject, found by --subject-model and tracked
     "prompt": "rack focus to far over 1s", # or: a --prompt sentence; its times count from the marker
     "blur": 12,                            # K, "small" | "medium" | "large" | "none", or "f/2.8"
     "f_number": 2.8,                       # or: an f-number (K = 56 / N)
     "interp": "ease-in-out"}               # how the plan arrives here: hold | linear | ease-in-out

The same markers on a **track** or on the **timeline** (``timeline.tracks``) apply to the clip
under the marker's start time, on that track or on every video track.

A marker with a duration is a pull: the focus before it holds until the marker's start and
arrives at the marker's target at its end (``interp`` defaults to ``ease-in-out``); a marker
without a duration is a cut (``interp`` defaults to ``hold``). A marker with only ``blur`` keeps
the focus it finds. Markers without a ``bokehfx`` entry are ignored.

**An effect named** ``bokehfx.DepthOfField`` (``effect_name``) on the clip, whose
``metadata["bokehfx"]`` holds the same keys as a static setting from the clip's first frame,
and/or ``"keyframes"``: a list of the same objects, each with ``"frame"`` (frames from the clip's
first frame at the clip's rate) or ``"time"`` (seconds from it: a number or ``"HH:MM:SS:FF"``)::

    {"schema": "bokehfx.focus/1", "blur": "large",
     "keyframes": [{"frame": 0, "focus": "near"},
                   {"frame": 48, "focus": "far", "interp": "ease-in-out"}]}

Plan times count from the clip's first *rendered* frame, which is the first frame of its source
range, or earlier by the transition handles when the clip is in a transition.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Mapping, Optional

from bokehfx.errors import TimelineError, UsageError
from bokehfx.focus.plan import (
    PLAN_SCHEMA,
    Blur,
    DepthTarget,
    FocusPlan,
    Interp,
    Keyframe,
    PointTarget,
    RegionTarget,
    SubjectTarget,
    Target,
    parse_blur,
    parse_target,
)
from bokehfx.focus.prompt import parse_prompt
from bokehfx.timecode import exact_seconds, parse_timecode

METADATA_KEY = "bokehfx"
EFFECT_NAME = "bokehfx.DepthOfField"
TARGET_KEYS = ("focus", "depth", "point", "region", "subject", "prompt")
#: Keys that name a target (at most one per keyframe object).
SPEC_TARGET_KEYS = ("focus", "depth", "point", "region", "subject")
KEYFRAME_KEYS = frozenset(TARGET_KEYS + ("schema", "blur", "f_number", "interp", "pixels", "track"))
EFFECT_KEYS = KEYFRAME_KEYS | {"keyframes"}
EFFECT_KEYFRAME_KEYS = KEYFRAME_KEYS | {"frame", "time"}


@dataclass(frozen=True)
class FocusEvent:
    """One keyframe request: at ``time`` (seconds from the first rendered frame) reach ``spec``.

    ``duration`` > 0 makes it a pull that starts at ``time`` and arrives at ``time + duration``.
    """

    time: Fraction
    duration: Fraction
    spec: Mapping[str, Any]
    where: str


def check_schema(entry: Mapping[str, Any], where: str) -> None:
    """Refuse a ``schema`` of another family or major version than :data:`PLAN_SCHEMA`."""
    schema = entry.get("schema")
    if schema is None:
        return
    family, _, version = str(schema).partition("/")
    ours_family, _, ours_version = PLAN_SCHEMA.partition("/")
    if family != ours_family or version.split(".")[0] != ours_version:
        raise TimelineError(f"{where}: schema {schema!r} is not supported (this bokehfx reads {PLAN_SCHEMA})")


def bokehfx_entry(metadata: Any, where: str) -> Optional[Mapping[str, Any]]:
    """The ``metadata["bokehfx"]`` mapping, or None when absent."""
    if metadata is None or METADATA_KEY not in metadata:
        return None
    entry = metadata[METADATA_KEY]
    if not hasattr(entry, "keys"):
        raise TimelineError(f"{where}: metadata['bokehfx'] must be an object, got {entry!r}")
    entry = {str(k): entry[k] for k in entry.keys()}
    check_schema(entry, where)
    return entry


def _plain(value: Any) -> Any:
    """OTIO metadata containers to plain lists."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__") or hasattr(value, "keys"):
        return value
    return [_plain(v) for v in value]


def spec_target(spec: Mapping[str, Any], where: str) -> Optional[Target]:
    """The target a keyframe object names (``focus``, ``depth``, ``point``, ``region`` or ``subject``),
    or None."""
    named = [k for k in SPEC_TARGET_KEYS if k in spec]
    if len(named) > 1:
        raise TimelineError(f"{where}: give one of {', '.join(SPEC_TARGET_KEYS)}; got {', '.join(named)}")
    if not named:
        return None
    key = named[0]
    value = _plain(spec[key])
    pixels = bool(spec.get("pixels", False))
    try:
        if key == "focus":
            return parse_target(value, "focus")
        if key == "depth":
            return DepthTarget(float(value))
        if key == "subject":
            if not isinstance(value, str):
                raise UsageError(f"subject must be text like 'the dog', got {value!r}")
            words = value.split()
            return SubjectTarget(" ".join(words[1:] if len(words) > 1 and words[0].lower() in ("the", "a", "an")
                                          else words))
        if key == "point":
            if not isinstance(value, list) or len(value) != 2:
                raise UsageError(f"point must be [x, y], got {value!r}")
            return PointTarget(float(value[0]), float(value[1]), pixels=pixels, track=bool(spec.get("track", True)))
        if not isinstance(value, list) or len(value) != 4:
            raise UsageError(f"region must be [x0, y0, x1, y1], got {value!r}")
        return RegionTarget(box=tuple(float(v) for v in value), pixels=pixels)
    except (UsageError, TypeError, ValueError) as err:
        raise TimelineError(f"{where}: {err}") from None


def spec_blur(spec: Mapping[str, Any], where: str) -> Optional[Blur]:
    """The blur a keyframe object names (``blur`` or ``f_number``), or None."""
    if "blur" in spec and "f_number" in spec:
        raise TimelineError(f"{where}: give blur or f_number, not both")
    try:
        if "blur" in spec:
            return parse_blur(spec["blur"], "blur")
        if "f_number" in spec:
            return Blur.from_f_number(float(spec["f_number"]))
    except (UsageError, TypeError, ValueError) as err:
        raise TimelineError(f"{where}: {err}") from None
    return None


def check_keys(spec: Mapping[str, Any], allowed: frozenset, where: str) -> None:
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise TimelineError(f"{where}: unknown key(s) {', '.join(unknown)} in metadata['bokehfx'] "
                            f"(accepted: {', '.join(sorted(allowed))})")
    if "prompt" in spec and any(k in spec for k in SPEC_TARGET_KEYS):
        raise TimelineError(f"{where}: a prompt cannot be combined with focus, depth, point, region or subject")


def effect_time(spec: Mapping[str, Any], rate: Fraction, where: str) -> Fraction:
    """Seconds from the clip's first frame of an effect keyframe (``frame`` or ``time``)."""
    if ("frame" in spec) == ("time" in spec):
        raise TimelineError(f"{where}: each effect keyframe needs exactly one of frame or time")
    try:
        if "frame" in spec:
            frame = spec["frame"]
            if isinstance(frame, bool) or not float(frame).is_integer():
                raise UsageError(f"frame must be a whole number, got {frame!r}")
            return Fraction(int(float(frame))) / rate
        value = spec["time"]
        if isinstance(value, str) and ":" in value:
            return Fraction(parse_timecode(value, rate, "time")) / rate
        return exact_seconds(value, "time")
    except (UsageError, TypeError, ValueError) as err:
        raise TimelineError(f"{where}: {err}") from None


def build_plan(events: list[FocusEvent], rate: Fraction, base: Optional[FocusPlan]) -> Optional[FocusPlan]:
    """Turn focus events (any order) into a plan; None when there are none.

    Events are applied in time order (ties keep their order). Before the first event's target the
    plan holds that target (the evaluator holds the first keyframe backwards); a blur-only event
    keeps the current target; the starting blur is ``base``'s (or medium).
    """
    if not events:
        return None
    start = base if base is not None else FocusPlan.static()
    target: Target = start.keyframes[0].target
    blur: Blur = start.keyframes[0].blur
    keyframes: list[Keyframe] = []
    for event in sorted(events, key=lambda e: e.time):
        spec = event.spec
        interp_default = Interp.EASE if event.duration > 0 else Interp.HOLD
        try:
            interp = Interp.parse(spec.get("interp", interp_default))
        except UsageError as err:
            raise TimelineError(f"{event.where}: {err}") from None
        new_blur = spec_blur(spec, event.where)
        if "prompt" in spec:
            try:
                sub = parse_prompt(str(spec["prompt"]), rate, initial=target, initial_blur=blur)
            except UsageError as err:
                raise TimelineError(f"{event.where}: {err}") from None
            for kf in sub.keyframes:
                shifted = kf if kf.relative else Keyframe(kf.time + event.time, kf.target, kf.blur, kf.interp)
                if new_blur is not None:
                    shifted = Keyframe(shifted.time, shifted.target, new_blur, shifted.interp, shifted.relative)
                keyframes.append(shifted)
            target, blur = keyframes[-1].target, keyframes[-1].blur
            continue
        new_target = spec_target(spec, event.where) or target
        new_blur = new_blur or blur
        if event.duration > 0:
            keyframes.append(Keyframe(event.time, target, blur, Interp.HOLD))
            keyframes.append(Keyframe(event.time + event.duration, new_target, new_blur, interp))
        else:
            keyframes.append(Keyframe(event.time, new_target, new_blur, interp))
        target, blur = new_target, new_blur
    return FocusPlan(tuple(keyframes))
