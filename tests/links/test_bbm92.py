"""BBM92 with a parametric down-conversion source in the middle (kqjax.links.protocols.bbm92)."""
from fractions import Fraction as F

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kqjax.links.detectors.threshold import ThresholdDetectors
from kqjax.links.protocols.bb84_decoy import h2
from kqjax.links.protocols.bbm92 import BBM92
from kqjax.links.sources.spdc import SPDCSource

ARMS = ("channel_a", "channel_b")


def parts_of(mean_pairs, statistics="thermal", rep_rate_mhz=100.0, a=None, b=None):
    a = {"dead_time_ns": 0.0, **(a or {})}
    b = {"dead_time_ns": 0.0, **(b or {})}
    return {"source": SPDCSource(mean_pairs=mean_pairs, statistics=statistics, rep_rate_mhz=rep_rate_mhz),
            "channel_a": None, "channel_b": None,
            "detector_a": ThresholdDetectors(**a), "detector_b": ThresholdDetectors(**b)}


def gain_qber(protocol, parts, eta):
    """(Q, E, C) of a sifted pulse from the expected outcome probabilities."""
    p = np.asarray(protocol.outcome_probabilities(parts, eta))[0]
    q = p[0] + p[1]
    return q, (p[1] / q if q > 0 else 0.0), p[0] - p[1]


def mfl(lam, ta, tb, y0a, y0b, ed):
    """(Q_lambda, E_lambda, X) of Ma, Fung, Lo, PRA 76, 012307 (2007), thermal PDC source,
    in exact rational arithmetic (the inputs are binary floats, hence rationals):
      Q = 1 - (1-Y0A)/(1+ta l)^2 - (1-Y0B)/(1+tb l)^2 + (1-Y0A)(1-Y0B)/(1+ta l+tb l-ta tb l)^2,
      E Q = e0 Q - 2 (e0 - e_d) X,   X = ta tb l (1+l) / [(1+ta l)(1+tb l)(1+ta l+tb l-ta tb l)],
    e0 = 1/2."""
    lam, ta, tb, y0a, y0b, ed = map(F, (lam, ta, tb, y0a, y0b, ed))
    s = 1 + ta * lam + tb * lam - ta * tb * lam
    q = 1 - (1 - y0a) / (1 + ta * lam) ** 2 - (1 - y0b) / (1 + tb * lam) ** 2 + (1 - y0a) * (1 - y0b) / s**2
    x = ta * tb * lam * (1 + lam) / ((1 + ta * lam) * (1 + tb * lam) * s)
    eq = q / 2 - 2 * (F(1, 2) - ed) * x
    return float(q), float(eq / q), float(x)


POINTS = [  # (lambda, eta_A, eta_B, detector efficiencies)
    (0.005, 1e-3, 3e-3, (0.6, 0.8)),
    (0.05, 0.1, 0.02, (0.6, 0.8)),
    (0.5, 0.3, 0.7, (0.9, 0.5)),
    (0.05, 1.0, 1.0, (1.0, 1.0)),
]


@pytest.mark.parametrize("lam,eta_a,eta_b,eff", POINTS)
@pytest.mark.parametrize("pd", [0.0, 1e-6, 1e-3])
def test_gain_is_ma_fung_lo(lam, eta_a, eta_b, eff, pd):
    """Q_lambda of Ma, Fung, Lo, PRA 76, 012307 (2007) (see :func:`mfl`) with eta_X the product
    of arm and detector efficiency and Y0X = 1 - (1 - p_d)^2 (two detectors a side): exact for any
    misalignment, since misrouting does not change whether a side clicks."""
    parts = parts_of(2 * lam, a={"efficiency": eff[0], "dark_count_prob": pd, "misalignment": 0.03},
                     b={"efficiency": eff[1], "dark_count_prob": pd, "misalignment": 0.01})
    q, _, _ = gain_qber(BBM92(), parts, dict(zip(ARMS, (eta_a, eta_b))))
    y0 = 1 - (1 - pd) ** 2
    q_ref, _, _ = mfl(lam, eta_a * eff[0], eta_b * eff[1], y0, y0, 0.0)
    assert np.isclose(q, q_ref, rtol=1e-10, atol=0)


@pytest.mark.parametrize("lam,eta_a,eta_b,eff", POINTS)
def test_qber_is_ma_fung_lo_without_misalignment(lam, eta_a, eta_b, eff):
    """E_lambda of Ma, Fung, Lo (2007) with e_d = 0 and no dark counts: exact. With dark counts
    p_A, p_B the correlated part Q - 2 E Q is exactly (1 - p_A)(1 - p_B) times theirs, 2 X (a dark
    count beside a photon's click makes a double click, a random bit; their form neglects it),
    so |E - E_MFL| <= (p_A + p_B) X / Q <= (p_A + p_B) / 2."""
    protocol, eta = BBM92(), dict(zip(ARMS, (eta_a, eta_b)))
    ta, tb = eta_a * eff[0], eta_b * eff[1]
    clean = parts_of(2 * lam, a={"efficiency": eff[0], "dark_count_prob": 0.0, "misalignment": 0.0},
                     b={"efficiency": eff[1], "dark_count_prob": 0.0, "misalignment": 0.0})
    q, e, _ = gain_qber(protocol, clean, eta)
    _, e_ref, _ = mfl(lam, ta, tb, 0.0, 0.0, 0.0)
    assert np.isclose(e, e_ref, rtol=1e-10, atol=0)

    pa, pb = 1e-4, 3e-5
    dark = parts_of(2 * lam, a={"efficiency": eff[0], "dark_count_prob": pa, "misalignment": 0.0},
                    b={"efficiency": eff[1], "dark_count_prob": pb, "misalignment": 0.0})
    q, e, c = gain_qber(protocol, dark, eta)
    q_ref, e_ref, x = mfl(lam, ta, tb, 1 - (1 - pa) ** 2, 1 - (1 - pb) ** 2, 0.0)
    assert np.isclose(c, (1 - pa) * (1 - pb) * 2 * x, rtol=1e-10, atol=0)
    assert abs(e - e_ref) <= (pa + pb) * x / q_ref * (1 + 1e-9)


def _misrouting_bound(lam, ta, tb, ea, eb, nmax=400):
    """Bound on |C - (1 - 2 e_A)(1 - 2 e_B) C_0| (C_0: no misrouting). Given the photons detected
    at a side, i of pair mode 1 and l of mode 2, D = P(bit 0) - P(bit 1) is
    (1-e)^i e^l - e^i (1-e)^l with independent misrouting and (1 - 2e)(1[l=0] - 1[i=0]) with a flip
    of the outcome: equal when i + l <= 2, and |difference| <= (i + l) e otherwise. Since
    x <= x(x-1)(x-2)/2 for x >= 3, |D_B| <= x_B, and x_A ~ Bin(n, t_A), x_B ~ Bin(n, t_B) given n
    pairs: bound = sum_n P(n) n^2 (n-1)(n-2) (e_A t_A^3 t_B + e_B t_B^3 t_A) / 2."""
    n = np.arange(nmax + 1, dtype=float)
    pn = np.asarray(SPDCSource(mean_pairs=2 * lam).pair_probabilities(nmax))
    return float(np.sum(pn * n**2 * (n - 1) * (n - 2)) * (ea * ta**3 * tb + eb * tb**3 * ta) / 2)


@pytest.mark.parametrize("lam,eta_a,eta_b,eff", POINTS)
def test_qber_with_misalignment(lam, eta_a, eta_b, eff):
    """With misalignment e_A, e_B the QBER of Ma, Fung, Lo (2007), whose intrinsic detector error
    e_d flips the outcome of a coincidence, with 1 - 2 e_d = (1 - 2 e_A)(1 - 2 e_B): the model
    (each photon independently at the wrong detector, ThresholdDetectors.split) agrees up to the
    events with three or more photons detected at one side (see _misrouting_bound), i.e. to
    O(e lambda^3 t^4); for one pair per pulse E -> e_d."""
    ea, eb = 0.03, 0.01
    parts = parts_of(2 * lam, a={"efficiency": eff[0], "dark_count_prob": 0.0, "misalignment": ea},
                     b={"efficiency": eff[1], "dark_count_prob": 0.0, "misalignment": eb})
    q, e, c = gain_qber(BBM92(), parts, dict(zip(ARMS, (eta_a, eta_b))))
    ta, tb = eta_a * eff[0], eta_b * eff[1]
    ed = ea + eb - 2 * ea * eb
    _, e_ref, x = mfl(lam, ta, tb, 0.0, 0.0, ed)
    bound = _misrouting_bound(lam, ta, tb, ea, eb)
    assert abs(c - (1 - 2 * ed) * 2 * x) <= bound + 1e-12 * c
    assert abs(e - e_ref) <= bound / (2 * q) + 1e-12 * e
    if max(ta, tb) < 0.1:
        assert bound / (2 * q) < 1e-4 * e  # negligible at realistic transmittances


def test_rows_are_distributions_and_limits():
    """Rows sum to 1 and lie in [0, 1] (dead time, afterpulses, both statistics); q = p_z^2 +
    (1 - p_z)^2; one pair per pulse at eta = 1 without dark counts: E = e_d = e_A + e_B - 2 e_A e_B,
    Q = 2 lambda (1 + O(lambda)); no coincidence without photons or dark counts."""
    protocol = BBM92(p_z=0.7)
    for stats in ("thermal", "poisson"):
        for mp, eta in ((1e-4, (1e-4, 1e-2)), (0.1, (0.1, 0.1)), (3.0, (1.0, 0.5))):
            parts = parts_of(mp, stats, a={"dark_count_prob": 1e-3, "afterpulse_prob": 0.05, "dead_time_ns": 100.0},
                             b={"dark_count_prob": 1e-6, "dead_time_ns": 20.0})
            p = np.asarray(protocol.outcome_probabilities(parts, dict(zip(ARMS, eta))))
            assert p.shape == (2, 3)
            assert np.all(p >= 0) and np.all(p <= 1)
            assert np.allclose(p.sum(-1), 1.0, rtol=0, atol=1e-15)
            assert np.isclose(p[0, :2].sum(), p[1, :2].sum(), rtol=1e-14, atol=0)  # Q does not depend on the bases
            ps = np.asarray(protocol.setting_probabilities(parts))
            assert np.allclose(ps, [0.7**2 + 0.3**2, 2 * 0.7 * 0.3], rtol=1e-15)
    lam = 1e-7
    for ea, eb in ((0.02, 0.0), (0.02, 0.05)):
        parts = parts_of(2 * lam, a={"efficiency": 1.0, "dark_count_prob": 0.0, "misalignment": ea},
                         b={"efficiency": 1.0, "dark_count_prob": 0.0, "misalignment": eb})
        q, e, _ = gain_qber(BBM92(), parts, {"channel_a": 1.0, "channel_b": 1.0})
        assert np.isclose(e, ea + eb - 2 * ea * eb, rtol=1e-5)
        assert np.isclose(q, 2 * lam, rtol=1e-5, atol=0)
    parts = parts_of(0.1, a={"dark_count_prob": 0.0}, b={"dark_count_prob": 0.0})
    q, _, _ = gain_qber(BBM92(), parts, {"channel_a": 0.0, "channel_b": 0.3})
    assert q == 0.0


@pytest.mark.parametrize("stats", ["thermal", "poisson"])
def test_pair_statistics(stats):
    """P(n) sums to 1 with mean 2 lambda = mean_pairs; thermal (n+1) lambda^n / (1+lambda)^(n+2)
    (Ma, Fung, Lo 2007), Poisson e^{-2 lambda} (2 lambda)^n / n!; thermal variance 2 lambda (1 +
    lambda) against 2 lambda. The sampled pair numbers of the two pair modes have these laws."""
    lam = 0.2
    src = SPDCSource(mean_pairs=2 * lam, statistics=stats)
    p = np.asarray(src.pair_probabilities(200))
    n = np.arange(201)
    assert np.isclose(p.sum(), 1.0, rtol=1e-14)
    assert np.isclose((n * p).sum(), 2 * lam, rtol=1e-13)
    var = (n**2 * p).sum() - (2 * lam) ** 2
    if stats == "thermal":
        assert np.allclose(p[:6], [(k + 1) * lam**k / (1 + lam) ** (k + 2) for k in range(6)], rtol=1e-13)
        assert np.isclose(var, 2 * lam * (1 + lam), rtol=1e-12)
    else:
        assert np.allclose(p[:6], [np.exp(-2 * lam) * (2 * lam) ** k / np.prod(np.arange(1, k + 1)) for k in range(6)],
                           rtol=1e-13, atol=0)
        assert np.isclose(var, 2 * lam, rtol=1e-12)
    k1, k2 = src.sample_pairs(jax.random.key(3), (2**20,))
    total = np.asarray(k1 + k2, np.int64)
    freq = np.bincount(total, minlength=6)[:6] / total.size
    se = np.sqrt(p[:6] * (1 - p[:6]) / total.size)
    assert np.all(np.abs(freq - p[:6]) < 5 * se)


def test_thermal_and_poisson_multi_pairs():
    """Thermal pairs bunch: P(2) = 3 lambda^2 (1 + O(lambda)) against 2 lambda^2 (Poisson), and,
    given n pairs, the split between the two pair modes is uniform (thermal) or binomial (Poisson).
    Closed forms for independent pairs (Poisson, n ~ Poisson(2 lambda)):
      Q = 1 - (1-Y0A) e^{-2 l t_A} - (1-Y0B) e^{-2 l t_B} + (1-Y0A)(1-Y0B) e^{-2 l (t_A+t_B-t_A t_B)},
      Q - 2 E Q = 2 (1-p_A)(1-p_B) e^{-l (t_A+t_B)} (e^{l t_A t_B} - 1)   (e_d = 0).
    At high loss (t -> 0), e_d = 0, no dark counts, the QBER is the multi-pair one:
    lambda / (1 + 3 lambda) (thermal, from Ma, Fung, Lo 2007) and lambda / (1 + 2 lambda) (Poisson),
    and Q / (2 lambda t_A t_B) -> 1 + 3 lambda and 1 + 2 lambda: thermal gives more accidental
    coincidences at the same mean but fewer of them are errors."""
    lam = 0.01
    th = np.asarray(SPDCSource(mean_pairs=2 * lam).pair_probabilities(3))
    po = np.asarray(SPDCSource(mean_pairs=2 * lam, statistics="poisson").pair_probabilities(3))
    assert np.isclose(th[2] / po[2], 1.5, rtol=3 * lam)
    protocol = BBM92()
    eta = {"channel_a": 0.2, "channel_b": 0.05}
    pa, pb = 2e-4, 1e-5
    for lam in (0.01, 0.3):
        parts = parts_of(2 * lam, "poisson", a={"efficiency": 0.5, "dark_count_prob": pa, "misalignment": 0.0},
                         b={"efficiency": 0.9, "dark_count_prob": pb, "misalignment": 0.0})
        q, e, c = gain_qber(protocol, parts, eta)
        ta, tb = 0.2 * 0.5, 0.05 * 0.9
        y0a, y0b = 1 - (1 - pa) ** 2, 1 - (1 - pb) ** 2
        q_ref = (1 - (1 - y0a) * np.exp(-2 * lam * ta) - (1 - y0b) * np.exp(-2 * lam * tb)
                 + (1 - y0a) * (1 - y0b) * np.exp(-2 * lam * (ta + tb - ta * tb)))
        assert np.isclose(q, q_ref, rtol=1e-11, atol=0)
        c_ref = 2 * (1 - pa) * (1 - pb) * np.exp(-lam * (ta + tb)) * np.expm1(lam * ta * tb)
        assert np.isclose(c, c_ref, rtol=1e-12, atol=0)
    t = 1e-6
    for lam in (0.01, 0.1, 1.0):
        for stats, k in (("thermal", 3), ("poisson", 2)):
            parts = parts_of(2 * lam, stats, a={"efficiency": 1.0, "dark_count_prob": 0.0, "misalignment": 0.0},
                             b={"efficiency": 1.0, "dark_count_prob": 0.0, "misalignment": 0.0})
            q, e, _ = gain_qber(protocol, parts, {"channel_a": t, "channel_b": t})
            assert np.isclose(e, lam / (1 + k * lam), rtol=1e-5)
            assert np.isclose(q / (2 * lam * t * t), 1 + k * lam, rtol=1e-5)


SAMPLED = [  # multi-pairs, dark counts, afterpulses, dead time and misalignment all visible
    dict(mean_pairs=1.0, statistics="thermal", eta=(0.5, 0.3), p_z=0.6,
         a={"efficiency": 0.7, "dark_count_prob": 0.02, "misalignment": 0.05, "afterpulse_prob": 0.05,
            "dead_time_ns": 20.0},
         b={"efficiency": 0.9, "dark_count_prob": 0.01, "misalignment": 0.1}),
    dict(mean_pairs=0.4, statistics="poisson", eta=(0.5, 0.8), p_z=0.5,
         a={"efficiency": 0.6, "dark_count_prob": 5e-3, "misalignment": 0.02},
         b={"efficiency": 0.8, "dark_count_prob": 1e-2, "misalignment": 0.03, "dead_time_ns": 50.0}),
]


@pytest.mark.parametrize("point", SAMPLED)
def test_sample_events_match_outcome_probabilities(point):
    """Event-level sampling (pair numbers, each photon's fate, detector availability, dark counts,
    random bits of double clicks), 2^20 pulses at a fixed seed: each (setting, outcome) frequency
    within 5 standard errors of P(setting) P(outcome | setting)."""
    protocol = BBM92(p_z=point["p_z"])
    parts = parts_of(point["mean_pairs"], point["statistics"], a=point["a"], b=point["b"])
    eta = dict(zip(ARMS, point["eta"]))
    n, chunks = 2**18, 4
    keys = jax.random.split(jax.random.key(20240601), chunks)
    setting, outcome = jax.jit(jax.vmap(lambda k: protocol.sample_events(k, n, parts, eta)))(keys)
    assert setting.dtype == jnp.int32 and outcome.dtype == jnp.int32
    s, o = np.asarray(setting).ravel(), np.asarray(outcome).ravel()
    freq = np.zeros((2, 3))
    np.add.at(freq, (s, o), 1.0)
    freq /= s.size
    ps = np.asarray(protocol.setting_probabilities(parts))
    p = ps[:, None] * np.asarray(protocol.outcome_probabilities(parts, eta))
    assert p[0, 1] > 1e-3 and p[0, 0] > 1e-2  # errors and coincidences well resolved
    se = np.sqrt(p * (1 - p) / s.size)
    assert np.all(np.abs(freq - p) < 5 * se), (freq - p) / se


def h(x):
    return -x * np.log2(x) - (1 - x) * np.log2(1 - x)


def test_estimator_key_rate_and_chsh():
    """R = q Q [1 - f h2(E) - h2(E)] (Ma, Fung, Lo 2007) per pulse sent, from counts: q the
    sifted fraction, Q = coincidences / sifted, E = errors / coincidences; V = 1 - 2 E and
    S = 2 sqrt(2) V (CHSH). Above the threshold (f = 1.16: E ~ 10 %) the rate is clipped at 0."""
    protocol = BBM92(f_ec=1.16, p_z=0.5)
    parts = parts_of(0.1)
    sent = jnp.array([500_000, 500_000])
    counts = jnp.array([[9_500, 500, 490_000], [0, 0, 0]])
    out = protocol.estimate(sent, counts, parts, None)
    e, q = 500 / 10_000, 10_000 / 500_000
    assert np.isclose(out["qber"], e) and np.isclose(out["coincidence_probability"], q)
    assert np.isclose(out["key_rate"], 0.5 * q * (1 - 1.16 * h(e) - h(e)), rtol=1e-13)
    assert np.isclose(out["visibility"], 0.9) and np.isclose(out["chsh"], 2 * np.sqrt(2) * 0.9)
    bad = protocol.estimate(sent, jnp.array([[8_800, 1_200, 490_000], [0, 0, 0]]), parts, None)
    assert bad["key_rate"] == 0.0 and bad["key_rate_signed"] < 0
    assert bad["chsh"] > 2.0  # still violates CHSH: the visibility is 0.76 > 1/sqrt(2)
    # on expected counts: the model's Q_lambda and E_lambda
    eta = {"channel_a": 0.1, "channel_b": 0.1}
    ps, po = protocol.probabilities(parts, eta)
    out = protocol.estimate(ps, po, parts, eta)
    qq, ee, _ = gain_qber(protocol, parts, eta)
    assert np.isclose(out["coincidence_probability"], qq, rtol=1e-13)
    assert np.isclose(out["qber"], ee, rtol=1e-13)
    assert np.isclose(out["key_rate"], 0.5 * qq * (1 - 1.16 * float(h2(ee)) - float(h2(ee))), rtol=1e-12, atol=0)
    assert set(protocol.VARIABLES) <= set(out)


def test_optimum_mean_pairs_at_100_km():
    """Source in the middle of 100 km of 0.2 dB/km fiber (10 dB per arm), SNSPDs: the key rate
    rises with the mean pair number while multi-pairs are rare, then falls as their errors grow,
    so there is an interior optimum (near 0.1 pairs per pulse); the gradient (for optimisers)
    changes sign there and the rate vanishes for very bright sources."""
    protocol = BBM92()
    eta = {"channel_a": 10 ** (-0.2 * 50 / 10), "channel_b": 10 ** (-0.2 * 50 / 10)}
    det = {"efficiency": 0.6, "dark_count_prob": 1e-7, "misalignment": 0.01, "dead_time_ns": 50.0}

    def rate(mp):
        parts = parts_of(mp, a=det, b=det)
        return protocol.estimate(*protocol.probabilities(parts, eta), parts, eta)["key_rate_signed"]

    mps = jnp.logspace(-3, 0.5, 71)
    r = np.asarray(jax.jit(jax.vmap(rate))(mps))
    i = int(np.argmax(r))
    assert 0 < i < len(mps) - 1 and 0.03 < float(mps[i]) < 0.3
    assert np.all(np.diff(r[: i + 1]) > 0) and np.all(np.diff(r[i:]) < 0)
    assert r[-1] < 0
    grad = jax.jit(jax.vmap(jax.grad(rate)))(jnp.array([float(mps[i]) / 3, float(mps[i]) * 3]))
    assert grad[0] > 0 > grad[1]
