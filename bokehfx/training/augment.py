"""Augmentations of training windows (pure tensor functions).

- :func:`crop_and_flip`: a random crop with the output's aspect ratio, resized to the output size
  (never stretched), and an optional horizontal flip; frames and disparity move together, so the
  physical engine renders the target from exactly what the model sees.
- :func:`corrupt_disparity`: what estimated depth gets wrong (blurred and misplaced edges,
  dilation / erosion of the foreground, warps, noise, a wrong scale), applied to the disparity the
  model is *given* while the target is rendered from the clean one, so the model learns to
  survive bad depth (Any-to-Bokeh's depth augmentation of its second stage).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class CropRanges:
    r"""Random crops and flips.

    Args:
        scale (`tuple[float, float]`): side of the crop relative to the largest crop of the
            output's aspect ratio that fits the source (1: the whole usable frame).
        flip_probability (`float`): chance of a horizontal flip.
    """

    scale: tuple[float, float] = (0.6, 1.0)
    flip_probability: float = 0.5


@dataclass(frozen=True)
class DisparityCorruption:
    r"""Disparity corruptions; each is applied with its probability, in this order.

    Args:
        blur_probability (`float`): chance of a Gaussian blur of the map.
        blur_sigma (`tuple[float, float]`): its standard deviation range, in pixels.
        morph_probability (`float`): chance of a dilation or an erosion (even odds) of the map.
        morph_radius (`tuple[int, int]`): its radius range in pixels (inclusive).
        warp_probability (`float`): chance of an elastic warp (a smooth random displacement).
        warp_amplitude (`float`): its largest displacement, as a fraction of the shorter side.
        warp_cells (`int`): control points per side of the warp's displacement grid.
        noise_probability (`float`): chance of additive Gaussian noise.
        noise_sigma (`tuple[float, float]`): its standard deviation range, in disparity units.
        scale_probability (`float`): chance of an affine jitter ``d' = a d + b`` (clamped to [0, 1]).
        scale_range (`tuple[float, float]`): range of ``a``.
        shift_range (`tuple[float, float]`): range of ``b``.
    """

    blur_probability: float = 0.3
    blur_sigma: tuple[float, float] = (0.5, 3.0)
    morph_probability: float = 0.3
    morph_radius: tuple[int, int] = (1, 3)
    warp_probability: float = 0.2
    warp_amplitude: float = 0.02
    warp_cells: int = 4
    noise_probability: float = 0.3
    noise_sigma: tuple[float, float] = (0.005, 0.03)
    scale_probability: float = 0.3
    scale_range: tuple[float, float] = (0.8, 1.2)
    shift_range: tuple[float, float] = (-0.1, 0.1)


def _uniform(generator: torch.Generator, low_high: tuple[float, float]) -> float:
    low, high = low_high
    return float(low + (high - low) * torch.rand((), generator=generator))


def _chance(generator: torch.Generator, p: float) -> bool:
    return bool(torch.rand((), generator=generator) < p)


def crop_box(height: int, width: int, out_height: int, out_width: int, generator: torch.Generator,
             ranges: CropRanges) -> tuple[int, int, int, int]:
    """A random ``(top, left, crop_height, crop_width)`` with the aspect ratio ``out_height / out_width``."""
    aspect = out_height / out_width
    full_h = min(float(height), width * aspect)
    scale = _uniform(generator, ranges.scale)
    ch = max(1, min(height, round(full_h * scale)))
    cw = max(1, min(width, round(ch / aspect)))
    top = int(torch.randint(0, height - ch + 1, (), generator=generator))
    left = int(torch.randint(0, width - cw + 1, (), generator=generator))
    return top, left, ch, cw


def crop_and_flip(frames: torch.Tensor, disparity: torch.Tensor, size: tuple[int, int], generator: torch.Generator,
                  ranges: CropRanges) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Crop a window with the output's aspect ratio, resize it to ``size`` and maybe flip it.

    Args:
        frames (`torch.Tensor`): ``(T, 3, H, W)`` linear frames.
        disparity (`torch.Tensor`): ``(T, 1, H, W)`` disparity.
        size (`tuple[int, int]`): output ``(height, width)``.
        generator (`torch.Generator`): the randomness.
        ranges (`CropRanges`): crop scale and flip chance.

    Returns:
        `tuple[torch.Tensor, torch.Tensor]`: frames ``(T, 3, h, w)`` and disparity ``(T, 1, h, w)``
        (frames resampled with antialiasing; disparity with nearest neighbours, so no depth is
        invented between a foreground edge and the background behind it).
    """
    h, w = size
    top, left, ch, cw = crop_box(frames.shape[-2], frames.shape[-1], h, w, generator, ranges)
    frames = frames[..., top:top + ch, left:left + cw]
    disparity = disparity[..., top:top + ch, left:left + cw]
    if (ch, cw) != (h, w):
        frames = F.interpolate(frames, size=(h, w), mode="bilinear", antialias=True, align_corners=False)
        disparity = F.interpolate(disparity, size=(h, w), mode="nearest-exact")
    if _chance(generator, ranges.flip_probability):
        frames, disparity = frames.flip(-1), disparity.flip(-1)
    return frames.contiguous(), disparity.contiguous()


def _gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, math.ceil(3 * sigma))
    taps = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
    kernel = kernel / kernel.sum()
    x = F.pad(x, (radius, radius, radius, radius), mode="replicate")
    x = F.conv2d(x, kernel.view(1, 1, 1, -1))
    return F.conv2d(x, kernel.view(1, 1, -1, 1))


def _morph(x: torch.Tensor, radius: int, dilate: bool) -> torch.Tensor:
    size = 2 * radius + 1
    if dilate:
        return F.max_pool2d(F.pad(x, (radius,) * 4, mode="replicate"), size, stride=1)
    return -F.max_pool2d(F.pad(-x, (radius,) * 4, mode="replicate"), size, stride=1)


def _elastic(x: torch.Tensor, generator: torch.Generator, amplitude: float, cells: int) -> torch.Tensor:
    t, _, h, w = x.shape
    # One smooth field for the whole window: estimated depth errs consistently over a few frames.
    coarse = (torch.rand(1, 2, cells, cells, generator=generator) * 2 - 1) * amplitude * min(h, w)
    field = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=True).to(x.dtype)
    ys = torch.linspace(-1 + 1 / h, 1 - 1 / h, h, dtype=x.dtype)
    xs = torch.linspace(-1 + 1 / w, 1 - 1 / w, w, dtype=x.dtype)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    grid = torch.stack((gx + field[0, 0] * 2 / w, gy + field[0, 1] * 2 / h), dim=-1)
    return F.grid_sample(x, grid.expand(t, h, w, 2), mode="nearest", padding_mode="border", align_corners=False)


def corrupt_disparity(disparity: torch.Tensor, generator: torch.Generator, spec: DisparityCorruption) -> torch.Tensor:
    r"""A corrupted copy of ``disparity`` ``(T, 1, H, W)`` (values stay in [0, 1]); see :class:`DisparityCorruption`."""
    x = disparity.clone()
    if _chance(generator, spec.blur_probability):
        x = _gaussian_blur(x, _uniform(generator, spec.blur_sigma))
    if _chance(generator, spec.morph_probability):
        low, high = spec.morph_radius
        radius = int(torch.randint(low, high + 1, (), generator=generator))
        x = _morph(x, radius, dilate=_chance(generator, 0.5))
    if _chance(generator, spec.warp_probability):
        x = _elastic(x, generator, spec.warp_amplitude, spec.warp_cells)
    if _chance(generator, spec.noise_probability):
        sigma = _uniform(generator, spec.noise_sigma)
        x = x + sigma * torch.randn(x.shape, generator=generator, dtype=x.dtype)
    if _chance(generator, spec.scale_probability):
        x = _uniform(generator, spec.scale_range) * x + _uniform(generator, spec.shift_range)
    return x.clamp(0.0, 1.0)


__all__ = ["CropRanges", "DisparityCorruption", "corrupt_disparity", "crop_and_flip", "crop_box"]
