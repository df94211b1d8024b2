"""Light-pulse atom interferometers: accelerometer/gravimeter and Sagnac gyroscope.

Accelerometer (Mach–Zehnder pi/2 - pi - pi/2, pulse separation T; Peters, Chung & Chu, Metrologia 38,
25, 2001; Kasevich & Chu, PRL 67, 181, 1991)
    Phi = k_eff a T^2,    k_eff = 2 (2 pi / lambda)   (counter-propagating Raman beams)
Detection projects ``N`` atoms on the fringe ``P = (1 - C cos Phi)/2``; at mid-fringe the phase noise per
shot is ``1/(C sqrt(N))``, so the shot-noise-limited acceleration noise per shot is
    delta a = 1 / (C sqrt(N) k_eff T^2).
Acceleration noise of the reference mirror enters through the sensitivity function (Cheinet et al.,
IEEE TIM 57, 1141, 2008): with short pulses a shot measures ``a_k = int g(t - k T_c) a(t) dt`` with the
triangular response ``g = f / T^2`` (``f(t) = t`` for ``t < T``, ``2T - t`` up to ``2T``; ``int f = T^2``,
``int f^2 = 2 T^3/3``), whose transfer function is
    |H_a(omega)|^2 = k_eff^2 (4 sin^2(omega T / 2) / omega^2)^2,    H_a(0) = k_eff T^2 != 0:
unlike laser phase noise (H_phi(0) = 0), low-frequency acceleration is measured as signal, so the
n = 0 term of the aliasing sum stays. For ``tau >> T_c`` (cycle time ``T_c``)
    sigma_a^2(tau) = (1/tau) [S_a(0)/2 + sum_(n>=1) |H_a(2 pi n/T_c)|^2 / (k_eff T^2)^2 S_a(n/T_c)].
White acceleration noise of one-sided PSD ``S_a``, shots not overlapping (``2T <= T_c``): the shots are
independent, each of variance ``(S_a/2) int g^2 = S_a / (3T)``, and ``sigma_a^2(tau) = S_a T_c / (3 T tau)``
(the sum over n >= 1 alone is ``S_a (1/(3T) - 1/(2 T_c))``; the n = 0 term adds ``S_a/(2 T_c)``).
Random-walk acceleration, ``S_a = S_r (1 Hz / f)^2`` (1/f ASD), ``a = sigma_W W(t)`` with
``S_r = sigma_W^2 / (2 pi^2)``: for ``j >= 1``, ``E[(a_j - a_0)^2] = sigma_W^2 (j T_c - 7T/15)`` (Ito isometry
over the tails of the weights, ``int_0^(2T) G^2 = 23T/30`` with ``G`` the cumulative of ``g``), the structure
function of a random walk of step variance ``sigma_W^2 T_c`` plus a white term of variance ``-7 sigma_W^2 T/30``.
Their Allan variances (``q (2m^2 + 1)/(6m)`` and ``s^2/m``, NIST SP 1065) give, exactly at ``tau = m T_c``,
    sigma_a^2(tau) = (2 pi^2/3) S_r tau + pi^2 S_r (T_c^2/3 - 7 T T_c/15) / tau.
The sum over n >= 1 is ``pi^2 S_r (T_c^2/6 - 7 T T_c/15 + T^2/3)/tau``; the n = 0 peak supplies the random
walk and the rest of the 1/tau term.

Gyroscope (Sagnac effect for matter waves; Gustavson, Bouyer & Kasevich, PRL 78, 2046, 1997)
    Phi = 2 k_eff (v x Omega) T^2 = 2 m A Omega / hbar,    A = hbar k_eff v T^2 / m,
for atoms moving with velocity ``v`` perpendicular to ``k_eff`` and rotation ``Omega`` normal to the
enclosed area ``A``; shot-noise-limited rotation noise per shot ``1/(C sqrt(N) 2 k_eff v T^2)``.
"""
from __future__ import annotations

import dataclasses
import math
from functools import partial
from typing import Any, Callable

import jax
import jax.numpy as jnp

from kqjax.engine.params import component, param
from kqjax.engine.params import preset as config_preset
from kqjax.sensors import checks
from kqjax.sensors.allan import ONE_SIGMA, stability, static_taus
from kqjax.sensors.noise import standard_normal

HBAR = 1.054571817e-34  # J s
ATOMIC_MASS = 1.66053906660e-27  # kg


def k_eff(wavelength_nm: Any) -> jax.Array:
    """Effective wave number of counter-propagating Raman beams, ``2 (2 pi / lambda)`` [1/m]."""
    return 4.0 * math.pi / (jnp.asarray(wavelength_nm, jnp.float64) * 1e-9)


def acceleration_transfer(omega: Any, pulse_separation_s: Any) -> jax.Array:
    """``|H_a(omega)|^2 / k_eff^2 = (4 sin^2(omega T/2) / omega^2)^2`` [s^4], short pulses (Cheinet 2008).

    Tends to ``T^4`` as omega -> 0 (the static response ``Phi = k_eff a T^2``).
    """
    omega = jnp.asarray(omega, jnp.float64)
    T = jnp.asarray(pulse_separation_s, jnp.float64)
    x = omega * T / (2 * math.pi)  # sin(omega T/2)/(omega/2) = T sinc(omega T / 2pi)
    return (T ** 2 * jnp.sinc(x) ** 2) ** 2


def aliased_acceleration_variance(psd: Callable[[jax.Array], jax.Array], pulse_separation_s: Any,
                                  cycle_time_s: Any, n_harmonics: int = 4096) -> jax.Array:
    """Aliasing sum over the cycle harmonics n >= 1 from a one-sided PSD ``psd(f)`` [(m/s^2)^2/Hz].

    ``(1/T_c) sum_(n=1)^(n_harmonics) |H_a(2 pi n / T_c)|^2 / T^4 * S_a(n / T_c)`` (Cheinet 2008). The n = 0
    term is left out: the Allan variance is this times ``T_c / tau`` plus the response at DC, ``S_a(0)/(2 tau)``
    for a PSD finite at 0 (white: ``S_a (1/(3T) - 1/(2T_c))`` here, ``S_a/(3T)`` per shot in all); for
    ``S_a ~ 1/f^2`` see :meth:`AtomAccelerometer.design_adev`.
    """
    Tc = jnp.asarray(cycle_time_s, jnp.float64)
    T = jnp.asarray(pulse_separation_s, jnp.float64)
    f = jnp.arange(1, int(n_harmonics) + 1, dtype=jnp.float64) / Tc
    return jnp.sum(acceleration_transfer(2 * math.pi * f, T) * psd(f)) / (Tc * T ** 4)


def _fits_cycle(sensor):
    """The field checks of ``sensor``, and ``2 T <= T_c`` (the interferometer fits in one cycle)."""
    checks.check_fields(sensor)
    checks.require(lambda t, t_c: 2 * t <= t_c,
                   f"{type(sensor).__name__}: 2 pulse_separation_s = 2*{sensor.pulse_separation_s} s exceeds "
                   f"cycle_time_s = {sensor.cycle_time_s} s", sensor.pulse_separation_s, sensor.cycle_time_s)
    return sensor


def _readout(key: jax.Array, phase_noise: jax.Array, atom_number: Any, contrast: Any) -> jax.Array:
    """Mid-fringe readout of ``N`` atoms, inverted to the phase.

    Transition probability ``P = (1 + C sin(dphi))/2``; the measured fraction carries quantum projection
    noise of variance ``P (1 - P)/N`` (Itano et al., PRA 47, 3554, 1993), drawn as a Gaussian (the
    binomial's first two moments; its relative skewness ``~1/sqrt(N P (1-P))`` is negligible for the
    >= 1e3 atoms of cold-atom sensors) and clipped to [0, 1]; ``dphi = arcsin((2 P_hat - 1)/C)``.
    """
    p = 0.5 * (1.0 + contrast * jnp.sin(phase_noise))
    n = jnp.asarray(atom_number, jnp.float64)
    p_hat = jnp.clip(p + jnp.sqrt(p * (1.0 - p) / n) * standard_normal(key, phase_noise.shape), 0.0, 1.0)
    return jnp.arcsin(jnp.clip((2.0 * p_hat - 1.0) / contrast, -1.0, 1.0))


@component("sensor", "atom_accelerometer")
@dataclasses.dataclass(frozen=True)
class AtomAccelerometer:
    """Light-pulse atom accelerometer / gravimeter."""

    wavelength_nm: float = param(780.241, unit="nm", long_name="Raman laser wavelength", ge=1)
    pulse_separation_s: float = param(0.1, unit="s", long_name="pulse separation T", ge=1e-6)
    cycle_time_s: float = param(1.0, unit="s", long_name="measurement cycle time", gt=0)
    atom_number: float = param(1e6, unit="1", long_name="detected atoms per shot", ge=1)
    contrast: float = param(0.5, unit="1", long_name="fringe contrast", ge=1e-6, le=1)
    vibration_asd_m_s2_per_rthz: float = param(0.0, unit="m s-2 Hz-1/2",
                                               long_name="residual (white) vibration acceleration noise", ge=0)
    acceleration_m_s2: float = param(9.80665, unit="m s-2", long_name="measured acceleration (gravity)")
    # Design model only (mode=optimize, :meth:`design_sensitivity`); the Monte Carlo ignores these two.
    dead_time_s: float = param(0.0, unit="s", ge=0,
                               long_name="preparation + detection time per cycle (> 0: cycle = dead time + 2T)")
    vibration_red_asd_m_s2_per_rthz: float = param(
        0.0, unit="m s-2 Hz-1/2", ge=0, long_name="1/f vibration ASD at 1 Hz")

    def validate(self) -> "AtomAccelerometer":
        """Bounds, and ``2 T <= T_c`` (the interferometer must fit in one cycle)."""
        return _fits_cycle(self)

    @classmethod
    def preset(cls, name: str) -> "AtomAccelerometer":
        """The preset read from ``conf/sensor/<name>.yaml`` (the single source), kind ``atom_accelerometer``:
        ``gravimeter_peters2001``, ``gravimeter_freier2016``, ``accelerometer_navigation``."""
        return config_preset("sensor", name, cls.kind)

    @property
    def k_eff(self) -> jax.Array:
        """``4 pi / lambda`` [1/m]."""
        return k_eff(self.wavelength_nm)

    @property
    def scale_factor(self) -> jax.Array:
        """``k_eff T^2`` [rad per m/s^2]."""
        return self.k_eff * jnp.asarray(self.pulse_separation_s, jnp.float64) ** 2

    def phase(self, acceleration: Any = None) -> jax.Array:
        """Interferometer phase ``k_eff a T^2`` [rad] (Peters et al. 2001); default ``a = acceleration_m_s2``."""
        a = self.acceleration_m_s2 if acceleration is None else acceleration
        return self.scale_factor * jnp.asarray(a, jnp.float64)

    @property
    def shot_noise_per_shot(self) -> jax.Array:
        """``1/(C sqrt(N) k_eff T^2)`` [m/s^2]."""
        return 1.0 / (self.contrast * jnp.sqrt(jnp.asarray(self.atom_number, jnp.float64)) * self.scale_factor)

    @property
    def vibration_per_shot(self) -> jax.Array:
        """White vibration noise per shot, ``sqrt(S_a / (3T))`` [m/s^2]: ``(S_a/2) int g^2`` with the triangular
        response ``g`` of unit area (Cheinet 2008; ``H_a(0) = k_eff T^2``). Shots do not overlap (``2T <= T_c``),
        so they are independent."""
        T = jnp.asarray(self.pulse_separation_s, jnp.float64)
        s_a = jnp.asarray(self.vibration_asd_m_s2_per_rthz, jnp.float64) ** 2
        return jnp.sqrt(s_a / (3.0 * T))

    @property
    def noise_per_shot(self) -> jax.Array:
        """Quadrature sum of shot noise and vibration noise per shot [m/s^2]."""
        return jnp.sqrt(self.shot_noise_per_shot ** 2 + self.vibration_per_shot ** 2)

    @property
    def sensitivity(self) -> jax.Array:
        """``noise_per_shot * sqrt(T_c)`` [m/s^2/sqrt(Hz)]."""
        return self.noise_per_shot * jnp.sqrt(jnp.asarray(self.cycle_time_s, jnp.float64))

    def adev(self, tau: Any) -> jax.Array:
        """Allan deviation ``sensitivity / sqrt(tau)`` [m/s^2] (white noise, shots independent)."""
        return self.sensitivity / jnp.sqrt(jnp.asarray(tau, jnp.float64))

    @property
    def design_cycle_time_s(self) -> jax.Array:
        """``dead_time_s + 2 T`` if ``dead_time_s > 0``, else ``cycle_time_s`` [s]."""
        T = jnp.asarray(self.pulse_separation_s, jnp.float64)
        return jnp.where(jnp.asarray(self.dead_time_s) > 0, self.dead_time_s + 2.0 * T,
                         jnp.asarray(self.cycle_time_s, jnp.float64))

    def design_adev(self, tau: Any = 1.0) -> jax.Array:
        """Closed-form acceleration Allan deviation [m/s^2] of the design model at ``tau`` [s], differentiable.

        Cycle ``T_c`` = :attr:`design_cycle_time_s`; vibration PSD ``S_w + S_r (1 Hz / f)^2`` (white plus 1/f
        ASD); exact at ``tau = m T_c`` for ``2T <= T_c`` (module docstring, Cheinet 2008 sensitivity function):
        ``sigma^2 = [1/(C^2 N k_eff^2 T^4) + S_w/(3T)] T_c/tau + pi^2 S_r (T_c^2/3 - 7 T T_c/15)/tau
        + (2 pi^2/3) S_r tau``. Shot noise falls as ``1/T^2``; with ``T_c`` growing with ``T`` the 1/f vibration
        grows: a finite optimal ``T``. The random-walk term does not depend on ``T``.
        """
        T = jnp.asarray(self.pulse_separation_s, jnp.float64)
        tc = self.design_cycle_time_s
        tau = jnp.asarray(tau, jnp.float64)
        shot = (1.0 / (self.contrast * jnp.sqrt(jnp.asarray(self.atom_number, jnp.float64)) * self.k_eff * T ** 2)) ** 2
        white = jnp.asarray(self.vibration_asd_m_s2_per_rthz, jnp.float64) ** 2 / (3.0 * T)
        s_r = jnp.asarray(self.vibration_red_asd_m_s2_per_rthz, jnp.float64) ** 2  # at f = 1 Hz
        red = math.pi ** 2 * s_r * (tc ** 2 / 3.0 - 7.0 * T * tc / 15.0)
        return jnp.sqrt(((shot + white) * tc + red) / tau + 2.0 * math.pi ** 2 / 3.0 * s_r * tau)

    def design_sensitivity(self) -> jax.Array:
        """:meth:`design_adev` at ``tau = 1 s`` [m/s^2, i.e. m/s^2/sqrt(Hz) for white noise]: the objective of
        ``mode=optimize``. Without 1/f vibration and dead time it equals :attr:`sensitivity`."""
        return self.design_adev(1.0)


@component("sensor", "atom_gyroscope")
@dataclasses.dataclass(frozen=True)
class AtomGyroscope:
    """Light-pulse atom-interferometer Sagnac gyroscope (atoms with transverse velocity ``v``)."""

    wavelength_nm: float = param(852.347, unit="nm", long_name="Raman laser wavelength", ge=1)
    pulse_separation_s: float = param(0.01, unit="s", long_name="pulse separation T", ge=1e-6)
    atom_velocity_m_s: float = param(2.0, unit="m s-1", long_name="atom velocity perpendicular to k_eff", gt=0)
    atom_mass_amu: float = param(132.905, unit="u", long_name="atomic mass", gt=0)
    cycle_time_s: float = param(0.5, unit="s", long_name="measurement cycle time", gt=0)
    atom_number: float = param(1e6, unit="1", long_name="detected atoms per shot", ge=1)
    contrast: float = param(0.3, unit="1", long_name="fringe contrast", ge=1e-6, le=1)
    rotation_rad_s: float = param(7.292115e-5, unit="rad s-1", long_name="rotation rate (Earth rate)")

    def validate(self) -> "AtomGyroscope":
        """Bounds, and ``2 T <= T_c``."""
        return _fits_cycle(self)

    @classmethod
    def preset(cls, name: str) -> "AtomGyroscope":
        """The preset read from ``conf/sensor/<name>.yaml`` (the single source), kind ``atom_gyroscope``:
        ``gyroscope_atomic_beam``, ``gyroscope_cold_atom``."""
        return config_preset("sensor", name, cls.kind)

    @property
    def k_eff(self) -> jax.Array:
        """``4 pi / lambda`` [1/m]."""
        return k_eff(self.wavelength_nm)

    @property
    def scale_factor(self) -> jax.Array:
        """``2 k_eff v T^2`` [rad per rad/s]."""
        return 2.0 * self.k_eff * self.atom_velocity_m_s * jnp.asarray(self.pulse_separation_s, jnp.float64) ** 2

    @property
    def enclosed_area_m2(self) -> jax.Array:
        """``A = hbar k_eff v T^2 / m`` [m^2]."""
        m = jnp.asarray(self.atom_mass_amu, jnp.float64) * ATOMIC_MASS
        return HBAR * self.k_eff * self.atom_velocity_m_s * jnp.asarray(self.pulse_separation_s) ** 2 / m

    def phase(self, rotation: Any = None) -> jax.Array:
        """Sagnac phase ``2 k_eff v T^2 Omega`` [rad]; default ``Omega = rotation_rad_s``."""
        r = self.rotation_rad_s if rotation is None else rotation
        return self.scale_factor * jnp.asarray(r, jnp.float64)

    def phase_from_area(self, rotation: Any = None) -> jax.Array:
        """Sagnac phase in area form ``2 m A Omega / hbar`` [rad] (equal to :meth:`phase`)."""
        r = self.rotation_rad_s if rotation is None else rotation
        m = jnp.asarray(self.atom_mass_amu, jnp.float64) * ATOMIC_MASS
        return 2.0 * m * self.enclosed_area_m2 * jnp.asarray(r, jnp.float64) / HBAR

    @property
    def noise_per_shot(self) -> jax.Array:
        """Shot-noise-limited rotation noise per shot ``1/(C sqrt(N) 2 k_eff v T^2)`` [rad/s]."""
        return 1.0 / (self.contrast * jnp.sqrt(jnp.asarray(self.atom_number, jnp.float64)) * self.scale_factor)

    @property
    def sensitivity(self) -> jax.Array:
        """``noise_per_shot * sqrt(T_c)`` [rad/s/sqrt(Hz)]."""
        return self.noise_per_shot * jnp.sqrt(jnp.asarray(self.cycle_time_s, jnp.float64))

    def adev(self, tau: Any) -> jax.Array:
        """Allan deviation ``sensitivity / sqrt(tau)`` [rad/s]."""
        return self.sensitivity / jnp.sqrt(jnp.asarray(tau, jnp.float64))


def simulate(sensor: AtomAccelerometer | AtomGyroscope, key: jax.Array, n_shots: int = 4096,
             n_realisations: int = 16, taus: Any = "octave", ci: float = ONE_SIGMA) -> dict[str, jax.Array]:
    """Monte Carlo of an atom accelerometer or gyroscope measured shot by shot.

    Each shot: vibration phase ``k_eff T^2 delta a`` (white, :attr:`AtomAccelerometer.vibration_per_shot`;
    none for the gyroscope), mid-fringe detection of ``N`` atoms with contrast ``C`` and projection noise,
    phase estimated by inverting the fringe and divided by the scale factor. Returns ``tau_s (n_tau,)``,
    ``adev, adev_lo, adev_hi (n_realisations, n_tau)`` [m/s^2 or rad/s] with Greenhall-EDF intervals
    (white noise), ``adev_model (n_tau,)``, ``edf (n_tau,)``, ``measurement (n_realisations, n_shots)``
    (estimated acceleration or rotation per shot, signal included) and ``noise_per_shot``, ``sensitivity``
    (0-d arrays).
    """
    if not isinstance(sensor, (AtomAccelerometer, AtomGyroscope)):
        raise ValueError(f"sensor must be an AtomAccelerometer or AtomGyroscope, got {type(sensor).__name__}")
    sensor.validate()
    n_shots = checks.positive_int(n_shots, "n_shots", 4)
    n_realisations = checks.positive_int(n_realisations, "n_realisations")
    if isinstance(sensor, AtomAccelerometer):
        vib, signal = sensor.vibration_per_shot, sensor.acceleration_m_s2
    else:
        vib, signal = jnp.zeros(()), sensor.rotation_rad_s
    # plain arrays in: accelerometers and gyroscopes share one compilation
    f64 = lambda v: jnp.asarray(v, jnp.float64)  # noqa: E731
    return _simulate(key, f64(sensor.scale_factor), f64(vib), f64(sensor.atom_number), f64(sensor.contrast),
                     f64(sensor.cycle_time_s), f64(signal), f64(sensor.noise_per_shot), n_shots, n_realisations,
                     static_taus(taus), checks.levels(ci, "ci")[0])


@partial(jax.jit, static_argnums=(8, 9, 10, 11))
def _simulate(key, scale, vib_per_shot, atom_number, contrast, cycle_time, signal, noise_per_shot, n_shots,
              n_realisations, taus, ci):
    k_vib, k_det = jax.random.split(key)
    vib = vib_per_shot * standard_normal(k_vib, (n_realisations, n_shots))
    estimate = _readout(k_det, scale * vib, atom_number, contrast) / scale
    res = stability(estimate, 1.0 / cycle_time, 0, "oadev", "freq", taus, ci)
    sensitivity = noise_per_shot * jnp.sqrt(cycle_time)
    return {"tau_s": res["tau_s"], "adev": res["dev"], "adev_lo": res["dev_lo"], "adev_hi": res["dev_hi"],
            "adev_model": sensitivity / jnp.sqrt(res["tau_s"]), "edf": res["edf"],
            "measurement": signal + estimate, "noise_per_shot": noise_per_shot, "sensitivity": sensitivity}
