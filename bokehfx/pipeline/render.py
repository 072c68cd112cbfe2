"""Rendering clips and timelines: plan + depth + engine wired into a streaming render job.

This is what ``bokehfx render`` calls. :func:`render_clip` renders one clip (the identity copy when
every keyframe's blur is 0, so nothing needs depth); :func:`render_timeline` renders every clip of
an OpenTimelineIO timeline with its own plan and writes the relinked timeline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable

from bokehfx.errors import BokehfxError, UsageError
from bokehfx.focus.plan import FocusPlan
from bokehfx.io.probe import MediaInfo, count_frames, probe
from bokehfx.depth.source import DepthSpec, open_depth
from bokehfx.pipeline.dof import DepthOfFieldStage, OutputView
from bokehfx.pipeline.job import ProgressCallback, RenderRequest, RenderResult, run_render
from bokehfx.renderers.base import Look

#: Frames the physical engine renders at once on the CPU (memory, not speed, is the limit there).
CPU_CHUNK_FRAMES = 1
#: Extension of each clip rendered from a timeline (a QuickTime movie holds every --codec).
TIMELINE_CLIP_EXTENSION = ".mov"


@dataclass
class FocusRequest:
    """How focus and blur are asked for: a prompt and/or flags (flags win)."""

    prompt: str | None = None
    focus: str | None = None
    blur: str | None = None
    focus_point: str | None = None
    region: Any = None  # a RegionTarget (box or mask) from --focus-region
    subjects: bool = False  # whether the prompt may name subjects (a --subject-model is given)

    def plan(self, rate: Any, base: FocusPlan | None = None) -> FocusPlan:
        """The plan: ``base`` (a timeline's) or the prompt's, with the flags merged over it."""
        from bokehfx.focus.prompt import merge_flags, parse_prompt

        if self.region is not None and (self.focus is not None or self.focus_point is not None):
            raise UsageError("give one of --focus, --focus-point or --focus-region")
        plan = base if base is not None else \
            (parse_prompt(self.prompt, rate, subjects=self.subjects) if self.prompt else None)
        focus = self.region if self.region is not None else self.focus
        return merge_flags(plan, focus=focus, blur=self.blur, focus_point=self.focus_point)


@dataclass
class DofSettings:
    """Everything besides the clip that decides the look of a render."""

    focus: FocusRequest = field(default_factory=FocusRequest)
    look: Look = field(default_factory=Look)
    view: OutputView = OutputView.beauty
    depth: DepthSpec = field(default_factory=DepthSpec)
    device: str = "cpu"
    dtype: str | None = None
    quality: str = "normal"
    on_lost: str = "raise"
    save_depth: Path | None = None
    subject_model: str | None = None
    diffusion: Any = None  # a DiffusionRequest: render with the diffusion engine instead


def is_identity(plan: FocusPlan, view: OutputView) -> bool:
    """True when nothing is blurred anywhere in the plan and the picture itself is wanted."""
    return view is OutputView.beauty and all(k.blur.k == 0 for k in plan.keyframes)


def _engine(settings: DofSettings):
    import torch

    from bokehfx.renderers.physical import PhysicalRenderer

    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32, None: torch.float32}
    if settings.dtype not in dtype:
        raise UsageError(f"--dtype {settings.dtype!r} is not one of fp32, fp16, bf16")
    # On the CPU one frame at a time keeps the peak near 90 floats per pixel (~0.75 GB at 1080p)
    # at no cost in speed; GPUs gain from batching.
    chunk = CPU_CHUNK_FRAMES if settings.device == "cpu" else None
    kwargs = {} if chunk is None else {"chunk_frames": chunk}
    return PhysicalRenderer(device=settings.device, dtype=dtype[settings.dtype], quality=settings.quality, **kwargs)


def _frames_factory(request: RenderRequest) -> Callable[[], Any]:
    from bokehfx.io.source import read_frames

    return lambda: (f.image.transpose(2, 0, 1) for f in read_frames(request.input, fps=request.fps))


def render_clip(request: RenderRequest, settings: DofSettings, *, progress: ProgressCallback | None = None,
                plan: FocusPlan | None = None, plan_origin: int = 0,
                on_plan: Callable[[FocusPlan], None] | None = None) -> tuple[RenderResult, DepthOfFieldStage | None]:
    """Render one clip with depth of field. Returns the result and the stage (per-frame F and K).

    Args:
        request: input, output, range and encoding.
        settings: focus, look, depth and device.
        plan: a plan to use instead of the prompt's (a timeline clip's); flags still win.
        plan_origin: the source frame the plan's time 0 refers to.
        on_plan: called with the plan once it is known, before any depth or render work.
    """
    info = probe(request.input, fps=request.fps)  # validates the input too
    plan = settings.focus.plan(info.video.frame_rate, plan)
    if on_plan is not None:
        on_plan(plan)
    from bokehfx.io.paths import output_target
    from bokehfx.io.sink import check_data_target, check_output

    # Refuse bad outputs before any depth work is spent.
    check_output(output_target(request.output, request.codec), request.input, force=request.force)
    if settings.save_depth is not None:
        check_data_target(settings.save_depth, request.input, force=request.force)
    if is_identity(plan, settings.view):
        result = run_render(request, renderer=None, progress=progress, info=info)
        if settings.save_depth is not None:
            save_depth(settings, request, info)
        return result, None
    frame_count = info.video.frame_count
    if plan.needs_frame_count and not info.video.frame_count_exact:
        frame_count = count_frames(request.input, fps=request.fps)
    if plan_origin and request.frames and request.frames[1] is not None:
        frame_count = request.frames[1] - plan_origin  # a timeline clip: the plan spans its rendered frames
    subjects = None
    if plan.subjects:
        from bokehfx.pipeline.subjects import open_subject_locator

        subjects = open_subject_locator(plan, settings.subject_model, settings.device, request.input,
                                        request.output, settings.depth.cache_dir)
    stage_class, engine = DepthOfFieldStage, None
    if settings.diffusion is not None:  # the model is loaded before any depth work is spent or written
        from bokehfx.pipeline.diffusion_stage import DiffusionDofStage, diffusion_engine

        stage_class, engine = DiffusionDofStage, diffusion_engine(settings.diffusion, settings.device, settings.dtype)
    depth = open_depth(settings.depth, request.input, info, request.output,
                       frames_factory=_frames_factory(request))
    first = request.frames[0] if request.frames else 0
    stage = stage_class(depth, plan, info, engine or _engine(settings), settings.look, view=settings.view,
                        first_index=first, plan_origin=plan_origin, device=settings.device,
                        frame_count=frame_count, on_lost=settings.on_lost, subjects=subjects)
    from bokehfx.pipeline.concurrent import frame_renderer

    # The physical engine's frames go side by side on small CPUs (the diffusion stage windows its own).
    with frame_renderer(stage, settings.device, frames_at_once=settings.diffusion is None) as renderer:
        result = run_render(request, renderer=renderer, progress=progress, info=info)
    if info.video.interlaced:
        result.notes.append("the source is interlaced: depth of field was rendered on whole frames, which "
                            "mixes their two fields in motion; deinterlace first for clean moving edges")
    if settings.save_depth is not None:
        save_depth(settings, request, info)
    return result, stage


def save_depth(settings: DofSettings, request: RenderRequest, info: MediaInfo) -> Path:
    """Write the clip's normalized disparity (0 far, 1 near) for other tools (see :func:`write_data`)."""
    from bokehfx.io.sink import write_data

    depth = open_depth(settings.depth, request.input, info, request.output, frames_factory=_frames_factory(request))
    return write_data(settings.save_depth, depth, info, force=request.force)


@dataclass
class TimelineResult:
    """What a timeline render did."""

    rendered: dict[int, Path]
    skipped: list[str]
    relinked: Path | None
    results: list[RenderResult]


def _clip_filename(job: Any) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", job.name).strip("._") or "clip"
    return f"{job.index:03d}_{safe}{TIMELINE_CLIP_EXTENSION}"


def render_timeline(timeline: Path, out_dir: Path, settings: DofSettings, template: RenderRequest, *,
                    progress_for: Callable[[str], Any] | None = None) -> TimelineResult:
    """Render every clip of a timeline into ``out_dir`` with its own plan; write the relinked timeline.

    A clip's plan comes from its markers or effect, else from the prompt; flags override both.
    Clips whose media is missing are skipped and reported; the others still render.
    """
    from bokehfx.timeline import read_timeline, relinked_name, write_relinked

    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"with --timeline, -o must be a folder; {str(out_dir)!r} is a file")
    prompt = settings.focus.prompt

    def prompt_plan(rate: Any) -> FocusPlan:  # the plan of clips that carry none of their own
        from bokehfx.focus.prompt import parse_prompt

        return parse_prompt(prompt, rate, subjects=settings.focus.subjects)

    read = read_timeline(timeline, rate=template.fps, default_plan=prompt_plan if prompt else None)
    if not read.jobs:
        raise UsageError(f"timeline {str(timeline)!r} has no video clips to render")
    out_dir.mkdir(parents=True, exist_ok=True)
    rendered: dict[int, Path] = {}
    skipped: list[str] = []
    results: list[RenderResult] = []
    for job in read.jobs:
        label = f"clip {job.index} {job.name!r}"
        if job.missing is not None:
            skipped.append(f"{label}: {job.missing}")
            continue
        source = Path(job.media_path) if job.media_path is not None else Path(job.sequence.pattern)
        out = out_dir / _clip_filename(job)
        first = job.file_start_frame
        request = replace(template, input=source, output=out,
                          frames=(first, first + job.render_frame_count),
                          fps=job.rate if job.sequence is not None else template.fps)
        progress = progress_for(label) if progress_for is not None else None
        try:
            if progress is not None:
                with progress as callback:
                    result, _ = render_clip(request, settings, progress=callback, plan=job.plan, plan_origin=first)
            else:
                result, _ = render_clip(request, settings, plan=job.plan, plan_origin=first)
        except BokehfxError as err:
            skipped.append(f"{label}: {err}")
            continue
        rendered[job.index] = out
        results.append(result)
    relinked = None
    if rendered:
        relinked = write_relinked(read, rendered, relinked_name(timeline, out_dir))
    return TimelineResult(rendered, skipped, relinked, results)
