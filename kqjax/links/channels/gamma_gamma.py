"""Unit-mean gamma-gamma fading factor X = G_a G_b, G_a ~ Gamma(α, 1/α), G_b ~ Gamma(β, 1/β).

The irradiance model of moderate-to-strong turbulence (Andrews & Phillips, *Laser Beam
Propagation through Random Media*, 2nd ed., SPIE 2005, ch. 11; Al-Habash, Andrews, Phillips,
Opt. Eng. 40, 1554 (2001)): large-scale (α) and small-scale (β) eddies modulate the irradiance
independently, each by a unit-mean gamma variate. Density (A&P ch. 11)::

    p(x) = 2 (αβ)^((α+β)/2) / (Γ(α) Γ(β)) x^((α+β)/2 - 1) K_(α-β)(2 sqrt(αβ x)),   x > 0

mean 1, moments E[X^n] = Γ(α+n) Γ(β+n) / (Γ(α) Γ(β) (αβ)^n), scintillation index
σ_I² = 1/α + 1/β + 1/(αβ). α and β come from the turbulence with
:func:`kqjax.links.channels.turbulence.gamma_gamma_parameters` (:meth:`GammaGamma.from_rytov`), or
are given directly.

``sample_log`` is ln G_a + ln G_b with ``jax.random.loggamma`` (log-space draws: no underflow for
small shapes), differentiable in α and β for a fixed key through JAX's implicit
reparameterisation of gamma variates. ``quadrature`` is the product of two generalized
Gauss-Laguerre rules (weight x^(s-1) e^(-x), ``QUADRATURE_NODES`` nodes each, Golub-Welsch in
``jnp`` so that α and β may be traced): E[X^n] is exact for n < 2 x nodes. The rule does not put
the channel's cap at transmittance 1 on a node boundary (its ``ceiling`` argument is ignored):
expectations of functions with a kink at the cap converge more slowly when the cap is within
reach.

The modified Bessel function K_ν has no ``jax.scipy`` implementation: :func:`log_bessel_k`
evaluates ln K_ν(z) from K_ν(z) = ∫_0^∞ exp(-z cosh t) cosh(ν t) dt by the trapezoidal rule
(spectrally accurate for this entire, double-exponentially decaying integrand), in log space.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln, logsumexp

from kqjax.engine.params import component, param
from kqjax.links.base import Factor

QUADRATURE_NODES = 32
_BESSEL_POINTS = 1024
_T = np.linspace(0.0, 1.0, _BESSEL_POINTS)
_TRAP = np.full(_BESSEL_POINTS, 1.0)
_TRAP[0] = _TRAP[-1] = 0.5


def log_bessel_k(nu, z):
    """ln K_ν(z) for real ν and z > 0 (-inf... +inf at z = 0), broadcasting; ``jnp`` only.

    Trapezoidal rule on (0, T) for ln ∫_0^∞ exp(-z (cosh t - 1)) cosh(ν t) dt - z, with T the
    point beyond which z (cosh t - 1) - |ν| t > 60 (the integrand there is below e^-60 of its
    value at 0, hence of its maximum). Relative accuracy ~1e-13 for |ν| up to ~1e3.
    """
    nu, z = jnp.broadcast_arrays(jnp.abs(jnp.asarray(nu, jnp.float64)), jnp.asarray(z, jnp.float64))
    pos = z > 0
    zs = jnp.where(pos, z, 1.0)
    top = jnp.arccosh(1.0 + 60.0 / zs)
    for _ in range(12):  # fixed point of z (cosh T - 1) = 60 + ν T, increasing from below
        top = jnp.arccosh(1.0 + (60.0 + nu * top) / zs)
    t = top[..., None] * jnp.asarray(_T)
    y = nu[..., None] * t
    log_cosh = y + jnp.log1p(jnp.exp(-2.0 * y)) - jnp.log(2.0)
    f = -2.0 * zs[..., None] * jnp.sinh(0.5 * t) ** 2 + log_cosh
    h = top / (_BESSEL_POINTS - 1)
    out = -zs + jnp.log(h) + logsumexp(f, axis=-1, b=jnp.asarray(_TRAP))
    return jnp.where(pos, out, jnp.inf)


def generalized_laguerre(shape, n=QUADRATURE_NODES):
    """(nodes [n], weights [n] summing to 1) of ∫_0^∞ f(x) x^(shape-1) e^(-x) dx / Γ(shape):
    the Gamma(shape, 1) expectation, exact for polynomials of degree < 2n (Golub-Welsch on the
    Jacobi matrix of the generalized Laguerre polynomials with parameter shape - 1)."""
    a = jnp.asarray(shape, jnp.float64) - 1.0
    i = jnp.arange(n, dtype=jnp.float64)
    off = jnp.sqrt(i[1:] * (i[1:] + a))
    jac = jnp.diag(2.0 * i + a + 1.0) + jnp.diag(off, 1) + jnp.diag(off, -1)
    x, v = jnp.linalg.eigh(jac)
    w = v[0] ** 2
    return x, w / jnp.sum(w)


@component("fading", "gamma_gamma")
class GammaGamma(Factor):
    alpha: float = param(4.0, gt=0, le=1e6, long_name="gamma-gamma alpha (large-scale eddies)")
    beta: float = param(2.0, gt=0, le=1e6, long_name="gamma-gamma beta (small-scale eddies)")

    random = True

    @classmethod
    def from_rytov(cls, rytov, wave="plane", d2=None, theta=1.0) -> GammaGamma:
        """α, β of extended Rytov theory for a Rytov variance (see
        :func:`kqjax.links.channels.turbulence.gamma_gamma_parameters`)."""
        from kqjax.links.channels.turbulence import gamma_gamma_parameters

        alpha, beta = gamma_gamma_parameters(rytov, wave, d2, theta)
        return cls(alpha=alpha, beta=beta)

    def scintillation_index(self):
        """σ_I² = 1/α + 1/β + 1/(αβ)."""
        return 1.0 / self.alpha + 1.0 / self.beta + 1.0 / (self.alpha * self.beta)

    def mean(self):
        """E[X] = 1."""
        return jnp.ones_like(jnp.asarray(self.alpha, jnp.float64))

    def moment(self, n):
        """E[X^n] = Γ(α+n) Γ(β+n) / (Γ(α) Γ(β) (αβ)^n) (n > -min(α, β))."""
        a, b = jnp.asarray(self.alpha, jnp.float64), jnp.asarray(self.beta, jnp.float64)
        return jnp.exp(gammaln(a + n) - gammaln(a) + gammaln(b + n) - gammaln(b) - n * jnp.log(a * b))

    def log_pdf(self, x):
        """ln p(x) of the gamma-gamma density (-inf at x <= 0)."""
        a, b = jnp.asarray(self.alpha, jnp.float64), jnp.asarray(self.beta, jnp.float64)
        x = jnp.asarray(x, jnp.float64)
        pos = x > 0
        xs = jnp.where(pos, x, 1.0)
        m = 0.5 * (a + b)
        out = (jnp.log(2.0) + m * jnp.log(a * b) - gammaln(a) - gammaln(b) + (m - 1.0) * jnp.log(xs)
               + log_bessel_k(a - b, 2.0 * jnp.sqrt(a * b * xs)))
        return jnp.where(pos, out, -jnp.inf)

    def pdf(self, x):
        return jnp.exp(self.log_pdf(x))

    def sample_log(self, key, t, shape=()):
        """ln X = ln G_a + ln G_b, G ~ Gamma(s, 1/s) drawn in log space."""
        ka, kb = jax.random.split(key)
        a, b = jnp.asarray(self.alpha, jnp.float64), jnp.asarray(self.beta, jnp.float64)
        return (jax.random.loggamma(ka, a, shape, jnp.float64) - jnp.log(a)
                + jax.random.loggamma(kb, b, shape, jnp.float64) - jnp.log(b))

    def quadrature(self, ceiling=jnp.inf):
        """(ln X at the nodes [N²], weights [N²]): product of the generalized Gauss-Laguerre rules
        of the two gamma variates (``ceiling`` is not used)."""
        a, b = jnp.asarray(self.alpha, jnp.float64), jnp.asarray(self.beta, jnp.float64)
        xa, wa = generalized_laguerre(a)
        xb, wb = generalized_laguerre(b)
        la = jnp.log(xa / a)
        lb = jnp.log(xb / b)
        return (la[:, None] + lb[None, :]).reshape(-1), (wa[:, None] * wb[None, :]).reshape(-1)
