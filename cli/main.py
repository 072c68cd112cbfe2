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
from cli import model as _model  # noqa: F401  (registers `model init` and `model info`)
from cli import model_import as _model_import  # noqa: F401  (registers `model import`)
from cli import plugin as _plugin  # noqa: F401  (registers `plugin install|uninstall`)
from cli import stubs as _stubs  # noqa: F401  (registers commands not built yet)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
