"""Procedural layered scenes and a Monte-Carlo thin-lens reference renderer.

A :class:`LayeredScene` is a stack of fronto-parallel RGBA planes, each at one disparity, that
may move from frame to frame. It gives an all-in-focus clip with an exact disparity map (what
bokehfx renders from) and, through :func:`ray_trace`, the ground-truth defocused clip of the same
scene including what is hidden behind foreground edges. Tests, benchmarks and ``bokehfx demo``
build their material here, offline and deterministically.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from bokehfx.errors import UsageError
from bokehfx.renderers.aperture import aperture_mask
from bokehfx.renderers.base import Look

#: Alpha at and above which a layer owns a pixel of the composited disparity map.
DISPARITY_ALPHA_CUTOFF = 0.5

#: Linear-light peak value of the procedural point lights (bright enough to bloom into bokeh).
POINT_LIGHT_PEAK = 12.0

#: Standard deviation of a point light's Gaussian profile, in pixels.
POINT_LIGHT_SIGMA_PX = 0.7

#: Disparity of the nearest shape (the backdrop is at 0).
NEAREST_DISPARITY = 0.9

#: Speed of the backdrop relative to the shapes (parallax: far things move less).
BACKDROP_SPEED_RATIO = 0.25

#: Range of spatial frequencies of the texture waves, in cycles per pixel.
TEXTURE_FREQUENCIES = (0.02, 0.14)

#: Peak amplitude of the texture waves around the base colour (display values).
TEXTURE_AMPLITUDE = 0.5

#: Display gamma used to turn the procedural display-referred textures into linear light.
TEXTURE_GAMMA = 2.2

#: Shape size range as a fraction of the shorter frame side (radius, or half-width of a box).
SHAPE_SIZE_RANGE = (0.15, 0.27)

#: Range of the backdrop's base colour (display values; darker, so lights stand out).
BACKDROP_COLOUR_RANGE = (0.2, 0.5)

#: Range of the shapes' base colours (display values).
SHAPE_COLOUR_RANGE = (0.3, 0.9)

#: Where shape centres are placed, as fractions of the frame width and height.
SHAPE_CENTRE_X_RANGE = (0.2, 0.8)
SHAPE_CENTRE_Y_RANGE = (0.25, 0.75)

#: Rounded boxes: height relative to width, and corner radius relative to the half-width.
BOX_ASPECT = 0.7
BOX_CORNER = 0.25


def _uniform(low_high: tuple[float, float], generator: torch.Generator, n: int = 1) -> torch.Tensor:
    low, high = low_high
    return low + (high - low) * torch.rand(n, generator=generator)


@dataclass
class LayeredScene:
    r"""A stack of RGBA planes, far to near.

    Args:
        rgb (`torch.Tensor`): ``(T, L, 3, H, W)`` straight (non-premultiplied) linear colour.
        alpha (`torch.Tensor`): ``(T, L, 1, H, W)`` coverage in ``[0, 1]``.
        disparity (`torch.Tensor`): ``(L,)`` disparity of each plane in ``[0, 1]``, ascending
            (index 0 is the farthest plane).
    """

    rgb: torch.Tensor
    alpha: torch.Tensor
    disparity: torch.Tensor

    def composite(self) -> tuple[torch.Tensor, torch.Tensor]:
        r"""All-in-focus frames and their disparity map.

        Returns:
            `tuple[torch.Tensor, torch.Tensor]`: frames ``(T, 3, H, W)`` (planes composited with
            "over", back to front) and disparity ``(T, 1, H, W)`` (the disparity of the nearest
            plane whose alpha reaches ``DISPARITY_ALPHA_CUTOFF``; the farthest plane elsewhere).
        """
        frames = torch.zeros_like(self.rgb[:, 0])
        disparity = torch.full_like(self.alpha[:, 0], float(self.disparity[0]))
        for i in range(self.rgb.shape[1]):
            a = self.alpha[:, i]
            frames = a * self.rgb[:, i] + (1.0 - a) * frames
            disparity = torch.where(a >= DISPARITY_ALPHA_CUTOFF, torch.full_like(a, float(self.disparity[i])), disparity)
        return frames, disparity


def _texture(x: torch.Tensor, y: torch.Tensor, generator: torch.Generator, base: torch.Tensor, waves: int = 6) -> torch.Tensor:
    """Band-limited random texture (sum of oriented sinusoids) around a base colour, ``(3, H, W)``."""
    out = base.view(3, 1, 1).expand(3, *x.shape).clone()
    low, high = TEXTURE_FREQUENCIES
    for _ in range(waves):
        freq = low + (high - low) * torch.rand(1, generator=generator).item()
        angle = math.pi * torch.rand(1, generator=generator).item()
        phase = 2 * math.pi * torch.rand(1, generator=generator).item()
        amp = TEXTURE_AMPLITUDE * torch.rand(3, generator=generator) / waves
        wave = torch.sin(2 * math.pi * freq * (math.cos(angle) * x + math.sin(angle) * y) + phase)
        out = out + amp.view(3, 1, 1) * wave
    return out.clamp(0.0, 1.0) ** TEXTURE_GAMMA


def make_scene(
    height: int,
    width: int,
    frames: int = 1,
    layers: int = 3,
    speed_px: float = 1.0,
    lights: int = 12,
    seed: int = 0,
) -> LayeredScene:
    r"""Build a procedural RGB-D scene: a textured backdrop with point lights and moving shapes.

    Args:
        height (`int`): frame height in pixels (>= 16).
        width (`int`): frame width in pixels (>= 16).
        frames (`int`, defaults to 1): number of frames.
        layers (`int`, defaults to 3): number of planes (>= 1): a full-frame backdrop at disparity
            0 and ``layers - 1`` textured shapes (discs and rounded boxes) at increasing
            disparities up to ``NEAREST_DISPARITY``.
        speed_px (`float`, defaults to 1.0): horizontal speed of the shapes in pixels per frame
            (alternating direction; the backdrop drifts at ``BACKDROP_SPEED_RATIO`` of it).
        lights (`int`, defaults to 12): number of point lights on the backdrop (linear peak
            ``POINT_LIGHT_PEAK``, well above 1.0).
        seed (`int`, defaults to 0): random seed; the same arguments give the same scene.

    Returns:
        `LayeredScene`: planes in linear light with anti-aliased alpha, moved with sub-pixel
        accuracy (the textures are analytic, not resampled).
    """
    if height < 16 or width < 16:
        raise UsageError(f"height and width must be >= 16, got {height}x{width}")
    if frames < 1 or layers < 1 or lights < 0:
        raise UsageError(f"frames and layers must be >= 1 and lights >= 0, got {frames}, {layers}, {lights}")
    gen = torch.Generator().manual_seed(seed)
    ys = torch.arange(height, dtype=torch.float32).view(height, 1).expand(height, width)
    xs = torch.arange(width, dtype=torch.float32).view(1, width).expand(height, width)
    rgb = torch.zeros(frames, layers, 3, height, width)
    alpha = torch.zeros(frames, layers, 1, height, width)
    disparity = torch.linspace(0.0, NEAREST_DISPARITY, layers) if layers > 1 else torch.zeros(1)
    light_xy = torch.rand(lights, 2, generator=gen) * torch.tensor([width, height])
    back_base = _uniform(BACKDROP_COLOUR_RANGE, gen, 3)
    shapes = []
    for i in range(1, layers):
        shapes.append(
            {
                "base": _uniform(SHAPE_COLOUR_RANGE, gen, 3),
                "cx": _uniform(SHAPE_CENTRE_X_RANGE, gen).item() * width,
                "cy": _uniform(SHAPE_CENTRE_Y_RANGE, gen).item() * height,
                "size": _uniform(SHAPE_SIZE_RANGE, gen).item() * min(height, width),
                "box": i % 2 == 0,
                "seed": int(torch.randint(0, 2**31 - 1, (1,), generator=gen)),
                "direction": 1.0 if i % 2 else -1.0,
            }
        )
    back_seed = int(torch.randint(0, 2**31 - 1, (1,), generator=gen))
    for t in range(frames):
        drift = BACKDROP_SPEED_RATIO * speed_px * t
        bx = xs - drift
        rgb[t, 0] = _texture(bx, ys, torch.Generator().manual_seed(back_seed), back_base)
        for lx, ly in light_xy.tolist():
            dist2 = (xs - (lx + drift)) ** 2 + (ys - ly) ** 2
            rgb[t, 0] += POINT_LIGHT_PEAK * torch.exp(-dist2 / (2 * POINT_LIGHT_SIGMA_PX**2))
        alpha[t, 0] = 1.0
        for i, shape in enumerate(shapes, start=1):
            cx = shape["cx"] + shape["direction"] * speed_px * t
            sx, sy = xs - cx, ys - shape["cy"]
            if shape["box"]:
                corner = BOX_CORNER * shape["size"]
                qx = (sx.abs() - shape["size"] + corner).clamp_min(0.0)
                qy = (sy.abs() - BOX_ASPECT * shape["size"] + corner).clamp_min(0.0)
                outside = torch.sqrt(qx**2 + qy**2) - corner
            else:
                outside = torch.sqrt(sx**2 + sy**2) - shape["size"]
            alpha[t, i, 0] = (0.5 - outside).clamp(0.0, 1.0)
            rgb[t, i] = _texture(sx, sy, torch.Generator().manual_seed(shape["seed"]), shape["base"])
    return LayeredScene(rgb=rgb, alpha=alpha, disparity=disparity)


def aperture_samples(look: Look, grid: int = 24) -> torch.Tensor:
    r"""Stratified sample points of the aperture: a ``grid x grid`` lattice kept inside the shape.

    Args:
        look (`Look`): aperture settings (the cat-eye term is ignored: it depends on position).
        grid (`int`, defaults to 24): lattice points per side of the unit square.

    Returns:
        `torch.Tensor`: ``(N, 2)`` screen displacement per unit CoC, ``(x right, y down)``; the
        vertical extent is 1 and the horizontal ``1 / look.anamorphic``.
    """
    if grid < 1:
        raise UsageError(f"grid must be >= 1, got {grid!r}")
    axis = (torch.arange(grid, dtype=torch.float64) + 0.5) / grid * 2.0 - 1.0
    v, u = torch.meshgrid(-axis, axis, indexing="ij")
    inside = aperture_mask(u, v, look) > 0.5
    points = torch.stack((u[inside] / look.anamorphic, -v[inside]), dim=-1)
    if points.shape[0] == 0:
        raise UsageError(f"the aperture of {look.aperture!r} has no sample on a {grid}x{grid} grid")
    return points.to(torch.float32)


def ray_trace(
    scene: LayeredScene,
    focus: torch.Tensor,
    blur: torch.Tensor,
    look: Look | None = None,
    grid: int = 24,
) -> torch.Tensor:
    r"""Ground-truth defocus of a layered scene by Monte-Carlo thin-lens ray tracing.

    For every aperture sample ``u`` each plane ``i`` is shifted by ``-K * u * (d_i - F)`` pixels
    (bilinear resampling), the planes are composited with "over", and the results are averaged.
    Unlike a renderer working from the composited frame, this sees the complete planes, including
    what foreground edges hide.

    Args:
        scene (`LayeredScene`): the planes.
        focus (`torch.Tensor`): ``(T,)`` focal plane per frame.
        blur (`torch.Tensor`): ``(T,)`` blur strength ``K`` per frame (pixels).
        look (`Look`, *optional*): aperture (disc by default); highlights and cat-eye are ignored.
        grid (`int`, defaults to 24): aperture lattice size (see :func:`aperture_samples`).

    Returns:
        `torch.Tensor`: ``(T, 3, H, W)`` defocused frames in linear light.
    """
    t, layers, _, h, w = scene.rgb.shape
    if tuple(focus.shape) != (t,) or tuple(blur.shape) != (t,):
        raise UsageError(f"focus and blur must be ({t},) tensors, got {tuple(focus.shape)} and {tuple(blur.shape)}")
    samples = aperture_samples(look or Look(), grid)
    planes = torch.cat((scene.rgb * scene.alpha, scene.alpha), dim=2).reshape(t * layers, 4, h, w)
    ys = torch.linspace(-1.0 + 1.0 / h, 1.0 - 1.0 / h, h)
    xs = torch.linspace(-1.0 + 1.0 / w, 1.0 - 1.0 / w, w)
    base = torch.stack(torch.meshgrid(ys, xs, indexing="ij")[::-1], dim=-1)
    # Sampling position offset per plane, in pixels: +K * (d_i - F) * u.
    scale = (blur.view(t, 1) * (scene.disparity.view(1, layers) - focus.view(t, 1))).reshape(-1, 1, 1, 1)
    to_norm = torch.tensor([2.0 / w, 2.0 / h])
    out = torch.zeros(t, 3, h, w)
    for u in samples:
        grid_xy = base + (scale * u * to_norm)
        moved = F.grid_sample(planes, grid_xy, mode="bilinear", padding_mode="border", align_corners=False)
        moved = moved.reshape(t, layers, 4, h, w)
        acc = torch.zeros(t, 3, h, w)
        for i in range(layers):
            acc = moved[:, i, :3] + (1.0 - moved[:, i, 3:]) * acc
        out += acc
    return out / samples.shape[0]
