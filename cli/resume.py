"""``bokehfx render --resume``, ``--backend ray`` and ``--step``: glue between the render options and the
chunked renderer (:mod:`bokehfx.pipeline.chunks`)."""

from __future__ import annotations

import sys
from typing import Any

from cli.progress import frame_progress, wants_progress

#: Prefix of the progress lines a farm running Open Job Description reads from a task's output.
OPENJD_PROGRESS = "openjd_progress:"
OPENJD_STATUS = "openjd_status:"


def render_resumable(request: Any, settings: Any, *, chunk_frames: int | None, backend: str, address: str | None,
                     quiet: bool, plan: Any = None, step: str | None = None) -> None:
    """Render ``request`` in resumable chunks, here or on Ray (or one ``step`` of it), and report."""
    from bokehfx.pipeline.chunks import DEFAULT_CHUNK_FRAMES, ResumableRender

    job = ResumableRender(request, settings, chunk_frames or DEFAULT_CHUNK_FRAMES, plan=plan)
    if step is not None:
        run_step(job, step)
        return
    mapper = None
    if backend == "ray":
        from bokehfx.batch.ray_backend import RayChunks

        mapper = RayChunks(address=address, device=settings.device)
    with frame_progress(f"render {request.input.name}", wants_progress(quiet)) as progress:
        result = job.run(progress=progress, map_chunks=mapper)
    if quiet:
        return
    if result is None:
        if sys.stderr.isatty():
            sys.stderr.write(f"{request.output} was already finished; its work folder is removed\n")
        return
    for note in result.notes:
        sys.stderr.write(f"note: {note}\n")
    if sys.stderr.isatty():
        sys.stderr.write(f"wrote {result.output}: {result.frames} frames in {result.seconds:.1f} s\n")


def _progress(percent: float, status: str | None = None) -> None:
    if status:
        sys.stdout.write(f"{OPENJD_STATUS} {status}\n")
    sys.stdout.write(f"{OPENJD_PROGRESS} {percent:.1f}\n")
    sys.stdout.flush()


def run_step(job: Any, step: str) -> None:
    """One farm step: ``prepass``, ``chunks:A-B`` or ``join``, reporting ``openjd_progress:`` lines."""
    from bokehfx.errors import UsageError
    from bokehfx.pipeline.chunks import chunks_starting_in

    if step == "prepass":
        _progress(0.0, "pre-pass: frame range, focus and blur for the whole clip")
        job.prepare()
        _progress(100.0)
        return
    prep = job.stored()
    if prep is None:
        raise UsageError(f"no pre-pass for {str(job.target.path)!r} with these settings: run --step prepass first")
    if step == "join":
        _progress(0.0, "joining the chunks")
        job.join(prep)
        _progress(100.0)
        return
    kind, _, span = step.partition(":")
    try:
        first, _, last = span.partition("-")
        a, b = int(first), int(last or first)
    except ValueError:
        a = b = -1
    if kind != "chunks" or a < 0 or b < a:
        raise UsageError(f"--step {step!r} must be prepass, chunks:A-B (frames, A <= B) or join")
    indices = chunks_starting_in(prep, a, b)
    for n, index in enumerate(indices):
        _progress(100.0 * n / len(indices), f"chunk {index} (frames {prep.chunks[index][0]}-{prep.chunks[index][1] - 1})")
        job.render_chunk(prep, index)
    _progress(100.0)
