"""Sweep grids: numeric fields given as lists or ranges become named dimensions.

A swept value is a list (``[0, 50, 100]``) or a range: ``linspace(start, stop, num)``,
``logspace(start_exp, stop_exp, num)``, ``geomspace(start, stop, num)`` or
``arange(start, stop, step)``, also written with colons (``linspace:0:250:51``), the form that
needs no quoting on the command line. Several swept fields form an outer-product grid that the engine
flattens into one vmapped batch.
"""
from __future__ import annotations

import ast
import dataclasses
import re

import numpy as np

MAX_VALUES = 10**6
"""Values of one swept field at most."""
_RANGE = re.compile(r"^\s*(linspace|logspace|geomspace|arange)\s*(?:\((.*)\)|:(.*))\s*$")


class SweepSyntaxError(ValueError):
    """A sweep value that cannot be read."""


def parse_values(value) -> np.ndarray | None:
    """Return a 1-D float array if ``value`` is a sweep, else None (a scalar)."""
    if isinstance(value, str):
        m = _RANGE.match(value)
        if not m:
            return None
        fn, call, colon = m.groups()
        parts = call.split(",") if call is not None else colon.split(":")
        try:
            args = [float(ast.literal_eval(a.strip())) for a in parts]
        except (ValueError, SyntaxError, TypeError, OverflowError) as err:
            raise SweepSyntaxError(f"cannot read {value!r}") from err
        if not all(np.isfinite(args)):
            raise SweepSyntaxError(f"{fn} takes finite numbers")
        if fn in ("linspace", "logspace", "geomspace"):
            if len(args) != 3 or not 1 <= args[2] <= MAX_VALUES or args[2] != int(args[2]):
                raise SweepSyntaxError(f"{fn} takes (start, stop, num) with num an integer in [1, {MAX_VALUES}]")
            if fn == "geomspace" and not np.sign(args[0]) == np.sign(args[1]) != 0:
                raise SweepSyntaxError("geomspace takes a start and a stop of the same sign, neither 0")
            with np.errstate(over="ignore", invalid="ignore"):
                out = getattr(np, fn)(args[0], args[1], int(args[2]))
        else:
            if len(args) not in (2, 3) or (len(args) == 3 and args[2] == 0):
                raise SweepSyntaxError("arange takes (start, stop[, step]) with a non-zero step")
            size = np.ceil((args[1] - args[0]) / (args[2] if len(args) == 3 else 1.0))
            if size > MAX_VALUES:
                raise SweepSyntaxError(f"{value!r} has {size:.0f} values; at most {MAX_VALUES}")
            out = np.arange(*args)
        if out.size == 0:
            raise SweepSyntaxError(f"{value!r} is empty")
        if not np.all(np.isfinite(out)):
            raise SweepSyntaxError(f"{value!r} has values beyond the float range")
        return out.astype(float)
    if isinstance(value, (list, tuple)):
        if len(value) == 0:
            raise SweepSyntaxError("an empty list")
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            raise SweepSyntaxError("a sweep list holds numbers only")
        if len(value) > MAX_VALUES:
            raise SweepSyntaxError(f"a list of {len(value)} values; at most {MAX_VALUES}")
        return np.asarray(value, dtype=float)
    return None


@dataclasses.dataclass(frozen=True)
class Axis:
    """One swept field: its dotted path, values, unit and long name."""

    path: str
    values: np.ndarray
    unit: str = "1"
    long_name: str = ""
    dim: str = ""

    @property
    def name(self) -> str:
        """Dimension name: the field name (``dim`` when two groups sweep the same name)."""
        return self.dim or self.path.split(".")[-1]


@dataclasses.dataclass(frozen=True)
class Grid:
    """Outer product of sweep axes, flattened in C order."""

    axes: tuple[Axis, ...] = ()

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(len(a.values) for a in self.axes)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.axes else 1

    def flat(self) -> dict[str, np.ndarray]:
        """``{path: values over the flattened grid}``."""
        if not self.axes:
            return {}
        mesh = np.meshgrid(*[a.values for a in self.axes], indexing="ij")
        return {a.path: m.reshape(-1) for a, m in zip(self.axes, mesh)}

    def unflatten(self, x: np.ndarray) -> np.ndarray:
        """Reshape a leading flattened-grid axis to the grid's shape (dropped if no sweep)."""
        x = np.asarray(x)
        return x.reshape(self.shape + x.shape[1:]) if self.axes else x[0]

    def dims(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.axes)
