"""`bokehfx model import`: published checkpoints of related designs as bokehfx model folders."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from cli.model import _write_atomically, model_app

import_app = typer.Typer(help="Turn a published checkpoint into a bokehfx model folder.", no_args_is_help=True)
model_app.add_typer(import_app, name="import")


@import_app.command("any-to-bokeh")
def any_to_bokeh(
    checkpoint_dir: Annotated[str, typer.Argument(
        help="Any-to-Bokeh's checkpoint folder (with unet/ and vae/), from github.com/vivoCameraResearch/any-to-bokeh.",
        show_default=False)],
    out: Annotated[str, typer.Argument(help="Folder to write the bokehfx model to.", show_default=False)],
    svd: Annotated[str, typer.Option(
        "--svd", help="A Stable Video Diffusion folder (stabilityai/stable-video-diffusion-img2vid-xt, diffusers "
                      "layout): supplies the CLIP image encoder, feature extractor and scheduler.",
        show_default=False)],
    force: Annotated[bool, typer.Option("--force", "-f", help="Replace an existing folder.")] = False,
) -> None:
    """Import the Any-to-Bokeh checkpoint (non-commercial, CC BY-NC-SA 4.0) for `render --renderer diffusion`."""
    from bokehfx.diffusion.any_to_bokeh_import import import_any_to_bokeh

    pipe = import_any_to_bokeh(checkpoint_dir, svd)
    _write_atomically(pipe, Path(out), force)
    sys.stderr.write(f"note: {pipe.notice()}\n")
    if sys.stderr.isatty():
        sys.stderr.write(f"wrote {out}\n")
