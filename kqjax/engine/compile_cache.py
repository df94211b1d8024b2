"""Persistent compilation cache: compiled programs kept on disk from one run to the next.

A run whose programs have the shapes of an earlier run's skips XLA compilation (measured in
docs/scaling.md). The directory is ``$KQJAX_CACHE_DIR``,
else ``$XDG_CACHE_HOME/kqjax/xla``, else ``~/.cache/kqjax/xla``; ``KQJAX_CACHE_DIR=`` (empty)
turns the cache off. A cache directory set through JAX itself (``JAX_COMPILATION_CACHE_DIR`` or
``jax_compilation_cache_dir``) is left as it is. Programs that took at least ``MIN_COMPILE_S``
to compile are kept: every program by default (``$KQJAX_CACHE_MIN_COMPILE_S`` sets another
threshold, in seconds), so that a second run, whose chunk shapes do not depend on ``run.pulses``,
compiles nothing (the count step, the estimator's ``rates``, the optimiser's programs). Entries
are keyed by the program, the jax/jaxlib versions and the device, so a stale entry is never used.
"""
from __future__ import annotations

import os
from pathlib import Path

import jax

ENV = "KQJAX_CACHE_DIR"


def _min_compile_s() -> float:
    try:
        return max(0.0, float(os.environ.get("KQJAX_CACHE_MIN_COMPILE_S", "0")))
    except ValueError:
        return 0.0


MIN_COMPILE_S = _min_compile_s()


def directory() -> Path | None:
    """The cache directory kqjax would use, or ``None`` when turned off."""
    value = os.environ.get(ENV)
    if value is not None:
        return Path(value).expanduser() if value.strip() else None
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "kqjax" / "xla"


def enable() -> Path | None:
    """Point JAX's persistent cache at :func:`directory` (if JAX has none and it is writable)."""
    if jax.config.jax_compilation_cache_dir:
        return None
    path = directory()
    if path is None:
        return None
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    if not os.access(path, os.W_OK):
        return None
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_S)
    return path


def disable() -> None:
    """Turn the persistent cache off for this process (before its first compilation): for
    benchmarks, whose compile times are cold ones."""
    jax.config.update("jax_compilation_cache_dir", None)
