"""Running the host plugins as the hosts would: isolated Python with only the fakes on the path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from cli.main import app

REPO = Path(__file__).resolve().parents[1]
FAKES = REPO / "tests" / "host_fakes"
#: Longest a test waits for a detached render to write its final progress line.
RENDER_WAIT_S = 180.0
POLL_S = 0.2


def install(host: str, dest: Path, home: Path, monkeypatch) -> dict:
    """``bokehfx plugin install HOST --dest DEST`` with ``$BOKEHFX_HOME`` = home; returns plugins.json."""
    monkeypatch.setenv("BOKEHFX_HOME", str(home))
    result = CliRunner().invoke(app, ["plugin", "install", host, "--dest", str(dest)])
    assert result.exit_code == 0, result.stderr
    return json.loads((home / "plugins.json").read_text())


def run_isolated(args: list[str], home: Path, cwd: Path) -> subprocess.CompletedProcess:
    """``python -I -S ARGS`` with ``$BOKEHFX_HOME`` = home (the CLI it starts inherits the rest of the env)."""
    env = dict(os.environ, BOKEHFX_HOME=str(home))
    return subprocess.run([sys.executable, "-I", "-S", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)


def run_resolve_script(script: Path, scenario: dict, home: Path, tmp: Path) -> tuple[str, dict]:
    """Run a Resolve menu script against the fake; returns (console output, the fake's record)."""
    scenario_path = tmp / f"scenario-{time.monotonic_ns()}.json"
    scenario_path.write_text(json.dumps(scenario))
    out = tmp / f"calls-{time.monotonic_ns()}.json"
    done = run_isolated([str(FAKES / "run_resolve.py"), str(scenario_path), str(script), str(out)], home, tmp)
    assert done.returncode == 0, done.stderr
    return done.stdout, json.loads(out.read_text())


def queue_records(home: Path) -> list[dict]:
    root = home / "queue"
    if not root.is_dir():
        return []
    return [json.loads((d / "record.json").read_text()) for d in sorted(root.iterdir()) if (d / "record.json").is_file()]


def wait_for_final(progress: Path, timeout: float = RENDER_WAIT_S) -> dict:
    """Wait for the final line (with ``status``) of a --progress-json file."""
    from bokehfx.jobs.progress import read_progress

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = read_progress(progress)
        if lines and "status" in lines[-1]:
            return lines[-1]
        time.sleep(POLL_S)
    raise AssertionError(f"no final progress line in {progress} after {timeout} s: {read_progress(progress)}")
