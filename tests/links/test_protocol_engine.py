"""The engine on every protocol shape: Monte Carlo against the protocol's expected counts in
count and event mode (5 standard deviations at a fixed seed), two-arm sweeps, the Alice-Bob
distance, and the asymptotic rate of a fading link (the estimator on the expected counts over
the fading, which is what a long run converges to)."""
import jax
import numpy as np
import pytest

from kqjax.links.link import Link, simulate

from .helpers import make_link, probabilities

SIGMA = 5.0
TWO_ARM = {
    "bbm92": ["experiment=entanglement_100km", "source.mean_pairs=0.3", "detector_a.dark_count_prob=1e-3",
              "detector_b.dark_count_prob=1e-4", "detector_b.misalignment=0.05"],
    "sns_tf": ["experiment=tf_qkd", "detector.dark_count_prob=1e-3", "protocol.phase_drift_deg=20"],
}


def within(counts, p, n):
    return np.abs(counts - n * p) <= SIGMA * np.sqrt(n * p * (1 - p)) + 1e-9


@pytest.mark.parametrize("protocol", sorted(TWO_ARM))
@pytest.mark.parametrize("mode,pulses", [("count", 10**9), ("event", 2**20)])
def test_counts_match_expectation(protocol, mode, pulses):
    link, built = make_link([*TWO_ARM[protocol], "distance_km=[0,40,160]"])
    out = simulate(link, pulses=pulses, seed=5, mode=mode, progress=False)
    ps, po = probabilities(link)
    measured = np.asarray(link.protocol.MEASURED)
    assert out["sent"].sum() == 3 * pulses
    assert np.array_equal(out["counts"].sum(-1)[:, measured], out["sent"][:, measured])
    assert np.all(out["counts"][:, ~measured] == 0)
    assert np.all(within(out["sent"], ps, pulses))
    assert np.all(within(out["counts"], po, pulses))


@pytest.mark.parametrize("protocol", sorted(TWO_ARM))
def test_count_and_event_agree(protocol):
    """The two modes' counts of one point differ by no more than 5 standard errors of a difference
    of two independent multinomial draws, class by class."""
    link, _ = make_link([*TWO_ARM[protocol], "distance_km=[20]"])
    n = 2**20
    a = simulate(link, pulses=n, seed=1, mode="count", progress=False)["counts"][0]
    b = simulate(link, pulses=n, seed=1, mode="event", progress=False)["counts"][0]
    p = probabilities(link)[1][0]
    assert np.all(np.abs(a - b) <= SIGMA * np.sqrt(2 * n * p * (1 - p)) + 1e-9)


def test_two_arm_sweep_is_a_grid_with_units():
    """Every numeric field of each arm sweeps: two arms give two dimensions, named after the
    config path when both arms sweep the same field, with units."""
    _, built = make_link(["experiment=tf_qkd", "distance_km=null", "channel_a.length_km=[10,20,30]",
                          "channel_b.length_km=[5,15]"])
    assert built.grid.shape == (3, 2)
    assert built.grid.dims() == ("channel_a_length_km", "channel_b_length_km")
    assert all(a.unit == "km" for a in built.grid.axes)
    link = make_link(["experiment=tf_qkd", "distance_km=null", "channel_a.length_km=[10,20,30]",
                      "channel_b.length_km=[5,15]"])[0]
    eta = jax.vmap(Link.expected)(link)["transmittance"]
    assert np.allclose(np.asarray(eta), 10 ** (-0.02 * np.array([15, 25, 25, 35, 35, 45])), rtol=1e-12)


def test_distance_splits_between_the_arms():
    _, built = make_link(["experiment=entanglement_100km", "distance_km=[0,100,200]", "source.mean_pairs=0.1"])
    assert built.grid.dims() == ("distance_km",)
    assert built.grid.axes[0].unit == "km"
    for arm in ("channel_a", "channel_b"):
        assert np.allclose(built.components[arm].length_km, [0, 50, 100])
    _, one = make_link(["distance_km=[0,100]", "channel.length_km=0"])
    assert np.allclose(one.components["channel"].length_km, [0, 100])


def test_fading_rate_is_the_estimator_on_the_expected_counts():
    """Log-normal fading sigma = 2 over 50 km of fiber, infinitely many decoys: over 10 runs of
    10^10 pulses (one fading realisation per block of 65536 pulses) the simulated key rate's mean
    agrees with the asymptotic rate, the estimator on E_eta[p(eta)], within 5 standard errors of
    the mean; the rate at the mean transmittance, R(E[eta]), lies further than 3 standard errors
    away, so the test tells the two definitions apart."""
    link, _ = make_link(["channel=lognormal_fading", "channel.length_km=[50]", "channel.fading.sigma=2",
                         "protocol.decoy=infinite"])
    rates = np.array([simulate(link, pulses=10**10, seed=s, chunk_size=2**30, progress=False)["key_rate"][0]
                      for s in range(10)])
    se = rates.std(ddof=1) / np.sqrt(rates.size)
    lk = jax.tree_util.tree_map(lambda x: x[0], link)
    asymptotic = float(lk.expected()["key_rate_asymptotic"])
    at_mean = float(lk.estimate(*lk.probabilities(lk.mean_transmittance()))["key_rate"])
    assert abs(rates.mean() - asymptotic) <= SIGMA * se, (rates.mean(), asymptotic, se)
    assert abs(rates.mean() - at_mean) > 3 * se, (rates.mean(), at_mean, se)


RATIOS = {"bb84_decoy": ("qber",), "bbm92": ("qber", "visibility", "chsh"), "sns_tf": ("qber", "qber_x")}
GAINS = {"bb84_decoy": "gain", "bbm92": "coincidence_probability", "sns_tf": "gain_z"}
EXPERIMENTS = {"bb84_decoy": [], **{k: v[:1] for k, v in TWO_ARM.items()}}


@pytest.mark.parametrize("protocol", sorted(RATIOS))
def test_nothing_observed_reports_nan_not_a_perfect_link(protocol):
    """A point without detections has no QBER (nor visibility or CHSH): NaN, where a 0 would read
    as a perfect link (a CHSH value of 2 sqrt(2)); its gain is an observed 0 and its key rate 0.
    With counts the same ratios are finite."""
    link, _ = make_link(EXPERIMENTS[protocol])
    one = jax.tree_util.tree_map(lambda x: x[0], link)
    s, o = one.shape()
    measured = np.asarray(one.protocol.MEASURED)
    sent = np.full(s, 10**6, np.int64)
    dark = np.zeros((s, o), np.int64)
    dark[measured, o - 1] = 10**6  # every pulse of a measured setting: no click
    lit = dark.copy()
    lit[measured, 0], lit[measured, 1], lit[measured, o - 1] = 9_000, 1_000, 10**6 - 10_000
    none, some = (one.estimate(sent, c) for c in (dark, lit))
    assert float(none["key_rate"]) == 0.0 and np.all(np.asarray(none[GAINS[protocol]]) == 0.0)
    for name in RATIOS[protocol]:
        assert np.all(np.isnan(np.asarray(none[name]))), name
        assert np.all(np.isfinite(np.asarray(some[name]))), name
