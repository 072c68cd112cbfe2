"""`bokehfx eval`: quality metrics of a rendered clip against a reference."""

from __future__ import annotations

import json
import math
from typing import Annotated, Optional

import typer

from cli.app import app
from cli.render import DepthKind


@app.command("eval")
def evaluate(
    pred: Annotated[str, typer.Argument(help="The rendered clip (video, still or %04d sequence).", show_default=False)],
    gt: Annotated[str, typer.Argument(help="The reference clip, same size and frame count.", show_default=False)],
    depth: Annotated[Optional[str], typer.Option(
        help="Disparity or depth of the reference, for PSNR in the band around depth edges.")] = None,
    depth_kind: Annotated[DepthKind, typer.Option(help="Meaning of the --depth values.")] = DepthKind.disparity,
    fps: Annotated[Optional[str], typer.Option(help="Frame rate of image-sequence inputs.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Quality of a render against a reference: PSNR, SSIM, temporal consistency, edge-band PSNR.

    Temporal consistency is printed in Any-to-Bokeh's mean-absolute and BokehCrafter's
    root-mean-square form; the edge-band PSNR needs --depth. Pictures are compared as stored code values in 0..1 (each clip's own transfer function), the
    way published figures are computed; frames are streamed, two at a time.
    """
    from bokehfx.depth.sidecar import SidecarOptions
    from bokehfx.depth.source import read_sidecar_disparity
    from bokehfx.io.colour import from_linear
    from bokehfx.io.source import VideoSource
    from bokehfx.metrics.evaluate import evaluate as run_eval
    from cli.options import parse_fps

    rate = parse_fps(fps)
    with VideoSource(pred, fps=rate) as p_src, VideoSource(gt, fps=rate) as g_src:
        def stored(src: VideoSource):
            for frame in src:
                yield from_linear(frame.image, src.transfer).transpose(2, 0, 1)

        disparity = None
        if depth is not None:
            v = g_src.info.video
            disparity = read_sidecar_disparity(depth, None, SidecarOptions(kind=depth_kind.value),
                                               size=(v.height, v.width))
        result = run_eval(stored(p_src), stored(g_src), disparity)
    if json_out:
        typer.echo(json.dumps({k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in result.items()}))
        return
    labels = {"frames": "frames", "psnr": "PSNR (dB)", "ssim": "SSIM", "temporal_mae": "temporal |d| (Any-to-Bokeh)",
              "temporal_rmse": "temporal RMS (BokehCrafter)", "edge_psnr": "edge-band PSNR (dB)",
              "edge_fraction": "edge-band share"}
    for key, value in result.items():
        shown = f"{int(value)}" if key == "frames" else f"{value:.4f}"
        typer.echo(f"{labels.get(key, key):>28}: {shown}")
