"""Writing on a worker thread: the encoder of frame i runs while frame i + 1 renders.

A :class:`BackgroundWriter` calls one ``write`` function on its own thread, in the order the calls
were put, with at most ``depth`` calls waiting (memory stays bounded: a caller that runs ahead
blocks). The first error raised by ``write`` is raised again on the caller's side, by the next
:meth:`~BackgroundWriter.put` or by :meth:`~BackgroundWriter.close`; calls queued after it are
dropped, never written out of order. Used as a context manager it waits for every write on a
normal exit, and on an exception stops as soon as the write in progress returns, so the file
behind ``write`` can be removed safely afterwards.

PyAV releases the interpreter lock while FFmpeg encodes, and numpy while it converts whole
arrays, so the worker's conversions and encoding overlap with the caller's rendering.
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable

#: Writes that may wait in the queue by default (each holds a decoded and a rendered frame).
DEFAULT_DEPTH = 2
_STOP = object()


class BackgroundWriter:
    """Run ``write(*args)`` for each :meth:`put` on a worker thread, in order.

    Args:
        write: the function to call (e.g. a sink's ``write``); it runs only on the worker thread.
        depth: calls that may wait in the queue (at least 1); :meth:`put` blocks beyond that.
        name: the worker thread's name.
    """

    def __init__(self, write: Callable[..., Any], depth: int = DEFAULT_DEPTH, name: str = "bokehfx-encode") -> None:
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        self._write = write
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._cancel = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if self._error is not None or self._cancel.is_set():
                continue  # after a failure or a cancel: drain without writing
            try:
                self._write(*item)
            except BaseException as err:  # raised again on the caller's side
                self._error = err

    def _raise_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            self._cancel.set()  # once reported, nothing more is written
            raise error

    def put(self, *args: Any) -> None:
        """Queue one ``write(*args)``; raises the error of an earlier write, if any."""
        if self._closed:
            raise RuntimeError("the writer is closed")
        self._raise_error()
        self._queue.put(args)

    def close(self) -> None:
        """Wait until every queued write is done; raise the first error of any of them."""
        if not self._closed:
            self._closed = True
            self._queue.put(_STOP)
            self._thread.join()
        self._raise_error()

    def cancel(self) -> None:
        """Drop the writes still queued, wait for the one in progress, and stop (errors are not raised)."""
        if self._closed:
            return
        self._closed = True
        self._cancel.set()
        self._queue.put(_STOP)  # the worker drains what is queued without writing it, so this fits
        self._thread.join()

    def __enter__(self) -> "BackgroundWriter":
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self.cancel()
