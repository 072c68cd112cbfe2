"""Temporally stable video depth from a per-batch estimator: windows, alignment, cross-fade.

Relative depth models give disparity only up to an unknown scale and shift, and that affine
ambiguity is resolved differently for every call, which shows up as flicker (a focus pump in
the render). This module removes it:

1. The clip is walked in overlapping windows planned by :mod:`bokehfx.windows`; each
   window is estimated in one batch.
2. Optionally (``frame_alignment=True``, the default), every frame of a window is aligned by
   least-squares scale and shift to the window's mean map, which removes per-frame affine jitter
   of image models (which estimate every frame independently). Real depth changes stay: only one
   global scale and shift per frame is fitted.
3. Each window is aligned by least-squares scale and shift to the already blended result on the
   frames it shares with the windows before it, then cross-faded in over those frames.
4. Optionally (``flow_smoothing > 0``), each finished map is blended with the previous one warped
   along the optical flow (:class:`bokehfx.depth.flow.FlowSmoother`), which removes remaining
   per-pixel noise without smearing moving edges.
5. Normalization to ``[0, 1]`` happens once for the whole clip (:class:`DisparityRange` over the
   aligned maps), never per frame.

:class:`TemporalDepthStabilizer` does 1-4 while streaming, holding at most one window plus a
stride of frames; the caller (or :func:`estimate_clip_disparity`) normalizes in a second pass,
which a depth cache makes cheap.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np
import torch

from bokehfx.depth.convert import DisparityRange
from bokehfx.depth.flow import FlowSmoother
from bokehfx.errors import UsageError
from bokehfx.windows import (
    DEFAULT_BLEND_MODE,
    BlendMode,
    StreamingWindowPlanner,
    Window,
    crossfade_ramp,
    validate_window_args,
)

DEFAULT_WINDOW = 16
"""Frames estimated together; also the span over which per-frame jitter is tied to one reference."""
DEFAULT_OVERLAP = 4
"""Frames shared by consecutive windows, used to align each window to the previous one."""

EstimateFn = Callable[[np.ndarray | torch.Tensor], np.ndarray | torch.Tensor]


def fit_scale_shift(source: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """Least-squares ``scale, shift`` minimizing ``sum((scale * source + shift - target) ** 2)``.

    Args:
        source (`np.ndarray`): Values to be aligned, any shape.
        target (`np.ndarray`): Reference values, same shape.

    Returns:
        `tuple[float, float]`: ``(scale, shift)``. When ``source`` is constant the scale is 1 and
        the shift matches the means. A fitted scale that is not positive (anti-correlated or
        unrelated maps: aligning would flip near and far) is replaced by matching the means and
        standard deviations instead.
    """
    if source.shape != target.shape:
        raise UsageError(f"source and target must have the same shape, got {source.shape} and {target.shape}")
    x = np.asarray(source, dtype=np.float64).ravel()
    y = np.asarray(target, dtype=np.float64).ravel()
    if x.size == 0:
        raise UsageError("source must not be empty")
    mx, my = x.mean(), y.mean()
    dx = x - mx
    var = float(dx @ dx)
    if var <= 0.0:
        return 1.0, float(my - mx)
    scale = float(dx @ (y - my)) / var
    if scale <= 0.0:
        sy = float(np.sqrt(((y - my) ** 2).sum()))
        scale = sy / float(np.sqrt(var)) if sy > 0 else 1.0
    return scale, float(my - scale * mx)


def align_to_reference(frames: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Align every frame of ``(T, H, W)`` to one ``(H, W)`` reference by its own scale and shift."""
    out = np.empty(frames.shape, dtype=np.float32)
    for i, frame in enumerate(frames):
        s, t = fit_scale_shift(frame, reference)
        out[i] = s * frame + t
    return out


def mean_frame_change(disparity: np.ndarray) -> float:
    """Mean absolute change between consecutive maps of ``(T, H, W)``: the flicker measure used here."""
    if disparity.shape[0] < 2:
        return 0.0
    return float(np.abs(np.diff(disparity.astype(np.float64), axis=0)).mean())


class TemporalDepthStabilizer:
    """Streaming windowed estimation with alignment, cross-fade and smoothing (steps 1-4 of the module docs).

    Feed frames with :meth:`push`, end with :meth:`finish`; both return the aligned, *not yet
    normalized* disparity maps ``(H, W)`` float32 that became final, in frame order. The clip's
    range accumulates in :attr:`clip_range` for the one normalization.

    Args:
        estimate (`Callable`): Frames ``(T, 3, H, W)`` -> disparity ``(T, 1, H, W)``, e.g.
            ``DepthAnythingEstimator.estimate``.
        window (`int`, defaults to 16): Frames per window.
        overlap (`int`, defaults to 4): Frames shared by consecutive windows (at least 1 for
            alignment; 0 turns window alignment off).
        mode (`str`, defaults to ``"linear"``): Cross-fade shape (``"linear"`` or ``"cosine"``).
        frame_alignment (`bool`, defaults to `True`): Align each frame to its window's mean map.
        flow_smoothing (`float`, defaults to 0.0): Strength of flow-guided smoothing in ``[0, 1)``;
            0 turns it off. Frames are taken as linear light.
    """

    def __init__(
        self,
        estimate: EstimateFn,
        window: int = DEFAULT_WINDOW,
        overlap: int = DEFAULT_OVERLAP,
        mode: BlendMode = DEFAULT_BLEND_MODE,
        frame_alignment: bool = True,
        flow_smoothing: float = 0.0,
    ) -> None:
        validate_window_args(window, overlap)
        self.smoother = FlowSmoother(strength=flow_smoothing) if flow_smoothing else None
        crossfade_ramp(0, mode)
        self.estimate = estimate
        self.mode = mode
        self.frame_alignment = frame_alignment
        self.planner = StreamingWindowPlanner(window, overlap)
        self.clip_range = DisparityRange()
        self._inputs: dict[int, np.ndarray | torch.Tensor] = {}
        self._blended: dict[int, np.ndarray] = {}
        self._next_out = 0
        self.window_fits: list[tuple[float, float]] = []
        """Scale and shift applied to each window to align it with the previous ones."""

    def push(self, frame: np.ndarray | torch.Tensor) -> list[np.ndarray]:
        """Add one frame ``(3, H, W)``; returns the maps that became final."""
        if frame.ndim != 3 or frame.shape[0] != 3:
            raise UsageError(f"frame must have shape (3, H, W), got {tuple(frame.shape)}")
        self._inputs[self.planner.frames_seen] = frame
        for win in self.planner.push(1):
            self._process(win)
        return self._release()

    def finish(self) -> list[np.ndarray]:
        """End of the clip: process the tail window and return every remaining map."""
        for win in self.planner.finish():
            self._process(win)
        return self._release()

    def _process(self, win: Window) -> None:
        batch = [self._inputs[i] for i in win.frames]
        stacked = torch.stack(batch) if isinstance(batch[0], torch.Tensor) else np.stack(batch)
        raw = self.estimate(stacked)
        if isinstance(raw, torch.Tensor):
            raw = raw.detach().float().cpu().numpy()
        raw = np.asarray(raw, dtype=np.float32)[:, 0]
        if self.frame_alignment and win.length > 1:
            raw = align_to_reference(raw, raw.mean(axis=0))
        if win.blend_in:
            shared = np.stack([self._blended[i] for i in range(win.start, win.start + win.blend_in)])
            s, t = fit_scale_shift(raw[: win.blend_in], shared)
            raw = (s * raw + t).astype(np.float32)
            ramp = crossfade_ramp(win.blend_in, self.mode).astype(np.float32)
            for j, r in enumerate(ramp):
                raw[j] = (1 - r) * shared[j] + r * raw[j]
        else:
            s, t = 1.0, 0.0
        self.window_fits.append((s, t))
        for j, i in enumerate(win.frames):
            self._blended[i] = raw[j]

    def _release(self) -> list[np.ndarray]:
        final = self.planner.final_before
        out = []
        while self._next_out < final:
            disp = self._blended.pop(self._next_out)
            frame = self._inputs.pop(self._next_out)
            if self.smoother is not None:
                disp = self.smoother.push(frame, disp)
            self.clip_range.update(disp)
            out.append(disp)
            self._next_out += 1
        return out


def stabilized_disparity(
    frames: Iterable[np.ndarray | torch.Tensor],
    estimate: EstimateFn,
    window: int = DEFAULT_WINDOW,
    overlap: int = DEFAULT_OVERLAP,
    mode: BlendMode = DEFAULT_BLEND_MODE,
    frame_alignment: bool = True,
    clip_range: DisparityRange | None = None,
    flow_smoothing: float = 0.0,
) -> Iterator[np.ndarray]:
    """Aligned, unnormalized disparity per frame, streaming (see :class:`TemporalDepthStabilizer`).

    Args:
        frames (`Iterable`): Frames ``(3, H, W)`` in order.
        estimate (`Callable`): Batched estimator.
        window, overlap, mode, frame_alignment, flow_smoothing: As for :class:`TemporalDepthStabilizer`.
        clip_range (`DisparityRange`, *optional*): Updated with every yielded map, for the one
            normalization of the clip once the generator is exhausted.

    Yields:
        `np.ndarray`: float32 ``(H, W)`` per frame.
    """
    stab = TemporalDepthStabilizer(estimate, window, overlap, mode, frame_alignment, flow_smoothing)
    for frame in frames:
        for disp in stab.push(frame):
            if clip_range is not None:
                clip_range.update(disp)
            yield disp
    for disp in stab.finish():
        if clip_range is not None:
            clip_range.update(disp)
        yield disp


def estimate_clip_disparity(
    frames: Iterable[np.ndarray | torch.Tensor],
    estimate: EstimateFn,
    window: int = DEFAULT_WINDOW,
    overlap: int = DEFAULT_OVERLAP,
    mode: BlendMode = DEFAULT_BLEND_MODE,
    frame_alignment: bool = True,
    flow_smoothing: float = 0.0,
) -> np.ndarray:
    """Whole clip in memory: stabilized and normalized once, ``(T, H, W)`` float32 in ``[0, 1]``.

    For long clips stream :func:`stabilized_disparity` into a depth cache and normalize on the
    way out instead.
    """
    clip_range = DisparityRange()
    maps = list(
        stabilized_disparity(frames, estimate, window, overlap, mode, frame_alignment, clip_range, flow_smoothing)
    )
    if not maps:
        raise UsageError("frames must hold at least one frame")
    return clip_range.normalize(np.stack(maps))


__all__ = [
    "DEFAULT_OVERLAP",
    "DEFAULT_WINDOW",
    "TemporalDepthStabilizer",
    "align_to_reference",
    "estimate_clip_disparity",
    "fit_scale_shift",
    "mean_frame_change",
    "stabilized_disparity",
]
