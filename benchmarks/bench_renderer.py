"""Benchmark: physical renderer frames/s against the naive per-pixel gather blur, same run.

Usage::

    python benchmarks/bench_renderer.py                      # CPU, 1080p, K = 40
    python benchmarks/bench_renderer.py --device cuda --sizes 1080p,2160p --dtype float16

The scene is the procedural layered RGB-D scene of ``bokehfx.scenes`` (``--scene layered``) or a
full-frame disparity ramp (``--scene ramp``, the worst case: every depth slab is occupied). Times
are medians over ``--runs`` renders after one warm-up; the baseline is ``gather_blur`` on the same
frames and device, timed over ``--naive-runs`` renders.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from bokehfx.renderers import Look, PhysicalRenderer
from bokehfx.renderers.gather import gather_blur
from bokehfx.scenes import make_scene

SIZES = {"540p": (540, 960), "720p": (720, 1280), "1080p": (1080, 1920), "2160p": (2160, 3840)}
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
#: The procedural scene is built at this fraction of the benchmark size and upsampled (fast setup).
SCENE_SCALE = 4


def build_inputs(size: tuple[int, int], scene: str, frames: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    h, w = size
    if scene == "ramp":
        gen = torch.Generator().manual_seed(0)
        rgb = torch.rand(frames, 3, h // SCENE_SCALE, w // SCENE_SCALE, generator=gen)
        rgb = F.interpolate(rgb, size=(h, w), mode="bilinear", align_corners=False)
        disparity = torch.linspace(0.0, 1.0, w).view(1, 1, 1, w).expand(frames, 1, h, w).contiguous()
    else:
        layered = make_scene(h // SCENE_SCALE, w // SCENE_SCALE, frames=frames, layers=5, seed=0)
        small_rgb, small_disp = layered.composite()
        rgb = F.interpolate(small_rgb, size=(h, w), mode="bilinear", align_corners=False)
        disparity = F.interpolate(small_disp, size=(h, w), mode="nearest")
    return rgb.to(device), disparity.to(device)


def timed(fn, runs: int, device: torch.device) -> float:
    samples = []
    for _ in range(runs):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:1, ...)")
    parser.add_argument("--sizes", default="1080p", help=f"comma-separated sizes from {', '.join(SIZES)}")
    parser.add_argument("--blur", type=float, default=40.0, help="blur strength K in pixels")
    parser.add_argument("--focus", type=float, default=0.45, help="focal plane F in normalized disparity")
    parser.add_argument("--frames", type=int, default=1, help="frames per render call (batch)")
    parser.add_argument("--runs", type=int, default=3, help="timed renders per size (median)")
    parser.add_argument("--naive-runs", type=int, default=1, help="timed naive-gather renders per size (0: skip)")
    parser.add_argument("--scene", choices=("layered", "ramp"), default="layered")
    parser.add_argument("--dtype", choices=tuple(DTYPES), default="float32", help="renderer working dtype")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    renderer = PhysicalRenderer(device=device, dtype=DTYPES[args.dtype])
    look = Look()
    print(f"device={device} dtype={args.dtype} threads={torch.get_num_threads()} K={args.blur} F={args.focus} scene={args.scene} batch={args.frames}")
    for name in args.sizes.split(","):
        if name not in SIZES:
            raise SystemExit(f"error: --sizes: unknown size {name!r} (choose from {', '.join(SIZES)})")
        frames, disparity = build_inputs(SIZES[name], args.scene, args.frames, device)
        focus = torch.full((args.frames,), args.focus, device=device)
        blur = torch.full((args.frames,), args.blur, device=device)
        renderer.render(frames, disparity, focus, blur, look)
        ours = timed(lambda: renderer.render(frames, disparity, focus, blur, look), args.runs, device)
        ours_fps = args.frames / ours
        line = f"{name}: bokehfx {ours_fps:.3f} frames/s (median {ours:.3f} s per {args.frames} frame(s) over {args.runs} runs)"
        if args.naive_runs > 0:
            naive = timed(lambda: gather_blur(frames, disparity, focus, blur), args.naive_runs, device)
            naive_fps = args.frames / naive
            line += f"; naive gather {naive_fps:.4f} frames/s (median {naive:.2f} s over {args.naive_runs} runs); speed-up x{ours_fps / naive_fps:.1f}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
