"""Frames rendered side by side on the CPU, handed on in order.

On a CPU, one frame rendered by several torch threads spends much of its time at the barrier of
each of the engine's many small operations, and when anything else wants a core (the decoder,
the encoder, another program) a barrier waits for a descheduled thread: measured at 1080p on 2
cores, a frame that renders in 0.3 s then takes several seconds. :class:`ConcurrentFrames`
renders ``workers`` frames at once instead, each on its own thread with ``threads`` torch
threads (torch's budget shared out: one each on a 2-core machine), so the cores stay busy
without barriers. It is used where each frame gets one thread (:func:`side_by_side`); with more
threads the engine parallelises one frame over its depth slabs itself.

The stage's per-frame state (depth, focus plan, tracking) still advances on the caller's thread
in frame order; only the engine's pure work and the in-focus check run on the workers. It is a
windowed renderer for :func:`bokehfx.pipeline.job.run_render`: :meth:`~ConcurrentFrames.push`
returns the frames finished so far, in order, and blocks while ``workers`` frames are in flight,
so memory stays at ``workers`` frames in the engine. A worker's error is raised by the push or
finish that collects that frame; leaving the ``with`` block on an error cancels frames not
started and waits for those running.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Sequence

import torch

from bokehfx.io.source import Frame
from bokehfx.pipeline.allocator import keep_freed_memory

#: Frames rendered at once on the CPU: two fill a 2-core machine; more multiply the engine's
#: per-frame memory (about 0.75 GB at 1080p) for little gain, so larger machines give each
#: frame more torch threads instead.
CPU_FRAME_WORKERS = 2


def side_by_side(device: str) -> bool:
    """Whether a render on ``device`` should render frames side by side: on a CPU whose torch thread
    budget leaves one thread per frame. With more threads the physical engine spreads one frame's
    depth slabs over its own pool of single-threaded workers, without a second frame's memory."""
    return device == "cpu" and torch.get_num_threads() < 2 * CPU_FRAME_WORKERS


@contextlib.contextmanager
def frame_renderer(stage: Any, device: str, frames_at_once: bool = True) -> Iterator[Any]:
    """What a render job drives for ``stage``: a :class:`ConcurrentFrames` over it where frames go
    side by side (:func:`side_by_side`; ``frames_at_once=False`` never), else ``stage`` itself.

    A render allocates and frees the same large blocks every frame, so freed memory is kept for
    reuse from here on (:func:`bokehfx.pipeline.allocator.keep_freed_memory`).
    """
    keep_freed_memory()
    if frames_at_once and side_by_side(device):
        with ConcurrentFrames(stage) as frames:
            yield frames
    else:
        yield stage


def default_threads(workers: int) -> int:
    """Torch threads per frame: torch's own thread budget (the cores, or what the user set) shared
    among ``workers`` frames, at least one."""
    return max(1, torch.get_num_threads() // workers)


class ConcurrentFrames:
    """Render a :class:`~bokehfx.pipeline.dof.DepthOfFieldStage`'s frames ``workers`` at a time.

    Use as a context manager around the render job: torch's thread count is ``threads`` inside
    (restored after), and the workers are stopped on the way out.

    Args:
        stage: the stage (``advance`` and ``render_advanced``).
        workers: frames rendered at once (at least 1).
        threads: torch threads per frame (default: :func:`default_threads`).
    """

    def __init__(self, stage: Any, workers: int = CPU_FRAME_WORKERS, threads: int | None = None) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        self.stage = stage
        self.workers = workers
        self.threads = default_threads(workers) if threads is None else threads
        #: The job hands frames over one at a time, so each starts rendering as soon as it is decoded.
        self.batch_frames = 1
        self._pending: deque[tuple[Frame, Future]] = deque()
        self._pool: ThreadPoolExecutor | None = None
        self._saved_threads: int | None = None

    def __enter__(self) -> "ConcurrentFrames":
        self._saved_threads = torch.get_num_threads()
        torch.set_num_threads(self.threads)  # before the workers start: each takes this count
        self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="bokehfx-render")
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Cancel frames not started, wait for those running, restore torch's thread count."""
        for _, future in self._pending:
            future.cancel()
        self._pending.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._saved_threads is not None:
            torch.set_num_threads(self._saved_threads)
            self._saved_threads = None

    def _render_one(self, frame: Frame, disparity: Any, focus: float, blur: float) -> tuple:
        return self.stage.render_advanced([frame], [disparity], [focus], [blur])[0]

    def _collect(self, wait_for: int) -> list[tuple]:
        """Frames finished in order: the oldest ``wait_for`` waited for, then any already done."""
        ready = []
        while self._pending and (wait_for > 0 or self._pending[0][1].done()):
            frame, future = self._pending.popleft()
            ready.append((frame, *future.result()))
            wait_for -= 1
        return ready

    def push(self, frames: Sequence[Frame]) -> list[tuple]:
        """Start rendering ``frames``; return ``(frame, image, alpha, keep)`` of those finished, in order."""
        if self._pool is None:
            raise RuntimeError("ConcurrentFrames is used outside its with block")
        ready = []
        for frame in frames:
            disparity, focus, blur = self.stage.advance(frame)
            self._pending.append((frame, self._pool.submit(self._render_one, frame, disparity, focus, blur)))
            ready.extend(self._collect(len(self._pending) - self.workers))
        return ready + self._collect(0)

    def finish(self) -> list[tuple]:
        """End of the clip: wait for every frame still rendering."""
        return self._collect(len(self._pending))
