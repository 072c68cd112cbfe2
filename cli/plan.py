"""`bokehfx plan`: print a focus plan (keyframes and per-frame values) without rendering.

``plan`` reads no depth, so per-frame focus is computed under a neutral disparity assumption:
disparity uniform over [0, 1] in every frame, where near / middle / far read 0.9 / 0.5 / 0.1 (their
percentiles) and a disparity value reads itself. Depth, point and region targets need the real
depth (and frames), so their per-frame focus is printed as ``-`` (``null`` in JSON). Blur (K) is
exact. With ``--timeline``, ``--prompt`` is the plan of clips that carry none, and ``--focus``,
``--focus-point`` and ``--blur`` override every clip.
"""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from cli.app import app

#: Frames shown when --frames is not given: this many seconds, or up to the last keyframe.
DEFAULT_PLAN_SECONDS = 5
DEFAULT_PLAN_FPS = "24"


def _value_text(kf: dict) -> str:
    value = kf["value"]
    if isinstance(value, dict):
        if "box" in value:
            text = ",".join(f"{v:g}" for v in value["box"])
        elif "x" in value:
            text = f"{value['x']:g},{value['y']:g}"
        else:
            text = "mask"
        return text + ("px" if value.get("units") == "px" else "")
    if kf["target"] == "depth":
        return f"{value:g}m"
    if kf["target"] == "subject":
        return str(value)
    return f"{value:g}" if isinstance(value, float) else "-"


def _keyframe_lines(plan_dict: dict) -> list[str]:
    lines = [f"  {'time':>10}  {'frame':>6}  {'target':<9} {'value':<16} {'blur':>6}  {'label':<6}  interp"]
    for kf in plan_dict["keyframes"]:
        when = f"{kf['time']:.3f}s" if kf["time"] is not None else f"{kf['relative_time'] * 100:g}% of clip"
        frame = kf.get("frame", "-")
        lines.append(f"  {when:>10}  {frame!s:>6}  {kf['target']:<9} {_value_text(kf):<16} {kf['blur']:>6g}  "
                     f"{kf['blur_label']:<6}  {kf['interp']}")
    return lines


def _frame_lines(rows: list[dict]) -> list[str]:
    lines = [f"  {'frame':>6}  {'time':>9}  {'F':>6}  {'K':>7}  label"]
    for row in rows:
        focus = "-" if row["focus"] is None else f"{row['focus']:.3f}"
        lines.append(f"  {row['frame']:>6}  {row['time']:>8.3f}s  {focus:>6}  {row['k']:>7.2f}  {row['blur_label']}")
    return lines


@app.command()
def plan(
    prompt: Annotated[Optional[str], typer.Option(help="Focus instruction in plain words, e.g. "
                                                       "'rack focus to the background at 2s over 1s'.")] = None,
    timeline: Annotated[Optional[str], typer.Option(help="OpenTimelineIO timeline (.otio, .edl, .xml, "
                                                         ".fcpxml): print each clip's plan.")] = None,
    focus: Annotated[Optional[str], typer.Option(help="Focus: disparity 0..1, near/middle/far, or metres "
                                                      "like 2m (overrides the prompt).")] = None,
    blur: Annotated[Optional[str], typer.Option(help="Blur: K, small/medium/large/none, or an f-number "
                                                     "like f/2.8 (overrides the prompt).")] = None,
    focus_point: Annotated[Optional[str], typer.Option("--focus-point", help="Focus on the subject at X,Y "
                                                       "(normalized 0..1, or pixels with px), tracked.")] = None,
    frames: Annotated[Optional[int], typer.Option(help="Frames to evaluate (default: 5 s, or up to the last "
                                                       "keyframe).")] = None,
    fps: Annotated[Optional[str], typer.Option(help="Frame rate, e.g. 24, 25, 23.976 or 24000/1001 "
                                                    "(default 24; for an EDL, its rate).")] = None,
    subject_model: Annotated[Optional[str], typer.Option(
        "--subject-model", help="Detector for named subjects (hub id or local folder): lets the prompt name "
                                "them ('focus on the dog'); plan itself loads no model.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Leave out the 'understood as:' line.")] = False,
) -> None:
    """Print the focus plan (keyframes and per-frame values) without rendering."""
    import json

    from bokehfx.errors import UsageError
    from bokehfx.focus.canonical import describe_plan
    from bokehfx.focus.plan import NEUTRAL_DISPARITY, neutral_curve
    from bokehfx.focus.prompt import merge_flags, parse_prompt, plan_from_inputs
    from bokehfx.timecode import exact_rate, format_rate, frame_at

    if frames is not None and frames <= 0:
        raise UsageError(f"--frames must be a positive number of frames, got {frames}")
    neutral = f"disparity assumed {NEUTRAL_DISPARITY} (near 0.9, middle 0.5, far 0.1); plan reads no depth"

    if timeline is None:
        rate = exact_rate(fps if fps is not None else DEFAULT_PLAN_FPS, "--fps")
        focus_plan = plan_from_inputs(prompt, focus=focus, blur=blur, focus_point=focus_point, rate=rate,
                                      subjects=subject_model is not None)
        understood = describe_plan(focus_plan)
        count = frames
        if count is None:
            last = max((kf.frame(rate, None) for kf in focus_plan.keyframes if not kf.relative), default=0)
            count = max(last + 1, frame_at(DEFAULT_PLAN_SECONDS, rate))
        plan_dict = focus_plan.to_dict(rate, count)
        rows = neutral_curve(focus_plan, rate, count)
        if json_out:
            typer.echo(json.dumps({**plan_dict, "understood_as": understood, "fps": format_rate(rate),
                                   "frames": count, "neutral_disparity": neutral, "per_frame": rows}, indent=2))
            return
        lines = [] if quiet else [f"understood as: {understood}"]
        lines += [f"focus plan ({plan_dict['schema']}) at {format_rate(rate)} fps, {count} frames",
                 "keyframes:", *_keyframe_lines(plan_dict), f"per frame ({neutral}):", *_frame_lines(rows)]
        typer.echo("\n".join(lines))
        return

    from bokehfx.timeline.ingest import read_timeline

    def default_plan(rate: Any) -> Any:
        return parse_prompt(prompt, rate, subjects=subject_model is not None) if prompt is not None else None

    read = read_timeline(timeline, rate=fps, default_plan=default_plan if prompt is not None else None)
    clips = []
    for job in read.jobs:
        job.plan = merge_flags(job.plan, focus=focus, blur=blur, focus_point=focus_point)
        entry = job.to_dict()
        entry["understood_as"] = describe_plan(job.plan)
        entry["per_frame"] = neutral_curve(job.plan, job.rate, job.render_frame_count)
        clips.append(entry)
    if json_out:
        typer.echo(json.dumps({"timeline": str(read.path), "neutral_disparity": neutral, "clips": clips}, indent=2))
        return
    lines = [f"timeline {read.path}: {len(read.jobs)} video clip(s), {len(read.missing)} with missing media"]
    for entry in clips:
        lines.append(f"clip {entry['index']}: {entry['name']!r} on {entry['track'] or '-'!s} at {entry['rate']} fps, "
                     f"source frames {entry['start_frame']}+{entry['frame_count']} "
                     f"(render {entry['render_start_frame']}+{entry['render_frame_count']}), plan from "
                     f"{entry['plan_source']}")
        lines.append(f"  media: {entry['media'] or (entry['sequence'] or {}).get('pattern') or '-'}"
                     + (f"  [missing: {entry['missing']}]" if entry["missing"] else ""))
        if not quiet:
            lines.append(f"  understood as: {entry['understood_as']}")
        lines.extend(_keyframe_lines(entry["plan"]))
    lines.append("per-frame values: use --json (" + neutral + ")")
    typer.echo("\n".join(lines))
