"""Depth: sidecars, estimators, temporal alignment and caching, as normalized disparity.

The front door is :mod:`bokehfx.depth.source`: :func:`~bokehfx.depth.source.depth_source` decides
whether a clip's depth comes from a sidecar, the cache or the estimator, and every source yields
normalized disparity per frame through one interface. Submodules are imported on demand, so that
reading a sidecar never loads a model library:

- :mod:`bokehfx.depth.source`: the front door (sidecar, cache or estimator behind one interface).
- :mod:`bokehfx.depth.convert`: stored values -> disparity, which values are unknown, hole
  filling, one normalization per clip.
- :mod:`bokehfx.depth.sidecar`: the two passes over a sidecar's stored values (pure; files are read
  by :mod:`bokehfx.io.depthmaps`).
- :mod:`bokehfx.depth.resize`: aspect-preserving model input sizes and resizing back.
- :mod:`bokehfx.depth.estimator`: the estimator interface and Depth Anything through transformers.
- :mod:`bokehfx.depth.temporal`: windowed estimation, least-squares alignment, cross-fade.
- :mod:`bokehfx.depth.flow`: optional flow-guided smoothing.
- :mod:`bokehfx.depth.cache`: cache keys (the entries' files are :mod:`bokehfx.io.depthcache`).
"""
