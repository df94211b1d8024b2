"""kqjax-bench-sensors: Allan deviations and power-law noise generation, kqjax against allantools.

Measured in the same run, on the same machine and (for the deviations) the same data:

- Allan family: ``adev, oadev, mdev, hdev, tdev`` with octave averaging times of one record of white
  frequency noise (1e6 and 1e7 samples by default), ``kqjax.sensors.allan`` against ``allantools``
  (``data_type="freq"``, ``taus="octave"``). kqjax is timed after a first call, so compilation is
  excluded from its time and reported apart (first call minus best call). The two results are compared
  tau by tau (the largest relative difference is printed).
- Noise: realisations per second of power-law frequency noise (Kasdin-Walter filter) of ``2^16``
  samples, ``kqjax.sensors.noise.power_law_noise`` (one batched call) against ``allantools.Noise``
  (one realisation per call, the same algorithm in NumPy), for white, flicker and random-walk FM. The
  Allan deviation of both generators at tau = 4 samples is compared with the power-law model.
- Memory: the device's memory-bandwidth ceiling, measured in the same run
  (:func:`kqjax.benchmarking.memory_ceiling`), and each kqjax row's effective bandwidth against it:
  a statistic reads its record at least once (8 bytes a sample), a noise realisation is written at
  least once (8 bytes a sample).

Every measurement is repeated ``--repeat`` times and the best time is reported. Speed lives here,
never in a timed test. Usage: ``kqjax-bench-sensors [--samples N ...] [--noise-samples N]
[--realisations R] [--repeat R] [--seed S] [--quick] [--json FILE]``.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np

from kqjax.benchmarking import (best_of, count, effective, environment, memory_ceiling, memory_percent,
                                missing_peer, options, start, write_json)

STATISTICS = ("adev", "oadev", "mdev", "hdev", "tdev")
NOISES = {0: "white FM", -1: "flicker FM", -2: "random-walk FM"}
TARGET = 2.0  # kqjax / allantools speed ratio aimed at on CPU
CHECK_M = 4  # averaging factor at which the generated noise is checked against its model


def bench_allan(n: int, repeat: int, seed: int, ceiling: dict, log) -> list[dict]:
    """One record of ``n`` white-FM samples; every statistic by both libraries."""
    import allantools
    import jax
    import jax.numpy as jnp

    from kqjax.sensors import allan

    data = np.random.default_rng(seed).standard_normal(n)
    on_device = jax.block_until_ready(jnp.asarray(data))
    rows = []
    for stat in STATISTICS:
        log(f"  {stat} of {n:.3g} samples ...")
        ours = getattr(allan, stat)
        ref_fn = getattr(allantools, stat)

        def kq():
            return jax.block_until_ready(ours(on_device, rate=1.0, data_type="freq", taus="octave"))

        t0 = time.perf_counter()
        res = kq()
        first = time.perf_counter() - t0
        k_best, k_times, _ = best_of(kq, repeat)
        ref = ref_fn(data, rate=1.0, data_type="freq", taus="octave")
        a_best, a_times, _ = best_of(lambda: ref_fn(data, rate=1.0, data_type="freq", taus="octave"), repeat)
        same_taus = bool(np.array_equal(np.asarray(res[0]), ref[0]) and np.array_equal(np.asarray(res[3]), ref[3]))
        rel = float(np.max(np.abs(np.asarray(res[1]) / ref[1] - 1.0))) if same_taus else float("inf")
        rows.append({"samples": n, "statistic": stat, "taus": int(len(ref[0])), "allantools_s": a_best,
                     "kqjax_s": k_best, "ratio": a_best / k_best, "compile_s": max(first - k_best, 0.0),
                     "max_rel_diff": rel, "same_taus_and_counts": same_taus,
                     "allantools_times_s": a_times, "kqjax_times_s": k_times, **effective(8.0 * n, k_best, ceiling)})
    return rows


def bench_noise(n: int, realisations: int, repeat: int, seed: int, ceiling: dict, log) -> list[dict]:
    """Realisations per second of power-law noise, and a check of both generators against the model."""
    import allantools
    import jax

    from kqjax.sensors import allan, noise

    rows = []
    for alpha, name in NOISES.items():
        log(f"  {name} noise, {realisations} x {n} samples ...")
        h = 2.0 * (2.0 * math.pi) ** alpha  # Q_d = 1 at rate 1 (Kasdin & Walter 1992)
        key = jax.random.key(seed)

        def kq():
            return jax.block_until_ready(noise.power_law_noise(key, {alpha: h}, n, 1.0, (realisations,)))

        t0 = time.perf_counter()
        y_kq = np.asarray(kq())
        first = time.perf_counter() - t0
        k_best, _, _ = best_of(kq, repeat)
        np.random.seed(seed)  # allantools.Noise draws from NumPy's global generator

        def at():
            out = []
            for _ in range(realisations):
                gen = allantools.Noise(nr=n + 1, qd=1.0, b=alpha - 2)  # phase PSD exponent b = alpha - 2
                gen.generateNoise()
                out.append(np.diff(gen.time_series))  # fractional frequency, tau0 = 1
            return np.asarray(out)

        y_at = at()
        a_best, _, _ = best_of(at, repeat)
        model = math.sqrt(float(noise.power_law_avar(alpha, h, CHECK_M, 1.0)))
        check = {}
        for label, y in (("kqjax", y_kq), ("allantools", y_at)):
            dev = np.asarray(allan.oadev(y, rate=1.0, taus=[float(CHECK_M)])[1])[:, 0]
            check[label] = float(np.sqrt(np.mean(dev ** 2)) / model)
        rows.append({"noise": name, "alpha": alpha, "samples": n, "realisations": realisations,
                     "kqjax_per_s": realisations / k_best, "allantools_per_s": realisations / a_best,
                     "ratio": a_best / k_best, "compile_s": max(first - k_best, 0.0),
                     "adev_over_model_kqjax": check["kqjax"], "adev_over_model_allantools": check["allantools"],
                     **effective(8.0 * n * realisations, k_best, ceiling)})
    return rows


def run(samples=(10**6, 10**7), noise_samples: int = 2**16, realisations: int = 64, repeat: int = 3,
        seed: int = 0, quick: bool = False, log=None) -> dict:
    """Measure everything; returns a JSON-able dict (``table`` prints it)."""
    import kqjax  # noqa: F401  (enables x64)

    say = log or (lambda msg: None)
    try:
        load_start = [round(v, 2) for v in os.getloadavg()]
    except OSError:  # pragma: no cover
        load_start = [float("nan")] * 3
    say("measuring the memory-bandwidth ceiling ...")
    ceiling = memory_ceiling(repeat, quick)
    allan_rows = []
    for n in samples:
        allan_rows += bench_allan(int(n), repeat, seed, ceiling, say)
    totals = {}
    for n in samples:
        part = [r for r in allan_rows if r["samples"] == int(n)]
        a, k = sum(r["allantools_s"] for r in part), sum(r["kqjax_s"] for r in part)
        totals[str(int(n))] = {"allantools_s": a, "kqjax_s": k, "ratio": a / k,
                               "compile_s": sum(r["compile_s"] for r in part),
                               **effective(sum(r["effective_bytes"] for r in part), k, ceiling)}
    noise_rows = bench_noise(int(noise_samples), int(realisations), repeat, seed, ceiling, say)
    import allantools

    env = environment(allantools_version=getattr(allantools, "__version__", "?"), load_average_start=load_start)
    return {"benchmark": "Allan deviations and power-law noise, kqjax vs allantools", "environment": env,
            "seed": seed, "repeat": repeat, "target_ratio": TARGET, "memory_ceiling": ceiling, "allan": allan_rows,
            "allan_totals": totals, "noise": noise_rows}


def table(result: dict) -> str:
    env = result["environment"]
    load = (", ".join(f"{v:g}" for v in env.get("load_average_start", [])) + " at start; "
            + ", ".join(f"{v:g}" for v in env["load_average"]) + " at end")
    lines = [f"kqjax-bench-sensors: kqjax vs allantools {env['allantools_version']}, best of {result['repeat']}, "
             f"seed {result['seed']}",
             f"device {env['device']} | jax {env['jax_version']} | numpy {env['numpy_version']} | CPUs "
             f"{env['cpu_count']} ({env['cpus_usable']} usable, {env['processor']})",
             f"load average (1, 5, 15 min) {load}",
             "",
             "Allan deviations, octave taus, white FM data (ratio = allantools time / kqjax time)",
             f"{'samples':>9} {'statistic':<9}{'taus':>5}{'allantools [s]':>16}{'kqjax [s]':>11}{'ratio':>8}"
             f"{'compile [s]':>13}{'max rel diff':>14}{'memory':>8}"]
    for r in result["allan"]:
        lines.append(f"{r['samples']:>9.3g} {r['statistic']:<9}{r['taus']:>5}{r['allantools_s']:>16.4f}"
                     f"{r['kqjax_s']:>11.4f}{r['ratio']:>8.2f}{r['compile_s']:>13.2f}{r['max_rel_diff']:>14.1e}"
                     f"{memory_percent(r):>8}")
    for n, t in result["allan_totals"].items():
        mark = "met" if t["ratio"] >= result["target_ratio"] else "NOT met"
        lines.append(f"{float(n):>9.3g} {'all five':<9}{'':>5}{t['allantools_s']:>16.4f}{t['kqjax_s']:>11.4f}"
                     f"{t['ratio']:>8.2f}{t['compile_s']:>13.2f}{'':>14}{memory_percent(t):>8}  (target >= "
                     f"{result['target_ratio']:g}x: {mark})")
    lines += ["", "Power-law noise generation (Kasdin-Walter), realisations per second",
              f"{'noise':<15}{'samples':>9}{'kqjax [1/s]':>13}{'allantools [1/s]':>18}{'ratio':>8}{'compile [s]':>13}"
              f"{'adev/model kqjax':>18}{'allantools':>12}{'memory':>8}"]
    for r in result["noise"]:
        lines.append(f"{r['noise']:<15}{r['samples']:>9}{r['kqjax_per_s']:>13.1f}{r['allantools_per_s']:>18.1f}"
                     f"{r['ratio']:>8.2f}{r['compile_s']:>13.2f}{r['adev_over_model_kqjax']:>18.3f}"
                     f"{r['adev_over_model_allantools']:>12.3f}{memory_percent(r):>8}")
    c = result["memory_ceiling"]
    lines += ["", f"memory: kqjax's effective bandwidth (a statistic reads its record, a realisation is written, "
                  f"8 bytes a sample, at least once) as a fraction of the memory-bandwidth ceiling measured in this "
                  f"run ({c['kernel']}, {c['elements']:.3g} elements: {c['bytes_per_s']:.3e} bytes/s)"]
    return "\n".join(lines)


def main(argv=None) -> int:
    start()
    ap = argparse.ArgumentParser(prog="kqjax-bench-sensors", description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=count, nargs="+", default=None,
                    help="record lengths for the Allan deviations (default 1e6 1e7)")
    ap.add_argument("--noise-samples", type=count, default=None, help="samples per noise realisation (default 2^16)")
    ap.add_argument("--realisations", type=count, default=None, help="noise realisations per call (default 64)")
    ap.add_argument("--repeat", type=count, default=None, help="timed repetitions, best reported (default 3)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the data (default 0)")
    ap.add_argument("--quick", action="store_true", help="small sizes (seconds), for tests")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = ap.parse_args(argv)
    missing = missing_peer("kqjax-bench-sensors", "allantools")
    if missing:
        print(missing, file=sys.stderr)
        return 2
    for name in ("samples",):
        for v in getattr(args, name) or ():
            if v < 64:
                ap.error(f"--samples={v}: must be at least 64")
    quick = {"samples": [2**14, 2**16], "noise_samples": 2**12, "realisations": 8, "repeat": 1, "quick": True}
    full = {"samples": [10**6, 10**7], "noise_samples": 2**16, "realisations": 64, "repeat": 3, "quick": False}
    opts = options(args, quick, full)
    result = run(seed=args.seed, log=lambda msg: print(msg, file=sys.stderr, flush=True), **opts)
    print(table(result))
    if args.json:
        write_json(args.json, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
