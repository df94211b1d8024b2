"""Fiber (or any fixed loss) times a log-normal fading factor with unit mean.

Realisations: eta = min(eta_f X, 1) with eta_f = 10^(-(alpha L + extra) / 10) the fiber's
transmittance and X = exp(sigma z - sigma^2 / 2), z ~ N(0, 1), so that E[X] = 1 (a log-normal
factor is the weak-turbulence model of free-space scintillation: Andrews & Phillips, *Laser Beam
Propagation through Random Media*, 2nd ed., SPIE 2005; here it is a generic stand-in for any slow
fading of a fixed-loss link). A transmittance cannot exceed 1, so realisations are capped at 1;
the cap matters only when the loss is within a few sigma (in nepers) of 0 dB.

``sample(key, shape)`` is reparameterised: for a fixed key it is a differentiable function of the
channel's fields, which is what the optimiser's fading-averaged objectives need (the same key at
every step gives common random numbers).
"""
from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
from jax.scipy.special import ndtr

from kqjax.engine.params import component, param
from kqjax.links.channels.fiber import Fiber

_LN10_10 = math.log(10.0) / 10.0


@component("channel", "lognormal_fading")
@dataclasses.dataclass(frozen=True)
class LognormalFading(Fiber):
    sigma: float = param(0.3, ge=0, le=5, long_name="standard deviation of ln(fading factor)")

    fading = True

    def log_mean_transmittance(self):
        """ln eta_f: the fiber's transmittance in nepers (no underflow at any loss)."""
        return -_LN10_10 * self.loss_db()

    def from_normal(self, z):
        """Transmittance for standard-normal draws ``z``: min(eta_f exp(sigma z - sigma^2/2), 1)."""
        log_eta = self.log_mean_transmittance() + self.sigma * z - 0.5 * self.sigma**2
        return jnp.exp(jnp.minimum(log_eta, 0.0))

    def sample(self, key, shape=()):
        """Transmittance realisations (one per block or per fading sample)."""
        return self.from_normal(jax.random.normal(key, shape, jnp.float64))

    def transmittance(self):
        """Expected transmittance E[min(eta_f X, 1)] = eta_f Phi(c - sigma) + 1 - Phi(c).

        With c = (-ln eta_f + sigma^2 / 2) / sigma the value of z at which eta_f X = 1; equals
        eta_f when the cap is never reached (c >> 1) and when sigma = 0.
        """
        a = self.log_mean_transmittance()
        s = jnp.where(self.sigma > 0, self.sigma, 1.0)
        c = (-a + 0.5 * s**2) / s
        capped = jnp.exp(a) * ndtr(c - s) + ndtr(-c)
        return jnp.where(self.sigma > 0, capped, jnp.exp(a))
