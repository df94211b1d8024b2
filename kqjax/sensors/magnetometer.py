"""Quantum magnetometers: NV-centre ODMR and optically pumped alkali-vapour magnetometers.

NV centre, continuous-wave ODMR with a Lorentzian line (Degen, Reinhard & Cappellaro, RMP 89, 035002,
2017, cw ODMR; Dréau et al., PRB 84, 195204, 2011)
    eta = (4 / (3 sqrt 3)) * h / (g mu_B) * Delta_nu / (C sqrt(R))        [T/sqrt(Hz)]
with linewidth ``Delta_nu`` (FWHM), ODMR contrast ``C`` and detected photon rate ``R``.

Optically pumped magnetometer (Budker & Romalis, Nat. Phys. 3, 227, 2007)
    spin-projection limit   delta B = 1 / (gamma sqrt(N T2 t)),
    photon shot noise       delta B = 1 / (2 phi_0 gamma T2 sqrt(Phi t)),
the second being the polarimeter angle noise ``1/(2 sqrt(Phi t))`` for ``Phi`` detected probe photons per
second divided by the slope ``d phi/dB = phi_0 gamma T2`` of the dispersive resonance (rotation
amplitude ``phi_0``); ``gamma = 2 pi * gyromagnetic_ratio_hz_per_t``. The two add in quadrature.

Sensitivity ``eta`` is quoted so that the field averaged over ``t`` has standard deviation
``eta / sqrt(t)``, i.e. white noise with Allan deviation ``eta / sqrt(tau)`` (``h_0 = 2 eta^2``). A technical
flicker floor (Allan deviation in tesla) may be added.
"""
from __future__ import annotations

import dataclasses
import math
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp

from kqjax.engine.params import component, param
from kqjax.engine.params import preset as config_preset
from kqjax.sensors import checks
from kqjax.sensors.allan import ONE_SIGMA, simulate_stability, static_taus
from kqjax.sensors.noise import avar, h_flicker_fm, h_white_fm

PLANCK = 6.62607015e-34  # J s
BOHR_MAGNETON = 9.2740100783e-24  # J/T


@component("sensor", "nv_magnetometer")
@dataclasses.dataclass(frozen=True)
class NVMagnetometer:
    """Continuous-wave ODMR magnetometer with NV centres in diamond."""

    linewidth_hz: float = param(1e6, unit="Hz", long_name="ODMR linewidth (FWHM)", ge=1)
    contrast: float = param(0.3, unit="1", long_name="ODMR contrast", ge=1e-6, le=1)
    photon_rate_hz: float = param(2e5, unit="s-1", long_name="detected photon count rate", ge=1)
    g_factor: float = param(2.0028, unit="1", long_name="NV electron g-factor", ge=1e-3)
    sample_time_s: float = param(1e-3, unit="s", long_name="sampling interval of the field record", ge=1e-9)
    flicker_floor_t: float = param(0.0, unit="T", long_name="technical flicker floor (Allan deviation)", ge=0)

    def validate(self) -> "NVMagnetometer":
        checks.check_fields(self)
        return self

    @classmethod
    def preset(cls, name: str) -> "NVMagnetometer":
        """The preset read from ``conf/sensor/<name>.yaml`` (the single source), kind ``nv_magnetometer``:
        ``nv_single``, ``nv_ensemble``."""
        return config_preset("sensor", name, cls.kind)

    @property
    def sensitivity(self) -> jax.Array:
        """``(4/(3 sqrt 3)) h/(g mu_B) Delta_nu / (C sqrt(R))`` [T/sqrt(Hz)] (Degen et al. 2017)."""
        return (4.0 / (3.0 * math.sqrt(3.0)) * PLANCK / (self.g_factor * BOHR_MAGNETON)
                * self.linewidth_hz / (self.contrast * jnp.sqrt(jnp.asarray(self.photon_rate_hz, jnp.float64))))

    def noise_h(self) -> dict[int, jax.Array]:
        """``{0: 2 eta^2, -1: floor^2/(2 ln 2)}`` in T^2/Hz."""
        return {0: h_white_fm(self.sensitivity), -1: h_flicker_fm(self.flicker_floor_t)}

    def adev(self, tau: Any) -> jax.Array:
        """Allan deviation of the field [T]."""
        return jnp.sqrt(avar(self.noise_h(), tau, 1.0 / jnp.asarray(self.sample_time_s)))


@component("sensor", "opm_magnetometer")
@dataclasses.dataclass(frozen=True)
class OpticallyPumpedMagnetometer:
    """Alkali-vapour optically pumped magnetometer, spin-projection and photon-shot-noise limited."""

    gyromagnetic_ratio_hz_per_t: float = param(7.0e9, unit="Hz T-1", long_name="gyromagnetic ratio gamma/2pi",
                                               gt=0)
    atom_number: float = param(1e11, unit="1", long_name="number of polarised atoms", ge=1)
    coherence_time_s: float = param(0.01, unit="s", long_name="transverse spin coherence time T2", gt=0)
    photon_flux_hz: float = param(1e15, unit="s-1", long_name="detected probe photon flux", gt=0)
    rotation_amplitude_rad: float = param(0.1, unit="rad", long_name="optical rotation amplitude phi_0", gt=0)
    sample_time_s: float = param(1e-3, unit="s", long_name="sampling interval of the field record", ge=1e-9)
    flicker_floor_t: float = param(0.0, unit="T", long_name="technical flicker floor (Allan deviation)", ge=0)

    def validate(self) -> "OpticallyPumpedMagnetometer":
        checks.check_fields(self)
        return self

    @classmethod
    def preset(cls, name: str) -> "OpticallyPumpedMagnetometer":
        """The preset read from ``conf/sensor/<name>.yaml`` (the single source), kind ``opm_magnetometer``:
        ``opm_rb_vapour_cell``, ``opm_serf_k``."""
        return config_preset("sensor", name, cls.kind)

    @property
    def gamma(self) -> jax.Array:
        """``2 pi * gyromagnetic_ratio_hz_per_t`` [rad/s/T]."""
        return 2.0 * math.pi * jnp.asarray(self.gyromagnetic_ratio_hz_per_t, jnp.float64)

    @property
    def spin_projection(self) -> jax.Array:
        """``1 / (gamma sqrt(N T2))`` [T/sqrt(Hz)] (Budker & Romalis 2007)."""
        return 1.0 / (self.gamma * jnp.sqrt(jnp.asarray(self.atom_number, jnp.float64) * self.coherence_time_s))

    @property
    def photon_shot_noise(self) -> jax.Array:
        """``1 / (2 phi_0 gamma T2 sqrt(Phi))`` [T/sqrt(Hz)]."""
        return 1.0 / (2.0 * self.rotation_amplitude_rad * self.gamma * self.coherence_time_s
                      * jnp.sqrt(jnp.asarray(self.photon_flux_hz, jnp.float64)))

    @property
    def sensitivity(self) -> jax.Array:
        """Quadrature sum of spin-projection and photon shot noise [T/sqrt(Hz)]."""
        return jnp.sqrt(self.spin_projection ** 2 + self.photon_shot_noise ** 2)

    def noise_h(self) -> dict[int, jax.Array]:
        """``{0: 2 eta^2, -1: floor^2/(2 ln 2)}`` in T^2/Hz."""
        return {0: h_white_fm(self.sensitivity), -1: h_flicker_fm(self.flicker_floor_t)}

    def adev(self, tau: Any) -> jax.Array:
        """Allan deviation of the field [T]."""
        return jnp.sqrt(avar(self.noise_h(), tau, 1.0 / jnp.asarray(self.sample_time_s)))


def simulate(sensor: NVMagnetometer | OpticallyPumpedMagnetometer, key: jax.Array, n_samples: int = 4096,
             n_realisations: int = 16, taus: Any = "octave", ci: float = ONE_SIGMA) -> dict[str, jax.Array]:
    """Monte Carlo field-noise records sampled every ``sample_time_s`` and their Allan deviation.

    Returns ``tau_s (n_tau,)``, ``adev, adev_lo, adev_hi (n_realisations, n_tau)`` [T] with Greenhall-EDF
    intervals, ``adev_model (n_tau,)``, ``edf (n_tau,)``, ``field_noise_t (n_realisations, n_samples)`` and
    ``sensitivity`` (0-d, T/sqrt(Hz)).
    """
    if not isinstance(sensor, (NVMagnetometer, OpticallyPumpedMagnetometer)):
        raise ValueError(f"sensor must be an NVMagnetometer or OpticallyPumpedMagnetometer, "
                         f"got {type(sensor).__name__}")
    sensor.validate()
    n_samples = checks.positive_int(n_samples, "n_samples", 4)
    n_realisations = checks.positive_int(n_realisations, "n_realisations")
    return _simulate(sensor, key, n_samples, n_realisations, static_taus(taus), checks.levels(ci, "ci")[0])


@partial(jax.jit, static_argnums=(2, 3, 4, 5))
def _simulate(sensor, key, n_samples, n_realisations, taus, ci):
    # generate in units of the white level so that the data are O(1), then scale to tesla
    eta = sensor.sensitivity
    h = {a: v / eta ** 2 for a, v in sensor.noise_h().items()}
    out = simulate_stability(key, h, n_samples, 1.0 / jnp.asarray(sensor.sample_time_s, jnp.float64),
                             n_realisations, taus, ci, scale=eta)
    out["field_noise_t"] = out.pop("samples")
    out["sensitivity"] = eta
    return out
