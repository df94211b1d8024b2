"""kqjax-bench: throughput of the decoy-BB84 fiber-link Monte Carlo against NumPy peers.

Measures pulses per second of kqjax's count-level engine (multinomial counts per block of 65536
pulses) and event-level engine (every pulse drawn), and of two plain NumPy implementations of the
same model, all in the same run on the same machine:

- NumPy count: per block of 65536 pulses, multinomials drawn as chains of conditional binomials
  (``numpy.random.Generator.binomial`` on whole arrays, as kqjax draws them) in the same two
  stages as kqjax (Alice's and Bob's choices once per block, then each sweep point's detections),
  from the link's 21 class probabilities (per intensity: Z and X outcomes, bases differ; taken
  from ``Link.probabilities``, so the model is identical), vectorised over blocks and sweep points;
- NumPy event: pulse by pulse, vectorised NumPy, the same per-pulse physics and the same random
  words as ``DecoyBB84.sample_events`` (five 32-bit words per pulse: a 32-bit word for the
  intensity class and bases, a 64-bit word per detector, compared with the same integer
  thresholds; ``Generator.integers`` of ``default_rng``), drawn once per chunk of pulses for all
  the sweep points, as kqjax draws a block's words once for all points.

The count-level sampler is also timed alone against its peer on the same draws (:func:`bench_sampler`):
the detection multinomials of one chunk of the count rows (per block and point, the pulses of each
measured setting split over its outcomes), drawn by ``samplers.multinomial`` and by NumPy's
conditional binomials, so that the sampler's ratio is seen apart from the rest of the engine (keys,
physics, the per-block bookkeeping) and of the NumPy peer's own.

The event row is also set against the device's random-bit ceiling, measured in the same run:
the throughput of ``jax.random.bits`` alone (threefry2x32, uint32 and uint64 words, in blocks of
2^18 32-bit words, ``workers`` calls in flight, :func:`bits_ceiling`). The sweep points share a
block's random words (common random numbers: the engine draws them once for all points), so the
event level draws pulses/s x words per pulse / points words a second, the words per pulse
counted from the ``random_bits`` calls of the traced ``sample_events``; the fraction of the
ceiling is that over the ceiling's words/s.

kqjax is timed through its own engine path (``make_step`` + ``driver.accumulate``, the loop that
``simulate`` runs) after a warm-up call, so compilation is excluded from the throughput and
reported separately (cold: the persistent compilation cache is off here), with ``workers``
chunks in flight (``run.workers``; the NumPy peers use one core), in chunks of the device's
default size (``run.chunk_size``). On a GPU the kqjax rows run 10^11 (count) and 2^26 (event)
pulses per point by default, so that they span many steps; the NumPy peers of the sweep rows run
at most 10^10 and 2^22 (their rate does not depend on the pulses). The satellite-pass rows, kqjax
and NumPy alike, run the whole pass. Each measurement is repeated ``--repeat`` times;
the best time is reported.

Usage: ``kqjax-bench [--pulses N] [--event-pulses N] [--points P] [--max-km L] [--repeat R]
[--workers W] [--quick] [--json FILE]``; ``kqjax-bench --all`` runs every area's benchmark with all
threads and with one (:mod:`kqjax.bench_all`). Speed lives here, never in a timed test.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from functools import partial

import numpy as np

from kqjax.benchmarking import best_of, count, environment, options, report, say, size_label, start

TARGETS = {"kqjax_count/kqjax_event": 100.0, "kqjax_count/numpy_count": 1.0}
ROWS = ("kqjax count", "kqjax event", "numpy count", "numpy event")
PEER_PULSES = {"count": 10**10, "event": 2**22}
"""Most pulses per point a NumPy peer runs (its rate does not depend on them beyond a few blocks):
on a GPU the kqjax rows run more (``ACCELERATOR_PULSES``) to be timed over more than a few steps."""
ACCELERATOR_PULSES = {"count": 10**11, "event": 2**26}
"""Default pulses per point of the kqjax rows on an accelerator (on a CPU: ``PEER_PULSES``)."""
PASS = ("satellite_pass", "channel.scintillation=true")
"""The satellite-pass rows: decoy BB84 over one night-time downlink pass of a 500 km LEO
satellite (its 440 s above the mask at 100 MHz, 4.4e10 pulses, in 10 s time slots), with the
scintillation along the pass (log-normal fading drawn per block)."""
QUICK_PASS = ("source.rep_rate_mhz=1",)
"""``--quick``: the same pass at 1 MHz (4.4e8 pulses)."""
PROTOCOLS = {"bbm92": ("entanglement_100km", "source.mean_pairs=0.1"), "sns_tf": ("tf_qkd",)}
"""Protocols with their own rows (kqjax count and NumPy count of the same model), by the
experiment that runs them and overrides that leave ``distance_km`` (0..max-km) its only sweep
(``entanglement_100km`` also sweeps the mean pair number: pinned to the source's default)."""


# --------------------------------------------------------------------------------------------
# The link under test


def build_link(points: int, max_km: float = 250.0, experiment: tuple[str, ...] = ()):
    """The default experiment (decoy BB84 over fiber, ``points`` fiber lengths 0..max_km), or
    ``experiment`` (its name, then overrides) with ``points`` Alice-Bob distances 0..max_km.

    Returns (Link with the flattened grid as leading axis, distances in km); the grid must be
    the ``points`` lengths alone, so that rates per point are what they say.
    """
    import jax

    from kqjax.api import prepare
    from kqjax.config.compose import compose
    from kqjax.tasks.qkd_link import link_of

    lengths = np.linspace(0.0, max_km, points)
    sweep = "[" + ",".join(repr(float(x)) for x in lengths) + "]"
    if experiment:
        overrides = [f"experiment={experiment[0]}", f"distance_km={sweep}", *experiment[1:]]
    else:
        overrides = [f"channel.length_km={sweep}"]
    _, built = prepare(compose(overrides))
    link = link_of(built.components)
    grid = jax.tree_util.tree_leaves(link)[0].shape[0]
    if grid != points:
        name = experiment[0] if experiment else "the default experiment"
        raise ValueError(f"the benchmark link of {name} has {grid} grid points, not the {points} "
                         "lengths: it sweeps another field too")
    return link, lengths


def build_pass(extra: tuple[str, ...] = ()):
    """The satellite-pass link of ``PASS`` (one point) with ``extra`` overrides: (Link, the pulses
    of the pass, its time slot in s)."""
    from kqjax.api import prepare
    from kqjax.config.compose import compose
    from kqjax.tasks.qkd_link import link_of

    _, built = prepare(compose([f"experiment={PASS[0]}", *PASS[1:], *extra]))
    return link_of(built.components), int(built.run.pulses), float(built.run.slot_s)


def pass_probabilities(link, pulses: int, seed: int, prng: str = "threefry2x32", batch: int = 2**14) -> np.ndarray:
    """Outcome probabilities of every setting in each block of a one-point changing link, as kqjax
    draws that block at ``seed`` (its transmittances from the same keys; unmeasured settings 0):
    [1, N, S, O] for the N blocks of ``pulses``."""
    import jax
    import jax.numpy as jnp

    from kqjax.engine import keys
    from kqjax.links.link import prepare

    root = keys.root_key(seed, prng)
    one = jax.tree_util.tree_map(lambda x: x[0], prepare(link, root))
    blocks = -(-int(pulses) // keys.BLOCK)

    @jax.jit
    def part(first):
        index = first + jnp.arange(batch, dtype=jnp.int64)
        return jax.vmap(lambda k, i: one.expand(one.block_probabilities(k, i, root)))(
            keys.block_keys(root, first, batch), index)

    out = np.concatenate([np.asarray(part(np.int64(f))) for f in range(0, blocks, batch)])[:blocks]
    return out[None]


def link_probabilities(link):
    """(P(setting) [G, S], P(outcome | setting) [G, S, O], measured [S]) from the link itself."""
    import jax

    def one(lk):
        return (lk.protocol.setting_probabilities(lk.parts),
                lk.protocol.outcome_probabilities(lk.parts, lk.mean_transmittance()))

    ps, po = jax.jit(jax.vmap(one))(link)
    return np.asarray(ps, np.float64), np.asarray(po, np.float64), np.asarray(link.protocol.MEASURED, bool)


def classes(sent, counts, measured) -> np.ndarray:
    """Per point, one count per class: the outcomes of each measured setting, and the pulses of
    each unmeasured one, in setting order: [G, C] (decoy BB84: per intensity the correct, error
    and no-click outcomes of both-Z pulses, the same of both-X pulses, and the pulses whose bases
    differ: 21 classes)."""
    cols = [counts[:, s] if m else sent[:, s, None] for s, m in enumerate(measured)]
    return np.concatenate(cols, -1)


def class_probabilities(ps, po, measured) -> np.ndarray:
    """Per-pulse probability of each class of :func:`classes`: [G, C]."""
    return classes(ps, ps[..., None] * po, measured)


def numpy_count(ps: np.ndarray, po: np.ndarray, measured, pulses: int, seed: int = 0, block: int = 2**16,
                blocks_per_chunk: int = 512):
    """Count-level NumPy reference, in the same two stages as kqjax's count mode.

    ``ps`` [G, S] are the setting probabilities, ``po`` [G, S, O] the outcome probabilities of each
    setting (or [G, N, S, O]: per block of the run, for a changing channel), ``measured`` [S]
    which settings have outcomes drawn. Per block: the pulses of each
    setting as one multinomial, drawn once for all sweep points when they share these
    probabilities; then, per point and measured setting, the outcomes as a multinomial. Each
    multinomial is a chain of conditional binomials (``Generator.binomial`` on whole arrays:
    faster than ``Generator.multinomial`` row by row), vectorised over blocks
    (``blocks_per_chunk`` at a time, bounding memory) and points. Returns exact int64
    (sent [G, S], counts [G, S, O]).
    """
    rng = np.random.default_rng(seed)
    ps = np.asarray(ps, np.float64)
    ps = ps / ps.sum(-1, keepdims=True)
    idx = np.flatnonzero(measured)
    po = np.asarray(po, np.float64)
    per_block = po.ndim == 4
    po = po[..., idx, :]
    po = po / po.sum(-1, keepdims=True)
    shared = bool(np.all(ps == ps[:1]))  # the parties' choices do not depend on the channel
    sizes = block_sizes(pulses, block)
    g, o = ps.shape[0], np.shape(po)[-1]
    sent = np.zeros(ps.shape, np.int64)
    counts = np.zeros((g, ps.shape[1], o), np.int64)
    for first in range(0, sizes.size, blocks_per_chunk):
        n = sizes[first:first + blocks_per_chunk]
        a = _multinomial_chain(rng, n[None, :], (ps[:1] if shared else ps)[:, None, :])  # [1 or G, b, S]
        pb = po[:, first:first + n.size] if per_block else po[:, None]
        d = _multinomial_chain(rng, a[..., idx], pb)  # [G, b, S', O]
        sent += a.sum(1)
        counts[:, idx] += d.sum(1)
    return sent, counts


def block_sizes(pulses: int, block: int) -> np.ndarray:
    """Pulses in each block of a run of ``pulses`` (the last one may be partial)."""
    nblocks = -(-int(pulses) // block)
    idx = np.arange(nblocks, dtype=np.int64)
    return np.clip(int(pulses) - idx * block, 0, block)


def _multinomial_chain(rng, n, probs):
    """Multinomial counts over the last axis of ``probs`` as conditional binomials (``probs``
    broadcast against ``n`` by ``Generator.binomial`` itself)."""
    rem = np.broadcast_to(np.asarray(n, np.int64), np.broadcast_shapes(np.shape(n), probs.shape[:-1]))
    tail = np.cumsum(probs[..., ::-1], -1)[..., ::-1]
    cond = np.clip(probs / np.where(tail > 0, tail, 1.0), 0.0, 1.0)
    out = []
    for j in range(probs.shape[-1] - 1):
        x = rng.binomial(rem, cond[..., j])
        out.append(x)
        rem = rem - x
    return np.stack(out + [rem], -1)


def event_parameters(link) -> dict:
    """Per-point numbers (numpy [G]) that DecoyBB84.sample_events uses."""
    import jax

    def one(lk):
        eta = lk.mean_transmittance()
        dark, avail = lk.protocol.detector_state(lk.parts, eta)
        return {"eta": eta["channel"], "dark": dark, "avail": avail,
                "intensities": lk.parts["source"].intensities(), "class_p": lk.parts["source"].probabilities()}

    out = {k: np.asarray(v, np.float64) for k, v in jax.jit(jax.vmap(one))(link).items()}
    det = link.parts["detector"]
    out["efficiency"] = np.asarray(det.efficiency, np.float64)
    out["misalignment"] = np.asarray(det.misalignment, np.float64)
    out["p_z"] = np.broadcast_to(np.asarray(link.protocol.p_z, np.float64), out["eta"].shape)
    out["finite_key"] = bool(link.protocol.finite_key)
    return out


def _threshold(p, width: int) -> np.ndarray:
    """floor(p 2^width) as uint64, as :func:`kqjax.engine.random_words.threshold` computes it."""
    p = np.clip(np.asarray(p, np.float64), 0.0, 1.0)
    if width <= 32:
        return np.floor(p * 2.0**width).astype(np.uint64)
    x = p * 2.0 ** (width - 32)
    hi = np.floor(x)
    t = (hi.astype(np.uint64) << np.uint64(32)) | np.floor((x - hi) * 2.0**32).astype(np.uint64)
    return np.where(p >= 1.0, np.uint64(2**64 - 1), t) if width == 64 else t


def numpy_event(params: dict, pulses: int, seed: int = 0, chunk: int = 2**18) -> np.ndarray:
    """Event-level NumPy reference: every pulse drawn, as ``DecoyBB84.sample_events`` does, from
    the same five 32-bit random words per pulse, shared by the sweep points as kqjax shares a
    block's words (common random numbers: each chunk's words are drawn once for all points).

    Per pulse: one 32-bit word inverted over the 12 cells (intensity class, Alice's basis, Bob's
    basis); per detector a 64-bit word below the integer threshold of its click probability
    a [1 - (1 - p_d') exp(-eta_D m)] (the correct detector on bits 1..63, its bit 0 the random
    bit of a double click; the wrong one on all 64 bits). Returns int64 class counts in the
    layout of :func:`classes`: [G, 12], per intensity k class 4 k + outcome (bases agree),
    4 k + 3 (bases differ); with ``params["finite_key"]`` [G, 21], 7 k + outcome (both Z),
    7 k + 3 + outcome (both X), 7 k + 6.
    """
    finite = bool(params.get("finite_key", False))
    width = 21 if finite else 12
    rng = np.random.default_rng(seed)
    g = params["eta"].shape[0]
    points = []
    for i in range(g):  # thresholds of every point
        eta, eff, e_d = params["eta"][i], params["efficiency"][i], params["misalignment"][i]
        dark, avail, p_z = params["dark"][i], params["avail"][i], params["p_z"][i]
        z = np.array([p_z, 1.0 - p_z])
        joint = (params["class_p"][i][:, None, None] * z[None, :, None] * z[None, None, :]).reshape(-1)
        cum = np.cumsum(joint)
        m = params["intensities"][i] * (eta * eff)
        points.append((_threshold(cum[:-1] / cum[-1], 32),
                       _threshold(-avail * np.expm1(np.log1p(-dark) - (1.0 - e_d) * m), 63),
                       _threshold(-avail * np.expm1(np.log1p(-dark) - e_d * m), 64)))
    total = np.zeros((g, width), np.int64)
    left = int(pulses)
    while left > 0:
        n = min(chunk, left)
        left -= n
        setting_word = rng.integers(0, 2**32, size=n, dtype=np.uint32).astype(np.uint64)
        word_c, word_w = rng.integers(0, 2**64, size=(2, n), dtype=np.uint64)
        coin = (word_c & np.uint64(1)) == 1
        for i, (cells, t_c, t_w) in enumerate(points):
            cell = np.searchsorted(cells, setting_word, side="right")  # number of C_i <= word
            k, z_a, z_b = cell // 4, cell % 4 < 2, cell % 2 == 0
            click_c = (word_c >> np.uint64(1)) < t_c[k]
            click_w = word_w < t_w[k]
            outcome = np.where(click_c & click_w, np.where(coin, 1, 0),
                               np.where(click_c, 0, np.where(click_w, 1, 2)))
            if finite:
                idx = 7 * k + np.where(z_a & z_b, outcome, np.where(~z_a & ~z_b, 3 + outcome, 6))
            else:
                idx = 4 * k + np.where(z_a == z_b, outcome, 3)
            total[i] += np.bincount(idx, minlength=width)
    return total


def words_per_pulse(link, n: int = 2**16) -> float:
    """32-bit random words per pulse of the protocol's ``sample_events`` at the link's first grid
    point: the output bits of every ``random_bits`` call of its traced program, over ``n``."""
    import jax

    first = jax.tree_util.tree_map(lambda x: x[0], link)
    eta = first.mean_transmittance()
    jaxpr = jax.make_jaxpr(lambda key: first.protocol.sample_events(key, n, first.parts, eta))(jax.random.key(0))

    def bits(jp) -> int:
        total = 0
        for eqn in jp.eqns:
            if eqn.primitive.name == "random_bits":
                aval = eqn.outvars[0].aval
                total += int(np.prod(aval.shape)) * aval.dtype.itemsize * 8
            for v in eqn.params.values():
                for sub in (v if isinstance(v, (list, tuple)) else (v,)):
                    sub = getattr(sub, "jaxpr", sub)  # a closed jaxpr's jaxpr
                    if hasattr(sub, "eqns"):
                        total += bits(sub)
        return total

    return bits(jaxpr.jaxpr) / 32 / n


def bits_ceiling(repeat: int, prng: str = "threefry2x32", workers: int | None = None, words: int | None = None,
                 block: int = 2**18) -> dict:
    """Throughput of ``jax.random.bits`` alone, the random-bit ceiling of the device, in 32-bit
    words/s: ``words`` 32-bit words per call (2^24 on a CPU, 2^28 on an accelerator) in blocks of
    ``block`` (about one block of pulses of the event engine), one key each, every block reduced
    to one word so that nothing but the generation is timed; the blocks one after another on a CPU
    (cache-sized work), all at once on an accelerator (a loop of small kernels would time its
    launches); ``workers`` calls in flight at once, as the engine runs its chunks (threads). Drawn
    as uint32 words and as uint64 words (threefry2x32 makes 64 bits per hash but keeps 32 for a
    uint32 word); the ceiling is the faster of the two."""
    import jax
    import jax.numpy as jnp

    from kqjax.engine import driver, keys

    workers = workers or driver.default_workers()
    blocks = max(1, (words or (2**28 if driver.accelerator() else 2**24)) // block)
    batch = blocks if driver.accelerator() else None
    roots = [(keys.root_key(i, prng),) for i in range(workers)]
    out = {"prng": prng, "words": blocks * block * workers, "block": block, "workers": workers}
    for dtype in (jnp.uint32, jnp.uint64):
        size = block if dtype == jnp.uint32 else block // 2  # uint64: two 32-bit words each

        @jax.jit
        def fn(key, dtype=dtype, size=size):
            per_block = jax.random.split(key, blocks)
            return jax.lax.map(lambda k: jax.random.bits(k, (size,), dtype).sum(dtype=dtype), per_block,
                               batch_size=batch).sum()

        _, best, times, _ = in_flight(fn, roots, repeat)
        name = jnp.dtype(dtype).name
        out[f"{name}_best_s"], out[f"{name}_times_s"] = best, times
        out[f"{name}_words_per_s"] = out["words"] / best
    out["words_per_s"] = max(out["uint32_words_per_s"], out["uint64_words_per_s"])
    return out


# --------------------------------------------------------------------------------------------
# Timing


def bench_kqjax(link, mode: str, pulses: int, chunk: int, seed: int, repeat: int,
                prng: str = "threefry2x32", workers: int | None = None, slot_s: float | None = None):
    """Time kqjax's engine loop for ``mode``; returns a result row and class counts [G, C]. A
    changing channel (a pass) is counted in time slots of ``slot_s`` as ``simulate`` counts it,
    its classes summed over the slots."""
    import jax

    from kqjax.engine import driver, keys
    from kqjax.links.link import make_step, plan_slots, prepare

    root = keys.root_key(seed, prng)
    link = prepare(link, root)
    _, per_chunk = driver.plan(pulses, chunk)
    slots = plan_slots(link, pulses, slot_s) if slot_s else None
    step = make_step(link, root, per_chunk, mode, *((slots.blocks, slots.count) if slots else ()))
    sizes = np.full(per_chunk, keys.BLOCK, np.int64)
    t0 = time.perf_counter()
    jax.block_until_ready(step(np.int64(0), sizes))  # compile + one chunk
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    jax.block_until_ready(step(np.int64(0), sizes))  # one compiled chunk
    one_chunk = time.perf_counter() - t0

    def go():
        acc = driver.accumulate(step, pulses, chunk, progress=False, workers=workers)
        assert acc.complete and acc.pulses == pulses
        return acc.counts

    best, times, counts = best_of(go, repeat)
    counts = [np.asarray(x, np.int64) for x in counts]
    if slots:
        counts = [x.sum(1) for x in counts]
    counts = classes(*counts, link.protocol.MEASURED)
    row = {"pulses_per_point": int(pulses), "chunk_size": int(per_chunk * keys.BLOCK),
           "workers": workers or driver.default_workers(),
           "compile_s": max(warm - one_chunk, 0.0), "warmup_s": warm}
    return row, times, best, counts


def bench_numpy(fn, pulses: int, repeat: int):
    best, times, counts = best_of(fn, repeat)
    return {"pulses_per_point": int(pulses), "chunk_size": None, "workers": 1, "compile_s": None,
            "warmup_s": None}, \
        times, best, counts


def in_flight(fn, args: list, repeat: int):
    """``fn(*a)`` for every ``a`` of ``args`` at once on threads, as the engine keeps its chunks in
    flight: (seconds of a first, warm-up round, best seconds of ``max(repeat, 3)`` rounds, all their
    seconds, the results of the last round)."""
    from concurrent.futures import ThreadPoolExecutor

    import jax

    with ThreadPoolExecutor(len(args)) as pool:
        def once():
            return [f.result() for f in [pool.submit(lambda a: jax.block_until_ready(fn(*a)), a) for a in args]]

        t0 = time.perf_counter()
        once()
        warm = time.perf_counter() - t0
        best, times, results = best_of(once, max(repeat, 3))
    return warm, best, times, results


def sampler_inputs(ps, po, measured, blocks: int, seed: int, block: int = 2**16):
    """The count rows' detection draws of one chunk: pulses of each measured setting per block
    (``blocks`` blocks, one multinomial of the setting probabilities each) and the outcome
    probabilities per point and setting, ``(n [G, blocks, M], probs [G, 1, M, O])``."""
    rng = np.random.default_rng(seed)
    idx = np.flatnonzero(measured)
    sent = rng.multinomial(block, ps[0] / ps[0].sum(), size=blocks)[:, idx]
    probs = po[:, idx] / po[:, idx].sum(-1, keepdims=True)
    return np.broadcast_to(sent, (ps.shape[0], *sent.shape)).astype(np.float64), probs[:, None]


def bench_sampler(n, probs, seed: int, repeat: int, workers: int | None = None) -> dict:
    """The count-level sampler alone against its peer on the same draws: kqjax's
    ``samplers.multinomial`` as the engine calls it (one multinomial per block and point, a key per
    block, mapped over blocks and points; ``workers`` calls in flight, as the engine runs its
    chunks) and NumPy's conditional binomials (``Generator.binomial`` on whole arrays, one core),
    each summing its counts over the blocks. Rates in binomial draws per second
    (``n.size x (O - 1)`` per call)."""
    import jax

    from kqjax.engine import driver, keys, samplers

    workers = workers or driver.default_workers()

    @jax.jit
    def fn(key, n, probs):  # n [G, B, M], probs [G, 1, M, O]
        ks = jax.random.split(key, n.shape[1])
        per_point = jax.vmap(samplers.multinomial, in_axes=(0, 0, None))
        return jax.vmap(lambda ng, pg: per_point(ks, ng, pg[0]))(n, probs).sum(1)

    args = [(keys.root_key(seed + i), jax.device_put(n), jax.device_put(probs)) for i in range(workers)]
    warm, best, times, mine = in_flight(fn, args, repeat)
    rng = np.random.default_rng(seed)
    nb, ntimes, peer = best_of(lambda: _multinomial_chain(rng, n.astype(np.int64), probs).sum(1), max(repeat, 3))
    draws = n.size * (probs.shape[-1] - 1)
    return {"draws_per_call": int(draws), "workers": workers, "warmup_s": warm,
            "kqjax_best_s": best, "kqjax_times_s": times, "kqjax_draws_per_s": draws * workers / best,
            "numpy_best_s": nb, "numpy_times_s": ntimes, "numpy_draws_per_s": draws / nb,
            "ratio": (draws * workers / best) / (draws / nb),
            "trials": n.sum(1).tolist(), "probabilities": probs[:, 0].tolist(),
            "kqjax_counts": np.asarray(mine[0]).tolist(), "numpy_counts": np.asarray(peer).tolist()}


# --------------------------------------------------------------------------------------------
# Report


def _fmt_s(x):
    return "-" if x is None else f"{x:.3f}"


def table(result: dict) -> str:
    env = result["environment"]
    lines = [
        f"kqjax-bench: decoy-BB84 over fiber (default experiment), {result['points']} sweep points "
        f"(length_km 0..{result['max_km']:g}), seed {result['seed']}, best of {result['repeat']}; "
        f"count rows of {', '.join(PROTOCOLS)} over distance_km 0..{result['max_km']:g}; a satellite pass "
        f"({' '.join(PASS)}, one point, {result['satellite_pass']['pulses']:.4g} pulses in "
        f"{result['satellite_pass']['slot_s']:g} s slots)",
        f"device {env['device']} | jax {env['jax_version']} | numpy {env['numpy_version']} | "
        f"CPUs {env['cpu_count']} ({env['cpus_usable']} usable, {env['processor']})",
        "",
        f"{'':<28}{'pulses/point':>14}{'pulses total':>14}{'chunk':>11}{'workers':>9}{'best [s]':>10}"
        f"{'pulses/s':>12}{'compile [s]':>13}",
    ]
    for name, r in result["rows"].items():
        c = r["chunk_size"]
        chunk = "-" if c is None else size_label(c)
        lines.append(f"{name:<28}{r['pulses_per_point']:>14.4g}{r['pulses_total']:>14.4g}{chunk:>11}"
                     f"{r['workers']:>9}{r['best_s']:>10.3f}{r['pulses_per_s']:>12.3e}"
                     f"{_fmt_s(r['compile_s']):>13}")
    lines.append("")
    for key, (val, target) in result["ratios"].items():
        a, b = key.split("/")
        mark = "" if target is None else (f"(target >= {target:g}x: " + ("met)" if val >= target else "NOT met)"))
        shown = f"{val:.0f}" if val >= 100 else f"{val:.3g}"
        a, b = (x.replace("_count", " count").replace("_event", " event").replace("count_", "count ")
                .replace("satellite_pass", "satellite pass") for x in (a, b))
        lines.append(f"ratio {a:<26} / {b:<26}{shown:>8}x  {mark}".rstrip())
    if "event_words" in result:
        c, e = result["random_bit_ceiling"], result["event_words"]
        rate = result["rows"]["kqjax event"]["pulses_per_s"]
        lines.append(f"random-bit ceiling: jax.random.bits ({c['prng']}, blocks of 2^{c['block'].bit_length() - 1} "
                     f"32-bit words, {c['workers']} in flight) uint32 {c['uint32_words_per_s']:.3e}, uint64 "
                     f"{c['uint64_words_per_s']:.3e} 32-bit words/s; "
                     f"kqjax event {e['words_per_pulse']:g} words/pulse x {rate:.3e} pulses/s / "
                     f"{e['points_sharing_words']} points sharing them = {e['words_per_s']:.3e} words/s = "
                     f"{100 * e['fraction_of_ceiling']:.3g} % of it")
    if "sampler" in result:
        m = result["sampler"]
        lines.append(f"count-level sampler alone (the count rows' detection draws of one chunk, {m['draws_per_call']:.4g} "
                     f"binomials a call, {m['workers']} in flight): kqjax multinomial {m['kqjax_draws_per_s']:.3e}, "
                     f"NumPy conditional binomials {m['numpy_draws_per_s']:.3e} draws/s: {m['ratio']:.3g}x")
    if result.get("quick"):
        lines.append("(--quick: sizes for a smoke test; fixed costs dominate, so the ratios say little)")
    return "\n".join(lines)


def default_pulses() -> dict:
    """Pulses per point of the kqjax rows by default: ``PEER_PULSES`` on a CPU,
    ``ACCELERATOR_PULSES`` on an accelerator."""
    from kqjax.engine import driver

    return dict(ACCELERATOR_PULSES if driver.accelerator() else PEER_PULSES)


def run(points: int = 16, pulses: int | None = None, event_pulses: int | None = None, repeat: int = 3,
        seed: int = 0, count_chunk: int | None = None, event_chunk: int | None = None,
        max_km: float = 250.0, workers: int | None = None, log=None, pass_overrides=()) -> dict:
    """Measure every row; returns a JSON-able dict (``table`` prints it). Pulses and chunks
    default to the device's (:func:`default_pulses`, ``driver.default_chunk``); the NumPy peers run
    at most ``PEER_PULSES``. The satellite-pass rows run the whole pass of ``PASS`` (with
    ``pass_overrides``)."""
    import kqjax  # noqa: F401  (enables x64)
    from kqjax.engine import driver
    from kqjax.engine.params import registry
    from kqjax.engine.keys import BLOCK

    log = log or (lambda msg: None)
    pulses = pulses or default_pulses()["count"]
    event_pulses = event_pulses or default_pulses()["event"]
    count_chunk = count_chunk or driver.default_chunk("count")
    event_chunk = event_chunk or driver.default_chunk("event")
    peer, peer_event = min(pulses, PEER_PULSES["count"]), min(event_pulses, PEER_PULSES["event"])
    link, lengths = build_link(points, max_km)
    ps, po, measured = link_probabilities(link)
    p = class_probabilities(ps, po, measured)
    params = event_parameters(link)
    rows, counts, probabilities = {}, {}, {"decoy_bb84": p.tolist()}
    plan = [
        ("kqjax count", lambda: bench_kqjax(link, "count", pulses, count_chunk, seed, repeat,
                                            workers=workers)),
        ("kqjax event", lambda: bench_kqjax(link, "event", event_pulses, event_chunk, seed, repeat,
                                            workers=workers)),
        ("numpy count", lambda: bench_numpy(lambda: classes(*numpy_count(ps, po, measured, peer, seed, BLOCK),
                                                            measured), peer, repeat)),
        ("numpy event", lambda: bench_numpy(lambda: numpy_event(params, peer_event, seed), peer_event, repeat)),
    ]
    for kind, experiment in PROTOCOLS.items():
        if kind not in registry("protocol"):
            continue
        lk, _ = build_link(points, max_km, experiment)
        qs, qo, qm = link_probabilities(lk)
        probabilities[kind] = class_probabilities(qs, qo, qm).tolist()
        plan += [
            (f"kqjax count {kind}", partial(bench_kqjax, lk, "count", pulses, count_chunk, seed, repeat,
                                            workers=workers)),
            (f"numpy count {kind}", partial(bench_numpy, partial(lambda a, b, m: classes(
                *numpy_count(a, b, m, peer, seed, BLOCK), m), qs, qo, qm), peer, repeat)),
        ]
    log("drawing the satellite pass's block probabilities ...")
    lk, pass_pulses, slot_s = build_pass(tuple(pass_overrides))
    qs, _, qm = link_probabilities(lk)
    qo = pass_probabilities(lk, pass_pulses, seed)
    sizes = block_sizes(pass_pulses, BLOCK)
    q = class_probabilities(np.broadcast_to(qs[0], qo.shape[1:-1]), qo[0], qm)  # [N, C]
    satellite = {"pulses": pass_pulses, "blocks": int(sizes.size), "slot_s": slot_s,
                 "expected_counts": (sizes @ q).tolist(), "count_variance": (sizes @ (q * (1 - q))).tolist()}
    plan += [
        ("kqjax count satellite pass", partial(bench_kqjax, lk, "count", pass_pulses, count_chunk, seed, repeat,
                                               workers=workers, slot_s=slot_s)),
        ("numpy count satellite pass", partial(bench_numpy, partial(lambda a, b, m: classes(
            *numpy_count(a, b, m, pass_pulses, seed, BLOCK), m), qs, qo, qm), pass_pulses, repeat)),
    ]
    for name, fn in plan:
        log(f"measuring {name} ...")
        row, ts, best, c = fn()
        row["points"] = 1 if name.endswith("satellite pass") else points
        total = row["pulses_per_point"] * row["points"]
        row.update(best_s=best, times_s=ts, pulses_total=total, pulses_per_s=total / best)
        rows[name] = row
        counts[name] = c
    rate = {k: rows[k]["pulses_per_s"] for k in rows}
    ratios = {
        "kqjax_count/kqjax_event": (rate["kqjax count"] / rate["kqjax event"], TARGETS["kqjax_count/kqjax_event"]),
        "kqjax_count/numpy_count": (rate["kqjax count"] / rate["numpy count"], TARGETS["kqjax_count/numpy_count"]),
        "kqjax_event/numpy_event": (rate["kqjax event"] / rate["numpy event"], None),
        **{f"kqjax_count_{k}/numpy_count_{k}": (rate[f"kqjax count {k}"] / rate[f"numpy count {k}"], None)
           for k in PROTOCOLS if f"kqjax count {k}" in rate},
        "kqjax_count_satellite_pass/numpy_count_satellite_pass": (
            rate["kqjax count satellite pass"] / rate["numpy count satellite pass"], None),
    }
    log("measuring the count-level sampler alone ...")
    sampler = bench_sampler(*sampler_inputs(ps, po, measured, max(1, count_chunk // BLOCK), seed), seed, repeat,
                            workers=workers)
    log("measuring the random-bit ceiling ...")
    ceiling = bits_ceiling(repeat, workers=workers)
    words = words_per_pulse(link)
    drawn = rate["kqjax event"] * words / points  # the points share each block's words
    event_words = {"words_per_pulse": words, "points_sharing_words": points, "words_per_s": drawn,
                   "fraction_of_ceiling": drawn / ceiling["words_per_s"]}
    return {
        "benchmark": "decoy-BB84 fiber link Monte Carlo",
        "environment": environment(),
        "points": points,
        "max_km": max_km,
        "length_km": lengths.tolist(),
        "seed": seed,
        "repeat": repeat,
        "rows": rows,
        "ratios": ratios,
        "random_bit_ceiling": ceiling,
        "sampler": sampler,
        "event_words": event_words,
        "satellite_pass": satellite,
        "probabilities": probabilities,
        "counts": {k: v.tolist() for k, v in counts.items()},
    }


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--all" in argv:  # every area, all threads and one: kqjax.bench_all
        from kqjax import bench_all

        return bench_all.main(argv)
    start()
    ap = argparse.ArgumentParser(prog="kqjax-bench", description=__doc__.splitlines()[0])
    ap.add_argument("--all", action="store_true",
                    help="every benchmark area (links, sensors, phase screens), all threads and one, "
                         "as a Markdown table (kqjax.bench_all)")
    ap.add_argument("--pulses", type=count, default=None,
                    help="pulses per sweep point for the kqjax count-level rows (default 1e10; 1e11 on a "
                         "GPU); the NumPy peers run at most 1e10 (the satellite-pass rows: the whole pass)")
    ap.add_argument("--event-pulses", type=count, default=None,
                    help="pulses per sweep point for the kqjax event-level rows (default 2^22; 2^26 on a "
                         "GPU); the NumPy peer runs at most 2^22")
    ap.add_argument("--points", type=count, default=None, help="sweep grid size: fiber lengths (default 16)")
    ap.add_argument("--repeat", type=count, default=None, help="timed repetitions, best reported (default 3)")
    ap.add_argument("--seed", type=int, default=0, help="seed of every row (default 0)")
    ap.add_argument("--max-km", type=float, default=250.0,
                    help="longest fiber of the sweep, 0..max-km (default 250)")
    ap.add_argument("--count-chunk", type=count, default=None, help="kqjax count chunk size (default: run.chunk_size's, 2^28 on a CPU)")
    ap.add_argument("--workers", type=count, default=None,
                    help="kqjax chunks in flight at once (default: run.workers's default)")
    ap.add_argument("--event-chunk", type=count, default=None, help="kqjax event chunk size (default: run.chunk_size's, 2^20 on a CPU)")
    ap.add_argument("--quick", action="store_true", help="tiny sizes (seconds), for tests")
    ap.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = ap.parse_args(argv)
    for name in ("count_chunk", "event_chunk"):
        v = getattr(args, name)
        if v is not None and v % 2**16:
            ap.error(f"--{name.replace('_', '-')}={v}: must be a multiple of 65536")
    quick = {"points": 2, "pulses": 10**8, "event_pulses": 2**18, "repeat": 1}
    full = {"points": 16, "pulses": None, "event_pulses": None, "repeat": 3}  # pulses: the device's
    opts = options(args, quick, full)
    if not (math.isfinite(args.max_km) and 0 < args.max_km <= 1000):
        ap.error(f"--max-km={args.max_km:g}: must be in (0, 1000]")
    result = run(seed=args.seed, count_chunk=args.count_chunk, event_chunk=args.event_chunk,
                 workers=args.workers, max_km=args.max_km, log=say,
                 pass_overrides=QUICK_PASS if args.quick else (), **opts)
    result["quick"] = bool(args.quick)
    return report(table(result), result, args.json)


if __name__ == "__main__":
    sys.exit(main())
