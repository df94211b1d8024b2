"""Standard single-mode fiber: eta = 10^(-(alpha L + extra) / 10) times an optional fading factor.

Loss is kept in the log domain so that transmittances down to 1e-100 (5000 dB) stay exact. The
``fading`` field holds a unit-mean random factor (``none`` or ``lognormal``) applied over the
fiber's loss.
"""
from __future__ import annotations

from kqjax.engine.params import component, param, part
from kqjax.links.base import Channel, Factor, db_to_nepers


@component("factor", "fixed_loss")
class FixedLoss(Factor):
    """A loss in dB: eta = 10^(-loss / 10)."""

    loss_db: float = param(0.0, ge=0, unit="dB", long_name="loss")

    def log_gain(self, t):
        return db_to_nepers(self.loss_db) + 0.0 * t


@component("channel", "fiber")
class Fiber(Channel):
    length_km: float = param(0.0, ge=0, le=1e5, unit="km", long_name="fiber length")
    attenuation_db_per_km: float = param(0.2, ge=0, le=100, unit="dB/km", long_name="fiber attenuation")
    extra_loss_db: float = param(0.0, ge=0, le=1000, unit="dB", long_name="extra loss (connectors, splices, receiver)")
    fading: Factor = part("fading", "none")

    def factors(self):
        """Attenuation alpha L, the extra loss and the fading factor."""
        return (FixedLoss(self.attenuation_db_per_km * self.length_km),
                FixedLoss(self.extra_loss_db), self.fading)
