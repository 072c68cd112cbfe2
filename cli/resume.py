"""``bokehfx render --resume`` and ``--backend ray``: glue between the render options and the chunked renderer."""

from __future__ import annotations

import sys
from typing import Any

from cli.progress import frame_progress, wants_progress


def render_resumable(request: Any, settings: Any, *, chunk_frames: int | None, backend: str, address: str | None,
                     quiet: bool, plan: Any = None) -> None:
    """Render ``request`` in resumable chunks, here or on Ray, and report like a one-shot render."""
    from bokehfx.pipeline.chunks import DEFAULT_CHUNK_FRAMES, ResumableRender

    job = ResumableRender(request, settings, chunk_frames or DEFAULT_CHUNK_FRAMES, plan=plan)
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
