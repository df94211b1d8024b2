"""Atomic clock: quantum projection noise, Dick effect, Monte Carlo timing error."""
import dataclasses
import math

import jax
import numpy as np
import pytest

from kqjax.sensors import clock as clk
from kqjax.sensors.clock import AtomicClock


def test_qpn_closed_form():
    """sigma_y(tau) = 1/(2 pi nu0 C T_R) sqrt(T_c/(N tau)) (Santarelli et al., PRL 82, 4619, 1999), and the
    Cs fountain preset sits near the 4e-14 tau^-1/2 reported there."""
    tau = np.array([1.0, 10.0, 1e4])
    for c in map(AtomicClock.preset, ("cs_fountain", "rb_compact", "sr_optical")):
        expected = 1 / (2 * math.pi * c.frequency_hz * c.contrast * c.ramsey_time_s) * np.sqrt(
            c.cycle_time_s / (c.atom_number * tau))
        np.testing.assert_allclose(c.qpn_adev(tau), expected, rtol=1e-14)
    assert 3e-14 < float(AtomicClock.preset("cs_fountain").qpn_adev(1.0)) < 6e-14


def test_dick_white_lo_closed_form():
    """Ideal pulses, white LO noise h_0: sigma_y^2 = h_0 (1 - d)/(2 d tau), d = T_R/T_c (Santarelli et al.,
    IEEE TUFFC 45, 887, 1998, with sum_m sin^2(m x)/m^2 = x (pi - x)/2). The harmonic sum is truncated at
    M terms; the omitted tail is below 1/(pi^2 d (1 - d) M) relative, the tolerance used."""
    m_harm = 2 ** 16
    for t_r, t_c in ((0.5, 1.2), (0.1, 1.0), (0.9, 1.0)):
        c = AtomicClock(ramsey_time_s=t_r, cycle_time_s=t_c, lo_white_adev_1s=1e-13)
        d = t_r / t_c
        closed = 2 * 1e-26 * (1 - d) / (2 * d)
        tail = 1 / (math.pi ** 2 * d * (1 - d) * m_harm)
        assert float(c.dick_avar_1s(m_harm)) == pytest.approx(closed, rel=tail, abs=0)


def test_dick_vanishes_without_dead_time():
    """With T_R = T_c the sensitivity function is constant and the LO noise is not aliased (Dick 1987)."""
    c = AtomicClock(ramsey_time_s=1.0, cycle_time_s=1.0, lo_white_adev_1s=1e-13, lo_flicker_adev=1e-13)
    assert float(c.dick_avar_1s()) < 1e-20 * float(AtomicClock(ramsey_time_s=0.5, cycle_time_s=1.0,
                                                               lo_flicker_adev=1e-13).dick_avar_1s())


def test_sensitivity_function_with_finite_pulses():
    """Fourier coefficients of g(t) = sin(Omega t) | 1 | sin(Omega (t_end - t)) for square pi/2 pulses
    (Santarelli et al. 1998) against a direct FFT of the sampled sensitivity function."""
    t_r, t_p, t_c = 0.3, 0.05, 1.0
    c = AtomicClock(ramsey_time_s=t_r, pulse_time_s=t_p, cycle_time_s=t_c)
    n = 200_000
    t = (np.arange(n) + 0.5) / n * t_c
    om = math.pi / (2 * t_p)
    g = np.where(t < t_p, np.sin(om * t), np.where(t < t_p + t_r, 1.0,
                                                    np.where(t < 2 * t_p + t_r, np.sin(om * (2 * t_p + t_r - t)), 0.0)))
    coeff = np.fft.rfft(g) / n  # (g_c,m - i g_s,m)/2 ... |.|^2 = (g_c^2 + g_s^2)/4 with our normalisation below
    ratio = np.abs(coeff[1:41]) ** 2 / g.mean() ** 2
    np.testing.assert_allclose(c.sensitivity_harmonics(40), ratio, rtol=1e-6)


def test_adev_model_sums_noise_types():
    """QPN, Dick and the clock's own flicker floor add as power-law variances (NIST SP 1065)."""
    c = AtomicClock.preset("rb_compact")
    tau = np.array([1.0, 100.0, 1e5])
    white = float(c.qpn_adev(1.0)) ** 2 + float(c.dick_avar_1s())
    expected = np.sqrt(white / tau + c.flicker_floor ** 2)
    np.testing.assert_allclose(c.adev(tau), expected, rtol=1e-12)


def test_simulated_adev_and_time_error_match_qpn():
    """Monte Carlo of a QPN-limited clock: mean Allan variance equals sigma_QPN^2/tau and the time error
    x(t) has variance h_0 t/2 (white FM; Santarelli 1999, NIST SP 1065), within 5 standard errors (EDF-based
    for the Allan variance, chi-squared for the time-error variance) over 64 realisations."""
    c = AtomicClock.preset("cs_fountain")
    c = dataclasses.replace(c, lo_flicker_adev=0.0)
    n_real = 64
    out = clk.simulate(c, jax.random.key(5), n_cycles=2048, n_realisations=n_real, n_time_points=12)
    tau = np.asarray(out["tau_s"])
    avar = np.asarray(out["adev"]) ** 2
    model = float(c.qpn_adev(1.0)) ** 2 / tau
    np.testing.assert_allclose(np.asarray(out["adev_model"]) ** 2, model, rtol=1e-12)
    se = model * np.sqrt(2 / np.asarray(out["edf"])) / math.sqrt(n_real)
    assert np.all(np.abs(avar.mean(0) - model) < 5 * se)
    assert np.all(np.asarray(out["adev_lo"]) < np.asarray(out["adev"]))
    assert np.all(np.asarray(out["adev"]) < np.asarray(out["adev_hi"]))
    rms = np.asarray(out["time_error_rms_s"])
    rms_model = np.asarray(out["time_error_rms_model_s"])
    assert np.all(np.abs(rms ** 2 / rms_model ** 2 - 1) < 5 * math.sqrt(2 / n_real))
    np.testing.assert_allclose(out["ranging_error_m"], clk.SPEED_OF_LIGHT * np.asarray(out["time_error_s"]))
    assert out["time_error_s"].shape == (3, out["time_s"].shape[0])
    assert np.all(np.diff(np.asarray(out["time_error_s"]), axis=0) >= 0)  # quantiles ordered


def test_time_error_variance_against_white_fm():
    """Time error of a free-running white-FM clock (QPN only, T_c = 1.5 s): x(k T_c) = T_c sum_(i<=k) y_i with
    y_i independent of variance sigma_y^2(T_c) = sigma_y^2(1 s) (1 s)/T_c, so Var x(t) = sigma_y^2(1 s) (1 s) t
    (NIST SP 1065, white FM; sigma_y(1 s) from the QPN closed form of Santarelli et al., PRL 82, 4619, 1999).
    Over 2048 realisations the mean of x^2 has relative standard error sqrt(2/2048) = 0.031; each recorded time
    is held to 5 of them (0.156), so x scaled by 1/sqrt(2) (variance x0.5) or without the factor T_c (x0.44) fails.
    The quantiles of |x| follow the half-normal law: its CDF at the simulated q-quantile is q within 5 binomial
    standard errors sqrt(q (1 - q)/2048)."""
    from scipy.special import erf

    c = dataclasses.replace(AtomicClock.preset("cs_fountain"), lo_flicker_adev=0.0)
    n_real = 2048
    out = clk.simulate(c, jax.random.key(21), n_cycles=256, n_realisations=n_real, n_time_points=4)
    t = np.asarray(out["time_s"])
    np.testing.assert_allclose(t, 1.5 * np.array([1, 6, 40, 256]), rtol=1e-12)
    qpn_1s = 1 / (2 * math.pi * c.frequency_hz * c.contrast * c.ramsey_time_s) * math.sqrt(c.cycle_time_s / c.atom_number)
    var_model = qpn_1s ** 2 * t
    var_mc = np.asarray(out["time_error_rms_s"]) ** 2
    assert np.all(np.abs(var_mc / var_model - 1) < 5 * math.sqrt(2 / n_real)), var_mc / var_model
    np.testing.assert_allclose(np.asarray(out["time_error_rms_model_s"]) ** 2, var_model, rtol=1e-12)
    q = np.asarray(out["quantile"])[:, None]
    cdf = erf(np.asarray(out["time_error_s"]) / np.sqrt(2 * var_model))
    assert np.all(np.abs(cdf - q) < 5 * np.sqrt(q * (1 - q) / n_real))


def test_random_walk_fm_level():
    """Random-walk FM of Allan deviation ``random_walk_adev_1s`` sqrt(tau / 1 s) (h_-2 = 3 sigma^2/(2 pi^2),
    sigma_y^2 = (2 pi^2/3) h_-2 tau: NIST SP 1065). The generator's discrete random walk has Allan variance
    q (2m^2 + 1)/(6m) at tau = m tau0 (q the step variance), i.e. sigma^2 tau (1 + 1/(2m^2)). QPN is made
    negligible (1e12 atoms: 5e-5 of the variance at m = 4). Mean over 256 records of 1024 cycles at m = 4, 16,
    64, 256, within 5 standard errors of the mean (empirical std / sqrt(256)); h_-2 off by 2x fails."""
    sigma1 = 1e-13
    c = AtomicClock(atom_number=1e12, cycle_time_s=0.5, ramsey_time_s=0.4, random_walk_adev_1s=sigma1)
    n_real, n = 256, 1024
    ms = np.array([4, 16, 64, 256])
    out = clk.simulate(c, jax.random.key(8), n_cycles=n, n_realisations=n_real, n_time_points=2)
    keep = np.isin(np.round(np.asarray(out["tau_s"]) / 0.5), ms)
    tau = np.asarray(out["tau_s"])[keep]
    np.testing.assert_allclose(tau, ms * 0.5, rtol=1e-12)
    avar = np.asarray(out["adev"])[:, keep] ** 2
    model = sigma1 ** 2 * tau * (1 + 1 / (2 * ms ** 2))
    se = avar.std(axis=0, ddof=1) / math.sqrt(n_real)
    assert np.all(np.abs(avar.mean(0) - model) < 5 * se), (avar.mean(0) / model, se / model)
    # the model is random-walk dominated: at least a factor 2 against 5 standard errors at every tau
    assert np.all(5 * se < 0.5 * model)


def test_bad_input_raises():
    """Negative atom number, a cycle shorter than the interrogation and unknown presets are refused."""
    with pytest.raises(ValueError, match=r"AtomicClock.atom_number = -5.0 is not allowed: must be a number >= 1"):
        clk.simulate(AtomicClock(atom_number=-5.0), jax.random.key(0))
    with pytest.raises(ValueError, match="contrast"):
        AtomicClock(contrast=1.5).validate()
    with pytest.raises(ValueError, match="exceeds cycle_time_s"):
        AtomicClock(ramsey_time_s=1.0, pulse_time_s=0.1, cycle_time_s=1.1).validate()
    with pytest.raises(ValueError, match="unknown"):
        AtomicClock.preset("hydrogen_maser")
    with pytest.raises(ValueError, match="n_cycles"):
        clk.simulate(AtomicClock.preset("sr_optical"), jax.random.key(0), n_cycles=2)
