"""The command line, run in a temporary directory exactly as a user types it.

Every call goes through the installed ``kqjax`` / ``kqjax-collect`` executables of this Python
environment (a subprocess with ``cwd`` a fresh temporary directory), with few pulses and short
sweeps so that each call takes seconds.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

BIN = Path(sys.executable).parent
PULSES = "run.pulses=1e7"
# Tests about sweeps and multiruns (not about sampling) run pulse by pulse: event mode compiles in
# a fraction of the count sampler's time, and a million pulses take well under a second.
EVENT = ("run.mode=event", "run.pulses=1e6")

VARIABLES = ("key_rate", "key_rate_asymptotic", "key_rate_bps", "qber", "gain", "y1_lower", "e1_upper",
             "transmittance", "plob_bound")
ATTRS = ("config", "kqjax_version", "jax_version", "seed", "prng_impl", "device", "wall_time_s")
HEADER = ("key rate [bit/pulse]", "key rate [bit/s]", "QBER", "PLOB [bit/pulse]")


def kqjax(cwd, *args, exe="kqjax", timeout=300):
    """Run ``exe args...`` in ``cwd`` as a user would; returns the CompletedProcess."""
    return subprocess.run([str(BIN / exe), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def printed_paths(stdout: str) -> dict:
    """``{"dataset": Path, "plot": Path}`` from the lines the command prints last."""
    out = {}
    for line in stdout.splitlines():
        kind, sep, path = line.partition(": ")
        if sep and kind in ("dataset", "plot"):
            out.setdefault(kind, []).append(Path(path))
    return out


# ---------------------------------------------------------------------------------------------
# A default-style run: the default experiment (51 fiber lengths, 0-250 km) with few pulses


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("default")
    proc = kqjax(tmp, PULSES)
    assert proc.returncode == 0, proc.stderr
    return tmp, proc


def test_default_run_keeps_its_compiled_programs(default_run):
    """The count step compiled by the run is on disk for the next run (KQJAX_CACHE_DIR, set
    for the test session in conftest.py)."""
    names = [p.name for p in Path(os.environ["KQJAX_CACHE_DIR"]).iterdir()]
    assert any(n.startswith("jit_chunk_counts") for n in names), names


def test_default_run_prints_table_and_paths(default_run):
    tmp, proc = default_run
    lines = proc.stdout.splitlines()
    header = next(ln for ln in lines if "key rate [bit/pulse]" in ln)
    assert header.split()[0] == "length_km"
    for col in HEADER:
        assert col in header
    paths = printed_paths(proc.stdout)
    (nc,), (png,) = paths["dataset"], paths["plot"]
    assert nc.name == "results.nc" and png.name == "key_rate.png"
    assert "[INFO]" not in proc.stdout  # no library log chatter (e.g. JAX backend probing) in the table


def test_default_run_writes_files_in_hydra_run_dir(default_run):
    tmp, proc = default_run
    paths = printed_paths(proc.stdout)
    nc, png = paths["dataset"][0], paths["plot"][0]
    assert nc.is_file() and png.is_file()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    run_dir = nc.parent
    assert png.parent == run_dir
    # outputs/<date>/<time>/ under the directory the user ran in, with Hydra's record of the config
    assert run_dir.resolve().parent.parent == (tmp / "outputs").resolve()
    assert (run_dir / ".hydra" / "config.yaml").is_file()
    assert not (tmp / "multirun").exists()
    leftovers = [p.name for p in run_dir.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []  # atomic writes leave no temporary files


def test_results_nc_variables_units_and_provenance(default_run):
    _, proc = default_run
    with xr.open_dataset(printed_paths(proc.stdout)["dataset"][0]) as ds:
        ds = ds.load()
    assert ds["length_km"].attrs["units"] == "km"
    np.testing.assert_allclose(ds["length_km"].values, np.linspace(0, 250, 51))
    for name in VARIABLES:
        assert name in ds.data_vars, name
        assert ds[name].attrs.get("units"), name
        assert ds[name].attrs.get("long_name"), name
        if name != "qber":
            assert np.isfinite(ds[name].values[1:]).all(), name  # PLOB at 0 km is legitimately infinite
    assert ds["qber"].dims == ("length_km", "intensity")
    detected = ds["counts"].values[:, ::2, :2].sum(-1)  # (signal, decoy, vacuum) with bases agreeing
    assert np.array_equal(np.isnan(ds["qber"].values), detected == 0)  # no QBER without detections
    assert ds["key_rate"].dims == ("length_km",)
    assert list(ds["intensity"].values) == ["signal", "decoy", "vacuum"]
    assert ds["key_rate_bps"].attrs["units"] == "bit/s"
    for attr in ATTRS:
        assert attr in ds.attrs, attr
    assert ds.attrs["seed"] == 0 and ds.attrs["prng_impl"] == "threefry2x32"
    assert ds.attrs["wall_time_s"] > 0
    assert "length_km" in ds.attrs["config"] and "pulses: 10000000.0" in ds.attrs["config"]
    # a real result: positive key at short distance, rate falling with distance
    assert ds["key_rate"].values[0] > ds["key_rate"].values[10] > 0


def test_two_field_sweep_gives_2d_grid(tmp_path):
    proc = kqjax(tmp_path, *EVENT, "channel.length_km=[0,50,100]", "detector.efficiency=[0.2,0.6]")
    assert proc.returncode == 0, proc.stderr
    with xr.open_dataset(printed_paths(proc.stdout)["dataset"][0]) as ds:
        ds = ds.load()
    assert ds["key_rate"].dims == ("length_km", "efficiency")
    assert ds["key_rate"].shape == (3, 2)
    assert ds["qber"].dims == ("length_km", "efficiency", "intensity")
    np.testing.assert_allclose(ds["efficiency"].values, [0.2, 0.6])
    assert ds["efficiency"].attrs["config_field"] == "detector.efficiency"
    # more efficient detectors give more key at every length
    assert (ds["key_rate_asymptotic"].sel(efficiency=0.6) > ds["key_rate_asymptotic"].sel(efficiency=0.2)).all()


def test_multirun_and_collect(tmp_path):
    proc = kqjax(tmp_path, "-m", "channel.attenuation_db_per_km=0.16,0.2", *EVENT, "channel.length_km=[0,50,100]")
    assert proc.returncode == 0, proc.stderr
    written = printed_paths(proc.stdout)["dataset"]
    assert len(written) == 2 and all(p.is_file() for p in written)
    sweep_dir = written[0].parent.parent
    assert written[1].parent.parent == sweep_dir
    assert sweep_dir.resolve().parent.parent == (tmp_path / "multirun").resolve()
    assert not (tmp_path / "outputs").exists()

    col = kqjax(tmp_path, str(sweep_dir), exe="kqjax-collect")
    assert col.returncode == 0, col.stderr
    merged_path = sweep_dir / "merged.nc"
    assert f"dataset: {merged_path}" in col.stdout
    with xr.open_dataset(merged_path) as merged:
        merged = merged.load()
    assert merged.sizes["attenuation_db_per_km"] == 2 and merged.sizes["length_km"] == 3
    np.testing.assert_allclose(merged["attenuation_db_per_km"].values, [0.16, 0.2])
    assert merged["key_rate"].dims == ("attenuation_db_per_km", "length_km")
    assert merged.attrs["jobs"] == 2
    # every job's values land at its own coordinate
    for path in written:
        with xr.open_dataset(path) as job:
            job = job.load()
        att = 0.16 if "attenuation_db_per_km: 0.16" in job.attrs["config"] else 0.2
        np.testing.assert_array_equal(merged["key_rate"].sel(attenuation_db_per_km=att).values,
                                      job["key_rate"].values)
    # lower attenuation, more key at 100 km
    kr = merged["key_rate_asymptotic"].sel(length_km=100.0)
    assert float(kr.sel(attenuation_db_per_km=0.16)) > float(kr.sel(attenuation_db_per_km=0.2))


# ---------------------------------------------------------------------------------------------
# Bad input: exit status 2, one line naming the field and the value, and nothing written

BAD = {
    "negative_length": (["channel.length_km=-5"], "channel.length_km", "-5"),
    "probability_above_one": (["source.p_mu=1.5"], "source.p_mu", "1.5"),
    "decoy_not_below_signal": (["source.nu=0.6"], "source.nu", "0.6"),
    "unknown_option": (["channel.lenght_km=3"], "channel.lenght_km", "3"),
    "unknown_group_choice": (["channel=fibre"], "channel", "fibre"),
    "chunk_size_zero": (["run.chunk_size=0"], "run.chunk_size", "0"),
    "chunk_size_below_block": (["run.chunk_size=1000"], "run.chunk_size", "1000"),
    "chunk_size_not_multiple": (["run.chunk_size=100000"], "run.chunk_size", "100000"),
    "bad_sweep_string": (["channel.length_km=linspace:0:100"], "channel.length_km", "linspace:0:100"),
    "unreadable_sweep_string": (["channel.length_km=linspace:0:abc:5"], "channel.length_km", "abc"),
    "bad_value_in_sweep_list": (["channel.length_km=[0,50,-10]"], "channel.length_km", "-10"),
    "non_number_in_sweep_list": (["channel.length_km=[0,50,abc]"], "channel.length_km", "abc"),
    "unquoted_range_call": (["channel.length_km=linspace(0,100,5)"], "channel.length_km", "linspace:0:100:5"),
    "unbalanced_list": (["channel.length_km=[0,50"], "channel.length_km", "[0,50"),
    "added_unknown_key": (["+channel.foo=3"], "channel.foo", "3"),
    "bad_value_in_multirun_job": (["-m", "channel.attenuation_db_per_km=0.2,-1"],
                                  "channel.attenuation_db_per_km", "-1"),
    "negative_mean_pairs": (["experiment=entanglement_100km", "source.mean_pairs=-0.1"], "source.mean_pairs", "-0.1"),
    "unknown_arm": (["experiment=entanglement_100km", "+channel_c.length_km=5"], "channel_c", "channel_a"),
    "single_arm_channel_for_two_arms": (["experiment=tf_qkd", "+channel.length_km=5"], "channel", "channel_b"),
    "phase_drift_out_of_range": (["experiment=tf_qkd", "protocol.phase_drift_deg=120"], "protocol.phase_drift_deg",
                                 "120"),
    "distance_and_arm_length_both_swept": (["experiment=tf_qkd", "channel_a.length_km=[1,2]"],
                                           "channel_a.length_km", "distance_km"),
    "negative_distance": (["distance_km=-3", "channel.length_km=0"], "distance_km", "-3"),
    "missing_table": (["experiment=bb84_table", "channel.path=missing.csv"], "channel.path", "no such file"),
    "no_table_given": (["experiment=bb84_table"], "channel.path", "required"),
    "negative_altitude": (["experiment=satellite_pass", "channel.altitude_km=-5"], "channel.altitude_km", "-5"),
    "tle_missing": (["experiment=satellite_micius", "channel.tle=nope.tle"], "channel.tle", "no such file"),
    "pass_index_beyond_search": (["experiment=satellite_micius", "channel.pass_index=7"], "channel.pass_index",
                                 "2 whole passes"),
    "mask_above_90": (["experiment=satellite_pass", "channel.mask_deg=95"], "channel.mask_deg", "95"),
    "mask_above_the_pass": (["experiment=satellite_pass", "channel.mask_deg=40", "channel.max_elevation_deg=30"],
                            "channel.mask_deg", "40"),
}


@pytest.mark.parametrize("case", BAD.values(), ids=BAD.keys())
def test_bad_input_exits_2_with_one_line_and_no_output(tmp_path, case):
    args, field, value = case
    proc = kqjax(tmp_path, *args, PULSES)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert field in lines[0] and value in lines[0], lines[0]
    assert lines[0].startswith("kqjax: error: ")
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not (tmp_path / "outputs").exists() and not (tmp_path / "multirun").exists()
    assert list(tmp_path.iterdir()) == []


def test_bad_table_names_the_file_line(tmp_path):
    table = tmp_path.parent / f"{tmp_path.name}-pass.csv"
    table.write_text("time_s,transmittance\n0,0.1\n5,0.2\n4,0.3\n")
    proc = kqjax(tmp_path, "experiment=bb84_table", f"channel.path={table}", PULSES)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert "channel.path" in proc.stderr and "line 4: time_s=4 must be > 5" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_collect_of_empty_directory_is_an_error(tmp_path):
    proc = kqjax(tmp_path, str(tmp_path), exe="kqjax-collect")
    assert proc.returncode == 2
    assert len(proc.stderr.splitlines()) == 1 and "results.nc" in proc.stderr
    assert list(tmp_path.iterdir()) == []
