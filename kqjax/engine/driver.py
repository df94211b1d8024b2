"""Chunked Monte Carlo driver with exact integer accumulators.

``accumulate`` walks the blocks of a run in chunks of whole blocks. Each chunk is one call of a
compiled step that returns integer counts summed over the chunk's blocks (int64 on device); the
host adds them, in chunk order, into exact int64 numpy accumulators. ``workers`` chunks are in
flight at once (threads: XLA runs concurrent calls side by side, so on a CPU they share its
cores); memory depends on the chunk size and ``workers`` only. The step sees block indices, so
results depend neither on the chunk size nor on ``workers``. A KeyboardInterrupt stops the
walk; the counts of the chunks finished before the first unfinished one are returned with
``complete=False``.

A stop can also be asked for with :func:`request_stop` (what a signal handler does, e.g. the
command line's for SIGINT and SIGTERM): the loop checks the flag while it waits for a chunk and
after each one, so a Ctrl-C is never lost (a KeyboardInterrupt raised by a signal handler inside a
garbage-collector callback, such as one of JAX's, is swallowed there). While the loop runs in the
main thread with Python's default SIGINT handler, a Ctrl-C only sets that flag.
"""
from __future__ import annotations

import collections
import dataclasses
import os
import signal
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
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


_STOP = threading.Event()
_POLL_S = 0.1  # how often a wait for a chunk looks at the stop flag
_loops = [0]  # accumulate loops started since reset_stop()


def request_stop() -> None:
    """Ask the running (or next) :func:`accumulate` to stop; safe in a signal handler."""
    _STOP.set()


def stop_requested() -> bool:
    return _STOP.is_set()


def reset_stop() -> None:
    """Clear the stop flag and the count of loops started (:func:`loops_started`)."""
    _STOP.clear()
    _loops[0] = 0


def loops_started() -> int:
    """How many :func:`accumulate` loops have started since :func:`reset_stop`: once one has, a
    signal handler only needs to :func:`request_stop` (the loop stops and keeps what is done)."""
    return _loops[0]


def _on_sigint(signum, frame) -> None:
    _STOP.set()


def _result(fut: Future):
    """``fut.result()``, looking at the stop flag while it waits (KeyboardInterrupt once set)."""
    while True:
        try:
            return fut.result(timeout=0 if _STOP.is_set() else _POLL_S)
        except FutureTimeout:
            if _STOP.is_set():
                raise KeyboardInterrupt from None


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
    _loops[0] += 1
    own = None  # Python's default SIGINT handler, replaced by the flag while the loop runs
    if threading.current_thread() is threading.main_thread() and \
            signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        own = signal.signal(signal.SIGINT, _on_sigint)
    try:
        if _STOP.is_set():
            raise KeyboardInterrupt
        first = next(firsts, None)
        if first is not None:  # the first chunk alone: it compiles the step
            running.append(submit(first))
        while running:
            out, n = _result(running.popleft())
            acc = out if acc is None else jax.tree_util.tree_map(np.add, acc, out)
            done += n
            if bar is not None:
                bar.update(n)
            if _STOP.is_set():
                raise KeyboardInterrupt
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
        if own is not None:
            signal.signal(signal.SIGINT, own)
            _STOP.clear()  # only this loop's flag handler set it
    return Accumulated(acc, done, True, time.perf_counter() - start)


def _bar(total: int, progress: bool | None, desc: str):
    """A tqdm bar that appears only for runs longer than ~2 s (``progress=None``)."""
    if progress is False:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=int(total), unit=" " + desc, unit_scale=True, delay=0 if progress else 2.0,
                leave=False, dynamic_ncols=True)
