"""Host memory kept by the process once freed, so that a step's large buffers are not faulted in
anew every step.

XLA on a CPU allocates a step's work arrays (megabytes to hundreds of megabytes: a chunk's random
words, its per-block counts) with ``malloc`` at every execution and frees them at its end. glibc
serves such sizes with ``mmap`` and returns them to the system on ``free`` (above its ``mmap`` and
trim thresholds), so every step pays the kernel's page faults and zeroing for all of them again:
a quarter to a third of a step's time here (SNS TF-QKD's count step, the event level). Raising
both thresholds (``mallopt``: ``M_MMAP_THRESHOLD`` to 1 GiB, ``M_TRIM_THRESHOLD`` to 2 GiB) makes
glibc serve them from its heap and keep them for the next step: freed memory is kept rather than
given back between steps, which adds a little to the peak resident memory (43-67 MiB in the runs
of docs/scaling.md). Linux with glibc only (elsewhere, and with ``KQJAX_KEEP_FREED_MEMORY=0``,
nothing changes).
"""
from __future__ import annotations

import ctypes
import os
import platform

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
MMAP_THRESHOLD = 2**30
TRIM_THRESHOLD = 2**31 - 1


def keep_freed_memory() -> bool:
    """Set glibc's thresholds (above) in this process; whether they were set."""
    if os.environ.get("KQJAX_KEEP_FREED_MEMORY", "1") == "0" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
