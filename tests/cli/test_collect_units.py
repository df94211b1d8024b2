"""kqjax-collect's across-run dimensions: numbers as numbers (``1e-07`` included), and the units and
long name of their config field, as a sweep inside one run gives them."""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr
from omegaconf import OmegaConf

from kqjax.config.build import build
from kqjax.config.compose import compose
from kqjax.results.collect import _value, collect
from kqjax.results.io import write_dataset
from kqjax.tasks.qkd_link import GROUPS
from tests.cli.test_cli import EVENT, kqjax


def in_run_attrs(field: str, sweep: str, *extra: str) -> dict:
    """``units`` and ``long_name`` of ``field`` swept inside one run (the grid's axis)."""
    axis = next(a for a in build(compose([f"{field}={sweep}", *extra]), GROUPS).grid.axes if a.path == field)
    return {"units": axis.unit, "long_name": axis.long_name}


@pytest.mark.parametrize("text,value", [
    ("1e-07", 1e-7), ("5e-08", 5e-8), ("1E-6", 1e-6), ("1000000000.0", 1e9), ("0.4", 0.4), ("3", 3),
    ("snspd", "snspd"), ("vacuum_weak", "vacuum_weak"), ("infinite", "infinite"), ("null", "null"),
    ("[0,100]", "[0,100]"), ("true", "true"),
])
def test_override_values_read_as_numbers_where_they_are(text, value):
    v = _value(text)
    assert v == value and type(v) is type(value)


def test_exponent_sweep_merges_as_a_numeric_dimension_with_units(tmp_path):
    """A multirun over values Hydra writes with an exponent (1e-07: a string to YAML 1.1) merges
    into a float coordinate in numeric order, selectable by value, with the field's units."""
    sweep = tmp_path / "sweep"
    proc = kqjax(tmp_path, "-m", "detector.dark_count_prob=1e-7,1e-6,5e-8", *EVENT, "channel.length_km=[0,100]",
                 "run.progress=false", f"hydra.sweep.dir={sweep}")
    assert proc.returncode == 0, proc.stderr
    assert "detector.dark_count_prob=1e-07" in (sweep / "0" / ".hydra" / "overrides.yaml").read_text()
    col = kqjax(tmp_path, str(sweep), exe="kqjax-collect")
    assert col.returncode == 0, col.stderr
    with xr.open_dataset(sweep / "merged.nc") as merged:
        merged = merged.load()
    dcp = merged["dark_count_prob"]
    assert dcp.dtype == np.float64 and list(dcp.values) == [5e-8, 1e-7, 1e-6]
    assert merged["key_rate"].sel(dark_count_prob=1e-7).dims == ("length_km",)
    expected = in_run_attrs("detector.dark_count_prob", "[1e-7,1e-6]")
    assert expected["units"] == "1" and expected["long_name"]
    assert {k: dcp.attrs[k] for k in ("units", "long_name")} == expected
    assert dcp.attrs["config_field"] == "detector.dark_count_prob"


def _job(directory, name, overrides, config):
    ds = xr.Dataset({"key_rate": ("length_km", [1e-3, 1e-4])}, coords={"length_km": [0.0, 50.0]},
                    attrs={"complete": 1, "config": config})
    write_dataset(ds, directory / name / "results.nc")
    (directory / name / ".hydra").mkdir()
    (directory / name / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))


def test_every_across_run_dimension_carries_its_field_units_and_long_name(tmp_path):
    """Numeric fields (a component's, run's, distance_km) get the in-run sweep's units and long
    name; a choice (protocol.decoy) and a config group (detector=...) a long name; 0 and 1e-07
    make one float coordinate."""
    config = OmegaConf.to_yaml(compose([]), resolve=True)
    for i, (att, dcp, decoy, det, pulses, dist) in enumerate([(0.16, "0", "vacuum_weak", "snspd", "1e9", 10),
                                                              (0.2, "1e-07", "infinite", "gys", "2e9", 20)]):
        _job(tmp_path, str(i), [f"channel.attenuation_db_per_km={att}", f"detector.dark_count_prob={dcp}",
                                f"protocol.decoy={decoy}", f"detector={det}", f"run.pulses={pulses}",
                                f"distance_km={dist}"], config)
    merged = collect(tmp_path)
    for name, field, *sweep in (("attenuation_db_per_km", "channel.attenuation_db_per_km", "[0.16,0.2]"),
                                ("dark_count_prob", "detector.dark_count_prob", "[0,1e-7]"),
                                ("distance_km", "distance_km", "[10,20]", "channel.length_km=0")):
        assert {k: merged[name].attrs.get(k) for k in ("units", "long_name")} == in_run_attrs(field, *sweep), name
    assert merged["dark_count_prob"].dtype == np.float64 and list(merged["dark_count_prob"].values) == [0, 1e-7]
    assert merged["attenuation_db_per_km"].attrs["units"] == "dB/km"
    assert merged["pulses"].attrs == {"units": "1", "long_name": "pulses sent per sweep point",
                                      "config_field": "run.pulses"}
    assert merged["decoy"].attrs == {"long_name": "decoy-state estimation", "config_field": "protocol.decoy"}
    assert merged["detector"].attrs == {"long_name": "detector preset", "config_field": "detector"}
