"""End to end: ``bokehfx render`` with depth of field at 1080p to ProRes HQ against the bare ProRes loop.

Both sides read the same generated 1920x1080 H.264 clip (``_common.write_synthetic_clip``) and
write ProRes 422 HQ ``.mov`` in this process, alternating run by run after one untimed warm-up:

- render: the ``bokehfx render`` command (the typer app, in-process) with a continuous disparity
  sidecar (a still 16-bit PNG: a left-to-right ramp plus a gentle wave, like a floor or a wall),
  ``--depth-kind disparity --focus 0.45 --blur 40 --quality Q``;
- baseline (named "PyAV decode -> yuv422p10le -> prores_ks hq"): the bare loop of
  ``bench_throughput.baseline_transcode``.

Prints the machine and its load, per run frames/s of both, the medians and the ratio
render/baseline (targets: render >= 3 frames/s, ratio >= 0.2). On a shared machine the absolute
figures move with the neighbours' load; the ratio, measured in the same process, much less.

Run from the repository root::

    python benchmarks/bench_render_dof.py                       # 12 frames, 2 runs per side
    python benchmarks/bench_render_dof.py --quality draft --frames 24
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import av
import numpy as np

import _common
from bench_throughput import baseline_transcode

#: Default synthetic picture size and length (half a second at 24 fps: short runs on shared machines).
DEFAULT_WIDTH, DEFAULT_HEIGHT, DEFAULT_FRAMES = 1920, 1080, 12
#: Blur strength K and focal plane of the render.
BLUR_K, FOCUS = 40, 0.45
#: Amplitude and period (in widths) of the wave on the disparity ramp.
WAVE_AMPLITUDE, WAVE_PERIODS = 0.05, 3.0
UINT16_MAX = 65535
TARGET_FPS, TARGET_RATIO = 3.0, 0.2


def wave_disparity(width: int, height: int) -> np.ndarray:
    """Disparity rising left to right with a gentle vertical wave, ``(height, width)`` float64 in [0, 1]."""
    x = np.linspace(0.0, 1.0, width)[None, :]
    y = np.linspace(0.0, 1.0, height)[:, None]
    return np.clip(0.05 + 0.9 * x + WAVE_AMPLITUDE * np.sin(2 * np.pi * WAVE_PERIODS * y), 0.0, 1.0)


def write_disparity(path: Path, width: int, height: int) -> Path:
    """A still 16-bit grey PNG of :func:`wave_disparity`."""
    disparity = wave_disparity(width, height)
    grey = np.ascontiguousarray((disparity * UINT16_MAX).astype(np.uint16))
    with av.open(str(path), mode="w", format="image2") as out:
        stream = out.add_stream("png", rate=1)
        stream.width, stream.height, stream.pix_fmt = width, height, "gray16be"
        frame = av.VideoFrame.from_ndarray(grey, format="gray16le")
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def render_dof(source: Path, depth: Path, output: Path, quality: str) -> int:
    """``bokehfx render`` in this process; returns the frames it wrote."""
    from cli.main import app

    args = ["render", str(source), "-o", str(output), "--depth", str(depth), "--depth-kind", "disparity",
            "--focus", str(FOCUS), "--blur", str(BLUR_K), "--quality", quality, "--force", "--quiet"]
    app(args, standalone_mode=False)
    with av.open(str(output)) as container:
        return sum(1 for _ in container.decode(video=0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=DEFAULT_FRAMES)
    parser.add_argument("--width", type=int, default=DEFAULT_WIDTH)
    parser.add_argument("--height", type=int, default=DEFAULT_HEIGHT)
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per side (median)")
    parser.add_argument("--quality", choices=("draft", "normal", "final"), default="normal")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default; 1 on a crowded machine)")
    args = parser.parse_args()
    if args.threads > 0:
        import torch

        torch.set_num_threads(args.threads)
    print(_common.machine_banner())
    with tempfile.TemporaryDirectory(prefix="bokehfx-bench-dof-") as tmp:
        folder = Path(tmp)
        source = _common.write_synthetic_clip(folder / "source.mp4", args.width, args.height, args.frames, audio=False)
        depth = write_disparity(folder / "disparity.png", args.width, args.height)
        sides = {
            "render": lambda: render_dof(source, depth, folder / "render.mov", args.quality),
            "baseline": lambda: baseline_transcode(source, folder / "baseline.mov"),
        }
        for fn in sides.values():
            fn()
        fps: dict[str, list[float]] = {name: [] for name in sides}
        for run in range(args.repeats):
            for name, fn in sides.items():
                started = time.perf_counter()
                frames = fn()
                if frames != args.frames:
                    raise SystemExit(f"{name} wrote {frames} frames of a {args.frames}-frame clip")
                fps[name].append(frames / (time.perf_counter() - started))
                print(f"run {run + 1} {name:8s}: {fps[name][-1]:.3f} frames/s", flush=True)
    render, baseline = _common.median(fps["render"]), _common.median(fps["baseline"])
    print(f"bokehfx render {args.width}x{args.height} K={BLUR_K} --quality {args.quality} to ProRes HQ: "
          f"{render:.3f} frames/s (target >= {TARGET_FPS:g})")
    print(f"baseline PyAV decode -> yuv422p10le -> prores_ks hq: {baseline:.3f} frames/s")
    print(f"ratio render/baseline: {render / baseline:.3f} (target >= {TARGET_RATIO:g})")


if __name__ == "__main__":
    main()
