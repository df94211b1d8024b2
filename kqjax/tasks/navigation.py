"""GPS-free inertial navigation: Monte Carlo of the horizontal position error of a free-inertial
navigator built from an IMU specification (:mod:`kqjax.sensors.navigation`), with the expected
error of the same discrete model (covariance recursion) and the open-loop closed form.

The ``navigation`` block sets the run: how long the navigator runs without GNSS, the time step, the
number of realisations, the recorded times and the quantile levels of the radial error.
"""
from __future__ import annotations

import dataclasses
from functools import partial

import jax

import kqjax.sensors  # noqa: F401  (registers the sensor components)
from kqjax.config.errors import ConfigError
from kqjax.config.settings import check_block, levels
from kqjax.engine.params import param
from kqjax.results.dataset import Var, assemble
from kqjax.sensors import navigation as nav
from kqjax.tasks import sensor_common as common

GROUPS = ("sensor",)
NAME = "navigation"
MAX_STEPS = 10**7
CHUNK_VALUES = 2**26  # realisations x time steps simulated at once over the sweep points


@dataclasses.dataclass(frozen=True)
class NavigationSettings:
    """The ``navigation`` block."""

    duration_s: float = param(14_400.0, gt=0, unit="s", long_name="time navigating without GNSS")
    step_s: float = param(10.0, gt=0, unit="s", long_name="time step (sensor errors held over each step)")
    realisations: int = param(256, ge=1, le=2**16, integer=True, long_name="Monte Carlo realisations per sweep point")
    time_points: int = param(60, ge=1, le=10_000, integer=True, long_name="recorded times (evenly spaced)")
    quantiles: tuple = levels((0.5, 0.683, 0.95), "quantile levels of the radial position error")
    per_decade: int = param(2, ge=1, le=10, integer=True,
                            long_name="Gauss-Markov processes per decade modelling bias instability")


def check(cfg, built):
    """The ``navigation`` block and the sensor kind, before any work."""
    common.require_simulate(cfg, NAME)
    common.require_kind(built, ("inertial_navigation",), NAME, "; clocks, interferometers and magnetometers "
                        "run with task=sensor_stability")
    st = check_block("navigation", cfg.get("navigation"), NavigationSettings)
    target = built.run.target_rel_error
    if target is not None:
        raise ConfigError("run.target_rel_error", target,
                          message=f"run.target_rel_error={target}: must be null for task {NAME} (its "
                                  "position-error quantiles have no stopping rule; set navigation.realisations)")
    steps = round(st.duration_s / st.step_s)
    if steps < nav.MIN_STEPS:
        raise ConfigError("navigation.step_s", st.step_s,
                          message=f"navigation.step_s={st.step_s:g}: must be <= navigation.duration_s / {nav.MIN_STEPS} "
                                  f"= {st.duration_s:g} / {nav.MIN_STEPS} = {st.duration_s / nav.MIN_STEPS:g} s "
                                  f"(at least {nav.MIN_STEPS} steps)")
    if steps > MAX_STEPS:
        raise ConfigError("navigation.step_s", st.step_s,
                          message=f"navigation.step_s={st.step_s:g}: duration_s / step_s = {steps} steps; must be "
                                  f"<= {MAX_STEPS} steps (raise navigation.step_s)")
    return dataclasses.replace(built, settings=st)


KEEP = ("time_s", "quantile", "position_error_m", "position_error_model_m", "position_error_rms_m",
        "position_error_std_model_m", "position_error_open_loop_m")


@partial(jax.jit, static_argnames=("settings",))
def simulate_points(sensor, key, settings: NavigationSettings) -> dict:
    """:func:`kqjax.sensors.navigation.simulate` vmapped over the sweep points."""
    st = settings

    def one(s):
        out = nav.simulate(s, key, duration_s=st.duration_s, step_s=st.step_s, n_realisations=st.realisations,
                           n_time_points=st.time_points, quantiles=st.quantiles, per_decade=st.per_decade)
        return {k: out[k] for k in KEEP}

    return jax.vmap(one)(sensor)


VARIABLES = {
    "position_error": Var(("quantile", "time_s"), "m",
                          "horizontal position error sqrt(dN^2 + dE^2) (quantile over realisations)"),
    "position_error_model": Var(("quantile", "time_s"), "m",
                                "horizontal position error, model quantile (Rayleigh, covariance recursion)"),
    "position_error_rms": Var(("time_s",), "m", "rms position error of one horizontal channel (Monte Carlo)"),
    "position_error_std_model": Var(("time_s",), "m",
                                    "standard deviation of one channel's position error (covariance recursion)"),
    "position_error_open_loop": Var(("time_s",), "m",
                                    "standard deviation of one channel's position error, continuous closed "
                                    "form without Schuler feedback or bias instability"),
}


def run(built):
    st: NavigationSettings = built.settings
    steps = round(st.duration_s / st.step_s)
    chunk = max(1, CHUNK_VALUES // (st.realisations * steps))
    out = common.map_points(lambda s: simulate_points(s, common.run_key(built.run), st),
                            built.components["sensor"], built.grid.size, chunk)
    arrays = {name: out[f"{name}_m"] for name in VARIABLES}
    coords = {"time_s": ("time_s", out["time_s"][0], {"units": "s", "long_name": "time without GNSS"}),
              "quantile": ("quantile", out["quantile"][0], {"units": "1", "long_name": "quantile level"})}
    ds = assemble(arrays, VARIABLES, built.grid, coords=coords)
    return ds, {"sensor_kind": "inertial_navigation", "duration_s": st.duration_s, "step_s": st.step_s,
                "realisations": st.realisations, "per_decade": st.per_decade,
                "random_numbers": "one key for every sweep point (common random numbers)"}


def summary(ds, rows: int = 8) -> str:
    """Radial position-error quantiles (simulated, and the model's) at a few times."""
    dims = common.sweep_dims(ds["position_error"], ("quantile", "time_s"))
    q = ds["quantile"].values
    t = ds["time_s"].values
    idx = common.pick(len(t), rows)
    head = [*dims, "time [h]", *[f"{100 * v:.3g} % [m]" for v in q], "model " + f"{100 * q[-1]:.3g} % [m]"]
    sim = ds["position_error"].isel(time_s=idx)
    model = ds["position_error_model"].isel(time_s=idx, quantile=-1)
    frame = sim.to_dataframe(name="v").reset_index().pivot_table(index=[*dims, "time_s"], columns="quantile",
                                                                 values="v")
    mframe = model.to_dataframe(name="m").reset_index().set_index([*dims, "time_s"])["m"]
    body = []
    for key, row in frame.iterrows():
        key = key if isinstance(key, tuple) else (key,)
        body.append([f"{k:.4g}" for k in key[:-1]] + [f"{key[-1] / 3600:.3g}"]
                    + [f"{row[v]:.4g}" for v in q] + [f"{float(mframe.loc[key if len(key) > 1 else key[0]]):.4g}"])
    lines = [f"horizontal position error without GNSS ({ds.attrs.get('realisations', '?')} realisations, "
             f"step {ds.attrs.get('step_s', '?')} s):", common.table(head, body)]
    return "\n".join(lines)


def plots(ds, directory) -> list:
    """``position_error.png``: simulated quantiles of the radial error and the model's, log-log."""
    from kqjax.results.io import write_figure
    from kqjax.results.plots import curves  # matplotlib: imported only when plotting

    fig = curves(ds, [("position_error", {"marker": "o", "ms": 2, "ls": "none", "label": "simulated"}),
                      ("position_error_model", {"lw": 1, "label": "model"})],
                 x="time_s", logx=True, ylabel="horizontal position error [m]",
                 title=f"free-inertial navigation: {ds.attrs.get('realisations', '?')} realisations, "
                       f"seed {ds.attrs.get('seed', '?')}")
    common.match_colours(fig, common.curve_count(ds["position_error"], "time_s"))
    return [write_figure(fig, f"{directory}/position_error.png")]
