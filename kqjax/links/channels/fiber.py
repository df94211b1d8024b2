"""Standard single-mode fiber: eta = 10^(-(alpha L + extra) / 10).

Loss is kept in the log domain (dB) so that transmittances down to 1e-100 (5000 dB) stay exact.
"""
from __future__ import annotations

import jax.numpy as jnp

from kqjax.engine.params import component, param


@component("channel", "fiber")
class Fiber:
    length_km: float = param(0.0, ge=0, le=1e5, unit="km", long_name="fiber length")
    attenuation_db_per_km: float = param(0.2, ge=0, le=100, unit="dB/km", long_name="fiber attenuation")
    extra_loss_db: float = param(0.0, ge=0, le=1000, unit="dB", long_name="extra loss (connectors, splices, receiver)")

    fading = False

    def loss_db(self):
        """Total loss in dB."""
        return self.attenuation_db_per_km * self.length_km + self.extra_loss_db

    def transmittance(self):
        """Expected transmittance."""
        return jnp.power(10.0, -self.loss_db() / 10.0)

    def sample(self, key, shape=()):
        """Transmittance realisations: a fiber does not fade."""
        return jnp.broadcast_to(self.transmittance(), shape)
