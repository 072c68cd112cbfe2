"""Compositor diagnostics: what the renderer sees, as images.

Three views, each ``(T, 3, H, W)`` in the dtype and device of the frames (display values in
``[0, 1]``):

- ``"focus_map"``: near defocus, in focus and far defocus in three colours, shaded by the image.
- ``"disparity"``: the normalized disparity as a grey image (white = near).
- ``"layers"``: the depth slabs of the physical renderer (its occlusion order), one colour per
  slab, cycling through ``LAYER_PALETTE``.
"""

from __future__ import annotations

import torch

from bokehfx.errors import UsageError
from bokehfx.renderers.base import Look, check_inputs
from bokehfx.renderers.physical import LUMA_WEIGHTS, PhysicalRenderer, layer_centres, signed_coc, slab_index

#: Colour of pixels in front of the focal plane (warm orange).
NEAR_COLOUR = (1.0, 0.45, 0.1)
#: Colour of pixels whose CoC radius is within the in-focus tolerance (green).
IN_FOCUS_COLOUR = (0.2, 1.0, 0.3)
#: Colour of pixels behind the focal plane (blue).
FAR_COLOUR = (0.15, 0.45, 1.0)

#: Colours cycled over the layer slices (far to near).
LAYER_PALETTE = (
    (0.90, 0.10, 0.10),
    (0.95, 0.60, 0.05),
    (0.90, 0.90, 0.10),
    (0.20, 0.80, 0.20),
    (0.10, 0.80, 0.80),
    (0.15, 0.35, 0.95),
    (0.60, 0.20, 0.90),
    (0.95, 0.35, 0.75),
)


def diagnostics(
    frames: torch.Tensor,
    disparity: torch.Tensor,
    focus: torch.Tensor,
    blur: torch.Tensor,
    look: Look | None = None,
    in_focus_px: float = 1.0,
    shade_floor: float = 0.35,
    renderer: PhysicalRenderer | None = None,
) -> dict[str, torch.Tensor]:
    r"""Build the focus map, disparity and layer-slicing views.

    Args:
        frames (`torch.Tensor`): ``(T, 3, H, W)`` linear-light frames (used for shading).
        disparity (`torch.Tensor`): ``(T, 1, H, W)`` normalized disparity.
        focus (`torch.Tensor`): ``(T,)`` focal plane per frame.
        blur (`torch.Tensor`): ``(T,)`` blur strength ``K`` per frame.
        look (`Look`, *optional*): only ``max_blur`` is used.
        in_focus_px (`float`, defaults to 1.0): CoC radius (pixels) up to which a pixel counts as
            in focus.
        shade_floor (`float`, defaults to 0.35): brightness of the colour codes on black image
            areas (1 = flat colours, no shading).
        renderer (`PhysicalRenderer`, *optional*): whose layer spacing to show (defaults to a
            default :class:`PhysicalRenderer`).

    Returns:
        `dict[str, torch.Tensor]`: ``"focus_map"``, ``"disparity"`` and ``"layers"``, each
        ``(T, 3, H, W)``.
    """
    check_inputs(frames, disparity, focus, blur)
    if not in_focus_px >= 0:
        raise UsageError(f"in_focus_px must be >= 0, got {in_focus_px!r}")
    if not 0 <= shade_floor <= 1:
        raise UsageError(f"shade_floor must be in [0, 1], got {shade_floor!r}")
    look = look or Look()
    renderer = renderer or PhysicalRenderer()
    work = torch.float64 if frames.dtype == torch.float64 else torch.float32
    rgb, disp = frames.to(work), disparity.to(work)
    s = signed_coc(disp, focus.to(work), blur.to(work), look.max_blur)
    weights = torch.tensor(LUMA_WEIGHTS, dtype=work, device=frames.device).view(1, 3, 1, 1)
    luma = (rgb * weights).sum(dim=1, keepdim=True).clamp(0.0, 1.0) ** (1 / 2.2)
    shade = shade_floor + (1.0 - shade_floor) * luma

    def colour(c: tuple[float, float, float]) -> torch.Tensor:
        return torch.tensor(c, dtype=work, device=frames.device).view(1, 3, 1, 1)

    near = s > in_focus_px
    far = s < -in_focus_px
    codes = torch.where(near, colour(NEAR_COLOUR), torch.where(far, colour(FAR_COLOUR), colour(IN_FOCUS_COLOUR)))
    centres = layer_centres(float(s.abs().max()), renderer.layer_step_px, renderer.layer_step_ratio)
    palette = torch.tensor(LAYER_PALETTE, dtype=work, device=frames.device)
    index = slab_index(s, centres)[:, 0] % len(LAYER_PALETTE)
    sliced = palette[index].permute(0, 3, 1, 2)
    out = {
        "focus_map": codes * shade,
        "disparity": disp.clamp(0.0, 1.0).expand(-1, 3, -1, -1),
        "layers": sliced * shade,
    }
    return {name: view.to(frames.dtype).contiguous() for name, view in out.items()}
