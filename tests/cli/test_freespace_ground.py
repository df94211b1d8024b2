"""The freespace_ground experiment from the command line, as a user types it (few pulses, a short
sweep, log-normal scintillation to keep the compilation short: the default gamma-gamma fading of
the experiment is tested in tests/links/test_fading_statistics.py): the turbulence quantities, the
fading statistics and pdtc.png; a bad quantile level is refused with one line."""
from __future__ import annotations

import numpy as np
import xarray as xr

from .test_cli import kqjax, printed_paths


def test_freespace_ground(tmp_path):
    proc = kqjax(tmp_path, "experiment=freespace_ground", "channel.cn2=[1e-15,1e-13]", "run.pulses=1e6",
                 "run.fading_samples=500", "run.quantiles=[0.1,0.5]", "channel.fading.scintillation=lognormal", "run.progress=false")
    assert proc.returncode == 0, proc.stderr
    paths = printed_paths(proc.stdout)
    with xr.open_dataset(paths["dataset"][0]) as ds:
        ds = ds.load()
    for name in ("rytov_variance", "fried_parameter_m", "scintillation_index", "transmittance_mean",
                 "outage_probability", "key_rate_quantile", "transmittance_samples", "transmittance_density"):
        assert name in ds and "units" in ds[name].attrs and "long_name" in ds[name].attrs, name
        assert np.all(np.isfinite(ds[name])), name
    assert ds["transmittance_samples"].dims == ("cn2", "sample") and ds.sizes["sample"] == 500
    assert ds["key_rate_quantile"].dims == ("cn2", "quantile") and list(ds["quantile"].values) == [0.1, 0.5]
    assert "outage" in ds["outage_probability"].attrs["long_name"]
    assert np.all((ds["outage_probability"] >= 0) & (ds["outage_probability"] <= 1))
    # stronger turbulence: a wider transmittance distribution and a lower 10 % key rate
    spread = ds["transmittance_samples"].std("sample") / ds["transmittance_samples"].mean("sample")
    assert spread.sel(cn2=1e-13) > spread.sel(cn2=1e-15)
    low = ds["key_rate_quantile"].sel(quantile=0.1)
    assert low.sel(cn2=1e-13) < low.sel(cn2=1e-15)
    assert {p.name for p in paths["plot"]} == {"key_rate.png", "pdtc.png"}
    assert all(p.stat().st_size > 0 for p in paths["plot"])


def test_bad_quantile_and_sample_count(tmp_path):
    proc = kqjax(tmp_path, "experiment=freespace_ground", "run.quantiles=[0.5,1.5]")
    assert proc.returncode == 2 and not (tmp_path / "outputs").exists()
    assert proc.stderr.strip() == ("kqjax: error: run.quantiles=[0.5, 1.5]: must be a list of levels in (0, 1), "
                                   "e.g. [0.5, 0.683, 0.95]")
    proc = kqjax(tmp_path, "experiment=freespace_ground", "run.fading_samples=-3")
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0
    assert "run.fading_samples=-3" in proc.stderr and "[0, 1000000]" in proc.stderr
