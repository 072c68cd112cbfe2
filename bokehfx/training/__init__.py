"""Training of the diffusion renderer: pairs made by the physical engine, loops with accelerate.

- :mod:`bokehfx.training.sampling`: random focus, blur, look and instruction of a pair.
- :mod:`bokehfx.training.augment`: crops and flips that keep the aspect ratio; disparity corruption.
- :mod:`bokehfx.training.sources`: windows of procedural scenes and of clips with depth.
- :mod:`bokehfx.training.datasets`: the pair synthesiser and ready-made pair folders.
- :mod:`bokehfx.training.config` / :mod:`bokehfx.training.example`: the TOML configuration.
- :mod:`bokehfx.training.build`: configuration to datasets.

Submodules are imported on demand (the CLI stays light).
"""
