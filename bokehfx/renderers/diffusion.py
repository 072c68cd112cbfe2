"""The diffusion renderer behind the shared renderer interface: any size, any length, source pixels kept.

:class:`DiffusionRenderer` adapts a :class:`~bokehfx.diffusion.pipeline.BokehVideoPipeline` to
:class:`~bokehfx.renderers.base.Renderer`. :meth:`DiffusionRenderer.stream` gives a
:class:`DiffusionStream` that takes frames as they are decoded and returns finished ones, with
memory bounded by one window plus its stride (see :mod:`bokehfx.diffusion.sampling`).

Geometry and colour:

- The model works at the *working size*: the area of ``options.size`` (default the model's own,
  e.g. 1024x576) with the clip's aspect ratio, padded (edge pixels repeated) to the model's
  pixel multiple and cropped back afterwards; frames are never stretched.
- K is in source pixels; the model sees it scaled to working pixels.
- Frames are linear light; the model sees them sRGB-encoded in ``[0, 1]`` (values above 1 are
  clipped there), and its output is brought back to linear light.
- The render is upsampled to the source size and composited with the source by the circle of
  confusion: where ``K * |d - F|`` is below half a pixel the source's own pixels are kept exactly,
  and the render takes over as the CoC grows to the upsampling factor, where the detail lost by
  working at a smaller size is below the blur anyway.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from bokehfx.colour import linear_to_srgb, srgb_to_linear
from bokehfx.errors import UsageError
from bokehfx.renderers.base import Look, check_inputs

#: CoC radius (source pixels) below which a pixel is in focus and keeps the source's value.
IN_FOCUS_COC_PX = 0.5
def srgb_encode(linear: torch.Tensor) -> torch.Tensor:
    """Linear light to sRGB-encoded values, clipped to ``[0, 1]`` (what the model sees)."""
    return linear_to_srgb(linear)


def srgb_decode(encoded: torch.Tensor) -> torch.Tensor:
    """sRGB-encoded values (the model's output, clipped to ``[0, 1]``) to linear light."""
    return srgb_to_linear(encoded.clamp(0.0, 1.0))


@dataclass(frozen=True)
class Geometry:
    """Where a source frame goes at working size.

    Args:
        width (`int`), height (`int`): The source size.
        work_width (`int`), work_height (`int`): The picture at working size (aspect kept).
        padded_width (`int`), padded_height (`int`): Padded up to the model's pixel multiple.
    """

    width: int
    height: int
    work_width: int
    work_height: int
    padded_width: int
    padded_height: int

    @property
    def scale(self) -> float:
        """Working pixels per source pixel."""
        return self.work_width / self.width


def working_geometry(width: int, height: int, size: tuple[int, int], multiple: int) -> Geometry:
    r"""The working size of a ``width`` x ``height`` source: the area of ``size``, the aspect of the source.

    Args:
        width (`int`), height (`int`): Source size in pixels.
        size (`tuple[int, int]`): ``(width, height)`` whose area the model works at.
        multiple (`int`): The model's pixel multiple (padding target).

    Returns:
        :class:`Geometry`.
    """
    scale = math.sqrt(size[0] * size[1] / (width * height))
    work_w = max(1, round(width * scale))
    work_h = max(1, round(height * scale))
    return Geometry(width, height, work_w, work_h, -(-work_w // multiple) * multiple,
                    -(-work_h // multiple) * multiple)


@dataclass(frozen=True)
class DiffusionOptions:
    r"""What a diffusion render is asked for (besides focus and blur, which come per frame).

    Args:
        prompt (`str`, *optional*): The instruction.
        reference (`np.ndarray`, *optional*): ``(H, W, 3)`` linear-light reference bokeh image.
        steps (`int`, defaults to 1): Denoising steps; 1 is the one-step mode.
        window (`int`, *optional*): Frames per window (default: the model's).
        overlap (`int`, *optional*): Frames shared by consecutive windows (default: a quarter window).
        seed (`int`, defaults to 0): Seed of the noise; the same seed gives the same render.
        guidance_image (`float`, *optional*), guidance_text (`float`, *optional*): Guidance scales.
        size (`tuple[int, int]`, *optional*): ``(width, height)`` whose area the model works at
            (default: the model's working size).
        decode_chunk (`int`, *optional*): Frames the VAE encodes/decodes at once.
    """

    prompt: str | None = None
    reference: np.ndarray | None = None
    steps: int = 1
    window: int | None = None
    overlap: int | None = None
    seed: int = 0
    guidance_image: float | None = None
    guidance_text: float | None = None
    size: tuple[int, int] | None = None
    decode_chunk: int | None = None

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise UsageError(f"--steps must be at least 1, got {self.steps}")
        if self.size is not None and (len(self.size) != 2 or min(self.size) < 1):
            raise UsageError(f"--diffusion-size must be two positive numbers WxH, got {self.size}")
        if self.decode_chunk is not None and self.decode_chunk < 1:
            raise UsageError(f"decode chunk must be at least 1 frame, got {self.decode_chunk}")
        if self.reference is not None and (self.reference.ndim != 3 or self.reference.shape[2] < 3):
            raise UsageError(f"the reference image must be (H, W, 3), got shape {self.reference.shape}")


class DiffusionRenderer:
    r"""The shared renderer interface over a diffusion pipeline.

    Args:
        pipeline (`BokehVideoPipeline`): The loaded model (on its device, in its dtype).
        options (:class:`DiffusionOptions`): Instruction, reference, steps, windows, seed, size.
    """

    def __init__(self, pipeline, options: DiffusionOptions | None = None) -> None:
        from bokehfx.diffusion.pipeline import DEFAULT_DECODE_CHUNK, DEFAULT_GUIDANCE_IMAGE, DEFAULT_GUIDANCE_TEXT
        from bokehfx.diffusion.sampling import default_overlap
        from bokehfx.windows import validate_window_args

        self.pipe = pipeline
        self.options = options or DiffusionOptions()
        opts = self.options
        self.window = opts.window or pipeline.default_window
        overlap = (default_overlap(self.window, getattr(pipeline, "default_overlap", None))
                   if opts.overlap is None else opts.overlap)
        self.window, self.overlap = validate_window_args(self.window, overlap)
        self.guidance = (DEFAULT_GUIDANCE_IMAGE if opts.guidance_image is None else opts.guidance_image,
                         DEFAULT_GUIDANCE_TEXT if opts.guidance_text is None else opts.guidance_text)
        self.decode_chunk = opts.decode_chunk or DEFAULT_DECODE_CHUNK
        self.size = tuple(opts.size or pipeline.config.working_size)
        self._context = None

    @property
    def device(self) -> torch.device:
        """Where the model runs."""
        return self.pipe._execution_device

    def context(self):
        """The encoded instruction and reference (computed once)."""
        if self._context is None:
            ref = None
            if self.options.reference is not None:
                arr = torch.from_numpy(np.ascontiguousarray(self.options.reference[..., :3], dtype=np.float32))
                ref = srgb_encode(arr.permute(2, 0, 1)).to(self.device)
            self._context = self.pipe.prepare_context(self.options.prompt, ref)
        return self._context

    def stream(self, width: int, height: int) -> "DiffusionStream":
        """A streaming render of a clip of ``width`` x ``height`` frames."""
        geometry = working_geometry(width, height, self.size, self.pipe.pixel_multiple)
        return DiffusionStream(self, geometry)

    def render(self, frames: torch.Tensor, disparity: torch.Tensor, focus: torch.Tensor, blur: torch.Tensor,
               look: Look | None = None, alpha: torch.Tensor | None = None) -> torch.Tensor:
        r"""Render a clip held in memory (the shared interface); see :meth:`stream` for long clips.

        ``look`` is not used: the bokeh's look comes from the reference image and the instruction.
        """
        check_inputs(frames, disparity, focus, blur, alpha)
        s = self.stream(frames.shape[-1], frames.shape[-2])
        parts = [s.push(frames, disparity, focus, blur), s.finish()]
        return torch.cat([p for p in parts if p.shape[0]]).to(frames.dtype)


class DiffusionStream:
    r"""Frames in as they are decoded, finished frames out in order (see :meth:`DiffusionRenderer.stream`)."""

    def __init__(self, renderer: DiffusionRenderer, geometry: Geometry) -> None:
        from bokehfx.diffusion.sampling import LatentWindowStream

        self.renderer = renderer
        self.geometry = geometry
        pipe = renderer.pipe
        self.latents = LatentWindowStream(
            pipe, renderer.context(), window=renderer.window, overlap=renderer.overlap,
            steps=renderer.options.steps, guidance_image=renderer.guidance[0], guidance_text=renderer.guidance[1],
            seed=renderer.options.seed, decode_chunk=renderer.decode_chunk)
        self.held: deque[tuple[torch.Tensor, torch.Tensor, float, float]] = deque()

    def _to_working(self, x: torch.Tensor) -> torch.Tensor:
        g = self.geometry
        x = F.interpolate(x, size=(g.work_height, g.work_width), mode="bilinear", align_corners=False,
                          antialias=True)
        return F.pad(x, (0, g.padded_width - g.work_width, 0, g.padded_height - g.work_height), mode="replicate")

    def push(self, frames: torch.Tensor, disparity: torch.Tensor, focus: torch.Tensor,
             blur: torch.Tensor) -> torch.Tensor:
        r"""Add ``(n, 3, H, W)`` linear frames with their disparity, F and K; return finished frames.

        Returns:
            `torch.Tensor`: ``(m, 3, H, W)`` float32 linear-light frames at source size (``m`` may be 0).
        """
        device = self.renderer.device
        for i in range(frames.shape[0]):
            self.held.append((frames[i], disparity[i], float(focus[i]), float(blur[i])))
        rgb = self._to_working(srgb_encode(frames.float().to(device)))
        disp = self._to_working(disparity.float().to(device))
        out = self.latents.push(rgb, disp, focus.float().to(device), blur.float().to(device) * self.geometry.scale)
        return self._composite(out)

    def finish(self) -> torch.Tensor:
        """End of the clip: every frame still held, finished."""
        return self._composite(self.latents.finish())

    def _composite(self, rendered: torch.Tensor) -> torch.Tensor:
        g = self.geometry
        if rendered.shape[0] == 0:
            return torch.zeros(0, 3, g.height, g.width)
        rendered = rendered[:, :, : g.work_height, : g.work_width]
        up = srgb_decode(F.interpolate(rendered.float(), size=(g.height, g.width), mode="bilinear",
                                       align_corners=False))
        out = []
        span = max(1.0 / g.scale, 1.0)
        for i in range(rendered.shape[0]):
            source, disp, focus, blur = self.held.popleft()
            source = source.float().to(up.device)
            coc = blur * (disp.float().to(up.device) - focus).abs()
            weight = ((coc - IN_FOCUS_COC_PX) / span).clamp(0.0, 1.0)
            out.append(source * (1 - weight) + up[i] * weight)
        return torch.stack(out).cpu()
