"""End to end: ``bokehfx render`` with depth of field at 1080p to ProRes HQ against the bare ProRes loop.

All sides read the same generated 1920x1080 H.264 clip (``_common.write_synthetic_clip``) and
write ProRes 422 HQ ``.mov`` in this process, alternating run by run after one untimed warm-up:

- render: the ``bokehfx render`` command (the typer app, in-process) with a continuous disparity
  sidecar (a still 16-bit PNG: a left-to-right ramp plus a gentle wave, like a floor or a wall),
  ``--depth-kind disparity --focus 0.45 --blur 40 --quality Q``;
- null (with ``--null-renderer``): the same command with the physical engine swapped for one that
  returns a copy of its input: everything a depth-of-field render costs except the renderer's own
  math (decode, linearisation, depth, focus plan, the in-focus compositing, encode);
- baseline (named "PyAV decode -> yuv422p10le -> prores_ks hq"): the bare loop of
  ``bench_throughput.baseline_transcode``.

``--scene redwood`` renders real RGB-D instead: the Redwood frames of ``../shared/rgbd/redwood_seq``
(five 640x480 pictures, looped) scaled to ``--height`` rows with their 4:3 aspect kept and encoded
as H.264, with the sensor's own depth as the sidecar (uint16 millimetres, 0 = no measurement:
``--depth-encoding mm``, an image sequence at the sensor's 640x480 that the render scales): the
fragmented depth of a real room, where every slab's box spans most of the frame.

Prints the machine and its load, per run frames/s and process CPU ms/frame (all threads) of each
side, the medians, and the ratios to the baseline (targets: render >= 3 frames/s, ratio >= 0.2).
With both render and null sides it also prints the renderer's own share (render minus null, per
frame). On a shared machine the absolute figures move with the neighbours' load; the ratios,
measured in the same process, much less, and CPU time least.

Run from the repository root::

    python benchmarks/bench_render_dof.py                       # 12 frames, 2 runs per side
    python benchmarks/bench_render_dof.py --quality draft --frames 24
    python benchmarks/bench_render_dof.py --null-renderer --no-render --frames 24 --profile 20
    python benchmarks/bench_render_dof.py --scene redwood --frames 24                # real sensor depth
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import _common
import av
import numpy as np
from bench_throughput import baseline_transcode, profile_side

#: Default synthetic picture size and length (half a second at 24 fps: short runs on shared machines).
DEFAULT_WIDTH, DEFAULT_HEIGHT, DEFAULT_FRAMES = 1920, 1080, 12
#: Blur strength K and focal plane of the render.
BLUR_K, FOCUS = 40, 0.45
#: Amplitude and period (in widths) of the wave on the disparity ramp.
WAVE_AMPLITUDE, WAVE_PERIODS = 0.05, 3.0
UINT16_MAX = 65535
TARGET_FPS, TARGET_RATIO = 3.0, 0.2
MS_PER_S = 1000.0


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


def write_redwood(folder: Path, height: int, frames: int) -> tuple[Path, Path]:
    """The Redwood RGB-D frames, looped to ``frames``: an H.264 clip ``height`` rows high (4:3 kept)
    and the sensor's depth as a sequence of uint16 PNGs (``folder/depth/%05d.png``, as recorded)."""
    pictures = sorted((_common.REDWOOD / "color").glob("*.jpg"))
    depths = sorted((_common.REDWOOD / "depth").glob("*.png"))
    width = (height * 4 // 3) // 2 * 2
    scaled = []
    for path in pictures:
        with av.open(str(path)) as still:
            scaled.append(next(still.decode(video=0)).reformat(
                width=width, height=height, format="yuv420p", interpolation="BICUBIC",
                dst_colorspace="ITU709", dst_color_range="MPEG").to_ndarray())
    clip = folder / "redwood.mp4"
    with av.open(str(clip), mode="w") as out:
        video = _common.add_h264_video(out, width, height, 24)
        for i in range(frames):
            yuv = av.VideoFrame.from_ndarray(scaled[i % len(scaled)], format="yuv420p")
            yuv.pts, yuv.time_base = i, Fraction(1, 24)
            out.mux(video.encode(yuv))
        out.mux(video.encode(None))
    (folder / "depth").mkdir()
    for i in range(frames):
        shutil.copyfile(depths[i % len(depths)], folder / "depth" / f"{i:05d}.png")
    return clip, folder / "depth" / "%05d.png"


class PassThroughEngine:
    """An engine that returns a copy of its input frames: the render without the renderer's math."""

    def render(self, frames, disparity, focus, blur, look):
        return frames.clone()


@contextlib.contextmanager
def null_engine():
    """Within the block, ``bokehfx render`` renders with :class:`PassThroughEngine`."""
    import bokehfx.pipeline.render as render_module

    original = render_module._engine
    render_module._engine = lambda settings: PassThroughEngine()
    try:
        yield
    finally:
        render_module._engine = original


def render_dof(source: Path, depth: Path, output: Path, quality: str, depth_args: tuple[str, ...]) -> None:
    """``bokehfx render`` with depth of field, in this process (``depth_args``: how the sidecar is read)."""
    from cli.main import app

    args = ["render", str(source), "-o", str(output), "--depth", str(depth), *depth_args,
            "--focus", str(FOCUS), "--blur", str(BLUR_K), "--quality", quality, "--force", "--quiet"]
    app(args, standalone_mode=False)


def null_render(source: Path, depth: Path, output: Path, quality: str, depth_args: tuple[str, ...]) -> None:
    """:func:`render_dof` with the pass-through engine."""
    with null_engine():
        render_dof(source, depth, output, quality, depth_args)


def count_pictures(path: Path) -> int:
    """Video packets of ``path`` (one per picture for ProRes), read without decoding."""
    with av.open(str(path)) as container:
        return sum(1 for packet in container.demux(video=0) if packet.size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=DEFAULT_FRAMES)
    parser.add_argument("--width", type=int, default=DEFAULT_WIDTH)
    parser.add_argument("--height", type=int, default=DEFAULT_HEIGHT)
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per side (median)")
    parser.add_argument("--quality", choices=("draft", "normal", "final"), default="normal")
    parser.add_argument("--scene", choices=("wave", "redwood"), default="wave",
                        help="wave: generated clip and still wave disparity; redwood: real RGB-D (../shared)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default; 1 on a crowded machine)")
    parser.add_argument("--null-renderer", action="store_true",
                        help="also time the render with a pass-through engine (everything but the renderer's math)")
    parser.add_argument("--no-render", action="store_true", help="skip the real render (with --null-renderer)")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="after timing, cProfile one run of each depth-of-field side and print its N costliest functions")
    args = parser.parse_args()
    if args.no_render and not args.null_renderer:
        parser.error("--no-render needs --null-renderer (nothing to compare otherwise)")
    if args.threads > 0:
        import torch

        torch.set_num_threads(args.threads)
    print(_common.machine_banner())
    with tempfile.TemporaryDirectory(prefix="bokehfx-bench-dof-") as tmp:
        folder = Path(tmp)
        if args.scene == "redwood":
            if not _common.REDWOOD.is_dir():
                raise SystemExit(f"--scene redwood needs {_common.REDWOOD}, which is absent")
            source, depth = write_redwood(folder, args.height, args.frames)
            depth_args: tuple[str, ...] = ("--depth-encoding", "mm")
        else:
            source = _common.write_synthetic_clip(folder / "source.mp4", args.width, args.height, args.frames, audio=False)
            depth = write_disparity(folder / "disparity.png", args.width, args.height)
            depth_args = ("--depth-kind", "disparity")
        with av.open(str(source)) as container:
            size = f"{container.streams.video[0].width}x{container.streams.video[0].height}"
        sides = {}
        if not args.no_render:
            sides["render"] = lambda: render_dof(source, depth, folder / "render.mov", args.quality, depth_args)
        if args.null_renderer:
            sides["null"] = lambda: null_render(source, depth, folder / "null.mov", args.quality, depth_args)
        sides["baseline"] = lambda: baseline_transcode(source, folder / "baseline.mov")
        outputs = {"render": folder / "render.mov", "null": folder / "null.mov", "baseline": folder / "baseline.mov"}
        for fn in sides.values():
            fn()
        fps: dict[str, list[float]] = {name: [] for name in sides}
        cpu: dict[str, list[float]] = {name: [] for name in sides}
        for run in range(args.repeats):
            for name, fn in sides.items():
                started, cpu_started = time.perf_counter(), time.process_time()
                fn()
                seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
                frames = count_pictures(outputs[name])
                if frames != args.frames:
                    raise SystemExit(f"{name} wrote {frames} frames of a {args.frames}-frame clip")
                fps[name].append(frames / seconds)
                cpu[name].append(cpu_seconds * MS_PER_S / frames)
                print(f"run {run + 1} {name:8s}: {fps[name][-1]:.3f} frames/s, {cpu[name][-1]:.0f} CPU ms/frame",
                      flush=True)
        if args.profile:
            for name in ("render", "null"):
                if name in sides:
                    side = sides[name]
                    profile_side(name, lambda _source, _output, side=side: side(), None, None, args.frames, args.profile,
                                 "thread")
    fps_med = {name: _common.median(values) for name, values in fps.items()}
    cpu_med = {name: _common.median(values) for name, values in cpu.items()}
    baseline = fps_med["baseline"]
    print(f"baseline PyAV decode -> yuv422p10le -> prores_ks hq: {baseline:.3f} frames/s, "
          f"{cpu_med['baseline']:.0f} CPU ms/frame")
    if "null" in fps_med:
        print(f"null renderer (everything but the renderer's math): {fps_med['null']:.3f} frames/s, "
              f"{cpu_med['null']:.0f} CPU ms/frame; ratio null/baseline: {fps_med['null'] / baseline:.3f}")
    if "render" in fps_med:
        render = fps_med["render"]
        print(f"bokehfx render {size} ({args.scene}) K={BLUR_K} --quality {args.quality} to ProRes HQ: "
              f"{render:.3f} frames/s, {cpu_med['render']:.0f} CPU ms/frame (target >= {TARGET_FPS:g} frames/s)")
        if "null" in fps_med:
            share = MS_PER_S / render - MS_PER_S / fps_med["null"]
            print(f"the renderer's own share: {share:.0f} ms/frame wall, "
                  f"{cpu_med['render'] - cpu_med['null']:.0f} CPU ms/frame")
        print(f"ratio render/baseline: {render / baseline:.3f} (target >= {TARGET_RATIO:g})")


if __name__ == "__main__":
    main()
