"""Metrics: analytic values of PSNR, SSIM, both temporal-consistency forms, edge band, streaming."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bokehfx.errors import UsageError
from bokehfx.metrics import (
    edge_band_mask,
    edge_band_psnr,
    evaluate,
    psnr,
    ssim,
    temporal_consistency_mae,
    temporal_consistency_rmse,
)


def test_psnr_known_values() -> None:
    gt = torch.zeros(3, 16, 16)
    assert psnr(gt + 0.1, gt) == pytest.approx(20.0)
    assert psnr(np.full((3, 4, 4), 25.5), np.zeros((3, 4, 4)), data_range=255.0) == pytest.approx(20.0)
    assert psnr(gt, gt) == math.inf
    mask = torch.zeros(1, 16, 16)
    mask[..., :8] = 1.0
    pred = gt.clone()
    pred[..., 8:] = 1.0
    assert psnr(pred, gt, mask=mask) == math.inf
    assert math.isnan(psnr(pred, gt, mask=torch.zeros(1, 16, 16)))


def test_ssim_identity_constants_and_noise() -> None:
    gen = torch.Generator().manual_seed(0)
    img = torch.rand(3, 32, 32, generator=gen)
    assert ssim(img, img) == pytest.approx(1.0)
    a, b = torch.full((1, 16, 16), 0.2), torch.full((1, 16, 16), 0.6)
    c1 = (0.01) ** 2
    assert ssim(a, b) == pytest.approx((2 * 0.2 * 0.6 + c1) / (0.2**2 + 0.6**2 + c1))
    noisy = [ssim((img + s * torch.randn(3, 32, 32, generator=gen)), img) for s in (0.01, 0.05, 0.2)]
    assert noisy[0] > noisy[1] > noisy[2]
    assert ssim(img, img * 0.9) == pytest.approx(ssim(img * 0.9, img))
    with pytest.raises(UsageError, match="SSIM"):
        ssim(torch.zeros(1, 8, 8), torch.zeros(1, 8, 8))


def test_temporal_consistency_forms() -> None:
    gen = torch.Generator().manual_seed(1)
    gt = torch.rand(4, 3, 8, 8, generator=gen)
    assert temporal_consistency_mae(gt + 0.3, gt) == pytest.approx(0.0, abs=1e-6)
    flicker = gt + 0.05 * torch.tensor([1.0, -1.0, 1.0, -1.0]).view(4, 1, 1, 1)
    assert temporal_consistency_mae(flicker, gt) == pytest.approx(0.1)
    assert temporal_consistency_rmse(flicker, gt) == pytest.approx(0.1)
    pred = torch.zeros(2, 1, 1, 2)
    pred[1, 0, 0] = torch.tensor([0.0, 3.0])
    zeros = torch.zeros(2, 1, 1, 2)
    assert temporal_consistency_mae(pred, zeros) == pytest.approx(1.5)
    assert temporal_consistency_rmse(pred, zeros) == pytest.approx(math.sqrt(4.5))
    with pytest.raises(UsageError, match="T >= 2"):
        temporal_consistency_mae(gt[:1], gt[:1])


def test_edge_band_mask_and_psnr() -> None:
    disparity = torch.zeros(1, 1, 12, 30)
    disparity[..., 10:] = 0.8
    mask = edge_band_mask(disparity, band_px=3)
    columns = mask[0, 0].any(dim=0).nonzero().flatten().tolist()
    assert columns == list(range(9 - 3, 10 + 3 + 1))
    assert bool(mask[0, 0, :, 6:14].all())
    gt = torch.zeros(1, 3, 12, 30)
    far_error = gt.clone()
    far_error[..., 25:] = 0.5
    assert edge_band_psnr(far_error, gt, disparity, band_px=3) == math.inf
    near_error = gt.clone()
    near_error[..., 9:11] = 0.1
    assert edge_band_psnr(near_error, gt, disparity, band_px=3) == pytest.approx(10 * math.log10(8 / 2 / 0.01))
    assert math.isnan(edge_band_psnr(gt, gt, torch.zeros(1, 1, 12, 30)))


def test_evaluate_streams_and_matches_batch_metrics() -> None:
    gen = torch.Generator().manual_seed(2)
    gt = torch.rand(5, 3, 24, 24, generator=gen)
    pred = (gt + 0.05 * torch.randn(5, 3, 24, 24, generator=gen)).clamp(0, 1)
    disparity = torch.zeros(5, 1, 24, 24)
    disparity[..., 12:] = 1.0
    result = evaluate((f for f in pred), (f.numpy() for f in gt), (d for d in disparity))
    assert result["frames"] == 5
    assert result["psnr"] == pytest.approx(sum(psnr(p, g) for p, g in zip(pred, gt)) / 5)
    assert result["ssim"] == pytest.approx(sum(ssim(p, g) for p, g in zip(pred, gt)) / 5)
    assert result["temporal_mae"] == pytest.approx(temporal_consistency_mae(pred, gt))
    assert result["temporal_rmse"] == pytest.approx(temporal_consistency_rmse(pred, gt))
    assert result["edge_psnr"] == pytest.approx(edge_band_psnr(pred, gt, disparity))
    assert result["edge_fraction"] == pytest.approx(float(edge_band_mask(disparity).double().mean()))
    single = evaluate([pred[0]], [gt[0]])
    assert math.isnan(single["temporal_mae"]) and "edge_psnr" not in single


def test_evaluate_rejects_mismatched_clips() -> None:
    frames = [torch.zeros(3, 16, 16)] * 3
    with pytest.raises(UsageError, match="same number of frames"):
        evaluate(frames, frames[:2])
    with pytest.raises(UsageError, match="shape"):
        evaluate(frames, [torch.zeros(3, 16, 17)] * 3)
    with pytest.raises(UsageError, match="empty"):
        evaluate([], [])
    with pytest.raises(UsageError, match="pred"):
        psnr([1.0], [1.0])
