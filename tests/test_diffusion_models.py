"""Model folders: build around a (tiny) Stable Video Diffusion folder, and refuse missing models cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from diffusers import UNetSpatioTemporalConditionModel

from bokehfx.diffusion.loading import build_from_svd, load_pipeline, tiny_components
from bokehfx.errors import ModelNotAvailableError, UsageError
from bokehfx.models.conditioning import focal_plane_masks
from tests.diffusion_helpers import write_tiny_svd_folder


@pytest.fixture(scope="module")
def svd_folder(tmp_path_factory) -> Path:
    return write_tiny_svd_folder(tmp_path_factory.mktemp("svd") / "svd-tiny")


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


def frame_context_variant():
    """A variant by configuration alone: CoC-image latent instead of focus maps, no text, no reference
    branch, per-frame CLIP context (the shape of Any-to-Bokeh's design)."""
    from bokehfx.diffusion.pipeline import BokehVideoPipeline
    from bokehfx.models.unet import BokehUNetSpatioTemporalModel

    parts = tiny_components(seed=5)
    config = {k: v for k, v in parts["unet"].config.items() if not k.startswith("_")}
    config.update(in_channels=8, latent_inputs=("sample", "coc_image"), focus_defocus_map=False, focus_planes=0,
                  bokeh_tokens=0)
    torch.manual_seed(5)
    parts.update(unet=BokehUNetSpatioTemporalModel(**config).eval(), text_encoder=None, tokenizer=None, qformer=None)
    return BokehVideoPipeline(**parts)


def test_a_variant_is_configuration_not_code(tmp_path: Path):
    from tests.diffusion_helpers import inputs

    pipe = frame_context_variant()
    rgb, disp, f, k = inputs()
    out = pipe(rgb, disp, f, k, num_inference_steps=1, guidance_image=1, guidance_text=1).frames
    assert out.shape == rgb.shape
    other = pipe(rgb, disp, torch.full((3,), 0.9), k, num_inference_steps=1, guidance_image=1, guidance_text=1)
    assert (other.frames - out).abs().max() > 1e-5, "focus reaches the model through the CoC-image latent"
    pipe.save_pretrained(tmp_path / "variant")
    loaded = load_pipeline(str(tmp_path / "variant"))
    assert list(loaded.unet.config.latent_inputs) == ["sample", "coc_image"] and loaded.text_encoder is None
    again = loaded(rgb, disp, f, k, num_inference_steps=1, guidance_image=1, guidance_text=1).frames
    assert torch.equal(again, out)


def test_input_channels_must_match_the_configured_inputs():
    from bokehfx.models.unet import BokehUNetSpatioTemporalModel

    with pytest.raises(ValueError, match="in_channels=9 does not match"):
        BokehUNetSpatioTemporalModel(in_channels=9, focus_planes=2, block_out_channels=(32, 64),
                                     down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
                                     up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"),
                                     num_attention_heads=(2, 4))


def test_cli_model_init_from_svd_then_info(svd_folder: Path, tmp_path: Path):
    from typer.testing import CliRunner

    from cli.main import app

    runner = CliRunner()
    out = tmp_path / "from-svd"
    made = runner.invoke(app, ["model", "init", "--from-svd", str(svd_folder), str(out), "--planes", "1"])
    assert made.exit_code == 0, made.stderr
    info = runner.invoke(app, ["model", "info", str(out), "--json"])
    assert info.exit_code == 0, info.stderr
    assert '"focus_planes": 1' in info.stdout and '"text": false' in info.stdout
    both = runner.invoke(app, ["model", "init", "--tiny", "--from-svd", str(svd_folder), str(tmp_path / "x")])
    assert both.exit_code == 2 and "exactly one of --tiny or --from-svd" in both.stderr
