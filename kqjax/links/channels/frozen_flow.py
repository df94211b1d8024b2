"""Time-correlated scintillation: turbulence carried across the beam by the wind (Taylor's frozen flow).

Taylor's hypothesis: the eddies are frozen and drift across the line of sight at the transverse
speed v⊥ (wind, plus the drift of the line of sight through the air when an end of the path moves),
so the irradiance covariance in time is the spatial one at separation ρ = v⊥ τ (Andrews &
Phillips, *Laser Beam Propagation through Random Media*, 2nd ed., SPIE 2005, ch. 8). Its width,
the correlation length ℓ, is the Fresnel zone sqrt(L/k) in weak turbulence; the receiver averages
over its aperture D, so the collected power decorrelates over max(sqrt(L/k), D) (A&P ch. 10). In
moderate-to-strong turbulence the large eddies decorrelate over the scattering disk L/(k ρ0) and
the small ones over the coherence radius ρ0 (A&P ch. 9), each at least D. The correlation time is
τ_c = ℓ / v⊥, and the normalised covariance of the underlying Gaussian process is taken as the
Gaussian exp(-τ²/τ_c²) of this width.

The Gaussian process g(t) is an exact function of ``t`` for a fixed key, a spectral sum of
``SPECTRAL_COMPONENTS`` = M terms (random Fourier features with random amplitudes)::

    g(t) = M^(-1/2) Σ_m [a_m cos(ω_m t) + b_m sin(ω_m t)],   a_m, b_m ~ N(0, 1),

with the frequencies ω_m drawn from the spectral measure N(0, 2/τ_c²) of exp(-τ²/τ_c²), one in
each of M equal-probability strata. For every t, g(t) is exactly N(0, 1) and E[g(t) g(t+τ)] =
exp(-τ²/τ_c²) exactly, over the keys; one realisation's time-averaged power is
(1/2M) Σ (a_m² + b_m²), within ~1/sqrt(M) = 6 % of 1.

Marginals:

- log-normal (weak turbulence): ln X = σ g - σ²/2, covariance of X exp(σ² ρ(τ)) - 1;
- gamma-gamma: X = G_α G_β, the product of two independent unit-mean gamma processes, the large
  and small-scale modulations of the gamma-gamma model (A&P ch. 11), each the Gaussian copula
  G_s(t) = F_s⁻¹(Φ(g_s(t))) / s of its own Gaussian process (F_s the Gamma(s, 1) distribution),
  with its own correlation length. The marginal is then exactly gamma-gamma; the covariance of
  each gamma process is the bivariate-normal expectation C_s(ρ) - 1 (:func:`gamma_copula_moment`).

Expectations (``quadrature``) are over the marginal: those of :class:`LognormalFading` and
:class:`GammaGamma`.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammainc, gammaincc, gammaln, log_ndtr, ndtri

from kqjax.engine.params import component, param
from kqjax.links.base import Factor
from kqjax.links.channels.gamma_gamma import GammaGamma
from kqjax.links.channels.lognormal_fading import LognormalFading

SPECTRAL_COMPONENTS = 256
_NEWTON_STEPS = 12
_GH_Z, _GH_W = np.polynomial.hermite_e.hermegauss(48)
_GH_W = _GH_W / _GH_W.sum()


def correlation_time_s(length_m, speed_m_s):
    """τ_c = ℓ / v⊥ (Taylor's frozen flow); ∞ when nothing drifts."""
    return jnp.asarray(length_m, jnp.float64) / jnp.abs(jnp.asarray(speed_m_s, jnp.float64))


def fresnel_zone_m(length_m, k):
    """sqrt(L / k) (k = 2π / λ in rad/m): the scale of weak-turbulence scintillation."""
    return jnp.sqrt(jnp.asarray(length_m, jnp.float64) / jnp.asarray(k, jnp.float64))


def scintillation_length_m(length_m, k, aperture_m):
    """ℓ = max(sqrt(L/k), D): the correlation length of the power collected by an aperture D."""
    return jnp.maximum(fresnel_zone_m(length_m, k), jnp.asarray(aperture_m, jnp.float64))


def eddy_lengths_m(length_m, k, aperture_m, coherence_radius_m):
    """(ℓ_large, ℓ_small) = (max(sqrt(L/k), L/(k ρ0), D), max(min(sqrt(L/k), ρ0), D)): the
    correlation lengths of the large- and small-scale modulations (A&P ch. 9)."""
    f = fresnel_zone_m(length_m, k)
    rho0 = jnp.asarray(coherence_radius_m, jnp.float64)
    d = jnp.asarray(aperture_m, jnp.float64)
    return jnp.maximum(jnp.maximum(f, f**2 / rho0), d), jnp.maximum(jnp.minimum(f, rho0), d)


def spectral_series(key, t, frequency, shape=(), components=SPECTRAL_COMPONENTS):
    """A stationary Gaussian process g(t), N(0, 1), of shape ``shape`` (independent realisations)
    as the spectral sum of the module docstring: ``frequency(u)`` is the quantile function (rad/s)
    of the spectral measure of its covariance, drawn once in each of ``components`` strata of u."""
    ka, kb, ku = jax.random.split(key, 3)
    a = jax.random.normal(ka, (*shape, components), jnp.float64)
    b = jax.random.normal(kb, (*shape, components), jnp.float64)
    u = (jnp.arange(components) + jax.random.uniform(ku, (*shape, components), jnp.float64)) / components
    phase = frequency(u) * jnp.asarray(t, jnp.float64)[..., None]
    return jnp.sum(a * jnp.cos(phase) + b * jnp.sin(phase), -1) / jnp.sqrt(components)


def gaussian_series(key, t, correlation_time, shape=()):
    """g(t) with covariance exp(-τ²/τ_c²) (spectral measure N(0, 2/τ_c²)); constant for τ_c = ∞."""
    return spectral_series(key, t, lambda u: jnp.sqrt(2.0) / jnp.asarray(correlation_time, jnp.float64) * ndtri(u),
                           shape)


@jax.jit
def log_gamma_quantile(shape, z):
    """ln F_s⁻¹(Φ(z)) of the Gamma(s, 1) distribution: Newton steps in ln x on the log of the
    lower (z <= 0) or upper tail probability, from the Wilson-Hilferty approximation or the
    small-x bound x^s / Γ(s + 1) <= F_s(x), whichever is larger."""
    s = jnp.asarray(shape, jnp.float64)
    z = jnp.asarray(z, jnp.float64)
    c = 1.0 / (9.0 * s)
    wh = 1.0 - c + z * jnp.sqrt(c)
    ln_low = (log_ndtr(z) + gammaln(s + 1.0)) / s
    ln_x = jnp.where(wh > 0, jnp.maximum(3.0 * jnp.log(jnp.maximum(wh, 1e-300)) + jnp.log(s), ln_low), ln_low)
    lower = z <= 0
    target = jnp.where(lower, log_ndtr(z), log_ndtr(-z))

    def step(_, ln_x):
        x = jnp.exp(ln_x)
        tail = jnp.where(lower, gammainc(s, x), gammaincc(s, x))
        ln_tail = jnp.log(jnp.maximum(tail, 1e-300))
        ln_density = s * ln_x - x - gammaln(s)  # ln of x f(x)
        slope = jnp.exp(ln_density - ln_tail) * jnp.where(lower, 1.0, -1.0)  # d ln(tail) / d ln x
        return ln_x - jnp.clip((ln_tail - target) / slope, -1.0, 1.0)

    return jax.lax.fori_loop(0, _NEWTON_STEPS, step, ln_x)


@jax.jit
def gamma_copula_moment(shape, rho):
    """C_s(ρ) = E[G(z1) G(z2)] of the unit-mean gamma copula G(z) = F_s⁻¹(Φ(z)) / s, (z1, z2)
    standard bivariate normal of correlation ρ (Gauss-Hermite, 48 x 48 nodes): 1 + 1/s at ρ = 1,
    1 at ρ = 0."""
    s = jnp.asarray(shape, jnp.float64)
    z1 = jnp.asarray(_GH_Z)[:, None]
    z2 = rho * z1 + jnp.sqrt(jnp.maximum(1.0 - rho**2, 0.0)) * jnp.asarray(_GH_Z)[None, :]
    g1 = jnp.exp(log_gamma_quantile(s, z1) - jnp.log(s))
    g2 = jnp.exp(log_gamma_quantile(s, z2) - jnp.log(s))
    return jnp.sum(jnp.asarray(_GH_W)[:, None] * jnp.asarray(_GH_W)[None, :] * g1 * g2)


@component("fading", "lognormal_frozen_flow")
class LognormalFrozenFlow(Factor):
    """Log-normal scintillation drifting at v⊥: ln X(t) = σ g(t) - σ²/2, τ_c = ℓ / v⊥."""

    sigma: float = param(0.3, ge=0, le=5, long_name="standard deviation of ln(fading factor)")
    correlation_length_m: float = param(0.1, gt=0, le=1e4, unit="m",
                                        long_name="correlation length (Fresnel zone or aperture)")
    transverse_speed_m_s: float = param(5.0, ge=0, le=1e4, unit="m/s",
                                        long_name="speed of the turbulence across the line of sight")

    random = True
    time_varying = True
    correlated = True

    def correlation_time_s(self):
        return correlation_time_s(self.correlation_length_m, self.transverse_speed_m_s)

    def marginal(self) -> LognormalFading:
        return LognormalFading(sigma=self.sigma)

    def correlation(self, tau):
        """ρ(τ) = exp(-τ²/τ_c²) of the Gaussian process."""
        return jnp.exp(-(jnp.asarray(tau, jnp.float64) / self.correlation_time_s()) ** 2)

    def autocovariance(self, tau):
        """Cov[X(t), X(t+τ)] = exp(σ² ρ(τ)) - 1."""
        return jnp.expm1(self.sigma**2 * self.correlation(tau))

    def log_pdf(self, x):
        """ln of the marginal density of X (log-normal)."""
        return self.marginal().log_pdf(x)

    def sample_log(self, key, t, shape=()):
        return self.marginal().from_normal(gaussian_series(key, t, self.correlation_time_s(), shape))

    def quadrature(self, ceiling=jnp.inf):
        return self.marginal().quadrature(ceiling)


@component("fading", "gamma_gamma_frozen_flow")
class GammaGammaFrozenFlow(Factor):
    """Gamma-gamma scintillation drifting at v⊥: X(t) = G_α(t) G_β(t), independent unit-mean gamma
    processes (Gaussian copulas) of correlation times ℓ_large / v⊥ and ℓ_small / v⊥."""

    alpha: float = param(4.0, gt=0, le=1e6, long_name="gamma-gamma alpha (large-scale eddies)")
    beta: float = param(2.0, gt=0, le=1e6, long_name="gamma-gamma beta (small-scale eddies)")
    large_scale_m: float = param(0.1, gt=0, le=1e4, unit="m", long_name="correlation length of the large eddies")
    small_scale_m: float = param(0.1, gt=0, le=1e4, unit="m", long_name="correlation length of the small eddies")
    transverse_speed_m_s: float = param(5.0, ge=0, le=1e4, unit="m/s",
                                        long_name="speed of the turbulence across the line of sight")

    random = True
    time_varying = True
    correlated = True

    def correlation_times_s(self):
        """(τ_large, τ_small)."""
        return (correlation_time_s(self.large_scale_m, self.transverse_speed_m_s),
                correlation_time_s(self.small_scale_m, self.transverse_speed_m_s))

    def marginal(self) -> GammaGamma:
        return GammaGamma(alpha=self.alpha, beta=self.beta)

    def correlations(self, tau):
        """(ρ_large(τ), ρ_small(τ)) of the two Gaussian processes."""
        tau = jnp.asarray(tau, jnp.float64)
        return tuple(jnp.exp(-(tau / tc) ** 2) for tc in self.correlation_times_s())

    def autocovariance(self, tau):
        """Cov[X(t), X(t+τ)] = C_α(ρ_large) C_β(ρ_small) - 1 (:func:`gamma_copula_moment`)."""
        r1, r2 = self.correlations(tau)
        return gamma_copula_moment(self.alpha, r1) * gamma_copula_moment(self.beta, r2) - 1.0

    def log_pdf(self, x):
        """ln of the marginal density of X (gamma-gamma)."""
        return self.marginal().log_pdf(x)

    def sample_log(self, key, t, shape=()):
        ka, kb = jax.random.split(key)
        ta, tb = self.correlation_times_s()
        a, b = jnp.asarray(self.alpha, jnp.float64), jnp.asarray(self.beta, jnp.float64)
        return (log_gamma_quantile(a, gaussian_series(ka, t, ta, shape)) - jnp.log(a)
                + log_gamma_quantile(b, gaussian_series(kb, t, tb, shape)) - jnp.log(b))

    def quadrature(self, ceiling=jnp.inf):
        return self.marginal().quadrature(ceiling)
