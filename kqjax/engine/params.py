"""Parameters of physical components: defaults, bounds, units and a registry by config group.

A component is a frozen dataclass whose fields are declared with :func:`param`. The metadata
(bounds, unit, long name, allowed choices) is the single source for configuration checking,
dataset labels and optimiser reparameterisation. :func:`component` registers the class as a
JAX pytree (static fields stay out of tracing) and under ``(group, kind)`` so that a config
``channel: {kind: fiber, ...}`` builds it without executing arbitrary callables.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

_REGISTRY: dict[str, dict[str, type]] = {}


@dataclasses.dataclass(frozen=True)
class Spec:
    """What a parameter may be: numeric bounds, or a set of choices for a static field."""

    unit: str = "1"
    long_name: str = ""
    lo: float = -math.inf
    hi: float = math.inf
    lo_open: bool = False
    hi_open: bool = False
    choices: tuple | None = None
    static: bool = False
    integer: bool = False

    @staticmethod
    def _num(x: float) -> str:
        return str(int(x)) if float(x).is_integer() and abs(x) < 1e16 else f"{x:g}"

    def allowed(self) -> str:
        if self.choices is not None:
            return "one of " + ", ".join(map(str, self.choices))
        kind = "an integer" if self.integer else "a number"
        if self.lo == -math.inf and self.hi == math.inf:
            return kind
        if self.hi == math.inf:
            return f"{kind} {'>' if self.lo_open else '>='} {self._num(self.lo)}"
        if self.lo == -math.inf:
            return f"{kind} {'<' if self.hi_open else '<='} {self._num(self.hi)}"
        left = "(" if self.lo_open else "["
        right = ")" if self.hi_open else "]"
        return f"{kind} in {left}{self._num(self.lo)}, {self._num(self.hi)}{right}"

    def check(self, value: Any) -> str | None:
        """Return None if ``value`` is allowed, else a short reason."""
        if self.choices is not None:
            return None if value in self.choices else self.allowed()
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return self.allowed()
        if self.integer and float(value) != int(value):
            return self.allowed()
        v = float(value)
        if math.isnan(v):
            return self.allowed()
        if v < self.lo or (self.lo_open and v == self.lo):
            return self.allowed()
        if v > self.hi or (self.hi_open and v == self.hi):
            return self.allowed()
        return None


def param(default: Any, *, unit: str = "1", long_name: str = "", ge: float | None = None,
          gt: float | None = None, le: float | None = None, lt: float | None = None,
          choices: tuple | None = None, static: bool = False, integer: bool = False) -> Any:
    """Declare a component field with its default, bounds and unit."""
    spec = Spec(
        unit=unit,
        long_name=long_name,
        lo=-math.inf if ge is None and gt is None else (gt if gt is not None else ge),
        hi=math.inf if le is None and lt is None else (lt if lt is not None else le),
        lo_open=gt is not None,
        hi_open=lt is not None,
        choices=choices,
        static=static or choices is not None,
        integer=integer,
    )
    return dataclasses.field(default=default, metadata={"spec": spec, "static": spec.static})


def specs(cls: type) -> dict[str, Spec]:
    """The :class:`Spec` of every declared field of a component class."""
    return {f.name: f.metadata["spec"] for f in dataclasses.fields(cls) if "spec" in f.metadata}


def component(group: str, kind: str) -> Callable[[type], type]:
    """Class decorator: frozen dataclass + pytree + registry entry ``(group, kind)``."""

    def wrap(cls: type) -> type:
        if not dataclasses.is_dataclass(cls):
            cls = dataclasses.dataclass(frozen=True)(cls)
        data, meta = [], []
        for f in dataclasses.fields(cls):
            (meta if f.metadata.get("static", False) else data).append(f.name)
        import jax

        jax.tree_util.register_dataclass(cls, data_fields=data, meta_fields=meta)
        cls.group, cls.kind = group, kind
        _REGISTRY.setdefault(group, {})[kind] = cls
        return cls

    return wrap


def registry(group: str | None = None) -> dict:
    """Registered component classes, all groups or one group's ``{kind: class}``."""
    return _REGISTRY if group is None else _REGISTRY.get(group, {})
