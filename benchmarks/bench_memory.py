"""Memory does not grow with length: peak RSS of ``render --blur 0`` on a short and a 10x longer clip.

The same synthetic content (H.264 + AAC in .mp4, small resolution) is generated at two lengths
and rendered to ProRes 422 HQ ``.mov`` with :func:`bokehfx.pipeline.job.run_render`, each run in
a fresh Python process that reports its own peak resident set size, so no run inherits another's
high-water mark. On Linux the peak is ``VmHWM`` from ``/proc/self/status``: ``ru_maxrss`` is not
used there because the kernel carries the parent's high-water mark over ``fork``/``exec`` into it.
The baseline is the short clip: the long clip's median peak RSS divided by the short clip's must
stay at or below ``--target``.

Run from the repository root::

    python benchmarks/bench_memory.py            # exits 1 when the ratio misses the target
    python benchmarks/bench_memory.py --no-check # report only
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common

#: Default short and long clip lengths (frames).
DEFAULT_SHORT = 300
DEFAULT_LONG = 3000
#: Default synthetic picture size.
DEFAULT_WIDTH = 320
DEFAULT_HEIGHT = 180
#: Default runs per length (the median is reported).
DEFAULT_REPEATS = 3
#: Largest allowed ratio long/short of the median peak RSS.
DEFAULT_TARGET = 1.2
#: ``VmHWM`` and Linux ``ru_maxrss`` are in KiB.
KIB_PER_MIB = 1024.0
#: Marker of the child's one-line JSON report on stdout.
CHILD_REPORT_PREFIX = "BENCH_MEMORY_CHILD "


def peak_rss_kib() -> int:
    """This process's peak resident set size in KiB (``VmHWM``; ``ru_maxrss`` where /proc is absent)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child_main(source: Path, output: Path) -> int:
    """Render ``source`` -> ``output`` in this process and print peak RSS and timing as JSON."""
    _common.repo_root()
    from bokehfx.pipeline.job import RenderRequest, run_render

    rss_after_import = peak_rss_kib()
    started = time.perf_counter()
    result = run_render(RenderRequest(input=source, output=output, force=True))
    wall = time.perf_counter() - started
    peak = peak_rss_kib()
    report = {"frames": result.frames, "seconds": wall, "peak_kib": peak, "import_kib": rss_after_import}
    print(CHILD_REPORT_PREFIX + json.dumps(report), flush=True)
    return 0


def run_child(source: Path, output: Path) -> dict[str, float]:
    """One render in a fresh interpreter; returns the child's report."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(source), str(output)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"child render of {source} failed with exit status {done.returncode}")
    for line in done.stdout.splitlines():
        if line.startswith(CHILD_REPORT_PREFIX):
            return json.loads(line[len(CHILD_REPORT_PREFIX):])
    raise SystemExit(f"child render of {source} printed no report:\n{done.stdout}{done.stderr}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--short", type=int, default=DEFAULT_SHORT, help="frames of the short (baseline) clip")
    p.add_argument("--long", type=int, default=DEFAULT_LONG, help="frames of the long clip")
    p.add_argument("--width", type=int, default=DEFAULT_WIDTH, help="picture width (even)")
    p.add_argument("--height", type=int, default=DEFAULT_HEIGHT, help="picture height (even)")
    p.add_argument("--repeats", type=int, default=DEFAULT_REPEATS, help="fresh-process runs per length")
    p.add_argument("--target", type=float, default=DEFAULT_TARGET, help="largest allowed peak-RSS ratio long/short")
    p.add_argument("--no-audio", action="store_true", help="generate the sources without an AAC track")
    p.add_argument("--no-check", action="store_true", help="always exit 0, even when the target is missed")
    p.add_argument("--child", nargs=2, metavar=("SOURCE", "OUTPUT"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child is None:
        for name in ("short", "long", "repeats", "width", "height"):
            if getattr(args, name) < 1:
                p.error(f"--{name} must be at least 1, got {getattr(args, name)}")
        if args.width % 2 or args.height % 2:
            p.error(f"--width/--height must be even for yuv420p, got {args.width}x{args.height}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child is not None:
        return child_main(Path(args.child[0]), Path(args.child[1]))
    print(_common.machine_banner())
    print(f"clips: {args.width}x{args.height} H.264{'' if args.no_audio else ' + AAC'} -> ProRes 422 HQ .mov, "
          f"{args.short} and {args.long} frames, {args.repeats} fresh process(es) each")
    peaks: dict[int, list[float]] = {}
    growth: dict[int, list[float]] = {}
    rates: dict[int, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bokehfx-bench-memory-") as tmp:
        tmpdir = Path(tmp)
        for length in (args.short, args.long):
            started = time.perf_counter()
            source = _common.write_synthetic_clip(tmpdir / f"src_{length}.mp4", args.width, args.height, length,
                                                  audio=not args.no_audio)
            print(f"generated {length}-frame source in {time.perf_counter() - started:.1f} s")
            peaks[length], rates[length], growth[length] = [], [], []
            for run in range(args.repeats):
                report = run_child(source, tmpdir / f"out_{length}.mov")
                if report["frames"] != length:
                    raise SystemExit(f"rendered {report['frames']} frames of a {length}-frame clip")
                peak = report["peak_kib"] / KIB_PER_MIB
                fps = report["frames"] / report["seconds"]
                peaks[length].append(peak)
                growth[length].append(peak - report["import_kib"] / KIB_PER_MIB)
                rates[length].append(fps)
                print(f"  {length:>6} frames run {run + 1}: peak RSS {peak:7.1f} MiB "
                      f"(after imports {report['import_kib'] / KIB_PER_MIB:.1f} MiB), {fps:6.1f} frames/s")
    short_peak, long_peak = _common.median(peaks[args.short]), _common.median(peaks[args.long])
    ratio = long_peak / short_peak
    print(f"median frames/s: {args.short} frames: {_common.median(rates[args.short]):.1f}, "
          f"{args.long} frames: {_common.median(rates[args.long]):.1f}")
    print(f"median growth of the peak over the RSS after imports (the render's own memory): "
          f"{args.short} frames: {_common.median(growth[args.short]):.1f} MiB, "
          f"{args.long} frames: {_common.median(growth[args.long]):.1f} MiB")
    print(f"peak RSS {args.short} frames: {short_peak:.1f} MiB, {args.long} frames: {long_peak:.1f} MiB, "
          f"ratio Y/X = {ratio:.3f} (target <= {args.target})")
    if ratio > args.target and not args.no_check:
        print("FAILED: peak memory grows with clip length")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
