"""The interface every bokehfx renderer implements, and the look settings they share.

A renderer turns a window of all-in-focus frames into defocused frames. It is a pure function of
tensors: it knows nothing of files, clips or the CLI.

Conventions (the contract between the pipeline and every engine):

- ``frames``: ``(T, 3, H, W)`` floating tensor in **linear light** (scene-referred; values above
  1.0 are legal and honoured, e.g. EXR highlights).
- ``disparity``: ``(T, 1, H, W)`` floating tensor, normalized to ``[0, 1]`` once per clip by the
  caller (0 = farthest point of the clip, 1 = nearest).
- ``focus``: ``(T,)`` focal plane ``F`` per frame, in the same disparity units.
- ``blur``: ``(T,)`` blur strength ``K`` per frame, in pixels.
- The circle-of-confusion radius of a pixel is ``r = K * |d - F|`` pixels; the sign of ``d - F``
  separates near (positive) from far (negative) defocus.
- The result has the shape, dtype and device of ``frames``. A frame with ``K == 0`` is returned
  unchanged, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

import numpy as np
import torch

from bokehfx.errors import UsageError

ApertureShape = Literal["disc", "polygon", "ring", "image"]
APERTURE_SHAPES: tuple[str, ...] = ("disc", "polygon", "ring", "image")


@dataclass(frozen=True)
class Look:
    r"""Aperture and highlight settings of a render (the "lens").

    Args:
        aperture (`str`, defaults to `"disc"`):
            Shape of the bokeh: `"disc"` (circular), `"polygon"` (``blades`` straight or curved
            blades), `"ring"` (catadioptric mirror lens: an annulus) or `"image"` (the user kernel
            ``kernel_image``).
        blades (`int`, defaults to 6):
            Number of aperture blades of the `"polygon"` shape (at least 3).
        roundness (`float`, defaults to 0.0):
            Blade curvature of the `"polygon"` shape, from 0 (straight blades, a regular polygon)
            to 1 (a disc).
        rotation (`float`, defaults to 0.0):
            Rotation of the aperture in degrees, counter-clockwise as seen on screen.
        anamorphic (`float`, defaults to 1.0):
            Aspect ratio height/width of the bokeh. The vertical radius is the CoC radius ``r``
            and the horizontal one ``r / anamorphic``: 2.0 gives the tall ovals of a 2x
            anamorphic lens, values below 1 give wide ovals.
        ring_inner (`float`, defaults to 0.6):
            Inner radius of the `"ring"` shape as a fraction of its outer radius, in ``[0, 1)``.
        cat_eye (`float`, defaults to 0.0):
            Optical vignetting toward the frame edge, in ``[0, 1]``. The aperture is intersected
            with a disc displaced radially by ``cat_eye * rho`` aperture radii, where ``rho`` is
            the distance from the frame centre (1 at the corners): bokeh turns into "cat's eyes"
            toward the corners. The cat's eye stays centred on the point and keeps unit energy
            (no darkening).
        kernel_image (`np.ndarray`, *optional*):
            User kernel for the `"image"` shape: a non-negative ``(h, w)`` or ``(h, w, c)`` array
            (channels are averaged). Its longer side spans the bokeh diameter.
        highlight_threshold (`float`, defaults to 1.0):
            Linear-light luminance above which pixels are boosted before blurring.
        highlight_gain (`float`, defaults to 0.0):
            Gain on the luminance above ``highlight_threshold``: ``L' = L + gain * max(0, L -
            threshold)``. 0 disables the boost. It only applies to defocused pixels, ramping in
            over the first ``highlight_ramp_px`` pixels of CoC, so in-focus pixels stay exact.
        highlight_ramp_px (`float`, defaults to 2.0):
            CoC radius in pixels over which the highlight boost ramps from 0 to full.
        max_blur (`float`, *optional*):
            Cap on the CoC radius in pixels (``None``: no cap).
    """

    aperture: ApertureShape = "disc"
    blades: int = 6
    roundness: float = 0.0
    rotation: float = 0.0
    anamorphic: float = 1.0
    ring_inner: float = 0.6
    cat_eye: float = 0.0
    kernel_image: np.ndarray | None = None
    highlight_threshold: float = 1.0
    highlight_gain: float = 0.0
    highlight_ramp_px: float = 2.0
    max_blur: float | None = None

    def __post_init__(self) -> None:
        if self.aperture not in APERTURE_SHAPES:
            raise UsageError(f"aperture must be one of {', '.join(APERTURE_SHAPES)}, got {self.aperture!r}")
        if int(self.blades) != self.blades or self.blades < 3:
            raise UsageError(f"blades must be an integer >= 3, got {self.blades!r}")
        if not 0.0 <= self.roundness <= 1.0:
            raise UsageError(f"roundness must be in [0, 1], got {self.roundness!r}")
        if not np.isfinite(self.rotation):
            raise UsageError(f"rotation must be a finite number of degrees, got {self.rotation!r}")
        if not (np.isfinite(self.anamorphic) and self.anamorphic > 0):
            raise UsageError(f"anamorphic must be a positive ratio, got {self.anamorphic!r}")
        if not 0.0 <= self.ring_inner < 1.0:
            raise UsageError(f"ring_inner must be in [0, 1), got {self.ring_inner!r}")
        if not 0.0 <= self.cat_eye <= 1.0:
            raise UsageError(f"cat_eye must be in [0, 1], got {self.cat_eye!r}")
        if self.aperture == "image":
            kernel = self.kernel_image
            if kernel is None:
                raise UsageError("kernel_image is required when aperture is 'image', got None")
            kernel = np.asarray(kernel)
            if kernel.ndim not in (2, 3) or kernel.size == 0:
                raise UsageError(f"kernel_image must be an (h, w) or (h, w, c) array, got shape {kernel.shape}")
            if not np.all(np.isfinite(kernel)) or kernel.min() < 0 or kernel.max() <= 0:
                raise UsageError("kernel_image must be finite, non-negative and not all zero")
        if self.highlight_gain < 0 or not np.isfinite(self.highlight_gain):
            raise UsageError(f"highlight_gain must be >= 0, got {self.highlight_gain!r}")
        if not np.isfinite(self.highlight_threshold):
            raise UsageError(f"highlight_threshold must be finite, got {self.highlight_threshold!r}")
        if not self.highlight_ramp_px > 0:
            raise UsageError(f"highlight_ramp_px must be > 0, got {self.highlight_ramp_px!r}")
        if self.max_blur is not None and not self.max_blur >= 0:
            raise UsageError(f"max_blur must be >= 0 or None, got {self.max_blur!r}")


@runtime_checkable
class Renderer(Protocol):
    """What every renderer engine (physical, diffusion, ...) provides."""

    def render(
        self,
        frames: torch.Tensor,
        disparity: torch.Tensor,
        focus: torch.Tensor,
        blur: torch.Tensor,
        look: Look,
        alpha: torch.Tensor | None = None,
    ) -> torch.Tensor:
        r"""Render depth of field for a window of frames.

        Args:
            frames (`torch.Tensor`): ``(T, 3, H, W)`` linear-light frames.
            disparity (`torch.Tensor`): ``(T, 1, H, W)`` disparity normalized per clip to ``[0, 1]``.
            focus (`torch.Tensor`): ``(T,)`` focal plane per frame (disparity units).
            blur (`torch.Tensor`): ``(T,)`` blur strength ``K`` per frame (pixels).
            look (`Look`): aperture and highlight settings.
            alpha (`torch.Tensor`, *optional*): ``(T, 1, H, W)`` coverage of ``frames``.

        Returns:
            `torch.Tensor`: ``(T, 3, H, W)`` rendered frames, same dtype and device as ``frames``.
        """
        ...


def check_inputs(
    frames: torch.Tensor,
    disparity: torch.Tensor,
    focus: torch.Tensor,
    blur: torch.Tensor,
    alpha: torch.Tensor | None = None,
) -> None:
    """Validate the renderer contract; raise :class:`UsageError` naming the bad argument."""
    if not isinstance(frames, torch.Tensor) or frames.ndim != 4 or frames.shape[1] != 3:
        raise UsageError(f"frames must be a (T, 3, H, W) tensor, got {_shape(frames)}")
    if not frames.is_floating_point():
        raise UsageError(f"frames must be floating point (linear light), got {frames.dtype}")
    t, _, h, w = frames.shape
    if not isinstance(disparity, torch.Tensor) or tuple(disparity.shape) != (t, 1, h, w):
        raise UsageError(f"disparity must be a ({t}, 1, {h}, {w}) tensor, got {_shape(disparity)}")
    for name, value in (("focus", focus), ("blur", blur)):
        if not isinstance(value, torch.Tensor) or tuple(value.shape) != (t,):
            raise UsageError(f"{name} must be a ({t},) tensor, got {_shape(value)}")
        if not bool(torch.isfinite(value).all()):
            raise UsageError(f"{name} must be finite, got {value.tolist()}")
    if bool((blur < 0).any()):
        raise UsageError(f"blur must be >= 0, got {blur.tolist()}")
    if alpha is not None and (not isinstance(alpha, torch.Tensor) or tuple(alpha.shape) != (t, 1, h, w)):
        raise UsageError(f"alpha must be a ({t}, 1, {h}, {w}) tensor or None, got {_shape(alpha)}")


def _shape(value: object) -> str:
    if isinstance(value, torch.Tensor):
        return f"shape {tuple(value.shape)}"
    return f"{type(value).__name__}"
