"""glibc's thresholds set at import (kqjax.engine.host_memory), and the switch that leaves them."""
import platform
import subprocess
import sys

import pytest

from kqjax.engine import host_memory

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc's mallopt only")


def test_thresholds_are_set_and_the_environment_can_leave_them(monkeypatch):
    assert host_memory.keep_freed_memory() is True
    monkeypatch.setenv("KQJAX_KEEP_FREED_MEMORY", "0")
    assert host_memory.keep_freed_memory() is False


def test_a_freed_large_buffer_stays_in_the_heap_after_import():
    """After ``import kqjax`` a freed 64 MiB buffer is kept by malloc (its pages stay resident:
    glibc's arena holds them, the trim threshold is not reached), where by default glibc maps it
    and unmaps it at ``free``."""
    code = r"""
import ctypes, os, sys
if sys.argv[1] == "1":
    import kqjax
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
def rss():
    return int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
p = libc.malloc(64 << 20)
ctypes.memset(p, 1, 64 << 20)
before = rss()
libc.free(p)
print(before - rss())
"""
    freed = {v: int(subprocess.run([sys.executable, "-c", code, v], capture_output=True, text=True,
                                   check=True).stdout) for v in ("0", "1")}
    assert freed["0"] >= 0.9 * (64 << 20)  # unmapped at free: the resident set falls by the buffer
    assert freed["1"] <= 0.1 * (64 << 20)  # kept
