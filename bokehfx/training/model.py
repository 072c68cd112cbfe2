"""The diffusion renderer as training sees it: what each stage trains, and the losses.

:class:`BokehTrainModule` holds the trainable parts of a
:class:`bokehfx.diffusion.pipeline.BokehVideoPipeline` (UNet, Q-Former, VAE) as one
``nn.Module``, so accelerate wraps one model (DDP across processes), and computes the loss of a
batch for the stage being trained:

- ``unet`` (stage 1) and ``temporal`` (stage 2): the denoiser's loss. ``one_step`` is Any-to-Bokeh's
  objective: one pass from the all-in-focus latent at the pipeline's one-step timestep must give
  the latent of the target; ``denoise`` is SVD's EDM objective (log-normal noise levels,
  v-prediction, the EDM weighting) for the multi-step mode.
- ``decoder`` (stage 3): the VAE decoder decodes the frozen denoiser's one-step latent (or, for
  the ``denoise`` objective, the target's latent) and is compared with the target in pixels, plus
  an image-gradient (texture) term.

The frozen encoders (CLIP text and vision, the VAE encoder) run outside, under ``no_grad``.
Frames enter the model display-referred in [0, 1] (sRGB-encoded linear light, as the renderer
feeds the pipeline).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from bokehfx.colour import linear_to_srgb

#: EDM's log-normal distribution of training noise levels (SVD fine-tuning values).
EDM_P_MEAN = 0.7
EDM_P_STD = 1.6
#: Name parts of the UNet parameters that belong to its temporal layers (stage 2 trains only these).
TEMPORAL_NAME_PARTS = ("temporal_transformer_blocks", "temporal_res_block", "time_mixer", "time_pos_embed")


def to_display(linear: torch.Tensor) -> torch.Tensor:
    """Linear light to display-referred sRGB in [0, 1] (what the pipeline takes)."""
    return linear_to_srgb(linear)


@dataclass
class Conditions:
    r"""Everything the denoiser is given for a batch (encoded once, outside the trained module).

    Args:
        image_latents (`torch.Tensor`): ``(B, T, C, h, w)`` unscaled latents of the all-in-focus frames.
        target_latents (`torch.Tensor`): ``(B, T, C, h, w)`` scaled latents of the targets.
        cond (`torch.Tensor`): ``(B, T, in_channels - C, h, w)``: what the UNet input holds after its
            ``sample`` slot (the pipeline's :meth:`conditioning`: SVD's image latent, any other latent
            slot, then the focus channels).
        blur (`torch.Tensor`): ``(B, T)`` K per frame.
        text (`torch.Tensor`): ``(B, L, D)`` instruction tokens, or per frame ``(B, T, L, D)``.
        patches (`torch.Tensor`, *optional*): ``(B, P, E)`` CLIP patch tokens of the references.
        keep_reference (`torch.Tensor`): ``(B,)`` bool: the reference is kept (not dropped).
        target_pixels (`torch.Tensor`): ``(B, T, 3, H, W)`` targets in [-1, 1].
    """

    image_latents: torch.Tensor
    target_latents: torch.Tensor
    cond: torch.Tensor
    blur: torch.Tensor
    text: torch.Tensor
    patches: torch.Tensor | None
    keep_reference: torch.Tensor
    target_pixels: torch.Tensor


class BokehTrainModule(nn.Module):
    r"""The trainable parts of a pipeline and the loss of each stage.

    Args:
        unet: the pipeline's ``BokehUNetSpatioTemporalModel``.
        vae: its ``AutoencoderKLTemporalDecoder``.
        qformer: its ``BokehQFormer`` (``None`` when the model has no reference branch).
        scaling_factor (`float`): the VAE's latent scaling.
        added_time_ids (`tuple[float, float, float]`): SVD's added time ids of the pipeline.
        one_step_timestep (`float`): the pipeline's one-step timestep.
    """

    def __init__(self, unet: nn.Module, vae: nn.Module, qformer: nn.Module | None, scaling_factor: float,
                 added_time_ids: tuple[float, ...], one_step_timestep: float) -> None:
        super().__init__()
        self.unet = unet
        self.vae = vae
        self.qformer = qformer
        self.scaling_factor = float(scaling_factor)
        self.added_time_ids = tuple(float(v) for v in added_time_ids)
        self.one_step_timestep = float(one_step_timestep)

    def select(self, stage: str) -> list[nn.Parameter]:
        """Set ``requires_grad`` for stage ``stage`` (unet, temporal, decoder); return its parameters."""
        self.requires_grad_(False)
        if stage == "unet":
            self.unet.requires_grad_(True)
            if self.qformer is not None:
                self.qformer.requires_grad_(True)
        elif stage == "temporal":
            for name, param in self.unet.named_parameters():
                if any(part in name for part in TEMPORAL_NAME_PARTS):
                    param.requires_grad_(True)
        elif stage == "decoder":
            self.vae.decoder.requires_grad_(True)
        else:
            raise ValueError(f"unknown stage {stage!r}")
        params = [p for p in self.parameters() if p.requires_grad]
        if not params:
            raise ValueError(f"stage {stage!r} finds no parameter to train in this model")
        return params

    def tokens(self, cond: Conditions) -> torch.Tensor:
        """Cross-attention tokens: the instruction's, then the bokeh tokens (zeros when dropped)."""
        text = cond.text
        if self.qformer is None or cond.patches is None:
            return text
        bokeh = self.qformer(cond.patches.to(self.qformer.dtype)).to(text.dtype)
        bokeh = bokeh * cond.keep_reference.to(bokeh.dtype).view(-1, 1, 1)
        if text.ndim == 4:
            bokeh = bokeh.unsqueeze(1).expand(-1, text.shape[1], -1, -1)
        return torch.cat([text, bokeh], dim=-2)

    def _unet(self, latents_in: torch.Tensor, cond: Conditions, timestep: torch.Tensor | float,
              tokens: torch.Tensor) -> torch.Tensor:
        sample = torch.cat([latents_in, cond.cond], dim=2)
        batch = sample.shape[0]
        ids = torch.tensor([self.added_time_ids], device=sample.device, dtype=sample.dtype).expand(batch, -1)
        return self.unet(sample, timestep, tokens, ids, blur=cond.blur.to(sample.dtype)).sample

    def one_step_latents(self, cond: Conditions, tokens: torch.Tensor) -> torch.Tensor:
        """The denoiser's one-step prediction: scaled latents of the defocused frames."""
        scaled = cond.image_latents * self.scaling_factor
        return self._unet(scaled, cond, self.one_step_timestep, tokens)

    def denoise_loss(self, cond: Conditions, tokens: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """SVD's EDM objective with v-prediction (what the Euler scheduler of the pipeline inverts)."""
        x0 = cond.target_latents
        batch = x0.shape[0]
        normal = torch.randn(batch, generator=generator).to(x0.device, x0.dtype)
        sigma = torch.exp(EDM_P_MEAN + EDM_P_STD * normal).view(batch, 1, 1, 1, 1)
        noise = torch.randn(x0.shape, generator=generator).to(x0.device, x0.dtype)
        noisy = x0 + sigma * noise
        c_in = 1.0 / torch.sqrt(sigma**2 + 1)
        timestep = (0.25 * torch.log(sigma)).flatten()
        pred = self._unet(noisy * c_in, cond, timestep, tokens)
        denoised = pred * (-sigma / torch.sqrt(sigma**2 + 1)) + noisy / (sigma**2 + 1)
        weight = (sigma**2 + 1) / sigma**2
        return (weight * (denoised.float() - x0.float()) ** 2).mean()

    def decoder_loss(self, cond: Conditions, tokens: torch.Tensor, texture_weight: float,
                     objective: str) -> torch.Tensor:
        """L1 of the decoded latent against the target, plus the image-gradient term. The latent is
        the frozen denoiser's one-step prediction (``one_step``: what the decoder sees at inference),
        or the target's own latent (``denoise``: multi-step sampling ends near it)."""
        with torch.no_grad():
            latents = self.one_step_latents(cond, tokens) if objective == "one_step" else cond.target_latents
        batch, frames = latents.shape[:2]
        z = latents.flatten(0, 1) / self.scaling_factor
        decoded = self.vae.decode(z.to(self.vae.dtype), num_frames=frames).sample.float()
        target = cond.target_pixels.flatten(0, 1).float()
        loss = F.l1_loss(decoded, target)
        if texture_weight:
            loss = loss + texture_weight * gradient_loss(decoded, target)
        return loss

    def forward(self, cond: Conditions, stage: str, objective: str, generator: torch.Generator,
                texture_weight: float = 1.0) -> torch.Tensor:
        r"""The loss of a batch for ``stage`` (see the module docstring)."""
        tokens = self.tokens(cond)
        if stage == "decoder":
            return self.decoder_loss(cond, tokens, texture_weight, objective)
        if objective == "denoise":
            return self.denoise_loss(cond, tokens, generator)
        pred = self.one_step_latents(cond, tokens)
        return F.mse_loss(pred.float(), cond.target_latents.float())


def gradient_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 between the horizontal and vertical finite differences of two image batches (texture)."""
    dx = F.l1_loss(pred[..., :, 1:] - pred[..., :, :-1], target[..., :, 1:] - target[..., :, :-1])
    dy = F.l1_loss(pred[..., 1:, :] - pred[..., :-1, :], target[..., 1:, :] - target[..., :-1, :])
    return dx + dy


def dropout_masks(batch: int, generator: torch.Generator, p_reference: float, p_text: float,
                  p_both: float) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Which samples keep their reference and their text: ``p_reference`` drops the reference alone,
    ``p_text`` the text alone, ``p_both`` both (the three conditions of the dual guidance).

    Returns:
        `tuple[torch.Tensor, torch.Tensor]`: ``keep_reference`` and ``keep_text``, ``(B,)`` bool.
    """
    u = torch.rand(batch, generator=generator)
    drop_ref = u < p_reference
    drop_text = (u >= p_reference) & (u < p_reference + p_text)
    drop_both = (u >= p_reference + p_text) & (u < p_reference + p_text + p_both)
    return ~(drop_ref | drop_both), ~(drop_text | drop_both)


@torch.no_grad()
def encode_batch(pipe, batch: dict, keep_reference: torch.Tensor, keep_text: torch.Tensor,
                 device: torch.device, dtype: torch.dtype) -> Conditions:
    r"""Encode a collated batch with the pipeline's frozen parts.

    Args:
        pipe: the ``BokehVideoPipeline``.
        batch (`dict`): from :func:`bokehfx.training.datasets.collate`.
        keep_reference (`torch.Tensor`), keep_text (`torch.Tensor`): ``(B,)`` bool dropout masks.
        device (`torch.device`), dtype (`torch.dtype`): where and in what precision the model runs.

    Returns:
        `Conditions`
    """
    source = to_display(batch["source"]).to(device)
    target = to_display(batch["target"]).to(device)
    b, t = source.shape[:2]
    vae = pipe.vae

    image = vae.encode(source.flatten(0, 1).to(vae.dtype) * 2 - 1).latent_dist.mode()
    target_lat = vae.encode(target.flatten(0, 1).to(vae.dtype) * 2 - 1).latent_dist.mode()
    conds = []
    focus_channels = pipe.unet.focus_channels
    for i in range(b):
        c = pipe.conditioning(image[i * t:(i + 1) * t], batch["disparity_input"][i].to(device),
                              batch["focus"][i].to(device), batch["blur"][i].to(device))
        if not bool(batch["has_depth"][i]) and focus_channels:
            c[:, -focus_channels:] = 0  # no depth: the focus channels say nothing (K still does)
        conds.append(c)
    texts = [text if keep else "" for text, keep in zip(batch["instruction"], keep_text.tolist())]
    if pipe.text_encoder is not None:
        ids = pipe.tokenizer(texts, padding="max_length", max_length=pipe.tokenizer.model_max_length,
                             truncation=True, return_tensors="pt").input_ids.to(device)
        text = pipe.text_encoder(ids).last_hidden_state
    else:
        text = torch.stack([pipe.encode_frame_context(source[i]) for i in range(b)])
    patches = None
    keep_ref = keep_reference & batch["has_reference"].bool()
    if getattr(pipe, "qformer", None) is not None:
        reference = to_display(batch["reference"]).to(device)
        patches = pipe.image_encoder(pipe._clip_pixels(reference)).last_hidden_state
    return Conditions(
        image_latents=image.reshape(b, t, *image.shape[1:]).to(dtype),
        target_latents=(target_lat * vae.config.scaling_factor).reshape(b, t, *target_lat.shape[1:]).to(dtype),
        cond=torch.stack(conds).to(dtype), blur=batch["blur"].to(device, dtype), text=text.to(dtype),
        patches=None if patches is None else patches.to(dtype), keep_reference=keep_ref.to(device),
        target_pixels=(target * 2 - 1).to(dtype),
    )


def step_generator(seed: int, step: int, micro: int, rank: int) -> torch.Generator:
    """The generator of one micro-batch's random draws (dropout, noise): a function of its position only."""
    import hashlib

    digest = hashlib.sha256(f"bokehfx-step:{seed}:{step}:{micro}:{rank}".encode()).hexdigest()
    return torch.Generator().manual_seed(int(digest[:15], 16))


def check_size(pipe, size: tuple[int, int]) -> None:
    """Refuse a training size the model cannot take (a multiple of the VAE and UNet downsampling)."""
    from bokehfx.errors import UsageError

    multiple = pipe.pixel_multiple
    if size[0] % multiple or size[1] % multiple:
        raise UsageError(f"config: data.size: {list(size)} must be multiples of {multiple} for this model")


__all__ = ["BokehTrainModule", "Conditions", "check_size", "dropout_masks", "encode_batch", "gradient_loss",
           "step_generator", "to_display"]
