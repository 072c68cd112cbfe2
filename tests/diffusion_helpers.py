"""Tiny diffusion models for the tests: built from random weights, never downloaded."""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers.models.resnet import AlphaBlender

from bokehfx.diffusion.loading import SVD_SCHEDULER_CONFIG, build_tiny_pipeline, tiny_components

#: Mix factor that makes every spatio-temporal blend take the spatial branch only (sigmoid = 1.0).
SPATIAL_ONLY_MIX = 100.0


def tiny_pipeline(seed: int = 0):
    return build_tiny_pipeline(seed)


def make_position_independent(pipe) -> None:
    """Every frame computed on its own: temporal layers blended out, the VAE's temporal conv an identity."""
    with torch.no_grad():
        for model in (pipe.unet, pipe.vae):
            for module in model.modules():
                if isinstance(module, AlphaBlender):
                    flipped = module.switch_spatial_to_temporal_mix
                    module.mix_factor.fill_(-SPATIAL_ONLY_MIX if flipped else SPATIAL_ONLY_MIX)
        conv = pipe.vae.decoder.time_conv_out
        conv.weight.zero_()
        conv.bias.zero_()
        for c in range(conv.weight.shape[0]):
            conv.weight[c, c, conv.weight.shape[2] // 2] = 1.0


def inputs(frames: int = 3, height: int = 24, width: int = 32, seed: int = 1):
    """All-in-focus frames in [0, 1], a disparity ramp, focus and blur per frame."""
    g = torch.Generator().manual_seed(seed)
    rgb = torch.rand(frames, 3, height, width, generator=g)
    ramp = torch.linspace(0, 1, width).view(1, 1, 1, width).expand(frames, 1, height, width).clone()
    return rgb, ramp, torch.full((frames,), 0.3), torch.full((frames,), 6.0)


def write_tiny_svd_folder(folder: Path) -> Path:
    """A Stable Video Diffusion folder in SVD's own layout, tiny and random."""
    from diffusers import EulerDiscreteScheduler, StableVideoDiffusionPipeline, UNetSpatioTemporalConditionModel

    parts = tiny_components(seed=3)
    torch.manual_seed(9)
    unet = UNetSpatioTemporalConditionModel(
        in_channels=8, out_channels=4, block_out_channels=(32, 64),
        down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
        up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"), cross_attention_dim=32,
        num_attention_heads=(2, 4), layers_per_block=1, addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=24, num_frames=4)
    svd = StableVideoDiffusionPipeline(vae=parts["vae"], image_encoder=parts["image_encoder"], unet=unet,
                                       scheduler=EulerDiscreteScheduler(**SVD_SCHEDULER_CONFIG),
                                       feature_extractor=parts["feature_extractor"])
    svd.save_pretrained(folder)
    return folder
