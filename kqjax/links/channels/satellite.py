"""A satellite pass: downlink or uplink between a LEO satellite and a ground telescope.

Geometry from :mod:`kqjax.links.channels.orbit` (``satellite``: circular orbit of ``altitude_km``,
a pass of highest elevation ``max_elevation_deg``) or from a TLE (``satellite_tle``,
:mod:`kqjax.links.channels.tle_pass`); the run's time window is the part of the pass above
``mask_deg``, t = 0 at rise. The link budget at slant range d and elevation theta is a product of
factors (Bourgoin et al., New J. Phys. 15, 023006, 2013, Sec. 4):

- diffraction and pointing: the transmitter aperture of diameter D_T (``transmitter_aperture_m``)
  illuminated by a Gaussian beam at the optimal truncation (1/e² radius 0.446 D_T) has the far-field
  gain 0.8145 (4 pi A / lambda²) (Klein & Degnan, Appl. Opt. 13, 2134, 1974): no illumination beats
  the uniform one's 4 pi A / lambda², so no aperture transmits more than Friis's A_T A_R / (lambda d)²
  into a small receiver. The beam is the Gaussian of that gain on axis, waist
  w0 = D_T sqrt(0.8145 / 8) = 0.319 D_T (a far-field 1/e² half-angle lambda / (pi w0) = 1.00
  lambda / D_T); it spreads to W(d)^2 = w0^2 [1 + (d / z_R)^2], z_R = pi w0^2 / lambda; pointing jitter of std
  sigma_p per axis (``pointing_jitter_urad``) averages the received irradiance as a beam of
  W_eff^2 = W^2 + 4 sigma_p^2 d^2 (E[exp(-2 r^2 / W^2)] over Gaussian deflections r); on an uplink
  the beam first crosses the turbulence at the transmitter and its long-term size grows by the
  seeing spread, W_eff^2 += 4 d^2 (lambda / (pi r0))^2 (Andrews & Phillips, 2nd ed., ch. 12, the
  short-exposure spread lambda / r0 of a beam larger than r0). The receiver of diameter D_R
  collects eta_diff = 1 - exp(-2 a^2 / W_eff^2), a = D_R / 2 (``receiver_aperture_m``);
- atmospheric extinction: eta_atm = T_zenith^(air mass), air mass of a spherical atmosphere
  (Kasten & Young 1989), T_zenith = ``zenith_transmittance``;
- the Fried parameter along the slant path, r0 = (0.423 k² sec(zeta) ∫ Cn²(h) dh)^(-3/5), from the
  ``cn2_profile`` part (:mod:`kqjax.links.channels.cn2_profile`): ``seeing`` (default) is HV5/7
  scaled to ``fried_parameter_zenith_cm`` at 500 nm, r0 = r0_zenith (lambda / 500 nm)^(6/5)
  sin(theta)^(3/5); ``hv``, ``constant`` and ``table`` (a CSV of height_m, cn2) give it from
  their own Cn²(h) (Andrews & Phillips ch. 12);
- ``extra_loss_db`` (receiver optics, coupling) and an optional unit-mean ``fading`` factor;
- with ``scintillation``, a unit-mean turbulent fading whose law follows the elevation at each
  time (:class:`PassScintillation`): on a downlink log-normal with the aperture-averaged
  plane-wave scintillation index of the slant path (extended Rytov theory, A&P ch. 9, 10, 12;
  sigma² = ln(1 + sigma_I²)); on an uplink the beam wander at the satellite, which dominates there
  (A&P ch. 12: <r_c²> = 0.54 d² (lambda / 2W0)² (2W0 / r0)^(5/3), W0 = w0), a small receiver collecting
  (1 + kappa) U^kappa of the mean, U uniform, kappa = 2 <r_c²> / W_ST².

The ``background`` part (``none``, or ``sky``: :mod:`kqjax.links.channels.sky_background`) gives
the background photons per gate at each detector along the pass (``background_photons(t)``): the
sky behind the satellite on a downlink, the Earth below it on an uplink; a TLE pass's Sun sets day,
twilight or night.

A downlink's diffraction is set by the satellite's small aperture; an uplink's by the ground
telescope, plus the turbulent spread near it, and the satellite's small receiver: with the same
apertures an uplink loses more (the experiments' 1 m and 0.3 m: 16 dB more at 70 deg, 25 dB at
the 10 deg mask).
"""
from __future__ import annotations

import abc
import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

from kqjax.engine.params import component, param, part
from kqjax.links.base import Channel, Factor
from kqjax.links.channels import cn2_profile, orbit, sky_background  # noqa: F401  (registers the parts)
from kqjax.links.channels import turbulence as tb
from kqjax.links.channels.fiber import FixedLoss
from kqjax.links.channels.lognormal_fading import LognormalFading

_LAGUERRE_X, _LAGUERRE_W = np.polynomial.laguerre.laggauss(64)
_LAGUERRE_W = _LAGUERRE_W / _LAGUERRE_W.sum()
APERTURE_GAIN = 0.8145  # far-field gain of an optimally truncated Gaussian over a uniform aperture's (Klein & Degnan 1974)


@component("factor", "satellite_pass")
class PassLoss(Factor):
    """ln of diffraction, pointing and atmospheric transmittance along the pass, at time t."""

    channel: object = None

    time_varying = True

    def log_gain(self, t):
        return self.channel.log_budget(t)


@component("factor", "pass_scintillation")
class PassScintillation(Factor):
    """Unit-mean turbulent fading along the pass, its law following the elevation at time t:
    log-normal scintillation on a downlink, beam wander on an uplink (``PassLink`` methods)."""

    channel: object = None

    random = True
    time_varying = True

    def sample_log(self, key, t, shape=()):
        return self.channel.scintillation_sample_log(key, t, shape)

    def quadrature_at(self, t, ceiling=jnp.inf):
        """(ln factor at the nodes, weights) of its law at time ``t``."""
        return self.channel.scintillation_quadrature(t, ceiling)

    def quadrature(self, ceiling=jnp.inf):
        """Its law at t = 0 (the rise above the mask); the channel's ``nodes(t)`` uses the law at t."""
        return self.quadrature_at(0.0, ceiling)


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
    cn2_profile: object = part("cn2_profile", "seeing")
    scintillation: bool = param(False, choices=(False, True),
                                long_name="turbulent fading from the Cn2 profile along the pass")
    background: object = part("background", "none")

    def factors(self):
        turbulent = (PassScintillation(self),) if self.scintillation else ()
        return (PassLoss(self), FixedLoss(self.extra_loss_db), self.fading, *turbulent)

    @abc.abstractmethod
    def geometry(self, t):
        """(elevation rad, slant range m) at time ``t`` s from the rise above the mask."""

    @abc.abstractmethod
    def window_s(self):
        """Duration of the pass above the mask, s: the run's time window."""

    def fried_parameter_m(self, t):
        """Plane-wave r0 along the slant path at the wavelength from the Cn² profile,
        (0.423 k² sec(zeta) ∫ Cn² dh)^(-3/5); with the ``seeing`` profile (HV5/7 scaled to the
        zenith r0 at 500 nm) in closed form, r0_zenith (lambda/500 nm)^(6/5) sin(theta)^(3/5)."""
        theta, _ = self.geometry(t)
        if self.cn2_profile.scaled:
            return (self.fried_parameter_zenith_cm * 1e-2 * (self.wavelength_nm / 500.0) ** 1.2
                    * jnp.maximum(jnp.sin(theta), 1e-6) ** 0.6)
        return tb.fried_parameter_slant(self.wavenumber(), self.cn2, 0.0, self.cn2_profile.top_m(),
                                        self.zenith_rad(t))

    # ------------------------------------------------------------------ turbulence along the path

    def wavenumber(self):
        return tb.wavenumber(jnp.asarray(self.wavelength_nm, jnp.float64) * 1e-9)

    def zenith_rad(self, t):
        """Zenith angle of the path at time ``t`` (not beyond 89.9 deg: flat-Earth path integrals)."""
        theta, _ = self.geometry(t)
        return jnp.pi / 2 - jnp.maximum(theta, jnp.radians(0.1))

    def cn2_scale(self):
        """Factor on the ``seeing`` profile that makes its zenith r0 at 500 nm the configured one
        (1 for the other profiles)."""
        if not self.cn2_profile.scaled:
            return 1.0
        k500 = tb.wavenumber(500e-9)
        target = (self.fried_parameter_zenith_cm * 1e-2) ** (-5.0 / 3.0) / (0.423 * k500**2)
        return target / cn2_profile.path_integral(self.cn2_profile.at, 0.0, self.cn2_profile.top_m())

    def cn2(self, h):
        """Cn²(h) of the path, m^-2/3 at heights ``h`` (m) above the station."""
        return self.cn2_scale() * self.cn2_profile.at(h)

    def rytov_variance(self, t):
        """Slant-path Rytov variance (A&P ch. 12): plane wave on a downlink (sigma_R²), spherical
        wave on an uplink (beta0²), 2.25 k^(7/6) sec^(11/6) ∫ Cn² h^(5/6) [(1 - h/H)^(5/6)] dh with
        H = d cos(zeta) the satellite's height on the flat-layer path (slant range d), so that the
        taper is (1 - z/d) along the path."""
        wave = "spherical" if self.direction == "uplink" else "plane"
        zenith = self.zenith_rad(t)
        end = self.geometry(t)[1] * jnp.cos(zenith)
        return tb.rytov_variance_slant(self.wavenumber(), self.cn2, 0.0, self.cn2_profile.top_m(),
                                       zenith, wave, end)

    def aperture_parameter(self, t):
        """d² = k D_R² / 4L of the receiver over the turbulent path L = H sec(zeta)."""
        length = self.cn2_profile.top_m() / jnp.cos(self.zenith_rad(t))
        return tb.aperture_parameter(self.wavenumber(), self.receiver_aperture_m, length)

    def beam_wander_variance_m2(self, t):
        """Uplink beam wander at the satellite, <r_c²> = 0.54 d² (lambda / 2W0)² (2W0 / r0)^(5/3)
        (A&P ch. 12, collimated beam, d the slant range, W0 the beam's waist); 0 on a downlink."""
        if self.direction != "uplink":
            return jnp.zeros_like(jnp.asarray(t, jnp.float64))
        _, d = self.geometry(t)
        lam = self.wavelength_nm * 1e-9
        w0 = self.beam_waist_m()
        return 0.54 * d**2 * (lam / (2.0 * w0)) ** 2 * (2.0 * w0 / self.fried_parameter_m(t)) ** (5.0 / 3.0)

    def wander_exponent(self, t):
        """kappa = 2 <r_c²> / W_ST² with the short-term beam W_ST² = W_LT² - <r_c²> (A&P ch. 6, 12;
        W_LT the budget's beam, not below the vacuum beam): a receiver much smaller than the beam,
        offset by a wander r (|r|² exponential of mean <r_c²>), collects exp(-2 r² / W_ST²) = U^kappa
        (U uniform) of the centred beam, of mean 1/(1 + kappa)."""
        rc2 = self.beam_wander_variance_m2(t)
        w_st2 = jnp.maximum(self.beam_radius_m(t) ** 2 - rc2, self.vacuum_beam_radius_m(t) ** 2)
        return 2.0 * rc2 / w_st2

    def scintillation_index(self, t):
        """Normalised variance of the received power: downlink, the aperture-averaged plane-wave
        sigma_I² of extended Rytov theory (A&P ch. 9, 10, 12) on the slant path; uplink, that of the
        beam wander, kappa² / (1 + 2 kappa)."""
        if self.direction == "uplink":
            kappa = self.wander_exponent(t)
            return kappa**2 / (1.0 + 2.0 * kappa)
        return tb.scintillation_index(self.rytov_variance(t), "plane", self.aperture_parameter(t))

    def _lognormal(self, t):
        return LognormalFading(sigma=jnp.sqrt(jnp.log1p(self.scintillation_index(t))))

    def scintillation_sample_log(self, key, t, shape=()):
        """ln of unit-mean realisations of the turbulent fading at time ``t``: downlink
        exp(sigma z - sigma²/2), sigma² = ln(1 + sigma_I²); uplink (1 + kappa) U^kappa."""
        if self.direction == "uplink":
            kappa = self.wander_exponent(t)
            u = jax.random.uniform(key, shape, jnp.float64, minval=jnp.finfo(jnp.float64).tiny)
            return kappa * jnp.log(u) + jnp.log1p(kappa)
        return self._lognormal(t).sample_log(key, t, shape)

    def scintillation_quadrature(self, t, ceiling=jnp.inf):
        """(ln factor, weights) at time ``t``: the log-normal rule (downlink), or Gauss-Laguerre in
        -ln U, exponential (uplink)."""
        if self.direction == "uplink":
            kappa = self.wander_exponent(t)
            return -kappa * jnp.asarray(_LAGUERRE_X) + jnp.log1p(kappa), jnp.asarray(_LAGUERRE_W)
        return self._lognormal(t).quadrature(ceiling)

    def nodes(self, t=0.0):
        """As :meth:`Channel.nodes`, the turbulent fading taking its law at time ``t``."""
        log_eta = jnp.atleast_1d(self.log_transmittance(t))
        w = jnp.ones(1)
        random = [f for f in self.factors() if f.random]
        for f in random:
            ceiling = -log_eta[0] if len(random) == 1 else jnp.inf
            x, v = f.quadrature_at(t, ceiling) if isinstance(f, PassScintillation) else f.quadrature(ceiling)
            log_eta = (log_eta[:, None] + x[None, :]).reshape(-1)
            w = (w[:, None] * v[None, :]).reshape(-1)
        return jnp.exp(jnp.minimum(log_eta, 0.0)), w

    # ------------------------------------------------------------------ background light

    @property
    def has_background(self) -> bool:
        return self.background.active

    def sun_position(self, t):
        """(elevation, azimuth of the view from the Sun's) in rad, or (None, None) when the channel
        does not follow the Sun (the background part's fields then give them)."""
        return None, None

    def background_photons(self, t):
        """Background photons per gate at each detector at time ``t``: the sky behind the satellite
        (downlink), or the Earth below it (uplink), through the receiver's aperture."""
        theta, _ = self.geometry(t)
        sun, azimuth = self.sun_position(t)
        return self.background.photons(self.wavelength_nm, self.receiver_aperture_m, theta, sun, azimuth,
                                       looking_down=self.direction == "uplink")

    def beam_waist_m(self):
        """Waist of the transmitted Gaussian beam, w0 = D_T sqrt(g / 8): on axis in the far field it
        has the gain g 4 pi A / lambda² of the aperture optimally illuminated, g = 0.8145 (Klein &
        Degnan 1974; 2 pi w0² / (lambda d)² = g A_T / (lambda d)²)."""
        return self.transmitter_aperture_m * math.sqrt(APERTURE_GAIN / 8.0)

    def vacuum_beam_radius_m(self, t):
        """Beam radius at the receiver from diffraction and pointing alone."""
        _, d = self.geometry(t)
        lam = self.wavelength_nm * 1e-9
        w0 = self.beam_waist_m()
        w2 = w0**2 * (1.0 + (d * lam / (jnp.pi * w0**2)) ** 2)
        return jnp.sqrt(w2 + 4.0 * (self.pointing_jitter_urad * 1e-6 * d) ** 2)

    def beam_radius_m(self, t):
        """Effective beam radius at the receiver: diffraction, pointing and (uplink) turbulence."""
        _, d = self.geometry(t)
        lam = self.wavelength_nm * 1e-9
        w2 = self.vacuum_beam_radius_m(t) ** 2
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
                "fried_parameter_m": (self.fried_parameter_m(t), "m", "Fried parameter along the slant path"),
                "scintillation_index": (self.scintillation_index(t), "1",
                                        "scintillation index of the received power (uplink: beam wander)"),
                **({"background_photons": (self.background_photons(t), "1",
                                           "background photons per gate at each detector")}
                   if self.has_background else {})}

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
