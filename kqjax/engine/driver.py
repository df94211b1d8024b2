"""Chunked Monte Carlo driver with exact integer accumulators.

``accumulate`` walks the blocks of a run in chunks of whole blocks. Each chunk is one call of a
compiled step that returns integer counts summed over the chunk's blocks (int64 on device); the
host adds them into Python-exact int64 numpy accumulators. Memory depends on the chunk size only.
The step sees block indices, so results do not depend on the chunk size. A KeyboardInterrupt
stops the walk after the chunk in flight; the counts finished so far are returned with
``complete=False``.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Callable

import jax
import numpy as np

from kqjax.engine.keys import BLOCK


@dataclasses.dataclass
class Accumulated:
    """Exact totals of a run (or of the part finished before an interruption)."""

    counts: object
    pulses: int
    complete: bool
    seconds: float


def plan(total: int, chunk: int, block: int = BLOCK) -> tuple[int, int]:
    """Number of blocks of the run and blocks per chunk."""
    blocks = -(-int(total) // block)
    per_chunk = max(1, int(chunk) // block)
    return blocks, min(per_chunk, max(blocks, 1))


def accumulate(step: Callable, total: int, chunk: int, *, block: int = BLOCK,
               progress: bool | None = None, desc: str = "pulses") -> Accumulated:
    """Run ``step(first_block, block_sizes) -> pytree of int counts`` over all blocks.

    ``block_sizes`` has a fixed length (blocks per chunk) so the step compiles once; blocks past
    the end of the run have size 0.
    """
    blocks, per_chunk = plan(total, chunk, block)
    start = time.perf_counter()
    acc = None
    done = 0
    bar = _bar(total, progress, desc)
    try:
        for first in range(0, blocks, per_chunk):
            idx = first + np.arange(per_chunk, dtype=np.int64)
            sizes = np.clip(total - idx * block, 0, block).astype(np.int64)
            out = jax.device_get(step(np.int64(first), sizes))
            out = jax.tree_util.tree_map(lambda x: np.asarray(x, dtype=np.int64), out)
            acc = out if acc is None else jax.tree_util.tree_map(np.add, acc, out)
            n = int(sizes.sum())
            done += n
            if bar is not None:
                bar.update(n)
    except KeyboardInterrupt:
        if acc is None:
            raise
        return Accumulated(acc, done, False, time.perf_counter() - start)
    finally:
        if bar is not None:
            bar.close()
    return Accumulated(acc, done, True, time.perf_counter() - start)


def _bar(total: int, progress: bool | None, desc: str):
    """A tqdm bar that appears only for runs longer than ~2 s (``progress=None``)."""
    if progress is False:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=int(total), unit=" " + desc, unit_scale=True, delay=0 if progress else 2.0,
                leave=False, dynamic_ncols=True)
