"""Fuzzing every experiment's config with hypothesis, and extreme but valid runs.

For every experiment in conf/experiment and every numeric field of its components and of ``run``
(bounds from the fields' declared specs, kqjax/engine/params.py): a value outside the declared
range gives a one-line ConfigError that names the field; a value inside it is accepted, or refused
by a cross-field condition with a one-line ConfigError naming a field of the same block. For the
default experiment the model is evaluated at drawn valid values (asymptotic key rate and
transmittance finite and in range). Every experiment is also run through ``kqjax.run`` at drawn
valid values of its components' fields, small (one sweep point, few pulses or samples, one time
slot; over a pass, where the pass sets the pulses, a repetition rate of at most 0.01 MHz), and its
dataset must be finite, or the value refused with one line. Extreme inputs run the real pipeline with few pulses: 0 and
1000 km of fiber, 10^15 pulses planned and stopped after the first chunk, a one-point and a
2000-point grid. The PLOB bound -log2(1 - eta) is +inf at eta = 1 (a lossless channel has no
repeaterless bound) and is the only variable allowed to be infinite, there only; the only NaN
allowed is ``plob_crossover_km`` where the rate never beats the bound after the first swept distance.
"""
from __future__ import annotations

import copy
import functools
import math
import zlib

import jax
import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings, strategies as st
from omegaconf import OmegaConf

import kqjax
from kqjax.api import prepare
from kqjax.config.compose import compose
from kqjax.config.errors import ConfigError
from kqjax.config.run import RUN_SPECS
from kqjax.engine import driver
from kqjax.engine.params import conf_dir, specs

EXPERIMENTS = sorted(p.stem for p in (conf_dir() / "experiment").glob("*.yaml"))
FUZZ = settings(max_examples=6, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])
RUN_FIELDS = ("seed", "pulses", "chunk_size", "workers", "slot_s")


def _numeric(cls, prefix, values):
    """``(path, spec)`` of the numeric fields of a checked component (nested parts included)."""
    fields = specs(cls)
    for name, v in values.items():
        if hasattr(v, "cls") and hasattr(v, "values"):  # a nested part (channel.fading)
            yield from _numeric(v.cls, f"{prefix}.{name}", v.values)
        elif name in fields and not fields[name].static:
            yield f"{prefix}.{name}", fields[name]


@functools.cache
def _experiment(name):
    """The composed config of an experiment (channel files it needs given) and its numeric fields."""
    extra = []
    if name == "bb84_table":  # a time series of its own
        import tempfile
        from pathlib import Path

        table = Path(tempfile.mkdtemp(prefix="kqjax-fuzz-")) / "pass.csv"
        table.write_text("time_s,loss_db\n0,35\n1,20\n2,35\n")
        extra = [f"channel.path={table}"]
    cfg = compose([f"experiment={name}", *extra])
    _, built = prepare(cfg)  # every experiment's own config must be valid
    fields = [f for g, vals in built.values.items() for f in _numeric(type(built.components[g]), g, vals)]
    fields += [(f"run.{k}", RUN_SPECS[k]) for k in RUN_FIELDS]
    return cfg, tuple(fields)


def _with(cfg, path, value):
    cfg = copy.deepcopy(cfg)
    OmegaConf.update(cfg, path, value, merge=False, force_add=True)  # a field the config leaves at its default
    return cfg


def _inside(spec):
    """Values inside the declared range (a finite stand-in for an unbounded side)."""
    lo = spec.lo if math.isfinite(spec.lo) else -1e6
    hi = spec.hi if math.isfinite(spec.hi) else max(lo, 0.0) * 10 + 1e6
    if spec.integer:
        return st.integers(math.ceil(lo + spec.lo_open), math.floor(hi - spec.hi_open))
    return st.floats(lo, hi, exclude_min=spec.lo_open, exclude_max=spec.hi_open, allow_nan=False)


def _outside(spec):
    """Values just outside the declared range, and non-numbers."""
    bad = [math.nan]
    if math.isfinite(spec.lo):
        bad.append(spec.lo if spec.lo_open else spec.lo - max(abs(spec.lo), 1.0) * 1e-3)
    if math.isfinite(spec.hi):
        bad.append(spec.hi if spec.hi_open else spec.hi + max(abs(spec.hi), 1.0) * 1e-3)
    if spec.integer:
        lo = spec.lo if math.isfinite(spec.lo) else 0.0
        bad.append(lo + 0.5 + spec.lo_open)
    return st.sampled_from(bad)


def _one_line(err: ConfigError, path: str):
    text = str(err)
    assert "\n" not in text and text.strip() == text, text
    return text


@pytest.mark.parametrize("name", EXPERIMENTS)
@FUZZ
@given(data=st.data())
def test_a_value_outside_its_range_is_refused_with_one_line(name, data):
    cfg, fields = _experiment(name)
    path, spec = data.draw(st.sampled_from(fields), label="field")
    value = data.draw(_outside(spec), label="value")
    with pytest.raises(ConfigError) as err:
        prepare(_with(cfg, path, value))
    text = _one_line(err.value, path)
    assert text.startswith(f"{path}="), text
    assert spec.allowed() in text, text


@pytest.mark.parametrize("name", EXPERIMENTS)
@FUZZ
@given(data=st.data())
def test_a_value_inside_its_range_is_accepted_or_refused_by_a_relation(name, data):
    cfg, fields = _experiment(name)
    path, spec = data.draw(st.sampled_from(fields), label="field")
    value = data.draw(_inside(spec), label="value")
    try:
        prepare(_with(cfg, path, value))
    except ConfigError as err:  # a cross-field condition (nu < mu, probabilities summing to 1, ...)
        text = _one_line(err, path)
        block = path.rsplit(".", 1)[0]
        assert text.startswith((block, "distance_km", "run.")), text
        assert spec.allowed() not in text.split(": ", 1)[-1] or "(in the sweep)" in text, text


@functools.cache
def _default_model():
    cfg, fields = _experiment("fiber_bb84")
    from kqjax.tasks.qkd_link import link_of

    expected = jax.jit(jax.vmap(lambda c: link_of(c).expected(0.0)))
    return cfg, [f for f in fields if not f[0].startswith("run.")], expected


@settings(FUZZ, max_examples=16)
@given(data=st.data())
def test_the_default_model_is_finite_at_valid_values(data):
    cfg, fields, expected = _default_model()
    path, spec = data.draw(st.sampled_from(fields), label="field")
    value = data.draw(_inside(spec), label="value")
    try:
        _, built = prepare(_with(cfg, path, value))
    except ConfigError:
        return  # refused by a relation (the test above)
    out = {k: np.asarray(v) for k, v in expected(built.components).items()}
    eta = out["transmittance"]
    assert np.isfinite(eta).all() and ((eta >= 0) & (eta <= 1)).all(), (path, value, eta)
    rate = out["key_rate_asymptotic"]
    assert np.isfinite(rate).all() and (rate >= 0).all() and (rate <= 1).all(), (path, value, rate)
    assert np.isfinite(out["plob_bound"][eta < 1]).all() and (out["plob_bound"][eta == 1] == np.inf).all()


# ---------------------------------------------------------------------------------------------
# Every experiment run at drawn valid values

PASS_RATE_MHZ = 0.01  # over a pass the pulses are its time window x the repetition rate


def _small(name, cfg):
    """Overrides that make a run of experiment ``name`` small: one sweep point (the middle of each
    sweep), few pulses or samples, one time slot, few optimiser steps; and whether a pass sets its pulses."""
    _, built = prepare(cfg)
    task, mode = cfg.get("task"), cfg.get("mode", "simulate")
    out = [f"++{a.path}={a.values[len(a.values) // 2].item()!r}" for a in built.grid.axes]
    if mode != "simulate":
        out += ["optimize.steps=2", "optimize.samples=8"]
    window = False
    if task == "qkd_link":
        out += ["run.pulses=65536", "run.chunk_size=4194304", "run.fading_samples=16", "run.slot_s=1e6",
                "run.progress=false"]
        window = mode == "simulate" and built.run.pulses != int(float(cfg.run.pulses))
        if window:
            out.append(f"++source.rep_rate_mhz={PASS_RATE_MHZ}")
    elif task == "sensor_stability" and mode == "simulate":
        out += ["stability.samples=256", "stability.realisations=2"]
    elif task == "navigation":
        out += ["navigation.duration_s=600", "navigation.step_s=10", "navigation.realisations=8",
                "navigation.time_points=10"]
    return out, window


@functools.cache
def _runnable(name):
    cfg, fields = _experiment(name)
    extra = [f"channel.path={cfg.channel.path}"] if name == "bb84_table" else []
    small, window = _small(name, cfg)
    own = [f for f in fields if not f[0].startswith("run.")]
    order = np.random.default_rng(zlib.crc32(name.encode())).permutation(len(own))  # other fields first per experiment
    return [f"experiment={name}", *extra, *small], window, [own[i] for i in order]


@pytest.mark.parametrize("name", EXPERIMENTS)
@settings(FUZZ, max_examples=3, phases=(Phase.explicit, Phase.generate))  # a failing run is costly to shrink
@given(data=st.data())
def test_every_experiment_gives_a_finite_dataset_at_valid_values(name, data):
    base, window, fields = _runnable(name)
    path, spec = data.draw(st.sampled_from(fields), label="field")
    if window and path.endswith("rep_rate_mhz"):
        value = data.draw(st.floats(0, PASS_RATE_MHZ, exclude_min=True), label="value")
    else:
        value = data.draw(_inside(spec), label="value")
    try:
        ds = kqjax.run([*base, f"++{path}={value!r}"])
    except ConfigError as err:  # a cross-field condition
        _one_line(err, path)
        return
    _finite(ds, allow_plob_inf=True)


# ---------------------------------------------------------------------------------------------
# Extreme but valid inputs: the real pipeline with few pulses


UNOBSERVED = ("qber", "qber_x", "visibility", "chsh", "qber_rel_error")  # NaN where nothing was detected


def _finite(ds, allow_plob_inf=False):
    for name, da in ds.data_vars.items():
        values = np.asarray(da.values)
        if not np.issubdtype(values.dtype, np.number):
            continue
        if name == "plob_bound" and allow_plob_inf:
            values = values[np.asarray(ds["transmittance"].values) < 1]
        if name in UNOBSERVED:  # NaN only at points where a measured setting had no clicks
            c = ds["counts"]
            starved = ((c.isel(outcome=slice(0, 2)).sum("outcome") == 0) & (c.sum("outcome") > 0)).any("setting")
            nan = da.isnull()
            assert not (nan.any([d for d in nan.dims if d not in starved.dims]) & ~starved).any(), name
            values = values[~np.isnan(values)]
        if name == "plob_crossover_km":
            values = values[~np.isnan(values)]
        if name == "fried_parameter_m" and "rytov_variance" in ds:  # r0 = inf exactly where the path has no turbulence
            calm = np.asarray(ds["rytov_variance"].values) == 0
            assert (values[calm] == np.inf).all(), name
            values = values[~calm]
        assert np.isfinite(values).all(), name
        if name in ("sent", "counts"):
            assert (values >= 0).all(), name


SENSORS = ("clock_kps", "gravimeter", "magnetometer_nv", "navigation_drift")


@pytest.mark.parametrize("name", SENSORS)
def test_every_sensor_field_at_its_lower_bound_gives_a_finite_dataset(name):
    base, _, fields = _runnable(name)
    ran = 0
    for path, spec in fields:
        if path.startswith("sensor.") and math.isfinite(spec.lo) and not spec.lo_open:
            try:
                ds = kqjax.run([*base, f"++{path}={spec.lo!r}"])
            except ConfigError as err:  # a cross-field condition
                _one_line(err, path)
                continue
            _finite(ds)
            ran += 1
    assert ran >= 2, name


def test_0_to_1000_km_of_fiber_on_a_2000_point_grid():
    ds = kqjax.run(["channel.length_km=linspace:0:1000:2000", "run.pulses=65536", "run.progress=false"])
    assert ds.sizes["length_km"] == 2000
    _finite(ds, allow_plob_inf=True)
    assert float(ds.transmittance[0]) == 1.0 and float(ds.plob_bound[0]) == np.inf
    assert np.isclose(float(ds.transmittance[-1]), 1e-20, rtol=1e-12)  # 0.2 dB/km x 1000 km
    assert float(ds.key_rate[-1]) == 0.0 and float(ds.key_rate_asymptotic[-1]) == 0.0
    assert 0 < float(ds.plob_bound[-1]) < 1e-19
    rate = ds["key_rate_asymptotic"].values
    assert rate[0] > 0 and (np.diff(rate) <= 1e-15).all()  # never more key over longer fiber
    np.testing.assert_array_equal(ds.sent.sum("setting").values, 65536)


def test_one_point_of_1e15_pulses_stopped_after_its_first_chunk(monkeypatch, capsys):
    """The long-run notice comes before any work, and a stop after the first chunk keeps it."""

    class StopAfterFirst:
        def update(self, n):
            driver.request_stop()

        def close(self):
            pass

    monkeypatch.setattr(driver, "_bar", lambda *a, **k: StopAfterFirst())
    driver.reset_stop()
    ds = kqjax.run(["channel.length_km=[25]", "run.pulses=1e15", "run.chunk_size=65536"])
    driver.reset_stop()
    assert ds.sizes["length_km"] == 1
    assert ds.attrs["complete"] == 0 and ds.attrs["pulses_done"] == 65536 and ds.attrs["pulses"] == 10**15
    assert "this run will take about" in capsys.readouterr().err
    _finite(ds)
    assert int(ds.sent.sum("setting")[0]) == 65536
    assert 0 < float(ds.key_rate_asymptotic[0]) < float(ds.transmittance[0])


def test_the_measured_pace_of_a_long_run_is_announced(monkeypatch, capsys):
    """After the chunks that follow the first, the time left at their measured throughput:
    40 chunks of 65536 pulses, each taking 0.02 s of the driver's clock (a clock of the test's,
    so the pace is exact), against a threshold of 0.2 s."""
    import types

    clock = [0.0]
    monkeypatch.setattr(driver, "_LONG_RUN_S", 0.2)
    monkeypatch.setattr(driver, "time", types.SimpleNamespace(perf_counter=lambda: clock[0]))

    def step(first, sizes, idx=None):
        clock[0] += 0.02
        return {"n": np.asarray(sizes).sum()}

    out = driver.accumulate(step, 40 * 65536, 65536, progress=False, workers=1)
    assert out.complete
    err = capsys.readouterr().err
    assert f"kqjax: at the measured {65536 / 0.02:.3g} pulses/s this run needs about" in err
    left_h = float(err.split("needs about ")[1].split(" h")[0])
    assert left_h * 3600 == pytest.approx(38 * 0.02, rel=5e-3)  # 38 chunks left at 0.02 s each
