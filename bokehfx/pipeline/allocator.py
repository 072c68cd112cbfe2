"""The C allocator's settings for long renders (Linux with glibc).

A frame's render allocates and frees many tensors of a few MiB to a few tens of MiB. By default
glibc's ``malloc`` maps such blocks from the kernel and unmaps them when freed, so every frame
pays the kernel to map and zero those pages again (about 16,000 page faults and 20 ms of system
time per 1080p frame of the physical engine, measured). Keeping freed blocks of up to
``MMAP_THRESHOLD_BYTES`` in the heap for reuse removes nearly all of it. Results do not change;
the process keeps freed memory for its next frame instead of handing it back at once.
"""

from __future__ import annotations

import ctypes
import platform
import threading

#: ``mallopt`` parameters (glibc's ``malloc.h``).
M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3

#: Blocks up to this size come from the heap (and are reused) rather than from their own mapping:
#: a 1080p frame's largest working tensors (RGBA float32: 33 MB) fit.
MMAP_THRESHOLD_BYTES = 64 * 2**20

#: Free memory at the top of the heap kept rather than returned to the kernel.
TRIM_THRESHOLD_BYTES = 128 * 2**20

#: Extra memory asked of the kernel each time the heap grows (fewer, larger requests).
TOP_PAD_BYTES = 16 * 2**20

_lock = threading.Lock()
_settings: dict[str, bool] = {}


def keep_freed_memory() -> bool:
    """Ask glibc's ``malloc`` to keep freed blocks for reuse (see the module's text); once per process.

    Returns:
        `bool`: whether the settings are in force (``False`` where the C library is not glibc).
    """
    with _lock:
        if "done" not in _settings:
            _settings["done"] = _apply()
        return _settings["done"]


def _apply() -> bool:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return all(mallopt(param, value) == 1 for param, value in (
        (M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES), (M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES), (M_TOP_PAD, TOP_PAD_BYTES)))
