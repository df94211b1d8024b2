"""What the sensor tasks (:mod:`~kqjax.tasks.sensor_stability`, :mod:`~kqjax.tasks.navigation`) share:
config-time checks of the mode and the sensor kind, the run's key, the vmapped map over sweep points
in memory-bounded chunks, the summary tables and the plot styling."""
from __future__ import annotations

import jax
import numpy as np

from kqjax.config.errors import ConfigError
from kqjax.engine.keys import root_key
from kqjax.results.tables import pick, table  # noqa: F401  (the sensor tasks' tables)


def require_simulate(cfg, task: str) -> None:
    """Sensor tasks run Monte Carlo only (optimize/evaluate are link modes)."""
    mode = cfg.get("mode", "simulate")
    if mode != "simulate":
        raise ConfigError("mode", mode, f"simulate for task {task} (optimize and evaluate are link modes)")


def require_kind(built, kinds, task: str, hint: str = "") -> str:
    """The configured ``sensor.kind`` if ``task`` can run it, else a one-line ConfigError."""
    kind = type(built.components["sensor"]).kind
    if kind not in kinds:
        raise ConfigError("sensor.kind", kind, f"one of {', '.join(kinds)} for task {task}{hint}")
    return kind


def run_key(run):
    """The run's root key from ``run.seed`` and ``run.prng``. Every sweep point uses the same key
    (common random numbers), so differences between sweep points are not sampling noise."""
    return root_key(run.seed, run.prng)


def map_points(fn, batched, size: int, chunk: int, points=None) -> dict:
    """``fn`` (a jitted, vmapped function of a batched component) over ``size`` sweep points in chunks
    of at most ``chunk`` points (memory bound); the last chunk is padded with copies of the last point
    so that every call has the same shape (one compilation). With ``points`` (indices), only those
    points, in calls of the same shape as over all of them. Returns NumPy arrays."""
    chunk = max(1, min(int(chunk), size))
    points = np.arange(size) if points is None else np.asarray(points, np.int64)
    pieces = []
    for start in range(0, points.size, chunk):
        idx = points[np.minimum(np.arange(start, start + chunk), points.size - 1)]
        whole = chunk == size and points.size == size
        part = batched if whole else jax.tree.map(lambda a: np.asarray(a)[idx], batched)
        out = jax.device_get(fn(part))
        n = min(chunk, points.size - start)
        pieces.append({k: np.asarray(v)[:n] for k, v in out.items()})
    return {k: np.concatenate([p[k] for p in pieces]) if len(pieces) > 1 else pieces[0][k] for k in pieces[0]}


def sweep_dims(da, own: tuple[str, ...]) -> list[str]:
    """The swept dimensions of ``da`` (those not in ``own``)."""
    return [d for d in da.dims if d not in own]


def match_colours(fig, n_first: int) -> None:
    """Give the ``n_first`` curves of the second series the colours of the first series' curves (the
    simulated points and their model), and redraw the legend."""
    ax = fig.axes[0]
    lines = ax.get_lines()
    for i in range(min(n_first, len(lines) - n_first)):
        lines[n_first + i].set_color(lines[i].get_color())
    ax.legend(fontsize=8)


def curve_count(da, x: str) -> int:
    """How many curves :func:`kqjax.results.plots.curves` draws for ``da`` against ``x``."""
    return int(np.prod([da.sizes[d] for d in da.dims if d != x], dtype=np.int64))
