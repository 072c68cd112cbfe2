"""The crash-safe journal of a watch folder: one SQLite database in WAL mode, ``OUT/.bokehfx/jobs.sqlite``.

One row per input (its path relative to the watched folder): what the input was when it was taken
(size, modification time, content hash), the settings it renders with (and their hash), its state
(``queued``, ``running``, ``done``, ``failed``), attempts, the ``error:`` line of a failure, the
output and timings. Every change is one transaction, so a watcher killed at any moment leaves the
journal as it was before or after the change, never between; a row left ``running`` is put back
in the queue by the next watcher (:meth:`Journal.recover`) and its render resumes from its chunks.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterator

from bokehfx.errors import UsageError

#: Folder inside OUT that holds the journal (and the watcher's lock).
JOURNAL_DIRNAME = ".bokehfx"
JOURNAL_NAME = "jobs.sqlite"
#: How long a writer waits for another process's transaction (``bokehfx jobs --retry``), in ms.
BUSY_TIMEOUT_MS = 30_000
STATES = ("queued", "running", "done", "failed")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    input TEXT NOT NULL UNIQUE,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    settings_hash TEXT NOT NULL,
    settings TEXT NOT NULL,
    output TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    overwrite INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    queued_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    seconds REAL
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs (state, id);
"""


def journal_path(out_dir: str | Path) -> Path:
    """``OUT/.bokehfx/jobs.sqlite``."""
    return Path(out_dir) / JOURNAL_DIRNAME / JOURNAL_NAME


@dataclass
class JobRow:
    """One row of the journal (paths relative to the watched folder and to OUT)."""

    id: int
    input: str
    size: int
    mtime_ns: int
    content_hash: str
    settings_hash: str
    settings: str
    output: str
    state: str
    attempts: int
    overwrite: int
    error: str | None
    queued_at: float
    started_at: float | None
    finished_at: float | None
    seconds: float | None

    @property
    def options(self) -> dict[str, Any]:
        """The render settings of this job."""
        return json.loads(self.settings)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able copy (``bokehfx jobs --json``)."""
        data = asdict(self)
        data["settings"] = self.options
        return data


@dataclass(frozen=True)
class Seen:
    """An input as the watcher found it, settled, with the settings it should render with."""

    input: str
    size: int
    mtime_ns: int
    content_hash: str
    settings_hash: str
    settings: str
    output: str


class Journal:
    """The journal of one OUT folder. Safe to share between the threads of one watcher."""

    def __init__(self, out_dir: str | Path, *, create: bool = True) -> None:
        self.path = journal_path(out_dir)
        if not self.path.exists() and not create:
            raise UsageError(f"{str(out_dir)!r} has no journal ({JOURNAL_DIRNAME}/{JOURNAL_NAME}): "
                             "no watch folder has rendered into it")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                   check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a committed state survives a power cut too
        self._db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        with self._transaction() as db:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)

    def close(self) -> None:
        """Close the database (its WAL is checkpointed into the main file)."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> "Journal":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    class _Tx:
        def __init__(self, journal: "Journal") -> None:
            self.journal = journal

        def __enter__(self) -> sqlite3.Connection:
            self.journal._lock.acquire()
            self.journal._db.execute("BEGIN IMMEDIATE")
            return self.journal._db

        def __exit__(self, exc_type: object, *rest: object) -> None:
            try:
                self.journal._db.execute("ROLLBACK" if exc_type else "COMMIT")
            finally:
                self.journal._lock.release()

    def _transaction(self) -> "Journal._Tx":
        return Journal._Tx(self)

    # -- what the watcher does ------------------------------------------------------------------
    def get(self, input_rel: str) -> JobRow | None:
        """The row of an input, if any."""
        with self._transaction() as db:
            row = db.execute("SELECT * FROM jobs WHERE input = ?", (input_rel,)).fetchone()
        return None if row is None else JobRow(**dict(row))

    def offer(self, seen: Seen) -> str:
        """Record a settled input. Returns ``"queued"`` (new or changed), or ``"known"`` (nothing to do).

        A finished input is never queued again unless its content or its settings changed; a
        changed input that had been rendered is re-rendered over its previous output.
        """
        now = time.time()
        with self._transaction() as db:
            row = db.execute("SELECT * FROM jobs WHERE input = ?", (seen.input,)).fetchone()
            if row is None:
                db.execute("INSERT INTO jobs (input, size, mtime_ns, content_hash, settings_hash, settings, output, "
                           "state, queued_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'queued', ?)",
                           (seen.input, seen.size, seen.mtime_ns, seen.content_hash, seen.settings_hash,
                            seen.settings, seen.output, now))
                return "queued"
            if row["content_hash"] == seen.content_hash and row["settings_hash"] == seen.settings_hash:
                if (row["size"], row["mtime_ns"]) != (seen.size, seen.mtime_ns):  # touched, same bytes
                    db.execute("UPDATE jobs SET size = ?, mtime_ns = ? WHERE id = ?",
                               (seen.size, seen.mtime_ns, row["id"]))
                return "known"
            overwrite = 1 if row["state"] == "done" and row["output"] == seen.output else row["overwrite"]
            db.execute("UPDATE jobs SET size = ?, mtime_ns = ?, content_hash = ?, settings_hash = ?, settings = ?, "
                       "output = ?, state = 'queued', attempts = 0, overwrite = ?, error = NULL, queued_at = ?, "
                       "started_at = NULL, finished_at = NULL, seconds = NULL WHERE id = ?",
                       (seen.size, seen.mtime_ns, seen.content_hash, seen.settings_hash, seen.settings, seen.output,
                        overwrite, now, row["id"]))
            return "queued"

    def refuse(self, input_rel: str, error: str) -> None:
        """Record an input that is refused before rendering (a symlink, a path outside IN)."""
        now = time.time()
        with self._transaction() as db:
            row = db.execute("SELECT id, state, error FROM jobs WHERE input = ?", (input_rel,)).fetchone()
            if row is None:
                db.execute("INSERT INTO jobs (input, size, mtime_ns, content_hash, settings_hash, settings, output, "
                           "state, error, queued_at, finished_at) VALUES (?, 0, 0, '', '', '{}', '', 'failed', ?, ?, ?)",
                           (input_rel, error, now, now))
            elif row["state"] != "failed" or row["error"] != error:
                db.execute("UPDATE jobs SET state = 'failed', error = ?, finished_at = ? WHERE id = ?",
                           (error, now, row["id"]))

    def claim(self) -> JobRow | None:
        """Take the oldest queued job: it becomes ``running`` with one more attempt."""
        with self._transaction() as db:
            row = db.execute("SELECT * FROM jobs WHERE state = 'queued' ORDER BY queued_at, id LIMIT 1").fetchone()
            if row is None:
                return None
            db.execute("UPDATE jobs SET state = 'running', attempts = attempts + 1, started_at = ?, error = NULL "
                       "WHERE id = ?", (time.time(), row["id"]))
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (row["id"],)).fetchone()
        return JobRow(**dict(row))

    def finish(self, job_id: int, *, state: str, error: str | None = None, seconds: float | None = None) -> None:
        """Record how a claimed job ended: ``done``, ``failed`` (with its error line) or back to ``queued``."""
        if state not in STATES:
            raise ValueError(f"unknown job state {state!r}")
        with self._transaction() as db:
            db.execute("UPDATE jobs SET state = ?, error = ?, finished_at = ?, seconds = ?, "
                       "overwrite = CASE WHEN ? = 'done' THEN 0 ELSE overwrite END WHERE id = ?",
                       (state, error, time.time() if state != "queued" else None, seconds, state, job_id))

    def recover(self, is_finished: Any) -> list[int]:
        """At start-up: jobs left ``running`` by a watcher that died go back to the queue.

        ``is_finished(row)`` says when such a job had in fact completed (its output moved into
        place, its work folder gone) before the watcher died; it is then marked ``done``.
        """
        requeued = []
        with self._transaction() as db:
            for row in db.execute("SELECT * FROM jobs WHERE state = 'running'").fetchall():
                job = JobRow(**dict(row))
                if is_finished(job):
                    db.execute("UPDATE jobs SET state = 'done', finished_at = ?, overwrite = 0 WHERE id = ?",
                               (time.time(), job.id))
                else:
                    db.execute("UPDATE jobs SET state = 'queued' WHERE id = ?", (job.id,))
                    requeued.append(job.id)
        return requeued

    def retry(self, which: str) -> int:
        """Put failed jobs back in the queue: one id, or ``all``. Returns how many."""
        with self._transaction() as db:
            if which == "all":
                cursor = db.execute("UPDATE jobs SET state = 'queued', attempts = 0, error = NULL, queued_at = ? "
                                    "WHERE state = 'failed' AND settings_hash != ''", (time.time(),))
                return cursor.rowcount
            try:
                job_id = int(which)
            except ValueError:
                raise UsageError(f"--retry {which!r}: give a job id from `bokehfx jobs` or `all`") from None
            row = db.execute("SELECT state, settings_hash FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                raise UsageError(f"--retry {job_id}: no such job")
            if row["state"] != "failed":
                raise UsageError(f"--retry {job_id}: the job is {row['state']}, not failed")
            if not row["settings_hash"]:
                raise UsageError(f"--retry {job_id}: the input was refused (see its error); fix it in the "
                                 "watched folder instead")
            db.execute("UPDATE jobs SET state = 'queued', attempts = 0, error = NULL, queued_at = ? WHERE id = ?",
                       (time.time(), job_id))
            return 1

    def rows(self) -> list[JobRow]:
        """Every job, oldest first."""
        with self._transaction() as db:
            return [JobRow(**dict(r)) for r in db.execute("SELECT * FROM jobs ORDER BY id").fetchall()]

    def count(self, state: str) -> int:
        """How many jobs are in ``state``."""
        with self._transaction() as db:
            return db.execute("SELECT COUNT(*) FROM jobs WHERE state = ?", (state,)).fetchone()[0]

    def __iter__(self) -> Iterator[JobRow]:
        return iter(self.rows())


__all__ = ["JOURNAL_DIRNAME", "JOURNAL_NAME", "STATES", "Journal", "JobRow", "Seen", "journal_path"]
