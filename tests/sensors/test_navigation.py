"""GPS-free inertial navigation: bias error growth, Schuler oscillation, Monte Carlo against its model."""
import dataclasses
import math

import jax
import numpy as np
import pytest

from kqjax.sensors import navigation as nv
from kqjax.sensors.navigation import InertialNavigator

G = 9.80665
R_E = 6.371e6
OPEN = InertialNavigator(schuler=False)
CLOSED = InertialNavigator(schuler=True)


def _reference_transition(schuler, dt):
    """expm of the augmented error dynamics by its Taylor series in extended precision."""
    a = np.zeros((5, 5), dtype=np.longdouble)
    a[0, 1], a[1, 2], a[1, 3], a[2, 4] = 1, G, 1, 1
    a[2, 1] = -1 / np.longdouble(R_E) if schuler else 0
    a *= np.longdouble(dt)
    e, term = np.eye(5, dtype=np.longdouble), np.eye(5, dtype=np.longdouble)
    for k in range(1, 80):
        term = term @ a / k
        e = e + term
    return e[:3, :3].astype(float), e[:3, 3:].astype(float)


@pytest.mark.parametrize("schuler", [False, True])
def test_transition_is_exact_zero_order_hold(schuler):
    """Closed-form Phi, Gamma equal expm([[A, B], [0, 0]] dt) (error model of Titterton & Weston 2004)."""
    nav = dataclasses.replace(OPEN, schuler=schuler)
    for dt in (0.01, 1.0, 60.0, 3000.0):
        phi, gam = nv.transition(nav, dt)
        ref_phi, ref_gam = _reference_transition(schuler, dt)
        np.testing.assert_allclose(phi, ref_phi, rtol=1e-12, atol=1e-14 * np.abs(ref_phi).max())
        np.testing.assert_allclose(gam, ref_gam, rtol=1e-12, atol=1e-14 * np.abs(ref_gam).max())


def test_bias_error_growth_without_schuler():
    """Constant accelerometer bias b: dp = b t^2/2; constant gyro bias eps: dp = g eps t^3/6 (tilt error
    feeding gravity; Titterton & Weston 2004), to 1e-9 relative over one hour."""
    dt, n = 1.0, 3600
    t = dt * np.arange(1, n + 1)
    b = 25 * nv.MICRO_G
    eps = 0.01 * nv.DEG_PER_H
    acc = nv.propagate(OPEN, dt, np.full(n, b), np.zeros(n))["position_m"]
    np.testing.assert_allclose(acc, b * t ** 2 / 2, rtol=1e-9)
    gyr = nv.propagate(OPEN, dt, np.zeros(n), np.full(n, eps))["position_m"]
    np.testing.assert_allclose(gyr, G * eps * t ** 3 / 6, rtol=1e-9)
    np.testing.assert_allclose(nv.bias_position_error(OPEN, t, b, eps), acc + gyr, rtol=1e-9)


def test_schuler_feedback_bounds_the_accelerometer_error():
    """With Schuler feedback the accelerometer-bias error is (b/w_s^2)(1 - cos w_s t), bounded by 2 b/w_s^2,
    w_s = sqrt(g/R) (84.4 min period), and the gyro-bias error R eps (t - sin(w_s t)/w_s) (Titterton & Weston
    2004); both to 1e-9 of their amplitude over 10 h, while the open-loop error grows as b t^2/2."""
    dt, n = 10.0, 3600
    t = dt * np.arange(1, n + 1)
    ws = math.sqrt(G / R_E)
    assert 2 * math.pi / ws / 60 == pytest.approx(84.4, abs=0.1)
    b, eps = 25 * nv.MICRO_G, 0.01 * nv.DEG_PER_H
    acc = np.asarray(nv.propagate(CLOSED, dt, np.full(n, b), np.zeros(n))["position_m"])
    gyr = np.asarray(nv.propagate(CLOSED, dt, np.zeros(n), np.full(n, eps))["position_m"])
    # relative to the oscillation amplitude: the error passes through zero once per Schuler period
    np.testing.assert_allclose(acc, b / ws ** 2 * (1 - np.cos(ws * t)), rtol=1e-9, atol=1e-9 * 2 * b / ws ** 2)
    gyr_expected = R_E * eps * (t - np.sin(ws * t) / ws)
    np.testing.assert_allclose(gyr, gyr_expected, rtol=1e-9, atol=1e-9 * gyr_expected.max())
    assert np.max(np.abs(acc)) <= 2 * b / ws ** 2 * (1 + 1e-9)
    assert b * t[-1] ** 2 / 2 > 100 * np.max(np.abs(acc))


def test_model_std_matches_closed_forms_without_schuler():
    """The covariance recursion reproduces the exact zero-order-hold sums for turn-on bias, velocity random
    walk (N^2 dt^3 (k^3/3 - k/12)) and angle random walk through gravity to 1e-9, and approaches the continuous
    forms N t^(3/2)/sqrt(3) and g N t^(5/2)/sqrt(20) (IEEE Std 952; Titterton & Weston 2004) within the
    discretisation correction, which is O(1/k^2) after k steps (-1/(8k^2) and -0.28/k^2)."""
    dt, n_out, every = 2.0, 10, 30
    k = every * np.arange(1, n_out + 1)
    nav = InertialNavigator(accel_bias_ug=30.0, accel_bias_instability_ug=0.0, accel_vrw_m_s_per_rth=0.0,
                            gyro_bias_deg_h=0.0, gyro_bias_instability_deg_h=0.0, gyro_arw_deg_per_rth=0.0,
                            schuler=False)

    def std(m):
        t, s = nv.position_error_std(m, duration_s=dt * every * n_out, step_s=dt, n_time_points=n_out)
        np.testing.assert_allclose(t, dt * k)
        return np.asarray(s)

    t = dt * k
    np.testing.assert_allclose(std(nav), 30 * nv.MICRO_G * t ** 2 / 2, rtol=1e-9)
    n_a = 0.01 * nv.PER_RTH
    vrw = dataclasses.replace(nav, accel_bias_ug=0.0, accel_vrw_m_s_per_rth=0.01)
    np.testing.assert_allclose(std(vrw), np.sqrt(n_a ** 2 * dt ** 3 * (k ** 3 / 3 - k / 12)), rtol=1e-9)
    assert np.all(np.abs(std(vrw) / np.asarray(nv.position_error_std_open_loop(vrw, t)) - 1) < 1.0 / k ** 2)
    # gyro input held over one step, then m free steps: dp = g w dt^3 ((m + 1/2)^2/2 + 1/24)
    n_g = 0.002 * nv.DEG_PER_RTH
    arw = dataclasses.replace(nav, accel_bias_ug=0.0, gyro_arw_deg_per_rth=0.002)
    exact = np.array([math.sqrt(n_g ** 2 / dt * sum((G * dt ** 3 * ((m + 0.5) ** 2 / 2 + 1 / 24)) ** 2
                                                    for m in range(kk))) for kk in k])
    np.testing.assert_allclose(std(arw), exact, rtol=1e-9)
    assert np.all(np.abs(std(arw) / np.asarray(nv.position_error_std_open_loop(arw, t)) - 1) < 1.0 / k ** 2)


def test_units_against_independent_values():
    """Every field of the IMU specification converted to SI against numbers written out here, not the module's
    constants: 1 ug = 9.80665e-6 m/s^2; 1 deg/h = pi/(180 * 3600) = 4.84813681109536e-6 rad/s; 1 deg/sqrt(h) =
    pi/(180 * 60) = 2.908882086657216e-4 rad/sqrt(s); 1 m/s/sqrt(h) = 1/60 m/s/sqrt(s); rate random walks
    1 ug/sqrt(h) = 1.634441666666667e-7 m/s^2/sqrt(s), 1 deg/h/sqrt(h) = 8.080228018492267e-8 rad/s/sqrt(s)."""
    fields = ("accel_bias_ug", "accel_bias_instability_ug", "accel_vrw_m_s_per_rth", "accel_rrw_ug_per_rth",
              "gyro_bias_deg_h", "gyro_bias_instability_deg_h", "gyro_arw_deg_per_rth", "gyro_rrw_deg_h_per_rth")
    expected = {"accel_bias": 9.80665e-6, "accel_instability": 9.80665e-6, "accel_white": 1.6666666666666666e-2,
                "accel_rrw": 1.634441666666667e-7, "gyro_bias": 4.84813681109536e-6,
                "gyro_instability": 4.84813681109536e-6, "gyro_white": 2.908882086657216e-4,
                "gyro_rrw": 8.080228018492267e-8}
    for scale in (1.0, 3.0):
        si = InertialNavigator(**{f: scale for f in fields}).si()
        assert set(si) == set(expected)
        for name, value in expected.items():
            assert float(si[name]) == pytest.approx(scale * value, rel=1e-12, abs=0), name
    # open loop, t = 1 h: velocity random walk 0.01 m/s/sqrt(h) gives N t^(3/2)/sqrt(3) = 0.01 * 3600/sqrt(3) m
    vrw = InertialNavigator(**{f: 0.0 for f in fields}, schuler=False)
    vrw = dataclasses.replace(vrw, accel_vrw_m_s_per_rth=0.01)
    assert float(nv.position_error_std_open_loop(vrw, 3600.0)) == pytest.approx(36 / math.sqrt(3), rel=1e-12, abs=0)


def test_bias_instability_allan_plateau():
    """Bias instability B: the Allan deviation of the sensor error has the flicker plateau sqrt(2 ln 2/pi) B =
    0.664 B (IEEE Std 952-1997, Annex C). The accelerometer error of the Monte Carlo (B = 10 ug, nothing else,
    open loop, 1 s steps, 64 realisations x 2 channels of 4096 steps) is recovered from the recorded position by
    second differences, (p_(k+1) - 2 p_k + p_(k-1))/dt^2 = (u_k + u_(k-1))/2 (zero-order hold). Its Allan
    variance at tau = 8 .. 64 s equals, within 5 standard errors of the mean over the 128 records, the
    expectation of the Gauss-Markov bank written out here from IEEE 952's h_-1 = B^2/pi and Keshner's pole
    variance h_-1 ln r (r = 10^(1/2), corners of the module's bank); that expectation is the plateau 0.664 B
    to 3 % (the bank's ripple)."""
    b_ug, dt, n, n_real, per_decade = 10.0, 1.0, 4096, 64, 2
    zero = dict(accel_bias_ug=0.0, accel_vrw_m_s_per_rth=0.0, accel_rrw_ug_per_rth=0.0, gyro_bias_deg_h=0.0,
                gyro_bias_instability_deg_h=0.0, gyro_arw_deg_per_rth=0.0, gyro_rrw_deg_h_per_rth=0.0)
    nav = InertialNavigator(accel_bias_instability_ug=b_ug, schuler=False, **zero)
    _, phi = nv._flicker_bank(dt, n, per_decade)
    pos = np.asarray(nv._monte_carlo_jit(nav, jax.random.key(4), dt=dt, phi_m=tuple(phi), per_decade=per_decade,
                                         n_out=n, record_every=1, n_realisations=n_real))
    p = np.concatenate([np.zeros((n_real, 1, 2)), pos], axis=1)
    y = np.moveaxis((p[:, 2:] - 2 * p[:, 1:-1] + p[:, :-2]) / dt ** 2, 2, 1).reshape(2 * n_real, -1)
    b = b_ug * 9.80665e-6
    pole_var = b ** 2 / math.pi * math.log(10 ** (1 / per_decade))
    plateau = math.sqrt(2 * math.log(2) / math.pi) * b
    assert plateau == pytest.approx(0.6643 * b, rel=1e-4)
    c = np.concatenate([np.zeros((y.shape[0], 1)), np.cumsum(y, axis=1)], axis=1)
    for m in (8, 16, 32, 64):
        lag = np.arange(-2 * m - 2, 2 * m + 3)
        r_u = pole_var * np.sum(phi[:, None] ** np.abs(lag)[None, :], axis=0)
        r_y, lag = (2 * r_u[1:-1] + r_u[:-2] + r_u[2:]) / 4, lag[1:-1]

        def var_sum(k):  # Var(sum of k consecutive y)
            sel = np.abs(lag) < k
            return np.sum((k - np.abs(lag[sel])) * r_y[sel])

        expected = (4 * var_sum(m) - var_sum(2 * m)) / (2 * m ** 2)
        assert math.sqrt(expected) == pytest.approx(plateau, rel=0.03)
        mean = (c[:, m:] - c[:, :-m]) / m
        avar = 0.5 * np.mean((mean[:, m:] - mean[:, :-m]) ** 2, axis=1)
        assert abs(avar.mean() - expected) < 5 * avar.std(ddof=1) / math.sqrt(len(avar)), (m, avar.mean(), expected)


@pytest.fixture(scope="module")
def mc_run():
    nav = InertialNavigator.preset("imu_navigation_grade")
    return nav, nv.simulate(nav, jax.random.key(3), duration_s=1200.0, step_s=2.0, n_realisations=512,
                            n_time_points=6)


def test_monte_carlo_matches_model(mc_run):
    """Monte Carlo position variance of one channel (vmap over 512 realisations x 2 channels, lax.scan over
    600 steps, all error sources including the flicker bank) equals the covariance recursion of the same
    model, and the radial quantiles follow the Rayleigh law sigma sqrt(-2 ln(1-q)), within 5 standard errors
    (variance: sqrt(2/1024); quantiles: binomial on the empirical CDF)."""
    nav, out = mc_run
    rms, model = np.asarray(out["position_error_rms_m"]), np.asarray(out["position_error_std_model_m"])
    assert np.all(np.abs(rms ** 2 / model ** 2 - 1) < 5 * math.sqrt(2 / 1024))
    q = np.asarray(out["quantile"])
    sigma = model[None, :]
    # empirical CDF of the Rayleigh law at the model quantile: F = q +- 5 sqrt(q (1-q)/512)
    cdf_at_mc = 1 - np.exp(-np.asarray(out["position_error_m"]) ** 2 / (2 * sigma ** 2))
    assert np.all(np.abs(cdf_at_mc - q[:, None]) < 5 * np.sqrt(q * (1 - q) / 512)[:, None])
    np.testing.assert_allclose(out["position_error_model_m"], sigma * np.sqrt(-2 * np.log1p(-q))[:, None],
                               rtol=1e-12)
    assert out["position_error_m"].shape == (3, 6) and out["time_s"].shape == (6,)


def test_presets_rank_as_expected():
    """Open-loop one-hour error: quantum < navigation grade < MEMS (IMU grades of Titterton & Weston)."""
    errs = [float(nv.position_error_std_open_loop(InertialNavigator.preset(p), 3600.0))
            for p in ("imu_quantum", "imu_navigation_grade", "imu_mems")]
    assert errs[0] < errs[1] < errs[2]
    assert errs[0] < 100.0 and errs[2] > 1e5


def test_bad_input_raises():
    with pytest.raises(ValueError, match=r"accel_bias_ug = -1.0 is not allowed: must be a number >= 0"):
        nv.simulate(InertialNavigator(accel_bias_ug=-1.0), jax.random.key(0), duration_s=10.0)
    with pytest.raises(ValueError, match="schuler"):
        InertialNavigator(schuler="yes").validate()
    with pytest.raises(ValueError, match="step_s"):
        nv.simulate(InertialNavigator.preset("imu_mems"), jax.random.key(0), step_s=0.0)
    with pytest.raises(ValueError, match="duration_s"):
        nv.simulate(InertialNavigator.preset("imu_mems"), jax.random.key(0), duration_s=1.0, step_s=1.0)
    with pytest.raises(ValueError, match="unknown"):
        InertialNavigator.preset("gps")
