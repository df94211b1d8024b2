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
        assert float(c.dick_avar_1s(m_harm)) == pytest.approx(closed, rel=tail)


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
