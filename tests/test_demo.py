"""`bokehfx demo`: offline, through the real pipeline, every promised output."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
from typer.testing import CliRunner

from cli.main import app

runner = CliRunner()


def test_demo_writes_every_output(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = runner.invoke(app, ["demo", "-o", str(out), "--width", "160", "--height", "96", "--frames", "6"])
    assert result.exit_code == 0, result.stderr
    for name in ("rack_focus.mov", "rack_focus.mp4", "focus_map.mp4", "side_by_side.mp4", "contact_sheet.png"):
        assert (out / name).is_file(), name
    assert len(list((out / "source").glob("frame.*.exr"))) == 6
    assert len(list((out / "source").glob("disparity.*.exr"))) == 6
    with av.open(str(out / "rack_focus.mov")) as c:
        assert c.streams.video[0].codec_context.name == "prores"
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == 6
    with av.open(str(out / "rack_focus.mp4")) as c:
        assert c.streams.video[0].codec_context.name == "h264"
    with av.open(str(out / "side_by_side.mp4")) as c:
        assert c.streams.video[0].codec_context.width == 2 * 160 + 4
    with av.open(str(out / "contact_sheet.png")) as c:
        sheet = next(c.decode(video=0))
    assert (sheet.width, sheet.height) == (3 * 160 + 2 * 4, 4 * 96 + 3 * 4)
    # A rack focus: the first and last frames differ where the focus moved.
    assert np.abs(frames[0].astype(int) - frames[-1].astype(int)).mean() > 2
    again = runner.invoke(app, ["demo", "-o", str(out), "--width", "160", "--height", "96", "--frames", "6"])
    assert again.exit_code == 2 and "--force" in again.stderr
