"""`bokehfx export-job JOB.json TEMPLATE.yaml`: a render as an Open Job Description template for a farm."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from cli.app import app


@app.command("export-job")
def export_job(
    job: Annotated[Path, typer.Argument(metavar="JOB.json", help="A bokehfx.job/1 file with input and output.",
                                        show_default=False)],
    template: Annotated[Path, typer.Argument(metavar="TEMPLATE.yaml", help="Where to write the template "
                                             "(.yaml, or .json).", show_default=False)],
    chunk_frames: Annotated[int, typer.Option("--chunk-frames", help="Frames per chunk task.")] = 48,
    task_chunking: Annotated[bool, typer.Option(
        "--task-chunking/--no-task-chunking", help="Use the TASK_CHUNKING extension (CHUNK[INT] frame ranges); "
                                                   "without it one INT task per chunk.")] = True,
    name: Annotated[Optional[str], typer.Option(help="Job name on the farm (default: bokehfx and the clip's name).",
                                                show_default=False)] = None,
) -> None:
    """Write an Open Job Description template (jobtemplate-2023-09) that renders JOB on a farm.

    Steps: a pre-pass, the chunks as tasks over a frame range, and a join; `openjd run TEMPLATE`
    runs it on this machine.
    """
    from bokehfx.batch.openjd import job_template, write_template
    from bokehfx.errors import UsageError
    from bokehfx.io.probe import probe
    from bokehfx.io.source import parse_frame_range
    from bokehfx.pipeline.chunks import frame_span
    from bokehfx.pipeline.job import RenderRequest
    from cli.jobfile import load_render_job
    from cli.options import parse_fps

    if chunk_frames < 1:
        raise UsageError(f"--chunk-frames {chunk_frames} must be at least 1")
    parsed = load_render_job(str(job))
    options = parsed.options
    if not options.get("input") or not options.get("output"):
        raise UsageError(f"job file {str(job)!r} needs input and output to run on a farm")
    if options.get("timeline"):
        raise UsageError(f"job file {str(job)!r}: a timeline renders clip by clip; export one job per clip")
    fps = parse_fps(options.get("fps"))
    request = RenderRequest(input=Path(options["input"]), output=Path(options["output"]),
                            frames=parse_frame_range(options.get("frames")), fps=fps)
    first, stop, _ = frame_span(request, probe(request.input, fps=fps))
    import os

    relative = Path(os.path.relpath(job.resolve(), template.resolve().parent))
    text = job_template(relative, first, stop, chunk_frames, name=name or f"bokehfx {request.input.name}",
                        task_chunking=task_chunking)
    write_template(template, text)
