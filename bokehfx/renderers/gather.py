"""The naive baseline: a per-pixel gather blur with each pixel's own circle of confusion.

Every output pixel averages the input over a disc of its own CoC radius ``K * |d - F|``. It
ignores occlusion (sharp foregrounds leak halos into blurred backgrounds, blurred foregrounds do
not spread over sharp backgrounds) and costs one pass per offset of the largest disc. It exists as
the named baseline of the tests and of ``benchmarks/bench_renderer.py``, not for production.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from bokehfx.renderers.base import check_inputs


def gather_blur(
    frames: torch.Tensor,
    disparity: torch.Tensor,
    focus: torch.Tensor,
    blur: torch.Tensor,
    max_blur: float | None = None,
) -> torch.Tensor:
    r"""Blur each pixel with a disc of its own CoC radius (anti-aliased by a 1-pixel ramp).

    Args:
        frames (`torch.Tensor`): ``(T, 3, H, W)`` linear-light frames.
        disparity (`torch.Tensor`): ``(T, 1, H, W)`` normalized disparity.
        focus (`torch.Tensor`): ``(T,)`` focal plane per frame.
        blur (`torch.Tensor`): ``(T,)`` blur strength ``K`` per frame (pixels).
        max_blur (`float`, *optional*): cap on the CoC radius in pixels.

    Returns:
        `torch.Tensor`: ``(T, 3, H, W)`` blurred frames (same dtype and device).
    """
    check_inputs(frames, disparity, focus, blur)
    radius = blur.view(-1, 1, 1, 1) * (disparity - focus.view(-1, 1, 1, 1)).abs()
    if max_blur is not None:
        radius = radius.clamp(max=max_blur)
    reach = int(math.ceil(float(radius.max()))) if radius.numel() else 0
    if reach == 0:
        return frames.clone()
    _, _, h, w = frames.shape
    padded = F.pad(frames, (reach, reach, reach, reach), mode="replicate")
    total = torch.zeros_like(frames)
    weight_sum = torch.zeros_like(radius)
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            distance = math.hypot(dx, dy)
            if distance > reach + 0.5:
                continue
            weight = (radius - distance + 0.5).clamp(0.0, 1.0)
            if distance == 0:
                weight = torch.ones_like(radius)
            shifted = padded[:, :, reach + dy : reach + dy + h, reach + dx : reach + dx + w]
            total += weight * shifted
            weight_sum += weight
    return total / weight_sum
