"""The typer application object and the error contract of the CLI.

Every command module registers itself on :data:`app`. :class:`BokehfxGroup` turns every
expected failure into exit status 2 and one line ``error: ...`` on stderr, with no traceback:
bad flag values (typer's own usage errors) and every :class:`bokehfx.errors.BokehfxError`.
Only this module and the command modules may print; the library never does.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import typer
from typer.core import TyperGroup

EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 1
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


class Terminated(BaseException):
    """SIGTERM arrived (a render manager or a host plugin stopping us): unwind and clean up."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated()


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def fail(message: str, code: int = EXIT_BAD_INPUT) -> None:
    """Print ``error: message`` on stderr as a single line and exit with ``code``."""
    sys.stderr.write(f"error: {_one_line(message)}\n")
    sys.stderr.flush()
    sys.exit(code)


class BokehfxGroup(TyperGroup):
    """A typer group whose ``main`` enforces the one-line ``error:`` contract."""

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        import signal

        from bokehfx.errors import BokehfxError  # light: standard library only

        signal.signal(signal.SIGTERM, _on_sigterm)
        try:
            rv = super().main(args=args, prog_name=prog_name or "bokehfx", complete_var=complete_var,
                              standalone_mode=False, **extra)
        except BokehfxError as err:
            fail(str(err))
        except typer.TyperException as err:
            if type(err).__name__ == "NoArgsIsHelpError":
                ctx = getattr(err, "ctx", None)
                if ctx is not None:
                    typer.echo(ctx.get_help())
                sys.exit(0)
            message = err.format_message() if hasattr(err, "format_message") else str(err)
            fail(message, getattr(err, "exit_code", EXIT_BAD_INPUT) or EXIT_BAD_INPUT)
        except (KeyboardInterrupt, typer.Abort):
            fail("interrupted; nothing was written at the output path", EXIT_INTERRUPTED)
        except Terminated:
            fail("terminated; nothing was written at the output path", EXIT_TERMINATED)
        except Exception as err:  # a bug, not bad input: say so, keep the trace on request
            if os.environ.get("BOKEHFX_DEBUG"):
                raise
            fail(f"internal error ({type(err).__name__}: {err}); rerun with BOKEHFX_DEBUG=1 "
                 "for the traceback and please report it", EXIT_INTERNAL)
        if rv == EXIT_INTERRUPTED:  # typer turns Ctrl-C into this exit code before we see it
            fail("interrupted; nothing was written at the output path", EXIT_INTERRUPTED)
        if standalone_mode:
            sys.exit(rv if isinstance(rv, int) else 0)
        return rv


app = typer.Typer(
    name="bokehfx",
    cls=BokehfxGroup,
    help="Controllable, flicker-free depth of field for all-in-focus footage.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from bokehfx import __version__

        typer.echo(f"bokehfx {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", callback=_version,
                                 is_eager=True),
) -> None:
    """Controllable, flicker-free depth of field for all-in-focus footage."""

