"""`bokehfx watch IN OUT`: render every clip dropped into a folder, exactly once, surviving crashes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from cli.app import app

#: Options a watch folder decides itself; settings files may not set them.
RESERVED_KEYS = frozenset({"input", "output", "timeline", "force", "quiet", "resume", "backend", "address",
                           "progress_json"})


def check_settings(settings: dict[str, Any], origin: str) -> dict[str, Any]:
    """Validate watch-folder settings as a job file (``bokehfx.job/1``; the schema may be left out of a
    TOML file) and refuse the keys the watch folder decides itself. Returns them as a job object."""
    from bokehfx.errors import UsageError
    from bokehfx.jobs.jobfile import JOB_SCHEMA, KEYFRAMES_KEY
    from cli.jobfile import validate_render_job

    data = {"schema": JOB_SCHEMA, **settings}
    job = validate_render_job(data, origin)
    for key in job.options:
        if key in RESERVED_KEYS:
            raise UsageError(f"{origin}: {key!r} is decided by the watch folder and cannot be set there")
    out = dict(job.options)
    if job.keyframes:
        out[KEYFRAMES_KEY] = [dict(k) for k in job.keyframes]
    return out


def render_command(out_dir: Path, backend: str, address: str | None):
    """The command a watcher runs for a job: ``bokehfx render --job JOB IN -o OUT --resume -q``.

    The job's settings are written as a job file in ``OUT/.bokehfx/jobs/`` (removed when it ends).
    Diffusion jobs render in one pass (their windows are not resumable chunks yet), so they go
    without ``--resume``.
    """
    from bokehfx.batch.journal import JOURNAL_DIRNAME
    from bokehfx.jobs.jobfile import KEYFRAMES_KEY, JobFile, write_job

    folder = out_dir / JOURNAL_DIRNAME / "jobs"

    def command(job: Any, source: Path, target: Path) -> list[str]:
        folder.mkdir(parents=True, exist_ok=True)
        settings = job.options
        keyframes = tuple(settings.pop(KEYFRAMES_KEY, ()))
        job_file = write_job(folder / f"job-{job.id}.json",
                             JobFile(options=settings, keyframes=keyframes, where=f"job {job.id}"))
        argv = [sys.executable, "-m", "cli.main", "render", "--job", str(job_file), str(source), "-o", str(target),
                "-q"]
        if str(settings.get("renderer", "physical")) != "diffusion":
            argv.append("--resume")
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

    watcher = Watcher(WatchSettings(in_dir=in_dir, out_dir=out_dir, command=render_command(out_dir, backend, address),
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
