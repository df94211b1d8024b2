"""Python API: the same config, checks and results as the command line."""
from __future__ import annotations

import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from kqjax import tasks
from kqjax.config.build import build
from kqjax.config.compose import DEFAULT_CONFIG, compose
from kqjax.config.errors import ConfigError
from kqjax.results.dataset import provenance
from kqjax.results.io import write_dataset

MODES = ("simulate", "optimize", "evaluate")
"""simulate: Monte Carlo of the configured pulses. optimize: optax on the differentiable expected
objective (``optimize`` block), at every sweep point. evaluate: that objective at the configured
parameters, nothing else (what a derivative-free sweeper such as Optuna maximises)."""


def prepare(cfg):
    """Check everything in ``cfg`` before any work: returns (task module, built config)."""
    mode = cfg.get("mode", "simulate")
    if mode not in MODES:
        raise ConfigError("mode", mode, "one of " + ", ".join(MODES))
    task = tasks.get(cfg.get("task"))
    built = build(cfg, task.groups(cfg) if hasattr(task, "groups") else task.GROUPS)
    if hasattr(task, "check"):  # the task's own settings and cross-checks (e.g. sensor run lengths)
        built = task.check(cfg, built)
    if mode != "simulate":
        from kqjax.config.optimize import check_optimize

        built = dataclasses.replace(built, optimize=check_optimize(cfg.get("optimize"), task, built, mode))
    return task, built


def _run_objective(task, built, mode):
    """Optimise or evaluate: (dataset, attrs, plots function)."""
    from kqjax import optimize
    from kqjax.results import optimum

    arrays, variables, attrs = optimize.run(task, built, mode)
    steps = built.optimize.steps if mode == "optimize" else None
    return optimum.assemble(arrays, variables, built.grid, steps), attrs, optimum.plots


def execute(cfg, output_dir=None, prepared=None):
    """Run a composed config; write ``results.nc`` and plots into ``output_dir`` if given.

    Returns (dataset, [written paths]).
    """
    from omegaconf import OmegaConf

    task, built = prepared or prepare(cfg)
    mode = cfg.get("mode", "simulate")
    start = time.perf_counter()
    if mode == "simulate" and cfg.get("task") == "qkd_link":
        hours = estimate_hours(built)
        if hours > 1.0:
            points = built.grid.size
            about = f"{hours:.{1 if hours < 10 else 0}f} h ({built.run.pulses:.3g} pulses x {points} point" + \
                ("s" if points != 1 else "")
            print(f"kqjax: this run will take about {about}); Ctrl-C stops it and keeps what is done",
                  file=sys.stderr, flush=True)
    if mode == "simulate":
        ds, extra = task.run(built)
        plots = task.plots
    else:
        ds, extra, plots = _run_objective(task, built, mode)
    ds.attrs.update(provenance(OmegaConf.to_yaml(cfg, resolve=True), built.run.seed, built.run.prng,
                               time.perf_counter() - start, task=cfg.get("task"), **extra))
    written = []
    if output_dir is not None:  # the dataset last: once it is there, the job's files are all there
        output_dir = Path(output_dir)
        written.extend(plots(ds, output_dir))
        written.insert(0, write_dataset(ds, output_dir / "results.nc"))
    return ds, written


# Rough seconds per pulse of a Monte Carlo run on one CPU core: a + b x (sweep points), by sampling
# mode (decoy BB84 over fiber on a busy 2-core x86-64 machine: count mode about 6e10 pulses/s at one
# point, 9e10 pulse-points/s at 51; other protocols and machines differ by a factor of a few). On a
# GPU a run is taken to be 100 times faster than on 8 cores (a guess: it only decides whether to warn).
_SECONDS_PER_PULSE = {"count": (1.5e-11, 2.3e-11), "event": (4e-7, 3e-8)}


def estimate_hours(built) -> float:
    """Rough duration of the Monte Carlo of ``built`` in hours (pulses x points and a throughput
    typical of the device), for the warning before a long run."""
    import jax

    from kqjax.engine.driver import default_workers

    a, b = _SECONDS_PER_PULSE.get(built.run.mode, _SECONDS_PER_PULSE["count"])
    if jax.default_backend() == "cpu":
        cores = built.run.workers or default_workers()
        cores = max(1, min(cores, default_workers()))
    else:
        cores = 800
    return float(built.run.pulses) * (a + b * built.grid.size) / cores / 3600.0


def check_output_dir(path, create: bool = True) -> Path:
    """Make sure ``path`` is (``create``: becomes) a directory that files can be written into,
    before any work: else a one-line :class:`ConfigError` ``output directory PATH: reason``.

    Without ``create`` nothing is made: its nearest existing parent must be a writable directory.
    """
    path = Path(path)

    def refuse(reason: str):
        return ConfigError("output_dir", str(path), message=f"output directory {path}: {reason}")

    def why(err: OSError) -> str:
        text = err.strerror or type(err).__name__
        return text[:1].lower() + text[1:]

    probe = path  # the directory written into: ``path``, or its nearest existing parent
    while not probe.exists() and probe != probe.parent and not probe.is_symlink():
        probe = probe.parent
    if not probe.is_dir():
        raise refuse("not a directory" if probe == path else f"{probe} is not a directory")
    if create and probe != path:
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise refuse(f"cannot create it: {why(err)}") from None
        probe = path
    try:
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as err:
        raise refuse(f"cannot write into {probe}: {why(err)}") from None
    return path


def summary(task, ds) -> str:
    """The task's summary of a simulation, or the optimum / evaluated objective."""
    if ds.attrs.get("mode", "simulate") == "simulate":
        return task.summary(ds)
    from kqjax.results.optimum import summary as optimum_summary

    return optimum_summary(ds)


def score(ds) -> float | None:
    """One number for a sweeper (Optuna) to maximise: the optimum, the evaluated objective, or
    the asymptotic key rate, averaged over the sweep grid; None if the dataset has none of them."""
    for name in ("objective_opt", "objective", "key_rate_asymptotic"):
        if name in ds and "step" not in ds[name].dims:
            return float(np.mean(ds[name].values))
    return None  # nothing to maximise (e.g. a sensor-stability or navigation run)


def _checked_overrides(overrides) -> list[str]:
    """``overrides`` as a list of strings, or a one-line ConfigError: a single string (whose
    characters would be read as overrides), an item that is not a string, or a Hydra setting
    (``hydra.run.dir``: files go to ``output_dir``)."""
    if isinstance(overrides, str):
        raise ConfigError("overrides", message=f"overrides={overrides!r}: must be a list of strings, "
                          f"e.g. [{overrides!r}]")
    out = list(overrides)
    for item in out:
        if not isinstance(item, str):
            raise ConfigError("overrides", message=f"overrides: {item!r} is not a string (write it as on the "
                              "command line, e.g. 'run.pulses=1e9')")
        if item.lstrip("+~").startswith(("hydra.", "hydra/")):
            raise ConfigError("overrides", message=f"overrides: {item}: Hydra's own settings do not apply to "
                              "kqjax.run; give output_dir= for the files")
    return out


def run(overrides=(), config_name: str = DEFAULT_CONFIG, output_dir=None):
    """Compose ``config_name`` with Hydra ``overrides`` (as on the command line), check it, run it.

    >>> ds = kqjax.run(["channel.length_km=[0,50,100]", "run.pulses=1e9"])
    >>> ds = kqjax.run(["experiment=optimize_decoy"])   # optimal mu, nu at 0-200 km

    Files are written only when ``output_dir`` is given (created if needed). Bad input, and an
    output directory that cannot be written, raise :class:`kqjax.config.errors.ConfigError` before
    any work.
    """
    cfg = compose(_checked_overrides(overrides), config_name)
    prepared = prepare(cfg)
    if output_dir is not None:
        check_output_dir(output_dir)
    ds, _ = execute(cfg, output_dir, prepared=prepared)
    return ds
