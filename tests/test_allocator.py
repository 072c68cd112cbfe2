"""The C allocator's settings for renders: freed blocks kept for reuse, so a frame does not fault its memory in again."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

from bokehfx.pipeline import allocator


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's malloc only")
def test_freed_blocks_are_reused_instead_of_faulted_in_again() -> None:
    # In a fresh process: the settings are process-wide and taken once. An 8 MiB block (2048 pages)
    # is allocated, written and freed, over and over; the page faults per round are counted.
    code = (
        "import resource, torch\n"
        "from bokehfx.pipeline import allocator\n"
        "def rounds():\n"
        "    torch.empty(2**21).fill_(1.0)\n"
        "    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "    for _ in range(20):\n"
        "        torch.empty(2**21).fill_(1.0)\n"
        "    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20\n"
        "default = rounds()\n"
        "assert allocator.keep_freed_memory() and allocator.keep_freed_memory()\n"
        "print(default, rounds())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    default, kept = float(out[0]), float(out[1])
    assert kept < 20, (default, kept)  # kept for reuse (glibc's default here: 600-700 faults a round)


def test_elsewhere_it_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(allocator, "_settings", {})
    monkeypatch.setattr(allocator.platform, "libc_ver", lambda: ("musl", "1.2"))
    assert allocator.keep_freed_memory() is False
