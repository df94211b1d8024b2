"""The sensor experiments end to end: ``clock_kps``, ``gravimeter``, ``magnetometer_nv`` and
``navigation_drift`` through the Python API (datasets: dims, units, provenance, agreement with the
model) and through the ``kqjax`` executable in a temporary directory, as a user types them.

Sizes are small so that every run takes seconds; Monte Carlo agreement is judged with 5-sigma
intervals (chi-squared bounds from the equivalent degrees of freedom, or the standard error of a
variance) at a fixed seed.
"""
from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from omegaconf import OmegaConf

import kqjax
from kqjax.api import prepare
from kqjax.config.compose import compose, conf_dir
from kqjax.engine import params
from kqjax.sensors import clock, interferometer, magnetometer, navigation

BIN = Path(sys.executable).parent
C = 299_792_458.0
FIVE_SIGMA = math.erf(5 / math.sqrt(2))  # two-sided 5-sigma confidence level
ATTRS = ("config", "kqjax_version", "jax_version", "python_version", "seed", "prng_impl", "device", "host",
         "created", "wall_time_s", "task")

# small runs: the same stability settings for every clock run, so that they share one compilation
CLOCK = ["experiment=clock_kps", "stability.samples=4096", "stability.time_points=16", f"stability.ci={FIVE_SIGMA!r}"]
GRAVIMETER = ["experiment=gravimeter", "stability.samples=2048", f"stability.ci={FIVE_SIGMA!r}"]
MAGNETOMETER = ["experiment=magnetometer_nv", "stability.samples=4096", f"stability.ci={FIVE_SIGMA!r}"]
NAVIGATION = ["experiment=navigation_drift", "navigation.duration_s=3600", "navigation.step_s=20",
              "navigation.time_points=30"]


def check_labels_and_provenance(ds, task):
    for name in [*ds.data_vars, *ds.coords]:
        assert ds[name].attrs.get("units"), name
        assert ds[name].attrs.get("long_name"), name
    for key in ATTRS:
        assert key in ds.attrs, key
    assert ds.attrs["task"] == task and ds.attrs["seed"] == 0
    assert "sensor:" in ds.attrs["config"]


def check_within_bounds(ds):
    """The model lies inside the simulated Allan deviation's 5-sigma interval at every averaging time."""
    lo, hi, model = (ds[v].values for v in ("adev_lo", "adev_hi", "adev_model"))
    ok = np.isfinite(model)
    assert (lo[ok] <= model[ok]).all() and (model[ok] <= hi[ok]).all(), (lo, ds["adev"].values, model, hi)
    assert (lo[ok] < ds["adev"].values[ok]).all() and (ds["adev"].values[ok] < hi[ok]).all()


# ---------------------------------------------------------------------------------------------
# Through the API


@pytest.fixture(scope="module")
def clock_sweep():
    """``clock_kps`` with an atom-number sweep: one extra dimension."""
    return kqjax.run([*CLOCK, "sensor.atom_number=[2e5,2e6]"])


def test_clock_kps_dataset(clock_sweep):
    ds = clock_sweep
    check_labels_and_provenance(ds, "sensor_stability")
    assert ds["adev"].dims == ("atom_number", "tau_s")
    assert ds["adev_realisation"].dims == ("atom_number", "realisation", "tau_s")
    assert ds["time_error"].dims == ds["ranging_error"].dims == ("atom_number", "quantile", "time_s")
    assert ds["adev"].attrs["units"] == "1" and ds["tau_s"].attrs["units"] == "s"
    assert ds["time_error"].attrs["units"] == "s" and ds["ranging_error"].attrs["units"] == "m"
    assert ds["atom_number"].attrs["config_field"] == "sensor.atom_number"
    np.testing.assert_allclose(ds["tau_s"].values, 0.1 * 2.0 ** np.arange(ds.sizes["tau_s"]))  # octaves of T_c
    np.testing.assert_allclose(ds["ranging_error"].values, C * ds["time_error"].values, rtol=1e-12)
    assert (np.diff(ds["time_error"].values, axis=1) >= 0).all()  # quantiles ordered
    assert ds.sizes["realisation"] == 16 and ds.attrs["samples"] == 4096
    for i in range(ds.sizes["atom_number"]):
        check_within_bounds(ds.isel(atom_number=i))


def test_clock_kps_physics(clock_sweep):
    """QPN limit sigma_y(1 s) = sqrt(T_c / N) / (2 pi nu0 C T_R) (Santarelli et al., PRL 82, 4619, 1999),
    scaling as N^-1/2 across the sweep; white-FM model of the rms time error sqrt(h0 t / 2)."""
    p = clock.AtomicClock.preset("rb_compact")
    for n in (2e5, 2e6):
        qpn = math.sqrt(p.cycle_time_s / n) / (2 * math.pi * p.frequency_hz * p.contrast * p.ramsey_time_s)
        assert float(clock_sweep["adev_qpn_1s"].sel(atom_number=n)) == pytest.approx(qpn, rel=1e-12, abs=0)
        pt = clock_sweep.sel(atom_number=n)
        white = float(pt["sensitivity"])
        assert white == pytest.approx(math.hypot(qpn, float(pt["adev_dick_1s"])), rel=1e-12, abs=0)
        t = pt["time_s"].values
        np.testing.assert_allclose(pt["time_error_rms_model"].values, np.sqrt(2 * white**2 * t / 2), rtol=1e-12)
    np.testing.assert_allclose(clock_sweep["adev_dick_1s"].values[0], clock_sweep["adev_dick_1s"].values[1])


def test_clock_kps_time_error_against_white_fm():
    """clock_kps without its flicker floor (white FM: QPN + Dick effect) over 1024 records of 256 cycles: the rms
    time error at each recorded time t satisfies rms^2 = sigma_y^2(1 s) (1 s) t (x = T_c sum y, NIST SP 1065)
    within 5 relative standard errors of a mean square, 5 sqrt(2/1024) = 0.22, with sigma_y(1 s) the dataset's
    ``sensitivity``; the ranging error is c x; the quantiles of |x| lie on the half-normal law within 5 binomial
    standard errors of the CDF."""
    from scipy.special import erf

    n_real = 1024
    ds = kqjax.run(["experiment=clock_kps", "stability.samples=256", f"stability.realisations={n_real}",
                    "stability.time_points=4", "sensor.flicker_floor=0"])
    t = ds["time_s"].values
    np.testing.assert_allclose(t, 0.1 * np.array([1, 6, 40, 256]), rtol=1e-12)
    var_model = float(ds["sensitivity"]) ** 2 * t
    ratio = ds["time_error_rms"].values ** 2 / var_model
    assert np.all(np.abs(ratio - 1) < 5 * math.sqrt(2 / n_real)), ratio
    np.testing.assert_allclose(ds["time_error_rms_model"].values ** 2, var_model, rtol=1e-12)
    q = ds["quantile"].values[:, None]
    cdf = erf(ds["time_error"].values / np.sqrt(2 * var_model))
    assert np.all(np.abs(cdf - q) < 5 * np.sqrt(q * (1 - q) / n_real)), cdf
    np.testing.assert_allclose(ds["ranging_error"].values, C * ds["time_error"].values, rtol=1e-12)


def test_swept_sample_interval_gives_union_of_averaging_times():
    """Averaging times are multiples of the cycle time: sweeping it puts each point's taus on one
    ``tau_s`` axis, NaN where a point has none."""
    ds = kqjax.run([*CLOCK, "sensor.cycle_time_s=[0.1,0.15]"])
    assert ds["adev"].dims == ("cycle_time_s", "tau_s")
    for tc in (0.1, 0.15):
        pt = ds.sel(cycle_time_s=tc)
        ok = np.isfinite(pt["adev"].values)
        np.testing.assert_allclose(pt["tau_s"].values[ok], tc * 2.0 ** np.arange(ok.sum()), rtol=1e-12)
        check_within_bounds(pt)
        assert np.isfinite(pt["time_error"].values).sum() == 3 * 16  # its own 16 times, 3 quantiles


def test_gravimeter_dataset_and_model():
    """Shot-noise-limited sensitivity 1/(C sqrt(N) k_eff T^2) sqrt(T_c) (Peters, Chung & Chu, Metrologia
    38, 25, 2001) with white vibration noise of S_a/(3T) per shot (the triangular sensitivity function of
    Cheinet et al., IEEE TIM 57, 1141, 2008, int g^2 = 2/(3T)); the simulated Allan deviation agrees with
    sensitivity / sqrt(tau)."""
    ds = kqjax.run([*GRAVIMETER, "sensor.vibration_asd_m_s2_per_rthz=[0,8e-8]"])
    check_labels_and_provenance(ds, "sensor_stability")
    assert ds["adev"].dims == ("vibration_asd_m_s2_per_rthz", "tau_s")
    assert ds["adev"].attrs["units"] == "m s-2" and ds["sensitivity"].attrs["units"] == "m s-2 Hz-1/2"
    p = interferometer.AtomAccelerometer.preset("gravimeter_freier2016")
    k_eff = 4 * math.pi / (p.wavelength_nm * 1e-9)
    shot = 1 / (p.contrast * math.sqrt(p.atom_number) * k_eff * p.pulse_separation_s**2)
    vib = 8e-8**2 / (3 * p.pulse_separation_s)
    expected = np.sqrt([shot**2, shot**2 + vib]) * math.sqrt(p.cycle_time_s)
    np.testing.assert_allclose(ds["sensitivity"].values, expected, rtol=1e-12)
    np.testing.assert_allclose(ds["adev_model"].values, expected[:, None] / np.sqrt(ds["tau_s"].values), rtol=1e-12)
    for i in range(2):
        check_within_bounds(ds.isel(vibration_asd_m_s2_per_rthz=i))


def test_magnetometer_nv_dataset_and_model():
    """cw-ODMR sensitivity (4/(3 sqrt 3)) h/(g mu_B) Delta_nu/(C sqrt(R)) (Degen, Reinhard & Cappellaro,
    RMP 89, 035002, 2017); white field noise with Allan deviation eta / sqrt(tau)."""
    ds = kqjax.run(MAGNETOMETER)
    check_labels_and_provenance(ds, "sensor_stability")
    assert ds["adev"].dims == ("tau_s",) and ds["adev"].attrs["units"] == "T"
    p = magnetometer.NVMagnetometer.preset("nv_ensemble")
    eta = 4 / (3 * math.sqrt(3)) * 6.62607015e-34 / (p.g_factor * 9.2740100783e-24) * p.linewidth_hz / (
        p.contrast * math.sqrt(p.photon_rate_hz))
    assert float(ds["sensitivity"]) == pytest.approx(eta, rel=1e-12, abs=0)
    np.testing.assert_allclose(ds["adev_model"].values, eta / np.sqrt(ds["tau_s"].values), rtol=1e-12)
    assert ds["tau_s"].values[0] == pytest.approx(p.sample_time_s)
    check_within_bounds(ds)


def test_navigation_drift_dataset_and_model():
    """Radial error quantiles against the model of the same discrete system (Rayleigh quantiles
    sigma sqrt(-2 ln(1 - q)) of the covariance recursion), and the Monte Carlo rms of one channel within
    5 standard errors of the model's standard deviation (2R Gaussian samples: relative standard error of
    the variance sqrt(2 / (2R)))."""
    ds = kqjax.run(NAVIGATION)
    check_labels_and_provenance(ds, "navigation")
    assert ds["position_error"].dims == ds["position_error_model"].dims == ("quantile", "time_s")
    assert ds["position_error_rms"].dims == ("time_s",) and ds["position_error"].attrs["units"] == "m"
    np.testing.assert_allclose(ds["time_s"].values, 120.0 * np.arange(1, 31))
    q = ds["quantile"].values
    std = ds["position_error_std_model"].values
    np.testing.assert_allclose(ds["position_error_model"].values,
                               std[None, :] * np.sqrt(-2 * np.log1p(-q))[:, None], rtol=1e-12)
    r = ds.attrs["realisations"]
    rel_var = ds["position_error_rms"].values ** 2 / std**2 - 1
    assert (np.abs(rel_var) <= 5 * math.sqrt(2 / (2 * r))).all(), rel_var
    assert (np.diff(ds["position_error"].values, axis=0) >= 0).all()


# ---------------------------------------------------------------------------------------------
# Config: presets and checks before any work


PRESETS = {  # conf/sensor/<stem>.yaml -> the class whose ``preset`` reads it
    "cs_fountain": clock.AtomicClock, "rb_compact": clock.AtomicClock, "sr_optical": clock.AtomicClock,
    "gravimeter_peters2001": interferometer.AtomAccelerometer,
    "gravimeter_freier2016": interferometer.AtomAccelerometer,
    "accelerometer_navigation": interferometer.AtomAccelerometer,
    "gyroscope_atomic_beam": interferometer.AtomGyroscope, "gyroscope_cold_atom": interferometer.AtomGyroscope,
    "nv_single": magnetometer.NVMagnetometer, "nv_ensemble": magnetometer.NVMagnetometer,
    "opm_rb_vapour_cell": magnetometer.OpticallyPumpedMagnetometer,
    "opm_serf_k": magnetometer.OpticallyPumpedMagnetometer,
    "imu_quantum": navigation.InertialNavigator, "imu_navigation_grade": navigation.InertialNavigator,
    "imu_mems": navigation.InertialNavigator,
}


def test_sensor_presets_are_the_configs():
    """conf/sensor/*.yaml is the single source of the presets: ``Class.preset(stem)`` (and
    ``params.preset("sensor", stem)``) builds the class of the file's kind from every dataclass field in
    the file, numbers as floats (PyYAML reads ``3e-15`` as a string), equal to what Hydra/OmegaConf reads."""
    files = {p.stem for p in (conf_dir() / "sensor").glob("*.yaml")}
    assert files == set(PRESETS)
    for stem, cls in PRESETS.items():
        node = OmegaConf.to_container(OmegaConf.load(conf_dir() / "sensor" / f"{stem}.yaml"))
        assert node.pop("kind") == cls.kind
        assert list(node) == [f.name for f in dataclasses.fields(cls)], stem
        preset = cls.preset(stem)
        assert type(preset) is cls and preset == params.preset("sensor", stem)
        preset.validate()
        for name, value in node.items():
            got = getattr(preset, name)
            if isinstance(value, bool):
                assert got is value, (stem, name)
            else:
                assert type(got) is float and got == float(value), (stem, name)
    assert conf_dir is params.conf_dir  # compose re-exports the engine's


def test_field_tables_of_the_docs_state_the_bounds():
    """docs/sensors.md lists every field of every sensor kind with the bounds that the checks apply
    (the ``allowed`` column says what ``Spec.allowed`` says, without its 'a number')."""
    import re

    text = (Path(__file__).resolve().parents[2] / "docs" / "sensors.md").read_text()
    for kind, cls in params.registry("sensor").items():
        block = text.split(f"**`{kind}`**", 1)[1].split("\n\n", 2)[1]
        rows = dict(re.findall(r"^\| `(\w+)` \|[^|]*\|[^|]*\| ([^|]*?) \|", block, re.M))
        assert set(rows) == set(params.specs(cls)), kind
        for name, spec in params.specs(cls).items():
            if spec.choices is None and not spec.text:
                stated = spec.allowed().removeprefix("a number").strip() or "any"
                assert rows[name] == (f"in {stated}" if stated[0] in "[(" else stated), (kind, name)


def test_preset_errors_name_the_choices(tmp_path, monkeypatch):
    """Unknown names, a file of another kind, unknown fields and non-numbers are refused with one line."""
    with pytest.raises(ValueError, match=r"^clock preset 'hydrogen_maser' is unknown: choose one of "
                                         r"cs_fountain, rb_compact, sr_optical$"):
        clock.AtomicClock.preset("hydrogen_maser")
    with pytest.raises(ValueError, match=r"^clock preset 'nv_single' is unknown \(nv_single.yaml is of kind "
                                         r"nv_magnetometer\): choose one of cs_fountain, rb_compact, sr_optical$"):
        clock.AtomicClock.preset("nv_single")
    with pytest.raises(ValueError, match=r"^sensor preset 'nope' is unknown: choose one of accelerometer_navigation, "
                                         r"cs_fountain, .*, sr_optical$"):
        params.preset("sensor", "nope")
    (tmp_path / "sensor").mkdir()
    monkeypatch.setattr(params, "conf_dir", lambda: tmp_path)
    for text, why in [("kind: clock\natom_numbr: 1e6\n", "AtomicClock has no field 'atom_numbr'"),
                      ("kind: clock\natom_number: many\n", r"atom_number = 'many': not a number"),
                      ("kind: clock\natom_number: true\n", r"atom_number = True: not a number"),
                      ("kind: sundial\n", "kind 'sundial' is not a registered sensor")]:
        (tmp_path / "sensor" / "bad.yaml").write_text(text)
        with pytest.raises(ValueError, match=why):
            params.preset("sensor", "bad")
    (tmp_path / "sensor" / "bad.yaml").write_text("kind: clock\natom_number: 2e5\nramsey_time_s: 1\n")
    assert params.preset("sensor", "bad") == clock.AtomicClock(atom_number=2e5, ramsey_time_s=1.0)


BAD = {
    "negative_atom_number": (["experiment=gravimeter", "sensor.atom_number=-5"], "sensor.atom_number=-5", ">= 1"),
    "tau_beyond_record": (["experiment=clock_kps", "stability.tau_max_s=1e9"], "stability.tau_max_s", "beyond"),
    "unknown_preset": (["experiment=magnetometer_nv", "sensor=nv_big"], "sensor=nv_big", "nv_ensemble"),
    "interrogation_longer_than_cycle": (["experiment=clock_kps", "sensor.ramsey_time_s=[0.04,0.5]"],
                                        "sensor.ramsey_time_s=0.5", "cycle_time_s"),
    "pulses_longer_than_cycle": (["experiment=gravimeter", "sensor.pulse_separation_s=1"],
                                 "sensor.pulse_separation_s=1", "cycle_time_s"),
    "run_length_swept": (["experiment=clock_kps", "stability.samples=[1024,2048]"], "stability.samples", "-m"),
    "unknown_setting": (["experiment=navigation_drift", "+navigation.hours=3"], "navigation.hours", "duration_s"),
    "too_few_steps": (["experiment=navigation_drift", "navigation.step_s=1e5"], "navigation.step_s", "<="),
    "bad_quantile": (["experiment=navigation_drift", "navigation.quantiles=[0.5,1]"], "navigation.quantiles",
                     "(0, 1)"),
    "wrong_kind_for_task": (["experiment=navigation_drift", "sensor=rb_compact"], "sensor.kind=clock",
                            "sensor_stability"),
    "optimize_mode": (["experiment=clock_kps", "mode=optimize"], "mode=optimize", "simulate"),
    "optimize_link_objective": (["experiment=gravimeter", "mode=optimize"], "optimize.objective=key_rate",
                                "neg_log10_adev_1s"),
}


@pytest.mark.parametrize("case", BAD.values(), ids=BAD.keys())
def test_bad_input_is_refused_before_any_work(case):
    overrides, field, allowed = case
    with pytest.raises(kqjax.ConfigError) as err:
        prepare(compose(overrides))
    line = str(err.value)
    assert "\n" not in line and line.startswith(field) and allowed in line, line


# ---------------------------------------------------------------------------------------------
# The command line, in a temporary directory


def kqjax_cli(cwd, *args):
    return subprocess.run([str(BIN / "kqjax"), *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def written(stdout: str) -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = {}
    for line in stdout.splitlines():
        kind, sep, path = line.partition(": ")
        if sep and kind in ("dataset", "plot"):
            out.setdefault(kind, []).append(Path(path))
    return out


CLI = {
    "clock_kps": (["stability.samples=2048", "stability.realisations=4"], "time [s]", ("adev.png", "ranging_error.png"),
                  {"adev": ("tau_s",), "ranging_error": ("quantile", "time_s")}),
    "gravimeter": (["stability.samples=1024", "stability.realisations=4"], "tau [s]", ("adev.png",),
                   {"adev": ("tau_s",), "adev_lo": ("tau_s",), "adev_hi": ("tau_s",), "adev_model": ("tau_s",)}),
    "magnetometer_nv": (["stability.samples=1024", "stability.realisations=4"], "tau [s]", ("adev.png",),
                        {"adev": ("tau_s",), "sensitivity": ()}),
    "navigation_drift": (["navigation.duration_s=1800", "navigation.step_s=30", "navigation.realisations=64"],
                         "time [h]", ("position_error.png",),
                         {"position_error": ("quantile", "time_s"), "position_error_model": ("quantile", "time_s")}),
}


@pytest.mark.parametrize("experiment", CLI)
def test_cli_runs_experiment(tmp_path, experiment):
    args, header, pngs, dims = CLI[experiment]
    proc = kqjax_cli(tmp_path, f"experiment={experiment}", *args)
    assert proc.returncode == 0, proc.stderr
    assert header in proc.stdout
    paths = written(proc.stdout)
    (nc,) = paths["dataset"]
    assert nc.name == "results.nc" and nc.is_file()
    assert nc.resolve().parent.parent.parent == (tmp_path / "outputs").resolve()
    assert sorted(p.name for p in paths["plot"]) == sorted(pngs)
    for p in paths["plot"]:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with xr.open_dataset(nc) as ds:
        for name, d in dims.items():
            assert ds[name].dims == d and ds[name].attrs["units"] and ds[name].attrs["long_name"]
        assert ds.attrs["seed"] == 0 and ds.attrs["kqjax_version"]


CLI_BAD = {
    "negative_atom_number": (["experiment=gravimeter", "sensor.atom_number=-5"], "sensor.atom_number=-5"),
    "tau_beyond_record": (["experiment=clock_kps", "stability.tau_max_s=1e9"], "stability.tau_max_s=1e+09"),
    "unknown_preset": (["experiment=magnetometer_nv", "sensor=nv_big"], "sensor=nv_big"),
}


@pytest.mark.parametrize("case", CLI_BAD.values(), ids=CLI_BAD.keys())
def test_cli_bad_input_exits_2_with_one_line_and_no_output(tmp_path, case):
    args, start = case
    proc = kqjax_cli(tmp_path, *args)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"kqjax: error: {start}"), proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert list(tmp_path.iterdir()) == []
