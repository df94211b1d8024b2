"""mode=optimize: optax on the differentiable expected key rate, checked against physics.

Decoy-state BB84 on the GYS parameters of Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005) (detector gys:
eta_Bob 4.5 %, Y0 1.7e-6, e_d 3.3 %; 0.21 dB/km; f_ec 1.22). Every optimum is compared with an
independent dense grid search of the same model, or with a closed form.
"""
from __future__ import annotations

import dataclasses
import functools
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import xarray as xr
import yaml
from scipy.optimize import brentq

import kqjax
import kqjax.cli
from kqjax.config.build import build
from kqjax.config.compose import compose
from kqjax.config.errors import ConfigError
from kqjax.engine import keys
from kqjax.links.sources.weak_coherent import WeakCoherentSource
from kqjax.optimize import OPTIMIZERS, Reparam, make_optimizer, task_objective
from kqjax.tasks import qkd_link

BIN = Path(sys.executable).parent
GYS = ["channel.attenuation_db_per_km=0.21", "detector=gys", "protocol.f_ec=1.22"]
LENGTHS = [0.0, 50.0, 100.0]


def h2(x):
    return -x * np.log2(x) - (1 - x) * np.log2(1 - x)


def point(overrides):
    """Components of a one-point config (no grid axis)."""
    return _point(tuple(overrides))


@functools.lru_cache(maxsize=None)
def _point(overrides):
    built = build(compose([*GYS, *overrides]), qkd_link.groups(compose([*GYS, *overrides])))
    assert built.grid.size == 1
    return jax.tree_util.tree_map(lambda x: x[0], built.components)


@jax.jit
def _rates(comps, fields, etas):
    """Key rate [len(etas), n] at every transmittance and every set of source ``fields``."""

    def one(values, eta):
        lk = qkd_link.link_of({**comps, "source": dataclasses.replace(comps["source"], **values)})
        return lk.protocol.estimate(*lk.probabilities({"channel": eta}), lk.parts, {"channel": eta})["key_rate"]

    return jax.vmap(lambda e: jax.vmap(lambda v: one(v, e))(fields))(etas)


def grid_rates(comps, fields: dict, eta=None):
    """Asymptotic key rate of ``comps`` at every combination of source ``fields`` (flat arrays),
    at transmittance(s) ``eta`` (default: the channel's expected one): [len(eta), n] or [n]."""
    etas = np.atleast_1d(np.asarray(comps["channel"].transmittance() if eta is None else eta, float))
    out = np.asarray(_rates(comps, {k: jnp.asarray(v, float) for k, v in fields.items()}, jnp.asarray(etas)))
    return out if np.ndim(eta) else out[0]


# ---------------------------------------------------------------------------------------------
# Fiber, vacuum + weak decoy: optimum against a dense grid search


@pytest.fixture(scope="module")
def decoy_cli(tmp_path_factory):
    """``kqjax experiment=optimize_decoy`` as a user types it, on a shorter sweep."""
    tmp = tmp_path_factory.mktemp("optimize")
    proc = subprocess.run([str(BIN / "kqjax"), "experiment=optimize_decoy", f"channel.length_km={LENGTHS + [160]}"],
                          cwd=tmp, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    paths = [Path(ln.split(": ", 1)[1]) for ln in proc.stdout.splitlines() if ln.startswith(("dataset: ", "plot: "))]
    with xr.open_dataset(paths[0]) as ds:
        return ds.load(), proc.stdout, paths


@pytest.fixture(scope="module")
def decoy_run(decoy_cli):
    return decoy_cli[0]


def test_decoy_optimum_matches_dense_grid_search(decoy_run):
    """The Adam optimum of (mu, nu) agrees with a dense grid search to 1 % in key rate at 0, 50 and
    100 km (GYS parameters, vacuum + weak decoy, Ma et al. 2005). The grid (400 mu x 200 nu,
    nu from 1e-4: the asymptotic optimum is nu -> 0) resolves the optimum to far better than 1 %."""
    ds = decoy_run
    mu, nu = np.meshgrid(np.linspace(0.02, 1.0, 400), np.geomspace(1e-4, 0.3, 200), indexing="ij")
    ok = nu < 0.95 * mu  # away from nu = mu, where the Y1 bound is 0/0 (no optimum lies there)
    for i, length in enumerate(LENGTHS):
        comps = point([f"channel.length_km={length}"])
        # the grid, and last the reported optimum (its rate must be the one reported)
        rates = grid_rates(comps, {"mu": np.append(mu[ok], ds["mu_opt"][i]),
                                   "nu": np.append(nu[ok], ds["nu_opt"][i])})
        best, found = rates[:-1].max(), float(ds["objective_opt"][i])
        assert abs(found / best - 1) < 0.01, (length, found, best)
        assert np.isclose(rates[-1], found, rtol=1e-12, atol=0)
    # beyond the GYS limit (~140 km, Ma et al. 2005) no intensities give key
    assert float(ds["objective_opt"][-1]) == 0.0


def test_command_line_output(decoy_cli):
    ds, stdout, paths = decoy_cli
    assert "adam, 400 steps, maximising asymptotic secret key rate" in stdout
    assert "no key at 1 of 4 points" in stdout
    assert sorted(p.name for p in paths) == ["optimum.png", "results.nc", "trajectory.png"]
    assert ds.attrs["task"] == "qkd_link" and ds.attrs["mode"] == "optimize"


def test_command_line_bad_input(tmp_path, monkeypatch, capsys):
    """A bad override: one line, exit status 2, no output directory (``kqjax.cli.main`` is what
    the ``kqjax`` executable calls)."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as code:
        kqjax.cli.main(["experiment=optimize_decoy", "optimize.optimizer=bfgs"])
    assert code.value.code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "kqjax: error: optimize.optimizer=bfgs: must be one of " + ", ".join(OPTIMIZERS)]
    assert not (tmp_path / "outputs").exists()


@pytest.mark.filterwarnings("ignore:The ``declarative_base:DeprecationWarning")  # optuna 2.x on SQLAlchemy 2
def test_optuna_sweeper_maximises_the_same_objective(tmp_path, monkeypatch):
    """``kqjax -m hydra/sweeper=optuna ... mode=evaluate``: every trial returns the objective
    (the job's return value is what Optuna maximises) and the best value reported is the largest
    objective of the trials' datasets."""
    monkeypatch.chdir(tmp_path)
    kqjax.cli.main(["-m", "hydra/sweeper=optuna", "hydra.sweeper.n_trials=4", "hydra.sweeper.direction=maximize",
                    "hydra.sweeper.sampler.seed=0", "experiment=optimize_decoy", "mode=evaluate",
                    "channel.length_km=50", "source.mu=interval(0.2,1.0)", "source.nu=interval(0.001,0.19)"])
    (run,) = (tmp_path / "multirun").glob("*/*")
    values = []
    for path in sorted(run.glob("*/results.nc")):
        with xr.open_dataset(path) as ds:
            values.append(float(ds["objective"]))
    assert len(values) == 4 and min(values) > 0
    result = yaml.safe_load((run / "optimization_results.yaml").read_text())
    assert result["best_value"] == pytest.approx(max(values), rel=1e-12)


def test_trajectory_dataset_and_relations_along_it(decoy_run):
    """The dataset has the sweep and a step dimension; every step satisfies nu < mu; the optimum
    improves on the start (mu = 0.5, nu = 0.1)."""
    ds = decoy_run
    ds = ds.isel(length_km=slice(0, len(LENGTHS)))  # the points with key
    assert ds["objective"].dims == ("length_km", "step")
    assert ds["mu"].dims == ("length_km", "step") and ds["mu_opt"].dims == ("length_km",)
    assert ds.sizes["step"] == 401 and ds["step"].values[0] == 0
    assert ds["mu"].attrs["long_name"].endswith("(source.mu)")
    assert ds["objective_opt"].attrs["units"] == "bit/pulse"
    assert ds.attrs["optimizer"] == "adam" and ds.attrs["optimized_params"] == "source.mu source.nu"
    assert np.all(ds["nu"].values > 0) and np.all(ds["nu"].values < ds["mu"].values)
    assert np.allclose(ds["mu"].isel(step=0), 0.5) and np.allclose(ds["nu"].isel(step=0), 0.1)
    assert np.all(ds["objective_opt"] > 1.05 * ds["objective"].isel(step=0))
    best = ds["objective"].max("step")
    assert np.array_equal(best.values, ds["objective_opt"].values)
    assert kqjax.api.score(ds) == pytest.approx(float(ds["objective_opt"].mean()))


# ---------------------------------------------------------------------------------------------
# Infinite decoy: the optimal signal intensity of Ma et al. 2005


@pytest.fixture(scope="module")
def infinite_run():
    return kqjax.run([*GYS, "mode=optimize", "protocol.decoy=infinite", "channel.length_km=[0,50]",
                      "optimize.params=[source.mu]"])


def test_optimal_mu_solves_the_infinite_decoy_stationarity(infinite_run):
    """Optimal mu with infinitely many decoys (exact Y1, e1), GYS parameters.

    Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005), with GLLP: R = q {Q1 [1 - h2(e1)] - f Q_mu h2(E_mu)}.
    Neglecting dark counts (Y0 -> 0): Y1 = eta, e1 = e_d, Q_mu = 1 - exp(-eta mu),
    E_mu = e_d + O((eta mu)^2) for two threshold detectors (double clicks give random bits), so
      R / (q eta) = mu e^-mu [1 - h2(e_d)] - f h2(e_d) (1 - e^(-eta mu)) / eta,
    and dR/dmu = 0 gives (1 - mu) e^-mu = f h2(e_d) / [1 - h2(e_d)] e^(-eta mu), with eta the
    overall transmittance (fiber x eta_Bob). At eta mu -> 0 this is the condition of Ma et al.,
    (1 - mu) e^-mu = f h2(e_d) / [1 - h2(e_d)], whose root for GYS is mu ~ 0.48.
    The terms neglected are of relative size Y0 / (eta mu) and (eta mu)^2 (and eta mu itself for
    the eta -> 0 form); each moves the root by less than mu times its size, the tolerance used."""
    ds = infinite_run
    f, e_d, y0 = 1.22, 0.033, 2 * 8.5e-7
    c = f * h2(e_d) / (1 - h2(e_d))
    mu_limit = brentq(lambda m: (1 - m) * np.exp(-m) - c, 0.0, 1.0)
    assert abs(mu_limit - 0.48) < 0.005  # Ma et al. 2005: mu_opt ~ 0.48 for GYS
    for i, length in enumerate([0.0, 50.0]):
        eta = 0.045 * 10 ** (-0.021 * length)
        mu_eta = brentq(lambda m: (1 - m) * np.exp(-m) - c * np.exp(-eta * m), 0.0, 1.0)
        x = eta * mu_eta
        found = float(ds["mu_opt"][i])
        assert abs(found - mu_eta) < mu_eta * (y0 / x + x**2), (length, found, mu_eta)
        assert abs(found - mu_limit) < mu_limit * (x + y0 / x + x**2), (length, found, mu_limit)
    # the optimum lies between the finite-eta root at 0 km and the small-loss limit
    assert float(ds["mu_opt"][0]) > float(ds["mu_opt"][1]) > mu_limit - 1e-3


# ---------------------------------------------------------------------------------------------
# Gradients and reparameterisation


def test_gradients_match_finite_differences():
    """Gradient of the objective (through the bound-respecting reparameterisation and, for the
    fading channel, through reparameterised transmittance samples with common random numbers)
    agrees with central differences. With step h = 1e-5 in u ~ O(1), truncation (h^2 f'''/6) and
    rounding (1e-16 f / h) errors are below 1e-9 f, so rtol 1e-6 is loose."""
    comps = point(["channel=lognormal_fading", "channel.attenuation_db_per_km=0.21", "channel.length_km=60",
                   "channel.fading.sigma=0.4"])
    reparam = Reparam(("source.mu", "source.nu", "source.p_mu", "protocol.p_z", "channel.fading.sigma"))
    fn = task_objective(qkd_link, "key_rate", "mean", 0.1, 64)
    u0 = reparam.init(comps)

    def f(u):
        return fn(reparam.apply(u, comps))[0]

    value_and_grad = jax.jit(jax.value_and_grad(f))  # one compilation for both
    val, grad = value_and_grad(u0)
    assert val > 0
    h = 1e-5
    for k in u0:
        fd = (value_and_grad({**u0, k: u0[k] + h})[0] - value_and_grad({**u0, k: u0[k] - h})[0]) / (2 * h)
        assert np.isclose(float(grad[k]), fd, rtol=1e-6, atol=1e-9 * val), (k, grad[k], fd)


SOURCE_SETS = [("mu",), ("nu",), ("omega",), ("mu", "nu"), ("nu", "omega"), ("mu", "omega"),
               ("mu", "nu", "omega"), ("p_mu",), ("p_mu", "p_omega"), ("mu", "nu", "p_mu", "p_nu", "p_omega")]


@pytest.mark.parametrize("fields", SOURCE_SETS, ids=["+".join(s) for s in SOURCE_SETS])
def test_reparameterisation_keeps_bounds_and_relations(fields):
    """Any unconstrained u gives a valid source (declared bounds; nu < mu, omega < nu,
    mu > nu + omega (Ma et al. 2005); p_mu + p_nu + p_omega = 1), and init inverts apply."""
    comps = point(["channel.length_km=50", "source.mu=0.6", "source.nu=0.2", "source.omega=0.05", "source.p_mu=0.7",
                   "source.p_nu=0.2", "source.p_omega=0.1"])
    reparam = Reparam(tuple(f"source.{f}" for f in fields))
    u0 = reparam.init(comps)
    back = reparam.apply(u0, comps)["source"]
    for f in fields:
        assert np.isclose(float(getattr(back, f)), float(getattr(comps["source"], f)), rtol=1e-9)
    rng = np.random.default_rng(0)
    u = {k: jnp.asarray(rng.normal(0.0, 6.0, 2000)) for k in u0}
    src = reparam.apply(u, comps)["source"]
    values = {k: np.broadcast_to(np.asarray(getattr(src, k)), (2000,)) for k in
              ("mu", "nu", "omega", "p_mu", "p_nu", "p_omega")}
    assert WeakCoherentSource.relations(values) == []
    for k, spec in ((k, s) for k, s in kqjax.engine.params.specs(WeakCoherentSource).items() if k in values):
        assert all(spec.check(float(v)) is None for v in values[k]), k


# ---------------------------------------------------------------------------------------------
# Fading: expected key rate and outage (quantile) objectives

FADING = ["channel=lognormal_fading", "channel.attenuation_db_per_km=0.21", "channel.fading.sigma=0.5",
          "protocol.decoy=infinite", "mode=optimize", "optimize.params=[source.mu]", "optimize.samples=2000"]
FADING_LENGTHS = [25.0, 75.0]
MUS = np.linspace(0.11, 1.0, 891)  # above nu = 0.1; steps of 0.001 resolve the optimum to ~1e-5


@pytest.fixture(scope="module")
def fading_mean_run():
    return kqjax.run([*GYS, *FADING, f"channel.length_km={FADING_LENGTHS}", "optimize.statistic=mean"])


@pytest.fixture(scope="module")
def fading_quantile_run():
    return kqjax.run([*GYS, *FADING, f"channel.length_km={FADING_LENGTHS}", "optimize.statistic=quantile",
                      "optimize.quantile=0.1"])


@pytest.fixture(scope="module")
def fading_tables(fading_mean_run, fading_quantile_run):
    """Per length, key rates R(eta, mu) on MUS and at both optima (last two columns), at
    80 Gauss-Hermite nodes (-> E_z[R], rows ``hermite``), at the 10 % quantile of the optimiser's
    2000 transmittance samples (``at_q``) and at those samples (``samples``)."""
    key = keys.stream(keys.root_key(0), "fading")  # the optimiser's samples (common random numbers)
    z, w = np.polynomial.hermite_e.hermegauss(80)
    tables = []
    for i, length in enumerate(FADING_LENGTHS):
        comps = point(FADING[:4] + [f"channel.length_km={length}"])
        link = qkd_link.link_of(comps)
        samples = np.asarray(jax.vmap(link.sample_transmittance)(jax.random.split(key, 2000))["channel"])
        ch = comps["channel"]
        at_nodes = jnp.exp(jnp.minimum(ch.log_transmittance() + ch.fading.from_normal(jnp.asarray(z)), 0.0))
        etas = np.concatenate([np.asarray(at_nodes),
                               [np.quantile(samples, 0.1)], samples])
        mus = np.concatenate([MUS, [fading_mean_run["mu_opt"][i], fading_quantile_run["mu_opt"][i]]])
        r = grid_rates(comps, {"mu": mus}, eta=etas)
        tables.append({"hermite": (w / w.sum()) @ r[:80], "at_q": r[80], "samples": r[81:]})
    return tables


def test_expected_rate_over_fading_matches_quadrature_and_grid(fading_mean_run, fading_tables):
    """statistic=mean maximises E_eta[R(eta)] over 2000 common log-normal samples (sigma 0.5, GYS,
    infinitely many decoys so that only the fading average is under test). The sample mean
    at the optimum agrees with Gauss-Hermite quadrature within 5 standard errors, and the
    quadrature-exact rate at the optimum agrees with a dense grid search of the quadrature-exact
    expected rate to 1 %."""
    ds = fading_mean_run
    for i, t in enumerate(fading_tables):
        samples = t["samples"][:, -2]
        assert np.isclose(float(ds["objective_opt"][i]), samples.mean(), rtol=1e-10, atol=0)
        assert abs(samples.mean() - t["hermite"][-2]) < 5 * samples.std() / np.sqrt(samples.size)
        best = t["hermite"][:-2].max()
        assert abs(t["hermite"][-2] / best - 1) < 0.01, (FADING_LENGTHS[i], t["hermite"][-2], best)
    assert ds.attrs["fading_samples"] == 2000


def test_outage_objective_is_the_rate_at_the_transmittance_quantile(fading_quantile_run, fading_mean_run,
                                                                    fading_tables):
    """statistic=quantile maximises the 10 % quantile of R over the fading samples (the rate kept
    90 % of the time). R increases with eta at fixed parameters, so that quantile is R at the 10 %
    quantile of the same eta samples: the optimum agrees with a dense grid search at that fixed
    transmittance to 1 %, and lies below the mean-optimal expected rate."""
    ds = fading_quantile_run
    for i, t in enumerate(fading_tables):
        best, found = t["at_q"][:-2].max(), float(ds["objective_opt"][i])
        assert abs(found / best - 1) < 0.01, (FADING_LENGTHS[i], found, best)
        assert np.isclose(found, np.quantile(t["samples"][:, -1], 0.1), rtol=1e-10, atol=0)
        assert found < float(fading_mean_run["objective_opt"][i])
    assert np.allclose(ds["objective_opt"], ds["key_rate_quantile"], atol=0)
    assert np.all(ds["key_rate_mean"] < fading_mean_run["key_rate_mean"] * (1 + 1e-9))


# ---------------------------------------------------------------------------------------------
# Optimisers and input checking


@pytest.mark.parametrize("name", ["adam", "sgd", "lbfgs", "rmsprop", "adabelief"])
def test_optimizers_by_name_minimise_a_quadratic(name):
    """Any optax optimiser by name, with the extra arguments (value, grad, value_fn) that lbfgs's
    line search needs."""
    assert name in OPTIMIZERS
    opt = make_optimizer(name, None if name == "lbfgs" else 0.1)

    def loss(u):
        return jnp.sum((u - 3.0) ** 2)

    def step(carry, _):
        u, state = carry
        v, g = jax.value_and_grad(loss)(u)
        upd, state = opt.update(g, state, u, value=v, grad=g, value_fn=loss)
        return (u + upd, state), v

    u0 = jnp.zeros(2)
    (u, _), _ = jax.jit(lambda u: jax.lax.scan(step, (u, opt.init(u)), None, length=40))(u0)
    assert float(loss(u)) < 0.5 * float(loss(u0))
    # the optimiser is optax's of that name: its steps are the ones optax.<name> takes
    import optax

    ref = getattr(optax, name)(None if name == "lbfgs" else 0.1, **({"momentum": 0.5} if name == "sgd" else {}))
    opt = make_optimizer(name, None if name == "lbfgs" else 0.1, **({"momentum": 0.5} if name == "sgd" else {}))
    u, state, u_ref, state_ref = u0, opt.init(u0), u0, ref.init(u0)
    for _ in range(3):
        v, g = jax.value_and_grad(loss)(u)
        upd, state = opt.update(g, state, u, value=v, grad=g, value_fn=loss)
        v, g = jax.value_and_grad(loss)(u_ref)
        extra = {"value": v, "grad": g, "value_fn": loss} if name == "lbfgs" else {}
        upd_ref, state_ref = ref.update(g, state_ref, u_ref, **extra)
        u, u_ref = u + upd, u_ref + upd_ref
        np.testing.assert_array_equal(np.asarray(u), np.asarray(u_ref))


BAD = [
    (["optimize.params=[source.muu]"], "optimize.params=[source.muu]: source has no field 'muu'"),
    (["optimize.params=[laser.mu]"], "unknown group 'laser'"),
    (["optimize.params=[protocol.decoy]"], "protocol.decoy is not numeric"),
    (["optimize.params=[source.mu,source.mu]"], "source.mu is listed twice"),
    (["optimize.params=[channel.length_km]"], "channel.length_km is also swept"),
    (["optimize.params=[]"], "must be a non-empty list"),
    (["optimize.steps=0"], "optimize.steps=0: must be an integer in [1, 1000000]"),
    (["optimize.steps=abc"], "optimize.steps=abc: must be an integer"),
    (["optimize.learning_rate=-1"], "optimize.learning_rate=-1: must be a number in (0, 1000]"),
    (["optimize.optimizer=adamm"], "optimize.optimizer=adamm: must be one of adabelief"),
    (["+optimize.options.betta=0.9"], "optimize.options.betta: not an option of optax.adam"),
    (["optimize.objective=qber"], "optimize.objective=qber: must be one of key_rate, key_rate_bps"),
    (["optimize.statistic=median"], "optimize.statistic=median: must be one of mean, quantile"),
    (["optimize.quantile=1"], "optimize.quantile=1: must be a number in (0, 1)"),
    (["mode=optimise"], "mode=optimise: must be one of simulate, optimize, evaluate"),
]


@pytest.mark.parametrize("overrides,message", BAD, ids=[b[1].split(":")[0] + str(i) for i, b in enumerate(BAD)])
def test_bad_input_is_one_line_before_any_work(overrides, message):
    with pytest.raises(ConfigError) as err:
        kqjax.api.prepare(compose(["mode=optimize", *overrides]))
    text = str(err.value)
    assert message in text and "\n" not in text


@pytest.mark.parametrize("name, field, values, extra", [
    ("bb84_decoy", "source.mu", [1e-3, 1e-2, 0.1, 0.2], ["experiment=optimize_decoy", "channel.length_km=[140]",
                                                         "source.nu=0.0005"]),
    ("bb84_decoy finite key", "source.mu", [1e-3, 1e-2, 0.1], ["experiment=satellite_sweep", "channel.altitude_km=[800]",
                                                              "channel.receiver_aperture_m=[0.4]", "source.nu=0.0005",
                                                              "source.omega=0.0"]),
    ("bbm92", "source.mean_pairs", [1e-4, 3e-4, 1e-3], ["experiment=entanglement_100km", "distance_km=[300]",
                                                         "detector_a.dark_count_prob=1e-5",
                                                         "detector_b.dark_count_prob=1e-5"]),
])
def test_without_key_the_margin_rises_towards_key(name, field, values, extra):
    """Where there is no key the objective is the key per key-carrying detection (times the link's
    transmittance): negative, and rising as the signal grows from 0 towards where key is, not
    towards a signal turned off (the rate over the signal's probability alone tends to 0 from
    below as mu -> 0: an optimiser started without key would switch the signal off)."""
    objective = "secret_key_bits" if "finite" in name else "key_rate"
    margins = []
    for v in values:
        _, built = kqjax.api.prepare(compose([*extra, f"{field}={v}"]))
        comps = jax.tree_util.tree_map(lambda x: x[0] if np.ndim(x) else x, built.components)
        margins.append(float(qkd_link.objective_samples(objective, comps, None, 1,
                                                        pulses=float(built.run.pulses))[0]))
    assert all(m < 0 for m in margins), margins
    assert np.all(np.diff(margins) > 0), margins


def test_fading_statistics_only_where_fading_is_sampled():
    """``key_rate_mean`` and ``key_rate_quantile`` (over fading samples) are in the dataset where
    the objective samples the fading, not where it pools it (their values would be the pooled
    rate under a "mean over fading" label)."""
    base = [*GYS, "experiment=optimize_decoy", "channel=lognormal_fading", "channel.attenuation_db_per_km=0.21",
            "channel.fading.sigma=0.5", "channel.length_km=[75]", "mode=evaluate"]
    pooled = kqjax.run([*base, "optimize.statistic=pooled"])
    sampled = kqjax.run([*base, "optimize.statistic=quantile"])
    assert "key_rate_mean" not in pooled and "key_rate_quantile" not in pooled
    assert float(sampled["key_rate_quantile"][0]) < float(sampled["key_rate_mean"][0])
