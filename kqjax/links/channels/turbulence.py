"""Optical turbulence of a free-space path: Rytov variances, Fried parameter, isoplanatic angle,
scintillation index, gamma-gamma parameters, long-term beam size and beam wander.

Pure ``jnp`` functions (float64, ``vmap``/``grad`` friendly) of SI quantities: wavenumber ``k``
(rad/m, :func:`wavenumber`), path length ``length_m`` (m), Cn² (m^-2/3), beam and aperture sizes
(m). Kolmogorov turbulence, zero inner scale and infinite outer scale throughout. The source of
every formula is L. C. Andrews and R. L. Phillips, *Laser Beam Propagation through Random Media*,
2nd ed. (SPIE Press, 2005), "A&P" below:

- Rytov variance of a plane wave (A&P ch. 5 and 8), σ_R² = 1.23 Cn² k^(7/6) L^(11/6); of a
  spherical wave, β0² = 0.5 Cn² k^(7/6) L^(11/6); of a Gaussian beam on its axis (A&P ch. 8), with
  Θ, Λ the beam parameters at the receiver (:func:`beam_parameters`)::

      σ_B² = 3.86 σ_R² {0.40 [(1 + 2Θ)² + 4Λ²]^(5/12) cos[(5/6) atan((1 + 2Θ) / 2Λ)] - (11/16) Λ^(5/6)}

  (σ_B² → σ_R² for a plane wave, Θ = 1, Λ = 0; → 0.4 σ_R² ≈ β0² for a spherical wave, Θ = Λ = 0).
  On a slant path (A&P ch. 12), σ_R² = 2.25 k^(7/6) sec^(11/6)(ζ) ∫ Cn²(h) (h - h0)^(5/6) dh for a
  downlink (plane wave), with the extra weight (1 - (h - h0)/(H - h0))^(5/6) for an uplink
  (spherical wave to a receiver at height H); for a constant Cn² up to H these are 1.227 and
  0.496 Cn² k^(7/6) L^(11/6).
- Fried parameter (A&P ch. 6 and 12), r0 = (0.423 k² sec(ζ) ∫ Cn²(h) dh)^(-3/5) for a plane wave,
  (0.423 k² Cn² L)^(-3/5) on a horizontal path; a spherical wave on a horizontal path has the
  weight (z/L)^(5/3), i.e. 0.423 x 3/8 ≈ 0.16 in place of 0.423.
- Isoplanatic angle (A&P ch. 12), θ0 = (2.91 k² sec^(8/3)(ζ) ∫ Cn²(h) (h - h0)^(5/3) dh)^(-3/5); on a
  horizontal path of constant Cn², θ0 = (2.91 x 3/8 k² Cn² L^(8/3))^(-3/5).
- Scintillation index from weak to strong fluctuations (extended Rytov theory, A&P ch. 9, and
  with aperture averaging over a receiver of diameter D, A&P ch. 10): σ_I² = exp(σ²_lnX + σ²_lnY)
  - 1 with the large- and small-scale log-irradiance variances (:func:`log_irradiance_variances`)::

      plane wave:     σ²_lnX = 0.49 σ_R² / (1 + 0.65 d² + 1.11 σ_R^(12/5))^(7/6)
                      σ²_lnY = 0.51 σ_R² (1 + 0.69 σ_R^(12/5))^(-5/6) / (1 + 0.90 d² + 0.62 d² σ_R^(12/5))
      spherical wave: σ²_lnX = 0.49 β0² / (1 + 0.18 d² + 0.56 β0^(12/5))^(7/6)
                      σ²_lnY = 0.51 β0² (1 + 0.69 β0^(12/5))^(-5/6) / (1 + 0.90 d² + 0.62 d² β0^(12/5))
      Gaussian beam (on axis, point receiver, d = 0):
                      σ²_lnX = 0.49 σ_B² / (1 + 0.56 (1 + Θ) σ_B^(12/5))^(7/6)
                      σ²_lnY = 0.51 σ_B² / (1 + 0.69 σ_B^(12/5))^(5/6)

  d = sqrt(k D² / 4L) (:func:`aperture_parameter`); d = 0 is a point receiver. The gamma-gamma
  parameters (A&P ch. 11; Al-Habash, Andrews, Phillips, Opt. Eng. 40, 1554 (2001)) are
  α = 1 / (exp(σ²_lnX) - 1), β = 1 / (exp(σ²_lnY) - 1), so that σ_I² = 1/α + 1/β + 1/(αβ).
- Gaussian beam of waist W0 (1/e² intensity radius) and phase-front radius F0 at the transmitter
  (A&P ch. 4): Θ0 = 1 - L/F0, Λ0 = 2L / (k W0²), W = W0 sqrt(Θ0² + Λ0²), Θ = Θ0 / (Θ0² + Λ0²),
  Λ = Λ0 / (Θ0² + Λ0²); F0 = ∞ is a collimated beam.
- Long-term beam radius in weak fluctuations (A&P ch. 6), W_LT = W (1 + 1.33 σ_R² Λ^(5/6))^(1/2);
  beam wander of a collimated beam (A&P ch. 6, infinite outer scale), the mean square of the
  displacement of the beam centroid ⟨r_c²⟩ = 2.42 Cn² L³ W0^(-1/3); the short-term radius
  W_ST² = W_LT² - ⟨r_c²⟩ (A&P ch. 6), not below the vacuum radius W.
"""
from __future__ import annotations

import jax.numpy as jnp

from kqjax.links.channels.cn2_profile import path_integral, path_moment


def _f(x):
    return jnp.asarray(x, jnp.float64)


def wavenumber(wavelength_m):
    """k = 2π / λ (rad/m)."""
    return 2.0 * jnp.pi / _f(wavelength_m)


# ----------------------------------------------------------------------------- Rytov variances


def rytov_variance(cn2, k, length_m):
    """Plane-wave Rytov variance σ_R² = 1.23 Cn² k^(7/6) L^(11/6) (A&P ch. 5)."""
    return 1.23 * _f(cn2) * _f(k) ** (7.0 / 6.0) * _f(length_m) ** (11.0 / 6.0)


def spherical_rytov_variance(cn2, k, length_m):
    """Spherical-wave Rytov variance β0² = 0.5 Cn² k^(7/6) L^(11/6) (A&P ch. 5)."""
    return 0.5 * _f(cn2) * _f(k) ** (7.0 / 6.0) * _f(length_m) ** (11.0 / 6.0)


def beam_parameters(w0, k, length_m, focus_m=jnp.inf):
    """(Θ, Λ, W) of a Gaussian beam of waist ``w0`` and phase-front radius ``focus_m`` (∞:
    collimated) after ``length_m`` in vacuum (A&P ch. 4); W is the 1/e² intensity radius."""
    w0, k, length = _f(w0), _f(k), _f(length_m)
    theta0 = 1.0 - length / _f(focus_m)
    lam0 = 2.0 * length / (k * w0**2)
    n = theta0**2 + lam0**2
    return theta0 / n, lam0 / n, w0 * jnp.sqrt(n)


def gaussian_beam_rytov_variance(cn2, k, length_m, w0, focus_m=jnp.inf):
    """On-axis weak-fluctuation scintillation index of a Gaussian beam σ_B² (A&P ch. 8)::

        3.86 σ_R² {0.40 [(1 + 2Θ)² + 4Λ²]^(5/12) cos[(5/6) atan((1 + 2Θ) / 2Λ)] - (11/16) Λ^(5/6)}
    """
    theta, lam, _ = beam_parameters(w0, k, length_m, focus_m)
    s = rytov_variance(cn2, k, length_m)
    angle = jnp.arctan2(1.0 + 2.0 * theta, 2.0 * lam)
    return 3.86 * s * (0.40 * ((1.0 + 2.0 * theta) ** 2 + 4.0 * lam**2) ** (5.0 / 12.0)
                       * jnp.cos(5.0 / 6.0 * angle) - 11.0 / 16.0 * lam ** (5.0 / 6.0))


def rytov_variance_slant(k, profile, h0=0.0, h1=30e3, zenith_rad=0.0, wave="plane", end=None):
    """Rytov variance of a slant path through the turbulence from ``h0`` to ``h1`` (A&P ch. 12)::

        2.25 k^(7/6) sec^(11/6)(ζ) ∫ Cn²(h) (h - h0)^(5/6) [1 - (h - h0)/(H - h0)]^(5/6 if spherical) dh

    ``wave="plane"``: a downlink from above ``h1`` (σ_R²); ``"spherical"``: an uplink from a point
    source at ``h0`` to a receiver at height H = ``end`` (default ``h1``; a satellite's is far above
    the turbulence, where the taper is near 1) (β0²)."""
    if wave not in ("plane", "spherical"):
        raise ValueError(f"wave={wave!r}: plane or spherical")
    taper = 5.0 / 6.0 if wave == "spherical" else 0.0
    return 2.25 * _f(k) ** (7.0 / 6.0) * path_moment(profile, h0, h1, zenith_rad, 5.0 / 6.0, taper, end)


# ----------------------------------------------------------------------------- coherence


def fried_parameter(k, cn2_path_integral):
    """Plane-wave Fried parameter r0 = (0.423 k² ∫ Cn² dz)^(-3/5) (m) of the path integral
    ∫ Cn² dz (m^1/3; sec ζ ∫ Cn²(h) dh on a slant path), A&P ch. 6 and 12."""
    return (0.423 * _f(k) ** 2 * _f(cn2_path_integral)) ** (-3.0 / 5.0)


def fried_parameter_horizontal(cn2, k, length_m, wave="plane"):
    """r0 of a horizontal path of constant Cn²: (0.423 k² Cn² L)^(-3/5) for a plane wave,
    (0.423 x 3/8 k² Cn² L)^(-3/5) for a spherical wave (A&P ch. 6)."""
    if wave not in ("plane", "spherical"):
        raise ValueError(f"wave={wave!r}: plane or spherical")
    weight = 3.0 / 8.0 if wave == "spherical" else 1.0
    return fried_parameter(k, weight * _f(cn2) * _f(length_m))


def fried_parameter_slant(k, profile, h0=0.0, h1=30e3, zenith_rad=0.0):
    """Plane-wave r0 = (0.423 k² sec(ζ) ∫_{h0}^{h1} Cn²(h) dh)^(-3/5) of a slant path (A&P ch. 12)."""
    return fried_parameter(k, path_integral(profile, h0, h1, zenith_rad))


def isoplanatic_angle(k, cn2_moment_53):
    """θ0 = (2.91 k² μ)^(-3/5) (rad) of the moment μ = ∫ Cn² z^(5/3) dz along the path (m^2;
    sec^(8/3)(ζ) ∫ Cn²(h) (h - h0)^(5/3) dh on a slant path), A&P ch. 12."""
    return (2.91 * _f(k) ** 2 * _f(cn2_moment_53)) ** (-3.0 / 5.0)


def isoplanatic_angle_slant(k, profile, h0=0.0, h1=30e3, zenith_rad=0.0):
    """θ0 = (2.91 k² sec^(8/3)(ζ) ∫ Cn²(h) (h - h0)^(5/3) dh)^(-3/5) of a slant path (A&P ch. 12)."""
    return isoplanatic_angle(k, path_moment(profile, h0, h1, zenith_rad, 5.0 / 3.0))


def isoplanatic_angle_horizontal(cn2, k, length_m):
    """θ0 of a horizontal path of constant Cn²: μ = Cn² (3/8) L^(8/3)."""
    return isoplanatic_angle(k, 3.0 / 8.0 * _f(cn2) * _f(length_m) ** (8.0 / 3.0))


# ----------------------------------------------------------------------------- scintillation


def aperture_parameter(k, diameter_m, length_m):
    """d² = k D² / (4 L) of aperture averaging (A&P ch. 10); ∞ at L = 0."""
    return _f(k) * _f(diameter_m) ** 2 / (4.0 * _f(length_m))


def log_irradiance_variances(rytov, wave="plane", d2=None, theta=1.0):
    """(σ²_lnX, σ²_lnY): large- and small-scale log-irradiance variances of extended Rytov
    theory (A&P ch. 9; aperture averaged, A&P ch. 10), see the module docstring.

    ``rytov`` is σ_R² for ``wave="plane"``, β0² for ``"spherical"``, σ_B² for ``"gaussian"``
    (Gaussian beam on axis, with ``theta`` its Θ at the receiver). ``d2`` = k D² / 4L
    (:func:`aperture_parameter`) or None for a point receiver; the Gaussian-beam form has no
    aperture averaging here.
    """
    s = _f(rytov)
    s125 = jnp.maximum(s, 0.0) ** (6.0 / 5.0)  # σ^(12/5)
    if wave == "gaussian":
        if d2 is not None:
            raise ValueError("no aperture averaging for a Gaussian beam: use wave=plane or wave=spherical")
        x = 0.49 * s / (1.0 + 0.56 * (1.0 + _f(theta)) * s125) ** (7.0 / 6.0)
        y = 0.51 * s / (1.0 + 0.69 * s125) ** (5.0 / 6.0)
        return x, y
    if wave not in ("plane", "spherical"):
        raise ValueError(f"wave={wave!r}: plane, spherical or gaussian")
    d2 = jnp.zeros(()) if d2 is None else _f(d2)
    cx, kx = (0.65, 1.11) if wave == "plane" else (0.18, 0.56)
    x = 0.49 * s / (1.0 + cx * d2 + kx * s125) ** (7.0 / 6.0)
    d2_s125 = jnp.where(s125 > 0, d2, 0.0) * s125  # ~ L^(6/5) -> 0 as L -> 0 (not inf * 0)
    y = 0.51 * s * (1.0 + 0.69 * s125) ** (-5.0 / 6.0) / (1.0 + 0.90 * d2 + 0.62 * d2_s125)
    return x, y


def scintillation_index(rytov, wave="plane", d2=None, theta=1.0):
    """σ_I² = exp(σ²_lnX + σ²_lnY) - 1 from weak to strong fluctuations (A&P ch. 9, 10): the
    normalised variance of the (aperture-averaged) irradiance. → ``rytov`` in weak turbulence,
    → 1 + O(σ_R^(-4/5)) in strong (plane wave, point receiver)."""
    x, y = log_irradiance_variances(rytov, wave, d2, theta)
    return jnp.expm1(x + y)


def gamma_gamma_parameters(rytov, wave="plane", d2=None, theta=1.0):
    """(α, β) = (1 / (exp(σ²_lnX) - 1), 1 / (exp(σ²_lnY) - 1)) of the gamma-gamma irradiance
    model (A&P ch. 11; Al-Habash, Andrews, Phillips 2001); ∞ without turbulence."""
    x, y = log_irradiance_variances(rytov, wave, d2, theta)
    return 1.0 / jnp.expm1(x), 1.0 / jnp.expm1(y)


# ----------------------------------------------------------------------------- beam size and wander


def long_term_beam_radius(w0, k, length_m, cn2, focus_m=jnp.inf):
    """Long-term (averaged over the wander) 1/e² radius W_LT = W (1 + 1.33 σ_R² Λ^(5/6))^(1/2) of a
    Gaussian beam in weak fluctuations (A&P ch. 6); W, Λ those of :func:`beam_parameters`."""
    _, lam, w = beam_parameters(w0, k, length_m, focus_m)
    pos = lam > 0
    lam56 = jnp.where(pos, jnp.where(pos, lam, 1.0) ** (5.0 / 6.0), 0.0)  # differentiable at L = 0
    return w * jnp.sqrt(1.0 + 1.33 * rytov_variance(cn2, k, length_m) * lam56)


def beam_wander_variance(cn2, length_m, w0):
    """⟨r_c²⟩ = 2.42 Cn² L³ W0^(-1/3) (m²): mean-square displacement of the centroid of a
    collimated Gaussian beam (A&P ch. 6, infinite outer scale); the per-axis variance is half."""
    return 2.42 * _f(cn2) * _f(length_m) ** 3 * _f(w0) ** (-1.0 / 3.0)


def short_term_beam_radius(w0, k, length_m, cn2):
    """W_ST = (W_LT² - ⟨r_c²⟩)^(1/2) of a collimated beam (A&P ch. 6), not below the vacuum W."""
    _, _, w = beam_parameters(w0, k, length_m)
    w_lt = long_term_beam_radius(w0, k, length_m, cn2)
    return jnp.sqrt(jnp.maximum(w_lt**2 - beam_wander_variance(cn2, length_m, w0), w**2))
