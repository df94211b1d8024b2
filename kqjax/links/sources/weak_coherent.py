"""Phase-randomised weak coherent pulses with decoy intensities.

Each pulse is a signal (mean photon number mu), decoy (nu) or second decoy / vacuum (omega),
chosen with probabilities p_mu, p_nu, p_omega. Photon numbers are Poissonian:
P(n | k) = exp(-k) k^n / n!  (Hwang, PRL 91, 057901, 2003; Lo, Ma, Chen, PRL 94, 230504, 2005).
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from kqjax.engine.params import component, param

INTENSITIES = ("signal", "decoy", "vacuum")


@component("source", "weak_coherent")
class WeakCoherentSource:
    mu: float = param(0.5, gt=0, le=10, long_name="signal mean photon number")
    nu: float = param(0.1, ge=0, le=10, long_name="decoy mean photon number")
    omega: float = param(0.0, ge=0, le=10, long_name="second decoy (vacuum) mean photon number")
    p_mu: float = param(0.8, ge=0, le=1, long_name="probability of a signal pulse")
    p_nu: float = param(0.1, ge=0, le=1, long_name="probability of a decoy pulse")
    p_omega: float = param(0.1, ge=0, le=1, long_name="probability of a vacuum pulse")
    rep_rate_mhz: float = param(100.0, gt=0, le=1e5, unit="MHz", long_name="pulse repetition rate")

    @staticmethod
    def relations(v: dict) -> list[tuple[str, str]]:
        """Cross-field conditions (numpy arrays over the sweep grid)."""
        bad = []
        if np.any(v["nu"] >= v["mu"]):
            bad.append(("nu", "must be < source.mu"))
        if np.any(v["omega"] >= v["nu"]):
            bad.append(("omega", "must be < source.nu"))
        if np.any(v["mu"] <= v["nu"] + v["omega"]):
            bad.append(("mu", "must be > source.nu + source.omega (Ma et al. 2005)"))
        total = v["p_mu"] + v["p_nu"] + v["p_omega"]
        if np.any(np.abs(total - 1.0) > 1e-9):
            bad.append(("p_mu", "p_mu + p_nu + p_omega must equal 1"))
        return bad

    # For the optimiser: class probabilities live on a simplex (softmax), and the intensities
    # keep the relations above at every step: fields are resolved in declaration order
    # (mu, nu, omega), each inside the interval that `interval` gives.
    simplex = ("p_mu", "p_nu", "p_omega")

    DECOY_GAP = 1e-9
    """Smallest nu - omega an optimiser may reach. The decoy estimates subtract gains
    (Q_nu e^nu - Q_w e^w ~ (nu - omega) Y_1) that agree to within ~Y_0; in float64 the difference
    keeps a relative precision of ~1e-16 Y_0 / ((nu - omega) Y_1) <~ 1e-7 above this gap, and
    the asymptotic key rate changes by O(gap) when the gap shrinks below it."""

    @classmethod
    def interval(cls, name: str, v: dict, later: frozenset):
        """(lower, upper) bound on ``name`` implied by :meth:`relations` (None: no bound).

        ``v`` holds the values of the fields already resolved (fixed or optimised before
        ``name``); fields in ``later`` are optimised after it and can still take any value their
        own bounds allow, so a bound leaves them room: nu in (omega + gap, mu - omega) needs
        mu > 2 omega + gap.
        """
        g = cls.DECOY_GAP
        w = 0.0 if "omega" in later else v["omega"]
        if name == "mu":
            return (w + g if "nu" in later else v["nu"]) + w, None
        if name == "nu":
            return w + g, v["mu"] - w
        if name == "omega":
            return None, jnp.minimum(v["nu"] - g, v["mu"] - v["nu"])
        return None, None

    def intensities(self) -> jnp.ndarray:
        """Mean photon numbers [mu, nu, omega]."""
        return jnp.stack(jnp.broadcast_arrays(self.mu, self.nu, self.omega), -1)

    def probabilities(self) -> jnp.ndarray:
        """Class probabilities [p_mu, p_nu, p_omega]."""
        return jnp.stack(jnp.broadcast_arrays(self.p_mu, self.p_nu, self.p_omega), -1)

    def rep_rate_hz(self):
        return self.rep_rate_mhz * 1e6
