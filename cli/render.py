"""`bokehfx render`: depth of field onto a clip, streaming from decode to encode."""

from __future__ import annotations

import enum
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from bokehfx.io.paths import Codec
from cli.app import app, not_implemented


class DepthKind(str, enum.Enum):
    """What the values of a ``--depth`` sidecar mean."""

    disparity = "disparity"
    depth = "depth"


class RendererName(str, enum.Enum):
    """Rendering engines."""

    physical = "physical"
    diffusion = "diffusion"


@app.command()
def render(
    input: Annotated[str, typer.Argument(help="Video file, still, or image-sequence pattern (plate.%04d.exr).",
                                         show_default=False)],
    output: Annotated[Optional[str], typer.Option(
        "-o", "--output", help="Output: .mov (ProRes 422 HQ), .mp4 (H.264), .mkv, or a pattern "
                               "name.%04d.png|tif|exr (16-bit PNG/TIFF, half-float EXR).",
        show_default=False)] = None,
    codec: Annotated[Optional[Codec], typer.Option(
        help="Movie codec; default from the extension (.mov: prores_hq, .mp4: h264). prores_4444 keeps alpha.",
        show_default=False)] = None,
    depth: Annotated[Optional[str], typer.Option(
        help="Depth or disparity sidecar: video, image sequence, or one still for every frame.")] = None,
    depth_kind: Annotated[DepthKind, typer.Option(
        help="Meaning of the sidecar values: disparity (near is high) or depth (converted as 1/depth).")]
    = DepthKind.disparity,
    focus: Annotated[Optional[float], typer.Option(
        help="Focal plane as normalized disparity, 0 (farthest) to 1 (nearest). Overrides the prompt.")] = None,
    blur: Annotated[Optional[float], typer.Option(
        help="Blur strength K: circle-of-confusion radius in pixels per unit of disparity from the focal "
             "plane. 0 renders a faithful copy. Overrides the prompt.")] = None,
    prompt: Annotated[Optional[str], typer.Option(
        help='Focus instruction in plain words, e.g. "focus on the foreground, large blur".')] = None,
    ref: Annotated[Optional[str], typer.Option(
        help="Reference bokeh image for the diffusion renderer.")] = None,
    timeline: Annotated[Optional[str], typer.Option(
        help="OpenTimelineIO timeline (.otio, .edl, .xml, .fcpxml): render every clip; -o is a folder.")] = None,
    renderer: Annotated[RendererName, typer.Option(help="Rendering engine.")] = RendererName.physical,
    frames: Annotated[Optional[str], typer.Option(
        help="Frame range to render, 0-based and inclusive: A-B, A- (to the end) or N.")] = None,
    fps: Annotated[Optional[str], typer.Option(
        help="Frame rate of an image-sequence or still input, e.g. 24 or 24000/1001 (default 24).")] = None,
    crf: Annotated[int, typer.Option(help="H.264 quality, 0 (lossless) to 51.")] = 18,
    bit_depth: Annotated[Optional[int], typer.Option(
        "--bit-depth", help="H.264 bit depth: 8 (default) or 10. ProRes is always 10-bit.")] = None,
    force: Annotated[bool, typer.Option("--force", "-f", help="Overwrite an existing output.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress and no notes on stderr.")] = False,
) -> None:
    """Render depth of field onto a clip (decode, focus plan, depth, render, encode).

    Audio, subtitles and data streams are copied packet for packet; timestamps, rotation, sample
    aspect ratio, colour tags and timecode are carried over. The output appears only when complete.
    """
    from bokehfx.errors import UsageError

    if output is None:
        raise UsageError("missing -o/--output: where to write the render")
    if blur is not None and blur < 0:
        raise UsageError(f"--blur {blur} must be 0 or more")
    if focus is not None and not 0.0 <= focus <= 1.0:
        raise UsageError(f"--focus {focus} must be a normalized disparity between 0 and 1")
    if timeline is not None:
        not_implemented("--timeline rendering")
    if renderer is RendererName.diffusion:
        not_implemented("the diffusion renderer")
    if blur != 0:
        not_implemented("depth-of-field rendering (anything but --blur 0, the faithful copy)")

    from bokehfx.io.sink import EncodeSettings
    from bokehfx.io.source import parse_frame_range
    from bokehfx.pipeline.job import RenderRequest, run_render
    from cli.options import parse_fps
    from cli.progress import frame_progress, wants_progress

    request = RenderRequest(
        input=Path(input), output=Path(output), codec=codec, frames=parse_frame_range(frames), force=force,
        fps=parse_fps(fps), encode=EncodeSettings(crf=crf, bit_depth=bit_depth),
    )
    with frame_progress(f"render {Path(input).name}", wants_progress(quiet)) as progress:
        result = run_render(request, renderer=None, progress=progress)
    if not quiet:
        for note in result.notes:
            sys.stderr.write(f"note: {note}\n")
        if sys.stderr.isatty():
            sys.stderr.write(f"wrote {result.output}: {result.frames} frames in {result.seconds:.1f} s "
                             f"({result.fps:.1f} fps)\n")
