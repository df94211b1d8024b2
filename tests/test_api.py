"""The Python API: ``kqjax.run`` gives what the command line writes, checks input the same way, and
writes files only when asked."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import kqjax

BIN = Path(sys.executable).parent
OVERRIDES = ["run.pulses=1e7", "run.seed=7", "channel.length_km=[0,40,80,120]", "detector=gys"]


@pytest.fixture(scope="module")
def cli_dataset(tmp_path_factory):
    """What ``kqjax OVERRIDES...`` writes, run as a user types it."""
    tmp = tmp_path_factory.mktemp("cli")
    proc = subprocess.run([str(BIN / "kqjax"), *OVERRIDES], cwd=tmp, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    path = next(Path(ln.split(": ", 1)[1]) for ln in proc.stdout.splitlines() if ln.startswith("dataset: "))
    with xr.open_dataset(path) as ds:
        return ds.load()


@pytest.fixture(scope="module")
def api_dataset(tmp_path_factory):
    return kqjax.run(overrides=OVERRIDES)


def test_run_returns_dataset_equal_to_cli(api_dataset, cli_dataset):
    ds = api_dataset
    assert isinstance(ds, xr.Dataset)
    np.testing.assert_array_equal(ds["key_rate"].values, cli_dataset["key_rate"].values)
    assert set(ds.data_vars) == set(cli_dataset.data_vars)
    for name in ds.data_vars:  # counts exactly, rates to the bit, same dims, units and names
        np.testing.assert_array_equal(ds[name].values, cli_dataset[name].values, err_msg=name)
        assert ds[name].dims == cli_dataset[name].dims
        assert ds[name].attrs == cli_dataset[name].attrs
    np.testing.assert_array_equal(ds["length_km"].values, [0, 40, 80, 120])
    assert ds.attrs["config"] == cli_dataset.attrs["config"]
    assert ds.attrs["seed"] == cli_dataset.attrs["seed"] == 7
    assert ds["counts"].dtype.kind == "i" and ds["sent"].dtype.kind == "i"
    assert (ds["key_rate"].values[:2] > 0).all()


@pytest.mark.parametrize("overrides, field", [
    (["channel.length_km=-5"], "channel.length_km"),
    (["source.p_mu=1.5"], "source.p_mu"),
    (["source.nu=0.6"], "source.nu"),
    (["channel.lenght_km=3"], "channel.lenght_km"),
    (["channel=fibre"], "channel"),
    (["run.chunk_size=1000"], "run.chunk_size"),
    (["run.workers=0"], "run.workers"),
    (["channel.length_km=linspace:0:100"], "channel.length_km"),
    (["channel.length_km=[0,50,-10]"], "channel.length_km"),
], ids=["negative_length", "probability", "relation", "unknown_option", "unknown_choice", "chunk_size",
        "workers", "sweep_string", "sweep_value"])
def test_run_raises_config_error_and_writes_nothing(tmp_path, monkeypatch, overrides, field):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    with pytest.raises(kqjax.ConfigError) as info:
        kqjax.run(overrides=overrides + ["run.pulses=1e7"], output_dir=out)
    assert info.value.field == field
    assert field in str(info.value) and "\n" not in str(info.value)
    assert isinstance(info.value, ValueError)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("overrides, says", [
    ("run.pulses=1e7", "overrides='run.pulses=1e7': must be a list of strings, e.g. ['run.pulses=1e7']"),
    ([1], "overrides: 1 is not a string"),
    (["hydra.run.dir=elsewhere"], "overrides: hydra.run.dir=elsewhere: Hydra's own settings do not apply"),
])
def test_run_refuses_overrides_that_are_not_a_list_of_settings(tmp_path, monkeypatch, overrides, says):
    """A plain string (whose characters Hydra would read as overrides), a non-string item and a
    Hydra setting (``hydra.run.dir``, which kqjax.run does not use: ``output_dir`` does) are
    refused in one line, before any work."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(kqjax.ConfigError) as info:
        kqjax.run(overrides)
    assert str(info.value).startswith(says) and "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


def test_a_relation_error_gives_both_values():
    """The user may have set either field of a relation: the line shows both values."""
    with pytest.raises(kqjax.ConfigError) as info:
        kqjax.run(["source.mu=0.05"])
    assert str(info.value) == "source.nu=0.1: must be < source.mu=0.05"


def test_run_writes_files_only_with_output_dir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    small = ["run.mode=event", "run.pulses=1e6", "channel.length_km=[10,20]"]  # compiles fastest
    ds = kqjax.run(small)
    assert ds["key_rate"].shape == (2,)
    assert list(tmp_path.iterdir()) == []

    out = tmp_path / "results"
    ds2 = kqjax.run(small, output_dir=out)
    assert sorted(p.name for p in out.iterdir()) == ["key_rate.png", "results.nc"]
    with xr.open_dataset(out / "results.nc") as saved:
        np.testing.assert_array_equal(saved["key_rate"].values, ds2["key_rate"].values)
        assert saved["length_km"].attrs["units"] == "km"
    np.testing.assert_array_equal(ds["key_rate"].values, ds2["key_rate"].values)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]
