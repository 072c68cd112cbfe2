"""Clips of any length through the diffusion pipeline: overlapping windows blended in latent space.

:class:`LatentWindowStream` is fed frames as they are decoded and gives back defocused frames as
soon as no later window can change them, so memory is bounded by one window plus its overlap,
never by the clip. Windows come from the shared planner (:mod:`bokehfx.windows`), and:

- every clip frame has its own noise (:func:`~bokehfx.diffusion.pipeline.shared_noise`), so
  overlapping windows start from the same noise on the frames they share;
- in multi-step mode, after every denoising step the frames a window shares with the previous
  one are cross-faded with the previous window's latents after the same step (the planner's
  ramp), so both windows walk towards one result;
- the final (or, in one-step mode, the predicted) latents are cross-faded with the planner's
  weights, which sum to 1 on every frame, and decoded only then.
"""

from __future__ import annotations

import torch

from bokehfx.diffusion.pipeline import shared_noise
from bokehfx.windows import StreamingWindowPlanner, Window

#: Default overlap as a fraction of the window.
DEFAULT_OVERLAP_FRACTION = 0.25


def default_overlap(window: int, model_overlap: int | None = None) -> int:
    """The model's own overlap when it names one that fits, else a quarter of the window (at least one frame)."""
    if model_overlap is not None and 0 <= model_overlap < window:
        return model_overlap
    return min(window - 1, max(1, round(window * DEFAULT_OVERLAP_FRACTION))) if window > 1 else 0


class LatentWindowStream:
    r"""Windowed, streaming sampling of a :class:`~bokehfx.diffusion.pipeline.BokehVideoPipeline`.

    Args:
        pipe (`BokehVideoPipeline`): The pipeline.
        context (`GuidanceContext`): The encoded instruction and reference.
        window (`int`): Frames per window.
        overlap (`int`): Frames shared by consecutive windows.
        steps (`int`): Denoising steps (1: one-step mode).
        guidance_image (`float`), guidance_text (`float`): Guidance scales; both 1 runs one
            guidance row only.
        seed (`int`): Seed of the shared noise.
        decode_chunk (`int`): Frames the VAE encodes and decodes at once.
        output_latents (`bool`, defaults to `False`): Give back blended latents instead of frames.
    """

    def __init__(self, pipe, context, *, window: int, overlap: int, steps: int, guidance_image: float,
                 guidance_text: float, seed: int, decode_chunk: int, output_latents: bool = False) -> None:
        self.pipe = pipe
        self.context = context
        self.planner = StreamingWindowPlanner(window, overlap)
        self.steps = steps
        self.guidance = (guidance_image, guidance_text)
        self.rows = 1 if guidance_image == 1 and guidance_text == 1 else 3
        self.seed = seed
        self.decode_chunk = decode_chunk
        self.output_latents = output_latents
        self.base = 0  # clip index of the first frame still held
        self.frames: list[torch.Tensor] = []  # per held frame: (3, H, W), for per-frame contexts
        self.latents: list[torch.Tensor] = []  # unscaled latents of the all-in-focus frames
        self.cond: list[torch.Tensor] = []  # the UNet input after its sample slot
        self.blur: list[torch.Tensor] = []
        self.result: list[torch.Tensor | None] = []  # blended output latents
        self.trajectory: tuple[int, list[torch.Tensor]] | None = None

    @property
    def held_frames(self) -> int:
        """Frames held in memory now (bounded by the window plus its stride)."""
        return len(self.latents)

    def push(self, frames: torch.Tensor, disparity: torch.Tensor, focus: torch.Tensor,
             blur: torch.Tensor) -> torch.Tensor:
        r"""Add frames; return the frames that are final now.

        Args:
            frames (`torch.Tensor`): ``(n, 3, H, W)`` all-in-focus frames in ``[0, 1]`` at working size.
            disparity (`torch.Tensor`): ``(n, 1, H, W)``.
            focus (`torch.Tensor`), blur (`torch.Tensor`): ``(n,)`` F and K (working pixels).

        Returns:
            `torch.Tensor`: ``(m, 3, H, W)`` finished frames in clip order (``m`` may be 0).
        """
        if frames.shape[0]:
            latents = self.pipe.encode_frames(frames, self.decode_chunk)
            cond = self.pipe.conditioning(latents, disparity, focus, blur, self.decode_chunk)
            keep_frames = self.pipe.text_encoder is None
            for i in range(frames.shape[0]):
                self.frames.append(frames[i] if keep_frames else frames.new_empty(0))
                self.latents.append(latents[i])
                self.cond.append(cond[i])
                self.blur.append(blur[i].float().cpu())
                self.result.append(None)
        for win in self.planner.push(frames.shape[0]):
            self._render(win)
        return self._release(self.planner.final_before)

    def finish(self) -> torch.Tensor:
        r"""End of the clip: render the tail window and return every frame still held."""
        for win in self.planner.finish():
            self._render(win)
        return self._release(self.planner.final_before)

    def _render(self, win: Window) -> None:
        local = slice(win.start - self.base, win.stop - self.base)
        latents = torch.stack(self.latents[local])
        frames = torch.stack(self.frames[local]) if self.pipe.text_encoder is None else None
        tokens = self.pipe.window_context(self.context, latents.shape[0], self.rows, frames)
        noise = torch.zeros(0)
        if self.steps > 1:
            noise = shared_noise(win.frames, tuple(latents.shape[1:]), self.seed)
        blend = None
        fade = torch.from_numpy(self.pipe.window_fade_in(win))
        if self.steps > 1 and win.blend_in and self.trajectory is not None:
            prev_start, prev = self.trajectory
            offset = win.start - prev_start
            blend = (fade[: win.blend_in], [p[offset: offset + win.blend_in] for p in prev])
        out, trajectory = self.pipe.denoise_window(
            latents, torch.stack(self.cond[local]), torch.stack(self.blur[local]), tokens, noise, self.steps,
            *self.guidance, blend=blend)
        self.trajectory = (win.start, trajectory) if self.steps > 1 else None
        for j, index in enumerate(win.frames):
            k = index - self.base
            w = float(fade[j])
            held = self.result[k]
            self.result[k] = out[j] if held is None or w == 1.0 else held * (1 - w) + out[j] * w

    def _release(self, final_before: int) -> torch.Tensor:
        count = final_before - self.base
        if count <= 0:
            return torch.zeros(0)
        done = torch.stack(self.result[:count])  # type: ignore[arg-type]
        frames = torch.stack(self.frames[:count]) if self.pipe.text_encoder is None else None
        for buffer in (self.frames, self.latents, self.cond, self.blur, self.result):
            del buffer[:count]
        self.base = final_before
        if self.output_latents:
            return done
        return self.pipe.decode_latents(done, self.decode_chunk, frames=frames)
