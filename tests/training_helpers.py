"""Shared pieces of the training tests."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models and 16-pixel frames gain nothing from threads, and on a shared CPU extra threads
    only wait on each other (a tiny training run took 4x the CPU time with two threads)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
