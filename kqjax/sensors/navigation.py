"""GPS-free inertial navigation: horizontal position error from accelerometer and gyro errors.

Single-channel error model of a local-level navigator (Titterton & Weston, *Strapdown Inertial
Navigation Technology*, 2nd ed., 2004, error propagation and the Schuler loop), one per
horizontal axis:

    d(dp)/dt = dv,     d(dv)/dt = g psi + delta_a,     d(psi)/dt = delta_omega - s dv / R

with tilt error ``psi`` (sign chosen so that a positive gyro bias gives a positive position error),
accelerometer error ``delta_a`` and gyro error ``delta_omega``. With ``s = 1`` (Schuler feedback through the
transport-rate correction) the errors oscillate at the Schuler frequency ``omega_s = sqrt(g/R)``
(period 84.4 min); with ``s = 0`` they grow without bound. For constant biases ``b`` and ``eps``:

    s = 0:  dp = b t^2 / 2 + g eps t^3 / 6
    s = 1:  dp = (b / omega_s^2)(1 - cos omega_s t) + R eps (t - sin(omega_s t) / omega_s)

(accelerometer error bounded by ``2 b / omega_s^2``; the gyro term is bounded oscillation about ``R eps t``).
Earth rate, Coriolis coupling and the vertical channel are neglected; the two horizontal channels are
independent and statistically identical.

Sensor errors per axis (IEEE Std 952-1997): turn-on bias (Gaussian, one value per run), white noise
(velocity / angle random walk), bias instability (flicker, as a bank of first-order Gauss–Markov
processes, :func:`kqjax.sensors.noise.markov_flicker_bank`, counted from its value at alignment) and rate
random walk. Time is discretised in steps ``dt`` with the sensor errors held over each step; the
navigation error is advanced with the exact zero-order-hold transition ``expm`` of the system above,
so constant biases reproduce the closed forms to rounding. The Monte Carlo uses ``lax.scan`` over time
steps and ``vmap`` over realisations; the expected position variance of the same discrete model is
propagated alongside by a covariance recursion (``vmap`` over the independent error sources).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from kqjax.engine.params import component, param
from kqjax.engine.params import preset as config_preset
from kqjax.sensors import checks
from kqjax.sensors.noise import markov_flicker_bank, markov_flicker_variance, standard_normal

G0 = 9.80665  # m/s^2
MICRO_G = 1e-6 * G0  # m/s^2
DEG_PER_H = math.pi / 180.0 / 3600.0  # rad/s
DEG_PER_RTH = math.pi / 180.0 / 60.0  # rad/sqrt(s)
PER_RTH = 1.0 / 60.0  # (unit)/sqrt(h) -> (unit)/sqrt(s)
MIN_STEPS = 3  # the flicker bank spans 1 / duration .. 1 / (2 step): three steps at least


@component("sensor", "inertial_navigation")
@dataclasses.dataclass(frozen=True)
class InertialNavigator:
    """Inertial measurement unit specification (per axis) and navigation-error model options."""

    accel_bias_ug: float = param(25.0, unit="ug", long_name="accelerometer turn-on bias (1 sigma)", ge=0)
    accel_bias_instability_ug: float = param(10.0, unit="ug", long_name="accelerometer bias instability", ge=0)
    accel_vrw_m_s_per_rth: float = param(0.003, unit="m s-1 h-1/2", long_name="velocity random walk", ge=0)
    accel_rrw_ug_per_rth: float = param(0.0, unit="ug h-1/2", long_name="accelerometer rate random walk", ge=0)
    gyro_bias_deg_h: float = param(0.01, unit="deg h-1", long_name="gyro turn-on bias (1 sigma)", ge=0)
    gyro_bias_instability_deg_h: float = param(0.003, unit="deg h-1", long_name="gyro bias instability", ge=0)
    gyro_arw_deg_per_rth: float = param(0.002, unit="deg h-1/2", long_name="angle random walk", ge=0)
    gyro_rrw_deg_h_per_rth: float = param(0.0, unit="deg h-1 h-1/2", long_name="gyro rate random walk", ge=0)
    gravity_m_s2: float = param(G0, unit="m s-2", long_name="gravity", ge=1e-3)
    earth_radius_m: float = param(6.371e6, unit="m", long_name="Earth radius", ge=1e3)
    schuler: bool = param(True, long_name="Schuler feedback", choices=(True, False))

    def validate(self) -> "InertialNavigator":
        checks.check_fields(self)
        return self

    @classmethod
    def preset(cls, name: str) -> "InertialNavigator":
        """The preset read from ``conf/sensor/<name>.yaml`` (the single source), kind ``inertial_navigation``:
        ``imu_quantum``, ``imu_navigation_grade``, ``imu_mems``."""
        return config_preset("sensor", name, cls.kind)

    # --- SI values ---
    def si(self) -> dict[str, jax.Array]:
        """Error parameters in SI: biases (m/s^2, rad/s), white (m/s/sqrt(s), rad/sqrt(s)), instability
        (m/s^2, rad/s), rate random walk (m/s^2/sqrt(s), rad/s/sqrt(s))."""
        f = lambda v, c: jnp.asarray(v, jnp.float64) * c  # noqa: E731
        return {"accel_bias": f(self.accel_bias_ug, MICRO_G),
                "accel_instability": f(self.accel_bias_instability_ug, MICRO_G),
                "accel_white": f(self.accel_vrw_m_s_per_rth, PER_RTH),
                "accel_rrw": f(self.accel_rrw_ug_per_rth, MICRO_G * PER_RTH),
                "gyro_bias": f(self.gyro_bias_deg_h, DEG_PER_H),
                "gyro_instability": f(self.gyro_bias_instability_deg_h, DEG_PER_H),
                "gyro_white": f(self.gyro_arw_deg_per_rth, DEG_PER_RTH),
                "gyro_rrw": f(self.gyro_rrw_deg_h_per_rth, DEG_PER_H * PER_RTH)}

    @property
    def schuler_frequency(self) -> jax.Array:
        """``omega_s = sqrt(g / R)`` [rad/s]."""
        return jnp.sqrt(jnp.asarray(self.gravity_m_s2, jnp.float64) / self.earth_radius_m)


# --- deterministic propagation -------------------------------------------------------------------------

def transition(nav: InertialNavigator, dt: Any) -> tuple[jax.Array, jax.Array]:
    """Exact zero-order-hold discretisation ``(Phi (3,3), Gamma (3,2))`` of the error state ``(dp, dv, psi)``.

    Closed form of ``expm([[A, B], [0, 0]] dt)`` with ``A = [[0,1,0],[0,0,g],[0,-s/R,0]]`` and inputs
    ``B = [[0,0],[1,0],[0,1]]`` (accelerometer, gyro error). With Schuler feedback (``w = omega_s``,
    ``x = w dt``, ``c = 1 - cos x``, ``s = sin x``)::

        Phi   = [[1, s/w, g c/w^2], [0, cos x, g s/w], [0, -s/(R w), cos x]]
        Gamma = [[c/w^2, g (x - s)/w^3], [s/w, g c/w^2], [-c/g, s/w]]

    and without it the limits ``w -> 0``: ``Phi = [[1, dt, g dt^2/2], [0, 1, g dt], [0, 0, 1]]``,
    ``Gamma = [[dt^2/2, g dt^3/6], [dt, g dt^2/2], [0, dt]]``.
    """
    g = jnp.asarray(nav.gravity_m_s2, jnp.float64)
    dt = jnp.asarray(dt, jnp.float64)
    if nav.schuler:
        w = nav.schuler_frequency
        r = jnp.asarray(nav.earth_radius_m, jnp.float64)
        x = w * dt
        sx, cx = jnp.sin(x), jnp.cos(x)
        c = 2.0 * jnp.sin(x / 2.0) ** 2  # 1 - cos x without cancellation
        # (x - sin x) / x^3 by its series where x is small, directly otherwise
        x2 = x * x
        series = 1.0 / 6.0 - x2 / 120.0 + x2 * x2 / 5040.0 - x2 * x2 * x2 / 362880.0
        xms = jnp.where(x < 0.05, series, (x - sx) / jnp.where(x < 0.05, 1.0, x) ** 3) * dt ** 3
        sw = sx / w
        cw2 = c / w ** 2
        phi = jnp.array([[1.0, sw, g * cw2], [0.0, cx, g * sw], [0.0, -sw / r, cx]])
        gam = jnp.array([[cw2, g * xms], [sw, g * cw2], [-c / g, sw]])
    else:
        phi = jnp.array([[1.0, dt, g * dt ** 2 / 2], [0.0, 1.0, g * dt], [0.0, 0.0, 1.0]])
        gam = jnp.array([[dt ** 2 / 2, g * dt ** 3 / 6], [dt, g * dt ** 2 / 2], [0.0, dt]])
    return phi, gam


def propagate(nav: InertialNavigator, dt: Any, accel_error: Any, gyro_error: Any) -> dict[str, jax.Array]:
    """Navigation errors driven by given sensor-error series (held constant over each step of ``dt``).

    ``accel_error`` [m/s^2] and ``gyro_error`` [rad/s] broadcast to ``(..., n_steps)``; returns
    ``position_m, velocity_m_s, tilt_rad`` of shape ``(..., n_steps)`` at ``t_k = k dt``, k = 1..n_steps,
    starting from zero error. ``lax.scan`` over time.
    """
    phi, gam = transition(nav, dt)
    a, w = jnp.broadcast_arrays(jnp.asarray(accel_error, jnp.float64), jnp.asarray(gyro_error, jnp.float64))
    u = jnp.moveaxis(jnp.stack([a, w], axis=-1), -2, 0)  # (n_steps, ..., 2)

    def step(z, uk):
        z = z @ phi.T + uk @ gam.T
        return z, z

    _, zs = lax.scan(step, jnp.zeros(u.shape[1:-1] + (3,), jnp.float64), u)
    zs = jnp.moveaxis(zs, 0, -2)  # (..., n_steps, 3)
    return {"position_m": zs[..., 0], "velocity_m_s": zs[..., 1], "tilt_rad": zs[..., 2]}


def bias_position_error(nav: InertialNavigator, t: Any, accel_bias: Any = 0.0, gyro_bias: Any = 0.0) -> jax.Array:
    """Closed-form position error [m] from constant biases (Titterton & Weston 2004).

    Without Schuler feedback ``b t^2/2 + g eps t^3/6``; with it
    ``(b/omega_s^2)(1 - cos omega_s t) + R eps (t - sin(omega_s t)/omega_s)``. Biases in m/s^2 and rad/s.
    """
    t = jnp.asarray(t, jnp.float64)
    b = jnp.asarray(accel_bias, jnp.float64)
    eps = jnp.asarray(gyro_bias, jnp.float64)
    if not nav.schuler:
        return b * t ** 2 / 2.0 + nav.gravity_m_s2 * eps * t ** 3 / 6.0
    ws = nav.schuler_frequency
    return b / ws ** 2 * (1.0 - jnp.cos(ws * t)) + nav.earth_radius_m * eps * (t - jnp.sin(ws * t) / ws)


def position_error_std_open_loop(nav: InertialNavigator, t: Any) -> jax.Array:
    """Standard deviation of the position error without Schuler feedback, continuous time [m].

    Sum in quadrature of: turn-on biases ``sigma_b t^2/2`` and ``g sigma_eps t^3/6``; velocity random walk
    ``N_a t^(3/2)/sqrt(3)``; angle random walk through gravity ``g N_g t^(5/2)/sqrt(20)``; rate random walks
    ``K_a t^(5/2)/sqrt(20)`` and ``g K_g t^(7/2)/sqrt(252)`` (n-fold integrals of white noise,
    ``t^(2n-1)/((n-1)!^2 (2n-1))``). Bias instability is not included.
    """
    p = nav.si()
    g = jnp.asarray(nav.gravity_m_s2, jnp.float64)
    t = jnp.asarray(t, jnp.float64)
    var = ((p["accel_bias"] * t ** 2 / 2) ** 2 + (g * p["gyro_bias"] * t ** 3 / 6) ** 2
           + p["accel_white"] ** 2 * t ** 3 / 3 + (g * p["gyro_white"]) ** 2 * t ** 5 / 20
           + p["accel_rrw"] ** 2 * t ** 5 / 20 + (g * p["gyro_rrw"]) ** 2 * t ** 7 / 252)
    return jnp.sqrt(var)


# --- stochastic model ----------------------------------------------------------------------------------

def _flicker_bank(dt: float, n_steps: int, per_decade: int) -> tuple[np.ndarray, np.ndarray]:
    """Corner frequencies of the flicker bank for a run of ``n_steps`` of ``dt``, and ``phi = exp(-2 pi f dt)``."""
    f = markov_flicker_bank(1.0 / (n_steps * dt), 0.5 / dt, per_decade)
    return f, np.exp(-2.0 * math.pi * f * dt)


def _covariance_std(nav: InertialNavigator, dt: float, phi_m: np.ndarray, per_decade: int, n_out: int,
                    record_every: int) -> jax.Array:
    """Standard deviation of one channel's position error at ``t = j record_every dt``, j = 1..n_out.

    The error sources are independent, so the position variance is the sum over sources of the variance
    each produces alone. Each source is a small linear system (navigation state ``(dp, dv, psi)`` plus at most
    two sensor-error states ``e``; input ``u = h . e + white xi``, ``e' = F e + G xi``): turn-on bias, rate
    random walk, white noise, and every Gauss–Markov pole of the flicker bank (state ``(m, m0)``,
    ``u = m - m0``). Covariances follow ``P' = A P A^T + Q`` exactly for the discrete model, vmapped over
    sources and scanned over time.
    """
    p = nav.si()
    phi, gam = transition(nav, dt)
    rows = []  # (axis, h1, h2, F1, G1, P0_11, white): F2 = 1, G2 = 0, P0 = P0_11 * [[1, c], [c, c]]
    for axis, name in ((0, "accel"), (1, "gyro")):
        var_m = markov_flicker_variance(p[f"{name}_instability"] ** 2 / math.pi, per_decade)
        zero = jnp.zeros(())
        rows.append((axis, 1.0, 0.0, 1.0, zero, p[f"{name}_bias"] ** 2, zero))
        rows.append((axis, 1.0, 0.0, 1.0, p[f"{name}_rrw"] * math.sqrt(dt), zero, zero))
        rows.append((axis, 0.0, 0.0, 1.0, zero, zero, p[f"{name}_white"] / math.sqrt(dt)))
        for ph in phi_m:
            rows.append((axis, 1.0, -1.0, float(ph), jnp.sqrt(var_m * (1.0 - ph ** 2)), var_m, zero))
    axis = jnp.asarray([r[0] for r in rows])
    h = jnp.asarray([[r[1], r[2]] for r in rows], jnp.float64)
    f1 = jnp.asarray([r[3] for r in rows], jnp.float64)
    g1 = jnp.stack([jnp.asarray(r[4], jnp.float64) for r in rows])
    p0 = jnp.stack([jnp.asarray(r[5], jnp.float64) for r in rows])
    white = jnp.stack([jnp.asarray(r[6], jnp.float64) for r in rows])
    pairs = jnp.asarray([[1.0, r[2] != 0.0] for r in rows], jnp.float64)  # m0 state used?

    def build(ax, hh, ff, gg, pp, ww, use):
        gvec = gam[:, ax]
        a = jnp.zeros((5, 5)).at[:3, :3].set(phi)
        a = a.at[:3, 3].set(gvec * hh[0]).at[:3, 4].set(gvec * hh[1])
        a = a.at[3, 3].set(ff).at[4, 4].set(1.0)
        q = jnp.zeros((5, 5)).at[:3, :3].set(jnp.outer(gvec, gvec) * ww ** 2).at[3, 3].set(gg ** 2)
        p_init = jnp.zeros((5, 5)).at[3:, 3:].set(pp * jnp.outer(use, use))
        return a, q, p_init

    a, q, p_init = jax.vmap(build)(axis, h, f1, g1, p0, white, pairs)

    at = jnp.swapaxes(a, -1, -2)

    def step(pm, _):
        return a @ pm @ at + q, None

    def block(pm, _):
        pm, _ = lax.scan(step, pm, None, length=record_every)
        return pm, jnp.sum(pm[:, 0, 0])

    _, var = lax.scan(block, p_init, None, length=n_out)
    return jnp.sqrt(var)


def _monte_carlo(nav: InertialNavigator, key: jax.Array, dt: float, phi_m: tuple[float, ...], per_decade: int,
                 n_out: int, record_every: int, n_realisations: int) -> jax.Array:
    """Position errors ``(n_realisations, n_out, 2)`` of the north and east channels.

    Turn-on values come from ``split(key)[0]`` and the noise of step ``k`` from ``fold_in(split(key)[1], k)``,
    one flat draw per step laid out realisation-major, so the result does not depend on the recording
    interval, and (JAX's partitionable threefry, the default, draws element i independently of the array
    length) realisation ``r`` does not depend on ``n_realisations``. Noise is drawn in float32 (the hot
    path) and the error state advanced in float64; ``lax.scan`` over steps, ``vmap`` over realisations.
    """
    p = nav.si()
    phi, gam = transition(nav, dt)
    n_poles = len(phi_m)
    ax = ("accel", "gyro")
    bias_sd = jnp.stack([p[f"{a}_bias"] for a in ax])  # (2 axes,)
    white_sd = jnp.stack([p[f"{a}_white"] for a in ax]) / math.sqrt(dt)
    rrw_sd = jnp.stack([p[f"{a}_rrw"] for a in ax]) * math.sqrt(dt)
    m_sd = jnp.sqrt(jnp.stack([markov_flicker_variance(p[f"{a}_instability"] ** 2 / math.pi, per_decade)
                               for a in ax]))[:, None]  # (2 axes, 1)
    phi_arr = jnp.asarray(phi_m, jnp.float64)
    innov_sd = m_sd * jnp.sqrt(1.0 - phi_arr ** 2)  # (2 axes, K)
    shape = (n_realisations, 2, 2, 2 + n_poles)  # realisation, channel, axis, [white, rrw, pole innovations]

    k_init, k_run = jax.random.split(key)
    xi0 = standard_normal(k_init, (n_realisations, 2, 2, 1 + n_poles))
    bias = bias_sd * xi0[..., 0]  # (R, channel, axis)
    m0 = m_sd * xi0[..., 1:]  # (R, channel, axis, K): flicker value at alignment

    def advance(state, xi, b, m_init):  # one realisation, both channels: state (z (2,3), rrw (2,2), m (2,2,K))
        z, rrw, m = state
        u = b + rrw + jnp.sum(m - m_init, axis=-1) + white_sd * xi[..., 0]  # (channel, axis)
        z = z @ phi.T + u @ gam.T
        return z, rrw + rrw_sd * xi[..., 1], phi_arr * m + innov_sd * xi[..., 2:]

    def step(carry, k):
        xi = standard_normal(jax.random.fold_in(k_run, k), shape, jnp.float32).astype(jnp.float64)
        return jax.vmap(advance)(carry, xi, bias, m0), None

    def block(carry, j):
        carry, _ = lax.scan(step, carry, j * record_every + jnp.arange(record_every))
        return carry, carry[0][..., 0]

    carry0 = (jnp.zeros((n_realisations, 2, 3)), jnp.zeros((n_realisations, 2, 2)), m0)
    _, pos = lax.scan(block, carry0, jnp.arange(n_out))  # (n_out, R, 2)
    return jnp.moveaxis(pos, 0, 1)


_monte_carlo_jit = jax.jit(_monte_carlo, static_argnames=("dt", "phi_m", "per_decade", "n_out", "record_every",
                                                          "n_realisations"))
_covariance_std_jit = jax.jit(_covariance_std, static_argnames=("dt", "phi_m", "per_decade", "n_out", "record_every"))


def _grid(duration_s: float, step_s: float, n_time_points: int) -> tuple[float, int, int, int]:
    dt = float(step_s)
    if not (math.isfinite(dt) and dt > 0):
        raise ValueError(f"step_s = {step_s!r} is not allowed: must be a time step > 0 s")
    n_steps = int(round(float(duration_s) / dt))
    if n_steps < MIN_STEPS:
        raise ValueError(f"duration_s = {duration_s!r} is not allowed: must be at least {MIN_STEPS} steps of {dt:g} s")
    n_time_points = checks.positive_int(n_time_points, "n_time_points")
    record_every = max(1, n_steps // n_time_points)
    return dt, n_steps, record_every, n_steps // record_every


def position_error_std(nav: InertialNavigator, duration_s: float = 3600.0, step_s: float = 1.0,
                       n_time_points: int = 60, per_decade: int = 2) -> tuple[jax.Array, jax.Array]:
    """Expected position-error standard deviation of one channel, ``(time_s, std_m)``.

    Exact for the discrete model that :func:`simulate` samples (covariance recursion over the same steps,
    including Schuler feedback and the flicker bank); the time grid is that of :func:`simulate`.
    """
    nav.validate()
    dt, n_steps, record_every, n_out = _grid(duration_s, step_s, n_time_points)
    per_decade = checks.positive_int(per_decade, "per_decade")
    _, phi_m = _flicker_bank(dt, n_steps, per_decade)
    std = _covariance_std_jit(nav, dt, tuple(phi_m), per_decade, n_out, record_every)
    return jnp.arange(1, n_out + 1, dtype=jnp.float64) * (record_every * dt), std


def simulate(nav: InertialNavigator, key: jax.Array, duration_s: float = 3600.0, step_s: float = 1.0,
             n_realisations: int = 256, n_time_points: int = 60, quantiles: tuple[float, ...] = (0.5, 0.683, 0.95),
             per_decade: int = 2) -> dict[str, jax.Array]:
    """Monte Carlo of the horizontal position error of a free-inertial navigator (no GNSS).

    ``duration_s`` and ``step_s`` are static; the run has ``n = round(duration_s/step_s)`` steps and is
    recorded every ``n // n_time_points`` steps. Returns plain arrays: ``time_s (n_t,)``, ``quantile (n_q,)``,
    ``position_error_m (n_q, n_t)`` quantiles over realisations of the horizontal radial error
    ``sqrt(dp_N^2 + dp_E^2)``; ``position_error_rms_m (n_t,)`` Monte Carlo rms of one channel;
    ``position_error_std_model_m (n_t,)`` its expectation for the same discrete model (covariance
    recursion); ``position_error_model_m (n_q, n_t)`` the radial quantiles of that model (Rayleigh:
    ``sigma sqrt(-2 ln(1 - q))``); ``position_error_open_loop_m (n_t,)`` the continuous closed form
    without Schuler feedback and without bias instability (:func:`position_error_std_open_loop`).
    """
    nav.validate()
    dt, n_steps, record_every, n_out = _grid(duration_s, step_s, n_time_points)
    n_realisations = checks.positive_int(n_realisations, "n_realisations")
    per_decade = checks.positive_int(per_decade, "per_decade")
    q = np.asarray(checks.levels(quantiles, "quantiles"))
    _, phi_m = _flicker_bank(dt, n_steps, per_decade)
    pos = _monte_carlo_jit(nav, key, dt, tuple(phi_m), per_decade, n_out, record_every, n_realisations)
    std = _covariance_std_jit(nav, dt, tuple(phi_m), per_decade, n_out, record_every)
    t = jnp.arange(1, n_out + 1, dtype=jnp.float64) * (record_every * dt)
    radial = jnp.sqrt(jnp.sum(pos ** 2, axis=-1))
    qj = jnp.asarray(q)
    return {"time_s": t, "quantile": qj, "position_error_m": jnp.quantile(radial, qj, axis=0),
            "position_error_rms_m": jnp.sqrt(jnp.mean(pos ** 2, axis=(0, 2))),
            "position_error_std_model_m": std,
            "position_error_model_m": std[None, :] * jnp.sqrt(-2.0 * jnp.log1p(-qj))[:, None],
            "position_error_open_loop_m": position_error_std_open_loop(nav, t)}
