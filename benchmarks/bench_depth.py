"""Depth estimator throughput: batched vs. per-frame, with a Depth-Anything-V2-Small-sized model.

The model has the architecture of Depth Anything V2 Small (DINOv2 ViT-S/14 backbone, DPT head
with 64 fusion channels) and random weights: speed does not depend on the weights, and no
weights can be downloaded here. Frames are random linear-light images at the source size; the
timed call is ``DepthAnythingEstimator.estimate`` (sRGB encode, aspect-preserving resize to the
model size, forward, resize back to the source size).

Baseline: the same estimator called one frame at a time (``batch_size=1``), in the same run.
A third row times the stabilized pipeline (windows + alignment), which re-estimates the overlap
frames of every window.

Examples:
    python benchmarks/bench_depth.py --height 270 --width 480 --input-size 266 --frames 8
    python benchmarks/bench_depth.py --device cuda --dtype fp16 --height 1080 --width 1920 --frames 64 --batch-size 16
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from bokehfx.depth.estimator import DEFAULT_INPUT_SIZE, DepthAnythingEstimator, resolve_dtype
from bokehfx.depth.temporal import estimate_clip_disparity


def small_sized_model(dtype: torch.dtype, device: torch.device):
    """Depth Anything V2 Small's architecture with random weights."""
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

    backbone = Dinov2Config(
        image_size=518,
        patch_size=14,
        hidden_size=384,
        num_hidden_layers=12,
        num_attention_heads=6,
        mlp_ratio=4,
        out_indices=[3, 6, 9, 12],
        reshape_hidden_states=False,
    )
    config = DepthAnythingConfig(
        backbone_config=backbone,
        reassemble_hidden_size=384,
        neck_hidden_sizes=[48, 96, 192, 384],
        fusion_hidden_size=64,
        head_hidden_size=32,
    )
    torch.manual_seed(0)
    return DepthAnythingForDepthEstimation(config).to(device=device, dtype=dtype).eval()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_runs(fn, device: torch.device, repeats: int) -> list[float]:
    fn()  # warm-up (kernels, allocator, autotuning)
    sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    parser.add_argument("--dtype", default=None, help="fp32, fp16 or bf16 (default: fp16 on CUDA, fp32 on CPU)")
    parser.add_argument("--height", type=int, default=1080, help="source frame height")
    parser.add_argument("--width", type=int, default=1920, help="source frame width")
    parser.add_argument("--input-size", type=int, default=DEFAULT_INPUT_SIZE, help="model input short side")
    parser.add_argument("--frames", type=int, default=8, help="frames per timed run")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--window", type=int, default=16, help="stabilization window (third row)")
    parser.add_argument("--overlap", type=int, default=4, help="stabilization overlap (third row)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per row (median reported)")
    parser.add_argument("--frames-on-device", action="store_true", help="frames already on the device")
    args = parser.parse_args()

    device = torch.device(args.device)
    dtype = resolve_dtype(args.dtype, device)
    model = small_sized_model(dtype, device)
    batched = DepthAnythingEstimator.from_model(model, "random-v2-small", args.input_size, args.batch_size)
    single = DepthAnythingEstimator.from_model(model, "random-v2-small", args.input_size, 1)
    windowed = DepthAnythingEstimator.from_model(model, "random-v2-small", args.input_size, args.window)
    rng = np.random.default_rng(0)
    frames = torch.from_numpy(rng.random((args.frames, 3, args.height, args.width), dtype=np.float32))
    if args.frames_on_device:
        frames = frames.to(device)

    h, w = batched.model_size(args.height, args.width)
    params = sum(p.numel() for p in model.parameters()) / 1e6
    print(f"device {device}, dtype {str(dtype).removeprefix('torch.')}, {params:.1f} M parameters, "
          f"source {args.width}x{args.height} -> model {w}x{h}, {args.frames} frames per run, "
          f"threads {torch.get_num_threads()}")

    rows = {
        "per-frame (baseline, batch 1)": lambda: single.estimate(frames),
        f"batched (batch {args.batch_size})": lambda: batched.estimate(frames),
        f"stabilized (batch = window {args.window}, overlap {args.overlap})": lambda: estimate_clip_disparity(
            list(frames), windowed.estimate, window=args.window, overlap=args.overlap
        ),
    }
    medians = {}
    for name, fn in rows.items():
        times = time_runs(fn, device, args.repeats)
        medians[name] = statistics.median(times)
        fps = args.frames / medians[name]
        print(f"{name:55s} median {medians[name]:8.3f} s  {fps:8.2f} frames/s")
    base = next(iter(medians.values()))
    for name, med in list(medians.items())[1:]:
        print(f"{name} vs per-frame baseline: {base / med:.2f}x")


if __name__ == "__main__":
    main()
