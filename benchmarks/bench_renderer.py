"""Benchmark: physical renderer frames/s across blur strengths and scenes, against the naive gather.

Usage::

    python benchmarks/bench_renderer.py                      # CPU, 1080p, both scenes, K = 10, 20, 40, 80
    python benchmarks/bench_renderer.py --quality draft --runs 1
    python benchmarks/bench_renderer.py --cold                # no kernel spectra kept between renders
    python benchmarks/bench_renderer.py --device cuda --sizes 2160p --dtype float16 --frames 8 --blurs 80

In one run it prints, per size, scene (``layered``: the procedural layered RGB-D scene of
``bokehfx.scenes``; ``ramp``: a full-frame disparity ramp, the common case of continuous real
depth, where every depth slab is occupied; ``wave``: the ramp with a vertical wave on it, the depth
of ``bench_render_dof.py``, where every slab is a band that meanders across the frame; ``redwood``:
real sensor RGB-D from ``../shared``, 4:3 kept) and K, the median frames/s over ``--runs`` renders after
one warm-up. The named baseline is ``gather_blur`` (the naive per-pixel gather) on the ramp at
``--naive-blur`` (K = 40), timed once, in the same process. Then two ratios that say whether cost
depends on K: ramp K=max over K=min frames/s. The first line gives the machine's load average:
on a shared machine absolute figures move with the neighbours, the ratios much less.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import _common
import torch
import torch.nn.functional as F
from bench_render_dof import wave_disparity

from bokehfx.colour import srgb_to_linear
from bokehfx.renderers import Look, PhysicalRenderer
from bokehfx.renderers.gather import gather_blur
from bokehfx.renderers.physical import QUALITIES
from bokehfx.scenes import make_scene

SIZES = {"540p": (540, 960), "720p": (720, 1280), "1080p": (1080, 1920), "2160p": (2160, 3840)}
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
REDWOOD = _common.REDWOOD
#: The procedural scene is built at this fraction of the benchmark size and upsampled (fast setup).
SCENE_SCALE = 4


def build_inputs(size: tuple[int, int], scene: str, frames: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    h, w = size
    if scene in ("ramp", "wave"):
        gen = torch.Generator().manual_seed(0)
        rgb = torch.rand(frames, 3, h // SCENE_SCALE, w // SCENE_SCALE, generator=gen)
        rgb = F.interpolate(rgb, size=(h, w), mode="bilinear", align_corners=False)
        disparity = torch.linspace(0.0, 1.0, w).view(1, 1, 1, w).expand(frames, 1, h, w).contiguous()
        if scene == "wave":
            disparity = torch.from_numpy(wave_disparity(w, h)).to(torch.float32).view(1, 1, h, w).expand(frames, 1, h, w).contiguous()
    elif scene == "redwood":
        return redwood_inputs(h, frames, device)
    else:
        layered = make_scene(h // SCENE_SCALE, w // SCENE_SCALE, frames=frames, layers=5, seed=0)
        small_rgb, small_disp = layered.composite()
        rgb = F.interpolate(small_rgb, size=(h, w), mode="bilinear", align_corners=False)
        disparity = F.interpolate(small_disp, size=(h, w), mode="nearest")
    return rgb.to(device), disparity.to(device)


def redwood_inputs(h: int, frames: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Real RGB-D: the Redwood frames of ``../shared`` (sensor depth in mm, 0 = no measurement,
    read by the project's sidecar reader), scaled to ``h`` rows with their 4:3 aspect kept."""
    import av
    import numpy as np

    from bokehfx.depth.sidecar import SidecarOptions
    from bokehfx.depth.source import read_sidecar_disparity

    disparity = np.stack(list(read_sidecar_disparity(REDWOOD / "depth/%05d.png", options=SidecarOptions(encoding="mm"))))
    pictures = []
    for i in range(len(disparity)):
        with av.open(str(REDWOOD / f"color/{i:05d}.jpg")) as container:
            pictures.append(next(container.decode(video=0)).to_ndarray(format="rgb24"))
    picks = [i % len(pictures) for i in range(frames)]
    rgb = srgb_to_linear(torch.from_numpy(np.stack(pictures)[picks]).permute(0, 3, 1, 2).float() / 255.0)
    disp = torch.from_numpy(disparity[picks]).float()[:, None]
    size = (h, h * rgb.shape[-1] // rgb.shape[-2])
    rgb = F.interpolate(rgb, size=size, mode="bilinear", align_corners=False)
    disp = F.interpolate(disp, size=size, mode="bilinear", align_corners=False)
    return rgb.to(device), disp.to(device)


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
    parser.add_argument("--blurs", default="10,20,40,80", help="comma-separated blur strengths K in pixels")
    parser.add_argument("--focus", type=float, default=0.45, help="focal plane F in normalized disparity")
    parser.add_argument("--frames", type=int, default=1, help="frames per render call (batch)")
    parser.add_argument("--runs", type=int, default=3, help="timed renders per case (median)")
    parser.add_argument("--naive-blur", type=float, default=40.0, help="K of the naive-gather baseline (0: skip it)")
    parser.add_argument("--scenes", default="layered,ramp,wave,redwood",
                        help="comma-separated scenes: layered, ramp, wave, redwood (real RGB-D from ../shared)")
    parser.add_argument("--quality", choices=QUALITIES, default="normal", help="renderer quality preset")
    parser.add_argument("--dtype", choices=tuple(DTYPES), default="float32", help="renderer working dtype")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    parser.add_argument("--cold", action="store_true",
                        help="a new renderer for every render: no kernels or spectra kept from the previous frame "
                             "(as when depth changes every frame); by default the same frame is rendered again "
                             "and its kernels' spectra are reused, as on a locked-off shot")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    renderer = PhysicalRenderer(device=device, dtype=DTYPES[args.dtype], quality=args.quality, chunk_frames=args.frames)
    look = Look()
    blurs = [float(k) for k in args.blurs.split(",")]
    scenes = args.scenes.split(",")
    print(f"machine: {os.cpu_count()} CPUs, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"device={device} dtype={args.dtype} quality={args.quality} threads={torch.get_num_threads()} "
          f"F={args.focus} batch={args.frames} runs={args.runs} {'cold' if args.cold else 'warm'} kernel caches")
    for name in args.sizes.split(","):
        if name not in SIZES:
            raise SystemExit(f"error: --sizes: unknown size {name!r} (choose from {', '.join(SIZES)})")
        ramp_fps: dict[float, float] = {}
        for scene in scenes:
            if scene == "redwood" and not REDWOOD.is_dir():
                print(f"{name} redwood: skipped ({REDWOOD} is absent)")
                continue
            frames, disparity = build_inputs(SIZES[name], scene, args.frames, device)
            focus = torch.full((args.frames,), args.focus, device=device)
            for k in blurs:
                blur = torch.full((args.frames,), k, device=device)
                renderer.render(frames, disparity, focus, blur, look)

                def render() -> None:
                    engine = (PhysicalRenderer(device=device, dtype=DTYPES[args.dtype], quality=args.quality,
                                               chunk_frames=args.frames) if args.cold else renderer)
                    engine.render(frames, disparity, focus, blur, look)

                seconds = timed(render, args.runs, device)
                fps = args.frames / seconds
                if scene == "ramp":
                    ramp_fps[k] = fps
                print(f"{name} {scene:7s} K={k:g}: {fps:.3f} frames/s (median {seconds:.3f} s per {args.frames} frame(s))", flush=True)
            if scene == "ramp" and args.naive_blur > 0:
                blur = torch.full((args.frames,), args.naive_blur, device=device)
                naive = timed(lambda: gather_blur(frames, disparity, focus, blur), 1, device)
                naive_fps = args.frames / naive
                line = f"{name} ramp    naive gather K={args.naive_blur:g}: {naive_fps:.4f} frames/s"
                if args.naive_blur in ramp_fps:
                    line += f"; bokehfx x{ramp_fps[args.naive_blur] / naive_fps:.1f} faster"
                print(line, flush=True)
        if len(ramp_fps) > 1:
            lo, hi = min(ramp_fps), max(ramp_fps)
            print(f"{name} ramp K={hi:g} / K={lo:g} frames/s: {ramp_fps[hi] / ramp_fps[lo]:.2f} (target >= 0.5)")


if __name__ == "__main__":
    main()
