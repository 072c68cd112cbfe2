"""`bokehfx probe`: what bokehfx sees in a file."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.app import app


@app.command()
def probe(
    input: Annotated[str, typer.Argument(help="Video file or image-sequence pattern (e.g. shots/a.%04d.exr).")],
    json_out: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of a summary.")] = False,
) -> None:
    """Describe a clip: streams, exact frame rate, timestamps, colour tags, rotation, timecode."""
    from cli.app import not_implemented

    not_implemented("`bokehfx probe`")
