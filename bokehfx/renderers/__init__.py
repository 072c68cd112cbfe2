"""Depth-of-field renderers: one interface (:class:`Renderer`), several engines."""

from bokehfx.renderers.aperture import aperture_kernel
from bokehfx.renderers.base import Look, Renderer
from bokehfx.renderers.physical import PhysicalRenderer

__all__ = ["Look", "PhysicalRenderer", "Renderer", "aperture_kernel"]
