"""Focus conditioning of the diffusion renderer: what tells the model where to blur and how much.

Pure tensor functions, shared by the pipeline (inference) and by training:

- :func:`defocus_map`: the signed defocus ``K * (d - F)`` per pixel, divided by a fixed maximum so
  that the model sees the same scale for every clip (near defocus positive, far negative).
- :func:`focal_plane_masks`: multi-plane (MPI) masks that slice the scene by ``|d - F|`` with
  plane boundaries that crowd near the focal plane, where the eye notices errors first.
- :func:`focus_conditioning`: both, brought to latent size, ready to concatenate to the UNet input.
- :func:`blur_fourier_features`: the per-frame ``K`` as sine/cosine features for the K embedding.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: Exponent of the plane boundaries ``(i / planes) ** PLANE_SPACING_POWER`` on ``|d - F|``: 2 puts
#: a quarter of the planes within 0.06 of the focal plane.
PLANE_SPACING_POWER = 2.0


def defocus_map(disparity: torch.Tensor, focus: torch.Tensor, blur: torch.Tensor, max_blur: float) -> torch.Tensor:
    r"""Signed, normalised defocus ``clamp(K * (d - F) / max_blur, -1, 1)``.

    Args:
        disparity (`torch.Tensor`): ``(T, 1, H, W)`` normalised disparity (1 = nearest).
        focus (`torch.Tensor`): ``(T,)`` focal plane ``F`` per frame.
        blur (`torch.Tensor`): ``(T,)`` blur strength ``K`` per frame, in pixels of ``disparity``'s grid.
        max_blur (`float`): The CoC radius that maps to 1.

    Returns:
        `torch.Tensor`: ``(T, 1, H, W)`` in ``[-1, 1]``, dtype of ``disparity``.
    """
    f = focus.to(disparity).view(-1, 1, 1, 1)
    k = blur.to(disparity).view(-1, 1, 1, 1)
    return (k * (disparity - f) / max_blur).clamp(-1.0, 1.0)


def focal_plane_masks(disparity: torch.Tensor, focus: torch.Tensor, planes: int) -> torch.Tensor:
    r"""Multi-plane masks on the distance from the focal plane ``|d - F|``.

    Plane ``i`` holds the pixels with ``b_i <= |d - F| < b_{i+1}``, ``b_i = (i / planes) ** 2``
    (the last plane also holds ``|d - F| = 1``), so planes are thin near focus and wide far from it.

    Args:
        disparity (`torch.Tensor`): ``(T, 1, H, W)`` normalised disparity.
        focus (`torch.Tensor`): ``(T,)`` focal plane per frame.
        planes (`int`): Number of planes (0 gives an empty channel dimension).

    Returns:
        `torch.Tensor`: ``(T, planes, H, W)`` of 0/1 values; every pixel is in exactly one plane.
    """
    t, _, h, w = disparity.shape
    if planes == 0:
        return disparity.new_zeros((t, 0, h, w))
    distance = (disparity - focus.to(disparity).view(-1, 1, 1, 1)).abs().clamp(0.0, 1.0)
    edges = (torch.arange(planes + 1, device=disparity.device, dtype=disparity.dtype) / planes) ** PLANE_SPACING_POWER
    index = torch.bucketize(distance, edges[1:-1], right=True)
    return F.one_hot(index[:, 0], planes).permute(0, 3, 1, 2).to(disparity.dtype)


def focus_conditioning(disparity: torch.Tensor, focus: torch.Tensor, blur: torch.Tensor, *, size: tuple[int, int],
                       max_blur: float, defocus: bool = True, planes: int = 0) -> torch.Tensor:
    r"""The focus channels concatenated to the UNet input, at latent size.

    Args:
        disparity (`torch.Tensor`): ``(T, 1, H, W)`` normalised disparity at working size.
        focus (`torch.Tensor`): ``(T,)`` focal plane per frame.
        blur (`torch.Tensor`): ``(T,)`` K per frame in working-size pixels.
        size (`tuple[int, int]`): ``(h, w)`` of the latent.
        max_blur (`float`): Normalisation of the defocus map.
        defocus (`bool`, defaults to `True`): Include the signed defocus map (1 channel).
        planes (`int`, defaults to 0): Number of focal-plane masks.

    Returns:
        `torch.Tensor`: ``(T, int(defocus) + planes, h, w)``; masks become plane coverage fractions.
    """
    parts = []
    if defocus:
        parts.append(defocus_map(disparity, focus, blur, max_blur))
    parts.append(focal_plane_masks(disparity, focus, planes))
    maps = torch.cat(parts, dim=1)
    if maps.shape[1] == 0:
        return maps.new_zeros((maps.shape[0], 0, *size))
    return F.adaptive_avg_pool2d(maps, size) if maps.shape[-2] >= size[0] else F.interpolate(maps, size=size)


def blur_fourier_features(blur: torch.Tensor, frequencies: int, temperature: float) -> torch.Tensor:
    r"""Sine/cosine features of the blur strength: ``[sin(K w_j), cos(K w_j)]``, ``w_j = temperature^(-j/n)``.

    Args:
        blur (`torch.Tensor`): K values of any shape.
        frequencies (`int`): ``n``, the number of frequencies.
        temperature (`float`): Longest period scale (Any-to-Bokeh uses 16 frequencies, temperature 100).

    Returns:
        `torch.Tensor`: ``(*blur.shape, 2 * frequencies)``.
    """
    j = torch.arange(frequencies, device=blur.device, dtype=torch.float32)
    omega = temperature ** (-j / frequencies)
    angles = blur.float().unsqueeze(-1) * omega
    return torch.cat([angles.sin(), angles.cos()], dim=-1).to(blur.dtype if blur.is_floating_point() else torch.float32)
