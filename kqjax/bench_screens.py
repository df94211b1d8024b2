"""kqjax-bench-screens: phase screens per second, kqjax against aotools, and wave-optics samples.

Measured in the same run on the same machine, for the same screens (von Kármán with three levels of
subharmonics, r0 = 5 cm, L0 = 10 m, spacing 5 mm, n x n points for n = 256 and 1024):

- kqjax: :func:`kqjax.links.channels.phase_screen.unit_screens` scaled by r0^(-5/6), one batched
  call per ``--batch`` screens (float64, and float32), timed after a first call (compilation
  reported apart);
- aotools: ``aotools.turbulence.ft_sh_phase_screen`` (Schmidt's listing in NumPy), one call per
  screen;
- wave optics: transmittance samples per second of the free-space channel's defaults
  (:meth:`FreeSpace.wave_optics_samples`: 256², 5 screens, 1.5 km, float32 fields).

The kqjax screens are also set against the memory-bandwidth ceiling measured in the same process
(:func:`kqjax.benchmarking.memory_ceiling`): a screen is written at least once (its n² values), so
their effective bandwidth is n² x bytes per value x screens per second.

Each measurement runs twice, in a fresh process restricted to one CPU with XLA, NumPy and FFT
threads 1, and in a fresh process with all CPUs; both ratios are printed. The screens of both
libraries are checked against the structure function of the algorithm at 4 points. Speed lives
here, never in a timed test. Usage: ``kqjax-bench-screens [--sizes N ...] [--batch B] [--repeat R]
[--quick] [--json FILE]``.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

from kqjax.benchmarking import (best_of, count, effective, environment, memory_ceiling, memory_percent,
                                missing_peer, options, start, write_json)

R0, L0, DELTA = 0.05, 10.0, 5e-3
TARGET = 2.0  # kqjax / aotools screens per second on one thread
ONE_THREAD = {"XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false",
              "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "NUMBA_NUM_THREADS": "1"}


def _d4(screens) -> float:
    """Mean (φ(x + 4δ) - φ(x))² over the screens, both axes."""
    s = np.asarray(screens, np.float64)
    return float(0.5 * (((s[:, :, 4:] - s[:, :, :-4]) ** 2).mean() + ((s[:, 4:, :] - s[:, :-4, :]) ** 2).mean()))


def measure(sizes, batch: int, repeat: int, samples: int, log, quick: bool = False) -> dict:
    """Rows of this process (its threads as they are)."""
    import aotools
    import jax
    import jax.numpy as jnp

    import kqjax  # noqa: F401  (x64)
    from kqjax.links.channels import phase_screen as ps
    from kqjax.links.channels.free_space import FreeSpace

    log("  the memory-bandwidth ceiling ...")
    ceiling = memory_ceiling(repeat, quick)
    rows = []
    for n in sizes:
        b = max(2, batch if n <= 256 else max(2, batch // 8))
        for dtype in (jnp.float64, jnp.float32):
            log(f"  kqjax {n}^2 x {b} ({jnp.dtype(dtype).name}) ...")
            fn = jax.jit(lambda k, dt=dtype: R0 ** (-5 / 6) * ps.unit_screens(k, b, n, DELTA, L0, dtype=dt))
            t0 = time.perf_counter()
            first = jax.block_until_ready(fn(jax.random.key(0)))
            compile_s = time.perf_counter() - t0
            best, _, out = best_of(lambda: jax.block_until_ready(fn(jax.random.key(1))), repeat)
            rows.append({"size": n, "library": f"kqjax {jnp.dtype(dtype).name}", "screens_per_call": b,
                         "screens_per_s": b / best, "compile_s": max(compile_s - best, 0.0), "d4": _d4(out),
                         "first_finite": bool(np.all(np.isfinite(np.asarray(first)))),
                         **effective(b * n * n * jnp.dtype(dtype).itemsize, best, ceiling)})
        a = max(1, b // 4)
        log(f"  aotools {n}^2 x {a} ...")

        def ao():
            return np.stack([aotools.turbulence.ft_sh_phase_screen(R0, n, DELTA, L0, 1e-10, seed=i) for i in range(a)])

        best, _, out = best_of(ao, repeat)
        rows.append({"size": n, "library": "aotools", "screens_per_call": a, "screens_per_s": a / best,
                     "compile_s": 0.0, "d4": _d4(out) * ps.PSD_COEF / 0.023})
        rows[-1]["d4_expected"] = rows[-2]["d4_expected"] = rows[-3]["d4_expected"] = _expected_d4(n)
    log(f"  wave optics: {samples} transmittance samples ...")
    ch = FreeSpace(model="wave_optics", wave_realisations=samples)
    fn = jax.jit(lambda k: ch.wave_optics_samples(k))
    t0 = time.perf_counter()
    jax.block_until_ready(fn(jax.random.key(0)))
    compile_s = time.perf_counter() - t0
    best, _, out = best_of(lambda: jax.block_until_ready(fn(jax.random.key(1))), repeat)
    rows.append({"size": ch.wave_grid_points, "library": "kqjax wave optics", "screens_per_call": samples,
                 "samples_per_s": samples / best, "compile_s": max(compile_s - best, 0.0),
                 "transmittance_mean": float(np.mean(out))})
    from importlib.metadata import version

    return {"rows": rows, "memory_ceiling": ceiling, "environment": environment(aotools_version=version("aotools"))}


def _expected_d4(n: int) -> float:
    """E[D(4δ)] of the algorithm (FFT grid and 3 subharmonic levels), r0 = R0."""
    from kqjax.links.channels import phase_screen as ps

    f = np.fft.fftfreq(n, DELTA)
    fx, fy = np.meshgrid(f, f, indexing="ij")
    df = 1.0 / (n * DELTA)
    p = np.array(ps.psd(np.hypot(fx, fy), R0, L0)) * df**2
    p[0, 0] = 0.0
    r = 4 * DELTA
    total = 2 * np.sum(p * (1 - np.cos(2 * np.pi * fx * r)))
    for level in (1, 2, 3):
        g = np.array([-1.0, 0.0, 1.0]) * df / 3**level
        gx, gy = np.meshgrid(g, g, indexing="ij")
        q = np.array(ps.psd(np.hypot(gx, gy), R0, L0)) * (df / 3**level) ** 2
        q[1, 1] = 0.0
        total += 2 * np.sum(q * (1 - np.cos(2 * np.pi * gx * r)))
    return float(total)


def _child(threads: str, opts: dict, log) -> dict:
    """:func:`measure` in a fresh process: ``threads`` "1" (one CPU, one thread everywhere) or "all"."""
    env = {**os.environ, **(ONE_THREAD if threads == "1" else {})}
    cmd = [sys.executable, "-m", "kqjax.bench_screens", "--worker", threads, "--sizes", *map(str, opts["sizes"]),
           "--batch", str(opts["batch"]), "--repeat", str(opts["repeat"]), "--samples", str(opts["samples"])]
    cmd += ["--quick"] if opts["quick"] else []
    log(f"{'one thread' if threads == '1' else 'all threads'}:")
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    sys.stderr.write(proc.stderr)
    if proc.returncode:
        raise RuntimeError(f"benchmark process failed ({proc.returncode})")
    return json.loads(proc.stdout)


def run(args) -> dict:
    """Both thread settings; returns a JSON-able dict (``table`` prints it)."""
    opts = {k: getattr(args, k) for k in ("sizes", "batch", "repeat", "samples", "quick")}
    log = getattr(args, "log", None) or (lambda msg: print(msg, file=sys.stderr, flush=True))
    one, every = _child("1", opts, log), _child("all", opts, log)
    for rows, threads in ((one["rows"], 1), (every["rows"], "all")):
        for r in rows:
            r["threads"] = threads
    ratios = {}
    for label, rows in (("one_thread", one["rows"]), ("all_threads", every["rows"])):
        for n in opts["sizes"]:
            ao = next(r for r in rows if r["size"] == n and r["library"] == "aotools")
            for r in rows:
                if r["size"] == n and r["library"].startswith("kqjax float"):
                    ratios[f"{label} {n} {r['library']}"] = r["screens_per_s"] / ao["screens_per_s"]
    return {"benchmark": "phase screens, kqjax vs aotools; wave-optics transmittance samples",
            "environment": every["environment"], "one_thread_cpus": 1, "repeat": opts["repeat"],
            "r0_m": R0, "outer_scale_m": L0, "spacing_m": DELTA, "target_ratio": TARGET,
            "memory_ceiling": {"1": one["memory_ceiling"], "all": every["memory_ceiling"]},
            "rows": one["rows"] + every["rows"], "ratios": ratios}


def table(result: dict) -> str:
    env = result["environment"]
    lines = [f"kqjax-bench-screens: kqjax vs aotools {env['aotools_version']}, best of {result['repeat']}; "
             f"r0 {result['r0_m']} m, L0 {result['outer_scale_m']} m, spacing {result['spacing_m']} m",
             f"device {env['device']} | jax {env['jax_version']} | numpy {env['numpy_version']} | CPUs "
             f"{env['cpu_count']} ({env['cpus_usable']} usable, {env['processor']}) | load {env['load_average']}",
             "",
             f"{'threads':>7} {'size':>5} {'library':<18}{'per call':>9}{'per s':>11}{'compile [s]':>12}"
             f"{'D(4d)/E[D]':>12}{'memory':>9}"]
    for r in result["rows"]:
        rate = r.get("screens_per_s", r.get("samples_per_s"))
        check = f"{r['d4'] / r['d4_expected']:.3f}" if "d4" in r else f"T={r['transmittance_mean']:.3f}"
        lines.append(f"{r['threads']!s:>7} {r['size']:>5} {r['library']:<18}{r['screens_per_call']:>9}{rate:>11.1f}"
                     f"{r['compile_s']:>12.2f}{check:>12}{memory_percent(r):>9}")
    lines.append("")
    for threads, c in result["memory_ceiling"].items():
        lines.append(f"memory-bandwidth ceiling, {'one thread' if threads == '1' else 'all threads'}: "
                     f"{c['kernel']}, {c['elements']:.3g} elements: {c['bytes_per_s']:.3e} bytes/s (memory: the "
                     f"screens' effective bandwidth, n^2 values written once a screen, as a fraction of it)")
    for k, v in result["ratios"].items():
        mark = "" if not k.startswith("one_thread") else \
            f"  (target >= {result['target_ratio']:g}x: {'met' if v >= result['target_ratio'] else 'NOT met'})"
        lines.append(f"ratio kqjax / aotools screens per s, {k}: {v:.2f}{mark}")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="kqjax-bench-screens", description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=count, nargs="+", default=None, help="grid sizes n (default 256 1024)")
    ap.add_argument("--batch", type=count, default=None, help="kqjax screens per call at 256^2 (default 64; /8 above)")
    ap.add_argument("--samples", type=count, default=None, help="wave-optics samples per call (default 64)")
    ap.add_argument("--repeat", type=count, default=None, help="timed repetitions, best reported (default 3)")
    ap.add_argument("--quick", action="store_true", help="small sizes (seconds)")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    ap.add_argument("--worker", choices=("1", "all"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    quick = {"sizes": [64, 128], "batch": 8, "samples": 4, "repeat": 1, "quick": True}
    full = {"sizes": [256, 1024], "batch": 64, "samples": 64, "repeat": 3, "quick": False}
    opts = options(args, quick, full)
    if args.worker:
        if args.worker == "1" and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        start()
        out = measure(opts["sizes"], opts["batch"], opts["repeat"], opts["samples"],
                      lambda msg: print(msg, file=sys.stderr, flush=True), opts["quick"])
        print(json.dumps(out))
        return 0
    missing = missing_peer("kqjax-bench-screens", "aotools")
    if missing:
        print(missing, file=sys.stderr)
        return 2
    result = run(argparse.Namespace(**opts))
    print(table(result))
    if args.json:
        write_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
