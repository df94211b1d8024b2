"""A horizontal free-space optical link through the turbulent atmosphere (analytic models).

A collimated Gaussian beam of waist W0 (1/e² intensity radius) at wavelength λ crosses L of
turbulence of constant Cn² to a circular receiver aperture of diameter D = 2a. The transmittance is
the product of (:meth:`FreeSpace.factors`):

1. the collection efficiency of the long-term beam, 1 - exp(-2a² / W_eff²), with
   W_eff² = W_LT² + 4 (L θ)²: W_LT the long-term beam radius in weak turbulence, W (1 + 1.33 σ_R²
   Λ^(5/6))^(1/2) (Andrews & Phillips, *Laser Beam Propagation through Random Media*, 2nd ed.,
   SPIE 2005, ch. 6), and θ the rms pointing jitter per axis (a Gaussian deflection of variance s²
   per axis widens the mean spot by 4s² in W²); deterministic;
2. atmospheric extinction exp(-σ_ext L) with σ_ext(λ) = (3.91 / V) (λ / 550 nm)^(-q) (km⁻¹) from
   the visibility V (Koschmieder's 2 % contrast threshold) and the size-distribution exponent q of
   Kim, McArthur and Korevaar, Proc. SPIE 4214, 26 (2001) (q = 1.6 for V > 50 km, 1.3 for
   6 < V <= 50 km, 0.16 V + 0.34 for 1 < V <= 6 km, V - 0.5 for 0.5 < V <= 1 km, 0 below) or of
   Kruse, McGlauchlin and McQuistan, *Elements of Infrared Technology* (Wiley, 1962) (1.6, 1.3, and
   0.585 V^(1/3) for V <= 6 km); deterministic;
3. an extra loss in dB (receiver optics, fibre coupling, ...);
4. the ``fading`` part: a unit-mean random factor (``none``, ``lognormal``, ``gamma_gamma``,
   ``beam_wander``). :meth:`FreeSpace.gamma_gamma_fading` and :meth:`FreeSpace.beam_wander_fading`
   build the factors of this link's own turbulence.

The reporting methods (:meth:`FreeSpace.rytov_variance`, :meth:`FreeSpace.fried_parameter_m`,
:meth:`FreeSpace.scintillation_index`, ...) are those of :mod:`kqjax.links.channels.turbulence` at
the link's parameters; the scintillation index is that of a spherical wave (the beam of a small
transmitter has diverged, Λ0 = 2L / k W0² >> 1, at the receivers of interest) averaged over the
receiver aperture.
"""
from __future__ import annotations

import jax.numpy as jnp

from kqjax.engine.params import component, param, part
from kqjax.links.base import _LN10_10, Channel, Factor
from kqjax.links.channels import turbulence as tb
from kqjax.links.channels.fiber import FixedLoss
from kqjax.links.channels.gamma_gamma import GammaGamma
from kqjax.links.channels.pointing import BeamWander

EXTINCTION_MODELS = ("kim", "kruse")


def size_exponent(visibility_km, model="kim"):
    """q(V) of the Kim (2001) or Kruse (1962) model (see the module docstring)."""
    v = jnp.asarray(visibility_km, jnp.float64)
    if model == "kim":
        low = jnp.where(v > 1.0, 0.16 * v + 0.34, jnp.where(v > 0.5, v - 0.5, 0.0))
    elif model == "kruse":
        low = 0.585 * v ** (1.0 / 3.0)
    else:
        raise ValueError(f"extinction model {model!r}: one of {', '.join(EXTINCTION_MODELS)}")
    return jnp.where(v > 50.0, 1.6, jnp.where(v > 6.0, 1.3, low))


def extinction_per_km(visibility_km, wavelength_nm, model="kim"):
    """Attenuation coefficient σ_ext = (3.91 / V) (λ / 550 nm)^(-q(V)) in km⁻¹ (of the power;
    4.343 σ_ext dB/km)."""
    v = jnp.asarray(visibility_km, jnp.float64)
    return 3.91 / v * (jnp.asarray(wavelength_nm, jnp.float64) / 550.0) ** (-size_exponent(v, model))


@component("channel", "free_space")
class FreeSpace(Channel):
    length_km: float = param(1.5, ge=0, le=1e4, unit="km", long_name="link length")
    wavelength_nm: float = param(1550.0, ge=200, le=20000, unit="nm", long_name="wavelength")
    cn2: float = param(1e-14, ge=0, le=1e-10, unit="m^-2/3", long_name="refractive-index structure parameter Cn2")
    beam_waist_m: float = param(0.01, gt=0, le=10, unit="m",
                                long_name="transmitter beam waist (1/e^2 intensity radius)")
    receiver_aperture_m: float = param(0.1, gt=0, le=100, unit="m", long_name="receiver aperture diameter")
    pointing_jitter_urad: float = param(2.0, ge=0, le=1e4, unit="urad", long_name="pointing jitter (rms per axis)")
    visibility_km: float = param(20.0, gt=0, le=1e4, unit="km", long_name="meteorological visibility")
    extinction_model: str = param("kim", choices=EXTINCTION_MODELS, long_name="visibility model of the extinction")
    extra_loss_db: float = param(0.0, ge=0, le=1000, unit="dB", long_name="extra loss (receiver optics, coupling)")
    fading: Factor = part("fading", "none")

    # ------------------------------------------------------------------------- link quantities

    def length_m(self):
        return jnp.asarray(self.length_km, jnp.float64) * 1e3

    def wavenumber(self):
        """k = 2π / λ (rad/m)."""
        return tb.wavenumber(jnp.asarray(self.wavelength_nm, jnp.float64) * 1e-9)

    def aperture_radius_m(self):
        return 0.5 * jnp.asarray(self.receiver_aperture_m, jnp.float64)

    def describe(self, t) -> dict:
        """Quantities for datasets: {name: (value, units, long name)}."""
        return {"rytov_variance": (self.rytov_variance(), "1", "Rytov variance (plane wave) 1.23 Cn2 k^(7/6) L^(11/6)"),
                "fried_parameter_m": (self.fried_parameter_m(), "m", "Fried parameter of the path"),
                "scintillation_index": (self.scintillation_index(), "1", "scintillation index at the receiver aperture"),
                "transmittance_mean": (self.transmittance(t), "1", "mean transmittance of the channel")}

    def rytov_variance(self):
        """Plane-wave Rytov variance σ_R² = 1.23 Cn² k^(7/6) L^(11/6)."""
        return tb.rytov_variance(self.cn2, self.wavenumber(), self.length_m())

    def spherical_rytov_variance(self):
        """Spherical-wave Rytov variance β0² = 0.5 Cn² k^(7/6) L^(11/6)."""
        return tb.spherical_rytov_variance(self.cn2, self.wavenumber(), self.length_m())

    def fried_parameter_m(self):
        """Plane-wave Fried parameter r0 = (0.423 k² Cn² L)^(-3/5) (m)."""
        return tb.fried_parameter_horizontal(self.cn2, self.wavenumber(), self.length_m())

    def isoplanatic_angle_rad(self):
        """θ0 = (2.91 x 3/8 k² Cn² L^(8/3))^(-3/5) (rad)."""
        return tb.isoplanatic_angle_horizontal(self.cn2, self.wavenumber(), self.length_m())

    def aperture_parameter(self):
        """d² = k D² / 4L of aperture averaging."""
        return tb.aperture_parameter(self.wavenumber(), self.receiver_aperture_m, self.length_m())

    def scintillation_index(self):
        """σ_I² of the power collected by the aperture: spherical wave, weak to strong
        turbulence, aperture averaged (Andrews & Phillips ch. 9, 10)."""
        return tb.scintillation_index(self.spherical_rytov_variance(), "spherical", self.aperture_parameter())

    def gamma_gamma_parameters(self):
        """(α, β) of the aperture-averaged spherical wave (∞ without turbulence)."""
        return tb.gamma_gamma_parameters(self.spherical_rytov_variance(), "spherical", self.aperture_parameter())

    def beam_radius_m(self):
        """Vacuum 1/e² radius W = W0 (1 + Λ0²)^(1/2) at the receiver, Λ0 = 2L / k W0²."""
        return tb.beam_parameters(self.beam_waist_m, self.wavenumber(), self.length_m())[2]

    def long_term_beam_radius_m(self):
        """W_LT = W (1 + 1.33 σ_R² Λ^(5/6))^(1/2) (Andrews & Phillips ch. 6)."""
        return tb.long_term_beam_radius(self.beam_waist_m, self.wavenumber(), self.length_m(), self.cn2)

    def beam_wander_variance_m2(self):
        """⟨r_c²⟩ = 2.42 Cn² L³ W0^(-1/3) (m²)."""
        return tb.beam_wander_variance(self.cn2, self.length_m(), self.beam_waist_m)

    def jitter_m(self):
        """rms deflection per axis from the pointing jitter, L θ (m)."""
        return self.length_m() * jnp.asarray(self.pointing_jitter_urad, jnp.float64) * 1e-6

    def effective_beam_radius_m(self):
        """W_eff = (W_LT² + 4 (L θ)²)^(1/2): the long-term beam widened by the pointing jitter."""
        return jnp.sqrt(self.long_term_beam_radius_m() ** 2 + 4.0 * self.jitter_m() ** 2)

    def collection_efficiency(self):
        """1 - exp(-2a² / W_eff²): the fraction of the long-term beam inside the aperture."""
        return -jnp.expm1(-2.0 * self.aperture_radius_m() ** 2 / self.effective_beam_radius_m() ** 2)

    def extinction_per_km(self):
        """σ_ext (km⁻¹) from the visibility at the wavelength."""
        return extinction_per_km(self.visibility_km, self.wavelength_nm, self.extinction_model)

    # ------------------------------------------------------------------------- fading of this link

    def gamma_gamma_fading(self) -> GammaGamma:
        """The gamma-gamma factor of this link's scintillation (aperture-averaged spherical wave);
        α and β at most 1e6, their bound (a factor within ~1e-3 of 1), where the turbulence
        vanishes."""
        alpha, beta = self.gamma_gamma_parameters()
        return GammaGamma(alpha=jnp.minimum(alpha, 1e6), beta=jnp.minimum(beta, 1e6))

    def beam_wander_fading(self) -> BeamWander:
        """The beam-wander factor of this link: short-term beam W_ST = (W_LT² - ⟨r_c²⟩)^(1/2)
        (not below the vacuum W), deflection σ² = ⟨r_c²⟩/2 + (L θ)² per axis, no offset. Its
        mean collection efficiency, close to 1 - exp(-2a² / (W_ST² + 4σ²)), differs from
        :meth:`collection_efficiency` by the factor-of-two looseness of W_LT² = W_ST² + ⟨r_c²⟩;
        the channel's mean is the latter."""
        rc2 = self.beam_wander_variance_m2()
        w_st = tb.short_term_beam_radius(self.beam_waist_m, self.wavenumber(), self.length_m(), self.cn2)
        sigma = jnp.sqrt(0.5 * rc2 + self.jitter_m() ** 2)
        return BeamWander(aperture_radius_m=self.aperture_radius_m(), beam_radius_m=w_st, sigma_m=sigma,
                          offset_m=jnp.zeros_like(sigma))

    # ------------------------------------------------------------------------- the channel

    def factors(self):
        """Collection efficiency of the long-term beam, extinction, the extra loss and the fading."""
        ln_collect = jnp.log(self.collection_efficiency())
        ln_extinction = -self.extinction_per_km() * jnp.asarray(self.length_km, jnp.float64)
        return (FixedLoss(-ln_collect / _LN10_10), FixedLoss(-ln_extinction / _LN10_10),
                FixedLoss(self.extra_loss_db), self.fading)
