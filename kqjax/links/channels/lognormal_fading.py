"""Unit-mean log-normal fading factor X = exp(sigma z - sigma^2 / 2), z ~ N(0, 1).

The weak-turbulence model of free-space scintillation (Andrews & Phillips, *Laser Beam
Propagation through Random Media*, 2nd ed., SPIE 2005), and a generic stand-in for any slow
fading of a link: it multiplies any channel's loss (a channel caps realisations at 1).
Scintillation index exp(sigma^2) - 1.

``sample_log`` is reparameterised: for a fixed key it is a differentiable function of sigma, which
the optimiser's fading-averaged objectives need (the same key at every step gives common random
numbers). Expectations use Gauss-Hermite quadrature in z (``QUADRATURE_NODES`` nodes; exact for
polynomials in z of degree < 2 x nodes). Where the channel's cap at transmittance 1 is within
reach, the realisations above it are one node at the cap, with weight 1 - Phi(z_c), and those
below it Gauss-Legendre nodes in z on (-12, z_c) weighted by the normal density: the kink of the
cap is then a node boundary, not inside the rule (the mass below z = -12 is 2e-33).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtr

from kqjax.engine.params import component, param
from kqjax.links.base import Factor

QUADRATURE_NODES = 64
_Z, _W = np.polynomial.hermite_e.hermegauss(QUADRATURE_NODES)
_W = _W / _W.sum()
_GL_X, _GL_W = np.polynomial.legendre.leggauss(QUADRATURE_NODES)


@component("fading", "lognormal")
class LognormalFading(Factor):
    sigma: float = param(0.3, ge=0, le=5, long_name="standard deviation of ln(fading factor)")

    random = True

    def from_normal(self, z):
        """ln X for standard-normal draws ``z``: sigma z - sigma^2 / 2."""
        return self.sigma * z - 0.5 * self.sigma**2

    def sample_log(self, key, t, shape=()):
        return self.from_normal(jax.random.normal(key, shape, jnp.float64))

    def log_pdf(self, x):
        """ln p(x) = -ln(x σ √(2π)) - (ln x + σ²/2)² / 2σ² of X (-inf at x <= 0; σ > 0)."""
        x = jnp.asarray(x, jnp.float64)
        pos = x > 0
        lx = jnp.log(jnp.where(pos, x, 1.0))
        out = -lx - jnp.log(self.sigma * jnp.sqrt(2.0 * jnp.pi)) - (lx + 0.5 * self.sigma**2) ** 2 / (2.0 * self.sigma**2)
        return jnp.where(pos, out, -jnp.inf)

    def quadrature(self, ceiling=jnp.inf):
        """(ln X at the nodes, weights); realisations with ln X above ``ceiling`` merged into one
        node at it."""
        s = jnp.where(self.sigma > 0, self.sigma, 1.0)
        z_c = jnp.minimum((ceiling + 0.5 * s**2) / s, 40.0)
        capped = (self.sigma > 0) & (z_c < 7.5)  # above: 1 - Phi(z_c) < 4e-14
        half = (z_c + 12.0) / 2.0
        z = -12.0 + half * (jnp.asarray(_GL_X) + 1.0)
        below = half * jnp.asarray(_GL_W) * jnp.exp(-0.5 * z**2) / jnp.sqrt(2.0 * jnp.pi)
        x = jnp.where(capped, jnp.append(self.from_normal(z), ceiling),
                      jnp.append(self.from_normal(jnp.asarray(_Z)), 0.0))
        w = jnp.where(capped, jnp.append(below, ndtr(-z_c)), jnp.append(jnp.asarray(_W), 0.0))
        return x, w
