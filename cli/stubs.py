"""Commands that are documented but not built yet: they refuse with exit status 2, never pretend."""

from __future__ import annotations

from cli.app import app, not_implemented


@app.command()
def train() -> None:
    """Train the diffusion renderer on data made by the physical renderer."""
    not_implemented("`bokehfx train`")
