"""Image and video quality metrics: PSNR, SSIM, temporal consistency, edge-band PSNR.

Pure functions on numpy arrays or torch tensors, channel first: ``(C, H, W)`` for an image,
``(T, C, H, W)`` for a clip. Values are compared as given (use display-referred values in
``[0, data_range]`` to match published numbers); nothing is clipped.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from bokehfx.errors import UsageError

#: SSIM constants of Wang et al. (2004).
SSIM_K1 = 0.01
SSIM_K2 = 0.03
#: Side of the Gaussian SSIM window, in pixels.
SSIM_WINDOW = 11
#: Standard deviation of the Gaussian SSIM window, in pixels.
SSIM_SIGMA = 1.5

#: Half-width of the band around depth edges used by :func:`edge_band_psnr`, in pixels.
EDGE_BAND_PX = 5
#: Disparity step between neighbouring pixels that counts as a depth edge (normalized units).
EDGE_THRESHOLD = 0.05


def as_tensor(x: Any, name: str = "image") -> torch.Tensor:
    """Convert a numpy array or tensor to a float64 CPU tensor (raises :class:`UsageError`)."""
    if isinstance(x, torch.Tensor):
        t = x.detach()
    elif isinstance(x, np.ndarray):
        t = torch.from_numpy(np.ascontiguousarray(x))
    else:
        raise UsageError(f"{name} must be a numpy array or torch tensor, got {type(x).__name__}")
    if t.ndim < 2:
        raise UsageError(f"{name} must have at least 2 dimensions (H, W), got shape {tuple(t.shape)}")
    return t.to(device="cpu", dtype=torch.float64)


def _pair(pred: Any, gt: Any) -> tuple[torch.Tensor, torch.Tensor]:
    p, g = as_tensor(pred, "pred"), as_tensor(gt, "gt")
    if p.shape != g.shape:
        raise UsageError(f"pred and gt must have the same shape, got {tuple(p.shape)} and {tuple(g.shape)}")
    return p, g


def psnr_from_mse(mse: float, data_range: float = 1.0) -> float:
    """``10 log10(data_range^2 / mse)``; ``inf`` when ``mse`` is 0."""
    return math.inf if mse <= 0 else 10.0 * math.log10(data_range**2 / mse)


def psnr(pred: Any, gt: Any, data_range: float = 1.0, mask: Any | None = None) -> float:
    r"""Peak signal-to-noise ratio in dB over all pixels (or the masked ones).

    Args:
        pred (`np.ndarray` or `torch.Tensor`): prediction, any shape.
        gt (`np.ndarray` or `torch.Tensor`): reference, same shape.
        data_range (`float`, defaults to 1.0): peak value (1.0 for normalized, 255 for 8-bit).
        mask (`np.ndarray` or `torch.Tensor`, *optional*): boolean or weight mask broadcastable to
            ``pred`` (e.g. ``(T, 1, H, W)`` for ``(T, C, H, W)``).

    Returns:
        `float`: PSNR in dB; ``inf`` for identical inputs, ``nan`` for an empty mask.
    """
    p, g = _pair(pred, gt)
    err = (p - g) ** 2
    if mask is None:
        return psnr_from_mse(float(err.mean()), data_range)
    m = as_tensor(mask, "mask").expand_as(err)
    total = float(m.sum())
    if total == 0:
        return math.nan
    return psnr_from_mse(float((err * m).sum()) / total, data_range)


def _gaussian_window(size: int, sigma: float) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def ssim(pred: Any, gt: Any, data_range: float = 1.0, window: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA) -> float:
    r"""Structural similarity (Wang et al. 2004), Gaussian window, mean over channels and pixels.

    Args:
        pred (`np.ndarray` or `torch.Tensor`): ``(..., H, W)`` prediction (leading dims are
            treated as independent channels/frames).
        gt (`np.ndarray` or `torch.Tensor`): reference, same shape.
        data_range (`float`, defaults to 1.0): peak value.
        window (`int`, defaults to `SSIM_WINDOW`): window side (valid region only, no padding).
        sigma (`float`, defaults to `SSIM_SIGMA`): window standard deviation.

    Returns:
        `float`: mean SSIM in ``[-1, 1]``.
    """
    p, g = _pair(pred, gt)
    h, w = p.shape[-2:]
    if h < window or w < window:
        raise UsageError(f"images must be at least {window}x{window} for SSIM, got {h}x{w}")
    p = p.reshape(-1, 1, h, w)
    g = g.reshape(-1, 1, h, w)
    k = _gaussian_window(window, sigma)
    kx, ky = k.view(1, 1, 1, -1), k.view(1, 1, -1, 1)

    def filt(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.conv2d(x, kx), ky)

    mu_p, mu_g = filt(p), filt(g)
    var_p = filt(p * p) - mu_p**2
    var_g = filt(g * g) - mu_g**2
    cov = filt(p * g) - mu_p * mu_g
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    num = (2 * mu_p * mu_g + c1) * (2 * cov + c2)
    den = (mu_p**2 + mu_g**2 + c1) * (var_p + var_g + c2)
    return float((num / den).mean())


def _frame_differences(pred: Any, gt: Any) -> torch.Tensor:
    p, g = _pair(pred, gt)
    if p.ndim < 3 or p.shape[0] < 2:
        raise UsageError(f"temporal consistency needs (T, ...) clips with T >= 2, got shape {tuple(p.shape)}")
    return (p[1:] - p[:-1]) - (g[1:] - g[:-1])


def temporal_consistency_mae(pred: Any, gt: Any) -> float:
    r"""Any-to-Bokeh's temporal consistency: mean ``|(P[i+1] - P[i]) - (G[i+1] - G[i])|``.

    Args:
        pred (`np.ndarray` or `torch.Tensor`): ``(T, C, H, W)`` predicted clip, ``T >= 2``.
        gt (`np.ndarray` or `torch.Tensor`): ``(T, C, H, W)`` reference clip.

    Returns:
        `float`: lower is better; 0 when the prediction changes exactly as the reference does.
    """
    return float(_frame_differences(pred, gt).abs().mean())


def temporal_consistency_rmse(pred: Any, gt: Any) -> float:
    r"""Root-mean-square form (as in BokehCrafter): ``sqrt(mean(((P[i+1]-P[i]) - (G[i+1]-G[i]))^2))``.

    Args:
        pred (`np.ndarray` or `torch.Tensor`): ``(T, C, H, W)`` predicted clip, ``T >= 2``.
        gt (`np.ndarray` or `torch.Tensor`): ``(T, C, H, W)`` reference clip.

    Returns:
        `float`: lower is better.
    """
    return float((_frame_differences(pred, gt) ** 2).mean().sqrt())


def edge_band_mask(disparity: Any, band_px: int = EDGE_BAND_PX, threshold: float = EDGE_THRESHOLD) -> torch.Tensor:
    r"""Pixels within ``band_px`` of a depth edge.

    Args:
        disparity (`np.ndarray` or `torch.Tensor`): ``(..., H, W)`` normalized disparity.
        band_px (`int`, defaults to `EDGE_BAND_PX`): half-width of the (square) band in pixels.
        threshold (`float`, defaults to `EDGE_THRESHOLD`): disparity step between 4-neighbours
            that marks an edge (both pixels of the step are edge pixels).

    Returns:
        `torch.Tensor`: boolean mask shaped like ``disparity``.
    """
    if band_px < 0:
        raise UsageError(f"band_px must be >= 0, got {band_px!r}")
    d = as_tensor(disparity, "disparity")
    shape = d.shape
    d = d.reshape(-1, 1, *shape[-2:])
    edge = torch.zeros_like(d, dtype=torch.bool)
    dy = (d[..., 1:, :] - d[..., :-1, :]).abs() > threshold
    dx = (d[..., :, 1:] - d[..., :, :-1]).abs() > threshold
    edge[..., 1:, :] |= dy
    edge[..., :-1, :] |= dy
    edge[..., :, 1:] |= dx
    edge[..., :, :-1] |= dx
    if band_px > 0:
        edge = F.max_pool2d(edge.double(), 2 * band_px + 1, stride=1, padding=band_px) > 0
    return edge.reshape(shape)


def edge_band_psnr(
    pred: Any,
    gt: Any,
    disparity: Any,
    data_range: float = 1.0,
    band_px: int = EDGE_BAND_PX,
    threshold: float = EDGE_THRESHOLD,
) -> float:
    r"""PSNR restricted to the band around depth edges (where occlusion handling shows).

    Args:
        pred (`np.ndarray` or `torch.Tensor`): ``(..., C, H, W)`` prediction.
        gt (`np.ndarray` or `torch.Tensor`): reference, same shape.
        disparity (`np.ndarray` or `torch.Tensor`): ``(..., 1, H, W)`` disparity of the reference.
        data_range (`float`, defaults to 1.0): peak value.
        band_px (`int`, defaults to `EDGE_BAND_PX`): half-width of the band.
        threshold (`float`, defaults to `EDGE_THRESHOLD`): edge step in disparity units.

    Returns:
        `float`: PSNR in dB over the band; ``nan`` when there is no depth edge.
    """
    return psnr(pred, gt, data_range, mask=edge_band_mask(disparity, band_px, threshold).double())
