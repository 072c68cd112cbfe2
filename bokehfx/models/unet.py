"""The denoiser of the diffusion renderer: SVD's spatio-temporal UNet with focus conditioning.

:class:`BokehUNetSpatioTemporalModel` subclasses diffusers' ``UNetSpatioTemporalConditionModel``, so
Stable Video Diffusion weights initialise it (see :func:`bokehfx.models.loading.build_from_svd`).
What it adds is configuration, never a second code path per variant:

- ``latent_inputs``: which latents open the input (the noisy latent and SVD's latent of the
  all-in-focus frames by default; a latent of the CoC image for designs that use one).
- ``focus_defocus_map`` / ``focus_planes``: extra input channels after those latents (the signed defocus map and focal-plane masks of
  :mod:`bokehfx.models.conditioning`); ``in_channels`` counts them.
- ``blur_embedding_frequencies``: the per-frame K as Fourier features through a linear layer,
  added to the time embedding of that frame (0 turns it off).
- ``bokeh_tokens``: decoupled cross-attention in every ``attn2`` for that many bokeh tokens at
  the end of ``encoder_hidden_states`` (0: plain cross-attention, no reference branch).
- ``blur_fuser_frequencies``: Any-to-Bokeh's gated fuser with its own K embedding in every spatial
  transformer block (:mod:`bokehfx.models.any_to_bokeh`; 0 turns it off).
- ``encoder_hidden_states`` may be ``(B, N, D)`` (one context for the clip) or ``(B, F, N, D)``
  (one per frame, e.g. a CLIP embedding of each frame).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers.configuration_utils import register_to_config
from diffusers.models.modeling_utils import ModelMixin  # noqa: F401  (diffusers finds the base class here on load)
from diffusers.models.unets.unet_spatio_temporal_condition import UNetSpatioTemporalConditionModel
from diffusers.utils import BaseOutput
from torch import nn

from bokehfx.models.any_to_bokeh import install_blur_fusers, interleaved_fourier_features
from bokehfx.models.attention import install_decoupled_attention
from bokehfx.models.conditioning import blur_fourier_features

SVD_DOWN_BLOCKS = ("CrossAttnDownBlockSpatioTemporal", "CrossAttnDownBlockSpatioTemporal",
                   "CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal")
SVD_UP_BLOCKS = ("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal",
                 "CrossAttnUpBlockSpatioTemporal")
#: What the latent slots at the start of the UNet input can hold: ``sample`` (the noisy latent,
#: or the all-in-focus latent in one-step mode), ``image`` (SVD's unscaled latent of the
#: all-in-focus frames) and ``coc_image`` (the latent of the image ``|d - F|`` in grey).
LATENT_INPUTS = ("sample", "image", "coc_image")
#: Width multiple of the time embedding over the first block's channels (as in SVD).
TIME_EMBED_MULTIPLE = 4


@dataclass
class BokehUNetOutput(BaseOutput):
    """Output of :class:`BokehUNetSpatioTemporalModel`.

    Args:
        sample (`torch.Tensor`): ``(B, F, out_channels, h, w)`` model prediction.
    """

    sample: torch.Tensor


class BokehUNetSpatioTemporalModel(UNetSpatioTemporalConditionModel):
    r"""SVD's UNet with focus channels, a K embedding and decoupled bokeh cross-attention.

    Args (besides those of ``UNetSpatioTemporalConditionModel``):
        focus_defocus_map (`bool`, defaults to `True`): One input channel holds the signed defocus map.
        focus_planes (`int`, defaults to 0): Input channels holding focal-plane masks.
        max_blur (`float`, defaults to 32.0): CoC radius (working pixels) that the defocus map scales to 1.
        blur_embedding_frequencies (`int`, defaults to 16): Fourier frequencies of the K embedding (0: none).
        blur_embedding_temperature (`float`, defaults to 100.0): Period scale of those frequencies.
        bokeh_tokens (`int`, defaults to 16): Bokeh tokens for decoupled cross-attention (0: none).
        bokeh_attention_scale (`float`, defaults to 1.0): Weight of the bokeh attention output.
        latent_inputs (`tuple[str, ...]`, defaults to ``("sample", "image")``): The latents at the
            start of the input, in order (see ``LATENT_INPUTS``); the focus channels follow them.
        blur_fuser_frequencies (`int`, defaults to 0): Fourier frequencies of the K embedding of
            the spatial blocks' fusers (0: no fusers; Any-to-Bokeh: 16).
        blur_fuser_temperature (`float`, defaults to 100.0): Highest frequency of those features.
    """

    @register_to_config
    def __init__(
        self,
        sample_size: int | None = None,
        in_channels: int = 9,
        out_channels: int = 4,
        down_block_types: tuple[str, ...] = SVD_DOWN_BLOCKS,
        up_block_types: tuple[str, ...] = SVD_UP_BLOCKS,
        block_out_channels: tuple[int, ...] = (320, 640, 1280, 1280),
        addition_time_embed_dim: int = 256,
        projection_class_embeddings_input_dim: int = 768,
        layers_per_block: int | tuple[int] = 2,
        cross_attention_dim: int | tuple[int] = 1024,
        transformer_layers_per_block: int | tuple[int] | tuple[tuple] = 1,
        num_attention_heads: int | tuple[int, ...] = (5, 10, 20, 20),
        num_frames: int = 25,
        focus_defocus_map: bool = True,
        focus_planes: int = 0,
        max_blur: float = 32.0,
        blur_embedding_frequencies: int = 16,
        blur_embedding_temperature: float = 100.0,
        bokeh_tokens: int = 16,
        bokeh_attention_scale: float = 1.0,
        latent_inputs: tuple[str, ...] = ("sample", "image"),
        blur_fuser_frequencies: int = 0,
        blur_fuser_temperature: float = 100.0,
    ) -> None:
        super().__init__(
            sample_size=sample_size, in_channels=in_channels, out_channels=out_channels,
            down_block_types=tuple(down_block_types), up_block_types=tuple(up_block_types),
            block_out_channels=tuple(block_out_channels), addition_time_embed_dim=addition_time_embed_dim,
            projection_class_embeddings_input_dim=projection_class_embeddings_input_dim,
            layers_per_block=layers_per_block, cross_attention_dim=cross_attention_dim,
            transformer_layers_per_block=transformer_layers_per_block, num_attention_heads=num_attention_heads,
            num_frames=num_frames,
        )
        unknown = set(latent_inputs) - set(LATENT_INPUTS)
        if not latent_inputs or latent_inputs[0] != "sample" or unknown:
            raise ValueError(f"latent_inputs must start with 'sample' and name only {LATENT_INPUTS}, "
                             f"got {list(latent_inputs)}")
        expected = out_channels * len(latent_inputs) + int(focus_defocus_map) + focus_planes
        if in_channels != expected:
            raise ValueError(f"in_channels={in_channels} does not match the inputs: {len(latent_inputs)} latents of "
                             f"{out_channels} channels and {expected - out_channels * len(latent_inputs)} focus "
                             f"channels make {expected}")
        self.blur_embedding = None
        if blur_embedding_frequencies:
            self.blur_embedding = nn.Linear(2 * blur_embedding_frequencies, block_out_channels[0] * TIME_EMBED_MULTIPLE)
        if bokeh_tokens:
            install_decoupled_attention(self, bokeh_tokens, bokeh_attention_scale)
        self._fuser_context = install_blur_fusers(self, blur_fuser_frequencies) if blur_fuser_frequencies else None

    @property
    def focus_channels(self) -> int:
        """Input channels that hold focus conditioning (defocus map + plane masks)."""
        return int(self.config.focus_defocus_map) + self.config.focus_planes

    def _embedding(self, sample: torch.Tensor, timestep: torch.Tensor | float, added_time_ids: torch.Tensor,
                   blur: torch.Tensor | None) -> torch.Tensor:
        batch, frames = sample.shape[:2]
        timesteps = torch.as_tensor(timestep, device=sample.device)
        if timesteps.ndim == 0:
            timesteps = timesteps[None]
        timesteps = timesteps.expand(batch)
        emb = self.time_embedding(self.time_proj(timesteps).to(sample.dtype))
        added = self.add_time_proj(added_time_ids.flatten()).reshape(batch, -1).to(emb.dtype)
        emb = (emb + self.add_embedding(added)).repeat_interleave(frames, dim=0)
        if self.blur_embedding is not None:
            if blur is None:
                raise ValueError("this UNet embeds the blur strength: pass blur, a (batch, frames) tensor of K")
            features = blur_fourier_features(blur.reshape(-1).float(), self.config.blur_embedding_frequencies,
                                             self.config.blur_embedding_temperature)
            emb = emb + self.blur_embedding(features.to(emb.dtype))
        return emb

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor | float, encoder_hidden_states: torch.Tensor,
                added_time_ids: torch.Tensor, blur: torch.Tensor | None = None,
                return_dict: bool = True) -> BokehUNetOutput | tuple[torch.Tensor]:
        r"""Predict for a batch of frame windows.

        Args:
            sample (`torch.Tensor`): ``(B, F, in_channels, h, w)``: the (scaled) noisy latent, the
                latent of the all-in-focus frames, then the focus channels. ``h`` and ``w`` must
                be multiples of ``2 ** (len(block_out_channels) - 1)``.
            timestep (`torch.Tensor` or `float`): Scalar or ``(B,)`` timestep (SVD: ``0.25 * log(sigma)``).
            encoder_hidden_states (`torch.Tensor`): ``(B, N, D)`` or per frame ``(B, F, N, D)``;
                the last ``bokeh_tokens`` tokens are bokeh tokens.
            added_time_ids (`torch.Tensor`): ``(B, 3)`` SVD's [fps id, motion bucket, noise augmentation].
            blur (`torch.Tensor`, *optional*): ``(B, F)`` K per frame (required with a K embedding).
            return_dict (`bool`, defaults to `True`): Return a :class:`BokehUNetOutput`.

        Returns:
            :class:`BokehUNetOutput` or `tuple`: ``(B, F, out_channels, h, w)``.
        """
        batch, frames = sample.shape[:2]
        factor = 2 ** self.num_upsamplers
        if sample.shape[-1] % factor or sample.shape[-2] % factor:
            raise ValueError(f"latent size {tuple(sample.shape[-2:])} must be a multiple of {factor}")
        emb = self._embedding(sample, timestep, added_time_ids, blur)
        if self._fuser_context is not None:
            if blur is None:
                raise ValueError("this UNet's fusers embed the blur strength: pass blur, a (batch, frames) tensor of K")
            self._fuser_context.features = interleaved_fourier_features(
                blur.reshape(-1).float(), self.config.blur_fuser_frequencies, self.config.blur_fuser_temperature)
        try:
            return self._forward(sample, emb, encoder_hidden_states, return_dict)
        finally:
            if self._fuser_context is not None:
                self._fuser_context.features = None

    def _forward(self, sample: torch.Tensor, emb: torch.Tensor, encoder_hidden_states: torch.Tensor,
                 return_dict: bool) -> BokehUNetOutput | tuple[torch.Tensor]:
        batch, frames = sample.shape[:2]
        if encoder_hidden_states.ndim == 4:
            context = encoder_hidden_states.flatten(0, 1)
        else:
            context = encoder_hidden_states.repeat_interleave(frames, dim=0)
        hidden = self.conv_in(sample.flatten(0, 1))
        indicator = torch.zeros(batch, frames, dtype=hidden.dtype, device=hidden.device)
        skips = (hidden,)
        for block in self.down_blocks:
            extra = {"encoder_hidden_states": context} if getattr(block, "has_cross_attention", False) else {}
            hidden, res = block(hidden_states=hidden, temb=emb, image_only_indicator=indicator, **extra)
            skips += res
        hidden = self.mid_block(hidden_states=hidden, temb=emb, encoder_hidden_states=context,
                                image_only_indicator=indicator)
        for block in self.up_blocks:
            res, skips = skips[-len(block.resnets):], skips[: -len(block.resnets)]
            extra = {"encoder_hidden_states": context} if getattr(block, "has_cross_attention", False) else {}
            hidden = block(hidden_states=hidden, temb=emb, res_hidden_states_tuple=res,
                           image_only_indicator=indicator, **extra)
        hidden = self.conv_out(self.conv_act(self.conv_norm_out(hidden)))
        out = hidden.reshape(batch, frames, *hidden.shape[1:])
        return BokehUNetOutput(sample=out) if return_dict else (out,)
