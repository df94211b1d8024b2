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
   ``beam_wander``, ``elliptic_beam`` with explicit parameters), or ``turbulence``
   (:class:`TurbulenceFading`): the factors of this link's own turbulence, built from its fields
   by :meth:`FreeSpace.gamma_gamma_fading`, :meth:`FreeSpace.lognormal_fading`,
   :meth:`FreeSpace.beam_wander_fading` and :meth:`FreeSpace.elliptic_beam_fading`.

The reporting methods (:meth:`FreeSpace.rytov_variance`, :meth:`FreeSpace.fried_parameter_m`,
:meth:`FreeSpace.scintillation_index`, ...) are those of :mod:`kqjax.links.channels.turbulence` at
the link's parameters; the scintillation index is that of a spherical wave (the beam of a small
transmitter has diverged, Λ0 = 2L / k W0² >> 1, at the receivers of interest) averaged over the
receiver aperture.

With ``model = "wave_optics"`` factors 1 and 4 come instead from a bank of ``wave_realisations``
transmittance samples drawn once per run (:meth:`FreeSpace.prepare`) by split-step propagation of
the beam through ``wave_screens`` von Kármán phase screens (:mod:`.wave_optics`): their mean as a
deterministic factor and a unit-mean factor picking one of them uniformly (the ``fading`` part is
not used: the bank holds diffraction, scintillation, beam wander and the pointing jitter).
"""
from __future__ import annotations

import dataclasses
import warnings

import jax.numpy as jnp

from kqjax.engine.params import component, param, part
from kqjax.links.base import _LN10_10, Channel, ChannelFading, Factor
from kqjax.links.channels import sky_background  # noqa: F401  (registers the background parts)
from kqjax.links.channels import turbulence as tb
from kqjax.links.channels import wave_optics as wo
from kqjax.links.channels.elliptic_beam import EllipticBeam
from kqjax.links.channels.fiber import FixedLoss
from kqjax.links.channels.gamma_gamma import GammaGamma
from kqjax.links.channels.lognormal_fading import LognormalFading
from kqjax.links.channels.pointing import BeamWander

EXTINCTION_MODELS = ("kim", "kruse")
MODELS = ("analytic", "wave_optics")


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


SCINTILLATION_MODELS = ("gamma_gamma", "lognormal", "none")
BEAM_MODELS = ("beam_wander", "elliptic_beam", "none")


@component("fading", "turbulence")
class TurbulenceFading(ChannelFading):
    """The fading of the channel's own turbulence: a scintillation factor (gamma-gamma, or
    log-normal of the same scintillation index) times a beam factor (beam wander or the elliptic
    beam, with the pointing jitter), the product of Farid & Hranilovic, J. Lightwave Technol. 25,
    1702 (2007). Its parameters follow the channel's fields (:meth:`resolve`), so it is used over
    a channel that has a turbulence (``free_space``)."""

    scintillation: str = param("gamma_gamma", choices=SCINTILLATION_MODELS, long_name="scintillation model")
    beam: str = param("beam_wander", choices=BEAM_MODELS, long_name="beam wander / deformation model")

    CHANNELS = ("free_space",)

    def resolve(self, channel) -> tuple:
        """The unit-mean factors of ``channel``'s turbulence."""
        out = {"gamma_gamma": channel.gamma_gamma_fading, "lognormal": channel.lognormal_fading,
               "beam_wander": channel.beam_wander_fading, "elliptic_beam": channel.elliptic_beam_fading}
        return tuple(out[k]() for k in (self.scintillation, self.beam) if k != "none")

    def beyond_validity(self, channel) -> list[str]:
        """Where a model it takes is used beyond its stated range, plane-wave σ_R² <= 1: the elliptic
        beam is Vasylyev, Semenov, Vogel's (2016) model of weak to moderate turbulence, the beam
        wander's long-term beam and wander are A&P's weak-fluctuation formulas (ch. 6)."""
        if self.beam == "none":
            return []
        rytov = jnp.atleast_1d(channel.rytov_variance())
        beyond = int(jnp.sum(rytov > 1.0))
        if not beyond:
            return []
        what = {"elliptic_beam": "models weak to moderate turbulence",
                "beam_wander": "takes its long-term beam and wander from weak-fluctuation theory"}[self.beam]
        return [f"beam={self.beam} {what} (plane-wave Rytov variance <= 1); "
                f"{beyond} of {rytov.size} points are beyond it (up to {float(jnp.max(rytov)):.3g})"]


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
    background: object = part("background", "none")
    model: str = param("analytic", choices=MODELS, long_name="transmittance model")
    wave_grid_points: int = param(256, ge=32, le=4096, integer=True, static=True,
                                  long_name="wave optics: grid points per side")
    wave_grid_spacing_m: float = param(0.0, ge=0, le=1.0, unit="m", long_name="wave optics: grid spacing (0: auto)")
    wave_screens: int = param(5, ge=1, le=100, integer=True, static=True, long_name="wave optics: phase screens")
    wave_realisations: int = param(256, ge=2, le=1000000, integer=True, static=True,
                                   long_name="wave optics: transmittance samples in the bank")
    outer_scale_m: float = param(10.0, gt=0, le=1e6, unit="m", long_name="wave optics: turbulence outer scale L0")
    transmittance_bank: object = dataclasses.field(default=None, metadata={"data": True})

    # ------------------------------------------------------------------------- background light

    @property
    def has_background(self) -> bool:
        return self.background.active

    def background_photons(self, t=0.0):
        """Background photons per gate at each detector from the ``background`` part (``sky``: the
        sky at the horizon in the receiver's field of view, :mod:`.sky_background`)."""
        return self.background.photons(self.wavelength_nm, self.receiver_aperture_m, 0.0)

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
                "transmittance_mean": (self.transmittance(t), "1", "mean transmittance of the channel"),
                **({"scintillation_index_wave_optics": (self.wave_optics_scintillation_index(), "1",
                    "normalised variance of the wave-optics transmittance samples")}
                   if self.model == "wave_optics" else {})}

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
        vanishes (and on a path of zero length)."""
        alpha, beta = (jnp.where(jnp.isnan(p), 1e6, jnp.minimum(p, 1e6)) for p in self.gamma_gamma_parameters())
        return GammaGamma(alpha=alpha, beta=beta)

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

    def lognormal_fading(self) -> LognormalFading:
        """The log-normal factor of this link's scintillation index: σ² = ln(1 + σ_I²) (σ at most 5;
        0 on a path of zero length)."""
        sigma = jnp.minimum(jnp.sqrt(jnp.log1p(self.scintillation_index())), 5.0)
        return LognormalFading(sigma=jnp.where(jnp.isnan(sigma), 0.0, sigma))

    def fresnel_parameter(self):
        """Ω = k W0² / 2L (at most 1e6, its bound, on a vanishing path)."""
        w0 = jnp.asarray(self.beam_waist_m, jnp.float64)
        return jnp.minimum(self.wavenumber() * w0**2 / (2.0 * jnp.maximum(self.length_m(), 1e-300)), 1e6)

    def elliptic_beam_fading(self) -> EllipticBeam:
        """The elliptic-beam factor of this link (Vasylyev, Semenov, Vogel 2016): its aperture,
        waist, Fresnel parameter and Rytov variance, and the pointing jitter L θ per axis."""
        return EllipticBeam(aperture_radius_m=self.aperture_radius_m(), beam_waist_m=jnp.asarray(self.beam_waist_m, jnp.float64),
                            fresnel_parameter=self.fresnel_parameter(), rytov_variance=self.rytov_variance(),
                            jitter_m=self.jitter_m())

    def fading_factors(self) -> tuple:
        """The random factors: the ``fading`` part, or those of this link's turbulence."""
        resolve = getattr(self.fading, "resolve", None)
        return resolve(self) if resolve is not None else (self.fading,)

    # ------------------------------------------------------------------------- wave optics

    def wave_optics_spacing_m(self):
        """The grid spacing: ``wave_grid_spacing_m``, or :func:`.wave_optics.auto_spacing` where 0."""
        auto = wo.auto_spacing(self.wave_grid_points, self.wavelength_nm * 1e-9, self.length_m(), self.cn2,
                               self.beam_waist_m, self.aperture_radius_m(), self.wave_screens,
                               self.pointing_jitter_urad * 1e-6)
        return jnp.where(self.wave_grid_spacing_m > 0, self.wave_grid_spacing_m, auto)

    def wave_optics_problems(self) -> tuple[list, list]:
        """(errors, warnings) of the wave-optics grid at this point (:func:`.wave_optics.grid_problems`)."""
        return wo.grid_problems(self.wave_grid_points, float(self.wave_grid_spacing_m), self.wavelength_nm * 1e-9,
                                float(self.length_m()), self.cn2, self.beam_waist_m, float(self.aperture_radius_m()),
                                self.wave_screens, self.pointing_jitter_urad * 1e-6,
                                {"points": "wave_grid_points", "spacing": "wave_grid_spacing_m",
                                 "screens": "wave_screens"})

    def validate(self) -> "FreeSpace":
        """Refuse a wave-optics grid that cannot represent the beam and the turbulence (the first
        problem, with its numbers); warn where it is marginal."""
        if self.model != "wave_optics":
            return self
        errors, marginal = self.wave_optics_problems()
        if errors:
            raise ValueError(errors[0])
        for text in marginal:
            warnings.warn(f"channel model wave_optics: {text}", stacklevel=2)
        return self

    def wave_optics_samples(self, key, count: int | None = None):
        """``count`` (default ``wave_realisations``) wave-optics transmittances into the aperture
        (single precision fields, double precision sums: float32 and float64 agree to ~1e-6)."""
        return wo.transmittance_samples(
            key, self.wave_realisations if count is None else count, wavelength=self.wavelength_nm * 1e-9,
            length=self.length_m(), cn2=self.cn2, waist=self.beam_waist_m, aperture_radius=self.aperture_radius_m(),
            n=self.wave_grid_points, spacing=self.wave_optics_spacing_m(), screens=self.wave_screens,
            outer_scale=self.outer_scale_m, jitter_rad=self.pointing_jitter_urad * 1e-6, dtype=jnp.float32)

    def prepare(self, key) -> "FreeSpace":
        """With ``model = "wave_optics"``, a copy holding the bank of :meth:`wave_optics_samples`."""
        if self.model != "wave_optics":
            return self
        return dataclasses.replace(self, transmittance_bank=self.wave_optics_samples(key))

    def drawn_per_run(self):
        """``("model", "wave_optics")`` when the transmittances are a bank drawn per run."""
        return ("model", self.model) if self.model == "wave_optics" else None

    def _bank(self):
        if self.transmittance_bank is None:
            raise ValueError("channel.model=wave_optics: the transmittance bank is drawn when a run starts "
                             "(Channel.prepare, mode=simulate); mode=optimize and evaluate need model=analytic")
        return jnp.maximum(jnp.asarray(self.transmittance_bank, jnp.float64), 1e-300)

    def wave_optics_scintillation_index(self):
        """Normalised variance of the bank's transmittances, var / mean²."""
        bank = self._bank()
        return jnp.var(bank) / jnp.mean(bank) ** 2

    # ------------------------------------------------------------------------- the channel

    @property
    def random(self) -> bool:
        return True if self.model == "wave_optics" else Channel.random.fget(self)

    @property
    def time_varying(self) -> bool:
        return False if self.model == "wave_optics" else Channel.time_varying.fget(self)

    def factors(self):
        """Collection efficiency of the long-term beam, extinction, the extra loss and the fading;
        with wave optics the bank's mean and a uniform pick from the bank (:class:`.wave_optics.SampleBank`)
        instead of the collection efficiency and the fading."""
        ln_extinction = -self.extinction_per_km() * jnp.asarray(self.length_km, jnp.float64)
        fixed = (FixedLoss(-ln_extinction / _LN10_10), FixedLoss(self.extra_loss_db))
        if self.model == "wave_optics":
            bank = self._bank()
            mean = jnp.mean(bank)
            return (FixedLoss(-jnp.log(mean) / _LN10_10), *fixed, wo.SampleBank(jnp.log(bank / mean)))
        ln_collect = jnp.log(self.collection_efficiency())
        return (FixedLoss(-ln_collect / _LN10_10), *fixed, *self.fading_factors())
