"""The ``bokehfx`` command-line interface (glue only: no heavy imports at module level)."""
