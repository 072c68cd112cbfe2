"""Diffusers-style modules of the diffusion renderer (configured by their ``config.json``).

Model code knows nothing of files, clips or the CLI and holds no device or dtype constants; the
loading and building of whole model folders lives in :mod:`bokehfx.models.loading`.
"""
