"""Model folders of the diffusion renderer: load one, build a tiny one, build one around SVD.

A model folder is a diffusers pipeline folder (``model_index.json`` + one sub-folder per
component) of :class:`~bokehfx.diffusion.pipeline.BokehVideoPipeline`. :func:`load_pipeline`
takes a local folder or a hub id, respects ``HF_HUB_OFFLINE``, and raises
:class:`~bokehfx.errors.ModelNotAvailableError` naming the model and how to supply it.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from bokehfx.errors import ModelNotAvailableError, UsageError
from bokehfx.hub import hub_offline, looks_like_path

#: SVD's EDM Euler scheduler (v-prediction, Karras sigmas from 0.002 to 700, continuous timesteps).
SVD_SCHEDULER_CONFIG = {
    "beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085, "interpolation_type": "linear",
    "num_train_timesteps": 1000, "prediction_type": "v_prediction", "sigma_max": 700.0, "sigma_min": 0.002,
    "steps_offset": 1, "timestep_spacing": "leading", "timestep_type": "continuous", "use_karras_sigmas": True,
}
#: Width of every part of the tiny model (tests; trying the pipeline on a laptop).
TINY_WIDTH = 32
#: Working size (width, height) of the tiny model, and its window.
TINY_WORKING_SIZE = (64, 48)
TINY_WINDOW = 4
TINY_BOKEH_TOKENS = 4
TINY_PLANES = 2
TINY_FREQUENCIES = 4
TINY_TEXT_LENGTH = 16
#: Parameters are copied into memory of this alignment after loading: tensors that stay
#: memory-mapped at an odd offset take other CPU kernels, and results differ in the last bits.
PARAMETER_ALIGNMENT = 64
#: Pipeline classes a bokehfx model folder may name (the variant is in its model_index.json).
PIPELINE_CLASSES = ("BokehVideoPipeline", "AnyToBokehPipeline")
HOW_TO_SUPPLY = ("make one with `bokehfx model init --tiny DIR` (random weights, for trying the pipeline) or "
                 "`bokehfx model init --from-svd SVD_DIR DIR`, or pass --model a trained bokehfx model folder")


def not_available(model_id: str, detail: str) -> ModelNotAvailableError:
    """The error for a model that cannot be loaded, naming it and how to supply one."""
    return ModelNotAvailableError(f"diffusion model {model_id!r} is not available ({detail}); {HOW_TO_SUPPLY}")


def _tiny_tokenizer(max_length: int):
    from transformers import CLIPTokenizer

    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    codes = printable + [256 + i for i in range(256 - len(printable))]
    chars = [chr(c) for c in codes]
    vocab = {c: i for i, c in enumerate(chars + [c + "</w>" for c in chars])}
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=max_length)


def tiny_components(seed: int = 0) -> dict:
    r"""Randomly initialised tiny components (a 32-channel UNet, tiny CLIP and VAE), seeded.

    Args:
        seed (`int`, defaults to 0): Seed of the random weights.

    Returns:
        `dict`: Keyword arguments of :class:`~bokehfx.diffusion.pipeline.BokehVideoPipeline`.
    """
    from diffusers import AutoencoderKLTemporalDecoder, EulerDiscreteScheduler
    from transformers import (CLIPImageProcessor, CLIPTextConfig, CLIPTextModel, CLIPVisionConfig,
                              CLIPVisionModelWithProjection)

    from bokehfx.diffusion.pipeline import BokehVideoPipeline  # noqa: F401  (registers the classes)
    from bokehfx.models.qformer import BokehQFormer
    from bokehfx.models.unet import BokehUNetSpatioTemporalModel

    w = TINY_WIDTH
    torch.manual_seed(seed)
    unet = BokehUNetSpatioTemporalModel(
        in_channels=4 + 4 + 1 + TINY_PLANES, out_channels=4, block_out_channels=(w, 2 * w),
        down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
        up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"), cross_attention_dim=w,
        num_attention_heads=(2, 4), layers_per_block=1, addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=24, num_frames=TINY_WINDOW, focus_planes=TINY_PLANES,
        max_blur=8.0, blur_embedding_frequencies=TINY_FREQUENCIES, bokeh_tokens=TINY_BOKEH_TOKENS)
    torch.manual_seed(seed + 1)
    vae = AutoencoderKLTemporalDecoder(block_out_channels=(w, w, w), down_block_types=("DownEncoderBlock2D",) * 3,
                                       layers_per_block=1, latent_channels=4)
    torch.manual_seed(seed + 2)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        hidden_size=w, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2, vocab_size=514,
        max_position_embeddings=TINY_TEXT_LENGTH, projection_dim=w, bos_token_id=512, eos_token_id=513,
        pad_token_id=513))
    torch.manual_seed(seed + 3)
    image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=w, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2, image_size=w,
        patch_size=8, projection_dim=w))
    torch.manual_seed(seed + 4)
    qformer = BokehQFormer(input_dim=w, hidden_dim=w, output_dim=w, num_queries=TINY_BOKEH_TOKENS, num_layers=1,
                           num_heads=2)
    return {
        "vae": vae, "unet": unet, "scheduler": EulerDiscreteScheduler(**SVD_SCHEDULER_CONFIG),
        "text_encoder": text_encoder.eval(), "tokenizer": _tiny_tokenizer(TINY_TEXT_LENGTH),
        "image_encoder": image_encoder.eval(),
        "feature_extractor": CLIPImageProcessor(crop_size={"height": w, "width": w}, size={"shortest_edge": w}),
        "qformer": qformer.eval(), "working_size": TINY_WORKING_SIZE,
    }


def build_tiny_pipeline(seed: int = 0):
    """A :class:`~bokehfx.diffusion.pipeline.BokehVideoPipeline` of :func:`tiny_components`."""
    from bokehfx.diffusion.pipeline import BokehVideoPipeline

    pipe = BokehVideoPipeline(**tiny_components(seed))
    pipe.unet.eval()
    pipe.vae.eval()
    return pipe


def _aligned(pipe) -> None:
    for component in pipe.components.values():
        if not isinstance(component, torch.nn.Module):
            continue
        for tensor in [*component.parameters(), *component.buffers()]:
            if tensor.device.type == "cpu" and tensor.data_ptr() % PARAMETER_ALIGNMENT:
                tensor.data = tensor.data.clone()


def _check_folder(model_id: str, folder: Path) -> None:
    index = folder / "model_index.json"
    if not index.is_file():
        raise not_available(model_id, f"folder {str(folder)!r} has no model_index.json")
    try:
        data = json.loads(index.read_text())
    except (OSError, ValueError) as err:
        raise not_available(model_id, f"its model_index.json cannot be read: {err}") from None
    if data.get("_class_name") not in PIPELINE_CLASSES:
        raise UsageError(f"diffusion model {model_id!r} is a {data.get('_class_name')!r} folder, not a bokehfx "
                         f"diffusion model (BokehVideoPipeline); {HOW_TO_SUPPLY}")
    for name, spec in data.items():
        if name.startswith("_") or not isinstance(spec, list) or len(spec) != 2 or not isinstance(spec[0], str):
            continue
        if not (folder / name).is_dir():
            raise not_available(model_id, f"its component {name!r} is missing (no folder {str(folder / name)!r})")


def load_pipeline(model_id: str, device: str | torch.device = "cpu", dtype: torch.dtype | None = None):
    r"""Load a bokehfx diffusion model folder (local folder or hub id).

    Args:
        model_id (`str`): Folder or hub id.
        device (`str` or `torch.device`, defaults to ``"cpu"``): Where to put it.
        dtype (`torch.dtype`, *optional*): Weights dtype (default float32).

    Returns:
        `BokehVideoPipeline`.

    Raises:
        ModelNotAvailableError: When the model is missing or incomplete (nothing is written).
        UsageError: When the folder holds another kind of model.
    """
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as hf_logging

    from bokehfx.diffusion.pipeline import BokehVideoPipeline

    hf_logging.disable_progress_bar()
    diffusers_logging.disable_progress_bar()
    diffusers_logging.set_verbosity_error()  # the library prints nothing; failures are raised
    folder = Path(model_id).expanduser()
    pipeline_class = BokehVideoPipeline
    if folder.is_dir():
        _check_folder(model_id, folder)
        source = str(folder)
        if json.loads((folder / "model_index.json").read_text())["_class_name"] == "AnyToBokehPipeline":
            from bokehfx.diffusion.any_to_bokeh import AnyToBokehPipeline

            pipeline_class = AnyToBokehPipeline
    elif looks_like_path(model_id):
        raise not_available(model_id, f"no folder {str(folder)!r}")
    else:
        source = model_id
    kwargs = {"dtype": dtype or torch.float32}
    try:
        try:
            pipe = pipeline_class.from_pretrained(source, local_files_only=True, **kwargs)
        except OSError:
            if folder.is_dir() or hub_offline():
                raise
            pipe = pipeline_class.from_pretrained(source, **kwargs)
    except (OSError, ValueError, KeyError) as err:
        detail = str(err).splitlines()[0] if str(err) else type(err).__name__
        if not folder.is_dir() and hub_offline():
            detail = "HF_HUB_OFFLINE is set and it is not in the local cache"
        raise not_available(model_id, detail) from None
    pipe.set_progress_bar_config(disable=True)
    _aligned(pipe)
    for component in pipe.components.values():
        if isinstance(component, torch.nn.Module):
            component.eval()
    if hasattr(pipe, "announce"):
        pipe.announce(str(folder.resolve()) if folder.is_dir() else model_id)
    return pipe.to(device)


def build_from_svd(svd_dir: str | Path, *, bokeh_tokens: int = 16, planes: int = 0, frequencies: int = 16,
                   qformer_layers: int = 4):
    r"""A full-size model around Stable Video Diffusion weights that starts out as SVD.

    SVD's UNet, VAE, CLIP image encoder, feature extractor and scheduler are taken as they are.
    The new parts are initialised so that they change nothing: the focus input channels of
    ``conv_in``, the K embedding and the bokeh value projections of the decoupled cross-attention
    are zero (the Q-Former is random, its tokens are multiplied by those zero projections).
    Without a text encoder the context of cross-attention stays a CLIP embedding of each frame.

    Args:
        svd_dir (`str` or `Path`): A Stable Video Diffusion folder (``unet/``, ``vae/``,
            ``image_encoder/``, ``feature_extractor/``, ``scheduler/``).
        bokeh_tokens (`int`, defaults to 16): Q-Former queries.
        planes (`int`, defaults to 0): Focal-plane mask channels.
        frequencies (`int`, defaults to 16): Fourier frequencies of the K embedding.
        qformer_layers (`int`, defaults to 4): Q-Former blocks.

    Returns:
        `BokehVideoPipeline`.
    """
    root = Path(svd_dir).expanduser()
    needed = ("unet", "vae", "image_encoder", "feature_extractor", "scheduler")
    missing = [name for name in needed if not (root / name).is_dir()]
    if missing:
        raise ModelNotAvailableError(f"Stable Video Diffusion folder {str(root)!r} lacks {', '.join(missing)}; "
                                     "download stabilityai/stable-video-diffusion-img2vid-xt (its diffusers "
                                     "folders) on a connected machine and pass that folder")
    from diffusers import AutoencoderKLTemporalDecoder, EulerDiscreteScheduler, UNetSpatioTemporalConditionModel
    from transformers import CLIPImageProcessor, CLIPVisionModelWithProjection

    from bokehfx.diffusion.pipeline import SVD_WORKING_SIZE, BokehVideoPipeline
    from bokehfx.models.qformer import BokehQFormer
    from bokehfx.models.unet import BokehUNetSpatioTemporalModel

    try:
        svd_unet = UNetSpatioTemporalConditionModel.from_pretrained(root / "unet")
        vae = AutoencoderKLTemporalDecoder.from_pretrained(root / "vae")
        image_encoder = CLIPVisionModelWithProjection.from_pretrained(root / "image_encoder")
        feature_extractor = CLIPImageProcessor.from_pretrained(root / "feature_extractor")
        scheduler = EulerDiscreteScheduler.from_pretrained(root / "scheduler")
    except (OSError, ValueError) as err:
        raise ModelNotAvailableError(f"Stable Video Diffusion folder {str(root)!r} cannot be loaded: "
                                     f"{str(err).splitlines()[0]}") from None
    config = {k: v for k, v in svd_unet.config.items() if not k.startswith("_")}
    extra = 1 + planes
    config.update(in_channels=svd_unet.config.in_channels + extra, focus_planes=planes,
                  blur_embedding_frequencies=frequencies, bokeh_tokens=bokeh_tokens)
    unet = BokehUNetSpatioTemporalModel(**config)
    state = svd_unet.state_dict()
    weight = state["conv_in.weight"]
    grown = torch.zeros(weight.shape[0], weight.shape[1] + extra, *weight.shape[2:], dtype=weight.dtype)
    grown[:, : weight.shape[1]] = weight
    state["conv_in.weight"] = grown
    missing_keys, unexpected = unet.load_state_dict(state, strict=False)
    if unexpected:
        raise UsageError(f"the SVD UNet in {str(root)!r} has weights this model does not: {unexpected[:3]}")
    with torch.no_grad():
        for name, param in unet.named_parameters():
            if name in missing_keys and ("blur_embedding" in name or "to_v_bokeh" in name):
                param.zero_()
    vision = image_encoder.config
    qformer = BokehQFormer(input_dim=vision.hidden_size, hidden_dim=vision.hidden_size,
                           output_dim=unet.config.cross_attention_dim, num_queries=bokeh_tokens,
                           num_layers=qformer_layers, num_heads=vision.num_attention_heads)
    pipe = BokehVideoPipeline(vae=vae, unet=unet, scheduler=scheduler, image_encoder=image_encoder,
                              feature_extractor=feature_extractor, qformer=qformer if bokeh_tokens else None,
                              working_size=SVD_WORKING_SIZE)
    return pipe


def describe(pipe) -> dict:
    r"""Architecture, sizes and dtype of a loaded pipeline, for ``bokehfx model info``."""
    unet = pipe.unet.config
    parts = {}
    for name, component in pipe.components.items():
        if isinstance(component, torch.nn.Module):
            parts[name] = {"class": type(component).__name__,
                           "parameters": sum(p.numel() for p in component.parameters()),
                           "dtype": str(next(component.parameters()).dtype).replace("torch.", "")}
        elif component is not None:
            parts[name] = {"class": type(component).__name__}
    return {
        "pipeline": type(pipe).__name__,
        "working_size": list(pipe.config.working_size),
        "window": pipe.default_window,
        "unet": {"block_out_channels": list(unet.block_out_channels), "in_channels": unet.in_channels,
                 "focus_defocus_map": unet.focus_defocus_map, "focus_planes": unet.focus_planes,
                 "blur_embedding_frequencies": unet.blur_embedding_frequencies, "bokeh_tokens": unet.bokeh_tokens,
                 "blur_fuser_frequencies": unet.get("blur_fuser_frequencies", 0),
                 "cross_attention_dim": unet.cross_attention_dim},
        "branches": {"text": pipe.text_encoder is not None, "reference": pipe.qformer is not None},
        "components": parts,
    }
