"""A prepare-and-measure link: source -> channel -> detectors -> protocol, and its Monte Carlo.

``simulate`` draws the exact number of pulses of each (intensity, outcome) class block by block:
count-level sampling draws, per block of pulses, Alice's and Bob's choices (intensity, bases agree)
as one multinomial and then the detections of each sifted class (the transmittance is fixed within
a block); event-level sampling draws every pulse. The choices do not depend on the channel, so
when they are the same at every sweep point they are drawn once per block for the whole grid
(the draws are the same either way: a draw depends only on its key and its parameters). Both use the keys of ``(seed, block index)``, so
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

    def allocate(self, key, n):
        """Pulses of each (intensity, bases agree | differ) in a block of ``n``: [3, 2]."""
        p = self.protocol.allocation(self.source)
        return multinomial(keys.stream(key, "allocation"), n, p.reshape(-1)).reshape(p.shape)

    def block_counts(self, key, n, mode, alloc=None):
        """Counts [3, 4] of one block of ``n`` pulses (``alloc``: its allocation, if drawn already)."""
        eta = self.channel.sample(keys.stream(key, "fading"))
        if mode == "event":
            idx = self.protocol.sample_events(keys.stream(key, "events"), keys.BLOCK,
                                              self.source, self.detector, eta)
            idx = jnp.where(jnp.arange(keys.BLOCK) < n, idx, N_CLASSES)
            return jnp.zeros(N_CLASSES + 1, jnp.int64).at[idx].add(1)[:N_CLASSES].reshape(3, 4)
        alloc = self.allocate(key, n) if alloc is None else alloc
        det = multinomial(keys.stream(key, "detection"), alloc[:, 0],
                          self.protocol.detection(self.source, self.detector, eta))
        return jnp.concatenate([det, alloc[:, 1:]], -1)

    def expected(self):
        """Asymptotic rates: the protocol evaluated on expected counts."""
        eta = self.channel.transmittance()
        out = self.estimate(self.probabilities(eta), eta)
        return {"key_rate_asymptotic": out["key_rate"], "transmittance": eta, "plob_bound": plob(eta)}


@partial(jax.jit, static_argnames=("blocks", "mode", "shared"))
def chunk_counts(link: Link, root, first, sizes, *, blocks: int, mode: str, shared: bool):
    """Counts [grid, 3, 4] of blocks ``first .. first + blocks - 1`` (``sizes`` pulses each).

    ``link`` has a leading grid axis on every leaf. Count mode vmaps the grid (drawing the
    allocation once per block if ``shared``); event mode maps it sequentially so that memory stays
    at one chunk of pulses. Compiled once per link structure, chunk and mode.
    """
    ks = keys.block_keys(root, first, blocks)

    def per_point(lk, alloc):
        if alloc is None:
            c = jax.vmap(lambda k, n: lk.block_counts(k, n, mode))(ks, sizes)
        else:
            c = jax.vmap(lambda k, n, a: lk.block_counts(k, n, mode, a))(ks, sizes, alloc)
        return c.sum(0)

    if mode == "event":
        return jax.lax.map(lambda lk: per_point(lk, None), link)
    alloc = None
    if shared:
        first_point = jax.tree_util.tree_map(lambda x: x[0], link)
        alloc = jax.vmap(first_point.allocate)(ks, sizes)
    return jax.vmap(lambda lk: per_point(lk, alloc))(link)


def make_step(link: Link, root, blocks: int, mode: str):
    """The driver's step ``(first_block, sizes) -> counts [grid, 3, 4]`` for this link."""
    alloc_p = np.asarray(jax.vmap(lambda lk: lk.protocol.allocation(lk.source))(link))
    shared = bool(mode == "count" and np.all(alloc_p == alloc_p[:1]))
    return partial(chunk_counts, link, root, blocks=blocks, mode=mode, shared=shared)


@jax.jit
@jax.vmap
def rates(link: Link, counts):
    """Rates from counts and asymptotic rates at every grid point."""
    return {**link.estimate(counts, link.channel.transmittance()), **link.expected()}


def simulate(link: Link, *, pulses: int, seed: int = 0, chunk_size: int = 2**28, mode: str = "count",
             prng: str = "threefry2x32", progress: bool | None = None, workers: int | None = None) -> dict:
    """Monte Carlo of ``pulses`` pulses at every grid point of ``link`` (leading axis of leaves),
    ``workers`` chunks at a time (``driver.accumulate``).

    Returns numpy arrays with the grid axis first: counts [G, 3, 4] (exact int64), rates from the
    counts, asymptotic rates, transmittance and the PLOB bound; plus ``pulses_done`` and
    ``complete`` (False if interrupted).
    """
    root = keys.root_key(seed, prng)
    _, per_chunk = driver.plan(pulses, chunk_size)
    step = make_step(link, root, per_chunk, mode)
    acc = driver.accumulate(step, pulses, chunk_size, progress=progress, workers=workers)
    counts = np.asarray(acc.counts, np.int64)
    out = {k: np.asarray(v) for k, v in rates(link, counts).items()}
    out["counts"] = counts
    out["key_rate_bps"] = out["key_rate"] * np.asarray(link.source.rep_rate_hz())
    out["pulses_done"] = acc.pulses
    out["complete"] = acc.complete
    out["seconds"] = acc.seconds
    return out
