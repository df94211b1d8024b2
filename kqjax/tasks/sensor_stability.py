"""Stability of a quantum sensor: Monte Carlo noise records -> Allan deviation with confidence bounds.

One task for every sensor whose output is a noisy time series at a fixed sample interval: atomic
clocks (fractional frequency; experiment ``clock_kps`` adds the time error and the ranging error a
navigation user sees), atom-interferometer accelerometers/gravimeters and gyroscopes, NV and
optically pumped magnetometers. The physics is :mod:`kqjax.sensors`; this module checks the
``stability`` block, runs the kind's ``simulate`` vmapped over the sweep grid and assembles the dataset.

``adev`` is the overlapping Allan deviation pooled over the ``realisations`` independent records
(root mean square of their Allan variances); its bounds ``adev_lo, adev_hi`` are the chi-squared interval
of SP 1065 eq. (45) with ``realisations x`` Greenhall's equivalent degrees of freedom of one record (the
pooled variance of independent records has the sum of their degrees of freedom).

With ``run.target_rel_error`` the records are drawn in rounds of ``realisations`` (round 0 with the
run's key, so it is the run without a target; round r > 0 with ``fold_in(stream(key, "rounds"), r)``),
and a point stops after the first round at which the relative standard error of its pooled Allan
deviation, at every averaging time up to ``tau_max_s``, is at most the target, or once
``max_realisations`` records are drawn. That error is the delta method's over the records' Allan
variances ``v_i``: rel SE(adev) = SE(mean v) / (2 mean v), SE(mean v) = std(v) / sqrt(n).
"""
from __future__ import annotations

import dataclasses
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

import kqjax.sensors  # noqa: F401  (registers the sensor components)
from kqjax.config.errors import ConfigError
from kqjax.config.settings import check_block, levels
from kqjax.engine import driver
from kqjax.engine.keys import stream
from kqjax.engine.params import param
from kqjax.results.dataset import Var, assemble
from kqjax.sensors import allan, clock, interferometer, magnetometer
from kqjax.sensors.clock import SPEED_OF_LIGHT
from kqjax.tasks import sensor_common as common

GROUPS = ("sensor",)
NAME = "sensor_stability"
MAX_VALUES = 2**25  # samples x realisations per sweep point (float64 record and its FFT buffers)
ROUNDS_DEFAULT = 16  # early stopping: records at most, in rounds, when stability.max_realisations is null
CHUNK_BYTES = 2**29  # memory for the sweep points simulated at once (about 64 bytes per sample)


@dataclasses.dataclass(frozen=True)
class StabilitySettings:
    """The ``stability`` block: record length, realisations, averaging times, confidence level."""

    samples: int = param(4096, ge=16, le=10_000_000, integer=True,
                         long_name="samples per record (clock cycles, interferometer shots, magnetometer samples)")
    realisations: int = param(16, ge=1, le=4096, integer=True,
                              long_name="independent records per sweep point (with run.target_rel_error: per round)")
    max_realisations: int | None = param(None, ge=1, le=2**20, integer=True,
                                         long_name="records per sweep point at most with run.target_rel_error, "
                                                   "in whole rounds (null: 16 x realisations)")
    taus: str = param("octave", choices=("octave", "decade"),
                      long_name="averaging times: octave (1, 2, 4, .. samples) or decade (1, 2, 4, 10, 20, ..)")
    tau_max_s: float | None = param(None, gt=0, unit="s",
                                    long_name="longest averaging time reported (null: the longest the record allows)")
    ci: float = param(0.683, gt=0, lt=1, long_name="confidence level of adev_lo, adev_hi")
    time_points: int = param(48, ge=1, le=10_000, integer=True,
                             long_name="times at which a clock's time error is reported (log-spaced)")
    quantiles: tuple = levels((0.5, 0.683, 0.95), "quantile levels of a clock's |time error| over realisations")


@dataclasses.dataclass(frozen=True)
class Kind:
    """How one sensor kind maps onto this task."""

    module: object
    length: str  # simulate()'s record-length argument
    interval: str  # the field that sets the sample interval
    units: str  # units of the measured quantity
    quantity: str
    sensitivity_units: str
    sensitivity_name: str


KINDS = {
    "clock": Kind(clock, "n_cycles", "cycle_time_s", "1", "fractional frequency", "1",
                  "white-FM Allan deviation at 1 s (quantum projection noise + Dick effect)"),
    "atom_accelerometer": Kind(interferometer, "n_shots", "cycle_time_s", "m s-2", "acceleration",
                               "m s-2 Hz-1/2", "acceleration sensitivity (Allan deviation at 1 s)"),
    "atom_gyroscope": Kind(interferometer, "n_shots", "cycle_time_s", "rad s-1", "rotation rate",
                           "rad s-1 Hz-1/2", "rotation-rate sensitivity (Allan deviation at 1 s)"),
    "nv_magnetometer": Kind(magnetometer, "n_samples", "sample_time_s", "T", "magnetic field", "T Hz-1/2",
                            "field sensitivity (white noise)"),
    "opm_magnetometer": Kind(magnetometer, "n_samples", "sample_time_s", "T", "magnetic field", "T Hz-1/2",
                             "field sensitivity (white noise)"),
}

CLOCK_KEYS = ("time_s", "quantile", "time_error_s", "ranging_error_m", "time_error_rms_s", "time_error_rms_model_s")


# --------------------------------------------------------------------------------------------
# Config-time checks


def _intervals(built, kind: str) -> np.ndarray:
    return np.asarray(getattr(built.components["sensor"], KINDS[kind].interval), np.float64)


def check(cfg, built):
    """The ``stability`` block, the sensor kind and the averaging times, before any work."""
    if cfg.get("mode", "simulate") != "simulate":  # optimize/evaluate: the closed-form design model only
        mode, kind = cfg.get("mode"), type(built.components["sensor"]).kind
        if kind != "atom_accelerometer":
            raise ConfigError("mode", mode, message=f"mode={mode}: task {NAME} has an objective only for "
                              f"sensor.kind=atom_accelerometer, not {kind}; use mode=simulate")
        return built
    kind = common.require_kind(built, tuple(KINDS), NAME, "; an inertial_navigation sensor runs with task=navigation")
    st = check_block("stability", cfg.get("stability"), StabilitySettings)
    if st.samples * st.realisations > MAX_VALUES:
        raise ConfigError("stability.samples", st.samples,
                          message=f"stability.samples={st.samples}: samples x realisations = "
                                  f"{st.samples * st.realisations} must be <= {MAX_VALUES} (memory per sweep "
                                  "point); lower stability.samples or stability.realisations")
    target = built.run.target_rel_error
    if target is not None and st.max_realisations is not None and st.max_realisations < st.realisations:
        raise ConfigError("stability.max_realisations", st.max_realisations,
                          message=f"stability.max_realisations={st.max_realisations}: must be >= "
                                  f"stability.realisations={st.realisations} (the records of one round of "
                                  f"run.target_rel_error={target})")
    m, _ = allan.averaging_factors("oadev", st.samples + 1, 1.0, st.taus)
    if st.tau_max_s is not None:
        dt = _intervals(built, kind)
        field = f"sensor.{KINDS[kind].interval}"
        if st.tau_max_s > m[-1] * dt.min() * (1 + 1e-12):
            raise ConfigError("stability.tau_max_s", st.tau_max_s,
                              message=f"stability.tau_max_s={st.tau_max_s:g}: beyond the record; must be <= "
                                      f"{m[-1] * dt.min():g} s (the longest averaging time of {st.samples} samples "
                                      f"of {field}={dt.min():g} s; raise stability.samples for longer taus)")
        if st.tau_max_s < dt.max() * (1 - 1e-12):
            raise ConfigError("stability.tau_max_s", st.tau_max_s,
                              message=f"stability.tau_max_s={st.tau_max_s:g}: must be >= the sample interval "
                                      f"{field}={dt.max():g} s")
    return dataclasses.replace(built, settings=st)


# --------------------------------------------------------------------------------------------
# Objectives of mode=optimize / mode=evaluate (atom accelerometer; closed form, no Monte Carlo)

# name -> (units, long name); values to maximise (kqjax.optimize clips them at 0: keep them positive).
OBJECTIVES = {
    "neg_log10_adev_1s": ("1", "-log10(1-s acceleration Allan deviation / m s-2)"),
}


def objective_samples(name: str, components: dict, key, samples: int):
    """``-log10(sigma_a(1 s) / (m s^-2))`` of the atom accelerometer, one value (no random draws):
    :meth:`~kqjax.sensors.interferometer.AtomAccelerometer.design_sensitivity`, differentiable in
    every numeric field (e.g. the pulse separation T). ``key`` and ``samples`` are unused."""
    if name not in OBJECTIVES:
        raise ValueError(f"unknown objective {name!r}; one of {', '.join(OBJECTIVES)}")
    return jnp.atleast_1d(-jnp.log10(components["sensor"].design_sensitivity()))


# --------------------------------------------------------------------------------------------
# The Monte Carlo


def _one(sensor, key, kind: str, st: StabilitySettings) -> dict:
    """One sweep point: the kind's ``simulate`` and the arrays this task keeps."""
    k = KINDS[kind]
    args = {k.length: st.samples, "n_realisations": st.realisations, "taus": st.taus, "ci": st.ci}
    if kind == "clock":
        out = clock.simulate(sensor, key, n_time_points=st.time_points, quantiles=st.quantiles, **args)
        qpn, dick = sensor.qpn_adev(1.0), sensor.dick_adev(1.0)
        extra = {"adev_qpn_1s": qpn, "adev_dick_1s": dick, "sensitivity": jnp.sqrt(qpn ** 2 + dick ** 2),
                 **{key_: out[key_] for key_ in CLOCK_KEYS}}
    else:
        out = k.module.simulate(sensor, key, **args)
        extra = {"sensitivity": out["sensitivity"]}
    return {"tau_s": out["tau_s"], "adev": out["adev"], "adev_model": out["adev_model"], "edf": out["edf"], **extra}


@partial(jax.jit, static_argnames=("kind", "settings"))
def simulate_points(sensor, key, kind: str, settings: StabilitySettings) -> dict:
    """:func:`_one` vmapped over the sweep points (the leading axis of every numeric field)."""
    return jax.vmap(lambda s: _one(s, key, kind, settings))(sensor)


def _drawn(records: np.ndarray, used: np.ndarray) -> np.ndarray:
    """``[G, n]``: which of the ``n`` record slots of each point hold a record (its first ``used``)."""
    return np.arange(records.shape[1])[None, :] < np.asarray(used)[:, None]


def _pool(records: np.ndarray, used: np.ndarray, edf: np.ndarray, ci: float) -> dict:
    """Allan deviation pooled over each point's ``used`` records ``[G, n, tau]`` (root mean square),
    with the chi-squared interval of the summed EDF."""
    v = np.where(_drawn(records, used)[..., None], records ** 2, 0.0)
    adev = np.sqrt(v.sum(axis=1) / used[:, None])
    lo, hi = allan.confidence_interval(adev, used[:, None] * edf, ci)
    return {"adev": adev, "adev_lo": np.asarray(lo), "adev_hi": np.asarray(hi)}


def rel_errors(records: np.ndarray, used: np.ndarray) -> np.ndarray:
    """Relative standard error ``[G, tau]`` of the pooled Allan deviation of each point's ``used``
    records ``[G, n, tau]`` by the delta method: with ``v_i = adev_i^2``,
    rel SE(sqrt(mean v)) = std(v) / (2 sqrt(n) mean v) (sample std, ``ddof=1``); ``inf`` from one record,
    0 where every record agrees."""
    used = np.asarray(used)
    drawn = _drawn(records, used)[..., None]
    n = used[:, None].astype(np.float64)
    v = records ** 2
    mean = np.where(drawn, v, 0.0).sum(axis=1) / n
    var = np.where(drawn, (v - mean[:, None]) ** 2, 0.0).sum(axis=1) / np.maximum(n - 1, 1)
    se = np.sqrt(var / n)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(se == 0, 0.0, se / (2 * mean))
    return np.where(n >= 2, rel, np.inf)


def max_records(st: StabilitySettings) -> int:
    """Records per point at most with early stopping: ``max_realisations`` (null: ``ROUNDS_DEFAULT x
    realisations``) rounded down to whole rounds of ``realisations``."""
    cap = st.max_realisations if st.max_realisations is not None else ROUNDS_DEFAULT * st.realisations
    return max(1, cap // st.realisations) * st.realisations


def round_key(root, r: int):
    """Key of round ``r`` of early stopping: the run's key for round 0 (the records of a run without a
    target), then ``fold_in(stream(root, "rounds"), r)``."""
    return root if r == 0 else jax.random.fold_in(stream(root, "rounds"), r)


def _rounds(simulate, sensor, size: int, chunk: int, first: np.ndarray, keep: np.ndarray, target: float,
            cap: int, per: int):
    """Early stopping: more rounds of ``per`` records for the points whose worst relative error over the
    kept averaging times is above ``target``, until none is or they have ``cap`` records. ``first``:
    round 0's records ``[G, per, tau]``. A stop request (Ctrl-C) keeps the rounds finished.
    Returns (records ``[G, n, tau]``, NaN past a point's own, records used ``[G]``, complete)."""
    rounds, used, complete = [first], np.full(size, per, np.int64), True
    while True:
        records = np.concatenate(rounds, axis=1)
        err = np.nan_to_num(rel_errors(records, used), nan=np.inf)
        worst = np.where(keep, err, -np.inf).max(axis=-1)
        running = np.flatnonzero((worst > target) & (used < cap))
        if running.size == 0:
            return records, used, complete
        if driver.stop_requested():
            return records, used, False
        try:
            out = common.map_points(simulate(len(rounds)), sensor, size, chunk, points=running)
        except KeyboardInterrupt:
            return records, used, False
        new = np.full_like(first, np.nan)
        new[running] = out["adev"]
        rounds.append(new)
        used[running] += per


def _records(ds) -> str:
    """Records pooled per point: ``realisations``, or the range of ``realisations_used``."""
    if "realisations_used" not in ds:
        return str(ds.attrs.get("realisations", "?"))
    used = np.asarray(ds["realisations_used"].values)
    return f"{used.min()}" if used.min() == used.max() else f"{used.min()}-{used.max()}"


def _key(t: float) -> float:
    return float(f"{t:.12g}")


def _union(coord: np.ndarray, keep: np.ndarray):
    """The union of every sweep point's kept coordinate values (averaging times, or times: these depend
    on the sample interval, which may be swept), and each point's column in it (-1: not kept)."""
    if (coord == coord[:1]).all() and (keep == keep[:1]).all():
        cols = np.where(keep[0], np.cumsum(keep[0]) - 1, -1)
        return coord[0][keep[0]], np.broadcast_to(cols, coord.shape)
    union = sorted({_key(t) for t, k in zip(coord.ravel(), keep.ravel()) if k})
    where = {t: i for i, t in enumerate(union)}
    cols = np.array([[where[_key(t)] if k else -1 for t, k in zip(row, krow)] for row, krow in zip(coord, keep)])
    return np.asarray(union), cols


def _on_union(values: np.ndarray, cols: np.ndarray, n: int) -> np.ndarray:
    """``values (G, ..., k)`` placed on a union of ``n`` coordinate values (NaN where a point has none)."""
    out = np.full(values.shape[:-1] + (n,), np.nan)
    for g in range(values.shape[0]):
        ok = cols[g] >= 0
        out[g, ..., cols[g][ok]] = values[g, ..., ok]
    return out


def variables(kind: str, st: StabilitySettings, early_stopping: bool = False) -> dict[str, Var]:
    k = KINDS[kind]
    pct = f"{100 * st.ci:.3g} %"
    what = f"overlapping Allan deviation of the {k.quantity}"
    out = {
        "adev": Var(("tau_s",), k.units, f"{what} (pooled over realisations)"),
        "adev_lo": Var(("tau_s",), k.units, f"lower {pct} confidence bound of adev"),
        "adev_hi": Var(("tau_s",), k.units, f"upper {pct} confidence bound of adev"),
        "adev_model": Var(("tau_s",), k.units, "expected Allan deviation (noise model)"),
        "adev_realisation": Var(("realisation", "tau_s"), k.units, f"{what}, each realisation"),
        "edf": Var(("tau_s",), "1", "equivalent degrees of freedom of one realisation (Greenhall)"),
        "sensitivity": Var((), k.sensitivity_units, k.sensitivity_name),
    }
    if early_stopping:
        out.update({
            "realisations_used": Var((), "1", "records drawn at the point (early stopping: run.target_rel_error)"),
            "adev_rel_error": Var(("tau_s",), "1", "relative standard error of adev (delta method over the "
                                                   "records' Allan variances)"),
        })
    if kind == "clock":
        out.update({
            "adev_qpn_1s": Var((), "1", "quantum-projection-noise Allan deviation at 1 s"),
            "adev_dick_1s": Var((), "1", "Dick-effect Allan deviation at 1 s"),
            "time_error": Var(("quantile", "time_s"), "s",
                              "time error |x(t)| of the free-running clock (quantile over realisations)"),
            "ranging_error": Var(("quantile", "time_s"), "m",
                                 "ranging error c |x(t)| seen by a navigation user (quantile over realisations)"),
            "time_error_rms": Var(("time_s",), "s", "rms time error over realisations"),
            "time_error_rms_model": Var(("time_s",), "s", "rms time error, white-FM model sqrt(h0 t / 2)"),
            "ranging_error_rms_model": Var(("time_s",), "m", "rms ranging error, white-FM model c sqrt(h0 t / 2)"),
        })
    return out


def run(built):
    st: StabilitySettings = built.settings
    sensor = built.components["sensor"]
    kind = type(sensor).kind
    size = built.grid.size
    chunk = max(1, CHUNK_BYTES // (64 * st.samples * st.realisations))
    root = common.run_key(built.run)

    def simulate(r):
        return lambda s: simulate_points(s, round_key(root, r), kind, st)

    out = common.map_points(simulate(0), sensor, size, chunk)
    tau = out["tau_s"]
    keep = tau <= (st.tau_max_s * (1 + 1e-12) if st.tau_max_s is not None else np.inf)
    target = built.run.target_rel_error
    if target is None:
        records, used, complete = out["adev"], np.full(size, st.realisations, np.int64), True
    else:
        records, used, complete = _rounds(simulate, sensor, size, chunk, out["adev"], keep, target,
                                          max_records(st), st.realisations)
        out["adev_rel_error"] = rel_errors(records, used)
    out["adev_realisation"] = records
    out.update(_pool(records, used, out["edf"], st.ci))
    taus, cols = _union(tau, keep)
    names = ("adev", "adev_lo", "adev_hi", "adev_model", "edf", "adev_realisation")
    arrays = {name: _on_union(out[name], cols, len(taus)) for name in names + ("adev_rel_error",) if name in out}
    arrays["sensitivity"] = out["sensitivity"]
    if target is not None:
        arrays["realisations_used"] = used
    coords = {"tau_s": ("tau_s", taus, {"units": "s", "long_name": "averaging time"}),
              "realisation": ("realisation", np.arange(records.shape[1]),
                              {"units": "1", "long_name": "independent record"})}
    if kind == "clock":
        times, tcols = _union(out["time_s"], np.ones(out["time_s"].shape, bool))
        on_t = lambda v: _on_union(v, tcols, len(times))  # noqa: E731
        arrays.update({"adev_qpn_1s": out["adev_qpn_1s"], "adev_dick_1s": out["adev_dick_1s"],
                       "time_error": on_t(out["time_error_s"]), "ranging_error": on_t(out["ranging_error_m"]),
                       "time_error_rms": on_t(out["time_error_rms_s"]),
                       "time_error_rms_model": on_t(out["time_error_rms_model_s"]),
                       "ranging_error_rms_model": SPEED_OF_LIGHT * on_t(out["time_error_rms_model_s"])})
        coords["time_s"] = ("time_s", times, {"units": "s", "long_name": "time since synchronisation"})
        coords["quantile"] = ("quantile", out["quantile"][0], {"units": "1", "long_name": "quantile level"})
    ds = assemble(arrays, variables(kind, st, target is not None), built.grid, coords=coords)
    attrs = {"sensor_kind": kind, "samples": st.samples, "realisations": st.realisations, "taus": st.taus,
             "ci": st.ci, "random_numbers": "one key for every sweep point (common random numbers)"}
    if st.tau_max_s is not None:
        attrs["tau_max_s"] = st.tau_max_s
    if target is not None:
        attrs.update(target_rel_error=target, max_realisations=max_records(st), complete=int(complete))
    return ds, attrs


# --------------------------------------------------------------------------------------------
# Summary and plots


def _fmt(v) -> str:
    return "-" if not np.isfinite(v) else f"{v:.3e}"


def summary(ds, rows: int = 16) -> str:
    """The sensitivity, then adev with its bounds and the model at a few averaging times; for a
    clock, the time and ranging error of the free-running clock at a few times."""
    kind = ds.attrs.get("sensor_kind", "")
    units = ds["adev"].attrs.get("units", "1")
    u = "" if units == "1" else f" [{units}]"
    dims = common.sweep_dims(ds["adev"], ("tau_s",))
    lines = []
    sens = ds["sensitivity"]
    su = sens.attrs.get("units", "1")
    lines.append(f"{kind}: {sens.attrs.get('long_name', 'sensitivity')} "
                 + ", ".join(f"{v:.3g}" for v in np.atleast_1d(sens.values).ravel()[:6])
                 + ("" if su == "1" else f" {su}") + (f" (over {', '.join(dims)})" if dims else ""))
    ci = float(ds.attrs.get("ci", 0.683))
    pooled = _records(ds)
    if "realisations_used" in ds:
        worst = ds["adev_rel_error"].max("tau_s").values.ravel()
        lines.append(f"early stopping at a relative error of {ds.attrs.get('target_rel_error')} (at most "
                     f"{ds.attrs.get('max_realisations')} records): {pooled} realisations per point, worst relative "
                     f"error {np.nanmin(worst):.3g}" + ("" if len(worst) == 1 else f"-{np.nanmax(worst):.3g}"))
    lines.append(f"Allan deviation pooled over {pooled} realisations of "
                 f"{ds.attrs.get('samples', '?')} samples, {100 * ci:.3g} % bounds:")
    frame = ds[["adev", "adev_lo", "adev_hi", "adev_model"]].to_dataframe().reset_index().dropna()
    per_point = 8 if not dims else 4
    if dims:  # a few sweep points
        points = frame[dims].drop_duplicates()
        frame = frame.merge(points.iloc[common.pick(len(points), max(1, rows // per_point))], on=dims)
    groups = [g for _, g in frame.groupby(dims, sort=False)] if dims else [frame]
    frame = pd.concat([g.iloc[common.pick(len(g), per_point)] for g in groups])  # a few taus of each
    head = [*dims, "tau [s]", f"adev{u}", "lower", "upper", "model"]
    body = [[f"{r[d]:.4g}" for d in dims] + [f"{r['tau_s']:.4g}"]
            + [_fmt(r[c]) for c in ("adev", "adev_lo", "adev_hi", "adev_model")] for _, r in frame.iterrows()]
    lines.append(common.table(head, body))
    if "time_error" in ds:
        q = ds["quantile"].values
        qi = int(np.argmin(np.abs(q - 0.683)))
        te = ds["time_error"].isel(quantile=qi)
        lines.append(f"free-running clock, {100 * q[qi]:.3g} % of realisations within:")
        frame = te.to_dataframe(name="v").reset_index().dropna()
        if dims:
            points = frame[dims].drop_duplicates()
            frame = frame.merge(points.iloc[common.pick(len(points), max(1, rows // 4))], on=dims)
        groups = [g for _, g in frame.groupby(dims, sort=False)] if dims else [frame]
        chosen = []
        for g in groups:  # about 1 min, 10 min, 1 h, 1 day and the end of the record
            t = g["time_s"].values
            idx = sorted({int(np.argmin(np.abs(t - x))) for x in (60.0, 600.0, 3600.0, 86400.0, t[-1]) if x <= t[-1]})
            chosen.append(g.iloc[idx])
        head = [*dims, "time [s]", "time error [ns]", "ranging error [m]"]
        body = [[f"{r[d]:.4g}" for d in dims] + [f"{r['time_s']:.4g}", f"{1e9 * r['v']:.4g}",
                                                 f"{SPEED_OF_LIGHT * r['v']:.4g}"]
                for _, r in pd.concat(chosen).iterrows()]
        lines.append(common.table(head, body))
    return "\n".join(lines)


def plots(ds, directory) -> list:
    """``adev.png``: simulated Allan deviation with its confidence band and the model, log-log; for a
    clock also ``ranging_error.png``: ranging error c|x(t)| quantiles against time."""
    from kqjax.results.io import write_figure
    from kqjax.results.plots import curves  # matplotlib: imported only when plotting

    kind = ds.attrs.get("sensor_kind", "sensor")
    units = ds["adev"].attrs.get("units", "1")
    title = f"{kind}: {_records(ds)} x {ds.attrs.get('samples', '?')} samples, seed {ds.attrs.get('seed', '?')}"
    fig = curves(ds, [("adev", {"marker": "o", "ms": 3, "ls": "none", "label": "simulated"}),
                      ("adev_model", {"lw": 1.2, "label": "model"})],
                 x="tau_s", logx=True, skip_missing=True, title=title,
                 ylabel=f"Allan deviation of the {KINDS[kind].quantity if kind in KINDS else 'output'}"
                        + ("" if units in ("1", "") else f" [{units}]"))
    n = common.curve_count(ds["adev"], "tau_s")
    ax = fig.axes[0]
    lo = ds["adev_lo"]
    others = [d for d in lo.dims if d != "tau_s"]
    lo_s = lo.stack(_curve=others) if others else lo.expand_dims(_curve=[0])
    hi_s = ds["adev_hi"].stack(_curve=others) if others else ds["adev_hi"].expand_dims(_curve=[0])
    for i in range(n):
        a = np.asarray(lo_s.isel(_curve=i).transpose("tau_s").values, float)
        b = np.asarray(hi_s.isel(_curve=i).transpose("tau_s").values, float)
        ok = np.isfinite(a) & np.isfinite(b)
        ax.fill_between(ds["tau_s"].values[ok], a[ok], b[ok], color=ax.get_lines()[i].get_color(), alpha=0.2, lw=0)
    common.match_colours(fig, n)
    paths = [write_figure(fig, f"{directory}/adev.png")]
    if "ranging_error" in ds:
        fig = curves(ds, [("ranging_error", {"marker": "o", "ms": 2, "lw": 0.8, "label": "simulated"}),
                          ("ranging_error_rms_model", {"ls": "--", "color": "k", "lw": 1,
                                                       "label": "rms, white-FM model"})],
                     x="time_s", logx=True, skip_missing=True, title=title, ylabel="ranging error c |x(t)| [m]")
        paths.append(write_figure(fig, f"{directory}/ranging_error.png"))
    return paths
