"""Shared fixtures: where the real material lives, and skipping when it does not."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    """``$BOKEHFX_SHARED`` when set, else ``../shared`` beside the repository."""
    env = os.environ.get("BOKEHFX_SHARED")
    return Path(env) if env else REPO.parent / "shared"


@pytest.fixture(scope="session")
def shared() -> Path:
    root = shared_dir()
    if not (root / "MANIFEST.json").is_file():
        pytest.skip(f"real material not found at {root} (set BOKEHFX_SHARED to its folder)")
    return root


@pytest.fixture(scope="session")
def media(shared: Path) -> Path:
    return shared / "media"


# Tests never reach for model hubs: a missing model must fail at once, as on an offline machine.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
