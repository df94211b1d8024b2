"""From a composed config to checked, built components and a sweep grid.

Every numeric field is checked against the bounds its component declares; a value may be a
scalar or a sweep (list or range string, see :mod:`kqjax.engine.grid`). Components are looked up
in the registry by ``group`` and ``kind``: no config value is ever executed.
"""
from __future__ import annotations

import dataclasses
import re

import numpy as np

from kqjax.config.errors import ConfigError, _show
from kqjax.config.run import RUN_SPECS, RunSettings
from kqjax.engine.grid import Axis, Grid, SweepSyntaxError, parse_values
from kqjax.engine.keys import BLOCK
from kqjax.engine.params import registry, specs


@dataclasses.dataclass(frozen=True)
class Built:
    """Checked components (batched over the flattened grid), the grid and the run settings."""

    components: dict
    grid: Grid
    run: RunSettings
    values: dict  # {group: {field: scalar or swept array}} as configured
    optimize: object = None  # checked OptimizeSettings in optimize/evaluate mode
    settings: object = None  # the task's own checked settings block (``task.check``), if it has one


def _plain(node):
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(node, (DictConfig, ListConfig)):
        return OmegaConf.to_container(node, resolve=True)
    return node


def check_value(path: str, spec, value):
    """Return (scalar or None, sweep array or None) after checking ``value`` against ``spec``."""
    if spec.choices is not None or spec.static:
        if isinstance(value, (list, tuple)) or parse_values_safe(value) is not None:
            raise ConfigError(path, value, f"{spec.allowed()} (a choice cannot be swept inside a run; use -m)")
        if spec.check(value) is not None:
            raise ConfigError(path, value, spec.allowed())
        return value, None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    try:
        sweep = parse_values(value)
    except SweepSyntaxError as err:
        raise ConfigError(path, value, message=f"{path}={value}: {err}") from None
    if sweep is None:
        if spec.check(value) is not None:
            raise ConfigError(path, value, spec.allowed())
        return value, None
    for v in sweep:
        if spec.check(float(v)) is not None:
            raise ConfigError(path, _fmt(v), spec.allowed() + " (in the sweep)")
    return None, sweep


def parse_values_safe(value):
    try:
        return parse_values(value)
    except SweepSyntaxError:
        return None


def _fmt(v: float):
    return int(v) if float(v).is_integer() else float(v)


def check_run(node) -> RunSettings:
    """Check the ``run`` block."""
    node = dict(_plain(node) or {})
    unknown = set(node) - set(RUN_SPECS)
    if unknown:
        key = sorted(unknown)[0]
        raise ConfigError(f"run.{key}", node[key], message=f"run.{key}={_show(node[key])}: unknown option; run has: {', '.join(RUN_SPECS)}")
    out = {}
    nullable = {f.name for f in dataclasses.fields(RunSettings) if f.default is None}
    for name, spec in RUN_SPECS.items():
        if name not in node:
            continue
        v = node[name]
        if v is None and name in nullable:  # null: the setting's automatic choice
            out[name] = None
            continue
        if isinstance(v, str) and spec.choices is None:
            try:
                v = float(v)
            except ValueError:
                raise ConfigError(f"run.{name}", v, spec.allowed()) from None
        if name == "chunk_size" and (spec.check(v) is not None or int(v) % BLOCK):
            raise ConfigError("run.chunk_size", v, f"a multiple of {BLOCK} in [{BLOCK}, {int(spec.hi)}]")
        if spec.check(v) is not None:
            raise ConfigError(f"run.{name}", v, spec.allowed())
        out[name] = int(v) if spec.integer else v
    return RunSettings(**out)


def check_group(group: str, node) -> tuple[type, dict]:
    """Check one component group: its kind, unknown keys and every field."""
    node = dict(_plain(node) or {})
    kinds = registry(group)
    kind = node.pop("kind", None)
    if kind not in kinds:
        raise ConfigError(f"{group}.kind", kind, "one of " + ", ".join(sorted(kinds)))
    cls = kinds[kind]
    fields = specs(cls)
    for key in node:
        if key not in fields:
            raise ConfigError(f"{group}.{key}", node[key],
                              message=f"{group}.{key}={_show(node[key])}: unknown option for {group} '{kind}'; allowed: {', '.join(fields)}")
    values = {}
    for name, spec in fields.items():
        default = next(f.default for f in dataclasses.fields(cls) if f.name == name)
        scalar, sweep = check_value(f"{group}.{name}", spec, node.get(name, default))
        values[name] = sweep if sweep is not None else scalar
    return cls, values


def check_relations(group: str, cls, values: dict, grid: Grid):
    """Cross-field conditions over every grid point."""
    rel = getattr(cls, "relations", None)
    if rel is None:
        return
    flat = grid.flat()
    arrays = {k: (flat[f"{group}.{k}"] if f"{group}.{k}" in flat else np.asarray(v))
              for k, v in values.items() if not isinstance(v, str)}
    for name, why in rel(arrays):
        shown = values[name]
        shown = shown if not isinstance(shown, np.ndarray) else "[" + ", ".join(f"{x:g}" for x in shown) + "]"
        raise ConfigError(f"{group}.{name}", message=f"{group}.{name}={shown}: {why}")


def check_validate(group: str, cls, values: dict, grid: Grid):
    """Run a component's own ``validate()`` (cross-field physics checks, e.g. an interrogation that
    must fit in the cycle) at every grid point; its ``ValueError`` becomes a one-line ConfigError
    naming the first field the message mentions and that field's value at the failing point."""
    if not callable(getattr(cls, "validate", None)):
        return
    flat = grid.flat()
    fields = specs(cls)
    swept = {k: flat[f"{group}.{k}"] for k in values if f"{group}.{k}" in flat}
    points = range(grid.size) if swept else range(1)
    for i in points:
        kwargs = {k: (v if fields[k].static else float(swept[k][i] if k in swept else v))
                  for k, v in values.items()}
        try:
            cls(**kwargs).validate()
        except ValueError as err:
            text = str(err).splitlines()[0] if str(err) else type(err).__name__
            named = sorted((m.start(), k) for k in values for m in [re.search(rf"\b{k}\b", text)] if m)
            name = named[0][1] if named else next(iter(values))
            value = _fmt(kwargs[name]) if isinstance(kwargs[name], float) else kwargs[name]
            where = " (in the sweep)" if name in swept else ""
            raise ConfigError(f"{group}.{name}", value, message=f"{group}.{name}={_show(value)}{where}: {text}") from None


def build(cfg, groups: tuple[str, ...]) -> Built:
    """Check the config's component groups and run block, and build batched components."""
    run = check_run(cfg.get("run"))
    checked = {}
    axes = []
    for group in groups:
        if cfg.get(group) is None:
            raise ConfigError(group, message=f"{group}: missing; this experiment needs {', '.join(groups)}")
        cls, values = check_group(group, cfg[group])
        checked[group] = (cls, values)
        fields = specs(cls)
        for name, v in values.items():
            if isinstance(v, np.ndarray):
                axes.append(Axis(f"{group}.{name}", v, fields[name].unit, fields[name].long_name or name))
    names = [a.name for a in axes]
    axes = [a if names.count(a.name) == 1 else dataclasses.replace(a, dim=a.path.replace(".", "_"))
            for a in axes]
    grid = Grid(tuple(axes))
    for group, (cls, values) in checked.items():
        check_relations(group, cls, values, grid)
        check_validate(group, cls, values, grid)
    comps = {g: batched(cls, values, grid, g) for g, (cls, values) in checked.items()}
    return Built(comps, grid, run, {g: v for g, (_, v) in checked.items()})


def batched(cls, values: dict, grid: Grid, group: str):
    """Instance of ``cls`` whose numeric leaves have the flattened grid as leading axis."""
    flat = grid.flat()
    kwargs = {}
    fields = specs(cls)
    for name, v in values.items():
        if fields[name].static:
            kwargs[name] = v
        elif f"{group}.{name}" in flat:
            kwargs[name] = np.asarray(flat[f"{group}.{name}"], np.float64)
        else:
            kwargs[name] = np.full(grid.size, float(v), np.float64)
    return cls(**kwargs)


def scalar_instance(cls, values: dict):
    """Instance with python scalars (no grid); sweeps are not allowed here."""
    return cls(**{k: (float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v)
                  for k, v in values.items()})

