"""`--job JOB.json` and `--progress-json FILE` of `bokehfx render`: the glue between the job file
(:mod:`bokehfx.jobs.jobfile`) and the typer/click command.

The job file's vocabulary is derived from the ``render`` command's own parameters (long option
names with ``-`` written ``_``), so it cannot drift from the flags. A job is applied as click's
``default_map``: every option not given on the command line takes the job's value, converted and
checked exactly as the same text on the command line would be; flags given beside ``--job`` win.

Other code (the watch folder, farm exports) validates jobs with :func:`load_render_job` /
:func:`validate_render_job` and turns them back into arguments with :func:`job_arguments`.
"""

from __future__ import annotations

import functools
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, Optional

import typer

if TYPE_CHECKING:
    from bokehfx.jobs.jobfile import JobFile
    from bokehfx.jobs.progress import ProgressLog

# typer ships its own copy of click, so parameters are told apart by click's public attributes
# (``param_type_name``, ``opts``, ``is_flag``), never by isinstance against one copy's classes.

#: The job given with ``--job`` to the command being run (set by the eager callback on every parse).
_current_job: ContextVar[Optional["JobFile"]] = ContextVar("bokehfx_current_job", default=None)
#: Parameters of `render` that are not job-file keys.
NOT_JOB_KEYS = frozenset({"job", "help"})


def job_key(param: Any) -> Optional[str]:
    """The job-file key of a click parameter: its first long option name, ``-`` written ``_``."""
    if param.param_type_name == "argument":
        return param.name
    longs = [o for o in param.opts if o.startswith("--")]
    return longs[0][2:].replace("-", "_") if longs else param.name


def command_vocabulary(command: Any) -> dict[str, str]:
    """Job-file key → click parameter name, for every parameter of ``command`` a job may set."""
    keys = {}
    for param in command.params:
        if param.name in NOT_JOB_KEYS or getattr(param, "hidden", False):
            continue
        keys[job_key(param)] = param.name
    return keys


def render_command() -> Any:
    """The click command behind ``bokehfx render``."""
    import typer.main

    from cli.main import app

    group = typer.main.get_command(app)
    return group.commands["render"]  # type: ignore[attr-defined]


def render_vocabulary() -> dict[str, str]:
    """The job-file keys of ``bokehfx render`` (job key → parameter name)."""
    return command_vocabulary(render_command())


def validate_render_job(data: Mapping[str, Any], where: str = "job") -> "JobFile":
    """Validate a decoded job object (or watch-folder settings with a schema) for ``render``."""
    from bokehfx.jobs.jobfile import parse_job

    return parse_job(data, render_vocabulary(), where)


def load_render_job(path: str) -> "JobFile":
    """Read and validate a ``bokehfx.job/1`` file for ``render``; raises a one-line UsageError."""
    from bokehfx.jobs.jobfile import read_job

    return read_job(path, render_vocabulary())


def job_arguments(job: "JobFile", command: Any = None) -> list[str]:
    """The job's options as a ``bokehfx render`` argument list (keyframes cannot be flags: not included)."""
    command = command or render_command()
    params = {job_key(p): p for p in command.params}
    args: list[str] = []
    positional: list[str] = []
    for key, value in job.options.items():
        param = params[key]
        if param.param_type_name == "argument":
            positional.append(str(value))
        elif getattr(param, "is_flag", False):
            if value:
                args.append(f"--{key.replace('_', '-')}")
        elif value is not None:
            args += [f"--{key.replace('_', '-')}", str(value)]
    return args + (["--"] + positional if positional else [])


def job_option_callback(ctx: typer.Context, value: Optional[str]) -> Optional[str]:
    """Eager ``--job`` callback: validate the file and make its values the command's defaults."""
    _current_job.set(None)
    if value is None or ctx.resilient_parsing:
        return value
    from bokehfx.jobs.jobfile import read_job

    vocabulary = command_vocabulary(ctx.command)
    job = read_job(value, vocabulary)
    defaults = dict(ctx.default_map or {})
    defaults.update({vocabulary[key]: v for key, v in job.options.items()})
    ctx.default_map = defaults
    _current_job.set(job)
    return value


def current_job() -> Optional["JobFile"]:
    """The job given with ``--job`` to the running command, if any."""
    return _current_job.get()


def keyframe_plan(input_path: Any, fps: Optional[str], prompt: Optional[str]) -> Any:
    """The focus plan of the job's keyframes for the clip ``input_path``, or None without keyframes.

    The keyframes start from ``prompt``'s plan when there is one (its first focus and blur).
    """
    job = current_job()
    if job is None or not job.keyframes:
        return None
    from bokehfx.io.probe import probe
    from bokehfx.jobs.jobfile import keyframe_plan as plan_of
    from cli.options import parse_fps

    rate = probe(input_path, fps=parse_fps(fps)).video.frame_rate
    base = None
    if prompt:
        from bokehfx.focus.prompt import parse_prompt

        base = parse_prompt(prompt, rate)
    return plan_of(job, rate, base)


def _error_line(err: BaseException) -> str:
    from bokehfx.errors import BokehfxError

    text = " ".join(str(err).split())
    if isinstance(err, BokehfxError):
        return f"error: {text}"
    if hasattr(err, "format_message"):  # click's (typer's) usage errors
        return f"error: {' '.join(err.format_message().split())}"
    return f"error: internal error ({type(err).__name__}: {text})"


@contextmanager
def progress_json(path: Optional[str], output: Optional[str]) -> Iterator[Optional["ProgressLog"]]:
    """Write ``--progress-json`` lines around a render; the final line says how it ended."""
    if path is None:
        yield None
        return
    from bokehfx.jobs.progress import STATUS_DONE, STATUS_FAILED, STATUS_INTERRUPTED, ProgressLog
    from cli.app import Terminated
    from cli.progress import json_progress

    log = ProgressLog(path, output=output)
    log.set_stage("start")
    token = json_progress.set(log)
    try:
        yield log
    except (KeyboardInterrupt, typer.Abort, Terminated) as err:
        word = "terminated" if isinstance(err, Terminated) else "interrupted"
        log.finish(STATUS_INTERRUPTED, error=f"error: {word}; nothing was written at the output path")
        raise
    except BaseException as err:
        if isinstance(err, SystemExit) and not err.code:
            log.finish(STATUS_DONE)
        else:
            log.finish(STATUS_FAILED, error=_error_line(err))
        raise
    else:
        log.finish(STATUS_DONE)
    finally:
        json_progress.reset(token)


def with_job_file(command: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap the ``render`` body: progress lines for ``progress_json``, keyframes checked against the mode."""

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        with progress_json(kwargs.get("progress_json"), kwargs.get("output")):
            job = current_job()
            if job is not None and job.keyframes and kwargs.get("timeline") is not None:
                from bokehfx.errors import UsageError

                raise UsageError(f"{job.where}: keyframes apply to one clip; with --timeline the clips' "
                                 "markers carry focus")
            return command(**kwargs)

    return wrapper
