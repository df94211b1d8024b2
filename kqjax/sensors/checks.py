"""Checks of sensor components against their declared parameter bounds.

The config layer validates user input against :class:`kqjax.engine.params.Spec` before building a
component; these helpers apply the same bounds when physics is called directly from Python, so that a
negative atom number fails with one clear line instead of a NaN. Traced values (inside ``jit``/``vmap``)
cannot be inspected and are skipped.
"""
from __future__ import annotations

from typing import Any

import jax
import numpy as np

from kqjax.engine.params import specs


def concrete(value: Any) -> np.ndarray | None:
    """``value`` as a NumPy array if it is concrete, ``None`` if it is a JAX tracer."""
    if isinstance(value, jax.core.Tracer):
        return None
    try:
        return np.asarray(value)
    except (TypeError, jax.errors.ConcretizationTypeError, jax.errors.TracerArrayConversionError):
        return None


def check_fields(component: Any) -> None:
    """Raise ``ValueError`` if a concrete field of ``component`` violates its declared bounds.

    Array-valued fields (a sweep) are checked element by element; the message names the class, the
    field, the offending value and what is allowed.
    """
    name = type(component).__name__
    for field, spec in specs(type(component)).items():
        value = getattr(component, field)
        if spec.choices is not None:
            if value not in spec.choices:
                raise ValueError(f"{name}.{field} = {value!r} is not allowed: must be {spec.allowed()}")
            continue
        arr = concrete(value)
        if arr is None:
            continue
        if arr.dtype == bool or not np.issubdtype(arr.dtype, np.number):
            raise ValueError(f"{name}.{field} = {value!r} is not allowed: must be {spec.allowed()}")
        for v in np.atleast_1d(arr).ravel():
            reason = spec.check(v.item())
            if reason is not None:
                raise ValueError(f"{name}.{field} = {v.item()!r} is not allowed: must be {reason}"
                                 + (f" [{spec.unit}]" if spec.unit not in ("1", "") else ""))


def require(condition: Any, message: str, *values: Any) -> None:
    """Raise ``ValueError(message)`` if ``condition(*values)`` is false anywhere.

    ``condition`` is evaluated with NumPy on the concrete ``values``; if any value is a tracer the
    check is skipped (it cannot be decided while tracing).
    """
    arrays = [concrete(v) for v in values]
    if any(a is None for a in arrays):
        return
    if not bool(np.all(condition(*arrays))):
        raise ValueError(message)


def positive_int(value: Any, name: str, minimum: int = 1) -> int:
    """``value`` as a Python int >= ``minimum`` (shape-setting arguments), else ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or int(value) < minimum:
        raise ValueError(f"{name} = {value!r} is not allowed: must be an integer >= {minimum}")
    return int(value)


def levels(values: Any, name: str) -> tuple[float, ...]:
    """Probability levels (quantiles, confidence) as a tuple of floats in (0, 1), else ``ValueError``."""
    arr = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if arr.ndim != 1 or arr.size == 0 or not np.all((arr > 0) & (arr < 1)):
        raise ValueError(f"{name} = {values!r} is not allowed: must be levels in (0, 1)")
    return tuple(float(v) for v in arr)
