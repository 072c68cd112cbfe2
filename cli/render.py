"""`bokehfx render`: depth of field onto a clip or a timeline, streaming from decode to encode."""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from bokehfx.io.paths import Codec
from cli.app import app
from cli.jobfile import job_option_callback, keyframe_plan, with_job_file

LOOK = "Look"
DEPTH = "Depth"
FOCUS = "Focus"
OUTPUT = "Output"
RESUME = "Resume and scale-out"
DIFFUSION = "Diffusion renderer"
JOB = "Job"


class DepthKind(str, enum.Enum):
    """What the values of a ``--depth`` sidecar mean."""

    depth = "depth"
    disparity = "disparity"


class DepthEncoding(str, enum.Enum):
    """How a sidecar stores its values."""

    raw = "raw"
    mm = "mm"
    tum = "tum"
    nyu = "nyu"
    sun = "sun"
    middlebury = "middlebury"


class RendererName(str, enum.Enum):
    """Rendering engines."""

    physical = "physical"
    diffusion = "diffusion"


class Aperture(str, enum.Enum):
    """Aperture shapes."""

    disc = "disc"
    polygon = "polygon"
    ring = "ring"
    image = "image"


class View(str, enum.Enum):
    """What to write: the picture or a diagnostic view."""

    beauty = "beauty"
    focus_map = "focus_map"
    disparity = "disparity"
    layers = "layers"


class Backend(str, enum.Enum):
    """Where the chunks of a resumable render run."""

    local = "local"
    ray = "ray"


class Quality(str, enum.Enum):
    """Speed against fidelity of the physical engine (like a compositor's proxy quality)."""

    draft = "draft"
    normal = "normal"
    final = "final"


class Precision(str, enum.Enum):
    """Working precision of the engine."""

    fp32 = "fp32"
    fp16 = "fp16"
    bf16 = "bf16"


@app.command()
@with_job_file
def render(
    input: Annotated[Optional[str], typer.Argument(
        help="Video file, still, or image-sequence pattern (plate.%04d.exr). Omit with --timeline.",
        show_default=False)] = None,
    output: Annotated[Optional[str], typer.Option(
        "-o", "--output", help="Output: .mov (ProRes 422 HQ), .mp4 (H.264), .mkv, or a pattern "
                               "name.%04d.png|tif|exr (16-bit PNG/TIFF, half-float EXR). A folder with --timeline.",
        show_default=False, rich_help_panel=OUTPUT)] = None,
    codec: Annotated[Optional[Codec], typer.Option(
        help="Movie codec; default from the extension (.mov: prores_hq, .mp4: h264). prores_4444 keeps alpha.",
        show_default=False, rich_help_panel=OUTPUT)] = None,
    crf: Annotated[int, typer.Option(help="H.264 quality, 0 (lossless) to 51.", rich_help_panel=OUTPUT)] = 18,
    bit_depth: Annotated[Optional[int], typer.Option(
        "--bit-depth", help="H.264 bit depth: 8 (default) or 10. ProRes is always 10-bit.",
        rich_help_panel=OUTPUT)] = None,
    view: Annotated[View, typer.Option(
        help="beauty (the render), or a diagnostic: focus_map (near orange / in focus green / far blue), "
             "disparity (white = near), layers (the renderer's depth slices).", rich_help_panel=OUTPUT)]
    = View.beauty,
    frames: Annotated[Optional[str], typer.Option(
        help="Frame range to render, 0-based and inclusive: A-B, A- (to the end) or N.",
        rich_help_panel=OUTPUT)] = None,
    fps: Annotated[Optional[str], typer.Option(
        help="Frame rate of an image-sequence or still input, or of an EDL timeline (24, 24000/1001; default 24).",
        rich_help_panel=OUTPUT)] = None,
    force: Annotated[bool, typer.Option("--force", "-f", help="Overwrite existing outputs.",
                                        rich_help_panel=OUTPUT)] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress and no notes on stderr.",
                                        rich_help_panel=OUTPUT)] = False,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Render in chunks kept in a hidden work folder beside the output; the same command "
                         "run again after a crash or a kill continues from the last finished chunk.",
        rich_help_panel=RESUME)] = False,
    chunk_frames: Annotated[Optional[int], typer.Option(
        "--chunk-frames", help="Frames per chunk of a resumable render (default 48).", show_default=False,
        rich_help_panel=RESUME)] = None,
    backend: Annotated[Backend, typer.Option(
        help="Where the chunks render: local (this process) or ray (Ray tasks; needs bokehfx[ray]; implies "
             "--resume).", rich_help_panel=RESUME)] = Backend.local,
    address: Annotated[Optional[str], typer.Option(
        help="Ray cluster address (host:port or auto); default: a Ray instance on this machine.",
        show_default=False, rich_help_panel=RESUME)] = None,
    step: Annotated[Optional[str], typer.Option(
        help="Run one step of a resumable render (what a farm task runs; implies --resume): prepass, "
             "chunks:A-B (the chunks starting in frames A to B) or join.", show_default=False,
        rich_help_panel=RESUME)] = None,
    prompt: Annotated[Optional[str], typer.Option(
        help='Focus instruction in plain words, e.g. "focus on the foreground, large blur" or '
             '"rack focus to the background at 2s over 1 second".', rich_help_panel=FOCUS)] = None,
    focus: Annotated[Optional[str], typer.Option(
        help="Focal plane: normalized disparity 0 (farthest) to 1 (nearest), near/middle/far, or metres "
             "like 2.5m (metric depth). Overrides the prompt.", rich_help_panel=FOCUS)] = None,
    focus_point: Annotated[Optional[str], typer.Option(
        "--focus-point", help="Focus on the subject at X,Y (normalized 0-1, or pixels as 640,360px), "
                              "tracked through the shot. Overrides the prompt.", rich_help_panel=FOCUS)] = None,
    focus_region: Annotated[Optional[str], typer.Option(
        "--focus-region", help="Focus on the median depth of a box X0,Y0,X1,Y1 (normalized 0-1, or pixels "
                               "with a px suffix) or of a mask image at the clip's size (white = inside). "
                               "Overrides the prompt.", rich_help_panel=FOCUS)] = None,
    blur: Annotated[Optional[str], typer.Option(
        help="Blur: K (CoC radius in pixels per unit of disparity from the focal plane), "
             "small/medium/large/none, or f/N. 0 renders a faithful copy. Overrides the prompt.",
        rich_help_panel=FOCUS)] = None,
    subject_model: Annotated[Optional[str], typer.Option(
        "--subject-model", help="Open-vocabulary detector (OWL-ViT / OWLv2 hub id such as "
                                "google/owlvit-base-patch32, or a local folder) that finds named subjects "
                                "in the prompt ('focus on the dog'); without it the prompt names no subjects.",
        rich_help_panel=FOCUS)] = None,
    on_lost: Annotated[str, typer.Option(
        "--on-lost", help="When a tracked --focus-point is lost: raise (stop with an error) or hold "
                          "(keep its last position).", rich_help_panel=FOCUS)] = "raise",
    timeline: Annotated[Optional[str], typer.Option(
        help="OpenTimelineIO timeline (.otio, .edl, .xml, .fcpxml): render every clip with its own "
             "plan into the -o folder and write <name>.bokehfx.otio there.", rich_help_panel=FOCUS)] = None,
    aperture: Annotated[Aperture, typer.Option(help="Aperture shape.", rich_help_panel=LOOK)] = Aperture.disc,
    blades: Annotated[int, typer.Option(help="Blades of the polygon aperture.", rich_help_panel=LOOK)] = 6,
    roundness: Annotated[float, typer.Option(help="Blade curvature, 0 (straight) to 1 (disc).",
                                             rich_help_panel=LOOK)] = 0.0,
    rotation: Annotated[float, typer.Option(help="Aperture rotation in degrees.", rich_help_panel=LOOK)] = 0.0,
    anamorphic: Annotated[float, typer.Option(help="Bokeh height/width (2 = 2x anamorphic ovals).",
                                              rich_help_panel=LOOK)] = 1.0,
    ring_inner: Annotated[float, typer.Option(help="Inner radius of the ring (catadioptric) aperture, 0-1.",
                                              rich_help_panel=LOOK)] = 0.6,
    cat_eye: Annotated[float, typer.Option(help="Optical vignetting toward the frame edge (cat's-eye bokeh), 0-1.",
                                           rich_help_panel=LOOK)] = 0.0,
    kernel: Annotated[Optional[str], typer.Option(help="Image of a custom bokeh kernel (with --aperture image).",
                                                  rich_help_panel=LOOK)] = None,
    highlight_threshold: Annotated[float, typer.Option(
        help="Linear luminance above which highlights are boosted into luminous bokeh.", rich_help_panel=LOOK)] = 1.0,
    highlight_gain: Annotated[float, typer.Option(help="Highlight boost gain (0 = off).",
                                                  rich_help_panel=LOOK)] = 0.0,
    max_blur: Annotated[Optional[float], typer.Option(help="Cap on the CoC radius in pixels.",
                                                      rich_help_panel=LOOK)] = None,
    renderer: Annotated[RendererName, typer.Option(help="Rendering engine.", rich_help_panel=LOOK)]
    = RendererName.physical,
    quality: Annotated[Quality, typer.Option(
        help="Physical engine speed/fidelity: draft (fast preview), normal, or final (finest depth slices "
             "and pyramid levels; slowest).", rich_help_panel=LOOK)] = Quality.normal,
    ref: Annotated[Optional[str], typer.Option(help="Reference bokeh image (diffusion renderer): its blur "
                                                    "pattern and strength, not its content, steer the look.",
                                               rich_help_panel=DIFFUSION)] = None,
    model: Annotated[Optional[str], typer.Option(
        help="Diffusion model folder or hub id (--renderer diffusion); `bokehfx model init` makes one.",
        rich_help_panel=DIFFUSION, show_default=False)] = None,
    steps: Annotated[Optional[int], typer.Option(
        help="Denoising steps of the diffusion renderer: 1 (default) is the one-step mode.",
        rich_help_panel=DIFFUSION, show_default=False)] = None,
    window: Annotated[Optional[int], typer.Option(
        help="Frames per diffusion window (default: the model's, 25 for SVD-xt).", rich_help_panel=DIFFUSION,
        show_default=False)] = None,
    overlap: Annotated[Optional[int], typer.Option(
        help="Frames shared by consecutive diffusion windows (default: a quarter window).",
        rich_help_panel=DIFFUSION, show_default=False)] = None,
    seed: Annotated[Optional[int], typer.Option(
        help="Seed of the diffusion noise (default 0); the same seed gives the same render.",
        rich_help_panel=DIFFUSION, show_default=False)] = None,
    guidance_image: Annotated[Optional[float], typer.Option(
        help="Guidance scale of the reference image (default 1.5; 1 = no guidance).", rich_help_panel=DIFFUSION,
        show_default=False)] = None,
    guidance_text: Annotated[Optional[float], typer.Option(
        help="Guidance scale of the instruction --prompt (default 3.0; 1 = no guidance).",
        rich_help_panel=DIFFUSION, show_default=False)] = None,
    diffusion_size: Annotated[Optional[str], typer.Option(
        help="WxH whose area the diffusion model works at, the clip's aspect kept (default: the model's, "
             "1024x576 for SVD); the render is composited back at the clip's size.", rich_help_panel=DIFFUSION,
        show_default=False)] = None,
    decode_chunk: Annotated[Optional[int], typer.Option(
        help="Frames the diffusion model's VAE encodes and decodes at once (default 8; fewer saves memory).",
        rich_help_panel=DIFFUSION, show_default=False)] = None,
    offload: Annotated[bool, typer.Option(
        "--offload", help="Keep diffusion model parts on the CPU until each runs (saves GPU memory; --device cuda).",
        rich_help_panel=DIFFUSION)] = False,
    depth: Annotated[str, typer.Option(
        help="auto (sidecar if given, else the depth cache, else the estimator) or a sidecar: a video, "
             "an image sequence (depth.%04d.exr), or one still used for every frame.", rich_help_panel=DEPTH)]
    = "auto",
    depth_kind: Annotated[Optional[DepthKind], typer.Option(
        help="Meaning of the sidecar values: depth (converted as 1/depth; 0 = unknown) or disparity (near is "
             "high; 0 = farthest). Default: depth, or what --depth-encoding stores.", show_default=False,
        rich_help_panel=DEPTH)] = None,
    depth_encoding: Annotated[DepthEncoding, typer.Option(
        help="Sidecar storage: raw, mm (uint16 millimetres), tum (5000 per metre), nyu (Kinect), sun (SUN RGB-D), "
             "middlebury (disparity, 0 = unknown).",
        rich_help_panel=DEPTH)] = DepthEncoding.raw,
    depth_invalid: Annotated[Optional[float], typer.Option(
        "--depth-invalid", help="A stored sidecar value that means unknown (e.g. 0 for disparity whose 0 is a "
                                "hole, 65535 for a sensor's miss code); such pixels are filled from neighbours.",
        show_default=False, rich_help_panel=DEPTH)] = None,
    depth_range: Annotated[Optional[str], typer.Option(
        help="NEAR,FAR metric range of a depth sidecar (FAR may be inf); fixes the normalization.",
        rich_help_panel=DEPTH)] = None,
    depth_model: Annotated[Optional[str], typer.Option(
        help="Depth model hub id or local folder (default depth-anything/Depth-Anything-V2-Small-hf).",
        rich_help_panel=DEPTH)] = None,
    depth_window: Annotated[Optional[int], typer.Option(help="Frames per depth-estimation window (16).",
                                                        rich_help_panel=DEPTH)] = None,
    depth_overlap: Annotated[Optional[int], typer.Option(help="Overlap between depth windows (4).",
                                                         rich_help_panel=DEPTH)] = None,
    depth_smoothing: Annotated[float, typer.Option(help="Flow-guided depth smoothing, 0-1.",
                                                   rich_help_panel=DEPTH)] = 0.0,
    depth_cache: Annotated[Optional[str], typer.Option(
        help="Depth cache folder (default .bokehfx-cache/depth beside the output).", rich_help_panel=DEPTH)] = None,
    save_depth: Annotated[Optional[str], typer.Option(
        help="Also write the normalized disparity (0 far, 1 near): depth.%04d.exr|png|tif, or depth.mkv (16-bit FFV1).",
        rich_help_panel=DEPTH)] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:N or auto.", rich_help_panel=DEPTH)] = "cpu",
    dtype: Annotated[Precision, typer.Option(help="Engine precision (fp16/bf16 on GPU).",
                                             rich_help_panel=DEPTH)] = Precision.fp32,
    job: Annotated[Optional[str], typer.Option(
        help="A bokehfx.job/1 JSON job file: the options of this command by their long names (- written _), "
             "plus focus keyframes. Flags given beside it override it.", callback=job_option_callback,
        is_eager=True, show_default=False, rich_help_panel=JOB)] = None,
    progress_json: Annotated[Optional[str], typer.Option(
        "--progress-json", help="Write progress as JSON lines to this file (frames done/total, fps, seconds "
                                "left, stage), ending with a line whose status is done, failed or interrupted.",
        show_default=False, rich_help_panel=JOB)] = None,
) -> None:
    """Render depth of field onto a clip (decode, focus plan, depth, render, encode).

    Audio, subtitles and data streams are copied packet for packet; timestamps, rotation, sample
    aspect ratio, colour tags and timecode are carried over. The output appears only when complete.
    """
    from bokehfx.errors import UsageError

    if output is None:
        raise UsageError("missing -o/--output: where to write the render")
    if timeline is None and input is None:
        raise UsageError("missing INPUT: the clip to render (or --timeline FILE)")
    if timeline is not None and input is not None:
        raise UsageError("give either INPUT or --timeline, not both")
    diffusion = _diffusion_request(renderer, prompt, model=model, ref=ref, steps=steps, window=window,
                                   overlap=overlap, seed=seed, guidance_image=guidance_image,
                                   guidance_text=guidance_text, decode_chunk=decode_chunk,
                                   diffusion_size=diffusion_size, offload=offload)
    if on_lost not in ("raise", "hold"):
        raise UsageError(f"--on-lost {on_lost!r} must be raise or hold")

    from bokehfx.depth.source import DepthSpec
    from bokehfx.io.sink import EncodeSettings
    from bokehfx.io.source import parse_frame_range
    from bokehfx.pipeline.dof import OutputView
    from bokehfx.pipeline.job import RenderRequest
    from bokehfx.pipeline.render import DofSettings, FocusRequest, render_clip, render_timeline
    from bokehfx.renderers.base import Look
    from cli.options import parse_fps
    from cli.progress import frame_progress, wants_progress

    kernel_image = None
    if kernel is not None:
        from bokehfx.io.source import read_still

        kernel_image = read_still(kernel)
    elif aperture is Aperture.image:
        raise UsageError("--aperture image needs --kernel IMAGE")
    look = Look(aperture=aperture.value, blades=blades, roundness=roundness, rotation=rotation,
                anamorphic=anamorphic, ring_inner=ring_inner, cat_eye=cat_eye, kernel_image=kernel_image,
                highlight_threshold=highlight_threshold, highlight_gain=highlight_gain, max_blur=max_blur)
    where = _device(device)
    depth_spec = DepthSpec(
        path=None if depth == "auto" else Path(depth), kind=depth_kind.value if depth_kind else None,
        encoding=depth_encoding.value, depth_range=_depth_range(depth_range), invalid=depth_invalid,
        model=depth_model, device=where,
        window=depth_window, overlap=depth_overlap, smoothing=depth_smoothing,
        cache_dir=Path(depth_cache) if depth_cache else None,
    )
    settings = DofSettings(
        focus=FocusRequest(prompt=prompt, focus=focus, blur=blur, focus_point=focus_point,
                           region=_region(focus_region), subjects=subject_model is not None), look=look,
        view=OutputView(view.value), depth=depth_spec, device=where,
        dtype=None if dtype is Precision.fp32 else dtype.value, quality=quality.value, on_lost=on_lost,
        save_depth=Path(save_depth) if save_depth else None, subject_model=subject_model,
        diffusion=diffusion,
    )
    encode = EncodeSettings(crf=crf, bit_depth=bit_depth)
    show = wants_progress(quiet)
    if timeline is not None:
        if frames is not None:
            raise UsageError("--frames does not apply to --timeline (each clip renders its cut)")
        if resume or backend is not Backend.local or step:
            raise UsageError("--resume, --step and --backend render one clip; render a timeline without them")
        template = RenderRequest(input=Path("."), output=Path("."), codec=codec, force=force,
                                 fps=parse_fps(fps), encode=encode)
        result = render_timeline(Path(timeline), Path(output), settings, template,
                                 progress_for=lambda label: frame_progress(label, show))
        if not quiet:
            for note in (n for r in result.results for n in r.notes):
                sys.stderr.write(f"note: {note}\n")
            for line in result.skipped:
                sys.stderr.write(f"note: not rendered: {line}\n")
            if result.relinked is not None and sys.stderr.isatty():
                sys.stderr.write(f"wrote {len(result.rendered)} clips and {result.relinked}\n")
        if not result.rendered:
            raise UsageError(f"no clip of {timeline!r} could be rendered: " + "; ".join(result.skipped))
        return
    request = RenderRequest(input=Path(input), output=Path(output), codec=codec, frames=parse_frame_range(frames),
                            force=force, fps=parse_fps(fps), encode=encode)
    if resume or chunk_frames is not None or backend is not Backend.local or address is not None or step:
        from cli.resume import render_resumable

        render_resumable(request, settings, chunk_frames=chunk_frames, backend=backend.value, address=address,
                         quiet=quiet, plan=keyframe_plan(input, fps, prompt), step=step)
        return
    with frame_progress(f"render {Path(input).name}", show) as progress:
        result, _ = render_clip(request, settings, progress=progress,
                                plan=keyframe_plan(input, fps, prompt),
                                on_plan=_say_understood if prompt is not None and not quiet else None)
    if not quiet:
        for note in result.notes:
            sys.stderr.write(f"note: {note}\n")
        if sys.stderr.isatty():
            sys.stderr.write(f"wrote {result.output}: {result.frames} frames in {result.seconds:.1f} s "
                             f"({result.fps:.1f} fps)\n")


def _say_understood(plan) -> None:
    """One line with the prompt's reading in the grammar's words, before any render time is spent."""
    from bokehfx.focus.canonical import describe_plan

    sys.stderr.write(f"understood as: {describe_plan(plan)}\n")


def _region(text: str | None):
    """--focus-region: a box ``x0,y0,x1,y1`` (``px`` suffix for pixels) or a mask image file."""
    if text is None:
        return None
    from bokehfx.errors import UsageError
    from bokehfx.focus.plan import RegionTarget

    raw = text.strip()
    pixels = raw.lower().endswith("px")
    parts = (raw[:-2] if pixels else raw).split(",")
    if len(parts) == 4:
        try:
            return RegionTarget(box=tuple(float(p) for p in parts), pixels=pixels)
        except ValueError:
            raise UsageError(f"--focus-region {text!r}: a box is four numbers x0,y0,x1,y1") from None
    if not Path(raw).exists():
        raise UsageError(f"--focus-region {text!r} is neither a box x0,y0,x1,y1 nor an existing mask image")
    from bokehfx.io.source import read_still

    mask = read_still(raw).mean(axis=2) > MASK_THRESHOLD
    if not mask.any():
        raise UsageError(f"--focus-region mask {text!r} is empty (no pixel above {MASK_THRESHOLD})")
    return RegionTarget(mask=mask)


#: Linear-light level above which a mask image's pixel is inside the region.
MASK_THRESHOLD = 0.5


def _depth_range(text: str | None) -> tuple[float, float] | None:
    if text is None:
        return None
    from bokehfx.depth.convert import parse_depth_range

    return parse_depth_range(text)


def _device(text: str) -> str:
    from bokehfx.errors import UsageError

    if text == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    if text != "cpu" and not text.startswith("cuda"):
        raise UsageError(f"--device {text!r} must be cpu, cuda, cuda:N or auto")
    if text.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise UsageError(f"--device {text} asked for, but no CUDA device is available here")
    return text


def _diffusion_request(renderer: RendererName, prompt: str | None, *, model: str | None, ref: str | None,
                       offload: bool, diffusion_size: str | None, **numbers):
    """The diffusion engine's request, or ``None`` for the physical engine (which takes none of its flags)."""
    from bokehfx.errors import UsageError

    given = [name for name, value in (("--model", model), ("--ref", ref), ("--diffusion-size", diffusion_size))
             if value is not None] + [f"--{name.replace('_', '-')}" for name, v in numbers.items() if v is not None]
    if offload:
        given.append("--offload")
    if renderer is not RendererName.diffusion:
        if given:
            raise UsageError(f"{', '.join(given)} apply to --renderer diffusion only")
        return None
    if model is None:
        raise UsageError("--renderer diffusion needs --model PATH_OR_HUB_ID: a model folder "
                         "(`bokehfx model init --tiny DIR` makes a small random one to try the pipeline)")
    from bokehfx.pipeline.diffusion_stage import DiffusionRequest
    from bokehfx.renderers.diffusion import DiffusionOptions

    reference = None
    if ref is not None:
        from bokehfx.io.source import read_still

        reference = read_still(ref)
    size = None
    if diffusion_size is not None:
        parts = diffusion_size.lower().split("x")
        if len(parts) != 2 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
            raise UsageError(f"--diffusion-size {diffusion_size!r} must be WxH in pixels, like 1024x576")
        size = (int(parts[0]), int(parts[1]))
    options = DiffusionOptions(prompt=prompt, reference=reference, size=size,
                               **{k: v for k, v in numbers.items() if v is not None})
    return DiffusionRequest(model=model, options=options, offload=offload)
