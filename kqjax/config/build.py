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
from kqjax.config.settings import check_block
from kqjax.engine.grid import Axis, Grid, SweepSyntaxError, parse_values
from kqjax.engine.keys import BLOCK
from kqjax.engine.params import Spec, parts, registry, specs


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


def replace_hint(block: str, kind: str = "KIND") -> str:
    """How to give a block another kind with that kind's own fields (Hydra keeps a preset's keys
    when only ``kind`` is overridden)."""
    return f" (a block of another kind: '~{block}' '+{block}={{kind:{kind},FIELD:VALUE,...}}')"


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
            from kqjax.config.compose import explain_sweep

            raise explain_sweep(ConfigError(path, value, spec.allowed()))  # a typo in a range names the forms
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
    """Check the ``run`` block (:func:`check_block`, and a chunk of whole blocks)."""
    run = check_block("run", node, RunSettings)
    if run.chunk_size is not None and run.chunk_size % BLOCK:
        raise ConfigError("run.chunk_size", run.chunk_size, f"a multiple of {BLOCK} in [{BLOCK}, {int(RUN_SPECS['chunk_size'].hi)}]")
    return run


@dataclasses.dataclass(frozen=True)
class Checked:
    """A checked component config: its class and ``{field: scalar, sweep array or Checked}``."""

    cls: type
    values: dict
    data: dict = dataclasses.field(default_factory=dict)  # arrays the component loaded (``cls.load``)

    def leaves(self, prefix: str):
        """``(path, spec, value)`` of every numeric or choice field, nested parts included."""
        fields = specs(self.cls)
        for name, v in self.values.items():
            if isinstance(v, Checked):
                yield from v.leaves(f"{prefix}.{name}")
            else:
                yield f"{prefix}.{name}", fields[name], v

    def nested(self, prefix: str):
        """``(path, Checked)`` of this component and of its parts."""
        yield prefix, self
        for name, v in self.values.items():
            if isinstance(v, Checked):
                yield from v.nested(f"{prefix}.{name}")


def registry_group(group: str) -> str:
    """The registry group of a config group: arms ``channel_a``/``channel_b`` take the kinds
    (and presets) of ``channel``, ``detector_a``/``detector_b`` those of ``detector``."""
    return re.sub(r"_[ab]$", "", group)


def check_group(group: str, node, kind_group: str | None = None) -> Checked:
    """Check one component config: its kind, unknown keys, every field and nested part."""
    node = _plain(node)
    if node is not None and not isinstance(node, dict):
        raise ConfigError(group, node, message=f"{group}={_show(node)}: must be a block with a kind")
    node = dict(node or {})
    kinds = registry(kind_group or registry_group(group))
    kind = node.pop("kind", None)
    if kind not in kinds:
        raise ConfigError(f"{group}.kind", kind, "one of " + ", ".join(sorted(kinds)))
    cls = kinds[kind]
    fields = specs(cls)
    subs = parts(cls)
    for key in node:
        if key not in fields and key not in subs:
            raise ConfigError(f"{group}.{key}", node[key],
                              message=f"{group}.{key}={_show(node[key])}: unknown option for {group} '{kind}'; "
                                      f"allowed: {', '.join([*fields, *subs])}"
                                      f"{replace_hint(group, kind) if '.' in group else ''}")
    values = {}
    for name, f in subs.items():
        values[name] = check_group(f"{group}.{name}", node.get(name, {"kind": f.metadata["default_kind"]}),
                                   f.metadata["part"])
    for name, spec in fields.items():
        default = next(f.default for f in dataclasses.fields(cls) if f.name == name)
        value = node.get(name, default)
        if spec.text and value in ("???", ""):
            raise ConfigError(f"{group}.{name}", message=f"{group}.{name}: required ({spec.long_name})")
        scalar, sweep = check_value(f"{group}.{name}", spec, value)
        values[name] = sweep if sweep is not None else scalar
    data = {}
    if callable(getattr(cls, "load", None)):
        try:
            data = cls.load(values)
        except ValueError as err:
            name = getattr(err, "field", None) or next(k for k, sp in fields.items() if sp.text)
            raise ConfigError(f"{group}.{name}", message=f"{group}.{name}={values[name]}: {err}") from None
    return Checked(cls, values, data)


def check_relations(group: str, cls, values: dict, flat: dict):
    """Cross-field conditions over every grid point (``flat``: swept paths over the flat grid)."""
    rel = getattr(cls, "relations", None)
    if rel is None:
        return
    arrays = {k: (flat[f"{group}.{k}"] if f"{group}.{k}" in flat else np.asarray(v))
              for k, v in values.items() if not isinstance(v, (str, Checked))}

    def shown(k):
        v = values[k]
        return v if not isinstance(v, np.ndarray) else "[" + ", ".join(f"{x:g}" for x in v) + "]"

    for name, why in rel(arrays):
        # the other fields the condition names, with their values: the user may have set either
        why = re.sub(rf"\b{re.escape(group)}\.(\w+)\b(?!=)",
                     lambda m: f"{m.group(0)}={shown(m.group(1))}" if m.group(1) in arrays else m.group(0), why)
        raise ConfigError(f"{group}.{name}", message=f"{group}.{name}={shown(name)}: {why}")


def check_validate(group: str, cls, values: dict, flat: dict, size: int):
    """Run a component's own ``validate()`` (cross-field physics checks, e.g. an interrogation that
    must fit in the cycle) at every grid point; its ``ValueError`` becomes a one-line ConfigError
    naming the first field the message mentions and that field's value at the failing point."""
    if not callable(getattr(cls, "validate", None)):
        return
    fields = specs(cls)
    swept = {k: flat[f"{group}.{k}"] for k in values if f"{group}.{k}" in flat}
    points = range(size) if swept else range(1)
    for i in points:
        kwargs = {k: (v if fields[k].static else float(swept[k][i] if k in swept else v))
                  for k, v in values.items() if k in fields}
        try:
            cls(**kwargs).validate()
        except ValueError as err:
            text = str(err).splitlines()[0] if str(err) else type(err).__name__
            named = sorted((m.start(), k) for k in kwargs for m in [re.search(rf"\b{k}\b", text)] if m)
            name = named[0][1] if named else next(iter(kwargs))
            value = _fmt(kwargs[name]) if isinstance(kwargs[name], float) else kwargs[name]
            where = " (in the sweep)" if name in swept else ""
            raise ConfigError(f"{group}.{name}", value, message=f"{group}.{name}={_show(value)}{where}: {text}") from None


DISTANCE = Spec(unit="km", long_name="Alice-Bob distance", lo=0.0, hi=1e5)


def build(cfg, groups: tuple[str, ...]) -> Built:
    """Check the config's component groups and run block, and build batched components.

    A top-level ``distance_km`` (the Alice-Bob distance, scalar or swept) sets the ``length_km``
    of every ``channel*`` group to the distance over the number of arms (a source or relay in the
    middle of a two-arm link); the dataset's coordinate is then ``distance_km``.
    """
    run = check_run(cfg.get("run"))
    checked = {}
    for group in groups:
        if cfg.get(group) is None:
            raise ConfigError(group, message=f"{group}: missing; this experiment needs {', '.join(groups)}")
        checked[group] = check_group(group, cfg[group])
    arms = [g for g in groups if registry_group(g) == "channel"]
    distance = _plain(cfg.get("distance_km"))
    derived = {}
    axes = []
    if distance is not None:
        d_scalar, d_sweep = check_value("distance_km", DISTANCE, distance)
        for arm in arms:
            if "length_km" not in checked[arm].values:
                raise ConfigError("distance_km", distance, message=f"distance_km={_show(distance)}: "
                                  f"{arm} '{checked[arm].cls.kind}' has no length_km")
            if isinstance(checked[arm].values["length_km"], np.ndarray):
                raise ConfigError(f"{arm}.length_km", message=f"{arm}.length_km is swept and distance_km is set: "
                                  "sweep one of them")
            if d_sweep is None:
                checked[arm].values["length_km"] = float(d_scalar) / len(arms)
            else:
                derived[f"{arm}.length_km"] = 1.0 / len(arms)
        if d_sweep is not None:
            axes.append(Axis("distance_km", d_sweep, DISTANCE.unit, DISTANCE.long_name))
    for group, c in checked.items():
        for path, spec, v in c.leaves(group):
            if isinstance(v, np.ndarray):
                axes.append(Axis(path, v, spec.unit, spec.long_name or path.rsplit(".", 1)[-1]))
    names = [a.name for a in axes]
    axes = [a if names.count(a.name) == 1 else dataclasses.replace(a, dim=a.path.replace(".", "_"))
            for a in axes]
    grid = Grid(tuple(axes))
    flat = grid.flat()
    for path, factor in derived.items():
        flat[path] = flat["distance_km"] * factor
    for group, c in checked.items():
        for path, sub in c.nested(group):
            check_relations(path, sub.cls, sub.values, flat)
            check_validate(path, sub.cls, sub.values, flat, grid.size)
    comps = {g: batched(c, flat, grid.size, g) for g, c in checked.items()}
    return Built(comps, grid, run, {g: c.values for g, c in checked.items()})


def batched(checked: Checked, flat: dict, size: int, prefix: str):
    """Instance whose numeric leaves have the flattened grid (``size`` points) as leading axis."""
    fields = specs(checked.cls)
    kwargs = {}
    for name, v in checked.values.items():
        path = f"{prefix}.{name}"
        if isinstance(v, Checked):
            kwargs[name] = batched(v, flat, size, path)
        elif fields[name].static:
            kwargs[name] = v
        elif path in flat:
            kwargs[name] = np.asarray(flat[path], np.float64)
        else:
            kwargs[name] = np.full(size, float(v), np.float64)
    for name, arr in checked.data.items():
        kwargs[name] = np.broadcast_to(np.asarray(arr, np.float64), (size, *np.shape(arr)))
    return checked.cls(**kwargs)


def scalar_instance(cls, values: dict):
    """Instance with python scalars (no grid); sweeps are not allowed here."""
    return cls(**{k: (scalar_instance(v.cls, v.values) if isinstance(v, Checked)
                      else float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v)
                  for k, v in values.items()})
