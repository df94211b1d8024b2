"""The elliptic-beam model of a turbulent link: a randomly deformed, broadened and wandering
Gaussian beam on a circular aperture, as a unit-mean fading factor.

Model of Vasylyev, Semenov and Vogel, "Atmospheric quantum channels with weak and strong
turbulence", PRL 117, 090501 (2016) (arXiv:1604.01373). At the receiver the beam is an elliptic
Gaussian with semi-axes W1, W2 (1/e² intensity), the W1 axis at angle φ to the x axis, centred at
(x0, y0) = r0 (cos φ0, sin φ0). Its transmittance through an aperture of radius a is approximated by

    η = η0 exp{-[r0 / R(2/W_eff(φ - φ0))]^λ(2/W_eff(φ - φ0))}

with R and λ the scale and shape of the circular-beam formula of Vasylyev, Semenov, Vogel,
PRL 108, 220501 (2012) (:func:`kqjax.links.channels.pointing.vasylyev_shape`) for a beam of radius
W_eff(χ),

    W_eff²(χ) = 4a² / 𝒲(4a²/(W1 W2) exp[(a²/W1²)(1 + 2cos²χ) + (a²/W2²)(1 + 2sin²χ)])

(𝒲 the Lambert function), and η0, the transmittance of the centred beam,

    η0 = 1 - I0(a²(1/W1² - 1/W2²)) e^(-a²(1/W1² + 1/W2²))
           - 2 [1 - e^(-(a²/2)(1/W1 - 1/W2)²)] exp{-[a (W1+W2)/|W1-W2| / R(1/W1 - 1/W2)]^λ(1/W1 - 1/W2)}

(R(ξ), λ(ξ): the circular shape for a beam of radius 2/|ξ|). For W1 = W2 = W this is the circular
formula of :mod:`kqjax.links.channels.pointing` exactly.

Statistics (weak turbulence, the paper's horizontal-link moments): x0, y0 independent normal of
variance 0.33 W0² σ_R² Ω^(-7/6) (plus the pointing jitter's variance per axis), φ uniform on
[0, π/2), Θ_i = ln(W_i²/W0²) bivariate normal with, writing s = σ_R² Ω^(5/6),

    ⟨Θ_i⟩ = ln[(1 + 2.96 s)² / (Ω² sqrt((1 + 2.96 s)² + 1.2 s))]
    ⟨ΔΘ_i ΔΘ_j⟩ = ln[1 + (2δ_ij - 0.8) s / (1 + 2.96 s)²]

the log-normal law of ⟨W_i²⟩ = W0² Ω^(-2) (1 + 2.96 s), ⟨ΔW_i² ΔW_j²⟩ = (2δ_ij - 0.8) W0⁴ σ_R² Ω^(-19/6),
where W0 is the transmitter waist, Ω = k W0² / 2L the Fresnel parameter and σ_R² = 1.23 Cn² k^(7/6)
L^(11/6) the Rytov parameter. Vacuum propagation is the far-field W = W0/Ω of the paper.

The factor is X = η / E[η] (unit mean: a channel's deterministic factors carry the mean loss).
E[η] and expectations use a product cubature: u = r0²/2σ² ~ Exp(1) by Gauss-Legendre in
1 - e^(-u) (``NODES_RADIAL``), the relative angle χ = φ - φ0 by Gauss-Legendre on (0, π/2)
(``NODES_ANGLE``; η depends on χ through cos²χ only), and (Θ1, Θ2) by Gauss-Hermite along the
principal axes of their covariance (``NODES_SHAPE`` each): 576 nodes. Its accuracy is tested against
Monte Carlo (sample mean within a few 1e-4 of the cubature mean at the free-space preset).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import i0e

from kqjax.engine.params import component, param
from kqjax.links.base import Factor
from kqjax.links.channels.pointing import vasylyev_shape

NODES_RADIAL = 16
NODES_ANGLE = 4
NODES_SHAPE = 3
_LEG_X, _LEG_W = np.polynomial.legendre.leggauss(NODES_RADIAL)
_ANG_X, _ANG_W = np.polynomial.legendre.leggauss(NODES_ANGLE)
_HER_X, _HER_W = np.polynomial.hermite_e.hermegauss(NODES_SHAPE)
_HER_W = _HER_W / _HER_W.sum()
_NEWTON_STEPS = 16


def lambert_w_of_exp(log_z):
    """𝒲(e^L), the principal Lambert function of a positive argument given by its log L: Newton's
    method on e^v + v = L for v = ln 𝒲 (convex, so it converges from any start)."""
    log_z = jnp.asarray(log_z, jnp.float64)

    def step(_, v):
        ev = jnp.exp(v)
        return v - (ev + v - log_z) / (ev + 1.0)

    return jnp.exp(jax.lax.fori_loop(0, _NEWTON_STEPS, step, jnp.log(jax.nn.softplus(log_z))))


def effective_radius_m(aperture_radius_m, w1, w2, chi):
    """W_eff(χ) of an elliptic beam (semi-axes ``w1``, ``w2``) whose W1 axis makes the angle ``chi``
    with the direction of its displacement."""
    a2 = jnp.asarray(aperture_radius_m, jnp.float64) ** 2
    log_arg = (jnp.log(4.0 * a2 / (w1 * w2)) + a2 / w1**2 * (1.0 + 2.0 * jnp.cos(chi) ** 2)
               + a2 / w2**2 * (1.0 + 2.0 * jnp.sin(chi) ** 2))
    return jnp.sqrt(4.0 * a2 / lambert_w_of_exp(log_arg))


def centred_transmittance(aperture_radius_m, w1, w2):
    """η0: the transmittance of the centred elliptic beam (module docstring)."""
    a = jnp.asarray(aperture_radius_m, jnp.float64)
    inv1, inv2 = 1.0 / w1**2, 1.0 / w2**2
    d = a**2 * jnp.abs(inv1 - inv2)
    circular_part = i0e(d) * jnp.exp(d - a**2 * (inv1 + inv2))  # I0(d) e^(-a²(1/W1² + 1/W2²))
    xi = jnp.abs(1.0 / w1 - 1.0 / w2)
    elliptic = xi * a > 1e-8
    xs = jnp.where(elliptic, xi, 1.0)
    _, lam, radius = vasylyev_shape(a, 2.0 / xs)
    ratio = (w1 + w2) / jnp.where(elliptic, jnp.abs(w1 - w2), 1.0)
    tail = -2.0 * jnp.expm1(-0.5 * a**2 * xs**2) * jnp.exp(-jnp.exp(lam * jnp.log(a * ratio / radius)))
    return 1.0 - circular_part - jnp.where(elliptic, tail, 0.0)


def log_transmittance(aperture_radius_m, r0, chi, w1, w2):
    """ln η of an elliptic beam at distance ``r0`` from the aperture's centre, its W1 axis at angle
    ``chi`` to the displacement."""
    w_eff = effective_radius_m(aperture_radius_m, w1, w2, chi)
    _, lam, radius = vasylyev_shape(aperture_radius_m, w_eff)
    r0 = jnp.asarray(r0, jnp.float64)
    pos = r0 > 0
    power = jnp.where(pos, jnp.exp(lam * (jnp.log(jnp.where(pos, r0, 1.0)) - jnp.log(radius))), 0.0)
    return jnp.log(centred_transmittance(aperture_radius_m, w1, w2)) - power


@component("fading", "elliptic_beam")
class EllipticBeam(Factor):
    aperture_radius_m: float = param(0.05, gt=0, le=100, unit="m", long_name="receiver aperture radius")
    beam_waist_m: float = param(0.01, gt=0, le=10, unit="m", long_name="transmitter beam waist W0 (1/e^2 intensity)")
    fresnel_parameter: float = param(0.135, gt=0, le=1e6, long_name="Fresnel parameter k W0^2 / 2L")
    rytov_variance: float = param(0.42, ge=0, le=100, long_name="Rytov parameter 1.23 Cn2 k^(7/6) L^(11/6)")
    jitter_m: float = param(0.0, ge=0, le=1e4, unit="m", long_name="pointing jitter at the receiver (rms per axis)")

    random = True

    def wander_variance_m2(self):
        """Variance per axis of the beam centre: 0.33 W0² σ_R² Ω^(-7/6) + jitter²."""
        w0 = jnp.asarray(self.beam_waist_m, jnp.float64)
        omega = jnp.asarray(self.fresnel_parameter, jnp.float64)
        return 0.33 * w0**2 * self.rytov_variance * omega ** (-7.0 / 6.0) + jnp.asarray(self.jitter_m, jnp.float64) ** 2

    def shape_moments(self):
        """(⟨Θ⟩, Var Θ_i, Cov(Θ1, Θ2)) of Θ_i = ln(W_i²/W0²) (module docstring)."""
        omega = jnp.asarray(self.fresnel_parameter, jnp.float64)
        s = jnp.asarray(self.rytov_variance, jnp.float64) * omega ** (5.0 / 6.0)
        g = (1.0 + 2.96 * s) ** 2
        mean = jnp.log(g / (omega**2 * jnp.sqrt(g + 1.2 * s)))
        return mean, jnp.log1p(1.2 * s / g), jnp.log1p(-0.8 * s / g)

    def mean_beam_area_m2(self):
        """⟨W_i²⟩ = W0² Ω^(-2) (1 + 2.96 σ_R² Ω^(5/6))."""
        omega = jnp.asarray(self.fresnel_parameter, jnp.float64)
        return self.beam_waist_m**2 / omega**2 * (1.0 + 2.96 * self.rytov_variance * omega ** (5.0 / 6.0))

    def _axes(self, z1, z2):
        """(W1, W2) from standard-normal ``z1`` (along Θ1 + Θ2) and ``z2`` (along Θ1 - Θ2)."""
        mean, var, cov = self.shape_moments()
        plus = jnp.sqrt(jnp.maximum(0.5 * (var + cov), 0.0)) * z1
        minus = jnp.sqrt(jnp.maximum(0.5 * (var - cov), 0.0)) * z2
        w0 = jnp.asarray(self.beam_waist_m, jnp.float64)
        return w0 * jnp.exp(0.5 * (mean + plus + minus)), w0 * jnp.exp(0.5 * (mean + plus - minus))

    def sample_beam(self, key, shape=()):
        """Random beams: {x0, y0, w1, w2, phi} (m, rad), each of ``shape``."""
        z = jax.random.normal(key, (4, *shape), jnp.float64)
        phi = jax.random.uniform(jax.random.fold_in(key, 1), shape, jnp.float64, 0.0, 0.5 * jnp.pi)
        sigma = jnp.sqrt(self.wander_variance_m2())
        w1, w2 = self._axes(z[2], z[3])
        return {"x0": sigma * z[0], "y0": sigma * z[1], "w1": w1, "w2": w2, "phi": phi}

    def log_transmittance_of(self, beam):
        """ln η of beams given as :meth:`sample_beam` returns them."""
        r0 = jnp.hypot(beam["x0"], beam["y0"])
        chi = beam["phi"] - jnp.arctan2(beam["y0"], beam["x0"])
        return log_transmittance(self.aperture_radius_m, r0, chi, beam["w1"], beam["w2"])

    def _log_eta_nodes(self):
        """(ln η at the cubature nodes [K], weights [K] summing to 1)."""
        v = 0.5 * (jnp.asarray(_LEG_X) + 1.0)
        u = -jnp.log1p(-v)
        r0 = jnp.sqrt(2.0 * self.wander_variance_m2() * u)
        chi = 0.25 * jnp.pi * (jnp.asarray(_ANG_X) + 1.0)
        w1, w2 = self._axes(jnp.asarray(_HER_X)[:, None], jnp.asarray(_HER_X)[None, :])
        log_eta = log_transmittance(self.aperture_radius_m, r0[:, None, None, None], chi[None, :, None, None],
                                    w1[None, None], w2[None, None])
        w = (0.5 * jnp.asarray(_LEG_W)[:, None, None, None] * 0.5 * jnp.asarray(_ANG_W)[None, :, None, None]
             * jnp.asarray(_HER_W)[None, None, :, None] * jnp.asarray(_HER_W)[None, None, None, :])
        return log_eta.reshape(-1), w.reshape(-1)

    def mean_transmittance(self):
        """E[η] over the beam's centre, shape and orientation (cubature)."""
        log_eta, w = self._log_eta_nodes()
        return jnp.sum(w * jnp.exp(log_eta))

    def sample_log(self, key, t, shape=()):
        """ln X = ln η - ln E[η] of random beams."""
        return self.log_transmittance_of(self.sample_beam(key, shape)) - jnp.log(self.mean_transmittance())

    def quadrature(self, ceiling=jnp.inf):
        """(ln X at the cubature nodes, weights); X <= η0_max / E[η], the ``ceiling`` is not used."""
        log_eta, w = self._log_eta_nodes()
        return log_eta - jnp.log(jnp.sum(w * jnp.exp(log_eta))), w
