"""Where the all-in-focus windows of training pairs come from.

Each source gives, for a random draw, a window of ``T`` consecutive all-in-focus frames in linear
light, their normalized disparity (0 farthest, 1 nearest) and the id of the scene they show:

- :class:`ProceduralSource`: the layered procedural scenes of ``bokehfx demo``
  (:func:`bokehfx.scenes.make_scene`), made on the fly at the training size: exact depth,
  moving layers, point lights far above 1.0 that bloom into bokeh.
- :class:`ClipSource`: a real clip with depth, from a sidecar (an RGB-D capture, rendered depth)
  or from the depth cache that ``bokehfx render`` fills when it estimates depth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Protocol

import torch

from bokehfx.errors import UsageError
from bokehfx.scenes import make_scene

#: Disparity spread below which a window is treated as flat (kept as it is, not stretched).
FLAT_SPREAD = 1e-6


@dataclass(frozen=True)
class Window:
    r"""A window of all-in-focus frames with depth.

    Args:
        frames (`torch.Tensor`): ``(T, 3, H, W)`` linear light.
        disparity (`torch.Tensor`): ``(T, 1, H, W)`` normalized disparity.
        scene (`str`): the scene's id (a procedural seed or a clip and frame).
        cropped (`bool`): whether the window still needs a crop to the training size.
    """

    frames: torch.Tensor
    disparity: torch.Tensor
    scene: str
    cropped: bool = False


class WindowSource(Protocol):
    """What the pair synthesiser draws windows from."""

    name: str

    def window(self, generator: torch.Generator, frames: int, size: tuple[int, int]) -> Window:
        """A random window of ``frames`` frames; at ``size`` when the source makes its own pictures."""
        ...


def _draw_int(generator: torch.Generator, low_high: tuple[int, int]) -> int:
    low, high = low_high
    return int(torch.randint(low, high + 1, (), generator=generator))


def normalize_window(disparity: torch.Tensor) -> torch.Tensor:
    """Stretch a generated window's disparity to [0, 1] (its farthest point 0, its nearest 1)."""
    low, high = float(disparity.min()), float(disparity.max())
    if high - low < FLAT_SPREAD:
        return disparity.clamp(0.0, 1.0)
    return (disparity - low) / (high - low)


@dataclass
class ProceduralSource:
    r"""Procedural layered scenes (see :func:`bokehfx.scenes.make_scene`).

    Args:
        layers (`tuple[int, int]`): range of planes per scene (inclusive; at least 2 gives depth).
        lights (`tuple[int, int]`): range of point lights on the backdrop.
        speed (`tuple[float, float]`): range of the shapes' speed, pixels per frame at 256 pixels
            of frame height (scaled with the training size).
        name (`str`): label in logs.
    """

    layers: tuple[int, int] = (3, 5)
    lights: tuple[int, int] = (4, 24)
    speed: tuple[float, float] = (0.0, 2.0)
    name: str = "procedural"

    #: Frame height at which ``speed`` is given in pixels.
    SPEED_REFERENCE_HEIGHT = 256

    def scene_window(self, seed: int, frames: int, size: tuple[int, int]) -> Window:
        """The window of scene ``seed``: its layers, lights and speed follow from the seed alone."""
        h, w = size
        gen = torch.Generator().manual_seed(seed)
        low, high = self.speed
        speed = (low + (high - low) * float(torch.rand((), generator=gen))) * h / self.SPEED_REFERENCE_HEIGHT
        scene = make_scene(h, w, frames=frames, layers=_draw_int(gen, self.layers), speed_px=speed,
                           lights=_draw_int(gen, self.lights), seed=seed)
        images, disparity = scene.composite()
        return Window(images, normalize_window(disparity), f"procedural:{seed}")

    def draw_seed(self, generator: torch.Generator) -> int:
        """A scene seed."""
        return int(torch.randint(0, 2**31 - 1, (), generator=generator))

    def window(self, generator: torch.Generator, frames: int, size: tuple[int, int]) -> Window:
        """A new random scene's window at ``size``."""
        return self.scene_window(self.draw_seed(generator), frames, size)


@dataclass
class ClipSource:
    r"""A real clip and its depth.

    Args:
        video (`Path`): the clip (video, still or ``%0Nd`` sequence).
        depth (`SidecarWindows` or `DepthCacheEntry`): its depth (see :mod:`bokehfx.training.depth_windows`).
        fps (`Fraction`, *optional*): rate of an image sequence.
        name (`str`): label in logs.
    """

    video: Path
    depth: object
    fps: Fraction | None = None
    name: str = "clip"
    _frames: int = field(default=0, init=False)
    _size: tuple[int, int] = field(default=(0, 0), init=False)

    def __post_init__(self) -> None:
        from bokehfx.io.probe import probe

        info = probe(self.video, fps=self.fps, exact_count=True)
        self._frames = int(info.video.frame_count or 1)
        self._size = (info.video.height, info.video.width)

    @property
    def frame_count(self) -> int:
        """Frames in the clip."""
        return self._frames

    def window(self, generator: torch.Generator, frames: int, size: tuple[int, int]) -> Window:
        """A random window of the clip at its own size (the synthesiser crops it to ``size``)."""
        from bokehfx.io.pairs import read_clip_window
        from bokehfx.training.depth_windows import read_depth_window

        if self._frames < frames and self._frames > 1:
            raise UsageError(f"clip {str(self.video)!r} has {self._frames} frames, fewer than the {frames} of a "
                             "training window")
        start = int(torch.randint(0, max(1, self._frames - frames + 1), (), generator=generator))
        images = read_clip_window(self.video, start, frames, self.fps)
        disparity = read_depth_window(self.depth, start, frames, self._size)  # type: ignore[arg-type]
        return Window(images, disparity, f"clip:{self.video}:{start}", cropped=True)


__all__ = ["ClipSource", "ProceduralSource", "Window", "WindowSource", "normalize_window"]
