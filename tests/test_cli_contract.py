"""The CLI's contract: instant help, exit status 2 and one `error:` line for bad input."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from cli.main import app

runner = CliRunner()


def test_help_lists_every_command() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for name in ("probe", "render", "plan", "eval", "demo", "train", "watch"):
        assert name in result.output


def test_help_does_not_import_heavy_modules() -> None:
    code = (
        "import sys; from cli.main import app; "
        "heavy = [m for m in ('torch', 'av', 'numpy', 'transformers', 'diffusers', 'opentimelineio') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_unknown_option_is_one_error_line_exit_2() -> None:
    proc = subprocess.run([sys.executable, "-m", "cli.main", "render", "x.mov", "--no-such-flag"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), proc.stderr
    assert "Traceback" not in proc.stderr


def test_version() -> None:
    from bokehfx import __version__

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"bokehfx {__version__}"
