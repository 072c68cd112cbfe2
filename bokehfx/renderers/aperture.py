"""Aperture kernels: the shape a defocused point of light takes on the sensor.

Kernels are rasterised with anti-aliasing (box-filtered supersampling), are non-negative and sum
to one, so blurring with them conserves energy. A kernel of radius ``r`` has its vertical radius
equal to ``r`` pixels (its horizontal radius is ``r / look.anamorphic``).
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import torch
import torch.nn.functional as F

from bokehfx.errors import UsageError
from bokehfx.renderers.base import Look

#: Subsamples per pixel side used to anti-alias kernel edges.
KERNEL_SUPERSAMPLE = 4

#: Extra margin in pixels around the nominal radius so anti-aliased edges are never cropped.
KERNEL_MARGIN_PX = 1


def aperture_kernel(
    radius: float,
    look: Look,
    position: tuple[float, float] = (0.0, 0.0),
    supersample: int = KERNEL_SUPERSAMPLE,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    r"""Rasterise the aperture of ``look`` at a circle-of-confusion radius.

    Args:
        radius (`float`):
            CoC radius in pixels (vertical radius of the kernel). ``radius < 0.5`` gives the
            identity kernel ``[[1]]``.
        look (`Look`):
            Aperture settings (shape, blades, roundness, rotation, anamorphic ratio, ring, cat-eye,
            user kernel image).
        position (`tuple[float, float]`, defaults to `(0.0, 0.0)`):
            Where on the frame the kernel applies, ``(x, y)`` with x to the right and y down,
            scaled so the frame corners have length 1. Only the cat-eye vignetting depends on it.
        supersample (`int`, defaults to `KERNEL_SUPERSAMPLE`):
            Subsamples per pixel side for anti-aliasing.
        device (`torch.device` or `str`, defaults to `"cpu"`):
            Device of the returned kernel.
        dtype (`torch.dtype`, defaults to `torch.float32`):
            Dtype of the returned kernel.

    Returns:
        `torch.Tensor`: ``(kh, kw)`` kernel with odd sides, centred, summing to 1.
    """
    if not math.isfinite(radius) or radius < 0:
        raise UsageError(f"radius must be a finite number >= 0, got {radius!r}")
    if supersample < 1:
        raise UsageError(f"supersample must be >= 1, got {supersample!r}")
    identity = torch.ones((1, 1), device=device, dtype=dtype)
    if radius < 0.5:
        return identity
    half_y = int(math.ceil(radius)) + KERNEL_MARGIN_PX
    half_x = int(math.ceil(radius / look.anamorphic)) + KERNEL_MARGIN_PX
    sub = (torch.arange(supersample, dtype=torch.float64) + 0.5) / supersample - 0.5
    xs = (torch.arange(-half_x, half_x + 1, dtype=torch.float64)[:, None] + sub[None, :]).reshape(-1)
    ys = (torch.arange(-half_y, half_y + 1, dtype=torch.float64)[:, None] + sub[None, :]).reshape(-1)
    y, x = torch.meshgrid(ys, xs, indexing="ij")
    # Normalised aperture coordinates: unit circle = CoC; v points up on screen.
    u = x * look.anamorphic / radius
    v = -y / radius
    if look.cat_eye > 0:
        # Optical vignetting: the aperture seen through the lens barrel, a disc displaced radially
        # by cat_eye * rho radii. The intersection is re-centred (each shifted by half) so the
        # bokeh keeps its place and interpolated kernels keep unit coverage.
        px, py = position
        cu, cv = 0.5 * look.cat_eye * px, -0.5 * look.cat_eye * py
        mask = aperture_mask(u + cu, v + cv, look) * ((u - cu) ** 2 + (v - cv) ** 2 <= 1.0).to(u.dtype)
    else:
        mask = aperture_mask(u, v, look)
    coverage = F.avg_pool2d(mask[None, None], supersample)[0, 0]
    total = coverage.sum()
    if float(total) <= 0:
        return identity
    return (coverage / total).to(device=device, dtype=dtype)


def aperture_mask(u: torch.Tensor, v: torch.Tensor, look: Look) -> torch.Tensor:
    r"""Evaluate the aperture transmission at normalised coordinates.

    Args:
        u (`torch.Tensor`): horizontal aperture coordinate (unit circle = aperture rim).
        v (`torch.Tensor`): vertical aperture coordinate, pointing up.
        look (`Look`): aperture settings (``rotation`` is applied here).

    Returns:
        `torch.Tensor`: transmission in ``[0, 1]`` (0/1 except for the `"image"` shape).
    """
    theta = math.radians(look.rotation)
    qu = math.cos(theta) * u + math.sin(theta) * v
    qv = -math.sin(theta) * u + math.cos(theta) * v
    rho = torch.sqrt(qu**2 + qv**2)
    if look.aperture == "disc":
        return (rho <= 1.0).to(u.dtype)
    if look.aperture == "ring":
        return ((rho <= 1.0) & (rho >= look.ring_inner)).to(u.dtype)
    if look.aperture == "polygon":
        n = int(look.blades)
        sector = 2 * math.pi / n
        phi = torch.atan2(qv, qu)
        local = torch.remainder(phi, sector) - sector / 2
        edge = math.cos(math.pi / n) / torch.cos(local)
        limit = (1.0 - look.roundness) * edge + look.roundness
        return (rho <= limit).to(u.dtype)
    return _image_mask(qu, qv, look.kernel_image)


def _image_mask(qu: torch.Tensor, qv: torch.Tensor, kernel_image: np.ndarray | None) -> torch.Tensor:
    image = np.asarray(kernel_image, dtype=np.float64)
    if image.ndim == 3:
        image = image.mean(axis=2)
    h, w = image.shape
    longest = max(h, w)
    grid = torch.stack((qu * longest / w, -qv * longest / h), dim=-1)[None].to(torch.float64)
    source = torch.from_numpy(np.ascontiguousarray(image))[None, None]
    sampled = F.grid_sample(source, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return sampled[0, 0].clamp_min(0.0)


def aperture_key(look: Look) -> tuple:
    """What the kernels of ``look`` depend on, as a hashable key (its user kernel by content)."""
    image = None
    if look.kernel_image is not None:
        array = np.ascontiguousarray(look.kernel_image)
        image = (array.shape, str(array.dtype), hashlib.blake2b(array.tobytes(), digest_size=16).hexdigest())
    return (look.aperture, look.blades, look.roundness, look.rotation, look.anamorphic, look.ring_inner, look.cat_eye, image)
