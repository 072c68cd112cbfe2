"""`bokehfx probe`: what bokehfx sees in a clip."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from cli.app import app

#: FFmpeg's AVFieldOrder values, as the summary names them.
FIELD_ORDERS = {1: "progressive", 2: "interlaced, top field first", 3: "interlaced, bottom field first",
                4: "interlaced, top field coded first, bottom displayed first",
                5: "interlaced, bottom field coded first, top displayed first"}


@app.command()
def probe(
    input: Annotated[str, typer.Argument(help="Video file, still, or image-sequence pattern (e.g. plate.%04d.exr).",
                                         show_default=False)],
    json_out: Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of a summary.")] = False,
    count: Annotated[bool, typer.Option("--count", help="Count frames exactly by reading the whole file "
                                                        "(otherwise estimated from the header).")] = False,
    fps: Annotated[Optional[str], typer.Option(help="Frame rate of an image sequence, e.g. 24 or 24000/1001.")] = None,
) -> None:
    """Describe a clip: streams, exact frame rate, timestamps, colour tags, rotation, timecode."""
    from cli.options import parse_fps
    from bokehfx.io.probe import probe as probe_media

    info = probe_media(input, fps=parse_fps(fps), exact_count=count)
    if json_out:
        typer.echo(info.dumps())
        return
    v = info.video
    c = v.colour.describe()
    lines = [
        f"{info.path}  [{info.container}]",
        f"  video #{v.index}: {v.codec} {v.width}x{v.height} {v.pix_fmt} ({v.bit_depth}-bit"
        f"{', alpha' if v.has_alpha else ''})",
        f"  rate {v.frame_rate} ({float(v.frame_rate):.3f} fps), time base {v.time_base}, "
        f"frames {v.frame_count if v.frame_count is not None else 'unknown'}"
        f"{'' if v.frame_count_exact else ' (estimated)'}",
        f"  SAR {v.sample_aspect_ratio}, rotation {v.rotation}°, timecode {v.timecode or 'none'}, "
        f"scan {FIELD_ORDERS.get(v.field_order, 'unknown')}",
        f"  colour: primaries {c['primaries_name']}, transfer {c['transfer_name']}, matrix {c['matrix_name']}, "
        f"range {c['range_name']}",
    ]
    for s in info.streams:
        lines.append(f"  {s.type} #{s.index}: {s.codec}" + (f" [{s.language}]" if s.language else "")
                     + (f" {s.details}" if s.details else ""))
    typer.echo("\n".join(lines))
