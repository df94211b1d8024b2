"""The distribution of a fading link's transmittance and of its key rate over the fading.

For every sweep point, ``samples`` realisations of each arm's transmittance are drawn from the
channels' models (:meth:`Link.sample_transmittance` at one time t, with a key of the run's seed:
the same random numbers at every point), and at each realisation the protocol's
asymptotic key rate of the expected counts (:meth:`Protocol.asymptotic_rate`): the key distilled
while the channel stays in that fading state. From these:

- the Alice-Bob transmittance samples (the probability distribution of the transmittance, PDTC);
- the outage probability P(R(η) = 0), the fraction of realisations without key;
- the key rate at the quantile levels asked for (``np.quantile``, linear interpolation);
- where one arm fades and one of its random factors has a density (``log_pdf`` of the unit-mean
  factor), the density of the Alice-Bob transmittance, p(η) = Σ_k w_k p_f(η / (m Y_k)) / (m Y_k):
  m the product of the deterministic factors, f the factor with a density whose ln X is widest,
  (Y_k, w_k) the quadrature of the other random factors (exact for a single random factor; a
  discrete mixture, smooth where the factors mixed over are narrow).

Points are processed one after another (``jax.lax.map``), so memory is ``samples`` realisations of
one point at a time plus the ``samples`` x points floats returned.
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from kqjax.engine import keys

DENSITY_POINTS = 200


def _realisations(link, key, t, samples: int):
    """(Alice-Bob transmittance [N], asymptotic key rate [N]) of one point at time ``t``."""

    def one(k):
        eta = link.sample_transmittance(k, t)
        ps, po = link.probabilities(eta)
        rate = link.protocol.asymptotic_rate(ps, po, link.parts, eta)
        return link.protocol.alice_bob_transmittance(eta), rate

    return jax.vmap(one)(jax.random.split(key, samples))


def _log_spread(factor):
    """Variance of ln X over the factor's quadrature rule."""
    x, w = factor.quadrature()
    mean = jnp.sum(w * x)
    return jnp.sum(w * (x - mean) ** 2)


def _mixture(head, others, eta, log_m):
    """Σ_k w_k p_head(η / (m Y_k)) / (m Y_k) over the product rule (Y_k, w_k) of ``others``."""
    log_y, w = jnp.zeros(1), jnp.ones(1)
    for f in others:
        x, v = f.quadrature()
        log_y = (log_y[:, None] + x[None, :]).reshape(-1)
        w = (w[:, None] * v[None, :]).reshape(-1)
    scale = jnp.exp(log_m + log_y)  # [K]
    pdf = jnp.exp(head.log_pdf(eta[:, None] / scale[None, :])) / scale[None, :]
    return jnp.sum(w[None, :] * pdf, axis=1)


def _density(link, eta, t):
    """Density of the Alice-Bob transmittance at ``eta`` [B] and time ``t`` (NaN where no factor has
    a density). Of the factors with a density, the one with the widest ln X is mixed over the
    quadrature of the others: the narrower the factors mixed over, the smoother the sum."""
    arms = link.channels()
    fading = [arm for arm, ch in arms.items() if ch.random]
    if len(fading) != 1:
        return jnp.full_like(eta, jnp.nan)
    log_m = sum(ch.log_transmittance(t) for ch in arms.values())
    random = [f for f in arms[fading[0]].factors() if f.random]
    with_pdf = [f for f in random if callable(getattr(f, "log_pdf", None))]
    if not with_pdf:
        return jnp.full_like(eta, jnp.nan)
    density, widest = None, None
    for head in with_pdf:
        value = _mixture(head, [f for f in random if f is not head], eta, log_m)
        spread = _log_spread(head) if len(with_pdf) > 1 else 0.0
        density = value if density is None else jnp.where(spread > widest, value, density)
        widest = spread if widest is None else jnp.maximum(spread, widest)
    return density


@partial(jax.jit, static_argnames=("samples",))
def _statistics(link, key, t, samples: int):
    def per_point(lk):
        eta, rate = _realisations(lk, key, t, samples)
        grid = jnp.linspace(jnp.min(eta), jnp.max(eta), DENSITY_POINTS)
        return eta, rate, grid, _density(lk, grid, t)

    return jax.lax.map(per_point, link)


def fading_statistics(link, seed: int, prng: str, samples: int, quantiles, t: float = 0.0) -> dict:
    """The statistics at time ``t`` of every point of ``link`` (leading grid axis on its leaves), as numpy arrays
    over the grid: ``transmittance_samples`` [G, N], ``key_rate_samples`` [G, N],
    ``outage_probability`` [G], ``key_rate_quantile`` [G, Q], and ``density_transmittance``,
    ``transmittance_density`` [G, B] (NaN density where there is no closed form)."""
    key = keys.stream(keys.root_key(seed, prng), "fading_statistics")
    eta, rate, grid, density = (np.asarray(x) for x in _statistics(link, key, jnp.asarray(t, jnp.float64), samples))
    levels = np.asarray(quantiles, np.float64)
    return {"transmittance_samples": eta, "key_rate_samples": rate,
            "outage_probability": np.mean(rate <= 0.0, axis=1),
            "key_rate_quantile": np.quantile(rate, levels, axis=1).T,
            "density_transmittance": grid, "transmittance_density": density}
