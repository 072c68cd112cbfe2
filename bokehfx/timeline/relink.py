"""Write the relinked timeline: the same cut, each rendered clip pointing at its rendered media.

After a timeline render, ``OUTDIR/<name>.bokehfx.otio`` (see :func:`relinked_name`) lets an editor
relink in one step. For each rendered clip the media reference becomes an ``ExternalReference`` to
the rendered file, whose first frame is the clip's first rendered frame (transition handles
included), so the clip's source range is rebased to start at its handle length; its markers move
with it. Clips that were not rendered keep their original media. The original URL and first
frame are kept in the clip's ``metadata["bokehfx"]`` (``rendered_from``, ``rendered_from_frame``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence, Union

from bokehfx.errors import OutputError, UsageError
from bokehfx.focus.plan import PLAN_SCHEMA
from bokehfx.timecode import exact_rate

PathLike = Union[str, Path]


def relinked_name(timeline_path: PathLike, out_dir: PathLike) -> Path:
    """``OUTDIR/<timeline stem>.bokehfx.otio``."""
    return Path(out_dir) / f"{Path(timeline_path).stem}.bokehfx.otio"


def _lookup(rendered: Union[Mapping[int, Optional[PathLike]], Sequence[Optional[PathLike]]], index: int) -> Optional[PathLike]:
    if isinstance(rendered, Mapping):
        return rendered.get(index)
    return rendered[index] if index < len(rendered) else None


def write_relinked(timeline: Any, rendered_paths: Union[Mapping[int, Optional[PathLike]], Sequence[Optional[PathLike]]],
                   out_path: PathLike, *, relative: bool = False) -> Path:
    """Write a copy of ``timeline`` whose rendered clips point at their rendered media.

    Args:
        timeline: the OTIO object, or the :class:`bokehfx.timeline.ingest.TimelineJobs` read from it.
        rendered_paths: the rendered file per job index (``ClipJob.index``), as a mapping or a
            list aligned with the jobs; None or absent for clips that were not rendered.
        out_path (`str` or `Path`): where to write (``.otio``; ``.edl`` / ``.xml`` / ``.fcpxml``
            through their adapters). Written to a temporary file, then renamed into place.
        relative (`bool`, *optional*, defaults to False): write media paths relative to the
            output's folder instead of absolute ``file://`` URLs.

    Returns:
        `Path`: ``out_path``.

    Raises:
        UsageError: when an index in ``rendered_paths`` names no clip.
        OutputError: when the file cannot be written.
    """
    import opentimelineio as otio

    from bokehfx.timeline.ingest import ADAPTERS, _frames, _render_range, _whole, iter_video_clips

    obj = getattr(timeline, "otio", timeline)
    copy = obj.deepcopy()
    out_path = Path(out_path)
    clips = list(iter_video_clips(copy))
    if isinstance(rendered_paths, Mapping):
        bad = [i for i in rendered_paths if not 0 <= int(i) < len(clips)]
        if bad:
            raise UsageError(f"rendered_paths names clip index {bad[0]}, the timeline has {len(clips)} clips")
    for index, (clip, _, _) in enumerate(clips):
        rendered = _lookup(rendered_paths, index)
        if rendered is None:
            continue
        trimmed = clip.trimmed_range()
        rate_float = trimmed.start_time.rate
        rate = exact_rate(rate_float)
        visible = _render_range(clip, trimmed)
        render_start = _whole(_frames(visible.start_time, rate))
        render_count = _whole(_frames(visible.duration, rate))
        cut_start = _whole(_frames(trimmed.start_time, rate))
        count = _whole(_frames(trimmed.duration, rate))
        target = Path(rendered)
        if relative:
            url = Path(os.path.relpath(target.resolve(), out_path.resolve().parent)).as_posix()
        else:
            url = target.resolve().as_uri()
        original = clip.media_reference
        original_url = getattr(original, "target_url", None) or getattr(original, "target_url_base", None)
        clip.media_reference = otio.schema.ExternalReference(
            target_url=url,
            available_range=otio.opentime.TimeRange(otio.opentime.RationalTime(0, rate_float),
                                                    otio.opentime.RationalTime(render_count, rate_float)))
        clip.source_range = otio.opentime.TimeRange(otio.opentime.RationalTime(cut_start - render_start, rate_float),
                                                    otio.opentime.RationalTime(count, rate_float))
        for marker in clip.markers:
            rng = marker.marked_range
            start = _frames(rng.start_time, rate) - render_start
            marker.marked_range = otio.opentime.TimeRange(otio.opentime.RationalTime(float(start), rate_float),
                                                          rng.duration)
        clip.metadata["bokehfx"] = {"schema": PLAN_SCHEMA, "rendered_from": original_url,
                                    "rendered_from_frame": render_start}
    adapter = ADAPTERS.get(out_path.suffix.lower(), "otio_json")
    tmp = out_path.with_name(f".{out_path.name}.partial")
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        otio.adapters.write_to_file(copy, str(tmp), adapter_name=adapter)
        os.replace(tmp, out_path)
    except Exception as err:
        if tmp.exists():
            tmp.unlink()
        raise OutputError(f"cannot write relinked timeline {out_path}: {err}") from None
    return out_path
