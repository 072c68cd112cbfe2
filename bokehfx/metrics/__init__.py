"""Quality metrics shared by tests, evaluation (``bokehfx eval``) and training."""

from bokehfx.metrics.evaluate import evaluate
from bokehfx.metrics.quality import (
    edge_band_mask,
    edge_band_psnr,
    psnr,
    ssim,
    temporal_consistency_mae,
    temporal_consistency_rmse,
)

__all__ = [
    "edge_band_mask",
    "edge_band_psnr",
    "evaluate",
    "psnr",
    "ssim",
    "temporal_consistency_mae",
    "temporal_consistency_rmse",
]
