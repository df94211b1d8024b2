"""Deterministic keys: every random draw derives from ``(seed, block index)``.

A block is a fixed number of pulses (:data:`BLOCK`) or one time step of a sensor record. Chunks
are whole numbers of blocks, so the same seed gives the same counts whatever the chunk size,
batch size or number of devices.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

BLOCK = 2**16
"""Pulses per block: the unit of randomness of the pulse-level engine."""

PRNG_IMPLS = ("threefry2x32", "rbg", "unsafe_rbg")


def root_key(seed: int, impl: str = "threefry2x32") -> jax.Array:
    """Typed root key of a run."""
    return jax.random.key(seed, impl=impl)


def block_key(root: jax.Array, index: jax.Array | int) -> jax.Array:
    """Key of one block: ``fold_in(fold_in(root, index >> 32), index & 0xffffffff)``.

    The 64-bit index keeps runs of more than 2**32 blocks (2.8e14 pulses) distinct.
    """
    index = jnp.asarray(index, jnp.int64)
    hi = (index >> 32).astype(jnp.uint32)
    lo = (index & 0xFFFFFFFF).astype(jnp.uint32)
    return jax.random.fold_in(jax.random.fold_in(root, hi), lo)


def block_keys(root: jax.Array, first: jax.Array | int, count: int) -> jax.Array:
    """Keys of blocks ``first .. first + count - 1``."""
    idx = jnp.asarray(first, jnp.int64) + jnp.arange(count, dtype=jnp.int64)
    return jax.vmap(block_key, in_axes=(None, 0))(root, idx)


def stream(key: jax.Array, name: str) -> jax.Array:
    """An independent sub-stream of ``key`` for a named purpose (e.g. ``"fading"``)."""
    return jax.random.fold_in(key, int.from_bytes(name.encode()[:4].ljust(4, b"\0"), "little"))
