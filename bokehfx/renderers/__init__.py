"""Depth-of-field renderers: one interface (:class:`Renderer`), several engines."""

from bokehfx.renderers.aperture import aperture_kernel
from bokehfx.renderers.base import Look, Renderer
from bokehfx.colour import linear_to_srgb, srgb_to_linear
from bokehfx.renderers.diagnostics import diagnostics
from bokehfx.renderers.gather import gather_blur
from bokehfx.renderers.physical import PhysicalRenderer

__all__ = [
    "Look",
    "PhysicalRenderer",
    "Renderer",
    "aperture_kernel",
    "diagnostics",
    "gather_blur",
    "linear_to_srgb",
    "srgb_to_linear",
]
