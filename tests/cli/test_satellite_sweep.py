"""The satellite-pass experiments from the command line, as a user types them (a few passes of
5e10-8e10 pulses each)."""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from kqjax import run as kqjax_run
from kqjax.config.errors import ConfigError

from .test_cli import kqjax, printed_paths

SWEEP = ["experiment=satellite_sweep", "channel.altitude_km=[500,1000]", "channel.receiver_aperture_m=[0.7,1.2]",
         "run.progress=false"]


def run(tmp_path, *args):
    tmp_path.mkdir(parents=True, exist_ok=True)
    proc = kqjax(tmp_path, *args)
    assert proc.returncode == 0, proc.stderr
    paths = printed_paths(proc.stdout)
    with xr.open_dataset(paths["dataset"][0]) as ds:
        return ds.load(), paths


def test_satellite_sweep_key_per_pass(tmp_path):
    """Altitude x aperture: the finite key of every pass, simulated and of its expected counts,
    and key_per_pass.png. The expected key grows with the aperture and falls with the altitude;
    it is the objective of mode=evaluate (optimize.objective=secret_key_bits) on the longest pass
    (1000 km) to 1e-6, and below it on the shorter one, which the run continues after it sets
    (dark counts only: every point runs for the longest window of the sweep)."""
    ds, paths = run(tmp_path / "sim", *SWEEP)
    for name in ("secret_key_bits_pooled", "secret_key_bits_expected", "pass_duration_s", "key_rate_pooled"):
        assert name in ds and ds[name].attrs["units"], name
    assert set(ds["secret_key_bits_expected"].dims) == {"altitude_km", "receiver_aperture_m"}
    assert "key_per_pass.png" in [p.name for p in paths["plot"]]
    key = ds["secret_key_bits_expected"]
    assert np.all(key > 0)
    assert np.all(key.sel(receiver_aperture_m=1.2) > key.sel(receiver_aperture_m=0.7))
    assert np.all(key.sel(altitude_km=500.0) > key.sel(altitude_km=1000.0))
    assert np.all(ds["secret_key_bits_pooled"] > 0)

    objective = kqjax_run([*SWEEP, "mode=evaluate"])["objective"].transpose(*key.dims)
    longest = {"altitude_km": 1000.0}
    np.testing.assert_allclose(objective.sel(longest), key.sel(longest) + 0.5, rtol=1e-6, atol=0.5)
    assert np.all(objective.sel(altitude_km=500.0) > key.sel(altitude_km=500.0))


def test_optimize_pass_from_the_command_line(tmp_path):
    """experiment=optimize_pass at two highest elevations, a few Adam steps: the optimum beats
    the start and is written with its parameters and optimum.png."""
    ds, paths = run(tmp_path, "experiment=optimize_pass", "channel.max_elevation_deg=[30,60]",
                    "optimize.optimizer=adam", "optimize.steps=5")
    assert np.all(ds["objective_opt"] > ds["objective"].isel(step=0))
    for name in ("mu_opt", "nu_opt", "p_mu_opt", "p_nu_opt", "p_z_opt"):
        assert name in ds, name
    assert ds["objective_opt"].attrs["units"] == "bit"
    assert "optimum.png" in [p.name for p in paths["plot"]]


def test_bad_pass_settings_fail_before_any_work(tmp_path):
    """One line naming the field, the value and what is allowed; exit status 2, nothing written
    (and the same message from Python)."""
    proc = kqjax(tmp_path, "experiment=optimize_pass", "optimize.time_nodes=0")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == "kqjax: error: optimize.time_nodes=0: must be an integer in [1, 4096]"
    assert not (tmp_path / "outputs").exists()
    with pytest.raises(ConfigError, match=r"^protocol.ec_leakage=ldpc: must be one of efficiency, finite_size$"):
        kqjax_run(["experiment=optimize_pass", "protocol.ec_leakage=ldpc"])
