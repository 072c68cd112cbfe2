"""`bokehfx watch IN OUT`: render every clip dropped into a folder, exactly once, surviving crashes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from cli.app import app

#: Options a watch folder decides itself; settings files may not set them.
RESERVED_KEYS = frozenset({"input", "output", "timeline", "force", "quiet", "resume", "backend",
                           "address", "job", "progress_json"})


def render_option_names() -> dict[str, bool]:
    """The ``render`` options a settings file may set: name (with ``_``) -> is an on/off flag."""
    import inspect

    from cli.render import render

    names = {}
    for name, parameter in inspect.signature(render).parameters.items():
        if name not in RESERVED_KEYS:
            names[name] = parameter.default is False or parameter.default is True
    return names


def check_settings(settings: dict[str, Any], origin: str) -> dict[str, Any]:
    """Refuse unknown keys and the keys the watch folder decides itself."""
    from bokehfx.errors import UsageError

    allowed = render_option_names()
    for key in settings:
        if key in RESERVED_KEYS:
            raise UsageError(f"{origin}: {key!r} is decided by the watch folder and cannot be set there")
        if key not in allowed:
            raise UsageError(f"{origin}: unknown setting {key!r}; the keys are the render options with _ "
                             f"(e.g. blur, depth, codec, focus_point)")
    return dict(settings)


def render_arguments(settings: dict[str, Any]) -> list[str]:
    """Settings as ``render`` command-line options."""
    flags = render_option_names()
    args: list[str] = []
    for key, value in sorted(settings.items()):
        option = "--" + key.replace("_", "-")
        if flags.get(key):
            if value:
                args.append(option)
        elif value is not None:
            args += [option, str(value)]
    return args


def render_command(backend: str, address: str | None):
    """The command a watcher runs for a job: ``bokehfx render IN -o OUT --resume -q`` with its settings."""

    def command(job: Any, source: Path, target: Path) -> list[str]:
        argv = [sys.executable, "-m", "cli.main", "render", str(source), "-o", str(target), "--resume", "-q",
                *render_arguments(job.options)]
        if job.overwrite:
            argv.append("--force")
        if backend != "local":
            argv += ["--backend", backend]
        if address:
            argv += ["--address", address]
        return argv

    return command


@app.command()
def watch(
    in_dir: Annotated[Path, typer.Argument(metavar="IN", help="Folder to watch (read only; sub-folders too).",
                                           show_default=False)],
    out_dir: Annotated[Path, typer.Argument(metavar="OUT", help="Folder for the renders (mirrors IN's sub-folders) "
                                                                "and the journal OUT/.bokehfx/jobs.sqlite.",
                                            show_default=False)],
    settle: Annotated[float, typer.Option(help="Seconds a file's size and time must hold still before it is taken.")]
    = 5.0,
    poll: Annotated[bool, typer.Option("--poll", help="Poll the folder instead of waiting for events (network "
                                                      "shares and mounts where events do not arrive).")] = False,
    workers: Annotated[int, typer.Option(help="Renders at once.")] = 1,
    config: Annotated[Optional[Path], typer.Option(
        help="TOML file of default render settings for the folder (keys as in a job file: blur = 0, "
             "depth = \"auto\", codec = \"prores_hq\", ...). A clip's sidecar clip.bokehfx.json wins over it.",
        show_default=False)] = None,
    once: Annotated[bool, typer.Option("--once", help="Render what is there (after settling) and exit when the "
                                                      "queue is empty (cron, CI).")] = False,
    backend: Annotated[str, typer.Option(help="Where each job's chunks render: local or ray.")] = "local",
    address: Annotated[Optional[str], typer.Option(help="Ray cluster address with --backend ray.",
                                                   show_default=False)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No line per job on stderr.")] = False,
) -> None:
    """Watch a folder and render every clip dropped into it into OUT, each exactly once.

    A journal (SQLite, OUT/.bokehfx/jobs.sqlite) remembers every input; a killed watcher restarted
    with the same command resumes where it stopped. SIGTERM or Ctrl-C stop it cleanly.
    """
    import signal

    from bokehfx.batch.inputs import read_toml
    from bokehfx.batch.watch import WatchSettings, Watcher
    from bokehfx.errors import UsageError

    if backend not in ("local", "ray"):
        raise UsageError(f"--backend {backend!r} must be local or ray")
    defaults = check_settings(read_toml(config), f"--config {str(config)!r}") if config is not None else {}

    def report(line: str) -> None:
        if not quiet:
            sys.stderr.write(f"{line}\n")
            sys.stderr.flush()

    watcher = Watcher(WatchSettings(in_dir=in_dir, out_dir=out_dir, command=render_command(backend, address),
                                    validate=check_settings, defaults=defaults, settle=settle, poll=poll,
                                    workers=workers, once=once, report=report))
    previous = {sig: signal.signal(sig, lambda signum, frame: watcher.request_stop(signum))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        counts = watcher.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if watcher.stopped_by is not None:
        report(f"stopped: {counts['done']} done, {counts['failed']} failed, {counts['queued']} left in the queue")
    elif once:
        report(f"finished: {counts['done']} done, {counts['failed']} failed")
