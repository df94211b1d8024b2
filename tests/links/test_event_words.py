"""Event level on raw random words: the integer thresholds of ``kqjax.engine.random_words`` are
floor(p 2^w) exactly (integer arithmetic, exhausted small fields), the SPDC pair numbers follow
their law to 2^-64 (the inverse found exactly by bisection over the 64-bit word), each protocol's
``sample_events`` spends the stated 32-bit words per pulse, and its events agree with the
closed-form probabilities at 0 km, a middle distance and a long fibre (chi-square and exact
binomial tails per class, fixed seed)."""
from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from kqjax.bench import classes, words_per_pulse
from kqjax.engine import random_words as rw
from kqjax.links.detectors.threshold import ThresholdDetectors
from kqjax.links.sources.spdc import SPDCSource

from .helpers import make_link

ALPHA = 5.733e-7  # two-sided tail of 5 standard deviations of a normal law

PROBABILITIES = [0.0, 3 * 2.0**-64, 1e-12, 1e-9, 1e-7, 0.1, 1 / 3, 0.5, 1 - 2.0**-53, 1.0]


@pytest.mark.parametrize("width", [10, 32, 53, 63, 64])
def test_threshold_is_floor_of_p_times_two_to_the_width(width):
    t = np.asarray(rw.threshold(jnp.asarray(PROBABILITIES), width))
    for p, got in zip(PROBABILITIES, t):
        want = min(int(Fraction(p) * 2**width), 2**64 - 1)  # floor; 2^64 - 1 only for p = 1 at width 64
        assert int(got) == want, (p, width)


def test_bernoulli_and_categorical_exhaust_a_small_field():
    """Every value of a 10-bit field: a Bernoulli is true for exactly floor(p 2^10) of them, and
    cell i of a categorical gets exactly C_{i+1} - C_i, C_i = floor(c_i 2^10) of the normalised
    cumulative probabilities; cells of probability 0 get none."""
    x = jnp.arange(2**10, dtype=jnp.uint64)
    for p in PROBABILITIES:
        assert int(rw.bernoulli(x, rw.threshold(p, 10)).sum()) == int(Fraction(p) * 2**10)
    probs = [0.2, 0.0, 0.5, 0.3, 0.0]
    counts = np.bincount(np.asarray(rw.categorical(x, jnp.asarray(probs), 10)), minlength=5)
    cum = np.concatenate([[0], np.cumsum(probs) / np.sum(probs)])
    bounds = [int(Fraction(float(c)) * 2**10) for c in cum]
    assert list(counts) == list(np.diff(bounds))
    assert counts[1] == counts[4] == 0 and counts.sum() == 2**10


def test_words_and_bit_fields():
    """``draw``: its 64-bit words, and its 32-bit words in pairs (the halves of a 64-bit word), are
    ``jax.random.bits`` uint64 words, an odd 32-bit word a uint32 one, on the key split in three;
    ``field`` cuts bit ranges out of a word."""
    key = jax.random.key(3)
    k_wide, k_pairs, k_odd = jax.random.split(key, 3)
    narrow, wide = rw.draw(key, 7, narrow=3, wide=2)
    assert narrow.dtype == wide.dtype == jnp.uint64 and narrow.shape == (3, 7) and wide.shape == (2, 7)
    assert np.array_equal(wide, jax.random.bits(k_wide, (2, 7), jnp.uint64))
    pair = np.asarray(jax.random.bits(k_pairs, (1, 7), jnp.uint64))[0].astype(object)
    assert [int(v) for v in narrow[0]] == [int(x) >> 32 for x in pair]
    assert [int(v) for v in narrow[1]] == [int(x) % 2**32 for x in pair]
    assert np.array_equal(narrow[2], jax.random.bits(k_odd, (1, 7), jnp.uint32)[0])
    w = jnp.asarray([2**64 - 1, 2**63 + 5, 6], jnp.uint64)
    assert [int(v) for v in rw.field(w, 1, 63)] == [2**63 - 1, 2**62 + 2, 3]
    assert [int(v) for v in rw.field(w, 0, 1)] == [1, 1, 0]
    assert [int(v) for v in rw.field(w, 60, 3)] == [7, 0, 0]


def test_by_class_indexes_like_a_gather():
    """``by_class(values, k)`` is ``values[k]`` (uint64 thresholds up to 2^64 - 1, any shape of k)."""
    values = jnp.asarray([0, 2**63 + 7, 2**64 - 1, 5], jnp.uint64)
    k = jnp.asarray([[3, 0, 1], [2, 2, 1]], jnp.int32)
    got = rw.by_class(values, k)
    assert got.dtype == jnp.uint64 and got.shape == (2, 3)
    assert np.array_equal(np.asarray(got), np.asarray(values)[np.asarray(k)])


def test_click_threshold_resolves_long_fibre_probabilities():
    """Click probabilities of a long fibre (1e-9), of dark counts alone (1e-7) and of 1e-12: the
    Bernoulli of a 64-bit word is true with probability T / 2^64 within 2^-64 below P (relative
    error below 2e-8 at 1e-12), and the word T - 1 clicks while T does not."""
    det = ThresholdDetectors(dark_count_prob=0.0)
    for photons, dark in ((10**-8.6 * 0.5, 0.0), (0.0, 1e-7), (1e-12 / 0.6, 0.0)):
        p = float(det.click(photons, dark, 1.0))
        t = int(det.click_threshold(photons, dark, 1.0))
        assert 0 <= Fraction(p) - Fraction(t, 2**64) < Fraction(1, 2**64)
        clicks = det.sample_clicks(jnp.asarray([t - 1, t], jnp.uint64), photons, dark, 1.0)
        assert np.asarray(clicks).tolist() == [True, False]


def _law(source, kmax):
    """P(K >= k), k = 1..kmax, of ``source.pair_numbers`` exactly: K does not increase with the
    word, so P(K >= k) = w_k / 2^64 with w_k the first word giving K < k, found by bisection."""
    f = jax.jit(source.pair_numbers)
    ks = np.arange(1, kmax + 1)
    lo, hi = [0] * kmax, [2**64] * kmax  # K(lo) >= k, K(hi) < k (hi = 2^64: past the last word)
    for _ in range(64):
        mid = [(a + b) // 2 for a, b in zip(lo, hi)]
        k_mid = np.asarray(f(jnp.asarray(mid, jnp.uint64)))
        lo = [m if km >= k else a for m, km, k, a in zip(mid, k_mid, ks, lo)]
        hi = [b if km >= k else m for m, km, k, b in zip(mid, k_mid, ks, hi)]
    assert np.asarray(f(jnp.asarray([0], jnp.uint64)))[0] >= 1
    return np.array([float(Fraction(h, 2**64)) for h in hi])


@pytest.mark.parametrize("statistics,mean_pairs", [("thermal", 2e-4), ("thermal", 1.0), ("poisson", 2e-4),
                                                   ("poisson", 1.0), ("poisson", 10.0)])
def test_pair_numbers_follow_their_law_to_two_to_the_minus_64(statistics, mean_pairs):
    """The inversion from one 64-bit word: P(K >= k) against r^k, r = lambda / (1 + lambda)
    (thermal), or the Poisson survival function, to 1e-12 relative plus 2^-64."""
    src = SPDCSource(mean_pairs=mean_pairs, statistics=statistics)
    lam = mean_pairs / 2
    kmax = 8
    got = _law(src, kmax)
    k = np.arange(1, kmax + 1)
    want = (lam / (1 + lam)) ** k if statistics == "thermal" else stats.poisson.sf(k - 1, lam)
    assert np.all(np.abs(got - want) <= 1e-12 * want + 2.0**-64), (got, want)


@pytest.mark.parametrize("overrides,words", [
    (["channel.length_km=[50]"], 5), (["protocol.finite_key=true", "channel.length_km=[50]"], 5),
    (["experiment=tf_qkd", "distance_km=[50]"], 6), (["experiment=entanglement_100km", "distance_km=[50]"], 17),
    (["experiment=entanglement_100km", "source.statistics=poisson", "distance_km=[50]"], 17),
])
def test_words_per_pulse(overrides, words):
    """32-bit random words per pulse, counted from the traced ``sample_events``: decoy BB84 5
    (before: ten float64 uniforms, 20 words), SNS TF-QKD 6 (before 18), BBM92 17 (before 38)."""
    link, _ = make_link(overrides)
    assert words_per_pulse(link) == words


POINTS = {  # 0 km, a middle distance, a long fibre (photon click probabilities ~ 1e-9)
    "bb84_decoy": (["detector.dark_count_prob=1e-9", "detector.dead_time_ns=20", "detector.afterpulse_prob=0.02",
                    "channel.length_km=[0,100,430]"], 4),
    "bb84_finite_key": (["protocol.finite_key=true", "detector.dark_count_prob=1e-5", "channel.length_km=[0,100,430]"],
                        4),
    "sns_tf": (["experiment=tf_qkd", "detector.dark_count_prob=1e-9", "protocol.phase_drift_deg=20",
                "distance_km=[0,300,900]"], 2),
    "bbm92": (["experiment=entanglement_100km", "source.mean_pairs=0.5", "detector_a.dark_count_prob=1e-9",
               "detector_b.dark_count_prob=1e-9", "detector_b.misalignment=0.05", "detector_a.dead_time_ns=20",
               "distance_km=[0,100,600]"], 2),
    "bbm92_poisson": (["experiment=entanglement_100km", "source.statistics=poisson", "source.mean_pairs=2",
                       "detector_a.dark_count_prob=1e-4", "distance_km=[0,100,400]"], 2),
}
"""Overrides (three points each) and the number of calls of 2^18 pulses per point."""


@pytest.mark.parametrize("name", sorted(POINTS))
def test_events_match_the_closed_forms(name):
    """``sample_events`` at a fixed seed against N P(setting) P(outcome | setting) of the closed
    forms, at each of three points: every class within the two-sided 5-sigma tail of its exact
    binomial law, and the chi-square of the classes expecting >= 5 counts above the 1e-6 tail of
    its law. (At the long fibre the photon clicks are too rare to be seen in a test; that their
    probabilities are resolved is the click-threshold test above.)"""
    overrides, calls = POINTS[name]
    link, _ = make_link(overrides)
    n = 2**18
    protocol = link.protocol
    measured = np.asarray(protocol.MEASURED)
    s_count, o_count = len(measured), len(protocol.OUTCOMES)

    @jax.jit
    def run(key):
        def one(lk, k):
            setting, outcome = lk.protocol.sample_events(k, n, lk.parts, lk.mean_transmittance())
            return jnp.zeros(s_count * o_count, jnp.int64).at[setting * o_count + outcome].add(1)
        return jax.vmap(one)(link, jax.random.split(key, 3))

    cells = sum(np.asarray(run(jax.random.fold_in(jax.random.key(17), i))) for i in range(calls))
    cells = cells.reshape(3, s_count, o_count)
    sent, counts = cells.sum(-1), np.where(measured[:, None], cells, 0)
    c = classes(sent, counts, measured)
    ps, po = jax.vmap(lambda lk: (lk.protocol.setting_probabilities(lk.parts),
                                  lk.protocol.outcome_probabilities(lk.parts, lk.mean_transmittance())))(link)
    ps, po = np.asarray(ps), np.asarray(po)
    p = classes(ps, ps[..., None] * po, measured)
    total = calls * n
    assert (c.sum(-1) == total).all()
    tail = np.minimum(1.0, 2.0 * np.minimum(stats.binom.cdf(c, total, p), stats.binom.sf(c - 1, total, p)))
    assert (tail >= ALPHA).all(), (np.argwhere(tail < ALPHA), c, total * p)
    for point in range(3):
        e = total * p[point]
        big = e >= 5
        chi2 = np.sum((c[point, big] - e[big]) ** 2 / e[big])
        dof = big.sum() - (1 if big.all() else 0)
        assert stats.chi2.sf(chi2, dof) > 1e-6, (name, point, chi2, dof)
