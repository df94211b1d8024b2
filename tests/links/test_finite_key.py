"""Finite-key decoy BB84 (``protocol.finite_key=true``): Lim, Curty, Walenta, Xu, Zbinden,
"Concise security bounds for practical decoy-state quantum key distribution", PRA 89, 022307
(2014), arXiv:1311.7129, key from the sifted Z-basis pulses, phase errors from X; Chernoff
deviations as in Sidhu et al., npj Quantum Inf. 8, 18 (2022) (``tail_bound=chernoff``)."""
import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize as so

from kqjax.links.link import Link, simulate
from kqjax.links.protocols.bb84_decoy import DecoyBB84
from kqjax.links.sources.weak_coherent import WeakCoherentSource

from .helpers import estimate, expected, make_link, probabilities

FINITE = ["protocol.finite_key=true"]


def scaled(link, n):
    """The estimator's outputs on the expected counts of ``n`` pulses (floats), every point."""
    ps, po = probabilities(link)
    return estimate(link, n * ps, n * po)


# ----------------------------------------------------------------------------- convergence


def test_finite_key_rate_grows_to_the_asymptotic_z_key():
    """At 50 km (default link) the finite-key rate of N = 1e8 ... 1e14 expected pulses grows
    monotonically to the asymptotic Z-basis key rate (the same bounds without finite-size terms,
    ``key_rate_asymptotic``), within 1 % at 1e14; 1e6 pulses give no key at all."""
    link, _ = make_link(["channel.length_km=[50]", *FINITE])
    asym = float(expected(link)["key_rate_asymptotic"][0])
    rates = np.array([float(scaled(link, n)["key_rate"][0]) for n in 10.0 ** np.arange(8, 15)])
    assert rates[0] > 0 and np.all(np.diff(rates) > 0) and np.all(rates < asym)
    assert rates[-1] == pytest.approx(asym, rel=0.01)
    small = scaled(link, 1e6)
    assert small["key_rate"][0] == 0.0 and small["secret_key_bits"][0] == 0.0 and small["key_rate_signed"][0] < 0
    # the asymptotic Z-basis key is the GLLP key of the Z basis alone, not of both bases
    gllp = float(expected(make_link(["channel.length_km=[50]"])[0])["key_rate_asymptotic"][0])
    assert 0.3 * gllp < asym < gllp


def test_secret_key_bits_and_bounds():
    """l = floor(max(l, 0)), key_rate = l / N with N = sum(sent); the bounds are ordered as they
    must be (s_Z1 <= n_Z, phase error in [E_Z, 1/2]); without finite_key the variables exist too,
    the key being the asymptotic GLLP rate times N."""
    link, _ = make_link(["channel.length_km=[0,50]", *FINITE])
    po = probabilities(link)[1]
    n = 1e10
    out = scaled(link, n)
    assert set(DecoyBB84.VARIABLES) <= set(out)
    assert np.all(out["secret_key_bits"] == np.floor(out["secret_key_bits"]))
    assert np.all(np.abs(out["secret_key_bits"] - out["key_rate_signed"] * n) <= 1.0)
    np.testing.assert_allclose(out["key_rate"], out["secret_key_bits"] / n, rtol=1e-15)
    n_z = n * po[:, 0::3, :2].sum((-1, -2))
    e_z = n * po[:, 0::3, 1].sum(-1) / n_z
    assert np.all(out["s_z1_lower"] > 0) and np.all(out["s_z1_lower"] < n_z) and np.all(out["s_z0_lower"] >= 0)
    assert np.all(out["phase_error_upper"] > e_z) and np.all(out["phase_error_upper"] < 0.5)
    plain, _ = make_link(["channel.length_km=[0,50]"])
    ref = scaled(plain, n)
    np.testing.assert_allclose(ref["secret_key_bits"], n * expected(plain)["key_rate_asymptotic"], rtol=1e-12)
    assert np.all(ref["s_z1_lower"] > out["s_z1_lower"])  # no finite-size terms
    assert np.all(ref["phase_error_upper"] < out["phase_error_upper"])


# ----------------------------------------------------------------------------- the formulas


def lim_reference(cz, cx, mu, p, eps_sec, eps_cor, f_ec):
    """Lim et al. (2014), Eqs. (1)-(5), transcribed plainly (Hoeffding), key basis Z, test basis
    X: cz, cx [3 intensities, (correct, error, no click)]."""
    ln = math.log(21.0 / eps_sec)
    tau = [sum(p[k] * math.exp(-mu[k]) * mu[k] ** j for k in range(3)) / math.factorial(j) for j in (0, 1)]

    def plus_minus(x, total):
        d = math.sqrt(total / 2.0 * ln)
        return ([math.exp(mu[k]) / p[k] * (x[k] - d) for k in range(3)],
                [math.exp(mu[k]) / p[k] * (x[k] + d) for k in range(3)])

    def s01(c):
        n = [c[k][0] + c[k][1] for k in range(3)]
        lo, hi = plus_minus(n, sum(n))
        s0 = max(tau[0] * (mu[1] * lo[2] - mu[2] * hi[1]) / (mu[1] - mu[2]), 0.0)
        s1 = tau[1] * mu[0] * (lo[1] - hi[2] - (mu[1] ** 2 - mu[2] ** 2) / mu[0] ** 2 * (hi[0] - s0 / tau[0])) / (
            mu[0] * (mu[1] - mu[2]) - mu[1] ** 2 + mu[2] ** 2)
        return s0, s1, sum(n)

    def h(x):
        return -x * math.log2(x) - (1 - x) * math.log2(1 - x)

    s_z0, s_z1, n_z = s01(cz)
    _, s_x1, _ = s01(cx)
    m = [cx[k][1] for k in range(3)]
    lo, hi = plus_minus(m, sum(m))
    v_x1 = tau[1] * (hi[1] - lo[2]) / (mu[1] - mu[2])
    b, c, d = v_x1 / s_x1, s_x1, s_z1
    gamma = math.sqrt((c + d) * (1 - b) * b / (c * d * math.log(2))
                      * math.log2((c + d) / (c * d * (1 - b) * b) * 21**2 / eps_sec**2))
    phi = b + gamma
    e_z = sum(cz[k][1] for k in range(3)) / n_z
    ell = (s_z0 + s_z1 * (1 - h(phi)) - f_ec * n_z * h(e_z) - 6 * math.log2(21 / eps_sec)
           - math.log2(2 / eps_cor))
    return {"length": ell, "s_z0": s_z0, "s_z1": s_z1, "phi": phi}


def test_estimator_is_lim_equations_1_to_5():
    """On the expected counts of 1e10 pulses at 30 km (mu_3 = 2e-4 and noisy detectors, so that
    s_Z0 > 0), the estimator gives the plain transcription of Lim et al.'s Eqs. (1)-(5) above to
    1e-10."""
    link, _ = make_link(["channel.length_km=[30]", "source.omega=2e-4", "detector.dark_count_prob=1e-4",
                         "protocol.p_z=0.7", "protocol.eps_sec=1e-9", *FINITE])
    ps, po = probabilities(link)
    n = 1e10
    out = estimate(link, n * ps, n * po)
    c = (n * po[0]).reshape(3, 3, 3)
    src = link.parts["source"]
    mu = [float(src.mu[0]), float(src.nu[0]), float(src.omega[0])]
    p = [float(src.p_mu[0]), float(src.p_nu[0]), float(src.p_omega[0])]
    ref = lim_reference(c[:, 0].tolist(), c[:, 1].tolist(), mu, p, 1e-9, 1e-15, 1.16)
    assert ref["s_z0"] > 0 and 0 < ref["phi"] < 0.5
    assert float(out["key_rate_signed"][0]) * n == pytest.approx(ref["length"], rel=1e-10)
    assert float(out["s_z0_lower"][0]) == pytest.approx(ref["s_z0"], rel=1e-10)
    assert float(out["s_z1_lower"][0]) == pytest.approx(ref["s_z1"], rel=1e-10)
    assert float(out["phase_error_upper"][0]) == pytest.approx(ref["phi"], rel=1e-10)


# ----------------------------------------------------------------------------- Lim et al., Fig. 1

MU3, ETA_BOB, P_DC, P_AP, E_MIS, F_EC, KAPPA, EPS_COR = 2e-4, 0.1, 6e-7, 4e-2, 5e-3, 1.16, 1e-15, 1e-15


def lim_counts(pz, p, mu, length):
    """Lim et al., Sec. IV (dedicated fiber): per pulse sent, P(setting) [9] and P(setting,
    outcome) [9, 3] with D_k = 1 - (1 - 2 p_dc) exp(-eta_sys k), R_k = D_k (1 + p_ap) detections
    and e_k = p_dc + e_mis [1 - exp(-eta_sys k)] + p_ap D_k / 2 errors (the paper prints eta_ch in
    the misalignment term; with it the QBER would be ~5 % at every distance, inconsistent with
    e_mis = 0.5 %, so we read it as the system transmittance), eta_sys = 10^(-0.2 L / 10) eta_Bob."""
    eta = 10 ** (-0.2 * length / 10) * ETA_BOB
    d = 1 - (1 - 2 * P_DC) * jnp.exp(-eta * mu)
    r = d * (1 + P_AP)
    e = P_DC + E_MIS * (1 - jnp.exp(-eta * mu)) + P_AP * d / 2
    basis = jnp.stack([pz**2, (1 - pz) ** 2, 1 - pz**2 - (1 - pz) ** 2])
    sent = p[:, None] * basis[None, :]
    outcome = jnp.stack([r - e, e, 1 - r], -1)
    counts = (sent[:, :, None] * outcome[:, None, :]).at[:, 2, :].set(0.0)
    return sent.reshape(-1), counts.reshape(9, 3)


def lim_rate(theta, length, n_x):
    """Lim et al.'s R = l / N at (p_z, p_1, p_2, mu_1, mu_2) for a block of n_x key-basis
    detections, with eps_sec = kappa l (kappa = 1e-15, solved by fixed-point iteration)."""
    pz, p1, p2, mu1, mu2 = theta
    p, mu = jnp.stack([p1, p2, 1 - p1 - p2]), jnp.stack([mu1, mu2, MU3])
    sent, counts = lim_counts(pz, p, mu, length)
    n = n_x / counts[0::3, :2].sum()
    parts = {"source": WeakCoherentSource(mu=mu1, nu=mu2, omega=MU3, p_mu=p1, p_nu=p2, p_omega=1 - p1 - p2)}
    eps = KAPPA * n_x
    for _ in range(4):
        proto = DecoyBB84(f_ec=F_EC, p_z=pz, finite_key=True, eps_sec=eps, eps_cor=EPS_COR)
        ell = proto.estimate(n * sent, n * counts, parts, None)["key_rate_signed"] * n
        eps = KAPPA * jnp.maximum(ell, 1.0)
    return ell / n


_RATE = jax.jit(jax.vmap(lim_rate, in_axes=(0, None, None)))
_ONE = jax.jit(lim_rate)


def optimised_rate(length, n_x, samples=20000, seed=0):
    """max R over the free parameters {q, p_1, p_2, mu_1, mu_2} as Lim et al. optimise them: the
    best of ``samples`` random points, refined by Nelder-Mead."""
    rng = np.random.default_rng(seed)
    pz = rng.uniform(0.02, 0.99, samples)
    p1 = rng.uniform(0.005, 0.95, samples)
    p2 = rng.uniform(0.0, 1.0, samples) * (1 - p1)
    mu2 = rng.uniform(1e-3, 0.4, samples)
    mu1 = mu2 + MU3 + rng.uniform(0.01, 1.0, samples)
    theta = np.stack([pz, p1, p2, mu1, mu2], -1)
    r = np.asarray(_RATE(jnp.asarray(theta), length, n_x))
    start = theta[np.nanargmax(r)]
    scale = max(float(np.nanmax(r)), 1e-12)

    def f(x):
        v = float(_ONE(jnp.asarray(x), length, n_x))
        ok = 0 < x[0] < 1 and x[1] > 0 and x[2] > 0 and x[1] + x[2] < 1 and x[3] > x[4] + MU3 and x[4] > MU3
        return -v / scale if ok and np.isfinite(v) else 1e3

    res = so.minimize(f, start, method="Nelder-Mead", options={"maxiter": 3000, "xatol": 1e-8, "fatol": 1e-12})
    return max(-res.fun * scale, float(np.nanmax(r)))


def test_lim_2014_block_size_gain_at_100_km():
    """Lim et al. (2014), Sec. IV: "at a fiber length of 100 km, the secret key rate obtained with
    n_X = 10^9 is about 1.75 times the one based on n_X = 10^7" (Fig. 1, parameters of their Sec.
    IV: mu_3 = 2e-4, eta_Bob = 10 %, p_dc = 6e-7, p_ap = 4 %, e_mis = 0.5 %, f_EC = 1.16,
    0.2 dB/km, eps_cor = 1e-15, eps_sec = kappa l with kappa = 1e-15, the rate optimised over
    q, p_mu1, p_mu2, mu_1, mu_2).

    We get 1.66 (R = 8.6e-5 and 5.2e-5 per pulse). Tolerance 10 %: "about 1.75" is the authors'
    rounding of two optimised curves on a log-scale figure, and the model leaves details open that
    move the ratio by several % (the eta of the misalignment term, see ``lim_counts``; without
    afterpulses the ratio is 1.54; a fixed eps_sec = 1e-10 instead of kappa l gives 1.65)."""
    low, high = optimised_rate(100.0, 1e7), optimised_rate(100.0, 1e9)
    assert 3e-5 < low < high < 2e-4
    assert high / low == pytest.approx(1.75, rel=0.10)


def test_lim_2014_reach_of_small_blocks():
    """Lim et al. (2014), Sec. IV: "even if we use a block size of 10^4, cryptographic keys can
    still be distributed over a fiber length of 135 km" (the n_X = 1e4 curve of Fig. 1). We find
    key up to about 130 km (R = 1.7e-8 at 125 km, 1.1e-10 at 130 km); the test asks for key at 125 km and none at 145 km, i.e. 135 +- 10 km:
    the end of a curve that falls steeply on a log scale, read from a figure, with the model
    details of ``lim_counts`` (at the end the optimum sends most pulses as vacuum decoys and picks
    X for most of them, so the cut-off is sensitive to the afterpulse and dark-count terms)."""
    assert optimised_rate(125.0, 1e4) > 0
    assert optimised_rate(145.0, 1e4) <= 0


# ----------------------------------------------------------------------------- tail bounds, eps


@pytest.mark.parametrize("length", [0.0, 50.0, 100.0, 150.0])
def test_chernoff_gives_at_least_the_hoeffding_key(length):
    """Chernoff deviations (per intensity, ~ sqrt(2 beta n_k)) are tighter than Hoeffding's
    (~ sqrt(n_Z beta / 2), the same for every intensity) for the rare decoy and vacuum classes
    that the bounds hinge on: at least the Hoeffding key at every block size, and more where the
    finite-size terms matter."""
    rates = {}
    for tail in ("hoeffding", "chernoff"):
        link, _ = make_link([f"channel.length_km=[{length}]", f"protocol.tail_bound={tail}", *FINITE])
        rates[tail] = np.array([float(scaled(link, n)["key_rate_signed"][0]) for n in 10.0 ** np.arange(7, 13)])
    assert np.all(rates["chernoff"] >= rates["hoeffding"])
    assert np.any(rates["chernoff"] > 1.05 * rates["hoeffding"])


def test_smaller_eps_sec_gives_less_key():
    """A more secret key (smaller eps_sec) is shorter: larger deviations, a larger gamma and
    6 log2(21/eps_sec) more bits spent."""
    link, _ = make_link(["channel.length_km=[50]", "protocol.eps_sec=[1e-4,1e-7,1e-10,1e-13,1e-16]", *FINITE])
    bits = scaled(link, 1e10)["secret_key_bits"]
    assert np.all(bits > 0) and np.all(np.diff(bits) < 0)


def test_smaller_eps_cor_gives_less_key():
    link, _ = make_link(["channel.length_km=[50]", "protocol.eps_cor=[1e-5,1e-15]", *FINITE])
    ell = scaled(link, 1e10)["key_rate_signed"] * 1e10
    assert ell[0] - ell[1] == pytest.approx(math.log2(1e10), rel=1e-6)  # log2(2/eps_cor): 33.2 bits


# ----------------------------------------------------------------------------- simulated counts


def test_simulated_counts_give_the_expected_finite_key():
    """With integer counts from a run of N = 1e10 pulses at 50 km, the finite key lies within 5
    standard deviations of the key of the expected counts. The standard deviation is the delta
    method on the 21 multinomial classes: Var l = N (sum_i g_i^2 p_i - (sum_i g_i p_i)^2), g the
    gradient of l in the counts (its relative size, ~0.2 %, is also checked)."""
    link, _ = make_link(["channel.length_km=[50]", *FINITE])
    n = 10**10
    out = simulate(link, pulses=n, seed=5, chunk_size=2**30, progress=False)
    ps, po = probabilities(link)
    lk = jax.tree_util.tree_map(lambda x: x[0], link)

    def length(counts):
        return lk.estimate(n * ps[0], counts)["key_rate_signed"] * n

    exp_counts = n * po[0]
    ell = float(length(jnp.asarray(exp_counts)))
    g = np.asarray(jax.grad(length)(jnp.asarray(exp_counts)))
    sd = math.sqrt(n * (np.sum(g**2 * po[0]) - np.sum(g * po[0]) ** 2))
    sim = float(out["key_rate_signed"][0]) * n
    assert out["counts"].dtype == np.int64 and int(out["sent"].sum()) == n
    assert ell > 0 and 0 < sd < 0.01 * ell
    assert abs(sim - ell) <= 5 * sd, (sim, ell, sd)
    assert out["secret_key_bits"][0] == np.floor(sim) and out["key_rate"][0] == out["secret_key_bits"][0] / n
    # the run reports the asymptotic Z-basis key as key_rate_asymptotic, above the finite key
    assert out["key_rate"][0] < out["key_rate_asymptotic"][0] == pytest.approx(expected(link)["key_rate_asymptotic"][0])


# ----------------------------------------------------------------------------- autodiff


def test_finite_key_is_jit_vmap_and_grad_friendly():
    """key_rate_signed of the expected counts of 1e10 pulses is differentiable (finite, and
    matching central differences) in the source's intensities and probabilities and in p_z."""
    link, _ = make_link(["channel.length_km=[0,60,120]", *FINITE])

    def rate(lk, mu, nu, pz):
        parts = {**lk.parts, "source": dataclasses.replace(lk.parts["source"], mu=mu, nu=nu)}
        proto = dataclasses.replace(lk.protocol, p_z=pz)
        ps, po = Link(proto, parts).expected_probabilities()
        return proto.estimate(1e10 * ps, 1e10 * po, parts, None)["key_rate_signed"]

    grads = jax.jit(jax.vmap(jax.grad(rate, argnums=(1, 2, 3))))(link, link.parts["source"].mu,
                                                                 link.parts["source"].nu, link.protocol.p_z)
    grads = np.stack([np.asarray(g) for g in grads], -1)
    assert np.all(np.isfinite(grads)) and np.all(grads[0] != 0)
    lk = jax.tree_util.tree_map(lambda x: x[1], link)
    h = 1e-6
    num = (rate(lk, 0.5 + h, 0.1, 0.5) - rate(lk, 0.5 - h, 0.1, 0.5)) / (2 * h)
    assert float(grads[1, 0]) == pytest.approx(float(num), rel=1e-4)


# ----------------------------------------------------------------------------- leakage of error correction


def test_finite_size_leakage_tends_to_the_shannon_limit():
    """Tomamichel, Martinez-Mateo, Pacher, Elkouss, Quantum Inf. Process. 16, 280 (2017): the
    leakage of one-way reconciliation of n bits at error rate E is n h2(E) + sqrt(n v(E))
    Phi^-1(1 - eps) + O(log n), v = E(1 - E) log2^2((1 - E)/E). Per bit it falls to h2(E) as
    n -> infinity (within 1e-4 at n = 1e12 for E = 2 %), staying above it, and the excess is the
    second-order term to 1 % at n = 1e10."""
    from jax.scipy.special import ndtri

    from kqjax.links.protocols.bb84_decoy import finite_size_leakage, h2

    e, eps = 0.02, 1e-15
    ns = 10.0 ** np.arange(4, 13)
    per_bit = np.array([float(finite_size_leakage(n, e, eps)) / n for n in ns]) / float(h2(e))
    assert np.all(per_bit > 1) and np.all(np.diff(per_bit) < 0)
    assert per_bit[-1] == pytest.approx(1.0, abs=1e-4)
    assert per_bit[0] > 1.3  # 1e4 bits: 40 % more than n h2(E)
    n = 1e10
    second = math.sqrt(n * e * (1 - e)) * math.log2((1 - e) / e) * float(-ndtri(eps))
    assert float(finite_size_leakage(n, e, eps)) - n * float(h2(e)) == pytest.approx(second, rel=0.01)


def test_finite_size_leakage_against_satquma():
    """SatQuMA's published run (out_Pec_0_QBERI_0_1.0GHz_opt.csv of github.com/cnqo-qcomms/SatQuMA,
    Sidhu et al., npj Quantum Inf. 8, 18, 2022) reports lambda_EC = 2036328.7 bits for
    n_X = 122667457.4 bits at QBER 0.15198 %, eps_cor = 1e-15, from the same estimate (their
    ``logM``) with the exact binomial quantile and natural logarithms in its finite-size terms.
    Above n h2(E) = 2014079 bits, kqjax's excess (base 2) is theirs times 1/ln 2 = 1.4427 within
    1 % (the normal form of the quantile and their eps (1 + 1/sqrt(n)) account for the rest)."""
    from kqjax.links.protocols.bb84_decoy import finite_size_leakage, h2

    n, e, theirs = 1.226674574047095925e8, 1.519784735544708627e-3, 2.036328736217055004e6
    shannon = n * float(h2(e))
    assert shannon == pytest.approx(2.014079e6, rel=1e-6)
    ratio = (float(finite_size_leakage(n, e, 1e-15)) - shannon) / (theirs - shannon)
    assert ratio == pytest.approx(1.0 / math.log(2.0), rel=0.01)


def test_ec_leakage_option_changes_only_the_leakage():
    """``protocol.ec_leakage=finite_size`` replaces f n_Z h2(E_Z) by the finite-size estimate and
    nothing else: the key lengths differ by exactly the difference of the two leakages; the
    default is unchanged (efficiency); the asymptotic rate uses n_Z h2(E_Z) (f = 1)."""
    from kqjax.links.protocols.bb84_decoy import finite_size_leakage, h2

    n = 1e10
    plain, _ = make_link(["channel.length_km=[40]", *FINITE])
    fs, _ = make_link(["channel.length_km=[40]", "protocol.ec_leakage=finite_size", *FINITE])
    assert plain.protocol.ec_leakage == "efficiency"
    po = probabilities(plain)[1][0]
    n_z = n * po[0::3, :2].sum()
    e_z = n * po[0::3, 1].sum() / n_z
    a, b = scaled(plain, n)["key_rate_signed"][0] * n, scaled(fs, n)["key_rate_signed"][0] * n
    leak_f, leak_fs = 1.16 * n_z * float(h2(e_z)), float(finite_size_leakage(n_z, e_z, 1e-15))
    assert leak_fs < leak_f  # at 1e10 pulses the finite-size estimate is below f = 1.16
    assert b - a == pytest.approx(leak_f - leak_fs, rel=1e-6)
    asym_fs = expected(fs)["key_rate_asymptotic"][0]
    asym_plain = expected(plain)["key_rate_asymptotic"][0]
    assert (asym_fs - asym_plain) * n == pytest.approx(0.16 * n_z * float(h2(e_z)), rel=1e-6)
