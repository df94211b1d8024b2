"""The protocol experiments from the command line, as a user types them (short sweeps, few pulses)."""
from __future__ import annotations

import numpy as np
import xarray as xr

from .test_cli import kqjax, printed_paths


def run(tmp_path, *args):
    proc = kqjax(tmp_path, *args, "run.progress=false")
    assert proc.returncode == 0, proc.stderr
    paths = printed_paths(proc.stdout)
    with xr.open_dataset(paths["dataset"][0]) as ds:
        return ds.load(), proc.stdout, paths


def test_tf_qkd(tmp_path):
    """TF-QKD over 0-600 km: the dataset has the rates, the Alice-Bob transmittance, the PLOB bound,
    decoy BB84 over the same fiber and the crossover distance beyond which TF-QKD beats PLOB
    (about 260 km with the defaults: Lucamarini et al. 2018 give ~200 km ideal, ~340 km realistic)."""
    ds, out, paths = run(tmp_path, "experiment=tf_qkd", "distance_km=linspace:0:600:13", "run.pulses=1e8")
    for name in ("key_rate", "key_rate_asymptotic", "transmittance", "plob_bound", "key_rate_bb84",
                 "plob_crossover_km", "phase_error", "s1_lower"):
        assert name in ds and "units" in ds[name].attrs, name
    assert ds["key_rate"].dims == ("distance_km",) and ds["distance_km"].attrs["units"] == "km"
    assert np.allclose(ds["transmittance"], 10 ** (-0.02 * ds["distance_km"]), rtol=1e-12)
    assert 200 < float(ds["plob_crossover_km"]) < 340
    far = ds.sel(distance_km=[400.0, 450.0])
    assert np.all(far["key_rate_asymptotic"] > far["plob_bound"]) and np.all(far["key_rate_bb84"] == 0)
    assert ds.attrs["protocol"] == "sns_tf" and ds.attrs["topology"] == "alice -> charlie <- bob"
    assert [p.name for p in paths["plot"]] == ["key_rate.png"]
    assert "sns_tf" in out


def test_entanglement_100km(tmp_path):
    """BBM92, distance x mean pair number: the optimal mean pair number at every distance, CHSH
    from the visibility, and the optimum plot."""
    ds, out, paths = run(tmp_path, "experiment=entanglement_100km", "distance_km=[0,100,200]",
                         "source.mean_pairs=geomspace:0.003:1:11", "run.pulses=1e8")
    assert ds["key_rate"].dims == ("distance_km", "mean_pairs")
    assert ds["mean_pairs_opt"].dims == ("distance_km",)
    opt = float(ds["mean_pairs_opt"].sel(distance_km=100.0))
    assert 0.01 < opt < 0.5
    assert np.allclose(ds["chsh"], 2 * np.sqrt(2) * (1 - 2 * ds["qber"]), rtol=1e-12)
    assert {p.name for p in paths["plot"]} == {"key_rate.png", "optimum.png"}
    assert "optimal mean_pairs" in out


def test_transmittance_table_keeps_time_slots(tmp_path):
    table = tmp_path.parent / f"{tmp_path.name}-pass.csv"
    table.write_text("time_s,loss_db\n0,35\n1,20\n2,35\n")
    ds, out, _ = run(tmp_path, "experiment=bb84_table", f"channel.path={table}", "run.pulses=2e8",
                     "run.slot_s=0.5")
    assert ds["key_rate"].dims == ("time_s",) and ds.sizes["time_s"] == 4
    assert ds["time_s"].attrs["units"] == "s" and "key_rate_pooled" in ds
    assert int(ds["sent"].sum()) == 2 * 10**8
    assert "time slots" in out


def test_satellite_pass(tmp_path):
    """A 500 km LEO downlink pass: per-slot elevation, range, loss and key rate along time_s, the
    pass duration, and the pulses sent following from it (pass duration x repetition rate)."""
    ds, out, _ = run(tmp_path, "experiment=satellite_pass", "channel.max_elevation_deg=50", "run.slot_s=20")
    for name in ("elevation_deg", "range_km", "loss_db", "key_rate_bps", "fried_parameter_m"):
        assert ds[name].dims == ("time_s",) and ds[name].attrs["units"], name
    duration = float(ds["pass_duration_s"])
    assert 250 < duration < 600
    assert int(ds["sent"].sum()) == int(np.ceil(duration * 1e8))
    el = ds["elevation_deg"].values
    assert 10 <= el.min() < 15 and 45 < el.max() <= 50
    # the loss is lowest near the highest elevation, and the key rate highest there
    assert int(np.argmin(ds["loss_db"].values)) == int(np.argmax(el)) == int(np.argmax(ds["key_rate_bps"].values))
    assert float(ds["key_rate_pooled"]) > 0 and "time slots" in out
