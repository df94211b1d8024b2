"""Chunked Monte Carlo driver with exact integer accumulators.

``accumulate`` walks the blocks of a run in chunks of whole blocks. Each chunk is one call of a
compiled step that returns integer counts summed over the chunk's blocks (int64 on device); the
host adds them, in chunk order, into exact int64 numpy accumulators. ``workers`` chunks are in
flight at once (threads: XLA runs concurrent calls side by side, so on a CPU they share its
cores); memory depends on the chunk size and ``workers`` only. The step sees block indices, so
results depend neither on the chunk size nor on ``workers``. A KeyboardInterrupt stops the
walk; the counts of the chunks finished before the first unfinished one are returned with
``complete=False``.
"""
from __future__ import annotations

import collections
import dataclasses
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
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


def default_workers() -> int:
    """Chunks in flight by default: the usable cores (at most 8) on a CPU, else 2."""
    if jax.default_backend() != "cpu":
        return 2
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


def accumulate(step: Callable, total: int, chunk: int, *, block: int = BLOCK,
               progress: bool | None = None, desc: str = "pulses",
               workers: int | None = None) -> Accumulated:
    """Run ``step(first_block, block_sizes) -> pytree of int counts`` over all blocks.

    ``block_sizes`` has a fixed length (blocks per chunk) so the step compiles once; blocks past
    the end of the run have size 0. The first chunk runs alone (it compiles the step), then
    ``workers`` (default: ``default_workers()``) at a time.
    """
    blocks, per_chunk = plan(total, chunk, block)
    workers = default_workers() if workers is None else max(1, int(workers))
    start = time.perf_counter()

    def one(first):
        idx = first + np.arange(per_chunk, dtype=np.int64)
        sizes = np.clip(total - idx * block, 0, block).astype(np.int64)
        out = jax.device_get(step(np.int64(first), sizes))
        return jax.tree_util.tree_map(lambda x: np.asarray(x, dtype=np.int64), out), int(sizes.sum())

    pool = ThreadPoolExecutor(workers) if workers > 1 and blocks > per_chunk else None

    def submit(first) -> Future:
        if pool is not None:
            return pool.submit(one, first)
        done_now = Future()
        done_now.set_result(one(first))
        return done_now

    firsts = iter(range(0, blocks, per_chunk))
    running = collections.deque()
    acc, done = None, 0
    bar = _bar(total, progress, desc)
    try:
        first = next(firsts, None)
        if first is not None:  # the first chunk alone: it compiles the step
            running.append(submit(first))
        while running:
            out, n = running.popleft().result()
            acc = out if acc is None else jax.tree_util.tree_map(np.add, acc, out)
            done += n
            if bar is not None:
                bar.update(n)
            for first in firsts:
                running.append(submit(first))
                if len(running) >= workers:
                    break
    except KeyboardInterrupt:
        if acc is None:
            raise
        return Accumulated(acc, done, False, time.perf_counter() - start)
    finally:
        for f in running:
            f.cancel()
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
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
