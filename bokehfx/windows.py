"""The shared window planner: overlapping windows over a clip and their blend weights.

Every engine that works on more than one frame at a time (depth estimation, the diffusion
renderer, the sink's order of writing) walks a clip in overlapping windows planned here, so that
they all agree on where windows start and stop and how overlapping results are cross-faded.

Plan
----
Windows have ``window`` frames and start every ``stride = window - overlap`` frames: ``0,
stride, 2 * stride, ...`` for as long as a window fits inside the clip. When the last such
window does not reach the end of the clip, one *tail* window ``[num_frames - window,
num_frames)`` is added: it is shifted back to stay full length (never a short stub), so it
overlaps its predecessor by more than ``overlap`` frames. A clip shorter than one window gets a
single window covering all of it; an empty clip gets no window.

Blending
--------
Windows are blended *sequentially*: each window fades in over its leading overlap with
everything planned before it (``Window.blend_in`` frames, from ``start`` to the previous
window's ``stop``) with a ramp that rises strictly between 0 and 1, and fully owns its frames
after that. The effective weight of window ``k`` on a frame is its own ramp value there times
``1 - ramp`` of every later window covering the frame, so the weights of all windows sum to
exactly 1 on every frame, even where a tail window makes three windows overlap. A streaming
consumer reaches the same result by keeping a running blend and mixing each new window in with
:func:`crossfade_ramp` over ``blend_in`` frames.

Streaming
---------
:class:`StreamingWindowPlanner` is fed frames as they are decoded, when the clip's length is not
known in advance. It emits each regular window as soon as its last frame arrives and the tail
window at :meth:`StreamingWindowPlanner.finish`; the windows it emits are exactly those of
:func:`plan_windows` for the final length.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Literal

import numpy as np

from bokehfx.errors import UsageError

BlendMode = Literal["linear", "cosine"]
BLEND_MODES: tuple[str, ...] = ("linear", "cosine")
"""Cross-fade shapes: ``linear`` ramps evenly, ``cosine`` is a raised-cosine (smooth at both ends)."""

DEFAULT_BLEND_MODE: BlendMode = "linear"


@dataclass(frozen=True)
class Window:
    """One planned window of frames.

    Args:
        index (`int`): Position of the window in the plan, from 0.
        start (`int`): First frame of the window.
        stop (`int`): One past the last frame of the window (exclusive).
        blend_in (`int`): Number of leading frames (from ``start``) shared with the windows
            before it, over which this window fades in. 0 for the first window.
    """

    index: int
    start: int
    stop: int
    blend_in: int

    @property
    def length(self) -> int:
        """Number of frames in the window."""
        return self.stop - self.start

    @property
    def frames(self) -> range:
        """The clip frame indices the window covers."""
        return range(self.start, self.stop)

    @property
    def overlap_slice(self) -> slice:
        """Slice, in clip frame indices, of the frames shared with earlier windows."""
        return slice(self.start, self.start + self.blend_in)


def _as_int(name: str, value: object) -> int:
    if isinstance(value, bool):
        raise UsageError(f"{name} must be an integer, got {value!r}")
    try:
        return operator.index(value)  # type: ignore[arg-type]
    except TypeError:
        raise UsageError(f"{name} must be an integer, got {value!r}") from None


def validate_window_args(window: int, overlap: int) -> tuple[int, int]:
    """Check a window length and overlap, returning them as plain ints.

    Args:
        window (`int`): Frames per window; at least 1.
        overlap (`int`): Frames shared by consecutive windows; ``0 <= overlap < window``.

    Returns:
        `tuple[int, int]`: ``(window, overlap)``.

    Raises:
        UsageError: When either value is not an integer or is out of range.
    """
    window = _as_int("window", window)
    overlap = _as_int("overlap", overlap)
    if window < 1:
        raise UsageError(f"window must be a positive number of frames, got {window}")
    if overlap < 0:
        raise UsageError(f"overlap must be 0 or more frames, got {overlap}")
    if overlap >= window:
        raise UsageError(f"overlap must be smaller than window ({window}), got {overlap}")
    return window, overlap


def _validate_mode(mode: str) -> None:
    if mode not in BLEND_MODES:
        raise UsageError(f"mode must be one of {', '.join(BLEND_MODES)}, got {mode!r}")


def plan_windows(num_frames: int, window: int, overlap: int) -> tuple[Window, ...]:
    """Plan overlapping windows over a clip of known length.

    Args:
        num_frames (`int`): Frames in the clip; 0 or more.
        window (`int`): Frames per window.
        overlap (`int`): Frames shared by consecutive regular windows (``< window``).

    Returns:
        `tuple[Window, ...]`: The windows in order. Every frame is covered; every window has
        ``min(window, num_frames)`` frames; the last one ends at ``num_frames``.

    Raises:
        UsageError: On a negative ``num_frames`` or invalid ``window`` / ``overlap``.

    Example:
        >>> [(w.start, w.stop) for w in plan_windows(20, window=8, overlap=2)]
        [(0, 8), (6, 14), (12, 20)]
        >>> [(w.start, w.stop, w.blend_in) for w in plan_windows(17, window=8, overlap=2)]
        [(0, 8, 0), (6, 14, 2), (9, 17, 5)]
    """
    num_frames = _as_int("num_frames", num_frames)
    if num_frames < 0:
        raise UsageError(f"num_frames must be 0 or more, got {num_frames}")
    planner = StreamingWindowPlanner(window, overlap)
    windows = planner.push(num_frames)
    windows.extend(planner.finish())
    return tuple(windows)


class StreamingWindowPlanner:
    """Plan windows incrementally while frames arrive and the clip length is unknown.

    Call :meth:`push` as frames are decoded; it returns the windows whose last frame has just
    arrived. Call :meth:`finish` at the end of the stream for the tail window (if any). The
    emitted windows equal :func:`plan_windows` for the final frame count.

    Frames before :attr:`final_before` are not covered by any window still to come: a consumer
    can finish blending them and release their memory.

    Args:
        window (`int`): Frames per window.
        overlap (`int`): Frames shared by consecutive regular windows (``< window``).

    Example:
        >>> planner = StreamingWindowPlanner(window=8, overlap=2)
        >>> [(w.start, w.stop) for w in planner.push(15)]
        [(0, 8), (6, 14)]
        >>> [(w.start, w.stop) for w in planner.finish()]
        [(7, 15)]
    """

    def __init__(self, window: int, overlap: int) -> None:
        self.window, self.overlap = validate_window_args(window, overlap)
        self.stride = self.window - self.overlap
        self._seen = 0
        self._next_start = 0
        self._emitted: list[Window] = []
        self._finished = False

    @property
    def frames_seen(self) -> int:
        """Frames pushed so far."""
        return self._seen

    @property
    def windows(self) -> tuple[Window, ...]:
        """All windows emitted so far."""
        return tuple(self._emitted)

    @property
    def final_before(self) -> int:
        """Frames with an index below this are covered by no window still to be emitted."""
        if self._finished:
            return self._seen
        if not self._emitted:
            return 0
        return self._emitted[-1].start

    def _emit(self, start: int, stop: int) -> Window:
        prev_stop = self._emitted[-1].stop if self._emitted else start
        win = Window(index=len(self._emitted), start=start, stop=stop, blend_in=max(0, prev_stop - start))
        self._emitted.append(win)
        return win

    def push(self, count: int = 1) -> list[Window]:
        """Record ``count`` more frames and return the windows they complete.

        Args:
            count (`int`, defaults to 1): Frames that just arrived; 0 or more.

        Returns:
            `list[Window]`: Regular windows completed by these frames, in order.

        Raises:
            UsageError: On a negative ``count`` or after :meth:`finish`.
        """
        count = _as_int("count", count)
        if count < 0:
            raise UsageError(f"count must be 0 or more, got {count}")
        if self._finished:
            raise UsageError(f"count of {count} frames pushed after finish(); the stream has ended")
        self._seen += count
        out: list[Window] = []
        while self._next_start + self.window <= self._seen:
            out.append(self._emit(self._next_start, self._next_start + self.window))
            self._next_start += self.stride
        return out

    def finish(self) -> list[Window]:
        """End the stream and return the tail window, if the clip needs one.

        Returns:
            `list[Window]`: Empty when the regular windows already end at the last frame (or
            the clip is empty); otherwise one window ending at the last frame, full length when
            the clip has at least ``window`` frames.
        """
        if self._finished:
            return []
        self._finished = True
        last_stop = self._emitted[-1].stop if self._emitted else 0
        if self._seen == 0 or last_stop == self._seen:
            return []
        return [self._emit(max(0, self._seen - self.window), self._seen)]


def crossfade_ramp(length: int, mode: BlendMode = DEFAULT_BLEND_MODE) -> np.ndarray:
    """Fade-in weights of an incoming window over an overlap of ``length`` frames.

    The values rise strictly inside ``(0, 1)``: frame ``j`` of the overlap gets
    ``t = (j + 1) / (length + 1)`` (linear) or ``(1 - cos(pi * t)) / 2`` (cosine). The outgoing
    result takes ``1 - ramp``, so the two always sum to 1, and neither side is ever dropped
    entirely inside the overlap.

    Args:
        length (`int`): Overlap length in frames; 0 or more.
        mode (`str`, defaults to ``"linear"``): ``"linear"`` or ``"cosine"``.

    Returns:
        `np.ndarray`: float64 array of shape ``(length,)``.
    """
    length = _as_int("length", length)
    if length < 0:
        raise UsageError(f"length must be 0 or more, got {length}")
    _validate_mode(mode)
    t = np.arange(1, length + 1, dtype=np.float64) / (length + 1)
    if mode == "cosine":
        return 0.5 - 0.5 * np.cos(math.pi * t)
    return t


def window_fade_in(win: Window, mode: BlendMode = DEFAULT_BLEND_MODE) -> np.ndarray:
    """Per-frame fade-in weight of one window over its own frames.

    Args:
        win (`Window`): The window.
        mode (`str`, defaults to ``"linear"``): Cross-fade shape.

    Returns:
        `np.ndarray`: float64 ``(win.length,)``: :func:`crossfade_ramp` over the first
        ``win.blend_in`` frames, then 1.
    """
    weights = np.ones(win.length, dtype=np.float64)
    weights[: win.blend_in] = crossfade_ramp(win.blend_in, mode)
    return weights


def frame_weights(
    windows: tuple[Window, ...] | list[Window], num_frames: int, mode: BlendMode = DEFAULT_BLEND_MODE
) -> np.ndarray:
    """Effective blend weight of every window on every frame (sequential cross-fade).

    Args:
        windows (`Sequence[Window]`): A plan from :func:`plan_windows` (or a streaming planner).
        num_frames (`int`): Frames in the clip.
        mode (`str`, defaults to ``"linear"``): Cross-fade shape.

    Returns:
        `np.ndarray`: float64 ``(len(windows), num_frames)``; zero outside a window, and each
        column sums to 1 on every frame covered by the plan.
    """
    num_frames = _as_int("num_frames", num_frames)
    if num_frames < 0:
        raise UsageError(f"num_frames must be 0 or more, got {num_frames}")
    _validate_mode(mode)
    weights = np.zeros((len(windows), num_frames), dtype=np.float64)
    for k, win in enumerate(windows):
        if win.stop > num_frames:
            raise UsageError(f"windows reach frame {win.stop} but num_frames is {num_frames}")
        fade = window_fade_in(win, mode)
        weights[:k, win.start : win.stop] *= 1.0 - fade
        weights[k, win.start : win.stop] = fade
    return weights


def blend_windows(
    results: list[np.ndarray],
    windows: tuple[Window, ...] | list[Window],
    num_frames: int,
    mode: BlendMode = DEFAULT_BLEND_MODE,
) -> np.ndarray:
    """Blend per-window results (frames on axis 0) into one clip-long array.

    Args:
        results (`list[np.ndarray]`): One array per window, ``(win.length, ...)`` each, all with
            the same trailing shape.
        windows (`Sequence[Window]`): The plan the results follow.
        num_frames (`int`): Frames in the clip.
        mode (`str`, defaults to ``"linear"``): Cross-fade shape.

    Returns:
        `np.ndarray`: ``(num_frames, ...)`` float array, the sequential cross-fade of the results.
    """
    if len(results) != len(windows):
        raise UsageError(f"results must have one entry per window ({len(windows)}), got {len(results)}")
    if not results:
        raise UsageError("results must not be empty")
    trailing = results[0].shape[1:]
    out = np.zeros((num_frames, *trailing), dtype=np.result_type(results[0].dtype, np.float32))
    for win, res in zip(windows, results):
        if res.shape != (win.length, *trailing):
            raise UsageError(
                f"results[{win.index}] must have shape {(win.length, *trailing)}, got {tuple(res.shape)}"
            )
        if win.stop > num_frames:
            raise UsageError(f"windows reach frame {win.stop} but num_frames is {num_frames}")
        fade = window_fade_in(win, mode).astype(out.dtype).reshape((-1,) + (1,) * len(trailing))
        out[win.start : win.stop] = out[win.start : win.stop] * (1 - fade) + res * fade
    return out


__all__ = [
    "BLEND_MODES",
    "DEFAULT_BLEND_MODE",
    "StreamingWindowPlanner",
    "Window",
    "blend_windows",
    "crossfade_ramp",
    "frame_weights",
    "plan_windows",
    "validate_window_args",
    "window_fade_in",
]
