"""Read an OpenTimelineIO timeline into one render job per video clip, each with its focus plan.

:func:`read_timeline` opens ``.otio`` (OTIO JSON), ``.otioz``, ``.edl`` (CMX 3600), FCP7 ``.xml``
and ``.fcpxml`` through OTIO and its adapter plugins (``otio-cmx3600-adapter``,
``otio-fcp-adapter``, ``otio-fcpx-xml-adapter``) and returns a :class:`TimelineJobs`: the OTIO
object and a :class:`ClipJob` per clip on a video track (nested stacks included, audio tracks
skipped), in a stable order that :func:`bokehfx.timeline.relink.write_relinked` reuses.

Rules:

- Times are exact: OTIO's float rates are snapped by :func:`bokehfx.timecode.exact_rate`
  (23.976 is 24000/1001) and frame values kept as fractions.
- EDLs do not store their frame rate: pass ``rate`` (default 24, OTIO's). Other formats ignore it.
- Media: ``file://`` URLs and plain paths; relative paths are resolved against the timeline
  file's folder. An ``ImageSequenceReference`` becomes a ``%0Nd`` pattern with its start frame.
  A clip whose media is missing, absent (``MissingReference``) or generated is still listed,
  with :attr:`ClipJob.missing` saying why; the other clips are unaffected.
- Each job's plan comes from its ``bokehfx`` markers and ``bokehfx.DepthOfField`` effect, and from
  ``bokehfx`` markers on its track or on the timeline whose start falls inside the clip (see
  :mod:`bokehfx.timeline.schema`), else from ``default_plan``, else the default plan.
- Files written by a newer OTIO with ``Marker.3`` (colour as an object) are read by turning those
  markers into ``Marker.2`` (colour by name); other unknown schema versions are refused.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Union
from urllib.parse import unquote, urlparse

from bokehfx.errors import InputNotFoundError, TimelineError, UsageError
from bokehfx.focus.plan import FocusPlan
from bokehfx.timecode import MAX_DENOMINATOR, RateLike, exact_rate, format_rate
from bokehfx.timeline.schema import (
    EFFECT_KEYFRAME_KEYS,
    EFFECT_KEYS,
    EFFECT_NAME,
    KEYFRAME_KEYS,
    FocusEvent,
    bokehfx_entry,
    build_plan,
    check_keys,
    effect_time,
)

#: Timeline file suffixes and the OTIO adapter that reads each.
ADAPTERS = {".otio": "otio_json", ".otioz": "otioz", ".edl": "cmx_3600", ".xml": "fcp_xml",
            ".fcpxml": "fcpx_xml"}
#: Absolute Windows paths (drive letter or UNC share), never joined to the timeline folder.
_WINDOWS_ABSOLUTE = re.compile(r"^(?:[A-Za-z]:[\\/]|\\\\)")
#: The EDL rate OTIO assumes when none is given.
DEFAULT_EDL_RATE = 24


@dataclass(frozen=True)
class ImageSequence:
    """An image sequence: ``pattern`` with a ``%0Nd`` frame field, numbered from ``start_frame``."""

    pattern: str
    start_frame: int
    frame_step: int
    rate: Fraction

    def path_for(self, number: int) -> str:
        """The file of image number ``number``."""
        return self.pattern % number


@dataclass
class ClipJob:
    """One clip to render: its media, its exact source range and its focus plan.

    Attributes:
        index (`int`): position among the timeline's video clips (the key for relinking).
        name (`str`), track (`str`), timeline (`str`): where the clip sits.
        rate (`Fraction`): the clip's frame rate.
        start_frame (`int`), frame_count (`int`): the cut's source range, in media frames
            (media time, as in the timeline: e.g. from the source timecode).
        render_start_frame (`int`), render_frame_count (`int`): the range to render: the source
            range plus transition handles (equal to the cut when there is no transition).
        available_start_frame (`int` or None): media time of the media's first frame when the
            timeline says; the file-relative first frame is :attr:`file_start_frame`.
        media_path (`Path` or None): the media file; None for sequences and missing media.
        sequence (`ImageSequence` or None): the image sequence, when the media is one.
        missing (`str` or None): why the media cannot be rendered (not found, none, generated).
        plan (`FocusPlan`): the focus plan; times count from the first rendered frame.
        plan_source (`str`): ``"timeline"`` (markers / effect) or ``"default"``.
        record_start (`Fraction` or None): where the cut starts on the timeline, in seconds.
    """

    index: int
    name: str
    track: str
    timeline: str
    rate: Fraction
    start_frame: int
    frame_count: int
    render_start_frame: int
    render_frame_count: int
    plan: FocusPlan
    plan_source: str
    available_start_frame: Optional[int] = None
    media_path: Optional[Path] = None
    sequence: Optional[ImageSequence] = None
    missing: Optional[str] = None
    record_start: Optional[Fraction] = None
    media_url: Optional[str] = None

    @property
    def source_range(self) -> tuple[Fraction, Fraction]:
        """``(start, duration)`` of the cut in exact seconds of media time."""
        return Fraction(self.start_frame) / self.rate, Fraction(self.frame_count) / self.rate

    @property
    def render_range(self) -> tuple[Fraction, Fraction]:
        """``(start, duration)`` of the range to render in exact seconds of media time."""
        return Fraction(self.render_start_frame) / self.rate, Fraction(self.render_frame_count) / self.rate

    @property
    def handle_before(self) -> int:
        """Frames rendered before the cut (transition handle)."""
        return self.start_frame - self.render_start_frame

    @property
    def file_start_frame(self) -> int:
        """The first rendered frame counted from the media's first frame."""
        return self.render_start_frame - (self.available_start_frame or 0)

    def evaluator(self, **options: Any) -> Any:
        """A streaming :class:`bokehfx.focus.plan.PlanEvaluator` of this clip's plan, at its rate,
        over its rendered frames (frame 0 = the first rendered frame); ``options`` as there."""
        return self.plan.evaluator(self.rate, self.render_frame_count, **options)

    @property
    def available(self) -> bool:
        """Whether the media can be rendered."""
        return self.missing is None

    def to_dict(self) -> dict:
        """JSON-friendly description of the job and its plan."""
        return {
            "index": self.index, "name": self.name, "track": self.track, "timeline": self.timeline,
            "rate": format_rate(self.rate), "start_frame": self.start_frame, "frame_count": self.frame_count,
            "render_start_frame": self.render_start_frame, "render_frame_count": self.render_frame_count,
            "file_start_frame": self.file_start_frame,
            "media": str(self.media_path) if self.media_path else None,
            "sequence": None if self.sequence is None else {
                "pattern": self.sequence.pattern, "start_frame": self.sequence.start_frame,
                "frame_step": self.sequence.frame_step},
            "missing": self.missing, "plan_source": self.plan_source,
            "plan": self.plan.to_dict(self.rate, self.render_frame_count),
        }


@dataclass
class TimelineJobs:
    """A read timeline: the OTIO object, its path and the jobs."""

    otio: Any
    path: Path
    jobs: list[ClipJob] = field(default_factory=list)

    @property
    def missing(self) -> list[ClipJob]:
        """Jobs whose media cannot be rendered."""
        return [j for j in self.jobs if j.missing is not None]


def load_timeline(path: Union[str, Path], rate: Optional[RateLike] = None) -> Any:
    """Read a timeline file with OTIO (see the module docstring for formats and ``rate``).

    Raises:
        InputNotFoundError: when the file does not exist.
        TimelineError: when it cannot be read (the adapter's reason, and a hint for EDL rates).
    """
    import opentimelineio as otio

    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"timeline not found: {path}")
    suffix = path.suffix.lower()
    if suffix not in ADAPTERS:
        raise TimelineError(f"timeline {path.name}: unknown format {suffix or '(no suffix)'!r}; "
                            f"accepted: {', '.join(sorted(ADAPTERS))}")
    adapter = ADAPTERS[suffix]
    kwargs: dict[str, Any] = {}
    if adapter == "cmx_3600":
        kwargs["rate"] = float(exact_rate(rate if rate is not None else DEFAULT_EDL_RATE, "timeline rate"))
    try:
        return otio.adapters.read_from_file(str(path), adapter_name=adapter, **kwargs)
    except otio.exceptions.UnsupportedSchemaError as err:
        if adapter == "otio_json":
            return _read_newer_otio_json(path, err)
        raise TimelineError(f"timeline {path.name} cannot be read: {err}") from None
    except Exception as err:  # adapters raise plain Exception subclasses of many kinds
        hint = ""
        if adapter == "cmx_3600" and "rate" in str(err).lower():
            hint = (f" (read at {format_rate(exact_rate(rate or DEFAULT_EDL_RATE))} fps; an EDL does not store "
                    "its rate: give the right one with --fps)")
        raise TimelineError(f"timeline {path.name} cannot be read: {err}{hint}") from None


def _read_newer_otio_json(path: Path, original: Exception) -> Any:
    import opentimelineio as otio

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise TimelineError(f"timeline {path.name} cannot be read: {err}") from None
    changed = False

    def downgrade(node: Any) -> Any:
        nonlocal changed
        if isinstance(node, dict):
            if node.get("OTIO_SCHEMA") == "Marker.3":
                changed = True
                node = dict(node)
                node["OTIO_SCHEMA"] = "Marker.2"
                color = node.get("color")
                if isinstance(color, dict):
                    node["color"] = str(color.get("name") or "RED").upper()
            return {k: downgrade(v) for k, v in node.items()}
        if isinstance(node, list):
            return [downgrade(v) for v in node]
        return node

    data = downgrade(data)
    if not changed:
        raise TimelineError(f"timeline {path.name} cannot be read: {original}") from None
    try:
        return otio.adapters.read_from_string(json.dumps(data), adapter_name="otio_json")
    except Exception as err:
        raise TimelineError(f"timeline {path.name} cannot be read: {err}") from None


def iter_video_clips(obj: Any) -> Iterator[tuple[Any, str, str]]:
    """``(clip, timeline name, track name)`` for every clip on a video track, in a stable order."""
    import opentimelineio as otio

    def in_audio(clip: Any) -> bool:
        parent = clip.parent()
        while parent is not None:
            if isinstance(parent, otio.schema.Track) and parent.kind == otio.schema.TrackKind.Audio:
                return True
            parent = parent.parent()
        return False

    def track_name(clip: Any) -> str:
        parent = clip.parent()
        while parent is not None and not isinstance(parent, otio.schema.Track):
            parent = parent.parent()
        return parent.name if parent is not None else ""

    def walk(node: Any, timeline_name: str) -> Iterator[tuple[Any, str, str]]:
        if isinstance(node, otio.schema.Timeline):
            for clip in node.find_clips():
                if not in_audio(clip):
                    yield clip, node.name, track_name(clip)
        elif isinstance(node, otio.schema.Clip):
            yield node, timeline_name, ""
        elif isinstance(node, otio.schema.SerializableCollection):
            for child in node:
                yield from walk(child, timeline_name)
        elif isinstance(node, otio.core.Composition):
            for clip in node.find_clips():
                if not in_audio(clip):
                    yield clip, timeline_name, track_name(clip)

    yield from walk(obj, getattr(obj, "name", "") or "")


def _frames(rt: Any, rate: Fraction) -> Fraction:
    """A RationalTime as an exact (possibly fractional) frame count at ``rate``."""
    value = Fraction(rt.value).limit_denominator(MAX_DENOMINATOR)
    own = exact_rate(rt.rate)
    return value if own == rate else value * rate / own


def _whole(frames: Fraction) -> int:
    return int(frames) if frames.denominator == 1 else int(frames + Fraction(1, 2))


def _resolve_url(url: str, base: Path) -> Path:
    if _WINDOWS_ABSOLUTE.match(url):
        return Path(url)  # a Windows path from another machine: kept as written, reported missing
    parsed = urlparse(url)
    if parsed.scheme == "file":
        path = unquote(parsed.path)
        if parsed.netloc not in ("", "localhost"):
            path = f"//{parsed.netloc}{path}"
        return Path(path)
    if parsed.scheme and len(parsed.scheme) > 1:
        return Path(url)  # another scheme: reported missing below unless it happens to exist
    candidate = Path(url)
    return candidate if candidate.is_absolute() else base / candidate


def _media(clip: Any, base: Path, rate: Fraction, first_frame: int) -> tuple[Optional[Path], Optional[ImageSequence],
                                                                               Optional[str], Optional[int], Optional[str]]:
    """media_path, sequence, missing reason, available start frame, url."""
    import opentimelineio as otio

    ref = clip.media_reference
    available = None
    if ref is not None and ref.available_range is not None:
        available = _whole(_frames(ref.available_range.start_time, rate))
    if ref is None or isinstance(ref, otio.schema.MissingReference):
        return None, None, "the clip has no media reference (MissingReference)", available, None
    if isinstance(ref, otio.schema.GeneratorReference):
        return None, None, f"generated clip ({ref.generator_kind or 'generator'}): no media to render", available, None
    if isinstance(ref, otio.schema.ImageSequenceReference):
        folder = _resolve_url(ref.target_url_base or "./", base)
        pattern = str(folder / f"{ref.name_prefix}%0{max(int(ref.frame_zero_padding), 1)}d{ref.name_suffix}")
        seq = ImageSequence(pattern, int(ref.start_frame), int(ref.frame_step), exact_rate(ref.rate or rate))
        start_rt = otio.opentime.RationalTime(first_frame, float(rate))
        try:
            number = ref.frame_for_time(start_rt)
        except Exception:
            number = seq.start_frame
        first = Path(seq.path_for(number))
        missing = None if first.is_file() else f"image sequence frame not found: {first}"
        return None, seq, missing, available, ref.target_url_base
    if isinstance(ref, otio.schema.ExternalReference):
        url = ref.target_url or ""
        if not url:
            return None, None, "the media reference has no target_url", available, url
        path = _resolve_url(url, base)
        missing = None if path.is_file() else f"media not found: {path}"
        return path, None, missing, available, url
    return None, None, f"unsupported media reference {type(ref).__name__}", available, None


def _render_range(clip: Any, trimmed: Any) -> Any:
    import opentimelineio as otio

    if isinstance(clip.parent(), otio.schema.Track):
        try:
            return clip.visible_range()
        except Exception:
            return trimmed
    return trimmed


def _record_start(clip: Any) -> Optional[Fraction]:
    try:
        rng = clip.range_in_parent()
        return Fraction(rng.start_time.value).limit_denominator(MAX_DENOMINATOR) / exact_rate(rng.start_time.rate)
    except Exception:
        return None


def _ancestor_events(clip: Any, rate: Fraction, render_start: int, render_count: int) -> list[FocusEvent]:
    """Focus events from ``bokehfx`` markers on the tracks and stacks holding ``clip`` (a timeline
    marker lives on ``timeline.tracks``): each applies to the clip under its start time."""
    events = []
    parent = clip.parent()
    while parent is not None:
        for marker in parent.markers:
            where = f"{type(parent).__name__.lower()} {parent.name!r}, marker {marker.name!r}"
            entry = bokehfx_entry(marker.metadata, where)
            if entry is None:
                continue
            check_keys(entry, KEYFRAME_KEYS, where)
            try:
                local = parent.transformed_time(marker.marked_range.start_time, clip)
            except Exception:
                continue  # the marker's time does not reach this clip
            frame = _frames(local, rate)
            if render_start <= frame < render_start + render_count:
                events.append(FocusEvent((frame - render_start) / rate,
                                         _frames(marker.marked_range.duration, rate) / rate, entry, where))
        parent = parent.parent()
    return events


def _clip_plan(clip: Any, rate: Fraction, render_start: int, render_count: int, cut_start: int,
               default_plan: Optional[FocusPlan]) -> tuple[FocusPlan, str]:
    events: list[FocusEvent] = []
    name = clip.name or "(unnamed clip)"
    base = default_plan
    for effect in clip.effects:
        if effect.effect_name != EFFECT_NAME and effect.name != EFFECT_NAME:
            continue
        where = f"clip {name!r}, effect {EFFECT_NAME}"
        entry = bokehfx_entry(effect.metadata, where) or {}
        check_keys(entry, EFFECT_KEYS, where)
        static = {k: v for k, v in entry.items() if k != "keyframes"}
        cut_offset = Fraction(cut_start - render_start) / rate
        if any(k in static for k in ("focus", "depth", "point", "region", "prompt", "blur", "f_number")):
            events.append(FocusEvent(cut_offset, Fraction(0), static, where))
        for i, key in enumerate(entry.get("keyframes", []) or []):
            kwhere = f"{where}, keyframe {i}"
            if not hasattr(key, "keys"):
                raise TimelineError(f"{kwhere}: must be an object, got {key!r}")
            spec = {str(k): key[k] for k in key.keys()}
            check_keys(spec, EFFECT_KEYFRAME_KEYS, kwhere)
            events.append(FocusEvent(cut_offset + effect_time(spec, rate, kwhere), Fraction(0), spec, kwhere))
    for marker in clip.markers:
        where = f"clip {name!r}, marker {marker.name!r}"
        entry = bokehfx_entry(marker.metadata, where)
        if entry is None:
            continue
        check_keys(entry, KEYFRAME_KEYS, where)
        rng = marker.marked_range
        time = (_frames(rng.start_time, rate) - render_start) / rate
        duration = _frames(rng.duration, rate) / rate
        events.append(FocusEvent(time, duration, entry, where))
    events.extend(_ancestor_events(clip, rate, render_start, render_count))
    plan = build_plan(events, rate, base)
    if plan is None:
        return (default_plan if default_plan is not None else FocusPlan.static()), "default"
    return plan, "timeline"


DefaultPlan = Union[FocusPlan, Callable[[Fraction], FocusPlan], None]


def clip_jobs(timeline: Any, base_dir: Union[str, Path], default_plan: DefaultPlan = None) -> list[ClipJob]:
    """One :class:`ClipJob` per video clip of an OTIO object (see the module docstring).

    Args:
        timeline: an OTIO ``Timeline``, ``SerializableCollection``, composition or clip.
        base_dir (`str` or `Path`): the folder relative media paths are resolved against.
        default_plan (`FocusPlan` or `Callable[[Fraction], FocusPlan]`, *optional*): the plan of
            clips that carry none, or a function of the clip's rate that makes it (for prompts
            with timecode).

    Raises:
        TimelineError: when a clip's ``bokehfx`` metadata is invalid (names the clip and marker).
    """
    base = Path(base_dir)
    jobs: list[ClipJob] = []
    for index, (clip, timeline_name, track) in enumerate(iter_video_clips(timeline)):
        name = clip.name or f"clip {index}"
        try:
            trimmed = clip.trimmed_range()
        except Exception as err:
            raise TimelineError(f"clip {name!r} has no usable range: {err}") from None
        try:
            rate = exact_rate(trimmed.start_time.rate, "clip rate")
        except UsageError as err:
            raise TimelineError(f"clip {name!r}: {err}") from None
        start = _whole(_frames(trimmed.start_time, rate))
        count = _whole(_frames(trimmed.duration, rate))
        visible = _render_range(clip, trimmed)
        render_start = _whole(_frames(visible.start_time, rate))
        render_count = _whole(_frames(visible.duration, rate))
        media_path, sequence, missing, available, url = _media(clip, base, rate, render_start)
        fallback = default_plan(rate) if callable(default_plan) else default_plan
        plan, source = _clip_plan(clip, rate, render_start, render_count, start, fallback)
        jobs.append(ClipJob(
            index=index, name=name, track=track, timeline=timeline_name, rate=rate, start_frame=start,
            frame_count=count, render_start_frame=render_start, render_frame_count=render_count, plan=plan,
            plan_source=source, available_start_frame=available, media_path=media_path, sequence=sequence,
            missing=missing, record_start=_record_start(clip), media_url=url,
        ))
    return jobs


def read_timeline(path: Union[str, Path], rate: Optional[RateLike] = None,
                  default_plan: DefaultPlan = None) -> TimelineJobs:
    """Read a timeline file into jobs, one per video clip.

    Args:
        path (`str` or `Path`): ``.otio``, ``.otioz``, ``.edl``, ``.xml`` (FCP7) or ``.fcpxml``.
        rate (`RateLike`, *optional*): the frame rate of an EDL (default 24); ignored otherwise.
        default_plan (`FocusPlan` or callable, *optional*): see :func:`clip_jobs`.

    Returns:
        `TimelineJobs`: the OTIO object and the jobs (missing media reported per job).
    """
    path = Path(path)
    obj = load_timeline(path, rate)
    return TimelineJobs(obj, path, clip_jobs(obj, path.resolve().parent, default_plan))


__all__ = ["ADAPTERS", "ClipJob", "ImageSequence", "TimelineJobs", "clip_jobs", "iter_video_clips",
           "load_timeline", "read_timeline"]
