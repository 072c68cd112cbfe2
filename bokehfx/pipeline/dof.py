"""Depth of field for one clip: depth per frame + focus plan + engine, as a stage of a render job.

:class:`DepthOfFieldStage` is the ``renderer`` callable that :func:`bokehfx.pipeline.job.run_render`
streams batches of frames through. It pulls the clip's normalized disparity one frame at a time
(from :mod:`bokehfx.depth.source`, which decides between a sidecar, the depth cache and the
estimator), evaluates the focus plan to per-frame ``(F, K)``, and calls the engine, or one of the
physical renderer's diagnostic views.
"""

from __future__ import annotations

import enum
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from bokehfx.errors import UsageError
from bokehfx.focus.plan import FocusPlan, PlanEvaluator
from bokehfx.io.colour import TRC_SRGB, to_linear
from bokehfx.io.probe import MediaInfo
from bokehfx.io.source import Frame
from bokehfx.renderers.base import Look, Renderer

#: The smallest coverage by which rendered premultiplied colour is divided back to straight colour.
MIN_COVERAGE = 1e-6
#: Frames per engine call on the CPU: one frame's buffers stay in memory (and caches), the render
#: hands each frame's tensors over without stacking copies, and the job can encode frame i while frame
#: i + 1 renders. GPUs are given the job's whole batch.
CPU_FRAMES_PER_CALL = 1
#: Relative change below which a rendered pixel counts as left untouched (float rounding of the
#: renderer's normalisation, below half a 10-bit code step anywhere on the curve).
UNTOUCHED_TOLERANCE = 1e-4


class OutputView(str, enum.Enum):
    """What a render writes: the picture, or a compositor's diagnostic view."""

    beauty = "beauty"
    focus_map = "focus_map"
    disparity = "disparity"
    layers = "layers"


class DepthOfFieldStage:
    """The ``renderer`` of a render job: frames in, defocused frames (or a diagnostic view) out.

    Args:
        depth: normalized disparity per frame of the clip, starting at frame 0.
        plan: the clip's focus plan.
        info: the probed clip (rate, frame count).
        engine: the rendering engine (:class:`~bokehfx.renderers.physical.PhysicalRenderer`).
        look: aperture and highlight settings.
        view: the picture, or a diagnostic view.
        first_index: index of the first frame the job will hand over (``--frames`` start).
        plan_origin: the frame the plan's time 0 refers to (0 for a clip; a timeline clip's first
            rendered frame). Frames between it and ``first_index`` advance the plan unrendered.
        device: where tensors are built for the engine.
        frame_count: frames the plan spans (needed by relative keyframes such as "over the clip").
        on_lost: what a lost point track does: ``"raise"`` or ``"hold"`` its last position.
        subjects: finds named subjects (a :class:`bokehfx.focus.subjects.SubjectLocator`), when
            the plan has any.
        evaluator: per-frame ``(F, K)`` already evaluated for the whole clip (a resumable render's
            pre-pass), used instead of evaluating the plan here; frames before ``first_index``
            then only advance it.
    """

    def __init__(self, depth: Iterator[np.ndarray], plan: FocusPlan, info: MediaInfo, engine: Renderer,
                 look: Look, *, view: OutputView = OutputView.beauty, first_index: int = 0, plan_origin: int = 0,
                 device: str | torch.device = "cpu", frame_count: int | None = None,
                 on_lost: str = "raise", subjects: Any = None, evaluator: Any = None) -> None:
        if not 0 <= plan_origin <= first_index:
            raise UsageError(f"plan_origin {plan_origin} must lie between 0 and first_index {first_index}")
        self.depth = depth
        self.plan = plan
        self.engine = engine
        self.look = look
        self.view = OutputView(view)
        self.device = torch.device(device)
        #: Frames the job should hand over per call (``None``: its own batch size).
        self.batch_frames: int | None = CPU_FRAMES_PER_CALL if self.device.type == "cpu" else None
        self.evaluator = evaluator if evaluator is not None else PlanEvaluator(
            plan, info.video.frame_rate, frame_count, on_lost=on_lost, subjects=subjects)
        #: Per-frame (F, K) of every rendered frame, in order (for reports and tests).
        self.focus: list[float] = []
        self.blur: list[float] = []
        if first_index > plan_origin and plan.needs_images and evaluator is None:
            raise UsageError("a tracked focus point or named subject is followed from the first frame; "
                             "render from frame 0 (drop --frames) or use a fixed --focus")
        for index in range(first_index):  # depth (and plan time) before the first rendered frame
            disp = self._next_depth(index)
            if index >= plan_origin:
                self.evaluator.push(disp)
        self._next = first_index

    def _next_depth(self, index: int) -> np.ndarray:
        try:
            return next(self.depth)
        except StopIteration:
            raise UsageError(f"the depth has fewer frames than the clip: none for frame {index}") from None

    def _advance(self, frame: Frame) -> np.ndarray:
        """The next frame's disparity, checked against the frame; its (F, K) evaluated and recorded."""
        if frame.index != self._next:
            raise UsageError(f"frame {frame.index} arrived, expected frame {self._next}")
        disp = self._next_depth(frame.index)
        if disp.shape != frame.image.shape[:2]:
            raise UsageError(f"depth for frame {frame.index} is {disp.shape[1]}x{disp.shape[0]}, "
                             f"the clip is {frame.image.shape[1]}x{frame.image.shape[0]}")
        result = self.evaluator.push(disp, frame.image)  # the frame: tracking, pixel units
        self._next += 1
        self.focus.append(result.focus)
        self.blur.append(result.k)
        return disp

    def __call__(self, frames: Sequence[Frame]) -> list[tuple[np.ndarray, np.ndarray | None]]:
        step = self.batch_frames or len(frames)
        out: list[tuple] = []
        for start in range(0, len(frames), step):
            out.extend(self._render(frames[start:start + step]))
        return out

    def _render(self, frames: Sequence[Frame]) -> list[tuple]:
        disparity = [self._advance(frame) for frame in frames]
        n = len(frames)
        return self.render_advanced(frames, disparity, self.focus[-n:], self.blur[-n:])

    def advance(self, frame: Frame) -> tuple[np.ndarray, float, float]:
        """Take the next frame in order: its disparity, focal plane F and blur K (recorded here)."""
        disp = self._advance(frame)
        return disp, self.focus[-1], self.blur[-1]

    def render_advanced(self, frames: Sequence[Frame], disparity: Sequence[np.ndarray], focus: Sequence[float],
                        blur: Sequence[float]) -> list[tuple]:
        """Render frames already taken by :meth:`advance`: ``(image, alpha, keep)`` per frame.

        Reads nothing the next :meth:`advance` changes, so frames may render on other threads
        while later frames are advanced.
        """
        n = len(frames)
        f = torch.tensor(list(focus), dtype=torch.float32, device=self.device)
        k = torch.tensor(list(blur), dtype=torch.float32, device=self.device)
        rgb = torch.from_numpy(_batch([fr.image for fr in frames])).permute(0, 3, 1, 2).to(self.device)
        disp_t = torch.from_numpy(_batch(disparity)).unsqueeze(1).to(self.device)
        alphas = [fr.alpha for fr in frames]
        if self.view is not OutputView.beauty:
            from bokehfx.renderers.diagnostics import diagnostics

            view = diagnostics(rgb, disp_t, f, k, self.look)[self.view.value]
            shown = to_linear(view.permute(0, 2, 3, 1).cpu().numpy(), TRC_SRGB)
            return [(shown[i], alphas[i]) for i in range(n)]
        # The rendered pictures stay views of the engine's (T, 3, H, W) output: the sink's first
        # conversion reads them once into its own layout, so no transposing copy is made here.
        if all(a is not None for a in alphas) and hasattr(self.engine, "render_rgba"):
            alpha_t = torch.from_numpy(_batch(alphas)).unsqueeze(1).to(self.device)
            colour, coverage = self.engine.render_rgba(rgb, disp_t, f, k, self.look, alpha_t)
            straight = colour / coverage.clamp_min(MIN_COVERAGE)
            out = straight.permute(0, 2, 3, 1).cpu().numpy()
            cov = coverage[:, 0].cpu().numpy()
            rendered = [(out[i], np.ascontiguousarray(cov[i])) for i in range(n)]
        else:
            out = self.engine.render(rgb, disp_t, f, k, self.look).permute(0, 2, 3, 1).cpu().numpy()
            rendered = [(out[i], alphas[i]) for i in range(n)]
        return [self._keep_in_focus(frame, disp, fi, ki, image, alpha)
                for frame, disp, fi, ki, (image, alpha) in zip(frames, disparity, focus, blur, rendered)]

    def _keep_in_focus(self, frame: Frame, disp: np.ndarray, focus: float, k: float, image: np.ndarray,
                       alpha: np.ndarray | None) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """(image, alpha, keep): pixels whose CoC is 0 and that nothing spread onto are the source's own.

        ``keep`` marks them; they are set back to the decoded values here (exact for float outputs)
        and the sink writes them from the decoded code values, exactly as the identity path does.
        Only the pixels whose CoC is 0 are compared: on continuous depth they are a thin line, and
        a frame with none costs nothing here.
        """
        if k == 0 or self.look.max_blur == 0:
            return _keep_unchanged(frame, image, alpha, None)
        coc_zero = disp == np.float32(focus)
        return _keep_unchanged(frame, image, alpha, np.nonzero(coc_zero) if coc_zero.any() else _NOWHERE)


#: No pixel: (rows, columns) of an empty selection.
_NOWHERE = (np.zeros(0, np.intp), np.zeros(0, np.intp))


def _batch(arrays: list[np.ndarray]) -> np.ndarray:
    """Arrays stacked on a new first axis; one writable array becomes a view of itself, not a copy
    (torch warns about read-only arrays, which a depth source may hand out)."""
    return arrays[0][None] if len(arrays) == 1 and arrays[0].flags.writeable else np.stack(arrays)


def _channel_max_abs(values: np.ndarray) -> np.ndarray:
    """``np.abs(values).max(axis=-1)`` of ``(..., 3)`` values, one channel at a time (several times faster)."""
    magnitude = np.abs(values)
    out = np.maximum(magnitude[..., 0], magnitude[..., 1])
    return np.maximum(out, magnitude[..., 2], out=out)


def _keep_unchanged(frame: Frame, image: np.ndarray, alpha: np.ndarray | None,
                    where: tuple[np.ndarray, np.ndarray] | None) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Mark and restore the pixels the renderer left as they were, among ``where`` (rows, columns; None: all)."""
    keep = np.zeros(image.shape[:2], bool)
    if where is not None and where[0].size == 0:
        return image, alpha, keep
    at = (slice(None), slice(None)) if where is None else where
    source, rendered = frame.image[at], image[at]
    unchanged = _channel_max_abs(rendered - source) <= UNTOUCHED_TOLERANCE * (1.0 + _channel_max_abs(source))
    both_alpha = alpha is not None and frame.alpha is not None
    if both_alpha:
        unchanged &= np.abs(alpha[at] - frame.alpha[at]) <= UNTOUCHED_TOLERANCE
    if where is None:
        keep = unchanged
        np.copyto(image, frame.image, where=keep[..., None])
        if both_alpha:
            np.copyto(alpha, frame.alpha, where=keep)
        return image, alpha, keep
    rows, cols = where[0][unchanged], where[1][unchanged]
    keep[rows, cols] = True
    image[rows, cols] = frame.image[rows, cols]
    if both_alpha:
        alpha[rows, cols] = frame.alpha[rows, cols]
    return image, alpha, keep
