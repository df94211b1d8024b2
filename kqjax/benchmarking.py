"""What the benchmark commands share: argument parsing, best-of timing, the machine record, JSON.

``kqjax-bench`` (links) and ``kqjax-bench-sensors`` (sensors) measure kqjax against peers in the
same run; this module keeps their harness in one place.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import time
from pathlib import Path

import numpy as np


def start() -> None:
    """Before any compilation: the persistent cache off, so compile times are cold ones."""
    from kqjax.engine import compile_cache

    compile_cache.disable()


def count(text: str) -> int:
    """argparse type: a positive whole number, also written as ``1e10``."""
    try:
        v = float(text)
    except ValueError:
        v = float("nan")
    if not math.isfinite(v) or v < 1 or v != int(v):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(v)


def options(args, quick: dict, full: dict) -> dict:
    """Sizes from the command line, else the ``--quick`` or full defaults."""
    base = quick if args.quick else full
    return {k: (getattr(args, k) if getattr(args, k) is not None else v) for k, v in base.items()}


def missing_peer(prog: str, module: str) -> str | None:
    """The one-line error of ``prog`` when ``module``, the peer it measures against, cannot be
    imported (an install without the test extra); None when it can."""
    import importlib

    try:
        importlib.import_module(module)
    except ImportError as err:
        why = (str(err) or type(err).__name__).splitlines()[0]
        return f"{prog}: error: {module} is needed ({why}): pip install 'kqjax[test]' (or pip install {module})"
    return None


def best_of(fn, repeat: int):
    """(best seconds, all seconds, last result) of ``repeat`` calls of ``fn``."""
    times, out = [], None
    for _ in range(max(1, repeat)):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), times, out


def memory_ceiling(repeat: int, quick: bool = False) -> dict:
    """The default device's memory-bandwidth ceiling in bytes/s: a jitted ``x + 1`` over float64
    updated in place (read once and written once a call; 2**27 elements on a GPU, 2**25 elsewhere,
    2**20 with ``quick``), best of ``max(repeat, 3)`` calls, measured in the calling process (so with
    its threads). Rows set against it give their *effective* bandwidth: the bytes their computation
    must read or write at least, over their time (NVIDIA, *CUDA C++ Best Practices Guide*,
    "Effective Bandwidth Calculation"), a lower bound on the traffic they cause."""
    import jax
    import jax.numpy as jnp

    size = 2**20 if quick else 2**27 if jax.default_backend() == "gpu" else 2**25
    step = jax.jit(lambda x: x + 1.0, donate_argnums=0)
    x = jax.block_until_ready(step(jnp.zeros(size, jnp.float64)))
    times = []
    for _ in range(max(repeat, 3)):
        t0 = time.perf_counter()
        x = jax.block_until_ready(step(x))
        times.append(time.perf_counter() - t0)
    moved = 2 * size * 8
    return {"kernel": "x + 1, float64, in place", "elements": size, "bytes_per_call": moved,
            "best_s": min(times), "times_s": times, "bytes_per_s": moved / min(times)}


def effective(nbytes: float, seconds: float, ceiling: dict) -> dict:
    """A row's effective bandwidth: ``nbytes`` moved at least in ``seconds``, and its fraction of
    the :func:`memory_ceiling` measured in the same run."""
    rate = nbytes / seconds
    return {"effective_bytes": nbytes, "effective_bytes_per_s": rate,
            "fraction_of_memory_ceiling": rate / ceiling["bytes_per_s"]}


def memory_percent(row: dict) -> str:
    """A row's fraction of the memory ceiling (:func:`effective`) in per cent, for a table; ``-``
    for a row not set against it."""
    f = row.get("fraction_of_memory_ceiling")
    return "-" if f is None else f"{100 * f:.3g}%"


def environment(**extra) -> dict:
    """Device, versions, CPUs and load of this machine, plus ``extra`` entries."""
    import jax

    import kqjax

    dev = jax.devices()[0]
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count()
    try:
        load = [round(v, 2) for v in os.getloadavg()]
    except OSError:
        load = [float("nan")] * 3
    return {
        "device": f"{dev.platform}:{getattr(dev, 'device_kind', dev.platform)} x{jax.device_count()}",
        "jax_version": jax.__version__,
        "jaxlib_version": getattr(__import__("jaxlib"), "__version__", "?"),
        "numpy_version": np.__version__,
        "kqjax_version": kqjax.__version__,
        "python_version": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "machine": platform.machine(),
        "processor": _cpu_name(),
        "load_average": load,
        **extra,
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def size_label(n: int) -> str:
    """A chunk size for a table: ``2^k`` for a power of two, else the number."""
    return f"2^{n.bit_length() - 1}" if n & (n - 1) == 0 else f"{n:,}"


def say(msg: str) -> None:
    """A benchmark's progress line, on stderr."""
    import sys

    print(msg, file=sys.stderr, flush=True)


def report(text: str, result: dict, path=None) -> int:
    """Print a benchmark's table ``text`` and, with ``path``, write ``result`` there as JSON;
    the command's exit status (0)."""
    print(text)
    if path:
        write_json(path, result)
        print(f"json: {path}")
    return 0


def write_json(path, result: dict) -> None:
    """``result`` as JSON at ``path``, written atomically."""
    from kqjax.results.io import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(result, indent=1))
