"""The published Any-to-Bokeh checkpoint through bokehfx: import, parity with their code, CLI render.

``tests/data/any_to_bokeh`` holds a tiny random model in their layout and the outputs their own
public code gave on fixed inputs (see its README); bokehfx must reproduce them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from bokehfx.diffusion.any_to_bokeh import AnyToBokehPipeline, cosine_fade_in
from bokehfx.diffusion.any_to_bokeh_import import import_any_to_bokeh
from bokehfx.diffusion.loading import load_pipeline
from bokehfx.models.skip_vae import skip_channels
from cli.main import app
from tests.media_factory import write_sequence

DATA = Path(__file__).parent / "data" / "any_to_bokeh"
#: Largest difference allowed against their outputs (float32 on CPU; both sides computed in fp32).
TOLERANCE = 1e-4
CLIP = "mp_chaplin.mp4"
runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def write_tiny_svd(folder: Path) -> Path:
    """A Stable Video Diffusion folder of the parts the import takes from it: the golden tiny CLIP."""
    from diffusers import EulerDiscreteScheduler
    from transformers import CLIPImageProcessor

    folder.mkdir(parents=True)
    shutil.copytree(DATA / "clip", folder / "image_encoder")
    CLIPImageProcessor(crop_size={"height": 224, "width": 224}, size={"shortest_edge": 224}).save_pretrained(
        folder / "feature_extractor")
    EulerDiscreteScheduler().save_pretrained(folder / "scheduler")
    return folder


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("a2b")
    svd = write_tiny_svd(root / "svd")
    out = root / "model"
    result = invoke("model", "import", "any-to-bokeh", DATA / "checkpoint", out, "--svd", svd)
    assert result.exit_code == 0, result.stderr
    assert "CC BY-NC-SA 4.0" in result.stderr
    return out


def test_skip_convolutions_match_svd_widths():
    # the released decoder's skip convs for SVD's VAE: 512->512, 256->512, 128->512, 128->256
    assert skip_channels((128, 256, 512, 512)) == [(512, 512), (256, 512), (128, 512), (128, 256)]


def test_cosine_fade_starts_at_zero():
    np.testing.assert_allclose(cosine_fade_in(8, 4), [0, 0.1464466, 0.5, 0.8535534, 1, 1, 1, 1], atol=1e-6)


def test_import_selects_the_variant_by_config(imported: Path):
    index = json.loads((imported / "model_index.json").read_text())
    assert index["_class_name"] == "AnyToBokehPipeline" and index["window"] == 8 and index["overlap"] == 4
    unet = json.loads((imported / "unet" / "config.json").read_text())
    assert unet["blur_fuser_frequencies"] == 16 and unet["latent_inputs"] == ["sample", "coc_image"]
    assert unet["bokeh_tokens"] == 0 and unet["blur_embedding_frequencies"] == 0
    assert json.loads((imported / "vae" / "config.json").read_text())["_class_name"] == \
        "SkipAutoencoderKLTemporalDecoder"


@pytest.mark.slow
def test_parity_with_their_code(imported: Path, capsys):
    pipe = load_pipeline(str(imported))
    assert isinstance(pipe, AnyToBokehPipeline)
    inputs = load_file(str(DATA / "inputs.safetensors"))
    golden = load_file(str(DATA / "golden.safetensors"))
    outputs = []
    pipe.unet.register_forward_hook(lambda module, args, out: outputs.append(out.sample.detach().clone()))
    decoded = pipe(inputs["frames"].float() / 255, inputs["disparity"].float(), inputs["focus"], inputs["blur"],
                   window=8, overlap=4, decode_chunk_size=8).frames
    unet_out = torch.cat(outputs)
    assert unet_out.shape == golden["unet_out"].shape
    assert (unet_out - golden["unet_out"]).abs().max().item() < TOLERANCE
    assert decoded.shape == golden["decoded"].shape
    assert (decoded - golden["decoded"]).abs().max().item() < TOLERANCE
    assert "outside the range" not in capsys.readouterr().err  # K 3-31 is inside 1-31


def test_licence_printed_once_and_k_outside_range_noted(imported: Path, capsys):
    from bokehfx.diffusion import any_to_bokeh

    any_to_bokeh._announced.discard(str(imported.resolve()))
    pipe = load_pipeline(str(imported))
    load_pipeline(str(imported))
    err = capsys.readouterr().err
    assert err.count("non-commercial, CC BY-NC-SA 4.0") == 1 and "K 1-31" in err
    disparity = torch.rand(2, 1, 16, 32)
    pipe.conditioning(None, disparity, torch.tensor([0.5, 0.5]), torch.tensor([8.0, 40.0]))
    pipe.conditioning(None, disparity, torch.tensor([0.5, 0.5]), torch.tensor([8.0, 48.0]))
    err = capsys.readouterr().err
    assert err.count("outside the range") == 1 and "K 40" in err


def test_import_of_a_missing_checkpoint_exits_2_and_writes_nothing(tmp_path: Path):
    svd = write_tiny_svd(tmp_path / "svd")
    result = invoke("model", "import", "any-to-bokeh", tmp_path / "nothing", tmp_path / "out", "--svd", svd)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: Any-to-Bokeh import needs")
    assert not (tmp_path / "out").exists()


def test_import_refuses_weights_of_another_layout(tmp_path: Path):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(DATA / "checkpoint", ckpt)
    state = load_file(str(ckpt / "unet" / "diffusion_pytorch_model.safetensors"))
    from safetensors.torch import save_file

    save_file({k: v for k, v in state.items() if ".fuser." not in k},
              str(ckpt / "unet" / "diffusion_pytorch_model.safetensors"))
    with pytest.raises(ValueError, match="Any-to-Bokeh layout"):
        import_any_to_bokeh(ckpt, write_tiny_svd(tmp_path / "svd"))


@pytest.mark.slow
def test_imported_model_renders_a_real_clip_to_prores_with_audio(media: Path, imported: Path, tmp_path: Path):
    ramp = np.linspace(0.2, 1.0, 640)[None, :, None] * np.ones((360, 1, 3))
    write_sequence(tmp_path / "disp.%d.png", [(ramp * 65535).astype(np.uint16)], codec="png", pix_fmt="rgb48be",
                   in_fmt="rgb48le", start_number=0)
    out = tmp_path / "out.mov"
    frames = 10
    result = invoke("render", media / CLIP, "-o", out, "--renderer", "diffusion", "--model", imported,
                    "--depth", tmp_path / "disp.0.png", "--depth-kind", "disparity", "--frames", f"0-{frames - 1}",
                    "--diffusion-size", "64x36", "--quiet")
    assert result.exit_code == 0, result.stderr
    with av.open(str(out)) as c:
        assert [s.type for s in c.streams] == ["video", "audio"]
        video = c.streams.video[0]
        assert video.codec_context.name == "prores"
        assert (video.codec_context.width, video.codec_context.height) == (640, 360)
        assert sum(1 for _ in c.decode(video=0)) == frames


def test_prompt_reference_and_steps_are_refused_not_ignored(imported: Path):
    from bokehfx.errors import UsageError

    pipe = load_pipeline(str(imported))
    frames, disparity = torch.rand(4, 3, 16, 32), torch.rand(4, 1, 16, 32)
    focus, blur = torch.full((4,), 0.5), torch.full((4,), 8.0)
    with pytest.raises(UsageError, match="--prompt"):
        pipe(frames, disparity, focus, blur, prompt="blur the background", window=4, overlap=2)
    with pytest.raises(UsageError, match="one-step"):
        pipe(frames, disparity, focus, blur, num_inference_steps=2, window=4, overlap=2)


def test_model_info_and_renderer_defaults_come_from_the_model(imported: Path):
    from bokehfx.renderers.diffusion import DiffusionRenderer

    info = invoke("model", "info", imported)
    assert info.exit_code == 0, info.stderr
    assert "AnyToBokehPipeline" in info.stdout and "blur fusers: 16 frequencies" in info.stdout
    renderer = DiffusionRenderer(load_pipeline(str(imported)))
    assert (renderer.window, renderer.overlap) == (8, 4)


def test_import_finds_a_unet_one_folder_down(tmp_path: Path):
    ckpt = tmp_path / "checkpoints"
    shutil.copytree(DATA / "checkpoint" / "unet", ckpt / "unet" / "unet")
    shutil.copytree(DATA / "checkpoint" / "vae", ckpt / "vae")
    pipe = import_any_to_bokeh(ckpt, write_tiny_svd(tmp_path / "svd"))
    assert pipe.unet.config.blur_fuser_frequencies == 16
