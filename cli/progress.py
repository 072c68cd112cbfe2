"""Terminal progress for long work: frames, frames per second and time remaining (stderr only)."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Callable, Iterator

#: The ``--progress-json`` log of the running command (a :class:`bokehfx.jobs.progress.ProgressLog`), if any;
#: every :func:`frame_progress` bar also feeds it.
json_progress: ContextVar[Any] = ContextVar("json_progress", default=None)


def wants_progress(quiet: bool) -> bool:
    """Progress only on an interactive terminal, and never with ``--quiet``."""
    return not quiet and sys.stderr.isatty()


@contextmanager
def frame_progress(label: str, enabled: bool) -> Iterator[Callable[[int, "int | None"], None]]:
    """Yield a ``progress(done, total)`` callback drawing a rich bar on stderr, or a no-op.

    With ``--progress-json`` the same calls also become JSON lines (stage ``render``, ``clip`` = label).
    """
    log = json_progress.get()
    if log is not None:
        log.set_stage("render", clip=label)
        with _bar(label, enabled) as draw:
            def both(done: int, total: "int | None") -> None:
                draw(done, total)
                log.frames(done, total)

            yield both
        return
    with _bar(label, enabled) as draw:
        yield draw


@contextmanager
def _bar(label: str, enabled: bool) -> Iterator[Callable[[int, "int | None"], None]]:
    if not enabled:
        yield lambda done, total: None
        return
    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
               TextColumn("{task.fields[fps]} fps"), TimeElapsedColumn(), TextColumn("left"),
               TimeRemainingColumn()]
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(label, total=None, fps="-")

        def update(done: int, total: int | None) -> None:
            elapsed = bar.tasks[0].elapsed or 0.0
            fps = f"{done / elapsed:.1f}" if elapsed > 0 else "-"
            bar.update(task, completed=done, total=total if total and total >= done else None, fps=fps)

        yield update
