"""The ``optimize`` block: which fields move, the objective, the optax optimiser and its steps.

Checked before any work (one-line :class:`ConfigError`): unknown or non-numeric fields in
``params``, a field both swept and optimised, ``steps`` < 1, an optimiser that optax does not
have, an option that optimiser does not take.
"""
from __future__ import annotations

import dataclasses

from kqjax.config.errors import ConfigError
from kqjax.config.settings import check_field
from kqjax.engine.params import get_path, param, specs
from kqjax.optimize import OPTIMIZERS, STATISTICS, optimizer_options


@dataclasses.dataclass(frozen=True)
class OptimizeSettings:
    params: tuple = ("source.mu", "source.nu")
    objective: str = "key_rate"
    statistic: str = param("mean", choices=STATISTICS,
                           long_name="statistic of the objective over fading realisations")
    quantile: float = param(0.1, gt=0, lt=1, long_name="quantile level (outage probability) of statistic=quantile")
    samples: int = param(256, ge=1, le=2**20, integer=True,
                         long_name="fading realisations per objective evaluation (fading channels)")
    optimizer: str = "adam"
    learning_rate: float | None = param(None, gt=0, le=1e3, long_name="optimiser step size (null: default)")
    steps: int = param(300, ge=1, le=10**6, integer=True, long_name="optimiser steps")
    time_nodes: int = param(32, ge=1, le=4096, integer=True,
                            long_name="Gauss-Legendre nodes over a pass's time window (objective secret_key_bits)")
    options: tuple = ()  # ((name, value), ...) passed to optax.<optimizer>


SPECS = specs(OptimizeSettings)
FIELDS = tuple(f.name for f in dataclasses.fields(OptimizeSettings))


def _plain(node):
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(node, (DictConfig, ListConfig)):
        return OmegaConf.to_container(node, resolve=True)
    return node


def check_optimize(node, task, built, mode: str = "optimize") -> OptimizeSettings:
    """Check the ``optimize`` block against the task and the built components.

    ``mode="evaluate"`` checks only what evaluating the objective needs (objective, statistic,
    quantile, samples).
    """
    node = dict(_plain(node) or {})
    for key in node:
        if key not in FIELDS:
            raise ConfigError(f"optimize.{key}", node[key],
                              message=f"optimize.{key}: unknown option; optimize has: {', '.join(FIELDS)}")
    out = {name: check_field(f"optimize.{name}", spec, node[name], nullable=name == "learning_rate")
           for name, spec in SPECS.items() if name in node}
    objectives = getattr(task, "OBJECTIVES", {})
    if not objectives:
        raise ConfigError("mode", mode, message=f"mode={mode}: task {task.__name__.rsplit('.', 1)[-1]} "
                                                "has no objective to optimise")
    objective = node.get("objective", OptimizeSettings.objective)
    if objective not in objectives:
        raise ConfigError("optimize.objective", objective, "one of " + ", ".join(objectives))
    out["objective"] = objective
    if mode != "optimize":
        return OptimizeSettings(**out)

    name = node.get("optimizer", OptimizeSettings.optimizer)
    if name not in OPTIMIZERS:
        raise ConfigError("optimize.optimizer", name, "one of " + ", ".join(OPTIMIZERS))
    out["optimizer"] = name
    options = node.get("options") or {}
    if not isinstance(options, dict):
        raise ConfigError("optimize.options", options, "a mapping of optax options, e.g. {b1: 0.8}")
    allowed = optimizer_options(name)
    for key, value in options.items():
        if key not in allowed:
            raise ConfigError(f"optimize.options.{key}", value, message=f"optimize.options.{key}: not an option "
                              f"of optax.{name}; allowed: {', '.join(allowed) or 'none'}")
        if not isinstance(value, (int, float)):
            raise ConfigError(f"optimize.options.{key}", value, "a number or a boolean")
    out["options"] = tuple(sorted(options.items()))
    out["params"] = check_params(node.get("params", OptimizeSettings.params), built)
    return OptimizeSettings(**out)


def check_params(value, built) -> tuple[str, ...]:
    """``optimize.params``: a non-empty list of distinct, numeric, unswept ``group.field``."""
    items = [value] if isinstance(value, str) else value
    shown = "[" + ", ".join(map(str, items)) + "]" if isinstance(items, (list, tuple)) else str(value)
    head = f"optimize.params={shown}"
    if not isinstance(items, (list, tuple)) or not items:
        raise ConfigError("optimize.params", message=f"{head}: must be a non-empty list of group.field")
    swept = {a.path for a in built.grid.axes}
    seen = []
    for item in items:
        group, _, field = str(item).rpartition(".")
        try:
            comp = get_path(built.components, group) if group else None
        except (KeyError, AttributeError):
            comp = None
        if comp is None or not dataclasses.is_dataclass(comp):
            raise ConfigError("optimize.params", message=f"{head}: unknown group {group!r} in {item}; "
                              f"groups: {', '.join(built.components)}")
        fspecs = specs(type(comp))
        numeric = [k for k, s in fspecs.items() if not s.static]
        if field not in fspecs:
            raise ConfigError("optimize.params", message=f"{head}: {group} has no field {field!r}; "
                              f"optimisable: {', '.join(f'{group}.{k}' for k in numeric)}")
        if fspecs[field].static:
            raise ConfigError("optimize.params", message=f"{head}: {item} is not numeric "
                              f"({fspecs[field].allowed()}); optimisable: "
                              f"{', '.join(f'{group}.{k}' for k in numeric)}")
        if item in swept:
            raise ConfigError("optimize.params", message=f"{head}: {item} is also swept; "
                              "a field is either swept or optimised")
        if item in seen:
            raise ConfigError("optimize.params", message=f"{head}: {item} is listed twice")
        seen.append(str(item))
    return tuple(seen)
