"""Python API: the same config, checks and results as the command line."""
from __future__ import annotations

import time
from pathlib import Path

from kqjax import tasks
from kqjax.config.build import build
from kqjax.config.compose import DEFAULT_CONFIG, compose
from kqjax.config.errors import ConfigError
from kqjax.results.dataset import provenance
from kqjax.results.io import write_dataset

MODES = ("simulate",)


def prepare(cfg):
    """Check everything in ``cfg`` before any work: returns (task module, built config)."""
    mode = cfg.get("mode", "simulate")
    if mode not in MODES:
        raise ConfigError("mode", mode, "one of " + ", ".join(MODES))
    task = tasks.get(cfg.get("task"))
    return task, build(cfg, task.GROUPS)


def execute(cfg, output_dir=None, prepared=None):
    """Run a composed config; write ``results.nc`` and plots into ``output_dir`` if given.

    Returns (dataset, [written paths]).
    """
    from omegaconf import OmegaConf

    task, built = prepared or prepare(cfg)
    start = time.perf_counter()
    ds, extra = task.run(built)
    ds.attrs.update(provenance(OmegaConf.to_yaml(cfg, resolve=True), built.run.seed, built.run.prng,
                               time.perf_counter() - start, task=cfg.get("task"), **extra))
    written = []
    if output_dir is not None:
        output_dir = Path(output_dir)
        written.append(write_dataset(ds, output_dir / "results.nc"))
        written.extend(task.plots(ds, output_dir))
    return ds, written


def run(overrides=(), config_name: str = DEFAULT_CONFIG, output_dir=None):
    """Compose ``config_name`` with Hydra ``overrides`` (as on the command line), check it, run it.

    >>> ds = kqjax.run(["channel.length_km=[0,50,100]", "run.pulses=1e9"])

    Files are written only when ``output_dir`` is given. Bad input raises
    :class:`kqjax.config.errors.ConfigError` before any work.
    """
    cfg = compose(overrides, config_name)
    ds, _ = execute(cfg, output_dir)
    return ds
