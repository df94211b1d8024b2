"""A prepare-and-measure link: source -> channel -> detectors -> protocol, and its Monte Carlo.

``simulate`` draws the exact number of pulses of each (intensity, outcome) class block by block:
count-level sampling draws one multinomial per block of pulses (the transmittance is fixed within
a block), event-level sampling draws every pulse. Both use the keys of ``(seed, block index)``, so
results do not depend on the chunk size. The protocol then estimates rates from those counts,
and from the expected counts for the asymptotic rate.
"""
from __future__ import annotations

import dataclasses
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from kqjax.engine import driver, keys
from kqjax.engine.samplers import multinomial
from kqjax.links.protocols.bounds import plob

N_CLASSES = 12  # 3 intensities x 4 outcomes


@partial(jax.tree_util.register_dataclass, data_fields=["source", "channel", "detector", "protocol"],
         meta_fields=[])
@dataclasses.dataclass(frozen=True)
class Link:
    source: object
    channel: object
    detector: object
    protocol: object

    def probabilities(self, eta):
        """Outcome probabilities per pulse, [..., 3, 4]."""
        return self.protocol.probabilities(self.source, self.detector, eta)

    def estimate(self, counts, eta):
        return self.protocol.estimate(counts, self.source, self.detector, eta)

    def block_counts(self, key, n, mode):
        """Counts [12] of one block of ``n`` pulses."""
        eta = self.channel.sample(keys.stream(key, "fading"))
        if mode == "event":
            idx = self.protocol.sample_events(keys.stream(key, "events"), keys.BLOCK,
                                              self.source, self.detector, eta)
            idx = jnp.where(jnp.arange(keys.BLOCK) < n, idx, N_CLASSES)
            return jnp.zeros(N_CLASSES + 1, jnp.int64).at[idx].add(1)[:N_CLASSES]
        p = self.probabilities(eta).reshape(-1)
        return multinomial(keys.stream(key, "counts"), n, p)

    def expected(self):
        """Asymptotic rates: the protocol evaluated on expected counts."""
        eta = self.channel.transmittance()
        out = self.estimate(self.probabilities(eta), eta)
        return {"key_rate_asymptotic": out["key_rate"], "transmittance": eta, "plob_bound": plob(eta)}


def make_step(link: Link, root, blocks: int, mode: str):
    """Compiled chunk step: ``(first_block, sizes[blocks]) -> counts [grid, 3, 4]``.

    ``link`` has a leading grid axis on every leaf. Count mode vmaps the grid; event mode maps it
    sequentially so that memory stays at one chunk of pulses.
    """

    def per_point(lk, ks, sizes):
        c = jax.vmap(lambda k, n: lk.block_counts(k, n, mode))(ks, sizes)
        return c.sum(0).reshape(3, 4)

    @jax.jit
    def step(first, sizes):
        ks = keys.block_keys(root, first, blocks)
        if mode == "event":
            return jax.lax.map(lambda lk: per_point(lk, ks, sizes), link)
        return jax.vmap(lambda lk: per_point(lk, ks, sizes))(link)

    return step


def simulate(link: Link, *, pulses: int, seed: int = 0, chunk_size: int = 2**24, mode: str = "count",
             prng: str = "threefry2x32", progress: bool | None = None) -> dict:
    """Monte Carlo of ``pulses`` pulses at every grid point of ``link`` (leading axis of leaves).

    Returns numpy arrays with the grid axis first: counts [G, 3, 4] (exact int64), rates from the
    counts, asymptotic rates, transmittance and the PLOB bound; plus ``pulses_done`` and
    ``complete`` (False if interrupted).
    """
    root = keys.root_key(seed, prng)
    _, per_chunk = driver.plan(pulses, chunk_size)
    step = make_step(link, root, per_chunk, mode)
    acc = driver.accumulate(step, pulses, chunk_size, progress=progress)
    counts = np.asarray(acc.counts, np.int64)
    eta = jax.vmap(lambda lk: lk.channel.transmittance())(link)
    est = jax.jit(jax.vmap(lambda lk, c, e: lk.estimate(c, e)))(link, counts, eta)
    out = {k: np.asarray(v) for k, v in est.items()}
    out.update({k: np.asarray(v) for k, v in jax.jit(jax.vmap(Link.expected))(link).items()})
    out["counts"] = counts
    out["key_rate_bps"] = out["key_rate"] * np.asarray(link.source.rep_rate_hz())
    out["pulses_done"] = acc.pulses
    out["complete"] = acc.complete
    out["seconds"] = acc.seconds
    return out
