"""Model folders: build around a (tiny) Stable Video Diffusion folder, and refuse missing models cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from diffusers import StableVideoDiffusionPipeline, UNetSpatioTemporalConditionModel

from bokehfx.diffusion.loading import SVD_SCHEDULER_CONFIG, build_from_svd, load_pipeline, tiny_components
from bokehfx.errors import ModelNotAvailableError, UsageError
from bokehfx.models.conditioning import focal_plane_masks


@pytest.fixture(scope="module")
def svd_folder(tmp_path_factory) -> Path:
    """A Stable Video Diffusion folder in SVD's layout, tiny and random."""
    from diffusers import EulerDiscreteScheduler

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
    folder = tmp_path_factory.mktemp("svd") / "svd-tiny"
    svd.save_pretrained(folder)
    return folder


def test_from_svd_starts_as_svd_and_saves(svd_folder: Path, tmp_path: Path):
    pipe = build_from_svd(svd_folder, bokeh_tokens=4, planes=2, frequencies=4, qformer_layers=1)
    svd_unet = UNetSpatioTemporalConditionModel.from_pretrained(svd_folder / "unet").eval()
    unet = pipe.unet.eval()
    assert unet.config.in_channels == 8 + 3 and unet.config.bokeh_tokens == 4
    assert pipe.text_encoder is None and pipe.qformer is not None
    torch.manual_seed(0)
    svd_input = torch.randn(1, 2, 8, 4, 4)
    focus = torch.randn(1, 2, 3, 4, 4)
    context = torch.randn(1, 1, 32)
    bokeh = torch.randn(1, 4, 32)
    ids = torch.tensor([[6.0, 127.0, 0.0]])
    with torch.no_grad():
        expected = svd_unet(svd_input, 0.4, context, ids).sample
        ours = unet(torch.cat([svd_input, focus], dim=2), 0.4, torch.cat([context, bokeh], dim=1), ids,
                    blur=torch.tensor([[3.0, 9.0]])).sample
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=1e-5)
    pipe.save_pretrained(tmp_path / "model")
    loaded = load_pipeline(str(tmp_path / "model"))
    assert loaded.unet.config.focus_planes == 2 and loaded.text_encoder is None


def test_from_svd_without_the_folder_names_what_is_missing(tmp_path: Path):
    (tmp_path / "unet").mkdir()
    with pytest.raises(ModelNotAvailableError, match="lacks vae, image_encoder"):
        build_from_svd(tmp_path)


def test_missing_and_incomplete_models_name_the_model_and_how_to_supply_it(tmp_path: Path, svd_folder: Path):
    with pytest.raises(ModelNotAvailableError, match=r"'/nowhere/model'.*model init --tiny"):
        load_pipeline("/nowhere/model")
    with pytest.raises(ModelNotAvailableError, match="not in the local cache"):
        load_pipeline("someone/not-a-cached-model")
    with pytest.raises(ModelNotAvailableError, match="no model_index.json"):
        load_pipeline(str(tmp_path))
    with pytest.raises(UsageError, match="StableVideoDiffusionPipeline"):
        load_pipeline(str(svd_folder))


def test_focal_plane_masks_partition_and_crowd_near_focus():
    d = torch.linspace(0, 1, 101).view(1, 1, 1, 101)
    masks = focal_plane_masks(d, torch.tensor([0.5]), planes=4)
    assert torch.equal(masks.sum(dim=1), torch.ones(1, 1, 101))
    widths = masks.sum(dim=(0, 2, 3))
    assert widths[0] < widths[1] < widths[2], "planes near the focal plane are thinner"
