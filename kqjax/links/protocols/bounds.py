"""Fundamental limits of point-to-point links.

PLOB repeaterless bound: the secret-key capacity of a pure-loss channel of transmittance eta is
-log2(1 - eta) bits per channel use (Pirandola, Laurenza, Ottaviani, Banchi, Nat. Commun. 8,
15043, 2017). Computed with log1p so that it does not underflow at 1000 km (eta ~ 1e-20).
"""
from __future__ import annotations

import jax.numpy as jnp


def plob(eta):
    """-log2(1 - eta) in bits per pulse."""
    return -jnp.log1p(-jnp.asarray(eta, jnp.float64)) / jnp.log(2.0)
