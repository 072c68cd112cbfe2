"""The watch folder: clips dropped into IN are rendered into OUT, each exactly once, surviving any crash.

The watcher schedules; it never renders. Each job is a ``bokehfx render ... --resume`` child process
(the command comes from the CLI layer), so a render that dies (out of memory, a bug, a kill) takes
nothing else with it, and a restarted job continues from its last finished chunk. The children
are tied to the watcher: when it dies, even by ``kill -9``, the kernel stops them
(``PR_SET_PDEATHSIG``), and the next watcher finds their jobs ``running`` in the journal and queues
them again.

Events come from watchdog (inotify, or polling with ``poll=True`` for network shares where events
do not arrive); every file is taken only after it has settled (:class:`bokehfx.batch.inputs.Settler`).
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import queue
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from bokehfx.batch.inputs import (DEFAULT_SETTLE_S, Settler, Validator, content_hash, is_ignored, output_for,
                                  refusal, settings_for, settings_hash, walk)
from bokehfx.batch.journal import JOURNAL_DIRNAME, Journal, JobRow, Seen
from bokehfx.errors import BokehfxError, OutputError, UsageError
from bokehfx.io.workdir import work_folder_for

#: Seconds between two looks at the settling files and the queue.
TICK_S = 0.2
#: Attempts of a job whose render was killed (by the system, not by bad input) before it fails.
MAX_ATTEMPTS = 3
#: How long stopping children get to remove their unfinished chunk (seconds).
STOP_GRACE_S = 30.0
#: Exit statuses of a child stopped by us (Ctrl-C, SIGTERM): its job goes back to the queue.
STOPPED_STATUSES = (130, 143)
#: Exit status of a render refused for bad input.
BAD_INPUT_STATUS = 2
#: watchdog events that mean a file or folder changed (opening and reading one do not).
CHANGE_EVENTS = frozenset({"created", "modified", "moved", "closed", "deleted"})
_PR_SET_PDEATHSIG = 1
_LOCK_NAME = "watch.lock"

#: Builds the command that renders a job: (job, input path, output path) -> argv.
CommandBuilder = Callable[[JobRow, Path, Path], list[str]]


@dataclass
class WatchSettings:
    """How a watch folder runs (``bokehfx watch`` options)."""

    in_dir: Path
    out_dir: Path
    command: CommandBuilder
    validate: Validator
    defaults: dict[str, Any] = field(default_factory=dict)
    settle: float = DEFAULT_SETTLE_S
    poll: bool = False
    workers: int = 1
    once: bool = False
    report: Callable[[str], None] = lambda line: None


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` asking Linux to SIGTERM the child when the watcher dies (``None`` elsewhere)."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def arm() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)

    return arm


def _error_line(stderr: str, status: int) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    if errors:
        return errors[-1]
    if status < 0:
        return f"error: the render was killed by signal {-status} ({signal.Signals(-status).name})"
    return f"error: the render exited with status {status}" + (f": {lines[-1]}" if lines else "")


class Watcher:
    """One watch folder (see the module docstring). :meth:`run` returns when stopped or, with ``once``, idle."""

    def __init__(self, settings: WatchSettings) -> None:
        self.s = settings
        self.in_dir = settings.in_dir.resolve()
        self.out_dir = settings.out_dir.resolve()
        if not self.in_dir.is_dir():
            raise UsageError(f"watch folder {str(settings.in_dir)!r} is not a folder")
        if settings.workers < 1:
            raise UsageError(f"--workers {settings.workers} must be at least 1")
        if settings.settle < 0:
            raise UsageError(f"--settle {settings.settle} must not be negative")
        for a, b in ((self.in_dir, self.out_dir), (self.out_dir, self.in_dir)):
            if a == b or a in b.parents:
                raise UsageError(f"OUT {str(settings.out_dir)!r} and IN {str(settings.in_dir)!r} must not contain "
                                 "each other (renders would be watched as inputs, or inputs written over)")
        self.stop = threading.Event()
        self.stopped_by: int | None = None
        self._events: queue.Queue[Path] = queue.Queue()
        self._children: dict[int, subprocess.Popen] = {}
        self._children_lock = threading.Lock()
        self._busy = 0
        self.settler = Settler(settings.settle)
        self.journal: Journal | None = None

    # -- start and stop -------------------------------------------------------------------------
    def request_stop(self, signum: int | None = None) -> None:
        """Stop taking work; running renders are stopped (their finished chunks stay) and requeued."""
        self.stopped_by = signum
        self.stop.set()

    def run(self) -> dict[str, int]:
        """Watch until stopped (or until idle with ``once``). Returns the journal's counts by state."""
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / JOURNAL_DIRNAME).mkdir(exist_ok=True)
        lock_fd = os.open(self.out_dir / JOURNAL_DIRNAME / _LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(lock_fd)
            raise OutputError(f"another watcher is already rendering into {str(self.s.out_dir)!r}") from None
        try:
            with Journal(self.out_dir) as journal:
                self.journal = journal
                for job_id in journal.recover(self._finished_before):
                    self.s.report(f"resuming job {job_id} (its watcher stopped in the middle)")
                return self._watch(journal)
        finally:
            self.journal = None
            os.close(lock_fd)

    def _finished_before(self, job: JobRow) -> bool:
        out = self.out_dir / job.output
        return out.exists() and not work_folder_for(out).exists() and not job.overwrite

    def _watch(self, journal: Journal) -> dict[str, int]:
        observer = self._observer()
        observer.start()
        workers = [threading.Thread(target=self._work, name=f"bokehfx-watch-{i}", daemon=True)
                   for i in range(self.s.workers)]
        try:
            self._scan(self.in_dir)
            for worker in workers:
                worker.start()
            while not self.stop.is_set():
                self._take_events()
                self._offer_settled(journal)
                if self.s.once and self._idle(journal):
                    break
                self.stop.wait(TICK_S)
        finally:
            self.stop.set()
            self._stop_children()
            for worker in workers:
                if worker.is_alive():
                    worker.join()
            observer.stop()
            observer.join()
        return {state: journal.count(state) for state in ("queued", "running", "done", "failed")}

    def _observer(self) -> Any:
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer
        from watchdog.observers.polling import PollingObserver

        events = self._events

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: Any) -> None:
                if event.event_type not in CHANGE_EVENTS:
                    return  # reading a file (hashing it, rendering it) is not a change
                for name in ("src_path", "dest_path"):
                    path = getattr(event, name, "")
                    if path:
                        events.put(Path(os.fsdecode(path)))

        observer = PollingObserver(timeout=max(TICK_S, 0.5)) if self.s.poll else Observer()
        observer.schedule(Handler(), str(self.in_dir), recursive=True)
        return observer

    # -- finding inputs -------------------------------------------------------------------------
    def _scan(self, folder: Path) -> None:
        files, links = walk(folder)
        for link in links:
            self._refuse(link)
        for path in files:
            self.settler.add(path)

    def _take_events(self) -> None:
        while True:
            try:
                path = self._events.get_nowait()
            except queue.Empty:
                return
            if not path.is_relative_to(self.in_dir) or any(
                    part.startswith(".") for part in path.relative_to(self.in_dir).parts):
                continue
            if path.is_symlink():
                self._refuse(path)
            elif path.is_dir():
                self._scan(path)  # a folder moved in brings files that raise no events of their own
            elif path.name.lower().endswith(".bokehfx.json"):
                stem = path.name[: -len(".bokehfx.json")]
                for clip in path.parent.glob(f"{stem}.*"):
                    if not is_ignored(clip.name) and clip.is_file():
                        self.settler.add(clip)
            elif not is_ignored(path.name) and path.exists():
                self.settler.add(path)

    def _refuse(self, path: Path) -> None:
        why = refusal(self.in_dir, path)
        if why is not None and self.journal is not None:
            self.journal.refuse(str(path.relative_to(self.in_dir)), f"error: {why}")

    def _offer_settled(self, journal: Journal) -> None:
        for path, size, mtime_ns in self.settler.settled():
            rel = path.relative_to(self.in_dir)
            why = refusal(self.in_dir, path)
            if why is not None:
                journal.refuse(str(rel), f"error: {why}")
                continue
            try:
                settings = settings_for(path, self.s.defaults, self.s.validate)
            except BokehfxError as err:
                journal.refuse(str(rel), f"error: {err}")
                continue
            known = journal.get(str(rel))
            if known is not None and known.content_hash and (known.size, known.mtime_ns) == (size, mtime_ns):
                digest = known.content_hash  # unchanged since it was hashed: a restart rehashes nothing
            else:
                digest = content_hash(path)
            seen = Seen(str(rel), size, mtime_ns, digest, settings_hash(settings), _json(settings),
                        str(output_for(rel, settings)))
            if journal.offer(seen) == "queued":
                self.s.report(f"queued {rel}")

    def _idle(self, journal: Journal) -> bool:
        with self._children_lock:
            busy = self._busy
        return (not busy and self.settler.pending == 0 and self._events.empty()
                and journal.count("queued") == 0 and journal.count("running") == 0)

    # -- rendering (in child processes) ---------------------------------------------------------
    def _work(self) -> None:
        journal = self.journal
        while not self.stop.is_set():
            with self._children_lock:
                job = journal.claim()
                if job is not None:
                    self._busy += 1
            if job is None:
                self.stop.wait(TICK_S)
                continue
            try:
                state, error, seconds = self._render(job)
                journal.finish(job.id, state=state, error=error, seconds=seconds)
                self.s.report(f"{state} {job.input}" + (f": {error}" if error and state == "failed" else ""))
            finally:
                with self._children_lock:
                    self._busy -= 1

    def _render(self, job: JobRow) -> tuple[str, str | None, float | None]:
        source = self.in_dir / job.input
        why = refusal(self.in_dir, source) if source.exists() or source.is_symlink() else \
            f"{str(source)!r} is gone from the watched folder"
        if why is not None:
            return "failed", f"error: {why}", None
        target = self.out_dir / job.output
        target.parent.mkdir(parents=True, exist_ok=True)
        argv = self.s.command(job, source, target)
        started = time.monotonic()
        child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                 text=True, preexec_fn=_die_with_parent())
        with self._children_lock:
            self._children[job.id] = child
        if self.stop.is_set():
            child.send_signal(signal.SIGTERM)
        try:
            _, stderr = child.communicate()
        finally:
            with self._children_lock:
                self._children.pop(job.id, None)
        seconds = time.monotonic() - started
        status = child.returncode
        if status == 0:
            return "done", None, seconds
        if self.stop.is_set() and (status in STOPPED_STATUSES or status < 0):
            return "queued", None, None  # we stopped it: it resumes next time
        error = _error_line(stderr, status)
        if status < 0 and job.attempts < MAX_ATTEMPTS:
            return "queued", error, None  # killed from outside (out of memory, ...): its chunks are kept
        return "failed", error, seconds

    def _stop_children(self) -> None:
        with self._children_lock:
            children = list(self._children.values())
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for child in children:
            try:
                child.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()


def _json(settings: dict[str, Any]) -> str:
    import json

    return json.dumps(settings, sort_keys=True)


__all__ = ["MAX_ATTEMPTS", "CommandBuilder", "WatchSettings", "Watcher"]
