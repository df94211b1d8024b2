"""kqjax-bench --all: every benchmark area, with all threads and with one, in one Markdown table.

Each area's own command (``kqjax-bench`` for links, ``kqjax-bench-sensors``,
``kqjax-bench-screens`` for phase screens where installed) runs twice in a fresh process: once as
it is, and once confined to one CPU core (``sched_setaffinity``), with XLA's intra-op threads, BLAS
and OpenMP limited to one thread and ``--workers 1``. kqjax and its peers (NumPy, ``allantools``,
``aotools``) are measured in the same process each time, so every ratio compares like with like.
The areas' JSON results are kept whole under ``areas`` and summarised as rows
``(area, row, unit, value with all threads, value with one thread, peer, ratios, ceiling)``, where
a row measured against one of the device's ceilings in the same process gives its fraction of it:
the event-level links against the random-bit ceiling, the sensors' and screens' rows against the
memory-bandwidth ceiling (their effective bandwidth).

Usage: ``kqjax-bench --all [--quick] [--areas links sensors screens] [--threads all one]
[--json FILE] [--markdown FILE]``.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from kqjax.benchmarking import environment

AREAS = {"links": "kqjax.bench", "sensors": "kqjax.bench_sensors", "screens": "kqjax.bench_screens"}
PEERS = {"sensors": "allantools", "screens": "aotools"}  # measured against, beyond the core install
ONE_THREAD_ENV = {"XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false",
                  "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
THREADS = ("all", "one")


def available(area: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(AREAS[area]) is not None


def _one_core() -> None:  # pragma: no cover  (runs in the child)
    try:
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    except (AttributeError, OSError):
        pass


def measure(area: str, threads: str, quick: bool, log) -> dict:
    """One area's JSON result, measured in a fresh process with all threads or one."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, "-m", AREAS[area], "--json", str(out)] + (["--quick"] if quick else [])
        env = dict(os.environ)
        extra = {}
        if threads == "one":
            env.update(ONE_THREAD_ENV)
            if area == "links":
                cmd += ["--workers", "1"]
            extra["preexec_fn"] = _one_core
        log(f"{area}, {threads} thread{'s' if threads == 'all' else ''}: {' '.join(cmd[2:])}")
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, **extra)
        if proc.returncode != 0:
            raise RuntimeError(f"{area} ({threads} threads) failed:\n{proc.stderr[-2000:]}")
        return json.loads(out.read_text())


def _ceiling(row: dict) -> dict:
    """``{ceiling, fraction}`` of a row set against the memory-bandwidth ceiling, else empty."""
    f = row.get("fraction_of_memory_ceiling")
    return {} if f is None else {"ceiling": "memory", "fraction": f}


def summary(area: str, result: dict, threads: str = "all") -> list[dict]:
    """Rows ``{row, unit, value, peer, ratio}`` (and ``ceiling``, ``fraction`` where the row is set
    against one) of one area's result (``ratio``: kqjax over peer); ``threads``: which of the rows
    an area measures itself with all threads and one to take."""
    if "summary" in result:
        return result["summary"]
    rows = []
    if area == "screens":
        mine = [r for r in result["rows"] if r["threads"] == ("all" if threads == "all" else 1)]
        peer = {r["size"]: r["screens_per_s"] for r in mine if r["library"] == "aotools"}
        for r in mine:
            if "samples_per_s" in r:
                rows.append({"row": f"{r['library']} transmittances, {r['size']}^2 grid", "unit": "samples/s",
                             "value": r["samples_per_s"], "peer": None, "ratio": None})
            elif r["library"] != "aotools":
                rows.append({"row": f"{r['library']} phase screens {r['size']}^2", "unit": "screens/s",
                             "value": r["screens_per_s"], "peer": "aotools",
                             "ratio": r["screens_per_s"] / peer[r["size"]] if r["size"] in peer else None,
                             **_ceiling(r)})
    if area == "links":
        rate = {k: r["pulses_per_s"] for k, r in result["rows"].items()}
        for name, value in rate.items():
            if name.startswith("kqjax"):
                peer = name.replace("kqjax", "numpy", 1)
                rows.append({"row": name, "unit": "pulses/s", "value": value, "peer": peer,
                             "ratio": value / rate[peer] if peer in rate else None})
                if name == "kqjax event" and "event_words" in result:
                    rows[-1].update(ceiling="random bits", fraction=result["event_words"]["fraction_of_ceiling"])
        if "sampler" in result:
            m = result["sampler"]
            rows.append({"row": "kqjax count-level sampler alone (multinomial)", "unit": "binomial draws/s",
                         "value": m["kqjax_draws_per_s"], "peer": "numpy conditional binomials",
                         "ratio": m["ratio"]})
    elif area == "sensors":
        for n, t in result["allan_totals"].items():
            rows.append({"row": f"Allan family (5 statistics), {float(n):.0e} samples", "unit": "s",
                         "value": t["kqjax_s"], "peer": "allantools", "ratio": t["ratio"], **_ceiling(t)})
        for r in result["noise"]:
            rows.append({"row": f"{r['noise']} noise, {r['samples']} samples", "unit": "realisations/s",
                         "value": r["kqjax_per_s"], "peer": "allantools", "ratio": r["ratio"], **_ceiling(r)})
    return rows


def combine(results: dict) -> list[dict]:
    """Rows of every area with the all-thread and one-thread values side by side (None for a
    thread count not measured)."""
    out = []
    for area, by_threads in results.items():
        rows = {t: {r["row"]: r for r in summary(area, by_threads[t], t)} for t in THREADS if t in by_threads}
        for name in rows.get("all") or rows.get("one", {}):
            a, o = (rows.get(t, {}).get(name, {}) for t in THREADS)
            base = a or o
            out.append({"area": area, "row": name, "unit": base["unit"], "peer": base["peer"],
                        "value_all": a.get("value"), "value_one": o.get("value"),
                        "ratio_all": a.get("ratio"), "ratio_one": o.get("ratio"), "ceiling": base.get("ceiling"),
                        "fraction_all": a.get("fraction"), "fraction_one": o.get("fraction")})
    return out


def _num(x, digits: int = 3) -> str:
    """``x`` to ``digits`` significant figures, truncated (never rounded up)."""
    if x is None:
        return "—"
    if x == 0 or not math.isfinite(x):
        return f"{x:g}"
    e = math.floor(math.log10(abs(x)))
    step = 10.0 ** (e - digits + 1)
    v = math.trunc(x / step) * step
    return f"{v:.{max(0, digits - 1 - e)}f}" if -3 <= e < 4 else f"{v / 10.0 ** e:.{digits - 1}f}e{e:+03d}"


def markdown(result: dict) -> str:
    env = result["environment"]
    lines = [f"Measured {result['date']} on {env['processor']} ({env['cpu_count']} CPUs, {env['cpus_usable']} "
             f"usable), device {env['device']}, jax {env['jax_version']}, numpy {env['numpy_version']}"
             f"{' (--quick: smoke-test sizes, the ratios say little)' if result['quick'] else ''}.",
             "", "| area | row | unit | kqjax, all threads | kqjax, one thread | peer | ratio, all threads | "
             "ratio, one thread | of the device's ceiling, all threads / one |", "|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        ratios = [("—" if v is None else f"{_num(v)}×") for v in (r["ratio_all"], r["ratio_one"])]
        lines.append(f"| {r['area']} | {r['row']} | {r['unit']} | {_num(r['value_all'])} | {_num(r['value_one'])} | "
                     f"{r['peer'] or '—'} | {ratios[0]} | {ratios[1]} | {_fraction(r)} |")
    return "\n".join(lines)


def _fraction(row: dict) -> str:
    """``memory 3.1 % / 4.2 %``: a row's fractions of its ceiling, truncated; ``—`` for none."""
    if not row.get("ceiling"):
        return "—"
    parts = ["—" if v is None else f"{_num(100 * v)} %" for v in (row["fraction_all"], row["fraction_one"])]
    return f"{row['ceiling']} {parts[0]} / {parts[1]}"


def run(areas=None, quick: bool = False, log=None, threads=THREADS) -> dict:
    import datetime

    say = log or (lambda msg: None)
    areas = [a for a in (areas or AREAS) if available(a)]
    results = {a: {t: measure(a, t, quick, say) for t in THREADS if t in threads} for a in areas}
    return {"benchmark": "kqjax-bench --all", "date": datetime.date.today().isoformat(), "quick": quick,
            "environment": environment(), "rows": combine(results), "areas": results}


def main(argv=None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="kqjax-bench --all", description=__doc__.splitlines()[0])
    ap.add_argument("--all", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--areas", nargs="+", choices=list(AREAS), default=None, help="areas to measure (default: all)")
    ap.add_argument("--threads", nargs="+", choices=THREADS, default=list(THREADS),
                    help="thread counts to measure: all (the process as it is), one (one core); default both")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (seconds), for tests")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    ap.add_argument("--markdown", metavar="FILE", help="also write the Markdown table to FILE")
    args = ap.parse_args(argv)
    from kqjax.benchmarking import missing_peer, report, say

    for area in [a for a in (args.areas or AREAS) if a in PEERS and available(a)]:
        missing = missing_peer("kqjax-bench --all", PEERS[area])
        if missing:  # before any work
            print(missing, file=sys.stderr)
            return 2
    result = run(args.areas, args.quick, log=say, threads=args.threads)
    table = markdown(result)
    report(table, result, args.json)
    if args.markdown:
        from kqjax.results.io import atomic_path

        with atomic_path(args.markdown) as tmp:
            tmp.write_text(table + "\n")
        print(f"markdown: {args.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
