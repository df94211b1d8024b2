"""A satellite pass: downlink or uplink between a LEO satellite and a ground telescope.

Geometry from :mod:`kqjax.links.channels.orbit` (``satellite``: circular orbit of ``altitude_km``,
a pass of highest elevation ``max_elevation_deg``) or from a TLE (``satellite_tle``,
:mod:`kqjax.links.channels.tle_pass`); the run's time window is the part of the pass above
``mask_deg``, t = 0 at rise. The link budget at slant range d and elevation theta is a product of
factors (Bourgoin et al., New J. Phys. 15, 023006, 2013, Sec. 4):

- diffraction and pointing: a Gaussian beam of waist w0 = D_T / 2 (``transmitter_aperture_m``)
  spreads to W(d)^2 = w0^2 [1 + (d / z_R)^2], z_R = pi w0^2 / lambda; pointing jitter of std
  sigma_p per axis (``pointing_jitter_urad``) averages the received irradiance as a beam of
  W_eff^2 = W^2 + 4 sigma_p^2 d^2 (E[exp(-2 r^2 / W^2)] over Gaussian deflections r); on an uplink
  the beam first crosses the turbulence at the transmitter and its long-term size grows by the
  seeing spread, W_eff^2 += 4 d^2 (lambda / (pi r0))^2 (Andrews & Phillips, 2nd ed., ch. 12, the
  short-exposure spread lambda / r0 of a beam larger than r0). The receiver of diameter D_R
  collects eta_diff = 1 - exp(-2 a^2 / W_eff^2), a = D_R / 2 (``receiver_aperture_m``);
- atmospheric extinction: eta_atm = T_zenith^(air mass), air mass of a spherical atmosphere
  (Kasten & Young 1989), T_zenith = ``zenith_transmittance``;
- the Fried parameter along the slant path scales as r0 = r0_zenith (lambda / 500 nm)^(6/5)
  sin(theta)^(3/5) from ``fried_parameter_zenith_cm`` at 500 nm (5 cm: HV5/7, Andrews &
  Phillips ch. 12);
- ``extra_loss_db`` (receiver optics, coupling) and an optional unit-mean ``fading`` factor.

A downlink's diffraction is set by the satellite's small aperture; an uplink's by the ground
telescope, plus the turbulent spread near it, and the satellite's small receiver: an uplink loses
more (about 10-20 dB here) for the same apertures.
"""
from __future__ import annotations

import abc
import dataclasses

import jax.numpy as jnp

from kqjax.engine.params import component, param, part
from kqjax.links.base import Channel, Factor
from kqjax.links.channels import orbit
from kqjax.links.channels.fiber import FixedLoss


@component("factor", "satellite_pass")
class PassLoss(Factor):
    """ln of diffraction, pointing and atmospheric transmittance along the pass, at time t."""

    channel: object = None

    time_varying = True

    def log_gain(self, t):
        return self.channel.log_budget(t)


@dataclasses.dataclass(frozen=True)
class PassLink(Channel):
    """The link budget of a pass; subclasses give the geometry (``geometry(t)``, ``window_s()``)."""

    direction: str = param("downlink", choices=("downlink", "uplink"), long_name="link direction")
    mask_deg: float = param(10.0, ge=0, lt=90, unit="deg", long_name="elevation mask")
    wavelength_nm: float = param(785.0, ge=300, le=2000, unit="nm", long_name="wavelength")
    transmitter_aperture_m: float = param(0.3, gt=0, le=10, unit="m", long_name="transmitter aperture diameter")
    receiver_aperture_m: float = param(1.0, gt=0, le=10, unit="m", long_name="receiver aperture diameter")
    pointing_jitter_urad: float = param(1.0, ge=0, le=1000, unit="urad", long_name="pointing jitter per axis (rms)")
    zenith_transmittance: float = param(0.9, gt=0, le=1, long_name="atmospheric transmittance at zenith")
    fried_parameter_zenith_cm: float = param(5.0, gt=0, le=100, unit="cm",
                                             long_name="Fried parameter at zenith, 500 nm")
    extra_loss_db: float = param(3.0, ge=0, le=100, unit="dB", long_name="extra loss (receiver optics, coupling)")
    fading: Factor = part("fading", "none")

    def factors(self):
        return (PassLoss(self), FixedLoss(self.extra_loss_db), self.fading)

    @abc.abstractmethod
    def geometry(self, t):
        """(elevation rad, slant range m) at time ``t`` s from the rise above the mask."""

    @abc.abstractmethod
    def window_s(self):
        """Duration of the pass above the mask, s: the run's time window."""

    def fried_parameter_m(self, t):
        """r0 along the slant path at the wavelength: r0_zenith (lambda/500 nm)^(6/5) sin(theta)^(3/5)."""
        theta, _ = self.geometry(t)
        return (self.fried_parameter_zenith_cm * 1e-2 * (self.wavelength_nm / 500.0) ** 1.2
                * jnp.maximum(jnp.sin(theta), 1e-6) ** 0.6)

    def beam_radius_m(self, t):
        """Effective beam radius at the receiver: diffraction, pointing and (uplink) turbulence."""
        _, d = self.geometry(t)
        lam = self.wavelength_nm * 1e-9
        w0 = self.transmitter_aperture_m / 2.0
        w2 = w0**2 * (1.0 + (d * lam / (jnp.pi * w0**2)) ** 2)
        w2 = w2 + 4.0 * (self.pointing_jitter_urad * 1e-6 * d) ** 2
        if self.direction == "uplink":
            w2 = w2 + 4.0 * (d * lam / (jnp.pi * self.fried_parameter_m(t))) ** 2
        return jnp.sqrt(w2)

    def log_budget(self, t):
        """ln(eta_diff eta_atm) at time t; the link is down outside the window."""
        theta, _ = self.geometry(t)
        a = self.receiver_aperture_m / 2.0
        log_diff = jnp.log(-jnp.expm1(-2.0 * a**2 / self.beam_radius_m(t) ** 2))
        log_atm = orbit.air_mass(theta) * jnp.log(self.zenith_transmittance)
        up = (t >= 0.0) & (t <= self.window_s())
        return jnp.where(up, log_diff + log_atm, -1.0e4)

    def describe(self, t) -> dict:
        """Per-time quantities for datasets: {name: (value, units, long name)}."""
        theta, d = self.geometry(t)
        return {**self.extra_description(t),"elevation_deg": (jnp.degrees(theta), "deg", "elevation of the satellite"),
                "range_km": (d / 1e3, "km", "slant range"),
                "loss_db": (self.loss_db(t), "dB", "channel loss (expected, without fading)"),
                "fried_parameter_m": (self.fried_parameter_m(t), "m", "Fried parameter along the slant path")}

    def extra_description(self, t) -> dict:
        return {}


@component("channel", "satellite")
class SatellitePass(PassLink):
    """A pass of a circular orbit of ``altitude_km`` with highest elevation ``max_elevation_deg``."""

    altitude_km: float = param(500.0, gt=150, le=40000, unit="km", long_name="circular orbit altitude")
    max_elevation_deg: float = param(70.0, gt=0, le=90, unit="deg", long_name="highest elevation of the pass")

    @staticmethod
    def relations(v: dict) -> list[tuple[str, str]]:
        return [("mask_deg", "must be < channel.max_elevation_deg (the pass must rise above the mask)")] \
            if (v["mask_deg"] >= v["max_elevation_deg"]).any() else []

    def _altitude_m(self):
        return self.altitude_km * 1e3

    def half_window_s(self):
        """Time from the rise above the mask to the highest elevation, s."""
        return orbit.pass_half_duration(self._altitude_m(), jnp.radians(self.max_elevation_deg),
                                        jnp.radians(self.mask_deg))

    def window_s(self):
        return 2.0 * self.half_window_s()

    def geometry(self, t):
        psi = orbit.pass_angle(t - self.half_window_s(), self._altitude_m(), jnp.radians(self.max_elevation_deg))
        return orbit.elevation(psi, self._altitude_m()), orbit.slant_range(psi, self._altitude_m())
