"""`bokehfx train`: train the diffusion renderer on pairs made by the physical engine."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from cli.app import app

#: Output folder when ``--output`` is not given: ``runs/<config name>``.
DEFAULT_RUNS_DIR = "runs"


@app.command()
def train(
    config: Annotated[Optional[Path], typer.Argument(help="Training configuration (TOML); see --example.",
                                                     show_default=False)] = None,
    output: Annotated[Optional[Path], typer.Option(
        "--output", "-o", help="Run folder: checkpoints, logs and the exported model (DIR/model). "
                               "Default: runs/<config name>.", show_default=False)] = None,
    max_steps: Annotated[Optional[int], typer.Option(
        "--max-steps", min=1, help="Stop (and export) after this many optimizer steps in total, "
                                   "even if the stages have more.", show_default=False)] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue the run in the output folder from its latest checkpoint.")] = False,
    example: Annotated[bool, typer.Option(
        "--example", help="Print a complete, commented configuration and exit.")] = False,
    tiny: Annotated[bool, typer.Option(
        "--tiny", help="With --example: the tiny model on procedural scenes (a CPU run of seconds, "
                       "no download).")] = False,
    device: Annotated[Optional[str], typer.Option(
        "--device", help="cpu, cuda or auto (default auto: what accelerate picks, the GPU when there is one; "
                         "choose GPUs with CUDA_VISIBLE_DEVICES or accelerate launch).",
        show_default=False)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Train the diffusion renderer on data made by the physical renderer.

    Pairs are synthesised on the fly (procedural scenes, clips with depth sidecars or cached
    depth, or ready-made pair folders), trained in Any-to-Bokeh's stages (whole UNet, temporal
    layers, VAE decoder) with accelerate (`accelerate launch -m cli.main train ...` for several GPUs),
    checkpointed in safetensors and exported to DIR/model, which `bokehfx render --renderer
    diffusion --model DIR/model` loads. Ctrl-C saves a checkpoint and exits 130.
    """
    if example:
        from bokehfx.training.example import example_config

        typer.echo(example_config(tiny), nl=False)
        return
    if tiny:
        raise typer.BadParameter("--tiny only goes with --example", param_hint="--tiny")
    if config is None:
        raise typer.BadParameter("give a configuration file (bokehfx train --example prints one)",
                                 param_hint="CONFIG")
    from bokehfx.training.config import load_config
    from cli.progress import wants_progress

    settings = load_config(config)
    from bokehfx.training.loop import run_training

    out_dir = output or Path(DEFAULT_RUNS_DIR) / config.stem
    from cli.app import EXIT_INTERRUPTED, EXIT_TERMINATED, Terminated, fail

    show = wants_progress(quiet)
    saved = f"a checkpoint of the steps done is in {str(out_dir / 'checkpoints')!r}; continue with --resume"
    try:
        with _train_progress(show) as progress:
            result = run_training(settings, out_dir, max_steps=max_steps, resume=resume, device=device,
                                  progress=progress)
    except KeyboardInterrupt:
        fail(f"interrupted; {saved}", EXIT_INTERRUPTED)
    except Terminated:
        fail(f"terminated; {saved}", EXIT_TERMINATED)
    if not quiet:
        typer.echo(f"bokehfx train: {result.steps} steps, last loss {result.last_loss:.4g}; "
                   f"model: {result.model_dir}", err=True)


class _NoProgress:
    def __enter__(self):
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _train_progress(enabled: bool):
    """A rich bar on stderr showing step, loss, steps/s and time left (or nothing)."""
    if not enabled:
        return _NoProgress()
    from contextlib import contextmanager

    @contextmanager
    def bar():
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn)

        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("loss {task.fields[loss]}"), TextColumn("{task.fields[rate]} steps/s"),
                   TimeElapsedColumn(), TextColumn("left"), TimeRemainingColumn()]
        with Progress(*columns, console=Console(stderr=True)) as progress:
            task = progress.add_task("train", total=None, loss="-", rate="-")

            def update(step: int, total: int, loss: float, rate: float, stage: str) -> None:
                progress.update(task, completed=step, total=total, loss=f"{loss:.4g}", rate=f"{rate:.2f}",
                                description=stage)

            yield update

    return bar()
