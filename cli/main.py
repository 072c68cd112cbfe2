"""Entry point of the ``bokehfx`` console command.

Command modules are imported here only for their typer signatures; each one defers its heavy
imports (PyAV, torch, models) to the body of the command, so ``bokehfx --help`` stays instant.
"""

from __future__ import annotations

from cli.app import app
from cli import probe as _probe  # noqa: F401  (registers `probe`)
from cli import render as _render  # noqa: F401  (registers `render`)
from cli import plan as _plan  # noqa: F401  (registers `plan`)
from cli import evaluate as _evaluate  # noqa: F401  (registers `eval`)
from cli import demo as _demo  # noqa: F401  (registers `demo`)
from cli import watch as _watch  # noqa: F401  (registers `watch`)
from cli import jobs as _jobs  # noqa: F401  (registers `jobs`)
from cli import export_job as _export_job  # noqa: F401  (registers `export-job`)
from cli import model as _model  # noqa: F401  (registers `model init` and `model info`)
from cli import model_import as _model_import  # noqa: F401  (registers `model import`)
from cli import train as _train  # noqa: F401  (registers `train`)
from cli import plugin as _plugin  # noqa: F401  (registers `plugin install|uninstall`)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
