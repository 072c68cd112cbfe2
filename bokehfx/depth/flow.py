"""Optional flow-guided temporal smoothing of disparity (OpenCV Farneback optical flow).

After window alignment, a little per-pixel noise can remain from frame to frame. This filter
blends each map with the previous *smoothed* map warped along the optical flow from the current
frame to the previous one (a motion-compensated exponential moving average)::

    out_t = (1 - a) * d_t + a * warp(out_{t-1}),   a = strength * trust

``trust`` is 1 where the warped previous frame matches the current frame photometrically and
falls to 0 where it does not (occlusions, flow errors), so moving edges are not smeared. The
flow is computed on a downscaled luma image (``max_side``) for speed and scaled back up.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from bokehfx.colour import linear_to_srgb
from bokehfx.errors import UsageError

DEFAULT_FLOW_MAX_SIDE = 512
"""Longest side (pixels) of the images the flow is computed on."""
PHOTOMETRIC_TOLERANCE = 0.06
"""Luma difference (display-encoded, 0..1) at which a warped pixel stops being trusted."""
FARNEBACK_PARAMS = {
    "pyr_scale": 0.5,
    "levels": 4,
    "winsize": 15,
    "iterations": 3,
    "poly_n": 5,
    "poly_sigma": 1.2,
    "flags": 0,
}
"""OpenCV's recommended Farneback settings (``cv2.calcOpticalFlowFarneback``)."""

LUMA_WEIGHTS = (0.2126, 0.7152, 0.0722)
"""Rec. 709 luma weights, applied to display-encoded RGB for the flow's grey images."""


def flow_luma(frame: np.ndarray | torch.Tensor, linear: bool = True) -> np.ndarray:
    """Display-encoded luma ``(H, W)`` float32 in ``[0, 1]`` of a ``(3, H, W)`` RGB frame."""
    t = frame if isinstance(frame, torch.Tensor) else torch.from_numpy(np.asarray(frame, dtype=np.float32))
    t = t.detach().float().cpu()
    if t.ndim != 3 or t.shape[0] != 3:
        raise UsageError(f"frame must have shape (3, H, W), got {tuple(t.shape)}")
    t = linear_to_srgb(t) if linear else t.clamp(0.0, 1.0)
    w = torch.tensor(LUMA_WEIGHTS).view(3, 1, 1)
    return (t * w).sum(0).numpy()


def backward_flow(current: np.ndarray, previous: np.ndarray, max_side: int = DEFAULT_FLOW_MAX_SIDE) -> np.ndarray:
    """Flow ``(H, W, 2)`` (x, y pixels) such that ``current[y, x] ~ previous[y + fy, x + fx]``."""
    import cv2

    h, w = current.shape
    scale = min(1.0, max_side / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))

    def prep(img: np.ndarray) -> np.ndarray:
        img8 = np.clip(img * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return cv2.resize(img8, size, interpolation=cv2.INTER_AREA) if scale < 1.0 else img8

    flow = cv2.calcOpticalFlowFarneback(prep(current), prep(previous), None, **FARNEBACK_PARAMS)
    if scale < 1.0:
        flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
        flow[..., 0] *= w / size[0]
        flow[..., 1] *= h / size[1]
    return flow


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Sample ``image`` at ``(x + fx, y + fy)`` (bilinear, edges replicated)."""
    import cv2

    h, w = image.shape
    grid_x, grid_y = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    map_x = grid_x + flow[..., 0].astype(np.float32)
    map_y = grid_y + flow[..., 1].astype(np.float32)
    return cv2.remap(image.astype(np.float32), map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


@dataclass
class FlowSmoother:
    """Streaming motion-compensated smoothing; feed frames and their maps in order.

    Args:
        strength (`float`, defaults to 0.5): Weight of the warped history where it is trusted,
            in ``[0, 1)``; 0 passes maps through unchanged.
        max_side (`int`, defaults to 512): Flow resolution limit.
        tolerance (`float`, defaults to 0.06): Photometric tolerance of a trusted warp.
        linear (`bool`, defaults to `True`): Frames are linear light (else display-encoded).
    """

    strength: float = 0.5
    max_side: int = DEFAULT_FLOW_MAX_SIDE
    tolerance: float = PHOTOMETRIC_TOLERANCE
    linear: bool = True
    _prev_luma: np.ndarray | None = field(default=None, init=False, repr=False)
    _prev_out: np.ndarray | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.strength < 1.0:
            raise UsageError(f"strength must be in [0, 1), got {self.strength!r}")
        if self.max_side < 8:
            raise UsageError(f"max_side must be at least 8 pixels, got {self.max_side!r}")
        if not self.tolerance > 0:
            raise UsageError(f"tolerance must be positive, got {self.tolerance!r}")

    def push(self, frame: np.ndarray | torch.Tensor, disparity: np.ndarray) -> np.ndarray:
        """Smoothed map ``(H, W)`` float32 for the next frame ``(3, H, W)`` and its map."""
        disparity = np.asarray(disparity, dtype=np.float32)
        if self.strength == 0.0:
            return disparity
        luma = flow_luma(frame, self.linear)
        if luma.shape != disparity.shape:
            raise UsageError(f"disparity must match the frame size {luma.shape}, got {disparity.shape}")
        if self._prev_luma is None or self._prev_luma.shape != luma.shape:
            out = disparity
        else:
            flow = backward_flow(luma, self._prev_luma, self.max_side)
            warped_luma = warp(self._prev_luma, flow)
            trust = np.clip(1.0 - np.abs(warped_luma - luma) / self.tolerance, 0.0, 1.0)
            a = (self.strength * trust).astype(np.float32)
            out = (1.0 - a) * disparity + a * warp(self._prev_out, flow)
        self._prev_luma, self._prev_out = luma, out
        return out


__all__ = ["DEFAULT_FLOW_MAX_SIDE", "FlowSmoother", "backward_flow", "flow_luma", "warp"]
