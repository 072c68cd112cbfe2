"""Streaming evaluation of a predicted clip against a reference (``bokehfx eval``)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch

from bokehfx.errors import UsageError
from bokehfx.metrics.quality import (
    EDGE_BAND_PX,
    EDGE_THRESHOLD,
    as_tensor,
    edge_band_mask,
    psnr_from_mse,
    ssim,
)


def evaluate(
    pred_frames: Iterable[Any],
    gt_frames: Iterable[Any],
    disparity: Iterable[Any] | None = None,
    data_range: float = 1.0,
    band_px: int = EDGE_BAND_PX,
    edge_threshold: float = EDGE_THRESHOLD,
) -> dict[str, float]:
    r"""Compare two clips frame by frame, holding only two frames of each in memory.

    Args:
        pred_frames (`Iterable`): predicted frames, each ``(C, H, W)`` (numpy or torch) in
            ``[0, data_range]``.
        gt_frames (`Iterable`): reference frames, same count and shapes.
        disparity (`Iterable`, *optional*): per-frame disparity ``(1, H, W)`` or ``(H, W)`` of the
            reference, for the edge-band PSNR.
        data_range (`float`, defaults to 1.0): peak value.
        band_px (`int`, defaults to `EDGE_BAND_PX`): half-width of the edge band.
        edge_threshold (`float`, defaults to `EDGE_THRESHOLD`): disparity step marking an edge.

    Returns:
        `dict[str, float]`: ``frames``; ``psnr`` and ``ssim`` (means of the per-frame values);
        ``temporal_mae`` (Any-to-Bokeh form) and ``temporal_rmse`` (root-mean-square form), both
        ``nan`` for a single frame; with ``disparity``: ``edge_psnr`` (pooled over the band of all
        frames; ``nan`` without edges) and ``edge_fraction`` (share of pixels in the band).
    """
    preds, gts = iter(pred_frames), iter(gt_frames)
    disps = iter(disparity) if disparity is not None else None
    count = 0
    psnr_sum = ssim_sum = 0.0
    tc_abs = tc_sq = 0.0
    tc_n = 0
    band_sq = band_n = pixels = 0.0
    prev: tuple[torch.Tensor, torch.Tensor] | None = None
    sentinel = object()
    while True:
        p_raw, g_raw = next(preds, sentinel), next(gts, sentinel)
        if p_raw is sentinel and g_raw is sentinel:
            break
        if p_raw is sentinel or g_raw is sentinel:
            raise UsageError(f"pred and gt must have the same number of frames; one ended after {count}")
        p, g = as_tensor(p_raw, "pred frame"), as_tensor(g_raw, "gt frame")
        if p.ndim != 3 or p.shape != g.shape:
            raise UsageError(f"frames must be (C, H, W) and equal in shape, got {tuple(p.shape)} and {tuple(g.shape)} at frame {count}")
        err = (p - g) ** 2
        psnr_sum += psnr_from_mse(float(err.mean()), data_range)
        ssim_sum += ssim(p, g, data_range)
        if prev is not None:
            diff = (p - prev[0]) - (g - prev[1])
            tc_abs += float(diff.abs().sum())
            tc_sq += float((diff**2).sum())
            tc_n += diff.numel()
        prev = (p, g)
        if disps is not None:
            d_raw = next(disps, sentinel)
            if d_raw is sentinel:
                raise UsageError(f"disparity has fewer frames than the clips ({count})")
            d = as_tensor(d_raw, "disparity frame")
            if tuple(d.shape[-2:]) != tuple(p.shape[-2:]):
                raise UsageError(f"disparity frame must be {tuple(p.shape[-2:])}, got {tuple(d.shape)} at frame {count}")
            mask = edge_band_mask(d.reshape(1, *d.shape[-2:]), band_px, edge_threshold).double()
            band_sq += float((err * mask).sum())
            band_n += float(mask.sum()) * p.shape[0]
            pixels += mask.numel() * p.shape[0]
        count += 1
    if count == 0:
        raise UsageError("pred and gt are empty: no frames to evaluate")
    result = {
        "frames": float(count),
        "psnr": psnr_sum / count,
        "ssim": ssim_sum / count,
        "temporal_mae": tc_abs / tc_n if tc_n else math.nan,
        "temporal_rmse": math.sqrt(tc_sq / tc_n) if tc_n else math.nan,
    }
    if disps is not None:
        result["edge_psnr"] = psnr_from_mse(band_sq / band_n, data_range) if band_n else math.nan
        result["edge_fraction"] = band_n / pixels if pixels else 0.0
    return result
