"""Power-law and inertial-sensor noise generators."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kqjax.sensors import allan, noise

N_SAMPLES = 4096
N_REAL = 256
RATE = 2.0  # Hz: tau0 = 0.5 s, so that rate enters every formula

# smallest averaging factor m at which the discrete Kasdin process matches the continuous NIST formula to
# better than 0.2 % (0.05 x the 5-sigma tolerance there): computed from the exact discrete spectrum
# 2 Q_d tau0 (2 sin(pi f tau0))^alpha integrated against the Allan transfer function. Flicker FM: +0.46 %
# at m = 16, +0.13 % at m = 32; random-walk FM: exactly 1/(2 m^2); white PM and white FM: exact; flicker
# PM with the effective cutoff f_h = 2/(pi tau0): < 0.03 % for m >= 8.
M_MIN = {2: 1, 1: 8, 0: 1, -1: 32, -2: 32}
M_MAX = N_SAMPLES // 8


@pytest.mark.parametrize("alpha", [2, 1, 0, -1, -2])
def test_allan_variance_of_power_law_noise(alpha):
    """Mean overlapping Allan variance of Kasdin–Walter noise equals its NIST SP 1065 coefficient.

    White PM ``3 f_h h_2/(4 pi^2 tau^2)``, flicker PM ``h_1 [1.038 + 3 ln(2 pi f_h tau)]/(4 pi^2 tau^2)``,
    white FM ``h_0/(2 tau)``, flicker FM ``2 ln2 h_-1``, random-walk FM ``(2 pi^2/3) h_-2 tau``
    (Riley, NIST SP 1065, 2008; generator: Kasdin, Proc. IEEE 83, 802, 1995). 256 realisations at a
    fixed seed; tolerance 5 standard errors of the mean, the standard error from Greenhall's equivalent
    degrees of freedom (Greenhall & Riley 2003): ``AVAR sqrt(2/edf) / sqrt(256)``. Averaging factors
    below ``M_MIN`` are skipped where the discrete generator differs from the continuous formula.
    """
    h = 1e-22 * 10.0 ** alpha  # any level; scale-free check with realistic magnitudes
    # the other exponents at zero level: one compiled generator for all five cases
    levels = {a: (h if a == alpha else 0.0) for a in noise.ALPHAS}
    y = noise.power_law_noise(jax.random.key(100 + alpha), levels, N_SAMPLES, RATE, (N_REAL,))
    assert y.shape == (N_REAL, N_SAMPLES) and y.dtype == jnp.float64
    m_all = 2 ** np.arange(int(np.log2(M_MAX)) + 1)
    res = allan.stability(y, RATE, alpha, "oadev", "freq", m_all / RATE)  # overlapping ADEV and Greenhall EDF
    keep = m_all >= M_MIN[alpha]
    m, tau = m_all[keep], np.asarray(res["tau_s"])[keep]
    avar = np.asarray(res["dev"])[:, keep] ** 2
    model = np.asarray(noise.power_law_avar(alpha, h, tau, RATE))
    edf = np.asarray(res["edf"])[keep]
    assert edf[0] == pytest.approx(allan.edf("oadev", alpha, int(m[0]), N_SAMPLES + 1))
    se = model * np.sqrt(2.0 / edf) / math.sqrt(N_REAL)
    z = (avar.mean(axis=0) - model) / se
    assert np.all(np.abs(z) < 5.0), (m, z)


def test_kasdin_filter_is_the_fractional_difference():
    """Impulse response of (1 - z^-1)^(alpha/2): binomial series (Kasdin, Proc. IEEE 83, 802, 1995)."""
    for alpha in noise.ALPHAS:
        d = alpha / 2.0  # generalised binomial coefficients (-1)^k C(d, k) = (-1)^k d (d-1) .. (d-k+1) / k!
        expected = [(-1.0) ** k * math.prod(d - j for j in range(k)) / math.factorial(k) for k in range(20)]
        np.testing.assert_allclose(noise.kasdin_filter(alpha, 20), expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(noise.kasdin_filter(2, 4), [1.0, -1.0, 0.0, 0.0])
    np.testing.assert_array_equal(noise.kasdin_filter(-2, 4), [1.0, 1.0, 1.0, 1.0])


def test_discrete_variance_matches_allantools_qd():
    """h_alpha <-> Q_d: h_a = 2 Q_d (2 pi)^a tau0^(a-1) for phase data (Kasdin & Walter 1992, eq. 39),
    i.e. Q_d(y) = Q_d(x) / tau0^2 for frequency data, as allantools.Noise.frequency_psd_from_qd."""
    import allantools

    tau0 = 0.25
    for alpha in noise.ALPHAS:
        gen = allantools.Noise(nr=8, qd=3e-20, b=alpha - 2)
        h = gen.frequency_psd_from_qd(tau0)
        assert float(noise.discrete_variance(alpha, h, 1.0 / tau0)) == pytest.approx(3e-20 / tau0 ** 2, rel=1e-12, abs=0)


def test_components_are_keyed_independently():
    """Adding a noise component leaves the realisation of the others unchanged (keys folded by alpha)."""
    key = jax.random.key(7)
    zero = {a: 0.0 for a in noise.ALPHAS}  # same structure (and compilation) as the Allan tests above
    both = noise.power_law_noise(key, zero | {0: 2.0, -2: 0.01}, N_SAMPLES, RATE, (N_REAL,))
    rw = noise.power_law_noise(key, zero | {-2: 0.01}, N_SAMPLES, RATE, (N_REAL,))
    # white FM: Q_d = h_0 rate / 2 per sample, drawn from fold_in(key, index of alpha = 0)
    white = math.sqrt(2.0 * RATE / 2) * noise.standard_normal(jax.random.fold_in(key, noise.ALPHAS.index(0)),
                                                             (N_REAL, N_SAMPLES))
    np.testing.assert_allclose(both - rw, white, atol=1e-12)


@pytest.mark.parametrize("alpha", [3, 0.5, -3, "white", True, None])
def test_bad_alpha_raises(alpha):
    """Only the five power-law exponents of NIST SP 1065 are generated."""
    with pytest.raises(ValueError, match="alpha must be one of 2, 1, 0, -1, -2"):
        noise.power_law_noise(jax.random.key(0), {alpha: 1.0}, 64)
    with pytest.raises(ValueError, match="alpha"):
        noise.power_law_avar(alpha, 1.0, 1.0)


def test_bad_levels_raise():
    with pytest.raises(ValueError, match="finite and >= 0"):
        noise.power_law_noise(jax.random.key(0), {0: -1.0}, 64)
    with pytest.raises(ValueError, match="n_samples"):
        noise.power_law_noise(jax.random.key(0), {0: 1.0}, 1)
    with pytest.raises(ValueError, match="random_walk"):
        noise.inertial_noise(jax.random.key(0), 64, 1.0, random_walk=-1.0)


def test_inertial_allan_parameters():
    """IEEE Std 952-1997 Annex C: AVAR = N^2/tau + (2 ln2/pi) B^2 + K^2 tau/3 for angle random walk N,
    bias instability B and rate random walk K, through the power-law coefficients of inertial_h."""
    n_, b_, k_ = 3e-6, 2e-6, 5e-8
    tau = np.geomspace(0.1, 1e4, 9)
    expected = n_ ** 2 / tau + 2 * math.log(2) / math.pi * b_ ** 2 + k_ ** 2 * tau / 3
    np.testing.assert_allclose(noise.avar(noise.inertial_h(n_, b_, k_), tau), expected, rtol=1e-13)


def test_inertial_noise_adds_bias_and_white():
    """A constant bias shifts the output; white noise of N has per-sample variance N^2 rate (AVAR N^2/tau0)."""
    y = noise.inertial_noise(jax.random.key(3), 8192, 100.0, random_walk=1e-3, bias=0.5, batch_shape=(8,))
    n = y.size
    assert float(jnp.mean(y)) == pytest.approx(0.5, abs=5 * 1e-3 * 10 / math.sqrt(n))
    assert float(jnp.var(y)) == pytest.approx(1e-6 * 100.0, rel=5 * math.sqrt(2 / n))


def test_markov_bank_approximates_flicker():
    """A sum of Lorentzians with corners two per decade and variance h_-1 ln(10)/2 each has PSD within 5 %
    of h_-1/f one decade inside the band (Keshner, Proc. IEEE 70, 212, 1982)."""
    f_lo, f_hi = 1e-4, 0.5
    corners = noise.markov_flicker_bank(f_lo, f_hi, 2)
    var = float(noise.markov_flicker_variance(1.0, 2))
    f = np.geomspace(10 * f_lo, f_hi / 10, 400)
    tc = 1.0 / (2 * np.pi * corners)
    psd = sum(4 * var * t / (1 + (2 * np.pi * f * t) ** 2) for t in tc)
    assert np.all(np.abs(psd * f - 1.0) < 0.05)
