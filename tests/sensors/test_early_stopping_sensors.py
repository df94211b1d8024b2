"""Early stopping of the sensor-stability task: with ``run.target_rel_error`` records are drawn in
rounds of ``stability.realisations`` and a point stops once the relative standard error of its pooled
Allan deviation (delta method over the records' Allan variances) is at most the target at every
averaging time up to ``stability.tau_max_s``, or at ``stability.max_realisations`` records."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import kqjax
from kqjax.api import prepare
from kqjax.config.compose import compose
from kqjax.config.errors import ConfigError
from kqjax.engine import driver
from kqjax.tasks import sensor_common
from kqjax.tasks import sensor_stability as stab

# one set of shapes (2 sweep points, 1024 samples, rounds of 8 records) for every run: one compilation
BASE = ["experiment=gravimeter", "stability.samples=1024", "stability.realisations=8", "stability.tau_max_s=100",
        "sensor.cycle_time_s=[1.5,3]", "run.progress=false"]


@pytest.fixture(scope="module")
def runs():
    return {t: kqjax.run([*BASE, f"run.target_rel_error={t}"]) for t in (0.05, 0.02)}


def _records(ds, point):
    return ds["adev_realisation"].isel(cycle_time_s=point).values


def _kept(ds, point):
    """The averaging times of ``point`` up to tau_max_s (NaN columns are other points' taus)."""
    return np.isfinite(ds["adev"].isel(cycle_time_s=point).values)


def test_points_stop_at_the_first_round_that_reaches_the_target(runs):
    """Each point's error over its kept taus is at most the target, and one round earlier it was
    above it; a looser target stops no later (and here, strictly earlier); the records of a point
    are a prefix of those of a run that draws more, and round 0 is the run without a target."""
    per = 8
    loose, tight = runs[0.05], runs[0.02]
    used = {t: ds["realisations_used"].values for t, ds in runs.items()}
    assert np.all(used[0.05] <= used[0.02]) and used[0.05].sum() < used[0.02].sum()
    plain = kqjax.run(BASE)
    for t, ds in runs.items():
        assert ds.attrs["complete"] == 1 and ds.attrs["max_realisations"] == 16 * per
        for p in range(2):
            n, keep = int(ds["realisations_used"][p]), _kept(ds, p)
            assert n % per == 0 and n < 16 * per
            rec = _records(ds, p)[:n][:, keep]
            assert np.isfinite(rec).all() and np.isnan(_records(ds, p)[n:]).all()
            err = ds["adev_rel_error"].isel(cycle_time_s=p).values[keep]
            assert np.all(err <= t)
            np.testing.assert_allclose(err, stab.rel_errors(rec[None], np.array([n]))[0], rtol=1e-12)
            np.testing.assert_allclose(ds["adev"].isel(cycle_time_s=p).values[keep],
                                       np.sqrt(np.mean(rec ** 2, axis=0)), rtol=1e-12)
            if n > per:
                before = stab.rel_errors(rec[None, :n - per], np.array([n - per]))[0]
                assert before.max() > t
            np.testing.assert_array_equal(rec[:per], _records(plain, p)[:, keep])
    for p in range(2):
        n = int(loose["realisations_used"][p])
        np.testing.assert_array_equal(_records(loose, p)[:n], _records(tight, p)[:n])


def test_the_cap_ends_a_point_in_whole_rounds():
    """``max_realisations=20`` with rounds of 8: at most two rounds, 16 records, above a target of 1e-4."""
    ds = kqjax.run([*BASE, "run.target_rel_error=1e-4", "+stability.max_realisations=20"])
    assert ds.attrs["max_realisations"] == 16 and ds.attrs["complete"] == 1
    np.testing.assert_array_equal(ds["realisations_used"].values, [16, 16])
    assert (ds["adev_rel_error"].max("tau_s").values > 1e-4).all()


def test_an_interrupt_keeps_the_rounds_finished(monkeypatch):
    """A KeyboardInterrupt in the third round (as a Ctrl-C) keeps rounds 0 and 1: complete = 0."""
    calls = []
    real = sensor_common.map_points

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(sensor_common, "map_points", interrupted)
    ds = kqjax.run([*BASE, "run.target_rel_error=1e-3"])
    assert ds.attrs["complete"] == 0
    np.testing.assert_array_equal(ds["realisations_used"].values, [16, 16])
    assert np.isfinite(ds["adev"].values[np.isfinite(ds["adev_model"].values)]).all()


def test_a_stop_request_ends_the_rounds():
    driver.request_stop()
    try:
        ds = kqjax.run([*BASE, "run.target_rel_error=1e-3"])
    finally:
        driver.reset_stop()
    assert ds.attrs["complete"] == 0
    np.testing.assert_array_equal(ds["realisations_used"].values, [8, 8])


def test_delta_method_error_matches_the_spread_of_independent_runs():
    """Delta method (rel SE(sqrt(mean v)) = SE(mean v) / (2 mean v)) over records pooled as in NIST
    SP 1065 (Riley 2008). The estimated relative standard error of the pooled Allan deviation of 32 records (mean over
    400 independent groups of 32) against the relative standard deviation of the 400 groups' pooled
    deviations, at every octave averaging time of 1024 shots (1.5 s to 384 s): the sample standard deviation of 400
    draws has a relative standard error of 1/sqrt(2 x 399) = 3.5 %, so 5 sigma is 18 %."""
    groups, n = 400, 32
    _, built = prepare(compose(["experiment=gravimeter", "stability.samples=1024"]))
    st = dataclasses.replace(built.settings, realisations=groups * n)  # one call: past the field's bound
    out = stab.simulate_points(built.components["sensor"], sensor_common.run_key(built.run), "atom_accelerometer", st)
    rec = np.asarray(out["adev"])[0].reshape(groups, n, -1)
    pooled = np.sqrt(np.mean(rec ** 2, axis=1))
    spread = pooled.std(axis=0, ddof=1) / pooled.mean(axis=0)
    estimate = stab.rel_errors(rec, np.full(groups, n)).mean(axis=0)
    assert np.all((spread > 0.003) & (spread < 0.2))  # a regime where the linearisation holds
    np.testing.assert_array_less(np.abs(estimate / spread - 1), 5 / np.sqrt(2 * (groups - 1)))


@pytest.mark.parametrize("overrides, field", [
    (["experiment=navigation_drift", "run.target_rel_error=0.01"], "run.target_rel_error"),
    ([*BASE, "run.target_rel_error=0.01", "+stability.max_realisations=4"], "stability.max_realisations"),
])
def test_refused_before_any_work_with_one_line(overrides, field):
    with pytest.raises(ConfigError) as err:
        prepare(compose(overrides))
    text = str(err.value)
    assert "\n" not in text and text.startswith(f"{field}="), text
