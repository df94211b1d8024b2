"""The finite-key key of a whole pass as an optimisation objective (``optimize.objective=
secret_key_bits``): the estimator of Lim et al., PRA 89, 022307 (2014) on the expected counts of
the pass, sum_t N_t p(eta(t)), its pulses from the window and the repetition rate.

Checked against the Monte Carlo's own expected-count key, the key of a static link's run, the
same pass given as a loss table, and a brute-force grid search of the same objective.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import kqjax
from kqjax.api import prepare
from kqjax.config.compose import compose
from kqjax.tasks import qkd_link

from .links.helpers import make_link, probabilities

PASS = ["experiment=satellite_pass", "protocol.finite_key=true", "protocol.tail_bound=chernoff"]
EVALUATE = ["mode=evaluate", "optimize.objective=secret_key_bits"]
PARAMS = "optimize.params=[source.mu,source.nu,source.p_mu,source.p_nu,protocol.p_z]"


def objective(overrides):
    """The objective at every grid point of a config (mode=evaluate), flattened."""
    return kqjax.run([*overrides, *EVALUATE]).objective.values.ravel()


def test_objective_is_the_key_of_the_expected_counts_of_the_pass():
    """Over a 500 km pass (window W = 440 s, f = 100 MHz) the objective is the estimator on
    sum_t N_t p(eta(t)), here summed independently by the midpoint rule over 4400 pieces of the
    window (an error of ~1e-8 relative): equal to 1e-6, so 32 Gauss-Legendre nodes have
    converged. The Monte Carlo's ``secret_key_bits_expected`` is the same quantity
    (tests/cli/test_satellite_sweep.py)."""
    _, built = prepare(compose(PASS))
    link = qkd_link.link_of(jax.tree_util.tree_map(lambda x: x[0], built.components))
    window = float(link.window_s(built.run.pulses))
    assert 400 < window < 500
    pieces = 4400
    times = (np.arange(pieces) + 0.5) * window / pieces
    ps, po = jax.jit(jax.vmap(link.expected_probabilities))(jnp.asarray(times))
    n = window * 1e8
    sent, counts = n * np.asarray(ps).mean(0), n * np.asarray(po).mean(0)
    eta = {"channel": float(np.mean(np.asarray(jax.vmap(link.channels()["channel"].transmittance)(times))))}
    ref = float(link.protocol.estimate(sent, counts, link.parts, eta)["key_rate_signed"]) * n
    assert ref > 1e7
    assert objective(PASS)[0] == pytest.approx(ref, rel=1e-6)


def test_static_channel_gives_the_key_of_run_pulses():
    """Over fiber the objective is the finite key of run.pulses pulses' expected counts."""
    over = ["channel.length_km=[20,60]", "protocol.finite_key=true", "run.pulses=3e9"]
    link, _ = make_link(over)
    ps, po = probabilities(link)
    ref = jax.vmap(qkd_link.Link.estimate)(link, 3e9 * ps, 3e9 * po)["key_rate_signed"] * 3e9
    np.testing.assert_allclose(objective(over), np.asarray(ref), rtol=1e-12)


def test_a_loss_table_of_the_pass_gives_the_same_key(tmp_path):
    """The same pass written as a table of its loss every second (channel=transmittance_table,
    run.pulses = window x rate) gives the key of the satellite channel to 1e-4: the objective is
    generic over channels that change in time (ln eta linear between rows: an error of order
    (1 s)^2 / 8 |d^2 ln eta / dt^2|, about 1e-6 of the key here)."""
    _, built = prepare(compose([*PASS, *EVALUATE]))
    channel = jax.tree_util.tree_map(lambda x: x[0], built.components["channel"])
    window = float(channel.window_s())
    times = np.append(np.arange(0.0, window, 1.0), window)
    loss = np.asarray(jax.vmap(channel.loss_db)(jnp.asarray(times)))
    path = tmp_path / "pass.csv"
    path.write_text("time_s,loss_db\n" + "".join(f"{t:.17g},{v:.17g}\n" for t, v in zip(times, loss)))
    table = [*PASS, "channel=transmittance_table", f"channel.path={path}", f"run.pulses={round(window * 1e8)}"]
    assert objective(table)[0] == pytest.approx(objective(PASS)[0], rel=1e-4)


def test_optimiser_raises_the_pass_key_to_the_grid_optimum_with_every_step_valid():
    """Optimising mu, nu, p_mu, p_nu and p_z of the finite-key pass (vacuum decoy; Adam, 150
    steps) at highest elevations 30 and 80 deg: the key grows well beyond the start (x3.8 measured), every step
    keeps mu > nu > omega = 0, p_mu + p_nu < 1 and 0 < p_z < 1, a higher pass gives more key,
    and a brute-force 33 x 36 grid of (mu, p_z) through the optimum (the other fields at their
    optima) peaks within one grid step of it, below it."""
    ds = kqjax.run(["experiment=optimize_pass", "channel.max_elevation_deg=[30,80]", "optimize.optimizer=adam",
                    "optimize.steps=150"])
    start = ds.objective.isel(step=0).values
    opt = ds.objective_opt.values
    assert np.all(opt > 2.0 * start) and opt[1] > opt[0] > 0
    np.testing.assert_allclose(opt, ds.objective.max("step").values, rtol=1e-12)
    mu, nu, p_mu, p_nu, p_z = (ds[v].values for v in ("mu", "nu", "p_mu", "p_nu", "p_z"))
    assert np.all(mu > nu) and np.all(nu > 0)
    assert np.all(p_mu > 0) and np.all(p_nu > 0) and np.all(p_mu + p_nu < 1)
    assert np.all((p_z > 0) & (p_z < 1))
    # a biased basis choice pays over a pass: most pulses carry key
    assert np.all(ds.p_z_opt.values > 0.8) and np.all(ds.p_mu_opt.values > 0.8)

    _, built = prepare(compose(["experiment=optimize_pass", "channel.max_elevation_deg=80"]))
    comps = jax.tree_util.tree_map(lambda x: x[0], built.components)
    best = {k: ds[f"{k}_opt"].values[1] for k in ("mu", "nu", "p_mu", "p_nu", "p_z")}
    source = dataclasses.replace(comps["source"], nu=best["nu"], p_mu=best["p_mu"], p_nu=best["p_nu"],
                                 p_omega=1.0 - best["p_mu"] - best["p_nu"])
    mus, pzs = np.linspace(0.2, 1.0, 33), np.linspace(0.5, 0.99, 36)

    @jax.jit
    def grid(m, z):
        def one(mu, pz):
            c = {**comps, "source": dataclasses.replace(source, mu=mu),
                 "protocol": dataclasses.replace(comps["protocol"], p_z=pz)}
            return qkd_link.objective_samples("secret_key_bits", c, None, 1, pulses=built.run.pulses)[0]
        return jax.vmap(lambda a: jax.vmap(lambda b: one(a, b))(z))(m)

    values = np.asarray(grid(jnp.asarray(mus), jnp.asarray(pzs)))
    i, j = np.unravel_index(np.argmax(values), values.shape)
    assert 0 < i < len(mus) - 1 and 0 < j < len(pzs) - 1  # an interior maximum
    assert values[i, j] <= opt[1] <= values[i, j] * 1.01
    assert abs(best["mu"] - mus[i]) <= mus[1] - mus[0]
    assert abs(best["p_z"] - pzs[j]) <= pzs[1] - pzs[0]
