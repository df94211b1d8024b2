"""Task-specific settings blocks (e.g. ``stability``, ``navigation``): run lengths, averaging times,
quantile levels.

A block is a frozen dataclass. Numeric and choice fields are declared with
:func:`kqjax.engine.params.param` and checked against their :class:`~kqjax.engine.params.Spec`;
list-of-probability fields are declared with :func:`levels`. Settings set shapes (they are static),
so they cannot be swept inside a run: a list or range given for one is refused with a pointer to
``-m``. Every refusal is one :class:`ConfigError` line naming the field, the value and what is allowed.
"""
from __future__ import annotations

import dataclasses

from kqjax.config.errors import ConfigError, _show
from kqjax.engine.grid import SweepSyntaxError, parse_values
from kqjax.engine.params import specs


def levels(default: tuple[float, ...], long_name: str = "") -> tuple:
    """Declare a field holding probability levels in (0, 1) (quantiles), given as a list."""
    return dataclasses.field(default=tuple(default), metadata={"levels": True, "long_name": long_name})


def _plain(node):
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if isinstance(node, (DictConfig, ListConfig)):
        return OmegaConf.to_container(node, resolve=True)
    return node


def _is_sweep(value) -> bool:
    try:
        return parse_values(value) is not None
    except SweepSyntaxError:
        return isinstance(value, (list, tuple))


def _levels(path: str, value) -> tuple[float, ...]:
    vals = value if isinstance(value, (list, tuple)) else [value]
    ok = len(vals) > 0
    out = []
    for v in vals:
        if isinstance(v, str):
            try:
                v = float(v)
            except ValueError:
                ok = False
                break
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 < float(v) < 1.0:
            ok = False
            break
        out.append(float(v))
    if not ok:
        raise ConfigError(path, value, "a list of levels in (0, 1), e.g. [0.5, 0.683, 0.95]")
    return tuple(sorted(set(out)))


def check_field(path: str, spec, value, nullable: bool = False):
    """One scalar setting checked against its :class:`Spec` (numbers may come as strings; null
    where ``nullable``); a sweep is refused, since settings set the run's shapes."""
    if value is None and nullable:
        return None
    if spec.choices is None and isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            pass
    if spec.choices is None and _is_sweep(value):
        raise ConfigError(path, value, message=f"{path}={_show(value)}: must be {spec.allowed()} "
                          "(it sets the run's shapes, so it cannot be swept inside a run; use -m)")
    if spec.check(value) is not None:
        raise ConfigError(path, value, spec.allowed() + (" or null" if nullable else ""))
    return int(value) if spec.integer else (float(value) if spec.choices is None else value)


def check_block(block: str, node, cls):
    """Check the config block ``block`` (a mapping or None) against the dataclass ``cls``.

    Missing keys take the dataclass defaults; unknown keys, values out of bounds and sweeps are
    refused with one-line :class:`ConfigError`. Returns an instance of ``cls``.
    """
    node = _plain(node)
    if node is None:
        node = {}
    if not isinstance(node, dict):
        raise ConfigError(block, node, message=f"{block}={_show(node)}: must be a block of settings "
                          f"({', '.join(f.name for f in dataclasses.fields(cls))})")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in node:
        if key not in fields:
            raise ConfigError(f"{block}.{key}", node[key],
                              message=f"{block}.{key}={_show(node[key])}: unknown option; "
                                      f"{block} has: {', '.join(fields)}")
    spec_of = specs(cls)
    out = {}
    for name, f in fields.items():
        if name not in node:
            continue
        path, value = f"{block}.{name}", node[name]
        if f.metadata.get("levels"):
            out[name] = _levels(path, value)
            continue
        out[name] = check_field(path, spec_of[name], value, nullable=f.default is None)
    return cls(**out)
