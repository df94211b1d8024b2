"""Light-pulse atom interferometers: accelerometer/gravimeter and Sagnac gyroscope."""
import dataclasses
import math

import jax
import numpy as np
import pytest

from kqjax.sensors import interferometer as ai
from kqjax.sensors.interferometer import AtomAccelerometer, AtomGyroscope


def test_gravimeter_phase_and_shot_noise():
    """Phi = k_eff g T^2 with k_eff = 4 pi/lambda (Peters, Chung & Chu, Metrologia 38, 25, 2001): Cs at
    852.347 nm, T = 160 ms gives ~3.7e6 rad; shot noise per shot 1/(C sqrt(N) k_eff T^2)."""
    g = AtomAccelerometer.preset("gravimeter_peters2001")
    k = 4 * math.pi / 852.347e-9
    assert float(g.phase()) == pytest.approx(k * 9.80665 * 0.16 ** 2, rel=1e-14, abs=0)
    assert 3.6e6 < float(g.phase()) < 3.8e6
    assert float(g.shot_noise_per_shot) == pytest.approx(1 / (0.6 * math.sqrt(1e6) * k * 0.16 ** 2), rel=1e-14, abs=0)


def test_acceleration_transfer_function():
    """|H_a(omega)|^2/k^2 = (4 sin^2(omega T/2)/omega^2)^2 (Cheinet et al., IEEE TIM 57, 1141, 2008): T^4 at
    DC, zeros at omega = 2 pi n / T, and the aliased sum over n >= 1 for white noise equals the Parseval closed
    form S (T_c T^3/3 - T^4/2)/(T_c T^4). The harmonic sum is truncated at M terms of size <= 16/(2 pi n/T_c)^4;
    the tolerance is that tail bound. With the n = 0 term S/(2 T_c) the per-shot variance is S/(3T)."""
    T, t_c = 0.1, 0.5
    np.testing.assert_allclose(ai.acceleration_transfer(1e-6, T), T ** 4, rtol=1e-9)
    assert float(ai.acceleration_transfer(2 * math.pi / T, T)) < 1e-30
    w = np.array([0.3, 7.0, 55.0])
    np.testing.assert_allclose(ai.acceleration_transfer(w, T), (4 * np.sin(w * T / 2) ** 2 / w ** 2) ** 2, rtol=1e-12)
    m = 4096
    var = float(ai.aliased_acceleration_variance(lambda f: 2e-15 + 0 * f, T, t_c, m))
    closed = 2e-15 * (t_c * T ** 3 / 3 - T ** 4 / 2) / (t_c * T ** 4)
    tail = 16 / (3 * (2 * math.pi / t_c) ** 4 * m ** 3) * 2e-15 / (t_c * T ** 4)
    assert var == pytest.approx(closed, abs=tail)
    acc = AtomAccelerometer(pulse_separation_s=T, cycle_time_s=t_c, vibration_asd_m_s2_per_rthz=math.sqrt(2e-15))
    assert float(acc.vibration_per_shot) ** 2 == pytest.approx(closed + 2e-15 / (2 * t_c), rel=1e-12, abs=0)
    assert float(acc.vibration_per_shot) ** 2 == pytest.approx(2e-15 / (3 * T), rel=1e-12, abs=0)


def _triangle_weights(T, n):
    """Midpoint weights of the unit-area triangular response g = f/T^2 on 2n bins of T/n."""
    t = (np.arange(2 * n) + 0.5) * (T / n)
    return np.where(t < T, t, 2 * T - t) / T ** 2 * (T / n)


@pytest.mark.parametrize("T,t_c", [(0.1, 0.5), (0.26, 1.5), (0.2, 0.4)])
def test_white_vibration_through_the_sensitivity_function(T, t_c):
    """A white acceleration record (one-sided PSD S_a: independent bins of T/50 with variance S_a/(2 dt), NumPy,
    fixed seed) through the triangular response of each shot: the per-shot variance equals
    ``vibration_per_shot^2 = S_a/(3T)`` within 5 standard errors of a variance, sqrt(2/(n - 1)) relative over
    n = 40000 shots (the shots do not overlap, 2T <= T_c, so only the samples inside a shot matter).
    Midpoint quadrature changes the variance by dt^2/(4 T^2) = 1e-4 relative. The n >= 1 aliasing sum alone,
    S_a (1/(3T) - 1/(2T_c)), is 15-75 % lower for these cycles and fails."""
    s_a, n, shots = 2.5e-15, 50, 40_000
    rng = np.random.default_rng(11)
    record = rng.standard_normal((shots, 2 * n)) * math.sqrt(s_a / (2 * T / n))
    a = record @ _triangle_weights(T, n)
    acc = AtomAccelerometer(pulse_separation_s=T, cycle_time_s=t_c, vibration_asd_m_s2_per_rthz=math.sqrt(s_a))
    model = float(acc.vibration_per_shot) ** 2
    assert abs(a.var(ddof=1) / model - 1) < 5 * math.sqrt(2 / (shots - 1))


@pytest.mark.parametrize("T,t_c", [(0.1, 0.5), (0.2, 0.45)])
def test_red_vibration_through_the_sensitivity_function(T, t_c):
    """Random-walk acceleration a = sigma_W W(t) (one-sided PSD S_r (1 Hz/f)^2 with S_r = sigma_W^2/(2 pi^2),
    i.e. a 1/f ASD) built in NumPy at a fixed seed from Brownian increments on bins of T/50 inside each shot and
    one increment over the dead time, each shot read out through the triangular response (trapezoid rule):
    the Allan variance of 1000 records of 32 shots at tau = m T_c, m = 1, 2, 4, 8, equals the 1/f part of the
    design model (dead time T_c - 2T) within 5 standard errors of the mean over records (their empirical std
    / sqrt(1000)). The quadrature error is O((dt/T)^2) of the 1/tau term. The aliasing sum over n >= 1 without
    the DC peak, or with only its random-walk part (2 pi^2/3) S_r tau, is off by 17 % or more at m = 1 and
    fails."""
    sigma_w, n, records, shots = 1e-7, 50, 1000, 32
    dt = T / n
    rng = np.random.default_rng(5)
    inside = rng.standard_normal((records, shots, 2 * n)) * sigma_w * math.sqrt(dt)
    gap = rng.standard_normal((records, shots)) * sigma_w * math.sqrt(t_c - 2 * T)
    start = np.concatenate([np.zeros((records, 1)), np.cumsum(inside.sum(-1) + gap, axis=1)[:, :-1]], axis=1)
    path = start[..., None] + np.concatenate([np.zeros((records, shots, 1)), np.cumsum(inside, -1)], -1)
    t = np.arange(2 * n + 1) * dt
    w = np.where(t < T, t, 2 * T - t) / T ** 2 * dt
    w[[0, -1]] /= 2
    a = path @ w  # (records, shots)
    acc = AtomAccelerometer(pulse_separation_s=T, cycle_time_s=t_c, dead_time_s=t_c - 2 * T,
                            vibration_red_asd_m_s2_per_rthz=sigma_w / (math.sqrt(2) * math.pi))
    quiet = dataclasses.replace(acc, vibration_red_asd_m_s2_per_rthz=0.0)
    assert float(acc.design_cycle_time_s) == pytest.approx(t_c, rel=1e-12, abs=0)
    c = np.concatenate([np.zeros((records, 1)), np.cumsum(a, axis=1)], axis=1)
    for m in (1, 2, 4, 8):
        mean = (c[:, m:] - c[:, :-m]) / m
        avar = 0.5 * np.mean((mean[:, m:] - mean[:, :-m]) ** 2, axis=1)
        model = float(acc.design_adev(m * t_c)) ** 2 - float(quiet.design_adev(m * t_c)) ** 2
        assert abs(avar.mean() - model) < 5 * avar.std(ddof=1) / math.sqrt(records), (m, avar.mean(), model)


@pytest.mark.parametrize("T,t_c", [(0.1, 0.5), (0.2, 0.45)])
def test_aliased_red_vibration_closed_form(T, t_c):
    """Vibration S_a(f) = S_r (1 Hz / f)^2 aliased at the cycle harmonics f_n = n / T_c, n >= 1:
    sum_n |H_a|^2 S_a(f_n) / (T_c T^4) = 16 S_r T_c^5 / ((2 pi)^4 T^4) sum_n sin^4(pi n x) / n^6 with
    x = T / T_c, and sin^4 = (3 - 4 cos 2u + cos 4u) / 8 with the Fourier series of the Bernoulli
    polynomial, sum_n cos(2 pi n y) / n^6 = (2 pi)^6 B_6(y) / 1440 for 0 <= y <= 1 (DLMF 24.8.1;
    2 x <= 1 since 2 T <= T_c). The harmonic sum's tail beyond 4096 terms is below 1e-18 of it. The
    design model's 1/f part is that sum (times T_c/tau) plus the DC peak, expanded to order 1/tau:
    (2 pi^2/3) S_r tau + pi^2 S_r (T_c^2/6 - T^2/3)/tau (sinc^4 ~ 1 - (2/3)(pi f T)^2 and
    1/(m^2 sin^2(pi f T_c)) ~ 1/(pi f tau)^2 + 1/(3 m^2) near f = 0)."""
    s_r = 3e-14

    def c6(y):
        return (2 * math.pi) ** 6 * (y**6 - 3 * y**5 + 2.5 * y**4 - 0.5 * y**2 + 1 / 42) / 1440

    x = T / t_c
    series = (3 * c6(0.0) - 4 * c6(x) + c6(2 * x)) / 8
    closed = 16 * s_r * t_c**5 / ((2 * math.pi) ** 4 * T**4) * series
    harmonics = float(ai.aliased_acceleration_variance(lambda f: s_r / f**2, T, t_c))
    assert harmonics == pytest.approx(closed, rel=1e-10, abs=0)
    acc = AtomAccelerometer(pulse_separation_s=T, cycle_time_s=t_c, dead_time_s=t_c - 2 * T,
                            vibration_asd_m_s2_per_rthz=math.sqrt(2e-15), vibration_red_asd_m_s2_per_rthz=math.sqrt(s_r))
    quiet = dataclasses.replace(acc, vibration_red_asd_m_s2_per_rthz=0.0)
    for tau in (t_c, 4 * t_c, 1.0):
        red = float(acc.design_adev(tau)) ** 2 - float(quiet.design_adev(tau)) ** 2
        dc = 2 * math.pi**2 / 3 * s_r * tau + math.pi**2 * s_r * (t_c**2 / 6 - T**2 / 3) / tau
        assert red == pytest.approx(harmonics * t_c / tau + dc, rel=1e-8, abs=0)
    assert float(acc.design_sensitivity()) == pytest.approx(float(acc.design_adev(1.0)), rel=1e-15, abs=0)


def test_sagnac_phase_forms_agree():
    """Phi = 2 k_eff v T^2 Omega = 2 m A Omega / hbar with A = hbar k_eff v T^2/m (Gustavson, Bouyer &
    Kasevich, PRL 78, 2046, 1997)."""
    for gyro in map(AtomGyroscope.preset, ("gyroscope_atomic_beam", "gyroscope_cold_atom")):
        assert float(gyro.phase_from_area()) == pytest.approx(float(gyro.phase()), rel=1e-12, abs=0)
        k = 4 * math.pi / (gyro.wavelength_nm * 1e-9)
        assert float(gyro.scale_factor) == pytest.approx(2 * k * gyro.atom_velocity_m_s * gyro.pulse_separation_s ** 2)
    beam = AtomGyroscope.preset("gyroscope_atomic_beam")
    assert 1e-10 < float(beam.sensitivity) < 1e-8  # rad/s/sqrt(Hz), Gustavson et al. 2000 class


@pytest.mark.parametrize("name", ["gravimeter_freier2016", "accelerometer_navigation"])
def test_simulated_allan_deviation(name):
    """Shot-by-shot Monte Carlo (projection noise at mid-fringe and the fringe inversion; vibration drawn as white
    noise of ``vibration_per_shot`` per shot, checked against a continuous record in
    test_white_vibration_through_the_sensitivity_function) reproduces the Allan variance
    (delta a_shot^2 + sigma_vib^2) T_c/tau within 5 EDF standard errors over 32 realisations (Peters et al. 2001)."""
    sensor = AtomAccelerometer.preset(name)
    n_real = 32
    out = ai.simulate(sensor, jax.random.key(9), n_shots=1024, n_realisations=n_real)
    avar = np.asarray(out["adev"]) ** 2
    model = np.asarray(out["adev_model"]) ** 2
    np.testing.assert_allclose(model, float(sensor.noise_per_shot) ** 2 * sensor.cycle_time_s
                               / np.asarray(out["tau_s"]), rtol=1e-12)
    se = model * np.sqrt(2 / np.asarray(out["edf"])) / math.sqrt(n_real)
    assert np.all(np.abs(avar.mean(0) - model) < 5 * se)
    mean_se = float(sensor.noise_per_shot) / math.sqrt(n_real * 1024)
    assert float(np.mean(out["measurement"])) == pytest.approx(sensor.acceleration_m_s2, abs=5 * mean_se)


def test_simulated_gyroscope():
    """Gyroscope Monte Carlo: rotation-rate Allan variance equals the shot-noise limit (1/(C sqrt(N) 2 k v T^2))^2
    T_c/tau within 5 EDF standard errors."""
    gyro = AtomGyroscope.preset("gyroscope_cold_atom")
    out = ai.simulate(gyro, jax.random.key(2), n_shots=1024, n_realisations=32)
    avar, model = np.asarray(out["adev"]) ** 2, np.asarray(out["adev_model"]) ** 2
    se = model * np.sqrt(2 / np.asarray(out["edf"])) / math.sqrt(32)
    assert np.all(np.abs(avar.mean(0) - model) < 5 * se)


def test_bad_input_raises():
    """Negative atom number, contrast above one and an interferometer longer than the cycle are refused."""
    with pytest.raises(ValueError, match=r"AtomAccelerometer.atom_number = -1.0 is not allowed"):
        ai.simulate(AtomAccelerometer(atom_number=-1.0), jax.random.key(0))
    with pytest.raises(ValueError, match="contrast"):
        AtomGyroscope(contrast=1.2).validate()
    with pytest.raises(ValueError, match="exceeds cycle_time_s"):
        dataclasses.replace(AtomAccelerometer.preset("gravimeter_freier2016"), cycle_time_s=0.4).validate()
    with pytest.raises(ValueError, match="unknown"):
        AtomAccelerometer.preset("nope")
