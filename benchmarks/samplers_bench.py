"""Draws per second of binomial samplers: jax.random.binomial, kqjax's exact sampler, NumPy.

    python benchmarks/samplers_bench.py [--draws 1000000] [--blocks 100000] [--repeat 3]

For p in {1e-6, 1e-3, 0.3} and n = 65536: a flat array of draws under jit, and a vmap over
per-block keys (``fold_in(root, block)``) of 11 draws each, as the link simulation does. NumPy's
``Generator.binomial`` draws the same number flat (it has no keys), with the same ``(n, p)``
for every draw (its setup is then cached) and with ``n`` changing from draw to draw
(65536 - j for j in 0..3, as the counts of a link's blocks do). Each figure is the best of
``--repeat`` runs after a warm-up (compile excluded). Both wall-clock and process CPU time are
reported: on a shared machine the CPU-time rate (draws per CPU-second, times the core count for
the jax samplers that use all cores) is the steadier measure.
"""
from __future__ import annotations

import argparse
import os
import resource
import time

import jax
import jax.numpy as jnp
import numpy as np

import kqjax  # noqa: F401  (x64)
from kqjax.engine import samplers

N_TRIALS = 65536.0
PS = (1e-6, 1e-3, 0.3)
PER_BLOCK = 11


def _cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _best(fn, repeat):
    """(best wall seconds, best CPU seconds) of ``fn()`` after one warm-up call."""
    jax.block_until_ready(fn())
    wall = cpu = float("inf")
    for _ in range(repeat):
        c0, t0 = _cpu(), time.perf_counter()
        jax.block_until_ready(fn())
        wall = min(wall, time.perf_counter() - t0)
        cpu = min(cpu, _cpu() - c0)
    return wall, cpu


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=1_000_000)
    ap.add_argument("--blocks", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-jax", action="store_true", help="skip jax.random.binomial (slow)")
    args = ap.parse_args(argv)

    root = jax.random.key(0)
    keys = jax.vmap(lambda i: jax.random.fold_in(root, i))(jnp.arange(args.blocks))
    flat_n = jnp.full((args.draws,), N_TRIALS)
    block_n = jnp.full((args.blocks, PER_BLOCK), N_TRIALS)
    ours_flat = jax.jit(samplers.binomial)
    ours_vmap = jax.jit(jax.vmap(samplers.binomial))
    jax_flat = jax.jit(lambda k, n, p: jax.random.binomial(k, n, p))
    jax_vmap = jax.jit(jax.vmap(lambda k, n, p: jax.random.binomial(k, n, p)))
    rng = np.random.default_rng(0)
    vary_n = int(N_TRIALS) - np.arange(args.draws) % 4
    cores = os.cpu_count() or 1

    print(f"{jax.devices()[0]}; {cores} cores; load average {os.getloadavg()[0]:.1f}; "
          f"n = {N_TRIALS:g}; flat {args.draws:,} draws; vmap {args.blocks:,} keys x {PER_BLOCK}")
    print(f"{'p':>6}  {'sampler':<22} {'layout':<6} {'wall M/s':>9} {'CPU-time M/s':>13}")
    rows = []
    for p in PS:
        flat_p = jnp.full((args.draws,), p)
        block_p = jnp.full((args.blocks, PER_BLOCK), p)
        cases = [
            ("kqjax samplers", "flat", args.draws, lambda: ours_flat(root, flat_n, flat_p), True),
            ("kqjax samplers", "vmap", args.blocks * PER_BLOCK,
             lambda: ours_vmap(keys, block_n, block_p), True),
            ("numpy Generator", "flat", args.draws,
             lambda: rng.binomial(int(N_TRIALS), p, args.draws), False),
            ("numpy Generator", "vary n", args.draws, lambda: rng.binomial(vary_n, p), False),
        ]
        if not args.skip_jax:
            cases += [
                ("jax.random.binomial", "flat", args.draws, lambda: jax_flat(root, flat_n, flat_p),
                 True),
                ("jax.random.binomial", "vmap", args.blocks * PER_BLOCK,
                 lambda: jax_vmap(keys, block_n, block_p), True),
            ]
        for name, layout, count, fn, multicore in cases:
            wall, cpu = _best(fn, args.repeat)
            cpu_rate = count / cpu / 1e6 * (cores if multicore else 1)
            rows.append((p, name, layout, count / wall / 1e6, cpu_rate))
            print(f"{p:>6g}  {name:<22} {layout:<6} {count / wall / 1e6:>9.2f} {cpu_rate:>13.2f}",
                  flush=True)
    return rows


if __name__ == "__main__":
    main()
