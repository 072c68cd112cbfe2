"""Depth of field for one clip: depth per frame + focus plan + engine, as a stage of a render job.

:class:`DepthOfFieldStage` is the ``renderer`` callable that :func:`bokehfx.pipeline.job.run_render`
streams batches of frames through. It pulls the clip's normalized disparity one frame at a time
(from a sidecar or the depth cache), evaluates the focus plan to per-frame ``(F, K)``, and calls
the engine, or one of the physical renderer's diagnostic views.

:func:`open_depth` decides where depth comes from (``--depth auto``: a sidecar when given, else the
cache, else the estimator, whose result is stored in the cache).
"""

from __future__ import annotations

import enum
import itertools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from bokehfx.errors import UsageError
from bokehfx.focus.plan import FocusPlan, PlanEvaluator
from bokehfx.io.colour import TRC_SRGB, to_linear
from bokehfx.io.probe import MediaInfo
from bokehfx.io.source import Frame
from bokehfx.renderers.base import Look, Renderer

#: Folder (beside the output) where estimated depth is cached when no cache folder is given.
DEFAULT_CACHE_DIRNAME = ".bokehfx-cache"
#: The smallest coverage by which rendered premultiplied colour is divided back to straight colour.
MIN_COVERAGE = 1e-6


class OutputView(str, enum.Enum):
    """What a render writes: the picture, or a compositor's diagnostic view."""

    beauty = "beauty"
    focus_map = "focus_map"
    disparity = "disparity"
    layers = "layers"


@dataclass
class DepthSpec:
    """Where a clip's depth comes from (see :func:`open_depth`).

    Args:
        path: a sidecar (video, image sequence, or one still); ``None`` for ``--depth auto``.
        kind: ``"depth"`` (converted as 1/depth) or ``"disparity"``; ``None`` takes the encoding's own.
        encoding: stored encoding of the sidecar (``raw``, ``mm``, ``tum``, ``nyu``, ``sun``, ``middlebury``).
        depth_range: metric ``(near, far)`` fixing the normalization of a depth sidecar.
        invalid: a stored sidecar value that means "unknown" (besides what the encoding says).
        model: depth model hub id or local folder for estimation.
        device, dtype: where and in what precision the estimator runs.
        window, overlap: temporal windows of the estimator (aligned on their overlap).
        smoothing: flow-guided smoothing strength, 0 to 1.
        cache_dir: cache folder; ``None`` puts it beside the output.
    """

    path: Path | None = None
    kind: str | None = None
    encoding: str = "raw"
    depth_range: tuple[float, float] | None = None
    invalid: float | None = None
    model: str | None = None
    device: str = "cpu"
    dtype: str | None = None
    window: int | None = None
    overlap: int | None = None
    smoothing: float = 0.0
    cache_dir: Path | None = None


def _repeat_still(frames: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    first = next(frames)
    return itertools.repeat(first)


def open_depth(spec: DepthSpec, source: Path, info: MediaInfo, output: Path, *,
               frames_factory: Any = None) -> Iterator[np.ndarray]:
    """Normalized disparity ``(H, W)`` float32 per frame of the whole clip, from frame 0.

    The normalization is computed once over the whole clip (a first pass), never per frame.
    """
    size = (info.video.height, info.video.width)
    if spec.path is not None:
        from bokehfx.depth.sidecar import SidecarOptions
        from bokehfx.io.depthmaps import open_depth_sidecar, read_sidecar_disparity

        options = SidecarOptions(kind=spec.kind, encoding=spec.encoding, depth_range=spec.depth_range,
                                 invalid=spec.invalid)
        sidecar = open_depth_sidecar(spec.path)
        frames = read_sidecar_disparity(spec.path, None, options, size=size)
        return _repeat_still(frames) if sidecar.is_still else frames

    from bokehfx.depth.estimator import DEFAULT_DEPTH_MODEL, DepthAnythingEstimator
    from bokehfx.depth.temporal import DEFAULT_OVERLAP, DEFAULT_WINDOW
    from bokehfx.io.depthmaps import clip_fingerprint, estimate_into_cache

    estimator = DepthAnythingEstimator(spec.model or DEFAULT_DEPTH_MODEL, device=spec.device, dtype=spec.dtype)
    cache = spec.cache_dir or (output.parent / DEFAULT_CACHE_DIRNAME / "depth")
    entry, _ = estimate_into_cache(
        frames_factory,
        lambda batch: estimator.estimate(batch, pixel_aspect=float(info.video.sample_aspect_ratio)),
        cache,
        clip_fingerprint(source),
        estimator.fingerprint,
        window=spec.window or DEFAULT_WINDOW,
        overlap=spec.overlap if spec.overlap is not None else DEFAULT_OVERLAP,
        flow_smoothing=spec.smoothing,
    )
    return (np.asarray(m, dtype=np.float32).reshape(size) for m in entry.normalized())


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
    """

    def __init__(self, depth: Iterator[np.ndarray], plan: FocusPlan, info: MediaInfo, engine: Renderer,
                 look: Look, *, view: OutputView = OutputView.beauty, first_index: int = 0, plan_origin: int = 0,
                 device: str | torch.device = "cpu", frame_count: int | None = None,
                 on_lost: str = "raise") -> None:
        if not 0 <= plan_origin <= first_index:
            raise UsageError(f"plan_origin {plan_origin} must lie between 0 and first_index {first_index}")
        self.depth = depth
        self.plan = plan
        self.engine = engine
        self.look = look
        self.view = OutputView(view)
        self.device = torch.device(device)
        self.evaluator = PlanEvaluator(plan, info.video.frame_rate, frame_count, on_lost=on_lost)
        #: Per-frame (F, K) of every rendered frame, in order (for reports and tests).
        self.focus: list[float] = []
        self.blur: list[float] = []
        if first_index > plan_origin and plan.needs_images:
            raise UsageError("a tracked focus point follows the subject from the first frame; "
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

    def __call__(self, frames: Sequence[Frame]) -> list[tuple[np.ndarray, np.ndarray | None]]:
        disparity = []
        for frame in frames:
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
            disparity.append(disp)
        n = len(frames)
        f = torch.tensor(self.focus[-n:], dtype=torch.float32, device=self.device)
        k = torch.tensor(self.blur[-n:], dtype=torch.float32, device=self.device)
        rgb = torch.from_numpy(np.stack([fr.image for fr in frames])).permute(0, 3, 1, 2).to(self.device)
        disp_t = torch.from_numpy(np.stack(disparity)).unsqueeze(1).to(self.device)
        alphas = [fr.alpha for fr in frames]
        if self.view is not OutputView.beauty:
            from bokehfx.renderers.diagnostics import diagnostics

            view = diagnostics(rgb, disp_t, f, k, self.look)[self.view.value]
            shown = to_linear(view.permute(0, 2, 3, 1).cpu().numpy(), TRC_SRGB)
            return [(shown[i], alphas[i]) for i in range(n)]
        if all(a is not None for a in alphas) and hasattr(self.engine, "render_rgba"):
            alpha_t = torch.from_numpy(np.stack(alphas)).unsqueeze(1).to(self.device)
            colour, coverage = self.engine.render_rgba(rgb, disp_t, f, k, self.look, alpha_t)
            straight = colour / coverage.clamp_min(MIN_COVERAGE)
            out = straight.permute(0, 2, 3, 1).cpu().numpy()
            cov = coverage[:, 0].cpu().numpy()
            return [(np.ascontiguousarray(out[i]), np.ascontiguousarray(cov[i])) for i in range(n)]
        out = self.engine.render(rgb, disp_t, f, k, self.look).permute(0, 2, 3, 1).cpu().numpy()
        return [(np.ascontiguousarray(out[i]), alphas[i]) for i in range(n)]
