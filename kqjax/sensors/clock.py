"""Atomic clock: quantum projection noise, Dick effect, and the timing error a navigation user sees.

Quantum projection noise (Santarelli et al., PRL 82, 4619, 1999; Itano et al., PRA 47, 3554, 1993)
    sigma_y(tau) = 1 / (2 pi nu0 C T_R) * sqrt(T_c / (N tau))
with clock frequency nu0, Ramsey time T_R, fringe contrast C, cycle time T_c and N detected atoms.

Dick effect (Dick, PTTI 1987; Santarelli et al., IEEE TUFFC 45, 887, 1998)
    sigma_y^2(tau) = (1/tau) sum_(m>=1) (g_c,m^2 + g_s,m^2)/g_0^2 * S_y^LO(m / T_c)
where ``g_c,m, g_s,m`` are the cosine/sine Fourier coefficients of the Ramsey sensitivity function over
one cycle and ``g_0`` its mean, and ``S_y^LO(f) = h_0 + h_-1/f`` the one-sided frequency noise of the
local oscillator. The sensitivity function for square pi/2 pulses of length ``t_p`` and Rabi frequency
``Omega = pi/(2 t_p)`` is ``sin(Omega t)`` in the first pulse, 1 during the free evolution and
``sin(Omega (t_end - t))`` in the second pulse (Santarelli 1998). For ideal pulses
``|g_m|^2/g_0^2 = sinc^2(pi m d)`` with duty cycle ``d = T_R/T_c``, and a white LO gives the closed
form ``sigma_y^2 = h_0 (1 - d)/(2 d tau)`` (from ``sum_m sin^2(m x)/m^2 = x (pi - x)/2``).

Both are white frequency noise; a flicker floor and random-walk FM of the clock itself can be added.
The Monte Carlo draws fractional-frequency data per cycle, integrates them into the time error
``x(t) = int_0^t y dt'`` (clock synchronised at t = 0, free running afterwards) and the ranging error
``c x(t)`` that a satellite-navigation receiver would see from this clock.
"""
from __future__ import annotations

import dataclasses
import math
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from kqjax.engine.params import component, param
from kqjax.engine.params import preset as config_preset
from kqjax.sensors import checks
from kqjax.sensors.allan import ONE_SIGMA, simulate_stability, static_taus
from kqjax.sensors.noise import avar, h_flicker_fm, h_random_walk_fm, h_white_fm

SPEED_OF_LIGHT = 299_792_458.0  # m/s


@component("sensor", "clock")
@dataclasses.dataclass(frozen=True)
class AtomicClock:
    """Passive atomic clock with Ramsey interrogation, servoed local oscillator (LO)."""

    frequency_hz: float = param(9_192_631_770.0, unit="Hz", long_name="clock transition frequency", ge=1e3)
    ramsey_time_s: float = param(0.5, unit="s", long_name="Ramsey free-evolution time", ge=1e-6)
    cycle_time_s: float = param(1.5, unit="s", long_name="clock cycle time", gt=0)
    pulse_time_s: float = param(0.0, unit="s", long_name="duration of each pi/2 pulse", ge=0)
    atom_number: float = param(1e6, unit="1", long_name="detected atoms per cycle", ge=1)
    contrast: float = param(0.9, unit="1", long_name="Ramsey fringe contrast", ge=1e-6, le=1)
    lo_white_adev_1s: float = param(0.0, unit="1", long_name="LO white-FM Allan deviation at 1 s", ge=0)
    lo_flicker_adev: float = param(0.0, unit="1", long_name="LO flicker-FM Allan deviation floor", ge=0)
    flicker_floor: float = param(0.0, unit="1", long_name="clock flicker-FM Allan deviation floor", ge=0)
    random_walk_adev_1s: float = param(0.0, unit="1", long_name="clock random-walk-FM Allan deviation at 1 s",
                                       ge=0)

    # --- checks and presets ---
    def validate(self) -> "AtomicClock":
        """Raise ``ValueError`` on out-of-bounds fields or a cycle shorter than the interrogation."""
        checks.check_fields(self)
        checks.require(lambda t_r, t_p, t_c: t_r + 2 * t_p <= t_c,
                       f"AtomicClock: ramsey_time_s + 2 pulse_time_s = {self.ramsey_time_s} + 2*{self.pulse_time_s} s "
                       f"exceeds cycle_time_s = {self.cycle_time_s} s",
                       self.ramsey_time_s, self.pulse_time_s, self.cycle_time_s)
        return self

    @classmethod
    def preset(cls, name: str) -> "AtomicClock":
        """The preset read from ``conf/sensor/<name>.yaml`` (the single source), kind ``clock``:
        ``cs_fountain``, ``rb_compact``, ``sr_optical``."""
        return config_preset("sensor", name, cls.kind)

    # --- physics ---
    @property
    def duty_cycle(self) -> jax.Array:
        """``d = T_R / T_c``."""
        return jnp.asarray(self.ramsey_time_s, jnp.float64) / self.cycle_time_s

    def qpn_adev(self, tau: Any) -> jax.Array:
        """Quantum-projection-noise Allan deviation ``1/(2 pi nu0 C T_R) sqrt(T_c/(N tau))`` (Santarelli 1999)."""
        tau = jnp.asarray(tau, jnp.float64)
        return (1.0 / (2 * math.pi * self.frequency_hz * self.contrast * self.ramsey_time_s)
                * jnp.sqrt(self.cycle_time_s / (self.atom_number * tau)))

    @partial(jax.jit, static_argnames=("n_harmonics",))
    def sensitivity_harmonics(self, n_harmonics: int = 4096) -> jax.Array:
        """``(g_c,m^2 + g_s,m^2) / g_0^2`` for m = 1..n_harmonics (Santarelli 1998, square pulses).

        By symmetry of g(t) about the middle of the interrogation, ``|G_m| = 2 int_0^(L/2) g cos(w s) ds``
        with ``w = 2 pi m / T_c``: ``T_R sinc(w T_R / 2)`` from the free evolution plus, for each pulse,
        ``int_0^t_p sin(Omega u) cos(w (T_R/2 + t_p - u)) du`` in closed form. ``g_0 T_c = T_R + 4 t_p/pi``.
        """
        m = jnp.arange(1, int(n_harmonics) + 1, dtype=jnp.float64)
        T = jnp.asarray(self.ramsey_time_s, jnp.float64)
        tp = jnp.asarray(self.pulse_time_s, jnp.float64)
        Tc = jnp.asarray(self.cycle_time_s, jnp.float64)
        w = 2 * math.pi * m / Tc
        free = T * jnp.sinc(m * T / Tc)
        has_pulse = tp > 0
        tps = jnp.where(has_pulse, tp, 1.0)
        omega = math.pi / (2 * tps)
        c = T / 2 + tps

        def seg(a, b):  # int_0^tp sin(a u + b) du = tp sin(a tp/2 + b) sinc(a tp/2)
            return tps * jnp.sin(a * tps / 2 + b) * jnp.sinc(a * tps / (2 * math.pi))

        pulses = seg(omega - w, w * c) + seg(omega + w, -w * c)
        g_m = free + jnp.where(has_pulse, pulses, 0.0)
        g0 = T + jnp.where(has_pulse, 4 * tp / math.pi, 0.0)
        return (g_m / g0) ** 2

    def dick_avar_1s(self, n_harmonics: int = 4096) -> jax.Array:
        """Dick-effect Allan variance at tau = 1 s: ``sum_m |g_m|^2/g_0^2 S_y^LO(m/T_c)`` (Santarelli 1998)."""
        return _dick_avar_1s(self, int(n_harmonics))

    def dick_adev(self, tau: Any, n_harmonics: int = 4096) -> jax.Array:
        """Dick-effect Allan deviation ``sqrt(dick_avar_1s / tau)``."""
        return jnp.sqrt(self.dick_avar_1s(n_harmonics) / jnp.asarray(tau, jnp.float64))

    def noise_h(self, n_harmonics: int = 4096) -> dict[int, jax.Array]:
        """Power-law coefficients of the clock's fractional frequency ``{0: h_0, -1: h_-1, -2: h_-2}``.

        ``h_0 = 2 (sigma_QPN^2 + sigma_Dick^2)(1 s)``, ``h_-1`` from the flicker floor, ``h_-2`` from the
        random-walk level (:mod:`kqjax.sensors.noise` conversions).
        """
        white = self.qpn_adev(1.0) ** 2 + self.dick_avar_1s(n_harmonics)
        return {0: 2.0 * white, -1: h_flicker_fm(self.flicker_floor),
                -2: h_random_walk_fm(self.random_walk_adev_1s)}

    def adev(self, tau: Any, n_harmonics: int = 4096) -> jax.Array:
        """Expected Allan deviation of the clock (QPN + Dick + floor + random walk)."""
        return jnp.sqrt(avar(self.noise_h(n_harmonics), tau, 1.0 / jnp.asarray(self.cycle_time_s)))


@partial(jax.jit, static_argnums=(1,))
def _dick_avar_1s(clock: AtomicClock, n_harmonics: int) -> jax.Array:
    ratio = clock.sensitivity_harmonics(n_harmonics)
    f = jnp.arange(1, n_harmonics + 1, dtype=jnp.float64) / clock.cycle_time_s
    s_lo = h_white_fm(clock.lo_white_adev_1s) + h_flicker_fm(clock.lo_flicker_adev) / f
    return jnp.sum(ratio * s_lo)


def simulate(clock: AtomicClock, key: jax.Array, n_cycles: int = 4096, n_realisations: int = 16,
             taus: Any = "octave", n_time_points: int = 48, quantiles: tuple[float, ...] = (0.5, 0.683, 0.95),
             ci: float = ONE_SIGMA, n_harmonics: int = 4096) -> dict[str, jax.Array]:
    """Monte Carlo of the clock's frequency noise, its Allan deviation and the resulting timing error.

    Draws ``n_realisations`` records of ``n_cycles`` fractional-frequency values (one per clock cycle,
    Kasdin–Walter power-law noise with the levels of :meth:`AtomicClock.noise_h`), and returns plain arrays:

    ``tau_s (n_tau,)``; ``adev, adev_lo, adev_hi (n_realisations, n_tau)`` overlapping Allan deviation with
    its Greenhall-EDF ``ci`` interval; ``adev_model (n_tau,)``; ``edf (n_tau,)``; ``time_s (n_t,)``;
    ``quantile (n_q,)``; ``time_error_s, ranging_error_m (n_q, n_t)`` quantiles over realisations of
    ``|x(t)|`` and ``c |x(t)|``; ``time_error_rms_s (n_t,)`` and its white-FM expectation
    ``time_error_rms_model_s = sqrt(h_0 t / 2)`` (flicker and random-walk terms excluded).
    """
    clock.validate()
    n_cycles = checks.positive_int(n_cycles, "n_cycles", 4)
    n_realisations = checks.positive_int(n_realisations, "n_realisations")
    n_time_points = checks.positive_int(n_time_points, "n_time_points")
    return _simulate(clock, key, n_cycles, n_realisations, static_taus(taus), n_time_points,
                     checks.levels(quantiles, "quantiles"), checks.levels(ci, "ci")[0],
                     checks.positive_int(n_harmonics, "n_harmonics"))


@partial(jax.jit, static_argnums=(2, 3, 4, 5, 6, 7, 8))
def _simulate(clock, key, n_cycles, n_realisations, taus, n_time_points, quantiles, ci, n_harmonics):
    rate = 1.0 / jnp.asarray(clock.cycle_time_s, jnp.float64)
    h = clock.noise_h(n_harmonics)
    out = simulate_stability(key, h, n_cycles, rate, n_realisations, taus, ci)
    y = out.pop("samples")
    x = jnp.cumsum(y, axis=-1) * clock.cycle_time_s  # x(t_k), t_k = k T_c, k = 1..n_cycles
    idx = np.unique(np.round(np.geomspace(1, n_cycles, int(n_time_points))).astype(np.int64))
    t = jnp.asarray(idx, jnp.float64) * clock.cycle_time_s
    ax = jnp.abs(x[:, idx - 1])
    q = jnp.asarray(quantiles, jnp.float64)
    te = jnp.quantile(ax, q, axis=0)
    out.update({"time_s": t, "quantile": q, "time_error_s": te, "ranging_error_m": SPEED_OF_LIGHT * te,
                "time_error_rms_s": jnp.sqrt(jnp.mean(ax ** 2, axis=0)),
                "time_error_rms_model_s": jnp.sqrt(h[0] * t / 2.0)})
    return out
