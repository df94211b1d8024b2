"""Chunked Monte Carlo driver with exact integer accumulators.

``accumulate`` walks the blocks of a run in chunks of whole blocks. Each chunk is one call of a
compiled step that returns integer counts summed over the chunk's blocks (int64 on device); the
host adds them, in chunk order, into exact int64 numpy accumulators. ``workers`` chunks are in
flight at once (threads: XLA runs concurrent calls side by side, so on a CPU they share its
cores); memory depends on the chunk size and ``workers`` only. The step sees block indices, so
results depend neither on the chunk size nor on ``workers``. A KeyboardInterrupt stops the
walk; the counts of the chunks finished before the first unfinished one are returned with
``complete=False``.

Over a sweep grid (``points``) a chunk is computed in slices of ``slice_points`` points (the
step gets their indices), so memory does not grow with the number of points. With ``converged``
a point stops accumulating once it says so, judged after each whole chunk in chunk order, so the
counts of a point (and the chunk it stopped at) do not depend on timing or on ``workers``.

A stop can also be asked for with :func:`request_stop` (what a signal handler does, e.g. the
command line's for SIGINT and SIGTERM): the loop checks the flag while it waits for a chunk and
after each one, so a Ctrl-C is never lost (a KeyboardInterrupt raised by a signal handler inside a
garbage-collector callback, such as one of JAX's, is swallowed there). While the loop runs in the
main thread with Python's default SIGINT handler, a Ctrl-C only sets that flag.
"""
from __future__ import annotations

import collections
import dataclasses
import math
import os
import signal
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from kqjax.engine.keys import BLOCK

DEFAULT_CHUNK = {"count": 2**28, "event": 2**20}
"""Pulses per compiled step on a CPU; an accelerator takes :func:`accelerator_scale` times more."""
MAX_ACCELERATOR_SCALE = 16
"""The largest chunk scale: 2^32 count and 2^24 event pulses a step, the larger of the two sizes
timed on one H200 on 2026-11-27 (count step of 16 points: 6.9e12 pulses/s at 2^32 against 6.2e11
at 2^28; event: 4.2e9 at 2^24 against 2.8e9 at 2^20; jax 0.11.2, the code of that day)."""
SCALE_MEMORY = 2**32
"""Device memory per unit of chunk scale: 4 GiB (``bytes_limit``)."""


@dataclasses.dataclass
class Accumulated:
    """Exact totals of a run (or of the part finished before an interruption).

    ``pulses``: pulses of the chunks finished (per point: ``point_pulses``, when a grid's points
    were accumulated apart, e.g. with early stopping)."""

    counts: object
    pulses: int
    complete: bool
    seconds: float
    point_pulses: np.ndarray | None = None


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


def _result(fut: Future, stop: Callable[[], bool]):
    """``fut.result()``, looking at ``stop()`` while it waits (KeyboardInterrupt once true)."""
    while True:
        try:
            return fut.result(timeout=0 if stop() else _POLL_S)
        except FutureTimeout:
            if stop():
                raise KeyboardInterrupt from None


def plan(total: int, chunk: int, block: int = BLOCK) -> tuple[int, int]:
    """Number of blocks of the run and blocks per chunk. The chunk does not shrink for a short run
    (its tail blocks are empty), so a run of any length uses the same compiled step."""
    blocks = -(-int(total) // block)
    return blocks, max(1, int(chunk) // block)


def accelerator() -> bool:
    return jax.default_backend() != "cpu"


def default_workers() -> int:
    """Chunks in flight by default: the usable cores (at most 8) on a CPU, else 2."""
    if accelerator():
        return 2
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    return max(1, min(cores, 8))


def device_memory() -> int:
    """Memory of the first local accelerator (``bytes_limit`` of its statistics; 8 GiB when it
    gives none)."""
    try:
        stats = jax.local_devices()[0].memory_stats() or {}
        return int(stats.get("bytes_limit", 2**33))
    except (AttributeError, NotImplementedError, RuntimeError, TypeError, ValueError):  # no statistics
        return 2**33


def accelerator_scale() -> int:
    """Chunk scale of an accelerator from its memory: the largest power of two up to
    ``device_memory() / SCALE_MEMORY``, in [1, ``MAX_ACCELERATOR_SCALE``] (16 from 64 GiB up)."""
    units = max(1, device_memory() // SCALE_MEMORY)
    return min(MAX_ACCELERATOR_SCALE, 1 << (units.bit_length() - 1))


def default_chunk(mode: str) -> int:
    """Pulses per step by default: 2^28 (count) or 2^20 (event) on a CPU, :func:`accelerator_scale`
    times that on an accelerator (a GPU step of 2^28 pulses is over in milliseconds, most of them
    the step's fixed cost; larger ones keep it busy)."""
    return DEFAULT_CHUNK[mode] * (accelerator_scale() if accelerator() else 1)


def memory_budget(devices: int = 1) -> int:
    """Bytes the steps in flight may use for their work arrays, over the ``devices`` a step spans:
    on accelerators 1/8 of each one's memory (:func:`device_memory`) times their number, since each
    holds its share of a step's work; on a CPU, whose devices share the host's memory, 256 MiB."""
    if accelerator():
        return max(2**28, device_memory() // 8) * max(1, int(devices))
    return 2**28


def devices_allowed() -> str:
    """What ``run.devices`` may be here: a count of the devices of all processes."""
    procs, local = jax.process_count(), jax.local_device_count()
    if procs == 1:
        return f"an integer in [1, {local}] (the local devices) or null"
    return (f"a multiple of the {procs} processes in [{procs}, {procs * local}] ({procs} processes x {local} "
            "local devices) or null")


def devices_valid(count: int) -> bool:
    """Whether ``count`` devices can be used: the same number from every process."""
    procs, count = jax.process_count(), int(count)
    return 1 <= count and count % procs == 0 and count // procs <= jax.local_device_count()


def devices(count: int | None = None) -> list:
    """The devices a run uses, in ``jax.devices()`` order (the same list in every process): all of
    them (``None``) or the first ``count / processes`` local devices of every process. With
    ``jax.distributed`` initialised these are the devices of all processes (global devices)."""
    every = jax.devices()
    if count is None:
        return every
    if not devices_valid(count):
        raise ValueError(f"run.devices={count}: must be {devices_allowed()}")
    per, rank = int(count) // jax.process_count(), collections.Counter()
    used = []
    for d in every:
        if rank[d.process_index] < per:
            used.append(d)
        rank[d.process_index] += 1
    return used


def layout(points: int, count: int) -> tuple[int, int]:
    """Mesh shape ``(points, blocks)`` for a step over ``points`` grid points on ``count`` devices:
    the points split ``gcd(points, count)`` ways (no padding of the grid), the blocks of each
    chunk over the remaining ``count / gcd`` devices. A grid with as many points as devices or a
    multiple of it shards points only; one of coprime size, blocks only."""
    p = math.gcd(max(1, int(points)), int(count))
    return p, int(count) // p


def mesh(used: list, points: int):
    """The 2-D device mesh (axes ``points``, ``blocks``) of :func:`layout` over ``used``, or None
    for one device. Devices fill it row by row, so a row of points stays on one process as far as
    the shape allows (only ``blocks`` sums cross processes then)."""
    if len(used) == 1:
        return None
    shape = layout(points, len(used))
    return jax.sharding.Mesh(np.asarray(used, dtype=object).reshape(shape), ("points", "blocks"))


def slices(active: np.ndarray, per: int) -> list[tuple[np.ndarray, int]]:
    """``active`` point indices in slices of ``per``: ``(indices [per], valid)``, the last one
    padded with its last index (only its first ``valid`` entries count)."""
    out = []
    for start in range(0, active.size, per):
        part = active[start:start + per]
        out.append((np.concatenate([part, np.full(per - part.size, part[-1])]).astype(np.int64), part.size))
    return out


def accumulate(step: Callable, total: int, chunk: int, *, block: int = BLOCK,
               progress: bool | None = None, desc: str = "pulses", workers: int | None = None,
               points: int | None = None, slice_points: int | None = None,
               converged: Callable | None = None, stop: Callable[[], bool] = stop_requested) -> Accumulated:
    """Run ``step(first_block, block_sizes) -> pytree of int counts`` over all blocks.

    ``block_sizes`` has a fixed length (blocks per chunk) so the step compiles once; blocks past
    the end of the run have size 0. The first chunk runs alone (it compiles the step), then
    ``workers`` (default: ``default_workers()``) at a time.

    With ``points`` (a grid of that many points), the step is ``step(first, sizes, idx)`` for the
    points ``idx`` [``slice_points``] and returns leaves with that leading axis; the counts come
    back with a leading axis of ``points``. ``converged(counts, pulses) -> bool [points]`` (from
    the counts and pulses per point so far, after each whole chunk) stops the points it marks.
    ``stop()`` says when to stop and keep what is done (default: :func:`request_stop` was called,
    e.g. by Ctrl-C); processes running the same steps together pass one that all of them agree on.
    """
    blocks, per_chunk = plan(total, chunk, block)
    workers = default_workers() if workers is None else max(1, int(workers))
    per_slice = None if points is None else max(1, min(int(slice_points or points), points))
    start = time.perf_counter()
    stopped = None if points is None else np.zeros(points, bool)  # as of the last whole chunk
    point_pulses = None if points is None else np.zeros(points, np.int64)

    def one(first, idx):
        at = np.int64(first) + np.arange(per_chunk, dtype=np.int64)
        sizes = np.clip(total - at * block, 0, block).astype(np.int64)
        out = jax.device_get(step(np.int64(first), sizes) if idx is None else step(np.int64(first), sizes, idx))
        return jax.tree_util.tree_map(lambda x: np.asarray(x, dtype=np.int64), out), int(sizes.sum())

    def items():
        """(first, idx, valid, last of its chunk) in chunk order, slices of the points still running."""
        for first in range(0, blocks, per_chunk):
            if points is None:
                yield first, None, 0, True
                continue
            parts = slices(np.flatnonzero(~stopped), per_slice)
            if not parts:
                return
            for j, (idx, valid) in enumerate(parts):
                yield first, idx, valid, j == len(parts) - 1

    many = blocks > per_chunk or (points is not None and points > per_slice)
    pool = ThreadPoolExecutor(workers) if workers > 1 and many else None

    def submit(first, idx) -> Future:
        if pool is not None:
            return pool.submit(one, first, idx)
        done_now = Future()
        done_now.set_result(one(first, idx))
        return done_now

    work = items()
    running = collections.deque()
    acc, cur, done = None, None, 0
    bar = _bar(total, progress, desc)
    pace = _Pace(total, workers, desc)
    _loops[0] += 1
    own = None  # Python's default SIGINT handler, replaced by the flag while the loop runs
    if threading.current_thread() is threading.main_thread() and \
            signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        own = signal.signal(signal.SIGINT, _on_sigint)
    try:
        if stop():
            raise KeyboardInterrupt
        item = next(work, None)
        if item is not None:  # the first chunk alone: it compiles the step
            running.append((item, submit(item[0], item[1])))
        while running:
            (_, idx, valid, last), fut = running.popleft()
            out, n = _result(fut, stop)
            if idx is None:
                cur = out
            else:
                if cur is None:
                    cur = jax.tree_util.tree_map(lambda x: np.zeros((points, *x.shape[1:]), np.int64), out)
                rows = idx[:valid][~stopped[idx[:valid]]]
                keep = ~stopped[idx[:valid]]
                for c, o in zip(jax.tree_util.tree_leaves(cur), jax.tree_util.tree_leaves(out)):
                    c[rows] += o[:valid][keep]
            if last:  # a whole chunk: into the totals
                acc = cur if acc is None else jax.tree_util.tree_map(np.add, acc, cur)
                cur = None
                if point_pulses is None:
                    done += n
                else:
                    point_pulses[~stopped] += n
                    done = int(point_pulses.max())
                    if converged is not None:
                        stopped = stopped | np.asarray(converged(acc, point_pulses), bool)
                pace.update(done)
                if bar is not None:
                    bar.update(n)
            if stop():
                raise KeyboardInterrupt
            for item in work:
                running.append((item, submit(item[0], item[1])))
                if len(running) >= workers:
                    break
    except KeyboardInterrupt:
        if acc is None:
            raise
        return Accumulated(acc, done, False, time.perf_counter() - start, point_pulses)
    finally:
        for _, f in running:
            f.cancel()
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        if bar is not None:
            bar.close()
        if own is not None:
            signal.signal(signal.SIGINT, own)
            _STOP.clear()  # only this loop's flag handler set it
    return Accumulated(acc, done, True, time.perf_counter() - start, point_pulses)


def relative_errors(estimate: Callable, sent, counts, measured, names=("key_rate_signed", "qber")):
    """Relative standard errors of the estimator's outputs ``names`` at the simulated counts, by
    the delta method over the multinomial of the pulses' cells.

    The cells are (setting, outcome) of the measured settings and the unmeasured settings; with
    x [K] their counts of N pulses, Cov(x) = N (diag(p) - p p^T) at p = x / N, so for an output
    R(x) with gradient g: Var R = sum_k g_k^2 x_k - (sum_k g_k x_k)^2 / N (Cramer's delta method;
    Var of a ratio estimator, e.g. Bickel & Doksum, Mathematical Statistics, sec. 5.3).
    ``estimate(sent [S], counts [S, O]) -> dict``; ``measured``: static bool [S]. Returns
    ``{name: |sigma / value|}`` (inf where the value is 0), elementwise for vector outputs.
    """
    measured = np.asarray(measured, bool)
    s, o = counts.shape[-2:]
    m_idx, u_idx = np.flatnonzero(measured), np.flatnonzero(~measured)
    x = jnp.concatenate([counts[m_idx].reshape(-1), sent[u_idx]]).astype(jnp.float64)

    def cells_to(x):
        c = jnp.zeros((s, o), jnp.float64).at[m_idx].set(x[:m_idx.size * o].reshape(m_idx.size, o))
        st = jnp.zeros(s, jnp.float64).at[m_idx].set(c[m_idx].sum(-1)).at[u_idx].set(x[m_idx.size * o:])
        return st, c

    def outputs(x):
        out = estimate(*cells_to(x))
        return {k: jnp.asarray(out[k], jnp.float64).reshape(-1) for k in names if k in out}

    value = outputs(x)
    jac = jax.jacfwd(outputs)(x)
    n = jnp.maximum(x.sum(), 1.0)
    res = {}
    for k, v in value.items():
        g = jac[k]  # [len(v), K]
        var = jnp.maximum((g ** 2 * x).sum(-1) - (g @ x) ** 2 / n, 0.0)
        rel = jnp.where(v != 0, jnp.sqrt(var) / jnp.abs(jnp.where(v != 0, v, 1.0)), jnp.inf)
        res[k] = rel
    return res


_LONG_RUN_S = 3600.0  # a run expected to take longer than this says so


class _Pace:
    """Once ``workers`` chunks after the first (which compiles) have finished, estimate the time
    left from their measured throughput and, if it exceeds an hour, say so on stderr once."""

    def __init__(self, total: int, workers: int, desc: str):
        self.total, self.workers, self.desc = int(total), workers, desc
        self.start = self.base = None
        self.chunks = 0

    def update(self, done: int) -> None:
        self.chunks += 1
        if self.chunks == 1:
            self.start, self.base = time.perf_counter(), done
        elif self.chunks == self.workers + 1 and done < self.total:
            rate = (done - self.base) / max(time.perf_counter() - self.start, 1e-9)
            left = (self.total - done) / max(rate, 1e-300)
            if left > _LONG_RUN_S:
                import sys

                print(f"kqjax: at the measured {rate:.3g} {self.desc}/s this run needs about {left / 3600:.3g} h "
                      "more; Ctrl-C stops it and keeps what is done", file=sys.stderr, flush=True)


def _bar(total: int, progress: bool | None, desc: str):
    """A tqdm bar that appears only for runs longer than ~2 s (``progress=None``)."""
    if progress is False:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=int(total), unit=" " + desc, unit_scale=True, delay=0 if progress else 2.0,
                leave=False, dynamic_ncols=True)
