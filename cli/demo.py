"""`bokehfx demo`: an offline rack focus on a procedural RGB-D clip (no download, no model)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.app import app


@app.command()
def demo(
    output: Annotated[str, typer.Option("-o", "--output", help="Folder for the demo outputs.")] = "bokehfx_demo",
    width: Annotated[int, typer.Option(help="Width of the procedural clip (even).")] = 640,
    height: Annotated[int, typer.Option(help="Height of the procedural clip (even).")] = 360,
    frames: Annotated[int, typer.Option(help="Frames of the procedural clip (at 24 fps).")] = 48,
    force: Annotated[bool, typer.Option("--force", "-f", help="Overwrite an earlier demo in the folder.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress; print only the output folder.")] = False,
) -> None:
    """Render an offline rack focus (near to far) on a procedural RGB-D clip.

    Writes the EXR source and disparity, the render as ProRes and H.264, the focus-map
    diagnostic, a side-by-side movie and a contact-sheet PNG.
    """
    import time
    from contextlib import ExitStack

    from bokehfx.pipeline.demo import DemoSettings, run_demo
    from cli.progress import frame_progress, wants_progress

    show = wants_progress(quiet)
    with ExitStack() as stack:
        def step(label: str):
            return stack.enter_context(frame_progress(label, show))

        started = time.perf_counter()
        paths = run_demo(Path(output), settings=DemoSettings(width=width, height=height, frames=frames),
                         force=force, progress=step)
        seconds = time.perf_counter() - started
    if quiet:
        typer.echo(str(Path(output)))
        return
    typer.echo(f"bokehfx demo: {frames} frames at {width}x{height} in {seconds:.1f} s")
    for name, path in paths.items():
        typer.echo(f"{name:>13}: {path}")
