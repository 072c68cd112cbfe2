"""Validation of a training run: renders of held-out synthesised pairs against the physical engine.

The validation windows are procedural scenes drawn with the validation seed (never a training
index), rendered by the pipeline as the renderer would (one window, the sampled instruction and
reference, the configured number of steps) and compared in display values with the physical
engine's target using :mod:`bokehfx.metrics`: PSNR, SSIM, both temporal-consistency forms and
PSNR in the band around depth edges.
"""

from __future__ import annotations

import math

import torch

from bokehfx.metrics import edge_band_psnr, psnr, ssim, temporal_consistency_mae, temporal_consistency_rmse
from bokehfx.training.config import StageConfig, TrainConfig

METRICS = ("psnr", "ssim", "tc_mae", "tc_rmse", "edge_psnr")


def _finite_mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else float("nan")


@torch.no_grad()
def validate(pipe, config: TrainConfig, stage: StageConfig) -> dict[str, float]:
    r"""Mean metrics of ``config.validation.samples`` held-out windows of ``stage.frames`` frames.

    Args:
        pipe: the ``BokehVideoPipeline`` being trained (its current weights).
        config (`TrainConfig`): the run's configuration.
        stage (`StageConfig`): the stage being trained (its window length).

    Returns:
        `dict[str, float]`: ``psnr``, ``ssim``, ``tc_mae``, ``tc_rmse`` (NaN for one-frame
        windows), ``edge_psnr`` and ``seconds``.
    """
    import time

    from bokehfx.training.build import synthesis_spec
    from bokehfx.training.datasets import PairSynthesizer
    from bokehfx.training.model import to_display
    from bokehfx.training.sources import ProceduralSource

    started = time.perf_counter()
    spec = synthesis_spec(config.data, stage.frames, False)
    data = PairSynthesizer([ProceduralSource()], [1.0], spec, seed=config.validation.seed,
                           length=config.validation.samples)
    scores: dict[str, list[float]] = {name: [] for name in METRICS}
    was_training = pipe.unet.training, pipe.vae.training
    pipe.unet.eval()
    pipe.vae.eval()
    try:
        for i in range(config.validation.samples):
            s = data[i]
            frames = s["source"].shape[0]
            out = pipe(to_display(s["source"]), s["disparity"], s["focus"], s["blur"], prompt=s["instruction"],
                       reference=to_display(s["reference"]), num_inference_steps=config.validation.inference_steps,
                       window=frames, overlap=0, guidance_image=1.0, guidance_text=1.0, seed=i).frames.float().cpu()
            gt = to_display(s["target"])
            scores["psnr"].append(psnr(out, gt))
            scores["ssim"].append(ssim(out, gt))
            scores["edge_psnr"].append(edge_band_psnr(out, gt, s["disparity"].expand_as(gt)))
            if frames > 1:
                scores["tc_mae"].append(temporal_consistency_mae(out, gt))
                scores["tc_rmse"].append(temporal_consistency_rmse(out, gt))
    finally:
        pipe.unet.train(was_training[0])
        pipe.vae.train(was_training[1])
    result = {name: _finite_mean(values) for name, values in scores.items()}
    result["seconds"] = time.perf_counter() - started
    return result


__all__ = ["METRICS", "validate"]
