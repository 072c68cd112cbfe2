"""Depth: sidecars, estimators, temporal alignment and caching, as normalized disparity.

Submodules are imported on demand, so that reading a sidecar never loads a model library:

- :mod:`bokehfx.depth.convert`: stored values -> disparity, hole filling, one normalization per clip.
- :mod:`bokehfx.depth.sidecar`: the two-pass sidecar pipeline (files are read by
  :mod:`bokehfx.io.depthmaps`).
- :mod:`bokehfx.depth.resize`: aspect-preserving model input sizes and resizing back.
- :mod:`bokehfx.depth.estimator`: the estimator interface and Depth Anything through transformers.
- :mod:`bokehfx.depth.temporal`: windowed estimation, least-squares alignment, cross-fade.
- :mod:`bokehfx.depth.flow`: optional flow-guided smoothing.
- :mod:`bokehfx.depth.cache`: cache keys and quantization (the store is in :mod:`bokehfx.io.depthmaps`).
"""
