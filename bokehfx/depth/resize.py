"""Resizing disparity maps between a source's size and a model's input size, never stretching."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from bokehfx.errors import UsageError

VIT_PATCH = 14
"""Patch size of DINOv2 ViT backbones (Depth Anything): model inputs are multiples of it."""


def model_input_size(height: int, width: int, short_side: int, multiple: int = VIT_PATCH) -> tuple[int, int]:
    """Size for a model input keeping the source's aspect ratio, both sides multiples of ``multiple``.

    The shorter side becomes ``short_side`` rounded to the nearest multiple (at least one
    multiple); the longer side is scaled by the same factor and rounded likewise, so the aspect
    ratio changes only by the rounding (under half a patch per side).

    Args:
        height (`int`): Source height in pixels.
        width (`int`): Source width in pixels.
        short_side (`int`): Target length of the shorter side, in pixels.
        multiple (`int`, defaults to 14): Both output sides are multiples of this.

    Returns:
        `tuple[int, int]`: ``(height, width)`` for the model.
    """
    if height < 1 or width < 1:
        raise UsageError(f"height and width must be positive, got {height}x{width}")
    if short_side < 1:
        raise UsageError(f"short_side must be a positive number of pixels, got {short_side}")
    if multiple < 1:
        raise UsageError(f"multiple must be positive, got {multiple}")
    scale = short_side / min(height, width)

    def snap(x: float) -> int:
        return max(multiple, int(math.floor(x / multiple + 0.5)) * multiple)

    return snap(height * scale), snap(width * scale)


def resize_maps(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of ``(T, C, H, W)`` maps to ``size`` (antialiased when shrinking).

    Args:
        maps (`torch.Tensor`): Floating ``(T, C, H, W)``.
        size (`tuple[int, int]`): Output ``(height, width)``.

    Returns:
        `torch.Tensor`: ``(T, C, *size)`` in the input's dtype.
    """
    if maps.ndim != 4:
        raise UsageError(f"maps must be (T, C, H, W), got shape {tuple(maps.shape)}")
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    shrink = size[0] < maps.shape[-2] or size[1] < maps.shape[-1]
    dtype = maps.dtype
    work = maps if dtype in (torch.float32, torch.float64) else maps.float()
    out = F.interpolate(work, size=size, mode="bilinear", align_corners=False, antialias=shrink)
    return out.to(dtype)


#: Largest relative difference of aspect ratio between a depth map and its clip that is resampled
#: (rounding of sizes); beyond it the depth would be stretched, which is refused.
ASPECT_TOLERANCE = 0.02


def resize_disparity(disparity: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize one ``(H, W)`` numpy disparity map to ``size`` (bilinear, antialiased when shrinking).

    Raises:
        UsageError: when the aspect ratios differ (the map would be stretched onto the picture).
    """
    if disparity.ndim != 2:
        raise UsageError(f"disparity must be (H, W), got shape {tuple(disparity.shape)}")
    if tuple(disparity.shape) == tuple(size):
        return disparity
    (h, w), (th, tw) = disparity.shape, size
    if abs((w / h) / (tw / th) - 1.0) > ASPECT_TOLERANCE:
        raise UsageError(f"depth is {w}x{h} but the clip is {tw}x{th}: a different aspect ratio, so it "
                         "would be stretched; give depth at the clip's aspect ratio")
    t = torch.from_numpy(np.ascontiguousarray(disparity, dtype=np.float32))[None, None]
    return resize_maps(t, size)[0, 0].numpy()


__all__ = ["VIT_PATCH", "model_input_size", "resize_disparity", "resize_maps"]
