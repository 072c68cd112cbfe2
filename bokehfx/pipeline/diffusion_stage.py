"""Depth of field by the diffusion renderer, as a windowed stage of a render job.

:class:`DiffusionDofStage` reads depth and evaluates the focus plan exactly as
:class:`~bokehfx.pipeline.dof.DepthOfFieldStage` does, but its engine needs frames ahead (a frame
is finished only when no later window covers it), so it is a windowed renderer for
:func:`~bokehfx.pipeline.job.run_render`: :meth:`push` takes decoded frames and returns the
frames that are finished, :meth:`finish` returns the rest. It holds one window plus its stride.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from bokehfx.errors import UsageError
from bokehfx.io.source import Frame
from bokehfx.pipeline.dof import DepthOfFieldStage
from bokehfx.renderers.base import Look

Ready = list[tuple[Frame, np.ndarray, "np.ndarray | None"]]


class DiffusionDofStage(DepthOfFieldStage):
    """Decoded frames in, finished (frame, picture, alpha) out; the engine is a :class:`DiffusionRenderer`.

    Takes the arguments of :class:`~bokehfx.pipeline.dof.DepthOfFieldStage`; only the beauty view exists.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.view.value != "beauty":
            raise UsageError(f"--view {self.view.value} is a view of the physical renderer; "
                             "the diffusion renderer writes the picture (beauty) only")
        if self.look.kernel_image is not None or self.look != Look():
            raise UsageError("the aperture and highlight options (--aperture, --blades, --anamorphic, ...) shape "
                             "the physical renderer's bokeh; the diffusion renderer's look comes from --ref and "
                             "--prompt: drop them or use --renderer physical")
        self.batch_frames = None  # windows of frames: the job's batches are pushed as they come
        self.pending: deque[Frame] = deque()
        self.stream = None

    def push(self, frames: Sequence[Frame]) -> Ready:
        """Add decoded frames; return those now finished, in order."""
        if not frames:
            return []
        disparity = [self._advance(frame) for frame in frames]
        n = len(frames)
        if self.stream is None:
            height, width = frames[0].image.shape[:2]
            self.stream = self.engine.stream(width, height)
        rgb = torch.from_numpy(np.stack([f.image for f in frames])).permute(0, 3, 1, 2)
        disp_t = torch.from_numpy(np.stack(disparity)).unsqueeze(1)
        f = torch.tensor(self.focus[-n:], dtype=torch.float32)
        k = torch.tensor(self.blur[-n:], dtype=torch.float32)
        self.pending.extend(frames)
        return self._ready(self.stream.push(rgb, disp_t, f, k))

    def finish(self) -> Ready:
        """End of the clip: every frame still held."""
        if self.stream is None:
            return []
        return self._ready(self.stream.finish())

    def _ready(self, rendered: torch.Tensor) -> Ready:
        pictures = rendered.permute(0, 2, 3, 1).numpy()
        out = []
        for i in range(pictures.shape[0]):
            frame = self.pending.popleft()
            out.append((frame, np.ascontiguousarray(pictures[i]), frame.alpha))
        return out


@dataclass
class DiffusionRequest:
    """The diffusion renderer as asked for: which model, and the render's options.

    Args:
        model (`str`): Model folder or hub id.
        options (`DiffusionOptions`): Instruction, reference, steps, windows, seed, guidance, size.
        offload (`bool`, defaults to `False`): Keep components on the CPU until each is used.
    """

    model: str
    options: Any = None
    offload: bool = False


def diffusion_engine(request: DiffusionRequest, device: str, dtype: str | None):
    """Load the model and wrap it as a :class:`~bokehfx.renderers.diffusion.DiffusionRenderer`."""
    from bokehfx.diffusion.loading import load_pipeline
    from bokehfx.renderers.diffusion import DiffusionOptions, DiffusionRenderer

    dtypes = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32, None: torch.float32}
    if dtype not in dtypes:
        raise UsageError(f"--dtype {dtype!r} is not one of fp32, fp16, bf16")
    pipe = load_pipeline(request.model, device="cpu" if request.offload else device, dtype=dtypes[dtype])
    if request.offload:
        if not device.startswith("cuda"):
            raise UsageError("model CPU offload moves each part to the GPU when it runs: it needs --device cuda")
        pipe.enable_model_cpu_offload(device=device)
    return DiffusionRenderer(pipe, request.options or DiffusionOptions())
