"""`bokehfx render`: depth of field onto a clip or a timeline, streaming from decode to encode."""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from bokehfx.io.paths import Codec
from cli.app import app, not_implemented

LOOK = "Look"
DEPTH = "Depth"
FOCUS = "Focus"
OUTPUT = "Output"


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
    ref: Annotated[Optional[str], typer.Option(help="Reference bokeh image (diffusion renderer).",
                                               rich_help_panel=LOOK)] = None,
    depth: Annotated[str, typer.Option(
        help="auto (sidecar if given, else the depth cache, else the estimator) or a sidecar: a video, "
             "an image sequence (depth.%04d.exr), or one still used for every frame.", rich_help_panel=DEPTH)]
    = "auto",
    depth_kind: Annotated[DepthKind, typer.Option(
        help="Meaning of the sidecar values: depth (converted as 1/depth) or disparity (near is high).",
        rich_help_panel=DEPTH)] = DepthKind.depth,
    depth_encoding: Annotated[DepthEncoding, typer.Option(
        help="Sidecar storage: raw, mm (uint16 millimetres), tum (5000 per metre), nyu (Kinect), sun (SUN RGB-D).",
        rich_help_panel=DEPTH)] = DepthEncoding.raw,
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
    if renderer is RendererName.diffusion:
        not_implemented("the diffusion renderer")
    if ref is not None:
        not_implemented("--ref (a reference bokeh image steers the diffusion renderer)")
    if on_lost not in ("raise", "hold"):
        raise UsageError(f"--on-lost {on_lost!r} must be raise or hold")

    from bokehfx.io.sink import EncodeSettings
    from bokehfx.io.source import parse_frame_range
    from bokehfx.pipeline.dof import DepthSpec, OutputView
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
        path=None if depth == "auto" else Path(depth), kind=depth_kind.value, encoding=depth_encoding.value,
        depth_range=_depth_range(depth_range), model=depth_model, device=where,
        window=depth_window, overlap=depth_overlap, smoothing=depth_smoothing,
        cache_dir=Path(depth_cache) if depth_cache else None,
    )
    settings = DofSettings(
        focus=FocusRequest(prompt=prompt, focus=focus, blur=blur, focus_point=focus_point,
                           region=_region(focus_region)), look=look,
        view=OutputView(view.value), depth=depth_spec, device=where,
        dtype=None if dtype is Precision.fp32 else dtype.value, quality=quality.value, on_lost=on_lost,
        save_depth=Path(save_depth) if save_depth else None,
    )
    encode = EncodeSettings(crf=crf, bit_depth=bit_depth)
    show = wants_progress(quiet)
    if timeline is not None:
        if frames is not None:
            raise UsageError("--frames does not apply to --timeline (each clip renders its cut)")
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
    with frame_progress(f"render {Path(input).name}", show) as progress:
        result, _ = render_clip(request, settings, progress=progress)
    if not quiet:
        for note in result.notes:
            sys.stderr.write(f"note: {note}\n")
        if sys.stderr.isatty():
            sys.stderr.write(f"wrote {result.output}: {result.frames} frames in {result.seconds:.1f} s "
                             f"({result.fps:.1f} fps)\n")


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
