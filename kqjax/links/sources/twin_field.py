"""Phase-randomised coherent pulses of the two senders of sending-or-not-sending TF-QKD.

Both senders (Alice and Bob) use the same settings. In each time window a sender chooses a
signal (Z) window with probability p_z (chosen by the protocol) or a decoy (X) window otherwise:

- Z window: she sends a coherent state of mean photon number mu_z ("sending", probability
  epsilon) or nothing ("not sending", probability 1 - epsilon);
- X window: she sends vacuum, mu_1 or mu_2 with probabilities p_0, p_1, p_2.

Every pulse has a uniformly random global phase, so that its photon number is Poissonian,
P(n | k) = exp(-k) k^n / n!; the phases of X windows are announced afterwards (Wang, Yu, Hu,
PRA 98, 062323, 2018; Yu et al., Sci. Rep. 9, 3080, 2019).
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from kqjax.engine.params import component, param

CHOICES = ("Z send", "Z no-send", "X vacuum", "X mu_1", "X mu_2")
"""A sender's choice in one time window, in the order of :meth:`TwinFieldSource.intensities`."""


@component("source", "twin_field")
class TwinFieldSource:
    mu_z: float = param(0.4, gt=0, le=10, long_name="Z-window (sending) mean photon number")
    epsilon: float = param(0.05, gt=0, lt=1, long_name="sending probability in a Z window")
    mu_1: float = param(0.1, gt=0, le=10, long_name="first X-window decoy mean photon number")
    mu_2: float = param(0.4, gt=0, le=10, long_name="second X-window decoy mean photon number")
    p_0: float = param(0.2, gt=0, le=1, long_name="probability of vacuum in an X window")
    p_1: float = param(0.6, gt=0, le=1, long_name="probability of mu_1 in an X window")
    p_2: float = param(0.2, gt=0, le=1, long_name="probability of mu_2 in an X window")
    rep_rate_mhz: float = param(100.0, gt=0, le=1e5, unit="MHz", long_name="pulse repetition rate")

    @staticmethod
    def relations(v: dict) -> list[tuple[str, str]]:
        """Cross-field conditions (numpy arrays over the sweep grid)."""
        bad = []
        if np.any(v["mu_1"] >= v["mu_2"]):
            bad.append(("mu_1", "must be < source.mu_2 (vacuum + two-decoy bound on s_1)"))
        total = v["p_0"] + v["p_1"] + v["p_2"]
        if np.any(np.abs(total - 1.0) > 1e-9):
            bad.append(("p_0", "p_0 + p_1 + p_2 must equal 1"))
        return bad

    # For the optimiser: the X-window probabilities live on a simplex, and mu_1 < mu_2 holds at
    # every step (fields resolved in declaration order, each inside `interval`).
    simplex = ("p_0", "p_1", "p_2")

    DECOY_GAP = 1e-9
    """Smallest mu_2 - mu_1 an optimiser may reach (the s_1 bound divides by it)."""

    @classmethod
    def interval(cls, name: str, v: dict, later: frozenset):
        """(lower, upper) bound on ``name`` implied by :meth:`relations` (None: no bound)."""
        if name == "mu_1":
            return None, (None if "mu_2" in later else v["mu_2"] - cls.DECOY_GAP)
        if name == "mu_2":
            return (None if "mu_1" in later else v["mu_1"] + cls.DECOY_GAP), None
        return None, None

    def intensities(self) -> jnp.ndarray:
        """Mean photon number of each choice in :data:`CHOICES`: [mu_z, 0, 0, mu_1, mu_2]."""
        zero = jnp.zeros_like(jnp.asarray(self.mu_z, jnp.float64))
        return jnp.stack(jnp.broadcast_arrays(self.mu_z, zero, zero, self.mu_1, self.mu_2), -1)

    def probabilities(self, p_z) -> jnp.ndarray:
        """P(choice) of one sender, [5]: [p_z eps, p_z (1 - eps), (1 - p_z) p_0, (1 - p_z) p_1,
        (1 - p_z) p_2]."""
        q = 1.0 - p_z
        return jnp.stack(jnp.broadcast_arrays(p_z * self.epsilon, p_z * (1.0 - self.epsilon),
                                              q * self.p_0, q * self.p_1, q * self.p_2), -1)

    def signal_intensity(self):
        """mu_z."""
        return self.mu_z

    def sending_probability(self):
        """epsilon."""
        return self.epsilon

    def decoy_intensities(self):
        """(mu_1, mu_2)."""
        return self.mu_1, self.mu_2

    def rep_rate_hz(self):
        return self.rep_rate_mhz * 1e6
