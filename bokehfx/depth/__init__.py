"""Depth: sidecars, estimators, temporal alignment and caching, as normalized disparity.

Submodules are imported on demand so that reading a sidecar never loads a model library:

- :mod:`bokehfx.depth.convert`: stored values -> disparity, hole filling, clip normalization.
- :mod:`bokehfx.depth.sidecar`: the two-pass sidecar pipeline.
- :mod:`bokehfx.depth.resize`: aspect-preserving model sizes and resizing back.
"""
