"""Throughput of ``render --blur 0`` to ProRes 422 HQ at 1080p against a plain PyAV transcode loop.

Both sides read the same generated 1920x1080 H.264 clip and write ProRes 422 HQ ``.mov``, in
this process, alternating run by run:

- pipeline: :func:`bokehfx.pipeline.job.run_render` with no renderer, the faithful copy that
  ``bokehfx render IN -o OUT.mov --blur 0`` makes (each decoded picture encoded from its own code
  values: one swscale format change, as the baseline does);
- linear (with ``--linear``, not part of the ratio): the same job with a renderer that returns
  every picture as it came, so each frame goes to linear float RGB and back as in a depth-of-field
  render: what the conversions of that path cost.
- baseline: PyAV decode of the H.264 stream, ``frame.reformat(format="yuv422p10le")``, encode with
  ``prores_ks`` profile ``hq``, mux into ``.mov``. Decoder and encoder both use FFmpeg threading
  (``thread_type="AUTO"``), as the pipeline's do.

Each side is timed wall-clock from opening the input to the closed output file. The script prints
the median frames/s of each and the ratio pipeline/baseline, and the process CPU time per frame
(all threads) of each side and its ratio (target for both: at least ``--target``): on a shared,
loaded machine wall-clock figures wander with the neighbours, CPU time much less.
``--profile N`` adds a cProfile of one run of each side: the N functions with the most own time,
in milliseconds per frame.

Run from the repository root::

    python benchmarks/bench_throughput.py
    python benchmarks/bench_throughput.py --repeats 5 --profile 25
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

import av

import _common

#: Default synthetic picture size.
DEFAULT_WIDTH = 1920
DEFAULT_HEIGHT = 1080
#: Default clip length (frames): two seconds at 24 fps.
DEFAULT_FRAMES = 48
#: Default timed runs per side (the median is reported).
DEFAULT_REPEATS = 3
#: Smallest acceptable ratio pipeline/baseline of the median frames/s and of the CPU time per frame.
DEFAULT_TARGET = 0.85
#: The baseline's encoder options: ProRes 422 HQ, as the pipeline writes it.
PRORES_HQ_OPTIONS = {"profile": "hq", "vendor": "apl0"}
#: The baseline's pixel format for ProRes 422 HQ.
PRORES_HQ_PIX_FMT = "yuv422p10le"
MS_PER_S = 1000.0
#: Timers ``--profile-clock`` can choose for cProfile.
PROFILE_CLOCKS = {"thread": time.thread_time, "wall": time.perf_counter}


def baseline_transcode(source: Path, output: Path) -> int:
    """Plain PyAV loop: decode H.264, reformat to yuv422p10le, encode ProRes HQ, mux .mov.

    Args:
        source: the H.264 clip.
        output: the ``.mov`` to write (overwritten).

    Returns:
        Frames encoded.
    """
    frames = 0
    with av.open(str(source)) as inp, av.open(str(output), mode="w", format="mov") as out:
        vin = inp.streams.video[0]
        vin.thread_type = "AUTO"
        vout = out.add_stream("prores_ks", rate=vin.average_rate, options=PRORES_HQ_OPTIONS)
        vout.width = vin.codec_context.width
        vout.height = vin.codec_context.height
        vout.pix_fmt = PRORES_HQ_PIX_FMT
        vout.time_base = vin.time_base
        vout.codec_context.thread_type = "AUTO"
        for frame in inp.decode(vin):
            yuv = frame.reformat(format=PRORES_HQ_PIX_FMT)
            yuv.pts = frame.pts
            yuv.time_base = frame.time_base
            out.mux(vout.encode(yuv))
            frames += 1
        out.mux(vout.encode(None))
    return frames


def pipeline_render(source: Path, output: Path) -> int:
    """``render --blur 0`` through the library: returns frames rendered."""
    from bokehfx.pipeline.job import RenderRequest, run_render

    return run_render(RenderRequest(input=source, output=output, force=True)).frames


def linear_render(source: Path, output: Path) -> int:
    """The job through linear light: a renderer that hands every picture back unchanged."""
    from bokehfx.pipeline.job import RenderRequest, run_render

    def unchanged(frames):
        return [(frame.image.copy(), frame.alpha) for frame in frames]

    return run_render(RenderRequest(input=source, output=output, force=True), renderer=unchanged).frames


def timed(fn, source: Path, output: Path, expected: int) -> tuple[float, float]:
    """Run ``fn(source, output)`` once; returns (frames/s over its wall time, CPU ms per frame)."""
    started, cpu_started = time.perf_counter(), time.process_time()
    frames = fn(source, output)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    if frames != expected:
        raise SystemExit(f"{fn.__name__} wrote {frames} frames of a {expected}-frame clip")
    return frames / seconds, cpu * MS_PER_S / frames


def profile_side(name: str, fn, source: Path, output: Path, frames: int, top: int, clock: str) -> None:
    """cProfile one run of ``fn`` and print the ``top`` functions by own time, in ms per frame.

    Args:
        clock: ``"thread"`` times the calling thread's CPU (``time.thread_time``): steady on a loaded
            machine, but work done by FFmpeg's worker threads is not counted anywhere. ``"wall"``
            uses the wall clock: waiting for worker threads shows up inside the PyAV call that waits
            (``encode``, ``decode``), and a loaded machine inflates every row alike.
    """
    profiler = cProfile.Profile(PROFILE_CLOCKS[clock])
    profiler.enable()
    fn(source, output)
    profiler.disable()
    stats = pstats.Stats(profiler)
    print(f"\ncProfile ({clock} clock) of one {name} run: {stats.total_tt * MS_PER_S / frames:.1f} ms/frame "
          f"in total (profiler overhead included); top {top} by own time:")
    print(f"{'own ms/frame':>13} {'cum ms/frame':>13} {'calls/frame':>12}  function")
    rows = []
    for (filename, line, func), (_, ncalls, tottime, cumtime, _) in stats.stats.items():
        where = func if filename == "~" else f"{_short_path(filename)}:{line}({func})"
        rows.append((tottime, cumtime, ncalls, where))
    rows.sort(reverse=True)
    for tottime, cumtime, ncalls, where in rows[:top]:
        print(f"{tottime * MS_PER_S / frames:13.2f} {cumtime * MS_PER_S / frames:13.2f} "
              f"{ncalls / frames:12.2f}  {where}")


def _short_path(filename: str) -> str:
    marker = "bokehfx/"
    at = filename.rfind(marker)
    return filename[at:] if at >= 0 else Path(filename).name


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--frames", type=int, default=DEFAULT_FRAMES, help="frames of the generated clip")
    p.add_argument("--width", type=int, default=DEFAULT_WIDTH, help="picture width (even)")
    p.add_argument("--height", type=int, default=DEFAULT_HEIGHT, help="picture height (even)")
    p.add_argument("--repeats", type=int, default=DEFAULT_REPEATS, help="timed runs per side")
    p.add_argument("--target", type=float, default=DEFAULT_TARGET,
                   help="smallest acceptable ratio pipeline/baseline")
    p.add_argument("--profile", type=int, default=0, metavar="N",
                   help="after timing, cProfile one run of each side and print its N costliest functions")
    p.add_argument("--profile-clock", choices=sorted(PROFILE_CLOCKS), default="thread",
                   help="cProfile timer: the main thread's CPU time, or the wall clock")
    p.add_argument("--linear", action="store_true",
                   help="also time the job through linear light (the conversions of a depth-of-field render)")
    p.add_argument("--check", action="store_true", help="exit 1 when a ratio misses the target")
    args = p.parse_args(argv)
    for name in ("frames", "repeats", "width", "height"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.width % 2 or args.height % 2:
        p.error(f"--width/--height must be even for yuv420p, got {args.width}x{args.height}")
    if args.profile < 0:
        p.error(f"--profile must be 0 (off) or more, got {args.profile}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    _common.repo_root()
    print(_common.machine_banner())
    print(f"clip: {args.width}x{args.height}, {args.frames} frames H.264 -> ProRes 422 HQ .mov; "
          f"{args.repeats} run(s) per side, alternating")
    sides = {"baseline": baseline_transcode, "pipeline": pipeline_render}
    if args.linear:
        sides["linear"] = linear_render
    rates: dict[str, list[float]] = {name: [] for name in sides}
    cpu_ms: dict[str, list[float]] = {name: [] for name in sides}
    with tempfile.TemporaryDirectory(prefix="bokehfx-bench-throughput-") as tmp:
        tmpdir = Path(tmp)
        started = time.perf_counter()
        source = _common.write_synthetic_clip(tmpdir / "src.mp4", args.width, args.height, args.frames,
                                              audio=False)
        print(f"generated source in {time.perf_counter() - started:.1f} s")
        # One untimed run of each: imports, lookup tables and the page cache are warm for all timed runs.
        for name, fn in sides.items():
            fn(source, tmpdir / f"warm_{name}.mov")
        for run in range(args.repeats):
            for name, fn in sides.items():
                fps, cpu = timed(fn, source, tmpdir / f"out_{name}.mov", args.frames)
                rates[name].append(fps)
                cpu_ms[name].append(cpu)
                print(f"  run {run + 1} {name:<8}: {fps:6.2f} frames/s ({MS_PER_S / fps:7.1f} ms/frame wall, "
                      f"{cpu:7.1f} ms/frame CPU)")
        base, pipe = _common.median(rates["baseline"]), _common.median(rates["pipeline"])
        ratio = pipe / base
        print(f"median frames/s: baseline (PyAV decode -> yuv422p10le -> prores_ks hq) {base:.2f}, "
              f"pipeline (render --blur 0) {pipe:.2f}")
        base_cpu, pipe_cpu = _common.median(cpu_ms["baseline"]), _common.median(cpu_ms["pipeline"])
        cpu_ratio = base_cpu / pipe_cpu
        print(f"median CPU ms/frame (all threads): baseline {base_cpu:.1f}, pipeline {pipe_cpu:.1f}; "
              f"CPU-time throughput pipeline/baseline = {cpu_ratio:.3f} (target >= {args.target})")
        if args.linear:
            lin, lin_cpu = _common.median(rates["linear"]), _common.median(cpu_ms["linear"])
            print(f"through linear light (a depth-of-field render's conversions): {lin:.2f} frames/s, "
                  f"{lin_cpu:.1f} CPU ms/frame; ratio to baseline {lin / base:.3f} wall, {base_cpu / lin_cpu:.3f} CPU")
        best_base, best_pipe = max(rates["baseline"]), max(rates["pipeline"])
        print(f"best run frames/s (least disturbed by other load): baseline {best_base:.2f}, "
              f"pipeline {best_pipe:.2f}, ratio {best_pipe / best_base:.3f}")
        print(f"throughput pipeline/baseline = {ratio:.3f} (target >= {args.target})")
        if args.profile:
            for name, fn in sides.items():
                profile_side(name, fn, source, tmpdir / f"profiled_{name}.mov", args.frames, args.profile,
                             args.profile_clock)
    if min(ratio, cpu_ratio) < args.target and args.check:
        print("FAILED: the pipeline is slower than the target allows")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
