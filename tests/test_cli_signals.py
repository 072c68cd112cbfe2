"""Ctrl-C or SIGTERM in the middle of a render leaves nothing at the output path."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.media_factory import gradient_frames


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_stopped_render_leaves_nothing(tmp_path: Path, sig: int, code: int) -> None:
    import av

    long_src = tmp_path / "long.mp4"  # long enough to still be rendering when the signal comes
    pictures = [av.VideoFrame.from_ndarray(f, format="rgb48le").reformat(format="yuv420p")
                for f in gradient_frames(8, 320, 180)]
    with av.open(str(long_src), "w") as out:
        stream = out.add_stream("libx264", rate=24, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p"
        for i in range(1200):
            frame = pictures[i % len(pictures)]
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    outdir = tmp_path / "out"
    outdir.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "cli.main", "render", str(long_src), "-o", str(outdir / "o.mov"),
                             "--blur", "0"], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not any(outdir.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err
    assert err.strip().splitlines()[-1].startswith("error:") and "Traceback" not in err
    assert list(outdir.iterdir()) == []
