"""sRGB transfer functions (IEC 61966-2-1) on tensors: model inputs, previews, tests from sRGB images.

The I/O layer has its own numpy curves for every tagged transfer (:mod:`bokehfx.io.colour`)."""

from __future__ import annotations

import torch

#: Linear-light value below which the sRGB curve is linear.
SRGB_LINEAR_CUTOFF = 0.0031308
#: Encoded value below which the sRGB curve is linear.
SRGB_ENCODED_CUTOFF = 0.04045


def srgb_to_linear(x: torch.Tensor) -> torch.Tensor:
    """Decode sRGB-encoded values in ``[0, 1]`` to linear light (negative inputs are clamped to 0)."""
    x = x.clamp_min(0.0)
    return torch.where(x <= SRGB_ENCODED_CUTOFF, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(x: torch.Tensor) -> torch.Tensor:
    """Encode linear light to sRGB (values are clamped to ``[0, 1]`` first, as a display would)."""
    x = x.clamp(0.0, 1.0)
    return torch.where(x <= SRGB_LINEAR_CUTOFF, x * 12.92, 1.055 * x ** (1 / 2.4) - 0.055)
