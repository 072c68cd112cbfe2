"""The diffusion renderer's pipeline (diffusers conventions), its windowed sampler and model loading."""
