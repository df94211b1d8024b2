"""Beam wander and pointing jitter: the transmittance of a wandering Gaussian beam through a
circular aperture, as a unit-mean fading factor.

Model of Vasylyev, Semenov and Vogel, "Toward global quantum communication: beam wandering
preserves nonclassicality", PRL 108, 220501 (2012). A Gaussian beam of 1/e² intensity radius W
(its short-term spot at the receiver, without the wander) whose centre lies at distance r from
the centre of an aperture of radius a is transmitted with

    η(r) = (2 / π W²) ∫_aperture exp(-2 |x - r|² / W²) d²x ≈ T0² exp[-(r/R)^λ]

(the transmission coefficient T = sqrt(η) of the paper), with, writing x = 4a²/W² and I_n the
modified Bessel functions,

    T0² = 1 - exp(-2a²/W²)                                  (η at r = 0, exact)
    λ   = 8 (a²/W²) e^(-x) I_1(x) / [1 - e^(-x) I_0(x)] / ln(2 T0² / [1 - e^(-x) I_0(x)])
    R   = a [ln(2 T0² / (1 - e^(-x) I_0(x)))]^(-1/λ)

R and λ make the approximation exact at r = a (where η = [1 - e^(-x) I_0(x)] / 2) with the exact
slope there; for a << W it tends to the exact η ≈ (2a²/W²) exp(-2r²/W²) (λ → 2, R → W/√2).

The centre of the beam is deflected by a two-dimensional Gaussian of standard deviation σ per axis
(beam wander, variance ⟨r_c²⟩/2 per axis, plus pointing jitter, (L θ_jitter)² per axis) around a
boresight offset d, so that r is Rice(d, σ) distributed (Rayleigh for d = 0); the long-term mean of
η is then close to 1 - exp(-2a² / (W² + 4σ²)) (the beam convolved with the deflection).

The factor is X = η(r) / E[η], of unit mean, so that a channel's deterministic factors carry the
mean collection efficiency. Expectations use u = r²/2σ² (u ~ Exp(1) for d = 0): Gauss-Legendre
nodes on (0, c) weighted by the density of u, c the smaller of where η has fallen below e^-40 T0²
and where the density of u is below e^-64 of its peak, and Gauss-Laguerre nodes on (c, ∞) carrying
the rest of the mass, so that beams much narrower than the wander are resolved too. The rule is
meant for offsets up to a few σ (d²/2σ² ≲ 30); sampling has no such limit. Sampling draws the two
Gaussian deflections (reparameterised in σ and d).
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import i0e, i1e

from kqjax.engine.params import component, param
from kqjax.links.base import Factor

NODES_NEAR = 48
NODES_TAIL = 16
_GL_X, _GL_W = np.polynomial.legendre.leggauss(NODES_NEAR)
_LAG_X, _LAG_W = np.polynomial.laguerre.laggauss(NODES_TAIL)


_SERIES_BELOW = 0.1
_TERMS = 14
# A(x) - 1 = x sum_n a_n x^n with A(x) = 2 (1 - e^(-x/2)) / x: a_n = (-1)^(n+1) / (2^(n+1) (n+2)!)
_A_SERIES = np.array([(-1.0) ** (n + 1) / (2.0 ** (n + 1) * math.factorial(n + 2)) for n in range(_TERMS)])
# B(x) - 1 = x sum_n b_n x^n with B(x) = (1 - e^-x I0(x)) / x, e^-x I0(x) = sum_m (1/2)_m (-2x)^m / (m!)²
_B_SERIES = np.array([-float(np.prod(np.arange(m) + 0.5)) * (-2.0) ** m / math.factorial(m) ** 2
                      for m in range(2, _TERMS + 2)])

_I0_SERIES = np.array([1.0 / math.factorial(k) ** 2 for k in range(12)])  # I0(z) = sum (z²/4)^k / (k!)²


def vasylyev_shape(aperture_radius_m, beam_radius_m):
    """(T0², λ, R) of η(r) ≈ T0² exp[-(r/R)^λ] (Vasylyev, Semenov, Vogel 2012), accurate down to
    a/W → 0 (power series for x = 4a²/W² < 0.1)."""
    a = jnp.asarray(aperture_radius_m, jnp.float64)
    w = jnp.asarray(beam_radius_m, jnp.float64)
    x = 4.0 * a**2 / w**2
    t0sq = -jnp.expm1(-0.5 * x)
    small = x < _SERIES_BELOW
    xs = jnp.where(small, x, 0.0)
    xl = jnp.where(small, 1.0, x)
    # B = (1 - e^-x I0(x)) / x and ln(2 T0² / (1 - e^-x I0(x))) = ln(A / B), A = 2 T0² / x:
    # power series (Kummer's for e^-x I0(x)) below x = 0.1, where 1 - e^-x I0(x) cancels
    a_small_m1 = xs * jnp.polyval(jnp.asarray(_A_SERIES[::-1]), xs)
    b_small_m1 = xs * jnp.polyval(jnp.asarray(_B_SERIES[::-1]), xs)
    b_small = 1.0 + b_small_m1
    ln_small = jnp.log1p(a_small_m1) - jnp.log1p(b_small_m1)
    one_minus = 1.0 - i0e(xl)
    b_large = one_minus / xl
    ln_large = jnp.log(-2.0 * jnp.expm1(-0.5 * xl)) - jnp.log(one_minus)
    b = jnp.where(small, b_small, b_large)
    ln_ratio = jnp.where(small, ln_small, ln_large)
    lam = 2.0 * i1e(x) / (b * ln_ratio)
    radius = a * ln_ratio ** (-1.0 / lam)
    return t0sq, lam, radius


def log_transmittance_at(r, aperture_radius_m, beam_radius_m):
    """ln η(r) = ln T0² - (r/R)^λ for a beam centre at distance ``r`` (m) from the aperture's."""
    return _log_eta(r, vasylyev_shape(aperture_radius_m, beam_radius_m))


def _log_eta(r, shape):
    """:func:`log_transmittance_at` from the shape ``(T0², λ, R)``."""
    t0sq, lam, radius = shape
    r = jnp.asarray(r, jnp.float64)
    pos = r > 0
    rs = jnp.where(pos, r, 1.0)
    power = jnp.where(pos, jnp.exp(lam * (jnp.log(rs) - jnp.log(radius))), 0.0)
    return jnp.log(t0sq) - power


@component("fading", "beam_wander")
class BeamWander(Factor):
    aperture_radius_m: float = param(0.05, gt=0, le=100, unit="m", long_name="receiver aperture radius")
    beam_radius_m: float = param(0.07, gt=0, le=1e4, unit="m",
                                 long_name="short-term beam radius at the receiver (1/e^2 intensity)")
    sigma_m: float = param(0.01, ge=0, le=1e4, unit="m",
                           long_name="standard deviation per axis of the beam-centre deflection")
    offset_m: float = param(0.0, ge=0, le=1e4, unit="m", long_name="boresight offset of the beam centre")

    random = True

    def shape(self):
        """(T0², λ, R) of the Vasylyev-Semenov-Vogel transmittance."""
        return vasylyev_shape(self.aperture_radius_m, self.beam_radius_m)

    def log_transmittance_at(self, r):
        """ln η(r) at deflection ``r`` (m)."""
        return log_transmittance_at(r, self.aperture_radius_m, self.beam_radius_m)

    def _rule(self, shape):
        """(u nodes, weights summing to 1) of u = r²/2σ² (σ replaced by 1 where it is 0)."""
        _, lam, radius = shape
        sigma = jnp.asarray(self.sigma_m, jnp.float64)
        s = jnp.where(sigma > 0, sigma, 1.0)
        root_delta = jnp.asarray(self.offset_m, jnp.float64) / (jnp.sqrt(2.0) * s)  # √δ, δ = d²/2σ²
        u_g = radius**2 / (2.0 * s**2)
        c = jnp.minimum(40.0 ** (2.0 / lam) * u_g, (root_delta + 8.0) ** 2)

        def density(u):  # of u: exp(-u - δ) I0(2√(uδ))
            z = 2.0 * jnp.sqrt(u) * root_delta
            # I0 as its even power series below z = 1: differentiable in δ at δ = 0 (JAX's i0 and
            # i0e, through |z|, are not)
            q = jnp.minimum(z, 1.0) ** 2 / 4.0
            near = jnp.exp(-u - root_delta**2) * jnp.polyval(jnp.asarray(_I0_SERIES[::-1]), q)
            far = jnp.exp(-(jnp.sqrt(u) - root_delta) ** 2) * i0e(jnp.maximum(z, 1.0))
            return jnp.where(z < 1.0, near, far)

        u1 = 0.5 * c * (jnp.asarray(_GL_X) + 1.0)
        w1 = 0.5 * c * jnp.asarray(_GL_W) * density(u1)
        v = jnp.asarray(_LAG_X)
        u2 = c + v
        w2 = jnp.asarray(_LAG_W) * jnp.exp(v) * density(u2)
        tail = jnp.clip(1.0 - jnp.sum(w1), 0.0, 1.0)
        w2 = w2 * tail / jnp.maximum(jnp.sum(w2), 1e-300)
        u = jnp.concatenate([u1, u2])
        w = jnp.concatenate([w1, w2])
        return u, w / jnp.sum(w)

    def _nodes(self, shape):
        """(ln η at the rule's nodes, their weights, E[η]) for the shape ``(T0², λ, R)``."""
        u, w = self._rule(shape)
        sigma = jnp.asarray(self.sigma_m, jnp.float64)
        s = jnp.where(sigma > 0, sigma, 1.0)
        log_eta = _log_eta(s * jnp.sqrt(2.0 * u), shape)
        mean = jnp.where(sigma > 0, jnp.sum(w * jnp.exp(log_eta)), jnp.exp(_log_eta(self.offset_m, shape)))
        return log_eta, w, mean

    def mean_transmittance(self):
        """E[η(r)] over the deflection: the mean collection efficiency of the wandering beam."""
        return self._nodes(self.shape())[2]

    def sample_log(self, key, t, shape=()):
        """ln X = ln η(r) - ln E[η], r = |(d + σ z1, σ z2)|, z ~ N(0, 1)."""
        z = jax.random.normal(key, (2, *shape), jnp.float64)
        r = jnp.hypot(self.offset_m + self.sigma_m * z[0], self.sigma_m * z[1])
        beam = self.shape()
        return _log_eta(r, beam) - jnp.log(self._nodes(beam)[2])

    def quadrature(self, ceiling=jnp.inf):
        """(ln X at the nodes, weights); X <= T0² / E[η], so the ``ceiling`` is not used."""
        log_eta, w, mean = self._nodes(self.shape())
        return jnp.where(jnp.asarray(self.sigma_m) > 0, log_eta - jnp.log(mean), 0.0), w

    def log_pdf(self, x):
        """ln p(x) of the factor X = η / E[η] (d = 0, σ > 0): ln E[η] + ln P(x E[η])."""
        mean = self.mean_transmittance()
        return jnp.log(mean) + self.transmittance_log_pdf(jnp.asarray(x, jnp.float64) * mean)

    def transmittance_log_pdf(self, eta):
        """ln of the density of η for d = 0 and σ > 0 (Vasylyev et al. 2012, the log-negative
        Weibull law): P(η) = R² / (σ² λ η) ℓ^(2/λ - 1) exp[-(R²/2σ²) ℓ^(2/λ)], ℓ = ln(T0²/η),
        0 < η < T0²; -inf outside."""
        t0sq, lam, radius = self.shape()
        eta = jnp.asarray(eta, jnp.float64)
        inside = (eta > 0) & (eta < t0sq)
        ell = jnp.log(t0sq / jnp.where(inside, eta, 0.5 * t0sq))
        s2 = jnp.asarray(self.sigma_m, jnp.float64) ** 2
        out = (2.0 * jnp.log(radius) - jnp.log(s2 * lam * jnp.where(inside, eta, 0.5 * t0sq))
               + (2.0 / lam - 1.0) * jnp.log(ell) - radius**2 / (2.0 * s2) * ell ** (2.0 / lam))
        return jnp.where(inside, out, -jnp.inf)
