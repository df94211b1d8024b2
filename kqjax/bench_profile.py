"""kqjax-bench-profile: what a link step's time is made of on this device.

Two measurements of the count step of ``kqjax-bench``'s link (decoy BB84, 16 fiber lengths
0-250 km; ``--experiment NAME`` for another protocol's, as ``kqjax-bench`` names them, or
``satellite_pass`` for its satellite pass: one point, in the pass's time slots):

- chunk scan: the compiled step's best time, one step at a time, at each chunk size of
  ``--chunks`` (default 2^22..2^28 by fours on a CPU, 2^26..2^34 on a GPU, bounded by the
  device's memory), and the line ``t = a + b * pulses`` through them (pulses of all points; least
  squares of the relative residuals): ``a`` is the step's fixed cost (kernel launches, the loops'
  round trips to the host, dispatch) and ``1 / b`` its marginal rate. Where ``a`` is most of a
  step at the default chunk, the step is bound by its structure, not by its arithmetic or bits.
- kernels: ``jax.profiler.trace`` of ``--steps`` steps at the device's default chunk, read back
  with ``jax.profiler.ProfileData``: per XLA kernel (named by its HLO op where the event gives one)
  its launches and self time per step (time inside it less the part that events starting inside
  it cover, summed over the device's streams, or over XLA's threads on a CPU), the largest
  printed, the kernels' time against the step's wall time, and memory copies apart (on a GPU a
  loop's condition read back to the host is one). ``--trace DIR`` keeps the trace (TensorBoard's
  profile plugin or XProf open it).

Speed lives here, never in a timed test. Usage: ``kqjax-bench-profile [--experiment NAME]
[--chunks N ...] [--steps S] [--repeat R] [--top K] [--trace DIR] [--quick] [--json FILE]``.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np

from kqjax.benchmarking import best_of, count, environment, options, report, say, size_label, start

SKIPPED = ("end: ", "ThreadpoolListener", "ThunkExecutor", "$")
"""Trace events that are not kernels: markers of XLA's CPU runtime and Python's own frames."""
COPIES = ("Memcpy", "Memset", "memcpy", "memset")
"""Device events that move memory rather than compute (a loop's condition read back to the host)."""
PASS = "satellite_pass"
"""``--experiment`` for ``kqjax-bench``'s satellite pass (one point, its time slots)."""


def default_chunks() -> list[int]:
    """Chunk sizes of the scan: 2^22..2^28 by fours on a CPU; 2^26..2^34 on an accelerator, up to
    16 times its default chunk."""
    from kqjax.engine import driver

    if not driver.accelerator():
        return [2**k for k in (22, 24, 26, 28)]
    top = 16 * driver.default_chunk("count")
    return [2**k for k in (26, 28, 30, 32, 34) if 2**k <= top]


class Subject:
    """The count step under study: ``kqjax-bench``'s link of ``experiment`` (16 points), or its
    satellite pass (one point, counted in the pass's time slots)."""

    def __init__(self, experiment: str | None):
        from kqjax import bench
        from kqjax.engine import keys
        from kqjax.links.link import plan_slots, prepare

        self.name = experiment or "decoy_bb84"
        self.root = keys.root_key(0)
        self.first = 0  # first block of every step
        if experiment == PASS:
            link, pulses, slot_s = bench.build_pass()
            self.link, self.points = prepare(link, self.root), 1
            slots = plan_slots(self.link, pulses, slot_s)
            self.slots = (slots.blocks, slots.count)
            self.first = -(-pulses // keys.BLOCK) // 2  # mid-pass, where the satellite is high
        else:
            self.points = 16
            self.link, _ = bench.build_link(self.points, 250.0, bench.PROTOCOLS[experiment] if experiment else ())
            self.slots = ()

    def step(self, chunk: int):
        """(blocks of a step of ``chunk`` pulses, a call of the compiled step ``first`` blocks on
        from the subject's first block, which waits for its result)."""
        import jax

        from kqjax.engine import keys
        from kqjax.links.link import make_step

        blocks = max(1, chunk // keys.BLOCK)
        step = make_step(self.link, self.root, blocks, "count", *self.slots)
        sizes = np.full(blocks, keys.BLOCK, np.int64)

        def call(first):
            return jax.block_until_ready(step(np.int64(self.first + first), sizes))

        return blocks, call


def scan(subject: Subject, chunks, repeat: int) -> dict:
    """Best time of one compiled count step per chunk size, and the line through them (relative
    least squares, each time weighted by its inverse; none with fewer than two sizes)."""
    from kqjax.engine import keys

    rows = []
    for chunk in chunks:
        blocks, call = subject.step(chunk)
        t0 = time.perf_counter()
        call(0)
        first = time.perf_counter() - t0
        best, times, _ = best_of(partial(call, blocks), repeat)
        pulses = blocks * keys.BLOCK * subject.points
        rows.append({"chunk": blocks * keys.BLOCK, "pulses": pulses, "first_s": first, "best_s": best,
                     "compile_s": max(first - best, 0.0), "times_s": times, "pulses_per_s": pulses / best})
    out = {"rows": rows, "fixed_s": None, "seconds_per_pulse": None, "marginal_pulses_per_s": None}
    if len(rows) > 1:
        x = np.array([r["pulses"] for r in rows], np.float64)
        t = np.array([r["best_s"] for r in rows])
        b, a = np.polyfit(x, t, 1, w=1 / t)
        out.update(fixed_s=float(a), seconds_per_pulse=float(b),
                   marginal_pulses_per_s=float(1 / b) if b > 0 else None)  # b <= 0: the scan is noise
    return out


def self_times(events) -> list[tuple[object, float]]:
    """(event, self seconds) of the events of one line: each event's duration less the part of it
    covered by the events that start inside it and end in it or after it (on one line events
    nest, so that is the time of its children)."""
    out, stack = [], []  # stack: (end_ns, index into out)
    for e in sorted(events, key=lambda e: (e.start_ns, -e.duration_ns)):
        while stack and stack[-1][0] <= e.start_ns:
            stack.pop()
        end = e.start_ns + e.duration_ns
        if stack:
            out[stack[-1][1]][1] -= min(end, stack[-1][0]) - e.start_ns
        out.append([e, float(e.duration_ns)])
        stack.append((end, len(out) - 1))
    return [(e, ns * 1e-9) for e, ns in out]


def kernel_lines(data) -> list:
    """The trace lines that list kernels: a device plane's ``XLA Ops`` line where the trace has
    one, else its ``Stream #...`` lines (a GPU trace as ``jax.profiler`` writes it), or on a CPU
    the host's XLA threads."""
    lines = []
    for plane in data.planes:
        if plane.name.startswith("/device:"):
            own = list(plane.lines)
            ops = [ln for ln in own if ln.name == "XLA Ops"]
            lines += [(plane.name, ln) for ln in ops or [ln for ln in own if ln.name.startswith("Stream")]]
    if not lines:
        lines = [(p.name, ln) for p in data.planes if p.name == "/host:CPU" for ln in p.lines
                 if ln.name.startswith("tf_XLA")]
    return lines


def kernels(data, steps: int) -> dict:
    """Per kernel (its ``hlo_op`` where the event names one, else the event's name) in ``data`` (a
    ProfileData): launches and self seconds per step; memory copies and sets counted apart."""
    table, copies, names = {}, [0, 0.0], []
    for plane, line in kernel_lines(data):
        names.append(f"{plane}: {line.name}")
        for e, s in self_times([e for e in line.events if not e.name.startswith(SKIPPED)]):
            if e.name.startswith(COPIES):
                copies[0] += 1
                copies[1] += s
                continue
            name = dict(e.stats).get("hlo_op", e.name)
            n, total = table.get(name, (0, 0.0))
            table[name] = (n + 1, total + s)
    per = {k: {"launches": n / steps, "seconds": s / steps} for k, (n, s) in table.items()}
    order = sorted(per, key=lambda k: -per[k]["seconds"])
    return {"lines": names, "kernels": {k: per[k] for k in order},
            "launches_per_step": sum(v["launches"] for v in per.values()),
            "kernel_s_per_step": sum(v["seconds"] for v in per.values()),
            "copies_per_step": copies[0] / steps, "copy_s_per_step": copies[1] / steps}


def profile(subject: Subject, steps: int, trace: Path, chunk: int) -> dict:
    """Kernels of ``steps`` count steps of ``chunk`` pulses, traced into ``trace``."""
    import jax

    from kqjax.engine import driver, keys

    blocks, call = subject.step(chunk)
    call(0)
    with jax.profiler.trace(str(trace)):
        t0 = time.perf_counter()
        for i in range(steps):
            call(i * blocks)
        wall = (time.perf_counter() - t0) / steps
    files = sorted(trace.rglob("*.xplane.pb"), key=lambda p: p.stat().st_mtime)
    if not files:
        raise RuntimeError(f"jax.profiler wrote no trace under {trace}")
    data = jax.profiler.ProfileData.from_file(str(files[-1]))
    out = kernels(data, steps)
    if driver.accelerator() and not any(line.startswith("/device:") for line in out["lines"]):
        planes = [p.name for p in data.planes]
        raise RuntimeError(f"the trace lists no kernels of the device (its planes: {', '.join(planes)}); "
                           "without a device plane the GPU profiler (CUPTI) was not available")
    return {"chunk": blocks * keys.BLOCK, "steps": steps, "wall_s_per_step": wall, "trace": str(files[-1]), **out}


def run(experiment: str | None, chunks, steps: int, repeat: int, top: int, trace: Path, log,
        chunk: int | None = None) -> dict:
    """The scan over ``chunks`` and the kernels of ``steps`` steps of ``chunk`` pulses (default:
    the device's default chunk)."""
    from kqjax.engine import driver

    subject = Subject(experiment)
    log(f"chunk scan: {', '.join(size_label(c) for c in chunks)} ...")
    s = scan(subject, chunks, repeat)
    log(f"tracing {steps} steps ...")
    try:
        p = profile(subject, steps, trace, chunk or driver.default_chunk("count"))
    except RuntimeError as err:  # no trace of the device's kernels: the scan still stands
        p = {"error": str(err)}
    else:
        p["kernels"] = dict(list(p["kernels"].items())[:top])
    return {"benchmark": "kqjax-bench-profile", "environment": environment(), "link": subject.name,
            "points": subject.points, "scan": s, "profile": p}


def table(result: dict) -> str:
    s, p = result["scan"], result["profile"]
    env = result["environment"]
    lines = [(f"kqjax-bench-profile: {result['link']} count step, {result['points']} point"
              f"{'s' if result['points'] != 1 else ''}, on {env['device']} "
              f"(jax {env['jax_version']})"), "",
             f"{'chunk':>8}{'pulses/step':>14}{'compile [s]':>13}{'step [s]':>12}{'pulses/s':>12}"]
    for r in s["rows"]:
        lines.append(f"{size_label(r['chunk']):>8}{r['pulses']:>14.4g}{r['compile_s']:>13.3f}"
                     f"{r['best_s']:>12.4g}{r['pulses_per_s']:>12.3e}")
    if s["fixed_s"] is None:
        line = "no line: a scan of one chunk size"
    elif s["marginal_pulses_per_s"] is None:
        line = "no slope: the steps' times are within their noise"
    else:
        line = f"step time = {s['fixed_s'] * 1e3:.3g} ms + pulses / {s['marginal_pulses_per_s']:.3e} per s"
    lines += ["", f"{line} (relative least squares over the scan; compile: a first call less a compiled one)", ""]
    if "error" in p:
        return "\n".join([*lines, f"no kernel profile: {p['error']}"])
    steps = f"{p['steps']} step{'s' if p['steps'] != 1 else ''}"
    lines += [
              (f"kernels of {steps} of {size_label(p['chunk'])} pulses: {p['launches_per_step']:.0f} launches, "
               f"{p['kernel_s_per_step'] * 1e3:.3g} ms of kernel time per step against "
               f"{p['wall_s_per_step'] * 1e3:.3g} ms of wall time (kernel time summed over "
               f"{len(p['lines'])} lines: {', '.join(p['lines'][:4])}{' ...' if len(p['lines']) > 4 else ''}); "
               f"{p['copies_per_step']:.0f} memory copies and sets, {p['copy_s_per_step'] * 1e3:.3g} ms"), "",
              f"{'kernel':<48}{'launches/step':>14}{'ms/step':>10}{'share':>8}"]
    total = max(p["kernel_s_per_step"], 1e-30)
    for name, k in p["kernels"].items():
        lines.append(f"{name[:47]:<48}{k['launches']:>14.4g}{k['seconds'] * 1e3:>10.3g}"
                     f"{100 * k['seconds'] / total:>7.1f}%")
    return "\n".join(lines)


def main(argv=None) -> int:
    from kqjax import bench

    ap = argparse.ArgumentParser(prog="kqjax-bench-profile", description=__doc__.splitlines()[0])
    ap.add_argument("--experiment", choices=[*sorted(bench.PROTOCOLS), PASS], default=None,
                    help="another protocol's link, or the satellite pass, as kqjax-bench times it "
                         "(default: decoy BB84)")
    ap.add_argument("--chunks", type=count, nargs="+", default=None,
                    help="chunk sizes of the scan, multiples of 65536 (default 2^22..2^28 on a CPU, "
                         "2^26..2^34 on a GPU)")
    ap.add_argument("--steps", type=count, default=None, help="steps traced (default 5)")
    ap.add_argument("--repeat", type=count, default=None, help="timed steps per chunk size, best kept (default 5)")
    ap.add_argument("--top", type=count, default=25, help="kernels listed (default 25)")
    ap.add_argument("--trace", metavar="DIR", help="keep the trace in DIR (default: a temporary folder)")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (seconds), for tests")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = ap.parse_args(argv)
    for c in args.chunks or ():
        if c % 2**16:
            ap.error(f"--chunks {c}: must be a multiple of 65536")
    start()
    opts = options(args, {"chunks": [2**16, 2**18], "steps": 1, "repeat": 1},
                   {"chunks": None, "steps": 5, "repeat": 5})
    chunks = sorted(set(opts["chunks"] or default_chunks()))
    with tempfile.TemporaryDirectory() as tmp:
        result = run(args.experiment, chunks, opts["steps"], opts["repeat"], args.top,
                     Path(args.trace or tmp), say, chunk=chunks[-1] if args.quick else None)
        result["quick"] = bool(args.quick)
        if not args.trace:  # the temporary folder goes
            result["profile"]["trace"] = None
    report(table(result), result, args.json)
    return 1 if "error" in result["profile"] else 0


if __name__ == "__main__":
    sys.exit(main())
