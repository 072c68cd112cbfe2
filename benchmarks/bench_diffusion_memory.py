"""The diffusion renderer streams: peak RSS of a 40-frame and a 160-frame render with the tiny model.

Both clips (synthetic H.264 + AAC, the same content at two lengths) are rendered by
``render_clip`` with ``--renderer diffusion`` (a tiny random model written by
``build_tiny_pipeline``, a still disparity sidecar, one-step mode by default) to ProRes ``.mov``,
each in a fresh Python process that reports its own peak resident set size (``VmHWM``). The
baseline is the short clip; the long clip's median peak divided by the short clip's must stay at
or below ``--target``: memory is bounded by the window, not the clip.

Run from the repository root::

    python benchmarks/bench_diffusion_memory.py            # exits 1 when the ratio misses the target
    python benchmarks/bench_diffusion_memory.py --steps 2 --no-check
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common
from bench_memory import KIB_PER_MIB, peak_rss_kib

DEFAULT_SHORT = 40
DEFAULT_LONG = 160
DEFAULT_WIDTH = 160
DEFAULT_HEIGHT = 96
DEFAULT_REPEATS = 1
DEFAULT_TARGET = 1.2
#: The tiny model's window and overlap, and its working area.
WINDOW = 4
OVERLAP = 1
WORKING_SIZE = (64, 48)
CHILD_REPORT_PREFIX = "BENCH_DIFFUSION_MEMORY_CHILD "


def child_main(source: Path, output: Path, model: Path, depth: Path, steps: int) -> int:
    """Render ``source`` with the diffusion engine in this process; print peak RSS and timing as JSON."""
    _common.repo_root()
    from bokehfx.pipeline.diffusion_stage import DiffusionRequest
    from bokehfx.pipeline.dof import DepthSpec
    from bokehfx.pipeline.job import RenderRequest
    from bokehfx.pipeline.render import DofSettings, FocusRequest, render_clip
    from bokehfx.renderers.diffusion import DiffusionOptions

    options = DiffusionOptions(prompt="large blur", steps=steps, window=WINDOW, overlap=OVERLAP, size=WORKING_SIZE)
    settings = DofSettings(focus=FocusRequest(focus="0.5", blur="6"),
                           depth=DepthSpec(path=depth, kind="disparity"),
                           diffusion=DiffusionRequest(model=str(model), options=options))
    imported = peak_rss_kib()
    started = time.perf_counter()
    result, _ = render_clip(RenderRequest(input=source, output=output, force=True), settings)
    report = {"frames": result.frames, "seconds": time.perf_counter() - started, "peak_kib": peak_rss_kib(),
              "import_kib": imported}
    print(CHILD_REPORT_PREFIX + json.dumps(report), flush=True)
    return 0


def run_child(*paths: Path, steps: int) -> dict[str, float]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", *map(str, paths), "--steps", str(steps)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"child render of {paths[0]} failed with exit status {done.returncode}")
    for line in done.stdout.splitlines():
        if line.startswith(CHILD_REPORT_PREFIX):
            return json.loads(line[len(CHILD_REPORT_PREFIX):])
    raise SystemExit(f"child render of {paths[0]} printed no report:\n{done.stdout}{done.stderr}")


def write_depth(path: Path, width: int, height: int) -> Path:
    """A still disparity ramp (16-bit PNG) used for every frame."""
    import av
    import numpy as np

    ramp = (np.linspace(0.1, 1.0, width)[None, :, None] * np.ones((height, 1, 3)) * 65535).astype(np.uint16)
    with av.open(str(path), mode="w", format="image2") as out:
        stream = out.add_stream("png", rate=1)
        stream.width, stream.height, stream.pix_fmt = width, height, "rgb48be"
        frame = av.VideoFrame.from_ndarray(ramp, format="rgb48le").reformat(format="rgb48be")
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--short", type=int, default=DEFAULT_SHORT, help="frames of the short (baseline) clip")
    p.add_argument("--long", type=int, default=DEFAULT_LONG, help="frames of the long clip")
    p.add_argument("--width", type=int, default=DEFAULT_WIDTH, help="picture width (even)")
    p.add_argument("--height", type=int, default=DEFAULT_HEIGHT, help="picture height (even)")
    p.add_argument("--steps", type=int, default=1, help="denoising steps (1 = one-step mode)")
    p.add_argument("--repeats", type=int, default=DEFAULT_REPEATS, help="fresh-process runs per length")
    p.add_argument("--target", type=float, default=DEFAULT_TARGET, help="largest allowed peak-RSS ratio long/short")
    p.add_argument("--no-check", action="store_true", help="always exit 0, even when the target is missed")
    p.add_argument("--child", nargs=4, metavar=("SOURCE", "OUTPUT", "MODEL", "DEPTH"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child is not None:
        return child_main(*map(Path, args.child), steps=args.steps)
    _common.repo_root()
    from bokehfx.diffusion.loading import build_tiny_pipeline

    print(_common.machine_banner())
    print(f"clips: {args.width}x{args.height} H.264 + AAC -> ProRes .mov by the tiny diffusion model, "
          f"{args.steps} step(s), window {WINDOW} overlap {OVERLAP}, {args.short} and {args.long} frames")
    peaks: dict[int, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bokehfx-bench-diffusion-") as tmp:
        tmpdir = Path(tmp)
        model = tmpdir / "tiny-model"
        build_tiny_pipeline().save_pretrained(model)
        depth = write_depth(tmpdir / "depth.png", args.width, args.height)
        for length in (args.short, args.long):
            source = _common.write_synthetic_clip(tmpdir / f"src_{length}.mp4", args.width, args.height, length)
            peaks[length] = []
            for run in range(args.repeats):
                report = run_child(source, tmpdir / f"out_{length}.mov", model, depth, steps=args.steps)
                if report["frames"] != length:
                    raise SystemExit(f"rendered {report['frames']} frames of a {length}-frame clip")
                peak = report["peak_kib"] / KIB_PER_MIB
                peaks[length].append(peak)
                print(f"  {length:>5} frames run {run + 1}: peak RSS {peak:7.1f} MiB (after imports "
                      f"{report['import_kib'] / KIB_PER_MIB:.1f} MiB), {length / report['seconds']:.2f} frames/s")
    short_peak, long_peak = _common.median(peaks[args.short]), _common.median(peaks[args.long])
    ratio = long_peak / short_peak
    print(f"median peak RSS {args.short} frames: {short_peak:.1f} MiB, {args.long} frames: {long_peak:.1f} MiB, "
          f"ratio = {ratio:.3f} (target <= {args.target})")
    if ratio > args.target and not args.no_check:
        print("FAILED: peak memory grows with clip length")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
