"""The ``bokehfx.job/1`` job file: one render, as the CLI, host plugins and the watch folder share it.

A job file is a JSON object::

    {"schema": "bokehfx.job/1",
     "input": "/media/shot 12.mov", "output": "/renders/shot 12.mov",
     "frames": "100-219", "blur": "large", "depth": "auto", "force": true,
     "keyframes": [{"frame": 100, "focus": "near"},
                   {"frame": 160, "duration": 24, "focus": "far", "interp": "ease-in-out"}]}

Its keys are the long option names of ``bokehfx render`` with ``-`` written ``_`` (and ``input``
for the clip), with values as on the command line; plus ``keyframes``: ``bokehfx.focus/1`` marker
objects (see :mod:`bokehfx.timeline.schema`) each with its ``frame`` (a frame index of the clip,
0-based, the numbering ``--frames`` uses) and optionally ``duration`` (frames: a pull arriving at
``frame + duration``; without one a keyframe is a cut). The vocabulary is not listed here: the
caller passes it (the CLI derives it from the ``render`` command itself, see ``cli.jobfile``), so
flags, job files and watch-folder settings cannot drift apart.

Unknown keys and other schema versions are refused, naming the file and the key.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Collection, Mapping, Optional, Union

from bokehfx.errors import UsageError

JOB_SCHEMA = "bokehfx.job/1"
#: Keys every job file may hold besides the render options.
SCHEMA_KEY = "schema"
KEYFRAMES_KEY = "keyframes"
#: Keys of a keyframe object besides the ``bokehfx.focus/1`` marker keys.
KEYFRAME_PLACEMENT_KEYS = frozenset({"frame", "duration"})


class JobFileError(UsageError):
    """A job file that cannot be used (names the file and the key)."""


@dataclass(frozen=True)
class JobFile:
    """A validated job: render options (job key → value as on the command line) and keyframes.

    Attributes:
        options (`dict[str, Any]`): render options keyed by their job-file name (``depth_kind``).
        keyframes (`tuple[dict, ...]`): ``bokehfx.focus/1`` objects, each with an int ``frame``.
        where (`str`): the file (or other origin) the job came from, for messages.
    """

    options: dict[str, Any] = field(default_factory=dict)
    keyframes: tuple[dict, ...] = ()
    where: str = "job"

    def to_dict(self) -> dict[str, Any]:
        """The job as the JSON object a job file holds."""
        out: dict[str, Any] = {SCHEMA_KEY: JOB_SCHEMA, **self.options}
        if self.keyframes:
            out[KEYFRAMES_KEY] = [dict(k) for k in self.keyframes]
        return out


def _whole(value: Any, key: str, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value).is_integer() or value < 0:
        raise JobFileError(f"{where}: {key} must be a whole number of frames >= 0, got {value!r}")
    return int(value)


def check_job_schema(value: Any, where: str) -> None:
    """Refuse a missing schema, another family or another major version than :data:`JOB_SCHEMA`."""
    if value is None:
        raise JobFileError(f"{where}: no \"schema\" key; a job file starts with \"schema\": \"{JOB_SCHEMA}\"")
    family, _, version = str(value).partition("/")
    ours_family, _, ours_version = JOB_SCHEMA.partition("/")
    if family != ours_family or version.split(".")[0] != ours_version:
        raise JobFileError(f"{where}: schema {value!r} is not supported (this bokehfx reads {JOB_SCHEMA})")


def parse_keyframe(entry: Any, where: str) -> dict:
    """Validate one keyframe object; returns a copy with ``frame`` (and ``duration``) as ints.

    The target and blur are checked now (so a bad value is refused before any render starts).
    """
    from bokehfx.timeline.schema import KEYFRAME_KEYS, check_keys, check_schema, spec_blur, spec_target

    if not isinstance(entry, Mapping):
        raise JobFileError(f"{where}: a keyframe must be an object, got {entry!r}")
    spec = {str(k): v for k, v in entry.items()}
    unknown = sorted(set(spec) - KEYFRAME_KEYS - KEYFRAME_PLACEMENT_KEYS)
    if unknown:
        raise JobFileError(f"{where}: unknown key {unknown[0]!r} (accepted: "
                           f"{', '.join(sorted(KEYFRAME_KEYS | KEYFRAME_PLACEMENT_KEYS))})")
    if "frame" not in spec:
        raise JobFileError(f"{where}: a keyframe needs its \"frame\" (0-based frame index of the clip)")
    try:
        check_schema(spec, where)
        check_keys(spec, KEYFRAME_KEYS | KEYFRAME_PLACEMENT_KEYS, where)
        spec_target(spec, where)
        spec_blur(spec, where)
    except UsageError as err:
        raise JobFileError(str(err)) from None
    spec["frame"] = _whole(spec["frame"], "frame", where)
    if "duration" in spec:
        spec["duration"] = _whole(spec["duration"], "duration", where)
    return spec


def parse_job(data: Any, vocabulary: Collection[str], where: str = "job") -> JobFile:
    """Validate a job object against ``vocabulary`` (the render options' job-file names).

    Args:
        data: the decoded JSON object.
        vocabulary: accepted option keys, e.g. ``cli.jobfile.render_vocabulary()``.
        where: the origin named in error messages (the file's path).

    Raises:
        JobFileError: not an object, missing or foreign schema, an unknown key (named), or a bad keyframe.
    """
    if not isinstance(data, Mapping):
        raise JobFileError(f"{where}: a job must be a JSON object, got {type(data).__name__}")
    check_job_schema(data.get(SCHEMA_KEY), where)
    allowed = set(vocabulary)
    for key in data:
        if key in (SCHEMA_KEY, KEYFRAMES_KEY):
            continue
        if key not in allowed:
            hint = f" (written {key.replace('-', '_')!r} in a job file)" if key.replace("-", "_") in allowed else ""
            raise JobFileError(f"{where}: unknown key {key!r}{hint}; the keys are the render options: "
                               f"{', '.join(sorted(allowed))}, plus schema and keyframes")
    raw_keyframes = data.get(KEYFRAMES_KEY, [])
    if not isinstance(raw_keyframes, list):
        raise JobFileError(f"{where}: keyframes must be a list of objects, got {raw_keyframes!r}")
    keyframes = tuple(parse_keyframe(k, f"{where}: keyframes[{i}]") for i, k in enumerate(raw_keyframes))
    options = {k: v for k, v in data.items() if k not in (SCHEMA_KEY, KEYFRAMES_KEY)}
    return JobFile(options=options, keyframes=keyframes, where=where)


def read_job(path: Union[str, Path], vocabulary: Collection[str]) -> JobFile:
    """Read and validate a job file (see :func:`parse_job`)."""
    where = f"job file {str(path)!r}"
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        from bokehfx.errors import InputNotFoundError

        raise InputNotFoundError(f"{where} does not exist") from None
    except (OSError, UnicodeDecodeError) as err:
        raise JobFileError(f"{where} cannot be read: {err}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise JobFileError(f"{where} is not valid JSON: {err}") from None
    return parse_job(data, vocabulary, where)


def write_job(path: Union[str, Path], job: JobFile) -> Path:
    """Write ``job`` as a job file, atomically (a temporary file renamed into place)."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent or None)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(job.to_dict(), handle, indent=2)
            handle.write("\n")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def keyframe_events(job: JobFile, rate: Fraction) -> list:
    """The job's keyframes as focus events (seconds from the clip's frame 0 at ``rate``)."""
    from bokehfx.timeline.schema import FocusEvent

    events = []
    for i, spec in enumerate(job.keyframes):
        marker = {k: v for k, v in spec.items() if k not in KEYFRAME_PLACEMENT_KEYS}
        events.append(FocusEvent(time=Fraction(spec["frame"]) / rate,
                                 duration=Fraction(spec.get("duration", 0)) / rate,
                                 spec=marker, where=f"{job.where}: keyframes[{i}]"))
    return events


def keyframe_plan(job: JobFile, rate: Fraction, base: Optional[Any] = None) -> Optional[Any]:
    """The focus plan the job's keyframes make (``base``: the plan they start from), or None."""
    from bokehfx.timeline.schema import build_plan

    return build_plan(keyframe_events(job, rate), rate, base)
