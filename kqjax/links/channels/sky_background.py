"""Background light of a free-space receiver: sky radiance, photons per detection gate, clicks.

A receiver of aperture area A (diameter D), full field of view θ_fov (solid angle
Ω = π (θ_fov / 2)²), filter bandwidth Δλ and gate Δt, with optics transmission η_rx from the
aperture to one detector, collects from a sky of spectral radiance L (W m⁻² sr⁻¹ nm⁻¹)

    n_bg = L Ω A Δλ Δt η_rx / (h c / λ)                               photons per gate and detector

(Miao et al., New J. Phys. 7, 215 (2005); Bourgoin et al., New J. Phys. 15, 023006 (2013), Sec. 5),
and a detector of efficiency η_D clicks on them with probability 1 - exp(-η_D n_bg). η_rx includes
the split of the light among the receiver's detectors (one half for a passive basis choice).

Sky radiance (``sky``):

- ``night``: constant radiances of a dark site in the I band (about 800 nm), from the night-sky
  surface brightness in magnitudes per square arcsecond: I = 19.9 without the Moon (Patat, A&A 400,
  1183, 2003, ESO Paranal) and I = 17.5 at full moon (Walker, NOAO Newsletter 10, 16, 1987, the ESO
  table of sky brightness against lunar phase), converted with the I-band zero point
  1.13e-11 W m⁻² nm⁻¹ (Bessell, Castelli, Plez, A&A 333, 231, 1998) and 4.25e10 arcsec² per sr:
  5.3e-9 and 4.8e-8 W m⁻² sr⁻¹ nm⁻¹. A light-polluted site is 10-100 times brighter: give its
  measured radiance with ``sky=radiance``.
- ``day`` (the Sun at ``sun_elevation_deg``) and ``sun`` (the Sun where the channel puts it, e.g.
  along a TLE pass): a clear sky. Its zenith luminance is the clear-sky fit of Karayel, Navvab,
  Ne'eman and Selkowitz, Energy Build. 6, 283 (1984), the one of the Radiance ``gensky`` program,

      L_z = [(1.376 T - 1.81) tan γ_s + 0.38] kcd m⁻²

  (T the Linke turbidity, γ_s the Sun's elevation, capped at 85°), distributed over the sky as the
  CIE clear sky (CIE 1973; Kittler), the luminance relative to the zenith's at zenith angle Z and
  angular distance χ from the Sun (Z_s the Sun's zenith angle)

      L / L_z = f(χ) φ(Z) / (f(Z_s) φ(0)),  f(χ) = 0.91 + 10 exp(-3χ) + 0.45 cos²χ,
      φ(Z) = 1 - exp(-0.32 / cos Z),

  and converted to spectral radiance at λ for sunlight scattered by air molecules, the spectrum
  S(λ) ∝ B(λ, 5778 K) λ⁻⁴ (Rayleigh): L(λ) = L_v S(λ) / (683 lm W⁻¹ ∫ V S dλ) with the CIE
  photopic curve V (its Gaussian fit 1.019 exp(-285.4 (λ/µm - 0.559)²)). At 785 nm, T = 2.75 and
  the Sun at 45°, the zenith gives 5.3e-3 W m⁻² sr⁻¹ nm⁻¹. Hazy skies are redder (aerosol
  scattering falls as λ^-1.3): give a measured radiance with ``sky=radiance`` for them. With the
  Sun below the horizon the zenith radiance falls log-linearly in the Sun's elevation from its
  value at sunset (0°) to the night's at -18° (the end of astronomical twilight), and is uniform.
- ``radiance``: ``radiance_w_m2_sr_nm`` everywhere.

A receiver on a satellite (an uplink) looks down on the Earth: by day a Lambertian ground of
albedo ρ lit by the Sun, L = ρ E_sun(λ) sin γ_s / π (E_sun the solar spectral irradiance above the
atmosphere, a 5778 K black body scaled to 1361 W m⁻²); by night the night radiances above.
"""
from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

from kqjax.engine.params import component, param

H_PLANCK = 6.62607015e-34
C_LIGHT = 299792458.0
K_BOLTZMANN = 1.380649e-23
T_SUN = 5778.0
SOLAR_CONSTANT = 1361.0
"""Total solar irradiance above the atmosphere, W m⁻² (Kopp & Lean, GRL 38, L01706, 2011)."""
K_M = 683.0
"""Luminous efficacy of 555 nm light, lm W⁻¹."""
SR_PER_ARCSEC2 = (math.pi / 180.0 / 3600.0) ** 2
I_BAND_ZERO_POINT = 1.13e-11
"""Spectral irradiance of magnitude 0 in the I band, W m⁻² nm⁻¹ (Bessell et al. 1998)."""
NIGHT_MAGNITUDES = {"none": 19.9, "full": 17.5}
"""I-band night-sky surface brightness, mag arcsec⁻² (Patat 2003; Walker 1987)."""
TWILIGHT_END_DEG = -18.0


def magnitude_radiance(mag_per_arcsec2):
    """Spectral radiance (W m⁻² sr⁻¹ nm⁻¹) of an I-band surface brightness in mag arcsec⁻²."""
    return I_BAND_ZERO_POINT * 10.0 ** (-0.4 * mag_per_arcsec2) / SR_PER_ARCSEC2


NIGHT_RADIANCE = {k: magnitude_radiance(m) for k, m in NIGHT_MAGNITUDES.items()}


def planck(wavelength_nm, temperature=T_SUN):
    """Black-body spectral radiance B(λ, T), W m⁻² sr⁻¹ nm⁻¹."""
    lam = jnp.asarray(wavelength_nm, jnp.float64) * 1e-9
    x = H_PLANCK * C_LIGHT / (lam * K_BOLTZMANN * temperature)
    return 2.0 * H_PLANCK * C_LIGHT**2 / lam**5 / jnp.expm1(x) * 1e-9


def _sun_irradiance_scale():
    """E_sun(λ) = scale x B(λ, T_sun): the black body scaled to the solar constant."""
    return SOLAR_CONSTANT / (5.670374419e-8 * T_SUN**4 / math.pi)


def solar_irradiance(wavelength_nm):
    """Solar spectral irradiance above the atmosphere, W m⁻² nm⁻¹ (5778 K black body, 1361 W m⁻²)."""
    return _sun_irradiance_scale() * planck(wavelength_nm)


def photopic(wavelength_nm):
    """CIE photopic luminosity V(λ), Gaussian fit 1.019 exp(-285.4 (λ/µm - 0.559)²)."""
    lam_um = jnp.asarray(wavelength_nm, jnp.float64) * 1e-3
    return 1.019 * jnp.exp(-285.4 * (lam_um - 0.559) ** 2)


def _rayleigh_sky(wavelength_nm):
    return planck(wavelength_nm) * (jnp.asarray(wavelength_nm, jnp.float64) / 550.0) ** -4


def _luminous_integral():
    """∫ V S dλ of the Rayleigh sky spectrum S over 360-830 nm (numpy: computed at import)."""
    lam = np.linspace(360.0, 830.0, 941)
    x = H_PLANCK * C_LIGHT / (lam * 1e-9 * K_BOLTZMANN * T_SUN)
    s = 2.0 * H_PLANCK * C_LIGHT**2 / (lam * 1e-9) ** 5 / np.expm1(x) * 1e-9 * (lam / 550.0) ** -4
    v = 1.019 * np.exp(-285.4 * (lam * 1e-3 - 0.559) ** 2)
    return float(np.sum(0.5 * (v[1:] * s[1:] + v[:-1] * s[:-1]) * np.diff(lam)))


_LUMINOUS = _luminous_integral()


def luminance_to_radiance(luminance_cd_m2, wavelength_nm):
    """Spectral radiance at λ (W m⁻² sr⁻¹ nm⁻¹) of a sky of luminance L_v (cd m⁻²) with the
    Rayleigh-scattered solar spectrum: L_v S(λ) / (683 ∫ V S dλ)."""
    return luminance_cd_m2 * _rayleigh_sky(wavelength_nm) / (K_M * _LUMINOUS)


def zenith_luminance(sun_elevation_rad, turbidity=2.75):
    """Clear-sky zenith luminance (cd m⁻²), Karayel et al. (1984):
    1000 [(1.376 T - 1.81) tan γ_s + 0.38], γ_s in [0, 85°]."""
    g = jnp.clip(sun_elevation_rad, 0.0, math.radians(85.0))
    return 1000.0 * ((1.376 * turbidity - 1.81) * jnp.tan(g) + 0.38)


def _f(chi):
    return 0.91 + 10.0 * jnp.exp(-3.0 * chi) + 0.45 * jnp.cos(chi) ** 2


def _phi(zenith):
    return -jnp.expm1(-0.32 / jnp.maximum(jnp.cos(zenith), 1e-6))


def cie_clear_sky(view_elevation_rad, sun_elevation_rad, relative_azimuth_rad):
    """L / L_z of the CIE clear sky at a view direction (elevation, azimuth from the Sun's)."""
    z = jnp.pi / 2 - jnp.clip(view_elevation_rad, 0.0, jnp.pi / 2)
    zs = jnp.pi / 2 - jnp.clip(sun_elevation_rad, 0.0, jnp.pi / 2)
    cos_chi = jnp.cos(zs) * jnp.cos(z) + jnp.sin(zs) * jnp.sin(z) * jnp.cos(relative_azimuth_rad)
    chi = jnp.arccos(jnp.clip(cos_chi, -1.0, 1.0))
    return _f(chi) * _phi(z) / (_f(zs) * _phi(0.0))


def clear_sky_radiance(wavelength_nm, view_elevation_rad, sun_elevation_rad, relative_azimuth_rad,
                       turbidity=2.75, night_radiance=NIGHT_RADIANCE["none"]):
    """Spectral radiance (W m⁻² sr⁻¹ nm⁻¹) of a clear sky in a view direction: by day the CIE
    clear sky scaled to the Karayel zenith luminance, in twilight (Sun between 0 and -18°) the
    zenith radiance log-linear in the Sun's elevation down to ``night_radiance``, at night that."""
    day = (luminance_to_radiance(zenith_luminance(sun_elevation_rad, turbidity), wavelength_nm)
           * cie_clear_sky(view_elevation_rad, sun_elevation_rad, relative_azimuth_rad))
    sunset = luminance_to_radiance(zenith_luminance(0.0, turbidity), wavelength_nm)
    frac = jnp.clip(jnp.degrees(sun_elevation_rad) / TWILIGHT_END_DEG, 0.0, 1.0)
    twilight = jnp.exp((1.0 - frac) * jnp.log(sunset) + frac * jnp.log(night_radiance))
    return jnp.where(sun_elevation_rad > 0.0, day, twilight)


def ground_radiance(wavelength_nm, sun_elevation_rad, albedo=0.3, night_radiance=NIGHT_RADIANCE["none"]):
    """Radiance of the sunlit Earth seen from above: ρ E_sun(λ) sin γ_s / π, not below the night's."""
    day = albedo * solar_irradiance(wavelength_nm) * jnp.sin(jnp.maximum(sun_elevation_rad, 0.0)) / jnp.pi
    return jnp.maximum(day, night_radiance)


def photons_per_gate(radiance, wavelength_nm, fov_rad, aperture_m, filter_nm, gate_s, efficiency=1.0):
    """n_bg = L Ω A Δλ Δt η_rx / (h c / λ), Ω = π (θ_fov / 2)², A = π D² / 4."""
    omega = jnp.pi * (0.5 * fov_rad) ** 2
    area = jnp.pi * (0.5 * aperture_m) ** 2
    energy = H_PLANCK * C_LIGHT / (jnp.asarray(wavelength_nm, jnp.float64) * 1e-9)
    return radiance * omega * area * filter_nm * gate_s * efficiency / energy


def click_probability(photons, detector_efficiency):
    """P(a detector clicks on the background) = 1 - exp(-η_D n_bg)."""
    return -jnp.expm1(-detector_efficiency * photons)


# ----------------------------------------------------------------------------- the parts


@component("background", "none")
class NoBackground:
    """No background light."""

    active = False

    def photons(self, wavelength_nm, aperture_m, view_elevation_rad=0.0, sun_elevation_rad=None,
                relative_azimuth_rad=None, looking_down=False):
        return jnp.zeros(())


@component("background", "sky")
class SkyBackground:
    """Sky light through the receiver: photons per gate and detector from the sky's radiance."""

    sky: str = param("day", choices=("day", "sun", "night", "radiance"),
                     long_name="sky: day (Sun at sun_elevation_deg), sun (the channel's Sun), night, radiance")
    moon: str = param("none", choices=("none", "full"), long_name="Moon of the night sky")
    radiance_w_m2_sr_nm: float = param(1e-3, ge=0, le=10, unit="W m-2 sr-1 nm-1",
                                       long_name="sky spectral radiance (sky=radiance)")
    sun_elevation_deg: float = param(45.0, ge=-90, le=90, unit="deg",
                                     long_name="elevation of the Sun (sky=day, or a channel without its own)")
    relative_azimuth_deg: float = param(90.0, ge=-360, le=360, unit="deg",
                                        long_name="azimuth of the view from the Sun's (channels without their own)")
    turbidity: float = param(2.75, ge=1.5, le=10, long_name="Linke turbidity of the clear sky")
    albedo: float = param(0.3, ge=0, le=1, long_name="ground albedo (receiver looking down)")
    fov_urad: float = param(100.0, gt=0, le=1e5, unit="urad", long_name="receiver field of view (full angle)")
    filter_nm: float = param(1.0, gt=0, le=1000, unit="nm", long_name="filter bandwidth")
    gate_ns: float = param(1.0, gt=0, le=1e6, unit="ns", long_name="detection gate width")
    optics_efficiency: float = param(0.5, gt=0, le=1,
                                     long_name="receiver optics transmission to each detector")

    active = True

    def night_radiance(self):
        """Night-sky radiance with or without the full Moon (W m⁻² sr⁻¹ nm⁻¹)."""
        return NIGHT_RADIANCE[self.moon]

    def radiance(self, wavelength_nm, view_elevation_rad=0.0, sun_elevation_rad=None,
                 relative_azimuth_rad=None, looking_down=False):
        """Spectral radiance seen by the receiver (W m⁻² sr⁻¹ nm⁻¹); ``sun_elevation_rad`` and
        ``relative_azimuth_rad`` are the channel's own (None: this part's fields)."""
        if self.sky == "radiance":
            return jnp.asarray(self.radiance_w_m2_sr_nm, jnp.float64)
        if self.sky == "night":
            return jnp.asarray(self.night_radiance(), jnp.float64)
        own = self.sky == "sun" and sun_elevation_rad is not None
        sun = sun_elevation_rad if own else jnp.radians(self.sun_elevation_deg)
        az = relative_azimuth_rad if own and relative_azimuth_rad is not None else jnp.radians(self.relative_azimuth_deg)
        if looking_down:
            return ground_radiance(wavelength_nm, sun, self.albedo, self.night_radiance())
        return clear_sky_radiance(wavelength_nm, view_elevation_rad, sun, az, self.turbidity, self.night_radiance())

    def photons(self, wavelength_nm, aperture_m, view_elevation_rad=0.0, sun_elevation_rad=None,
                relative_azimuth_rad=None, looking_down=False):
        """Background photons per gate reaching each detector (n_bg of the module docstring)."""
        radiance = self.radiance(wavelength_nm, view_elevation_rad, sun_elevation_rad, relative_azimuth_rad,
                                 looking_down)
        return photons_per_gate(radiance, wavelength_nm, self.fov_urad * 1e-6, aperture_m, self.filter_nm,
                                self.gate_ns * 1e-9, self.optics_efficiency)
