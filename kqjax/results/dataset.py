"""Dataset assembly: named dimensions, units, long names and provenance attributes."""
from __future__ import annotations

import dataclasses
import platform
import time

import numpy as np
import xarray as xr


@dataclasses.dataclass(frozen=True)
class Var:
    """How to store one output: extra dims after the sweep dims, unit and long name."""

    dims: tuple[str, ...] = ()
    units: str = "1"
    long_name: str = ""


def assemble(arrays: dict, variables: dict[str, Var], grid, coords: dict | None = None) -> xr.Dataset:
    """Dataset of ``arrays`` (leading flattened-grid axis) reshaped onto the grid's dimensions."""
    data = {}
    for name, var in variables.items():
        values = grid.unflatten(np.asarray(arrays[name]))
        data[name] = xr.Variable(grid.dims() + var.dims, values,
                                 {"units": var.units, "long_name": var.long_name or name})
    ds = xr.Dataset(data)
    for axis in grid.axes:
        ds = ds.assign_coords({axis.name: xr.Variable(axis.name, axis.values,
                                                      {"units": axis.unit, "long_name": axis.long_name,
                                                       "config_field": axis.path})})
    for name, (dim, values, attrs) in (coords or {}).items():
        ds = ds.assign_coords({name: xr.Variable(dim, np.asarray(values), attrs)})
    return ds


def provenance(config_yaml: str, seed: int, prng: str, wall_s: float, **extra) -> dict:
    """Attributes every dataset carries."""
    import jax

    import kqjax

    dev = jax.devices()[0]
    attrs = {
        "kqjax_version": kqjax.__version__,
        "jax_version": jax.__version__,
        "python_version": platform.python_version(),
        "seed": int(seed),
        "prng_impl": prng,
        "device": f"{dev.platform}:{getattr(dev, 'device_kind', dev.platform)} x{jax.device_count()}",
        "host": platform.node(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "wall_time_s": float(wall_s),
        "config": config_yaml,
    }
    for k, v in extra.items():
        attrs[k] = int(v) if isinstance(v, (bool, np.bool_)) else v
    return attrs
