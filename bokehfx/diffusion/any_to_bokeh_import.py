"""``bokehfx model import any-to-bokeh``: Any-to-Bokeh's released folders to a bokehfx model folder.

The release has diffusers-style ``unet/`` and ``vae/`` folders in its own layout; Stable Video
Diffusion (SVD-xt) supplies the CLIP image encoder, its feature extractor and the scheduler. The
weights are renamed into bokehfx's classes (the variant is their configuration):

- UNet: every parameter keeps its name except the fusers' attention (``fuser.mpi_attn`` becomes
  ``fuser.attn``). Dropped, because the released forward pass never lets them reach the output:
  ``conv_in_mpi`` and the fusers' ``linear`` (the multi-plane tokens are masked out of the
  attention) and the fusers' ``ff_k`` (never called).
- VAE: diffusers' names, plus ``decoder.skip_conv_{i}`` become ``decoder_skips.{i-1}`` (a decoder
  with fewer up blocks than skip convolutions never calls the extra ones; they are dropped).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from bokehfx.errors import ModelNotAvailableError, UsageError

#: Parameter-name prefixes and infixes of the release that never reach the output.
UNUSED_UNET_PARTS = ("conv_in_mpi.", ".fuser.linear.", ".fuser.ff_k.")
HOW_TO_GET = ("get the checkpoint linked from github.com/vivoCameraResearch/any-to-bokeh's README (a "
              "checkpoints folder with unet/ and vae/) and Stable Video Diffusion "
              "(stabilityai/stable-video-diffusion-img2vid-xt, diffusers folders) on a connected machine")


def _read_state(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    shards = sorted(folder.glob("*.safetensors"))
    if shards:
        state: dict[str, torch.Tensor] = {}
        for shard in shards:
            state.update(load_file(str(shard)))
        return state
    bins = sorted(folder.glob("*.bin"))
    if not bins:
        raise ModelNotAvailableError(f"{str(folder)!r} has no weights (*.safetensors or *.bin); {HOW_TO_GET}")
    state = {}
    for path in bins:
        state.update(torch.load(path, map_location="cpu", weights_only=True))
    return state


def _read_config(folder: Path) -> dict:
    path = folder / "config.json"
    if not path.is_file():
        raise ModelNotAvailableError(f"{str(folder)!r} has no config.json; {HOW_TO_GET}")
    return {k: v for k, v in json.loads(path.read_text()).items() if not k.startswith("_")}


def _load_strict(model: torch.nn.Module, state: dict[str, torch.Tensor], what: str) -> None:
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise UsageError(f"{what} does not match the Any-to-Bokeh layout: missing {missing[:3]}, "
                         f"unexpected {unexpected[:3]}")
    shapes = [k for k in own if own[k].shape != state[k].shape]
    if shapes:
        raise UsageError(f"{what} has weights of other shapes than its config says: {shapes[:3]}")
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})


def _component(folder: Path, name: str) -> Path:
    """``folder``, or ``folder/name`` when the config sits one level down (their demo loads the UNet
    with ``subfolder="unet"`` from ``checkpoints/unet``, so ``unet/unet/`` occurs)."""
    if not (folder / "config.json").is_file() and (folder / name / "config.json").is_file():
        return folder / name
    return folder


def import_unet(folder: Path):
    r"""Their ``unet/`` folder as a :class:`~bokehfx.models.unet.BokehUNetSpatioTemporalModel` with fusers."""
    from bokehfx.models.any_to_bokeh import ANY_TO_BOKEH_FREQUENCIES, ANY_TO_BOKEH_TEMPERATURE
    from bokehfx.models.unet import BokehUNetSpatioTemporalModel

    config = _read_config(folder)
    config.update(latent_inputs=("sample", "coc_image"), focus_defocus_map=False, focus_planes=0,
                  blur_embedding_frequencies=0, bokeh_tokens=0, blur_fuser_frequencies=ANY_TO_BOKEH_FREQUENCIES,
                  blur_fuser_temperature=ANY_TO_BOKEH_TEMPERATURE)
    try:
        unet = BokehUNetSpatioTemporalModel(**config)
    except (TypeError, ValueError) as err:
        raise UsageError(f"the UNet config in {str(folder)!r} is not an Any-to-Bokeh UNet: {err}") from None
    state = {k.replace(".fuser.mpi_attn.", ".fuser.attn."): v for k, v in _read_state(folder).items()
             if not any(part in k or k.startswith(part) for part in UNUSED_UNET_PARTS)}
    _load_strict(unet, state, f"the UNet in {str(folder)!r}")
    return unet


def import_vae(folder: Path):
    r"""Their ``vae/`` folder as a :class:`~bokehfx.models.skip_vae.SkipAutoencoderKLTemporalDecoder`."""
    from bokehfx.models.skip_vae import SkipAutoencoderKLTemporalDecoder

    config = _read_config(folder)
    try:
        vae = SkipAutoencoderKLTemporalDecoder(**config)
    except (TypeError, ValueError) as err:
        raise UsageError(f"the VAE config in {str(folder)!r} is not an SVD temporal VAE: {err}") from None
    used = len(vae.decoder_skips)
    state = {}
    for key, value in _read_state(folder).items():
        if key.startswith("decoder.skip_conv_"):
            index = int(key.split(".")[1].rsplit("_", 1)[1]) - 1
            if index < used:
                state[f"decoder_skips.{index}.weight"] = value
        else:
            state[key] = value
    _load_strict(vae, state, f"the VAE in {str(folder)!r}")
    return vae


def import_any_to_bokeh(checkpoint_dir: str | Path, svd_dir: str | Path):
    r"""Build an :class:`~bokehfx.diffusion.any_to_bokeh.AnyToBokehPipeline` from the released folders.

    Args:
        checkpoint_dir (`str` or `Path`): Their checkpoint folder, holding ``unet/`` and ``vae/``.
        svd_dir (`str` or `Path`): A Stable Video Diffusion folder (``image_encoder/``,
            ``feature_extractor/``, ``scheduler/`` are used).

    Returns:
        `AnyToBokehPipeline` in float32.

    Raises:
        ModelNotAvailableError: A folder or part is missing.
        UsageError: The weights do not have the Any-to-Bokeh layout.
    """
    root, svd = Path(checkpoint_dir).expanduser(), Path(svd_dir).expanduser()
    missing = [str(root / n) for n in ("unet", "vae") if not (root / n).is_dir()]
    missing += [str(svd / n) for n in ("image_encoder", "feature_extractor", "scheduler") if not (svd / n).is_dir()]
    if missing:
        raise ModelNotAvailableError(f"Any-to-Bokeh import needs {', '.join(repr(m) for m in missing)}; {HOW_TO_GET}")
    from diffusers import EulerDiscreteScheduler
    from transformers import CLIPImageProcessor, CLIPVisionModelWithProjection

    from bokehfx.diffusion.any_to_bokeh import AnyToBokehPipeline
    from bokehfx.diffusion.pipeline import SVD_WORKING_SIZE

    unet, vae = import_unet(_component(root / "unet", "unet")), import_vae(_component(root / "vae", "vae"))
    try:
        image_encoder = CLIPVisionModelWithProjection.from_pretrained(svd / "image_encoder", dtype=torch.float32)
        feature_extractor = CLIPImageProcessor.from_pretrained(svd / "feature_extractor")
        scheduler = EulerDiscreteScheduler.from_pretrained(svd / "scheduler")
    except (OSError, ValueError) as err:
        raise ModelNotAvailableError(f"Stable Video Diffusion folder {str(svd)!r} cannot be loaded: "
                                     f"{str(err).splitlines()[0]}") from None
    return AnyToBokehPipeline(vae=vae.float().eval(), unet=unet.float().eval(), scheduler=scheduler,
                              image_encoder=image_encoder.eval(), feature_extractor=feature_extractor,
                              working_size=SVD_WORKING_SIZE)
