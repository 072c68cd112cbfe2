"""The hidden work folder of a resumable render: a lock, small records and finished chunks.

A resumable render keeps everything it has finished in a folder beside its output,
``.NAME.bokehfx-work/``: the pre-pass record, per-frame arrays, and one movie file per finished
chunk. Every file appears atomically (written under a temporary name, flushed to disk, then
renamed), so a process killed at any moment leaves either a whole file or none. An exclusive
``flock`` keeps two processes from working on the same output; the kernel releases it when its
holder dies, even by ``kill -9``.
"""

from __future__ import annotations

import errno
import fcntl
import io
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bokehfx.errors import OutputError

#: Suffix of the hidden work folder beside an output.
WORK_SUFFIX = ".bokehfx-work"
#: How long to wait for another process to release the work folder before giving up (seconds).
LOCK_WAIT_S = 30.0
#: Pause between attempts to take the lock (seconds).
LOCK_POLL_S = 0.05
_LOCK_NAME = "lock"


def work_folder_for(output: str | Path) -> Path:
    """Where the resumable render of ``output`` keeps its work: ``.NAME.bokehfx-work`` beside it."""
    out = Path(output)
    return out.parent / f".{out.name}{WORK_SUFFIX}"


def fsync_file(path: Path) -> None:
    """Flush a finished file to disk (so a power cut cannot leave a named but empty file)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see either the old file, or all of the new one."""
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(name, path)
    except BaseException:
        try:
            os.unlink(name)
        except FileNotFoundError:
            pass
        raise


class WorkFolder:
    """The work folder of one output (see the module docstring)."""

    def __init__(self, output: str | Path) -> None:
        self.output = Path(output)
        self.path = work_folder_for(self.output)

    # -- locks ----------------------------------------------------------------------------------
    def locked(self) -> "FileLock":
        """The folder's exclusive lock (pre-pass, join, and a whole single-process render)."""
        self.path.mkdir(parents=True, exist_ok=True)
        return FileLock(self.path / _LOCK_NAME, f"{str(self.output)!r}")

    def chunk_locked(self, index: int) -> "FileLock":
        """The lock of one chunk, so that farm tasks rendering different chunks run side by side."""
        self.path.mkdir(parents=True, exist_ok=True)
        return FileLock(self.path / f"chunk_{index:05d}.lock", f"chunk {index} of {str(self.output)!r}")

    # -- records --------------------------------------------------------------------------------
    def file(self, name: str) -> Path:
        """A path inside the folder."""
        return self.path / name

    def read_json(self, name: str) -> Any:
        """A JSON record, or ``None`` when it is not there (or unreadable: it is then redone)."""
        try:
            return json.loads(self.file(name).read_text())
        except (FileNotFoundError, ValueError):
            return None

    def write_json(self, name: str, value: Any) -> None:
        """Store a JSON record atomically."""
        write_atomic(self.file(name), json.dumps(value, indent=1, sort_keys=True).encode())

    def read_array(self, name: str) -> np.ndarray | None:
        """A stored numpy array, or ``None``."""
        try:
            return np.load(self.file(name), allow_pickle=False)
        except (FileNotFoundError, ValueError, OSError):
            return None

    def write_array(self, name: str, array: np.ndarray) -> None:
        """Store a numpy array atomically (``.npy``, exact values)."""
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(array), allow_pickle=False)
        write_atomic(self.file(name), buffer.getvalue())

    def clear(self) -> None:
        """Remove everything but the lock (stale work of other settings)."""
        for child in self.path.iterdir():
            if child.suffix == ".lock" or child.name == _LOCK_NAME:
                continue
            if child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)

    def remove(self) -> None:
        """Delete the folder (after the output is in place)."""
        if self.path.exists():
            shutil.rmtree(self.path, ignore_errors=True)


class FileLock:
    """An exclusive ``flock`` on ``path``, waiting up to :data:`LOCK_WAIT_S`; re-entrant in one object."""

    def __init__(self, path: Path, what: str) -> None:
        self.path = path
        self.what = what
        self._fd: int | None = None
        self._depth = 0

    def acquire(self, wait_s: float = LOCK_WAIT_S) -> None:
        """Take the lock, or raise :class:`OutputError` naming what holds it after ``wait_s``."""
        if self._depth:
            self._depth += 1
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as err:
                if err.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() >= deadline:
                    os.close(fd)
                    raise OutputError(f"another bokehfx process is rendering {self.what} "
                                      f"(lock {str(self.path)!r} is held)") from None
                time.sleep(LOCK_POLL_S)
        self._fd = fd
        self._depth = 1

    def release(self) -> None:
        """Give the lock back (the lock file stays, inside the work folder)."""
        if self._depth > 1:
            self._depth -= 1
            return
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
        self._depth = 0

    def __enter__(self) -> "FileLock":
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


__all__ = ["LOCK_WAIT_S", "WORK_SUFFIX", "FileLock", "WorkFolder", "fsync_file", "work_folder_for", "write_atomic"]
