"""`bokehfx model`: make and inspect diffusion-renderer model folders."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from cli.app import app

model_app = typer.Typer(help="Make and inspect diffusion-renderer model folders.", no_args_is_help=True)
app.add_typer(model_app, name="model")

#: Suffix of the folder a model is written to before it is renamed into place.
PARTIAL_SUFFIX = ".partial"


def _write_atomically(pipe, out: Path, force: bool) -> None:
    from diffusers.utils import logging as diffusers_logging

    from bokehfx.errors import OutputError, OutputExistsError

    if out.exists() and not force:
        raise OutputExistsError(f"{str(out)!r} exists; pass --force to replace it")
    if out.exists() and not out.is_dir():
        raise OutputError(f"{str(out)!r} is a file; a model is a folder")
    if not out.parent.is_dir():
        raise OutputError(f"the folder {str(out.parent)!r} of {str(out)!r} does not exist")
    diffusers_logging.disable_progress_bar()
    partial = out.with_name(out.name + PARTIAL_SUFFIX)
    shutil.rmtree(partial, ignore_errors=True)
    try:
        pipe.save_pretrained(partial)
        if out.exists():
            shutil.rmtree(out)
        partial.rename(out)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


@model_app.command("init")
def init(
    out: Annotated[str, typer.Argument(help="Folder to write the model to.", show_default=False)],
    tiny: Annotated[bool, typer.Option("--tiny", help="A tiny randomly initialised model (tests; trying the "
                                                      "pipeline on a laptop; renders noise-like bokeh).")] = False,
    from_svd: Annotated[Optional[str], typer.Option(
        "--from-svd", help="A Stable Video Diffusion folder (diffusers layout, e.g. "
                           "stabilityai/stable-video-diffusion-img2vid-xt): a full-size model around its weights, "
                           "new channels and branches zero-initialised so that it starts as SVD.",
        show_default=False)] = None,
    planes: Annotated[int, typer.Option(help="Focal-plane mask channels (--from-svd).")] = 0,
    seed: Annotated[int, typer.Option(help="Seed of the random weights (--tiny).")] = 0,
    force: Annotated[bool, typer.Option("--force", "-f", help="Replace an existing folder.")] = False,
) -> None:
    """Write a new diffusion-renderer model folder (untrained: train it with `bokehfx train`)."""
    from bokehfx.errors import UsageError

    if tiny == (from_svd is not None):
        raise UsageError("give exactly one of --tiny or --from-svd SVD_DIR")
    if planes < 0:
        raise UsageError(f"--planes must be 0 or more, got {planes}")
    from bokehfx.diffusion.loading import build_from_svd, build_tiny_pipeline

    pipe = build_tiny_pipeline(seed) if tiny else build_from_svd(from_svd, planes=planes)
    _write_atomically(pipe, Path(out), force)
    if sys.stderr.isatty():
        sys.stderr.write(f"wrote {out}\n")


@model_app.command("info")
def info(
    path: Annotated[str, typer.Argument(help="Model folder or hub id.", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """Print a model's architecture, sizes and dtype."""
    from bokehfx.diffusion.loading import describe, load_pipeline

    summary = describe(load_pipeline(path))
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    unet = summary["unet"]
    typer.echo(f"{path}: {summary['pipeline']}")
    typer.echo(f"  working size {summary['working_size'][0]}x{summary['working_size'][1]}, "
               f"window {summary['window']} frames")
    typer.echo(f"  UNet channels {unet['block_out_channels']}, input {unet['in_channels']} channels "
               f"(defocus map: {'yes' if unet['focus_defocus_map'] else 'no'}, planes: {unet['focus_planes']}), "
               f"K embedding: {unet['blur_embedding_frequencies']} frequencies, bokeh tokens: {unet['bokeh_tokens']}"
               + (f", blur fusers: {unet['blur_fuser_frequencies']} frequencies" if unet["blur_fuser_frequencies"] else ""))
    typer.echo(f"  branches: text {'yes' if summary['branches']['text'] else 'no'}, "
               f"reference {'yes' if summary['branches']['reference'] else 'no'}")
    for name, part in summary["components"].items():
        size = f", {part['parameters']:,} parameters, {part['dtype']}" if "parameters" in part else ""
        typer.echo(f"  {name}: {part['class']}{size}")
