"""The moving-platform experiments from the command line, as a user types them (few pulses)."""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from .test_cli import kqjax, printed_paths


@pytest.mark.parametrize("experiment, extra, slots", [
    ("drone_link", ("run.pulses=2e7", "run.slot_s=0.02"), 10),
    ("ship_link", ("run.pulses=2e8", "run.slot_s=0.5"), 4),
])
def test_moving_platform_experiment(tmp_path, experiment, extra, slots):
    """Time slots along time_s, finite rates, the pooled rate, the transmittance and the plots
    (without the fading statistics, which the free-space tests cover)."""
    proc = kqjax(tmp_path, f"experiment={experiment}", *extra, "run.fading_samples=0", "run.progress=false")
    assert proc.returncode == 0, proc.stderr
    paths = printed_paths(proc.stdout)
    with xr.open_dataset(paths["dataset"][0]) as ds:
        ds = ds.load()
    assert ds["key_rate"].dims == ("time_s",) and ds.sizes["time_s"] == slots
    assert ds["time_s"].attrs["units"] == "s"
    for name in ("key_rate", "key_rate_asymptotic", "key_rate_bps", "transmittance", "key_rate_pooled",
                 "key_rate_asymptotic_pooled"):
        assert np.all(np.isfinite(ds[name])), name
    assert float(ds["key_rate_pooled"]) > 0 and float(ds["key_rate_asymptotic_pooled"]) > 0
    assert np.allclose(ds["transmittance"], float(ds["transmittance_pooled"]), rtol=1e-9)  # a stationary fading
    assert 0 < float(ds["transmittance_pooled"]) < 1
    names = {p.name for p in paths["plot"]}
    assert {"key_rate.png", "time_series.png"} <= names
    assert all(p.stat().st_size > 0 for p in paths["plot"])
    assert "time slots" in proc.stdout


def test_bad_platform_value_is_refused(tmp_path):
    proc = kqjax(tmp_path, "experiment=ship_link", "channel.fading.motion.roll_period_s=0")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "kqjax: error: channel.fading.motion.roll_period_s=0: must be a number in (0, 1000]"
