"""`bokehfx eval`: metrics of two clips from files, streamed."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from cli.main import app
from tests.media_factory import gradient_frames, write_clip, write_sequence

runner = CliRunner()


def test_eval_prints_every_metric_and_handles_depth(tmp_path: Path) -> None:
    frames = gradient_frames(5, 64, 32)
    a = write_clip(tmp_path / "a.mov", frames, codec="prores_ks", pix_fmt="yuv422p10le", options={"profile": "hq"})
    shifted = [np.clip(f.astype(np.int64) + 3000, 0, 65535).astype(np.uint16) for f in frames]
    b = write_clip(tmp_path / "b.mov", shifted, codec="prores_ks", pix_fmt="yuv422p10le", options={"profile": "hq"})
    disp = np.full((32, 64, 3), 20000, np.uint16)
    disp[:, 32:] = 60000
    write_sequence(tmp_path / "d.%d.png", [disp] * 5, codec="png", pix_fmt="rgb48be", in_fmt="rgb48le", start_number=0)
    same = runner.invoke(app, ["eval", str(a), str(a), "--json"])
    assert same.exit_code == 0, same.stderr
    assert json.loads(same.stdout)["psnr"] is None or json.loads(same.stdout)["psnr"] > 90
    diff = runner.invoke(app, ["eval", str(b), str(a), "--json", "--depth", str(tmp_path / "d.%d.png")])
    assert diff.exit_code == 0, diff.stderr
    data = json.loads(diff.stdout)
    assert data["frames"] == 5 and 15 < data["psnr"] < 40
    assert 0 < data["edge_fraction"] < 0.5 and data["edge_psnr"] is not None
    assert data["temporal_mae"] < 0.01  # a constant offset does not flicker
    text = runner.invoke(app, ["eval", str(b), str(a)])
    assert "temporal RMS (BokehCrafter)" in text.stdout


def test_eval_refuses_mismatched_clips(tmp_path: Path) -> None:
    a = write_clip(tmp_path / "a.mov", gradient_frames(3, 64, 32), codec="prores_ks", pix_fmt="yuv422p10le")
    b = write_clip(tmp_path / "b.mov", gradient_frames(3, 32, 32), codec="prores_ks", pix_fmt="yuv422p10le")
    result = runner.invoke(app, ["eval", str(a), str(b)])
    assert result.exit_code == 2 and result.stderr.startswith("error:")
