"""Speed and memory of the full-size diffusion architecture (random weights) on a GPU.

Builds SVD-xt's architecture (UNet 320-640-1280-1280, 25-frame windows, the temporal VAE) with the
bokeh additions, a ViT-H-sized CLIP text and vision encoder and the Q-Former, all randomly
initialised on the device, and renders windows of 25 frames at 1024x576 in one-step mode and with
``--steps`` Euler steps. For each precision (fp16, bf16) it reports seconds per window, frames/s
and peak GPU memory, then the effect of model CPU offload and of the VAE decode chunk. The baseline
of every ratio is the fp16 one-step run without offload, decode chunk 8, in the same process.
Medians over ``--repeats``.

Run from the repository root on a CUDA machine::

    python benchmarks/bench_diffusion_gpu.py
    python benchmarks/bench_diffusion_gpu.py --tiny --device cpu   # a smoke run of the script itself
"""

from __future__ import annotations

import argparse
import sys
import time

import _common

FULL_SIZE = (1024, 576)
FULL_WINDOW = 25
DEFAULT_STEPS = 25
DEFAULT_REPEATS = 3
DECODE_CHUNKS = (8, 25)
GIB = 1024 ** 3


def full_components(device, dtype):
    """SVD-xt-sized components, random weights, built on ``device``."""
    import torch
    from diffusers import AutoencoderKLTemporalDecoder, EulerDiscreteScheduler
    from transformers import (CLIPImageProcessor, CLIPTextConfig, CLIPTextModel, CLIPVisionConfig,
                              CLIPVisionModelWithProjection)

    from bokehfx.diffusion.loading import SVD_SCHEDULER_CONFIG, _tiny_tokenizer
    from bokehfx.models.qformer import BokehQFormer
    from bokehfx.models.unet import BokehUNetSpatioTemporalModel

    with torch.device(device):
        unet = BokehUNetSpatioTemporalModel(in_channels=9, num_frames=FULL_WINDOW, bokeh_tokens=16)
        vae = AutoencoderKLTemporalDecoder()
        text = CLIPTextModel(CLIPTextConfig(hidden_size=1024, intermediate_size=4096, num_attention_heads=16,
                                            num_hidden_layers=23, vocab_size=514, projection_dim=1024,
                                            bos_token_id=512, eos_token_id=513, pad_token_id=513))
        vision = CLIPVisionModelWithProjection(CLIPVisionConfig(
            hidden_size=1280, intermediate_size=5120, num_attention_heads=16, num_hidden_layers=32,
            image_size=224, patch_size=14, projection_dim=1024))
        qformer = BokehQFormer(input_dim=1280, hidden_dim=768, output_dim=1024)
    parts = {"unet": unet, "vae": vae, "text_encoder": text, "image_encoder": vision, "qformer": qformer}
    for module in parts.values():
        module.to(dtype).eval()
    return {**parts, "scheduler": EulerDiscreteScheduler(**SVD_SCHEDULER_CONFIG), "tokenizer": _tiny_tokenizer(77),
            "feature_extractor": CLIPImageProcessor(crop_size={"height": 224, "width": 224})}


def time_window(pipe, size, window, steps, chunk, repeats, device) -> tuple[float, float]:
    """Median seconds for one window (encode, denoise, decode) and the peak GPU memory in GiB."""
    import torch

    from bokehfx.diffusion.pipeline import shared_noise

    w, h = size
    frames = torch.rand(window, 3, h, w, device=device)
    disp = torch.rand(window, 1, h, w, device=device)
    focus, blur = torch.full((window,), 0.5, device=device), torch.full((window,), 8.0, device=device)
    context = pipe.prepare_context("focus on the subject, large blur", torch.rand(3, 256, 256, device=device))
    seconds = []
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        started = time.perf_counter()
        latents = pipe.encode_frames(frames, chunk)
        cond = pipe.conditioning(latents, disp, focus, blur, chunk)
        tokens = pipe.window_context(context, window, rows=3)
        noise = shared_noise(range(window), tuple(latents.shape[1:]), 0)
        out, _ = pipe.denoise_window(latents, cond, blur, tokens, noise, steps, 1.5, 3.0)
        pipe.decode_latents(out, chunk)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - started)
    peak = torch.cuda.max_memory_allocated() / GIB if device.startswith("cuda") else float("nan")
    return _common.median(seconds), peak


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="steps of the multi-step runs")
    p.add_argument("--repeats", type=int, default=DEFAULT_REPEATS)
    p.add_argument("--tiny", action="store_true", help="the tiny model at its own size (checks the script)")
    args = p.parse_args(argv)
    _common.repo_root()
    import torch

    from bokehfx.diffusion.loading import TINY_WINDOW, TINY_WORKING_SIZE, tiny_components
    from bokehfx.diffusion.pipeline import BokehVideoPipeline

    print(_common.machine_banner())
    if args.device.startswith("cuda"):
        print(f"GPU: {torch.cuda.get_device_name(0)}")
    size, window = (TINY_WORKING_SIZE, TINY_WINDOW) if args.tiny else (FULL_SIZE, FULL_WINDOW)
    rows = []
    baseline = None
    for name, dtype in (("fp16", torch.float16), ("bf16", torch.bfloat16)):
        if args.device == "cpu" and dtype is torch.float16:
            continue
        parts = tiny_components() if args.tiny else full_components(args.device, dtype)
        parts.pop("working_size", None)
        pipe = BokehVideoPipeline(**parts).to(args.device, dtype)
        runs = [(1, DECODE_CHUNKS[0]), (args.steps, DECODE_CHUNKS[0]), (1, DECODE_CHUNKS[1])]
        for steps, chunk in runs:
            seconds, peak = time_window(pipe, size, window, steps, chunk, args.repeats, args.device)
            baseline = baseline or seconds
            rows.append((name, "no", steps, chunk, seconds, window / seconds, peak, seconds / baseline))
        if args.device.startswith("cuda"):
            del pipe
            torch.cuda.empty_cache()
            pipe = BokehVideoPipeline(**(full_components("cpu", dtype) if not args.tiny else parts))
            pipe.enable_model_cpu_offload(device=args.device)
            seconds, peak = time_window(pipe, size, window, 1, DECODE_CHUNKS[0], args.repeats, args.device)
            rows.append((name, "yes", 1, DECODE_CHUNKS[0], seconds, window / seconds, peak, seconds / baseline))
        del pipe
    print(f"{size[0]}x{size[1]}, {window}-frame windows, dual guidance (3 rows), medians of {args.repeats}")
    print("| dtype | offload | steps | decode chunk | s/window | frames/s | peak GPU GiB | time vs first row |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]:.2f} | {r[5]:.1f} | {r[6]:.1f} | {r[7]:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
