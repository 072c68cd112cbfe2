"""`bokehfx render`: placeholder until the media pipeline lands."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.app import app


@app.command()
def render(
    input: Annotated[str, typer.Argument(help="Video file or image-sequence pattern.")],
) -> None:
    """Render depth of field onto a clip."""
    from cli.app import not_implemented

    not_implemented("`bokehfx render`")
