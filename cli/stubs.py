"""Commands that are documented but not built yet: they refuse with exit status 2, never pretend."""

from __future__ import annotations

from cli.app import app, not_implemented


@app.command()
def watch() -> None:
    """Watch a folder and render every clip dropped into it."""
    not_implemented("`bokehfx watch`")
