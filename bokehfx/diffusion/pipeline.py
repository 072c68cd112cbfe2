"""``BokehVideoPipeline``: instruction- and reference-guided video bokeh with Stable Video Diffusion parts.

A diffusers ``DiffusionPipeline``: its components are registered with ``register_modules`` and
saved and loaded as a folder with ``model_index.json``. It works on frames that are already at
the working size (display-referred RGB in ``[0, 1]``); resizing from and compositing back to the
source resolution is the renderer adapter's job (:mod:`bokehfx.renderers.diffusion`).

Components: ``unet`` (:class:`~bokehfx.models.unet.BokehUNetSpatioTemporalModel`), ``vae``
(``AutoencoderKLTemporalDecoder``), ``scheduler`` (SVD's EDM Euler scheduler), and the optional
branches: ``text_encoder`` + ``tokenizer`` (CLIP text: the instruction), ``image_encoder`` +
``feature_extractor`` (CLIP vision: the reference image's patch tokens; without a text encoder,
a CLIP embedding of each frame is the context instead, as SVD does) and ``qformer``
(:class:`~bokehfx.models.qformer.BokehQFormer`: patch tokens to bokeh tokens).

Guidance is dual classifier-free guidance over the reference image ``I`` and the instruction
``T``, in one batched forward pass:
``eps = eps(0, 0) + lambda_I * (eps(I, 0) - eps(0, 0)) + lambda_T * (eps(I, T) - eps(I, 0))``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKLTemporalDecoder, DiffusionPipeline, EulerDiscreteScheduler
from diffusers.utils import BaseOutput

from bokehfx.models.conditioning import focus_conditioning
from bokehfx.models.qformer import BokehQFormer
from bokehfx.models.unet import BokehUNetSpatioTemporalModel

#: SVD's added time ids: fps - 1 (for 7 fps), motion bucket 127, no noise augmentation.
DEFAULT_ADDED_TIME_IDS = (6.0, 127.0, 0.0)
#: Working size (width, height) of Stable Video Diffusion: its area is the working area.
SVD_WORKING_SIZE = (1024, 576)
#: The timestep of the one-step mode (a single pass from the all-in-focus latent).
ONE_STEP_TIMESTEP = 1.0
DEFAULT_GUIDANCE_IMAGE = 1.5
DEFAULT_GUIDANCE_TEXT = 3.0
#: Frames the VAE encodes or decodes at once unless told otherwise.
DEFAULT_DECODE_CHUNK = 8


@dataclass
class BokehPipelineOutput(BaseOutput):
    """Output of :class:`BokehVideoPipeline`.

    Args:
        frames (`torch.Tensor`): ``(T, 3, H, W)`` defocused frames in ``[0, 1]`` (or latents with
            ``output_type="latent"``: ``(T, C, h, w)``).
    """

    frames: torch.Tensor


@dataclass
class GuidanceContext:
    """Cross-attention tokens of the three guidance conditions, for the whole render.

    Args:
        text (`torch.Tensor`, *optional*): ``(2, L, D)``: the empty instruction, then the instruction.
        bokeh (`torch.Tensor`, *optional*): ``(2, Q, D)``: no reference (zeros), then the reference's tokens.
    """

    text: torch.Tensor | None
    bokeh: torch.Tensor | None


def shared_noise(frame_indices: range | list[int], shape: tuple[int, ...], seed: int) -> torch.Tensor:
    r"""Gaussian noise that belongs to clip frames, not to windows: frame ``i`` always gets the same.

    Args:
        frame_indices (`range` or `list[int]`): Clip indices of the frames.
        shape (`tuple[int, ...]`): Shape of one frame's noise ``(C, h, w)``.
        seed (`int`): The render's seed.

    Returns:
        `torch.Tensor`: ``(len(frame_indices), *shape)`` float32 on the CPU.
    """
    out = []
    for index in frame_indices:
        state = np.random.SeedSequence([int(seed), int(index)]).generate_state(1, dtype=np.uint64)[0]
        generator = torch.Generator().manual_seed(int(state))
        out.append(torch.randn(shape, generator=generator))
    return torch.stack(out)


def combine_guidance(pred: torch.Tensor, guidance_image: float, guidance_text: float) -> torch.Tensor:
    r"""Dual classifier-free guidance from the predictions ``[eps(0,0), eps(I,0), eps(I,T)]`` on dim 0."""
    uncond, image, full = pred[0], pred[1], pred[2]
    return uncond + guidance_image * (image - uncond) + guidance_text * (full - image)


class BokehVideoPipeline(DiffusionPipeline):
    r"""Video bokeh: all-in-focus frames + disparity + per-frame focus and blur in, defocused frames out.

    Args:
        vae (`AutoencoderKLTemporalDecoder`): Encodes frames to latents and decodes them (temporal decoder).
        unet (`BokehUNetSpatioTemporalModel`): The denoiser.
        scheduler (`EulerDiscreteScheduler`): SVD's EDM Euler scheduler (multi-step mode).
        text_encoder (`CLIPTextModel`, *optional*): Encodes the instruction.
        tokenizer (`CLIPTokenizer`, *optional*): Tokenizer of ``text_encoder``.
        image_encoder (`CLIPVisionModelWithProjection`, *optional*): Encodes the reference image (and,
            without a text encoder, each frame).
        feature_extractor (`CLIPImageProcessor`, *optional*): Input size and normalisation of ``image_encoder``.
        qformer (`BokehQFormer`, *optional*): Reference patch tokens to bokeh tokens.
        working_size (`tuple[int, int]`, defaults to ``(1024, 576)``): ``(width, height)`` whose area
            the renderer works at (the aspect ratio is the clip's).
        added_time_ids (`tuple[float, float, float]`): SVD's fps id, motion bucket and noise augmentation.
        one_step_timestep (`float`, defaults to 1.0): Timestep of the one-step mode.
    """

    model_cpu_offload_seq = "text_encoder->image_encoder->qformer->unet->vae"
    _optional_components = ["text_encoder", "tokenizer", "image_encoder", "feature_extractor", "qformer"]

    def __init__(self, vae: AutoencoderKLTemporalDecoder, unet: BokehUNetSpatioTemporalModel,
                 scheduler: EulerDiscreteScheduler, text_encoder=None, tokenizer=None, image_encoder=None,
                 feature_extractor=None, qformer: BokehQFormer | None = None,
                 working_size: tuple[int, int] = SVD_WORKING_SIZE,
                 added_time_ids: tuple[float, float, float] = DEFAULT_ADDED_TIME_IDS,
                 one_step_timestep: float = ONE_STEP_TIMESTEP) -> None:
        super().__init__()
        self.register_modules(vae=vae, unet=unet, scheduler=scheduler, text_encoder=text_encoder,
                              tokenizer=tokenizer, image_encoder=image_encoder,
                              feature_extractor=feature_extractor, qformer=qformer)
        self.register_to_config(working_size=list(working_size), added_time_ids=list(added_time_ids),
                                one_step_timestep=float(one_step_timestep))

    # ------------------------------------------------------------------ geometry
    @property
    def vae_scale_factor(self) -> int:
        """Pixels per latent cell."""
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def pixel_multiple(self) -> int:
        """Frame sizes must be multiples of this (VAE factor times the UNet's downsampling)."""
        return self.vae_scale_factor * 2 ** (len(self.unet.config.block_out_channels) - 1)

    @property
    def default_window(self) -> int:
        """Frames per window the backbone was built for."""
        return int(self.unet.config.num_frames)

    # ------------------------------------------------------------------ conditions
    def _clip_pixels(self, images: torch.Tensor) -> torch.Tensor:
        fe = self.feature_extractor
        crop = fe.crop_size
        size = (crop, crop) if isinstance(crop, int) else (int(crop["height"]), int(crop["width"]))
        x = F.interpolate(images.float(), size=size, mode="bilinear",
                          align_corners=False, antialias=True)
        mean = torch.tensor(fe.image_mean, device=x.device).view(1, 3, 1, 1)
        std = torch.tensor(fe.image_std, device=x.device).view(1, 3, 1, 1)
        return ((x - mean) / std).to(self.image_encoder.dtype)

    @torch.no_grad()
    def encode_prompt(self, prompt: str | None) -> torch.Tensor | None:
        r"""Instruction tokens ``(2, L, D)``: the empty instruction and ``prompt``; ``None`` without a text encoder."""
        if self.text_encoder is None:
            return None
        ids = self.tokenizer(["", prompt or ""], padding="max_length", max_length=self.tokenizer.model_max_length,
                             truncation=True, return_tensors="pt").input_ids.to(self._execution_device)
        return self.text_encoder(ids).last_hidden_state

    @torch.no_grad()
    def encode_reference(self, reference: torch.Tensor | None) -> torch.Tensor | None:
        r"""Bokeh tokens ``(2, Q, D)``: none (zeros), then ``reference``'s (zeros when ``None``).

        Args:
            reference (`torch.Tensor`, *optional*): ``(3, H, W)`` reference bokeh image in ``[0, 1]``.
        """
        if self.qformer is None:
            return None
        q, d = self.qformer.config.num_queries, self.qformer.config.output_dim
        null = torch.zeros(1, q, d, device=self._execution_device, dtype=self.qformer.dtype)
        if reference is None:
            return torch.cat([null, null])
        pixels = self._clip_pixels(reference.unsqueeze(0).to(self._execution_device))
        patches = self.image_encoder(pixels).last_hidden_state.to(self.qformer.dtype)
        return torch.cat([null, self.qformer(patches)])

    @torch.no_grad()
    def encode_frame_context(self, frames: torch.Tensor) -> torch.Tensor:
        r"""CLIP image embedding of each frame ``(T, 1, D)``: the context when there is no text encoder."""
        return self.image_encoder(self._clip_pixels(frames)).image_embeds.unsqueeze(1)

    def prepare_context(self, prompt: str | None, reference: torch.Tensor | None) -> GuidanceContext:
        r"""Encode the instruction and the reference once for a whole render."""
        return GuidanceContext(text=self.encode_prompt(prompt), bokeh=self.encode_reference(reference))

    def window_context(self, context: GuidanceContext, num_frames: int, rows: int,
                       frames: torch.Tensor | None = None) -> torch.Tensor:
        r"""Per-frame cross-attention tokens of the guidance rows ``(rows, T, N, D)``.

        Row order is ``[(0,0), (I,0), (I,T)]`` when ``rows == 3``; ``rows == 1`` is ``(I,T)`` alone.
        ``frames`` (``(T, 3, H, W)`` in ``[0, 1]``) are needed only without a text encoder.
        """
        if context.text is not None:
            text = context.text[[0, 0, 1]].unsqueeze(1).expand(-1, num_frames, -1, -1)
        else:
            if frames is None:
                raise ValueError("without a text encoder the frames themselves are the context: pass frames")
            text = self.encode_frame_context(frames).unsqueeze(0).expand(3, -1, -1, -1)
        parts = [text.to(self.unet.dtype)]
        if context.bokeh is not None:
            bokeh = context.bokeh[[0, 1, 1]].unsqueeze(1).expand(-1, text.shape[1], -1, -1)
            parts.append(bokeh.to(self.unet.dtype))
        tokens = torch.cat(parts, dim=2)
        return tokens[2:] if rows == 1 else tokens

    # ------------------------------------------------------------------ latents
    @torch.no_grad()
    def encode_frames(self, frames: torch.Tensor, chunk: int = DEFAULT_DECODE_CHUNK) -> torch.Tensor:
        r"""Unscaled latent mode of each frame ``(T, C, h, w)`` (frames ``(T, 3, H, W)`` in ``[0, 1]``)."""
        out = [self.vae.encode(part.to(self._execution_device, self.vae.dtype) * 2 - 1).latent_dist.mode()
               for part in frames.split(chunk)]
        return torch.cat(out)

    def window_fade_in(self, win):
        """Fade-in weights of ``win`` over its own frames (the shared planner's ramp; variants may differ)."""
        from bokehfx.windows import window_fade_in

        return window_fade_in(win)

    @torch.no_grad()
    def decode_latents(self, latents: torch.Tensor, chunk: int = DEFAULT_DECODE_CHUNK,
                       frames: torch.Tensor | None = None) -> torch.Tensor:
        r"""Decode scaled latents ``(T, C, h, w)`` in chunks of ``chunk`` frames to ``(T, 3, H, W)`` in ``[0, 1]``.

        ``frames`` (the all-in-focus frames of the same latents) are used by variants whose VAE
        decodes with encoder features; this one ignores them.
        """
        out = []
        for part in latents.split(chunk):
            z = part.to(self._execution_device, self.vae.dtype) / self.vae.config.scaling_factor
            out.append((self.vae.decode(z, num_frames=z.shape[0]).sample.float() / 2 + 0.5).clamp(0, 1))
        return torch.cat(out)

    def focus_maps(self, disparity: torch.Tensor, focus: torch.Tensor, blur: torch.Tensor,
                   latent_size: tuple[int, int]) -> torch.Tensor:
        r"""The UNet's focus channels at latent size (see :func:`~bokehfx.models.conditioning.focus_conditioning`)."""
        cfg = self.unet.config
        return focus_conditioning(disparity.float(), focus.float(), blur.float(), size=latent_size,
                                  max_blur=cfg.max_blur, defocus=cfg.focus_defocus_map, planes=cfg.focus_planes)

    def conditioning(self, image_latents: torch.Tensor, disparity: torch.Tensor, focus: torch.Tensor,
                     blur: torch.Tensor, chunk: int = DEFAULT_DECODE_CHUNK) -> torch.Tensor:
        r"""Everything the UNet input holds after its ``sample`` slot, per frame.

        The latent slots named by ``unet.config.latent_inputs`` after ``sample`` (``image``: the
        unscaled all-in-focus latent; ``coc_image``: the unscaled latent of ``|d - F|`` as a grey
        image), then the focus channels.

        Args:
            image_latents (`torch.Tensor`): ``(T, C, h, w)`` unscaled latents of the frames.
            disparity (`torch.Tensor`): ``(T, 1, H, W)`` at working size.
            focus (`torch.Tensor`), blur (`torch.Tensor`): ``(T,)`` F and K (working pixels).
            chunk (`int`): Frames the VAE encodes at once.

        Returns:
            `torch.Tensor`: ``(T, in_channels - C, h, w)``.
        """
        parts = []
        for slot in self.unet.config.latent_inputs[1:]:
            if slot == "image":
                parts.append(image_latents)
            else:
                coc = (disparity - focus.to(disparity).view(-1, 1, 1, 1)).abs().clamp(0, 1).expand(-1, 3, -1, -1)
                parts.append(self.encode_frames(coc, chunk))
        parts.append(self.focus_maps(disparity, focus, blur, tuple(image_latents.shape[-2:])).to(image_latents))
        return torch.cat(parts, dim=1)

    # ------------------------------------------------------------------ denoising
    def predict(self, model_input: torch.Tensor, timestep: torch.Tensor | float, tokens: torch.Tensor,
                blur: torch.Tensor, guidance_image: float, guidance_text: float) -> torch.Tensor:
        r"""One guided UNet prediction for a window, all guidance rows in one batched forward pass.

        Args:
            model_input (`torch.Tensor`): ``(T, in_channels, h, w)``.
            timestep (`torch.Tensor` or `float`): The UNet's timestep.
            tokens (`torch.Tensor`): ``(R, T, N, D)`` from :meth:`window_context` (R = 1 or 3).
            blur (`torch.Tensor`): ``(T,)`` K per frame (working pixels).
            guidance_image (`float`), guidance_text (`float`): ``lambda_I`` and ``lambda_T``.

        Returns:
            `torch.Tensor`: ``(T, C, h, w)``.
        """
        rows = tokens.shape[0]
        ids = torch.tensor([self.config.added_time_ids], device=model_input.device, dtype=model_input.dtype)
        sample = model_input.unsqueeze(0).expand(rows, *model_input.shape)
        pred = self.unet(sample, timestep, tokens, ids.expand(rows, -1),
                         blur=blur.to(model_input).unsqueeze(0).expand(rows, -1)).sample
        return pred[0] if rows == 1 else combine_guidance(pred, guidance_image, guidance_text)

    @torch.no_grad()
    def denoise_window(self, image_latents: torch.Tensor, cond: torch.Tensor, blur: torch.Tensor,
                       tokens: torch.Tensor, noise: torch.Tensor, num_inference_steps: int,
                       guidance_image: float, guidance_text: float,
                       blend: tuple[torch.Tensor, list[torch.Tensor]] | None = None,
                       ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        r"""Denoise one window of latents.

        Args:
            image_latents (`torch.Tensor`): ``(T, C, h, w)`` unscaled latents of the all-in-focus frames.
            cond (`torch.Tensor`): ``(T, in_channels - C, h, w)`` from :meth:`conditioning`.
            blur (`torch.Tensor`): ``(T,)`` K per frame.
            tokens (`torch.Tensor`): ``(R, T, N, D)`` guidance tokens.
            noise (`torch.Tensor`): ``(T, C, h, w)`` the frames' shared noise (multi-step only).
            num_inference_steps (`int`): 1 is the one-step mode.
            guidance_image (`float`), guidance_text (`float`): Guidance scales.
            blend (`tuple`, *optional*): ``(ramp, prefix_per_step)``: after every step the first
                ``len(ramp)`` frames become ``prefix * (1 - ramp) + own * ramp``, where ``prefix``
                is the previous window's latents of those frames after the same step.

        Returns:
            `tuple`: the final scaled latents ``(T, C, h, w)`` and the latents after every step.
        """
        dtype, device = self.unet.dtype, self._execution_device
        cond = cond.to(device, dtype)
        scaled = image_latents.to(device, dtype) * self.vae.config.scaling_factor
        if num_inference_steps == 1:
            model_input = torch.cat([scaled, cond], dim=1)
            out = self.predict(model_input, self.config.one_step_timestep, tokens, blur, guidance_image, guidance_text)
            return out, [out]
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        latents = noise.to(device, dtype) * self.scheduler.init_noise_sigma
        trajectory = []
        for step, t in enumerate(self.scheduler.timesteps):
            model_input = torch.cat([self.scheduler.scale_model_input(latents, t), cond], dim=1)
            pred = self.predict(model_input, t, tokens, blur, guidance_image, guidance_text)
            latents = self.scheduler.step(pred, t, latents).prev_sample.to(dtype)
            if blend is not None:
                ramp, prefix = blend
                n = ramp.shape[0]
                w = ramp.to(device, dtype).view(-1, 1, 1, 1)
                latents = torch.cat([prefix[step].to(device, dtype) * (1 - w) + latents[:n] * w, latents[n:]])
            trajectory.append(latents)
        return latents, trajectory

    # ------------------------------------------------------------------ the whole call
    def check_inputs(self, frames: torch.Tensor, disparity: torch.Tensor, focus: torch.Tensor, blur: torch.Tensor,
                     num_inference_steps: int, window: int, overlap: int) -> None:
        r"""Validate the arguments of :meth:`__call__`; raise ``ValueError`` naming the bad one."""
        if frames.ndim != 4 or frames.shape[1] != 3:
            raise ValueError(f"frames must be (T, 3, H, W), got {tuple(frames.shape)}")
        t, _, h, w = frames.shape
        if tuple(disparity.shape) != (t, 1, h, w):
            raise ValueError(f"disparity must be ({t}, 1, {h}, {w}), got {tuple(disparity.shape)}")
        if tuple(focus.shape) != (t,) or tuple(blur.shape) != (t,):
            raise ValueError(f"focus and blur must be ({t},), got {tuple(focus.shape)} and {tuple(blur.shape)}")
        if h % self.pixel_multiple or w % self.pixel_multiple:
            raise ValueError(f"frame size {w}x{h} must be a multiple of {self.pixel_multiple} (pad it)")
        if num_inference_steps < 1:
            raise ValueError(f"num_inference_steps must be at least 1, got {num_inference_steps}")
        if not 0 <= overlap < window:
            raise ValueError(f"overlap must be in [0, window={window}), got {overlap}")

    @torch.no_grad()
    def __call__(self, frames: torch.Tensor, disparity: torch.Tensor, focus: torch.Tensor, blur: torch.Tensor,
                 prompt: str | None = None, reference: torch.Tensor | None = None, num_inference_steps: int = 1,
                 window: int | None = None, overlap: int | None = None,
                 guidance_image: float = DEFAULT_GUIDANCE_IMAGE, guidance_text: float = DEFAULT_GUIDANCE_TEXT,
                 seed: int = 0, decode_chunk_size: int = DEFAULT_DECODE_CHUNK, output_type: str = "pt",
                 return_dict: bool = True) -> BokehPipelineOutput | tuple[torch.Tensor]:
        r"""Render defocus for a clip held in memory (the renderer streams with :class:`LatentWindowStream` instead).

        Args:
            frames (`torch.Tensor`): ``(T, 3, H, W)`` all-in-focus frames in ``[0, 1]``, H and W
                multiples of :attr:`pixel_multiple`.
            disparity (`torch.Tensor`): ``(T, 1, H, W)`` normalised disparity.
            focus (`torch.Tensor`): ``(T,)`` focal plane per frame.
            blur (`torch.Tensor`): ``(T,)`` K per frame, in pixels of these frames.
            prompt (`str`, *optional*): The instruction.
            reference (`torch.Tensor`, *optional*): ``(3, h, w)`` reference bokeh image in ``[0, 1]``.
            num_inference_steps (`int`, defaults to 1): 1 = one-step mode; more = Euler steps.
            window (`int`, *optional*): Frames per window (default: the backbone's).
            overlap (`int`, *optional*): Frames shared by consecutive windows (default: a quarter of the window).
            guidance_image (`float`), guidance_text (`float`): ``lambda_I``, ``lambda_T``.
            seed (`int`, defaults to 0): Seed of the shared noise; the same seed gives the same output.
            decode_chunk_size (`int`, defaults to 8): Frames the VAE decodes at once.
            output_type (`str`, defaults to ``"pt"``): ``"pt"`` frames or ``"latent"``.
            return_dict (`bool`, defaults to `True`): Return a :class:`BokehPipelineOutput`.

        Returns:
            :class:`BokehPipelineOutput` or `tuple`.
        """
        from bokehfx.diffusion.sampling import LatentWindowStream, default_overlap

        # 1. Check inputs
        window = window or self.default_window
        overlap = default_overlap(window, getattr(self, "default_overlap", None)) if overlap is None else overlap
        self.check_inputs(frames, disparity, focus, blur, num_inference_steps, window, overlap)
        # 2. Encode the instruction and the reference once
        context = self.prepare_context(prompt, reference)
        # 3. Stream the clip through overlapping windows (latents blended, frames decoded as they finish)
        stream = LatentWindowStream(self, context, window=window, overlap=overlap, steps=num_inference_steps,
                                    guidance_image=guidance_image, guidance_text=guidance_text, seed=seed,
                                    decode_chunk=decode_chunk_size, output_latents=output_type == "latent")
        parts = [stream.push(frames, disparity, focus, blur), stream.finish()]
        # 4. Gather the output
        out = torch.cat([p for p in parts if p.shape[0]])
        self.maybe_free_model_hooks()
        return BokehPipelineOutput(frames=out) if return_dict else (out,)
