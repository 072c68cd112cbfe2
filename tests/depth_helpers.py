"""Helpers for the depth tests: a tiny random Depth Anything model and small real frames."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import torch

TINY_INIT_RANGE = 0.2
"""Weight init spread of the tiny model: large enough that its random output varies over the image."""


def save_tiny_depth_anything(folder: Path, seed: int = 0) -> Path:
    """Build a tiny randomly initialised Depth Anything (DINOv2 backbone) and save it like a hub model."""
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

    torch.manual_seed(seed)
    backbone = Dinov2Config(
        image_size=28,
        patch_size=14,
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=64,
        out_features=["stage1", "stage2", "stage3", "stage4"],
        reshape_hidden_states=False,
        initializer_range=TINY_INIT_RANGE,
    )
    config = DepthAnythingConfig(
        backbone_config=backbone,
        reassemble_hidden_size=32,
        neck_hidden_sizes=[8, 16, 32, 32],
        fusion_hidden_size=16,
        head_hidden_size=8,
        patch_size=14,
        initializer_range=TINY_INIT_RANGE,
    )
    DepthAnythingForDepthEstimation(config).save_pretrained(folder)
    return folder


def decode_frames(path: Path, count: int, width: int, height: int) -> np.ndarray:
    """First ``count`` frames of a clip, resized small, as float32 sRGB ``(T, 3, H, W)`` in [0, 1]."""
    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24", width=width, height=height))
            if len(frames) == count:
                break
    return np.stack(frames).transpose(0, 3, 1, 2).astype(np.float32) / 255.0


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """Inverse sRGB transfer function (display-encoded -> linear light)."""
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)
