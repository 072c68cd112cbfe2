"""Machine-readable progress: JSON lines for host plugins, watch folders and render managers.

Each line is one JSON object written by a single ``write`` to a file opened in append mode, so a
reader that takes only lines ending in a newline never sees half a line::

    {"schema": "bokehfx.progress/1", "stage": "render", "frames_done": 12, "frames_total": 48,
     "fps": 3.1, "seconds_left": 11.6, "elapsed": 3.9, "output": "/renders/out.mov"}
    {"schema": "bokehfx.progress/1", "status": "done", "stage": "done", "frames_done": 48, ...}

The last line carries ``status``: ``done``, ``failed`` (with ``error``: the ``error: ...`` line the
command printed) or ``interrupted``. Lines while frames flow are written at most every
:data:`PROGRESS_INTERVAL_S` seconds.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Optional, Union

PROGRESS_SCHEMA = "bokehfx.progress/1"
#: Least time between two frame-progress lines (the first and the last are always written).
PROGRESS_INTERVAL_S = 0.5
STATUS_DONE = "done"
STATUS_FAILED = "failed"
STATUS_INTERRUPTED = "interrupted"


class ProgressLog:
    """Appends progress lines to a file; each line is written whole with one system call.

    Args:
        path: the file (created or truncated on open).
        output: the render's output path, repeated on every line.
        clock: seconds, monotonic (injectable for tests).
    """

    def __init__(self, path: Union[str, Path], output: Optional[str] = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.path = Path(path)
        self.output = output
        self.clock = clock
        self.started = clock()
        self.stage_started = self.started
        self.stage = "start"
        self.clip: Optional[str] = None
        self.done = 0
        self.total: Optional[int] = None
        self._last_write: Optional[float] = None
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        except OSError as err:
            from bokehfx.errors import OutputError

            raise OutputError(f"--progress-json {str(self.path)!r} cannot be written: {err.strerror or err}") from None
        self.closed = False

    def _write(self, record: dict[str, Any]) -> None:
        line = json.dumps({"schema": PROGRESS_SCHEMA, **record}, separators=(", ", ": ")) + "\n"
        data = line.encode("utf-8")
        written = os.write(self._fd, data)
        while written < len(data):  # a regular file takes it whole; be exact if it did not
            written += os.write(self._fd, data[written:])

    def _record(self) -> dict[str, Any]:
        now = self.clock()
        elapsed = now - self.started
        in_stage = now - self.stage_started
        fps = self.done / in_stage if in_stage > 0 and self.done else None
        left = None
        if fps and self.total is not None and self.total >= self.done:
            left = round((self.total - self.done) / fps, 2)
        return {"stage": self.stage, "frames_done": self.done, "frames_total": self.total,
                "fps": round(fps, 3) if fps else None, "seconds_left": left,
                "elapsed": round(elapsed, 3), "clip": self.clip, "output": self.output}

    def set_stage(self, stage: str, clip: Optional[str] = None) -> None:
        """Enter a stage (``start``, ``render``) of ``clip`` (a label) and write a line; frames restart at 0."""
        self.stage = stage
        self.clip = clip
        self.stage_started = self.clock()
        self.done, self.total = 0, None
        self._write(self._record())
        self._last_write = self.clock()

    def frames(self, done: int, total: Optional[int]) -> None:
        """A progress callback ``(done, total)``; writes a line at most every interval."""
        self.done = done
        self.total = total
        now = self.clock()
        last = total is not None and done >= total
        if self._last_write is None or last or now - self._last_write >= PROGRESS_INTERVAL_S:
            self._write(self._record())
            self._last_write = now

    def finish(self, status: str, error: Optional[str] = None, output: Optional[str] = None) -> None:
        """Write the final line (``status`` done | failed | interrupted) and close the file."""
        if self.closed:
            return
        if output is not None:
            self.output = output
        self.stage = status
        record = {"status": status, **self._record()}
        if error is not None:
            record["error"] = error
        try:
            self._write(record)
        finally:
            os.close(self._fd)
            self.closed = True


def read_progress(path: Union[str, Path]) -> list[dict[str, Any]]:
    """The complete lines of a progress file (a trailing partial line is left for the next read)."""
    try:
        text = Path(path).read_bytes().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return []
    complete = text[: text.rfind("\n") + 1]
    return [json.loads(line) for line in complete.splitlines() if line.strip()]
