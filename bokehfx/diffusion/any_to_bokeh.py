"""The published Any-to-Bokeh checkpoint as a bokehfx diffusion model (the pipeline side of the variant).

Any-to-Bokeh (ICLR 2026, ``vivoCameraResearch/any-to-bokeh``, weights under CC BY-NC-SA 4.0:
non-commercial) is a one-step video bokeh model on Stable Video Diffusion. Its model parts are
configuration of bokehfx's classes (:class:`~bokehfx.models.unet.BokehUNetSpatioTemporalModel` with
``latent_inputs=("sample", "coc_image")`` and ``blur_fuser_frequencies=16``;
:class:`~bokehfx.models.skip_vae.SkipAutoencoderKLTemporalDecoder`). What its inference does
differently from :class:`~bokehfx.diffusion.pipeline.BokehVideoPipeline` lives here:

- the cross-attention context of each frame is the CLIP image embedding of that frame, resized to
  the encoder's input with SVD's antialiased resize and *not* normalised by CLIP's mean and std;
- the UNet input is the scaled latent of the all-in-focus frames and the scaled latent of the CoC
  image ``|d - F|`` (grey, as ``2|d - F| - 1``); one pass at timestep 1, no guidance;
- overlapping windows are cross-faded with a raised cosine that starts at 0 (overlap 4:
  0, 0.146, 0.5, 0.854 for the new window);
- the VAE decoder receives the encoder's features of the all-in-focus frames (skip connections).

Loading one prints the licence and the trained K range once; K outside that range gets a note.
"""

from __future__ import annotations

import math
import sys

import numpy as np
import torch
from diffusers.pipelines.stable_video_diffusion.pipeline_stable_video_diffusion import _resize_with_antialiasing

from bokehfx.diffusion.pipeline import DEFAULT_DECODE_CHUNK, BokehVideoPipeline
from bokehfx.errors import UsageError
from bokehfx.models.skip_vae import SkipAutoencoderKLTemporalDecoder  # noqa: F401  (found by name on load)
from bokehfx.windows import Window

#: What loading an Any-to-Bokeh model prints (once per process and model folder).
LICENCE_NOTICE = ("Any-to-Bokeh weights (vivoCameraResearch/any-to-bokeh): non-commercial, CC BY-NC-SA 4.0; "
                  "trained for K {low:g}-{high:g}")
#: K range of Any-to-Bokeh's training data.
TRAINED_BLUR_RANGE = (1.0, 31.0)
#: Window and overlap of Any-to-Bokeh's inference.
ANY_TO_BOKEH_WINDOW = 8
ANY_TO_BOKEH_OVERLAP = 4
_announced: set[str] = set()


def cosine_fade_in(length: int, blend_in: int) -> np.ndarray:
    r"""Fade-in weights of a window: ``(1 - cos(pi j / blend_in)) / 2`` over the first ``blend_in`` frames, then 1.

    Args:
        length (`int`): Frames in the window.
        blend_in (`int`): Frames it shares with the previous window.

    Returns:
        `np.ndarray`: float64 ``(length,)``.
    """
    weights = np.ones(length, dtype=np.float64)
    j = np.arange(blend_in, dtype=np.float64)
    weights[:blend_in] = 0.5 * (1.0 - np.cos(math.pi * j / max(blend_in, 1)))
    return weights


class AnyToBokehPipeline(BokehVideoPipeline):
    r"""Any-to-Bokeh's one-step inference on bokehfx's windows, depth and focus plan.

    Args: those of :class:`~bokehfx.diffusion.pipeline.BokehVideoPipeline` (no text encoder, no
    Q-Former), plus:
        window (`int`, defaults to 8): Frames per window by default.
        overlap (`int`, defaults to 4): Frames shared by consecutive windows by default.
        trained_blur_range (`tuple[float, float]`, defaults to ``(1, 31)``): K the weights were trained on.
    """

    def __init__(self, vae, unet, scheduler, text_encoder=None, tokenizer=None, image_encoder=None,
                 feature_extractor=None, qformer=None, working_size=(1024, 576), added_time_ids=(6.0, 127.0, 0.0),
                 one_step_timestep: float = 1.0, window: int = ANY_TO_BOKEH_WINDOW,
                 overlap: int = ANY_TO_BOKEH_OVERLAP,
                 trained_blur_range: tuple[float, float] = TRAINED_BLUR_RANGE) -> None:
        super().__init__(vae=vae, unet=unet, scheduler=scheduler, text_encoder=text_encoder, tokenizer=tokenizer,
                         image_encoder=image_encoder, feature_extractor=feature_extractor, qformer=qformer,
                         working_size=working_size, added_time_ids=added_time_ids,
                         one_step_timestep=one_step_timestep)
        self.register_to_config(window=int(window), overlap=int(overlap),
                                trained_blur_range=[float(v) for v in trained_blur_range])
        self._noted_blur = False

    @property
    def default_window(self) -> int:
        """Frames per window Any-to-Bokeh runs (8)."""
        return int(self.config.window)

    @property
    def default_overlap(self) -> int:
        """Frames consecutive windows share by default (4)."""
        return int(self.config.overlap)

    def notice(self) -> str:
        """The licence and trained K range line printed on loading."""
        low, high = self.config.trained_blur_range
        return LICENCE_NOTICE.format(low=low, high=high)

    def announce(self, key: str) -> None:
        r"""Print :meth:`notice` to stderr once per process for ``key`` (the model folder)."""
        if key not in _announced:
            _announced.add(key)
            sys.stderr.write(f"note: {self.notice()}\n")

    def _note_blur(self, blur: torch.Tensor) -> None:
        low, high = self.config.trained_blur_range
        outside = blur[(blur < low) | (blur > high)]
        if outside.numel() and not self._noted_blur:
            self._noted_blur = True
            sys.stderr.write(f"note: K {float(outside[0]):g} is outside the range this model was trained on "
                             f"({low:g}-{high:g}); results there are extrapolation\n")

    # ------------------------------------------------------------------ conditions
    def prepare_context(self, prompt: str | None, reference: torch.Tensor | None):
        r"""Any-to-Bokeh takes neither an instruction nor a reference image: refuse them rather than ignore them."""
        if prompt or reference is not None:
            raise UsageError("the Any-to-Bokeh model takes no --prompt or --ref (focus and blur steer it)")
        return super().prepare_context(None, None)

    @torch.no_grad()
    def encode_frame_context(self, frames: torch.Tensor) -> torch.Tensor:
        r"""CLIP image embedding of each frame ``(T, 1, D)``, Any-to-Bokeh's preprocessing (no mean/std)."""
        size = int(self.image_encoder.config.image_size)
        pixels = frames.to(self._execution_device).float() * 2 - 1
        pixels = (_resize_with_antialiasing(pixels, (size, size)) + 1) / 2
        return self.image_encoder(pixels.to(self.image_encoder.dtype)).image_embeds.unsqueeze(1)

    def conditioning(self, image_latents: torch.Tensor, disparity: torch.Tensor, focus: torch.Tensor,
                     blur: torch.Tensor, chunk: int = DEFAULT_DECODE_CHUNK) -> torch.Tensor:
        r"""The scaled latent of the CoC image ``|d - F|`` (grey), per frame ``(T, C, h, w)``."""
        self._note_blur(blur.float())
        coc = (disparity - focus.to(disparity).view(-1, 1, 1, 1)).abs().clamp(0, 1).expand(-1, 3, -1, -1)
        return self.encode_frames(coc, chunk) * self.vae.config.scaling_factor

    def window_fade_in(self, win: Window) -> np.ndarray:
        """Any-to-Bokeh's cross-fade: a raised cosine from 0 over the frames shared with the previous window."""
        return cosine_fade_in(win.length, win.blend_in)

    # ------------------------------------------------------------------ prediction and decoding
    def denoise_window(self, image_latents, cond, blur, tokens, noise, num_inference_steps, guidance_image,
                       guidance_text, blend=None):
        r"""Any-to-Bokeh's single pass (it is a one-step model: more steps are refused)."""
        if num_inference_steps != 1:
            raise UsageError(f"the Any-to-Bokeh model is one-step: use --steps 1, not {num_inference_steps}")
        return super().denoise_window(image_latents, cond, blur, tokens, noise, 1, guidance_image, guidance_text)

    def predict(self, model_input: torch.Tensor, timestep: torch.Tensor | float, tokens: torch.Tensor,
                blur: torch.Tensor, guidance_image: float, guidance_text: float) -> torch.Tensor:
        r"""One UNet pass with the frames' own context (Any-to-Bokeh uses no guidance)."""
        return super().predict(model_input, timestep, tokens[-1:], blur, 1.0, 1.0)

    @torch.no_grad()
    def decode_latents(self, latents: torch.Tensor, chunk: int = DEFAULT_DECODE_CHUNK,
                       frames: torch.Tensor | None = None) -> torch.Tensor:
        r"""Decode scaled latents ``(T, C, h, w)`` with the encoder features of the all-in-focus ``frames``.

        Args:
            latents (`torch.Tensor`): Scaled latents.
            chunk (`int`): Frames decoded at once (the temporal decoder mixes over them).
            frames (`torch.Tensor`): ``(T, 3, H, W)`` the same frames, all-in-focus, in ``[0, 1]``.

        Returns:
            `torch.Tensor`: ``(T, 3, H, W)`` in ``[0, 1]``.
        """
        if not hasattr(self.vae, "decode_with_skips"):
            return super().decode_latents(latents, chunk)
        if frames is None or frames.shape[0] != latents.shape[0]:
            raise ValueError("this VAE decodes with the all-in-focus frames' features: pass frames, one per latent")
        out = []
        for part, pixels in zip(latents.split(chunk), frames.split(chunk)):
            z = part.to(self._execution_device, self.vae.dtype) / self.vae.config.scaling_factor
            features = self.vae.encoder_features(pixels.to(self._execution_device, self.vae.dtype) * 2 - 1)
            decoded = self.vae.decode_with_skips(z, z.shape[0], features)
            out.append((decoded.float() / 2 + 0.5).clamp(0, 1))
        return torch.cat(out)
