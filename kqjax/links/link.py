"""A link: a protocol and its components (sources, channels, detectors), and its Monte Carlo.

The engine knows a protocol only through its declared structure (:class:`kqjax.links.base.Protocol`):
``simulate`` draws, block by block, the exact number of pulses of each setting and of each
(setting, outcome). Count-level sampling draws per block the settings as one multinomial and the
outcomes of each measured setting as another (the transmittances are fixed within a block: one
realisation per arm and block at the block's time); event-level sampling draws every pulse. The
settings do not depend on the channels, so when their probabilities are the same at every sweep
point they are drawn once per block for the whole grid (the draws are the same either way: a draw
depends only on its key and its parameters). Keys derive from ``(seed, block index)``, so results
do not depend on the chunk size.

Block ``i`` is sent at time ``t = (i + 1/2) B / f`` (``B`` pulses a block, ``f`` the repetition
rate). Over a channel that changes in time the counts are kept per time slot of ``slot_blocks``
blocks, and rates are estimated per slot and for all slots pooled.

Asymptotic rates are the protocol's estimator applied to the expected counts, averaged over the
channels' fading (:meth:`Channel.expect`): what a long Monte Carlo converges to.
"""
from __future__ import annotations

import dataclasses
import functools
import threading
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from kqjax.engine import driver, keys
from kqjax.engine.samplers import multinomial


@partial(jax.tree_util.register_dataclass, data_fields=["protocol", "parts"], meta_fields=[])
@dataclasses.dataclass(frozen=True)
class Link:
    protocol: object
    parts: dict

    # ------------------------------------------------------------------ structure

    def channels(self) -> dict:
        return {arm: self.parts[arm] for arm in self.protocol.ARMS}

    @property
    def time_varying(self) -> bool:
        return any(ch.time_varying for ch in self.channels().values())

    @property
    def fading(self) -> bool:
        return any(ch.random for ch in self.channels().values())

    def shape(self) -> tuple[int, int]:
        """(settings, outcomes)."""
        return len(self.protocol.SETTINGS), len(self.protocol.OUTCOMES)

    def rep_rate_hz(self):
        return self.protocol.rep_rate_hz(self.parts)

    def block_time(self, index):
        """Time of block ``index`` (its middle), seconds."""
        return (jnp.asarray(index, jnp.float64) + 0.5) * keys.BLOCK / self.rep_rate_hz()

    @property
    def background(self) -> bool:
        """Whether a channel brings background light to its detectors (``has_background``)."""
        return any(getattr(ch, "has_background", False) for ch in self.channels().values())

    def parts_at(self, t=0.0) -> dict:
        """The components at time ``t``: the detector at the end of each arm with the arm's
        background light (``background_photons(t)``) folded into its dark counts
        (``with_background``); ``parts`` itself when no channel has background light."""
        if not self.background:
            return self.parts
        parts = dict(self.parts)
        for arm, ch in self.channels().items():
            if getattr(ch, "has_background", False):
                group = arm.replace("channel", "detector")
                group = group if group in parts else "detector"
                parts[group] = parts[group].with_background(ch.background_photons(t))
        return parts

    # ------------------------------------------------------------------ model

    def mean_transmittance(self, t=0.0) -> dict:
        """Expected transmittance of every arm at time ``t``."""
        return {arm: ch.transmittance(t) for arm, ch in self.channels().items()}

    def sample_transmittance(self, key, t=0.0, run_key=None) -> dict:
        """One realisation of every arm's transmittance (independent arms). An arm that neither
        fades nor changes in time gives its one transmittance, so that what depends on it is
        computed once per chunk, not once per block. Time-correlated factors draw from ``run_key``
        (the run's root key, the same at every block) when given."""
        key = keys.stream(key, "fading")
        run = None if run_key is None else keys.stream(run_key, "fading")
        out = {}
        for i, (arm, ch) in enumerate(self.channels().items()):
            when = t if ch.time_varying else 0.0
            if ch.random and run is not None and any(f.correlated for f in ch.factors()):
                out[arm] = ch.sample(jax.random.fold_in(key, i), when, run_key=jax.random.fold_in(run, i))
            else:
                out[arm] = ch.sample(jax.random.fold_in(key, i), when) if ch.random else ch.transmittance(when)
        return out

    def probabilities(self, eta: dict, t=0.0):
        """(P(setting) [S], P(setting, outcome) [S, O]) per pulse at transmittances ``eta``."""
        return self.protocol.probabilities(self.parts_at(t), eta)

    def expected_probabilities(self, t=0.0):
        """The same, averaged over the fading of every arm at time ``t``."""
        return self.expected_state(t)[:2]

    def expected_state(self, t=0.0):
        """(P(setting) [S], P(setting, outcome) [S, O], {arm: E[eta]}) averaged over the fading of
        every arm at time ``t``: one pass over the product of the arms' quadratures (the arms are
        independent, so the average of an arm's transmittance is its own mean)."""
        arms = list(self.channels().items())

        def over(i, eta):
            if i == len(arms):
                return (*self.probabilities(eta, t), eta)
            arm, ch = arms[i]
            return ch.expect(lambda e: over(i + 1, {**eta, arm: e}), t)

        return over(0, {})

    def estimate(self, sent, counts, t=0.0):
        return self.protocol.estimate(sent, counts, self.parts_at(t), self.mean_transmittance(t))

    def expected(self, t=0.0) -> dict:
        """Asymptotic rate (estimator on the expected counts over the fading), the Alice-Bob
        transmittance and the PLOB bound at time ``t``."""
        ps, po, eta = self.expected_state(t)
        return {"key_rate_asymptotic": self.protocol.asymptotic_rate(ps, po, self.parts_at(t), eta),
                "transmittance": self.protocol.alice_bob_transmittance(eta),
                "plob_bound": self.protocol.bound(eta)}

    def window_s(self, pulses):
        """The run's time window, s: the longest pass of the arms that have one (``window_s()``),
        else ``pulses`` / f."""
        spans = [ch.window_s() for ch in self.channels().values() if hasattr(ch, "window_s")]
        if not spans:
            return jnp.asarray(pulses, jnp.float64) / self.rep_rate_hz()
        return functools.reduce(jnp.maximum, spans)

    def expected_run(self, pulses, nodes: int = 32):
        """(N, expected sent [S], expected counts [S, O], mean transmittances) of a whole run.

        Static link: N = ``pulses`` at t = 0. Changing link: N = f W over its window W
        (:meth:`window_s`), the counts sum_t N_t p(eta(t)) as N times the time average of the
        expected probabilities by Gauss-Legendre quadrature with ``nodes`` nodes over [0, W].
        Differentiable in every field (W too)."""
        if not self.time_varying:
            ps, po, eta = self.expected_state()
            n = jnp.asarray(pulses, jnp.float64)
            return n, n * ps, n * po, eta
        window = self.window_s(pulses)
        x, w = np.polynomial.legendre.leggauss(nodes)
        times = window * (jnp.asarray(x) + 1.0) / 2.0
        weights = jnp.asarray(w) / 2.0
        ps, po, eta = jax.vmap(self.expected_state)(times)
        n = window * self.rep_rate_hz()
        return (n, n * jnp.tensordot(weights, ps, 1), n * jnp.tensordot(weights, po, 1),
                {arm: weights @ v for arm, v in eta.items()})

    # ------------------------------------------------------------------ sampling

    def allocate(self, key, n):
        """Pulses of each setting in a block of ``n``: [S]."""
        return multinomial(keys.stream(key, "allocation"), n, self.protocol.setting_probabilities(self.parts))

    def measured(self) -> np.ndarray:
        """Indices of the settings whose outcomes are drawn, [M]."""
        return np.flatnonzero(self.protocol.MEASURED)

    def expand(self, counts):
        """Counts [..., M, O] of the measured settings as [..., S, O] (zeros elsewhere)."""
        s, o = self.shape()
        full = jnp.zeros((*counts.shape[:-2], s, o), counts.dtype)
        return full.at[..., self.measured(), :].set(counts)

    def block_state(self, key, index, run_key=None):
        """(components, transmittance of every arm) of block ``index``: the parts at its time and
        its transmittances drawn from ``key`` (``run_key``: for time-correlated fading)."""
        t = self.block_time(index)
        return self.parts_at(t), self.sample_transmittance(key, t, run_key)

    def block_probabilities(self, key, index, run_key=None):
        """Outcome probabilities [M, O] of the measured settings in block ``index``
        (:meth:`block_state`)."""
        parts, eta = self.block_state(key, index, run_key)
        return self.protocol.outcome_probabilities(parts, eta)[self.measured()]

    def block_counts(self, key, index, n, mode, sent=None, run_key=None):
        """(sent [S], counts [M, O] of the measured settings) of block ``index`` of ``n`` pulses
        (``sent``: its settings, if drawn already; ``run_key``: for time-correlated fading)."""
        s, o = self.shape()
        measured = self.measured()
        if mode == "event":
            parts, eta = self.block_state(key, index, run_key)
            setting, outcome = self.protocol.sample_events(keys.stream(key, "events"), keys.BLOCK,
                                                           parts, eta)
            # one scatter into setting x (outcomes, not measured); pulses past n go to a spare bin
            measured_of = jnp.asarray(self.protocol.MEASURED)[setting]
            cell = setting * (o + 1) + jnp.where(measured_of, outcome, o)
            cell = jnp.where(jnp.arange(keys.BLOCK) < n, cell, s * (o + 1))
            bins = jnp.zeros(s * (o + 1) + 1, jnp.int64).at[cell].add(1)[:-1].reshape(s, o + 1)
            return bins.sum(-1), bins[measured, :o]
        sent = self.allocate(key, n) if sent is None else sent
        return sent, multinomial(keys.stream(key, "detection"), sent[measured],
                                 self.block_probabilities(key, index, run_key))


def _slot_sum(x, slot, slots: int):
    """Sum the per-block rows of ``x`` [B, ...] into ``slots`` time slots by ``slot`` [B]."""
    return jax.ops.segment_sum(x, slot, num_segments=slots)


@partial(jax.jit, static_argnames=("blocks", "mode", "shared", "slot_blocks", "slots", "mesh"))
def chunk_counts(link: Link, root, first, sizes, *, blocks: int, mode: str, shared: bool,
                 slot_blocks: int = 0, slots: int = 0, mesh=None):
    """Counts of blocks ``first .. first + blocks - 1`` (``sizes`` pulses each) at every point:
    ``(sent [G, S], counts [G, S, O])``, or per time slot ``[G, T, S]``, ``[G, T, S, O]`` when
    ``slots`` > 0 (``slot_blocks`` blocks a slot).

    ``link`` has a leading grid axis on every leaf. Count mode vmaps the grid (drawing the settings
    once per block if ``shared``); event mode maps it sequentially so that memory stays at one
    chunk of pulses. Compiled once per link structure, chunk and mode. With ``mesh`` (a 2-D device
    mesh, axes ``points`` x ``blocks``: :func:`kqjax.engine.driver.mesh`) the grid is split along
    ``points`` (G a multiple of its size; the outputs stay split the same way) and each device of a
    row takes ``blocks / row`` consecutive blocks (keys from the block index), its int64 counts
    summed exactly over the row (``psum``).
    """
    if mesh is not None:
        local = blocks // mesh.shape["blocks"]

        def on_device(lk, rt, f, n):
            f = f + jax.lax.axis_index("blocks").astype(jnp.int64) * local
            out = chunk_counts(lk, rt, f, n, blocks=local, mode=mode, shared=shared,
                               slot_blocks=slot_blocks, slots=slots)
            return jax.tree_util.tree_map(lambda x: jax.lax.psum(x, "blocks"), out)

        spec = jax.sharding.PartitionSpec
        return jax.shard_map(on_device, mesh=mesh, in_specs=(spec("points"), spec(), spec(), spec("blocks")),
                             out_specs=spec("points"), check_vma=False)(link, root, jnp.asarray(first, jnp.int64),
                                                                       sizes)
    index = jnp.asarray(first, jnp.int64) + jnp.arange(blocks, dtype=jnp.int64)
    ks = keys.block_keys(root, first, blocks)

    def reduce(x):
        if slots:
            return _slot_sum(x, jnp.minimum(index // slot_blocks, slots - 1), slots)
        return x.sum(0)

    def per_point(lk, alloc):
        if alloc is None:
            sent, counts = jax.vmap(lambda k, i, n: lk.block_counts(k, i, n, mode, run_key=root))(ks, index, sizes)
        else:
            sent, counts = jax.vmap(lambda k, i, n, a: lk.block_counts(k, i, n, mode, a, root))(ks, index, sizes, alloc)
        return reduce(sent), lk.expand(reduce(counts))

    if mode == "event":
        return jax.lax.map(lambda lk: per_point(lk, None), link)
    alloc = None
    if shared:
        first_point = jax.tree_util.tree_map(lambda x: x[0], link)
        alloc = jax.vmap(first_point.allocate)(ks, sizes)
    return jax.vmap(lambda lk: per_point(lk, alloc))(link)


def make_step(link: Link, root, blocks: int, mode: str, slot_blocks: int = 0, slots: int = 0, mesh=None):
    """The driver's step ``(first_block, sizes[, idx]) -> (sent, counts)`` for this link (for the
    grid points ``idx`` only, when given)."""
    p = np.asarray(jax.jit(jax.vmap(lambda lk: lk.protocol.setting_probabilities(lk.parts)))(link))
    shared = bool(mode == "count" and np.all(p == p[:1]))
    run = partial(chunk_counts, root=root, blocks=blocks, mode=mode, shared=shared,
                  slot_blocks=slot_blocks, slots=slots, mesh=mesh)
    host = jax.tree_util.tree_map(np.asarray, link)

    def step(first, sizes, idx=None):
        return run(link if idx is None else jax.tree_util.tree_map(lambda x: x[idx], host), first=first, sizes=sizes)

    return step


@jax.jit
@jax.vmap
def rates(link: Link, sent, counts):
    """Rates from counts and asymptotic rates at every grid point (a static link)."""
    return {**link.estimate(sent, counts), **link.expected()}


@jax.jit
@jax.vmap
def slot_rates(link: Link, sent, counts, nodes, weights, pulses):
    """Per-slot rates and the rates of all slots pooled (``*_pooled``).

    The expected counts of a slot average the expected counts over its time by Gauss-Legendre
    ``nodes`` [T, K] and ``weights`` [T, K] (each row sums to 1); the pooled rates apply the
    estimator to the summed counts, and to the expected counts summed with the slots' ``pulses``.
    A slot without pulses sent (a run stopped before it) has NaN rates from counts.
    """

    def expected(t, w):
        ps, po, eta = jax.vmap(link.expected_state)(t)
        return jnp.tensordot(w, ps, 1), jnp.tensordot(w, po, 1), {arm: w @ v for arm, v in eta.items()}

    ps, po, eta = jax.vmap(expected)(nodes, weights)
    proto = link.protocol
    w = pulses / jnp.maximum(jnp.sum(pulses), 1.0)
    mid = jnp.sum(nodes * weights, -1)  # each slot's mean time: its detectors' background light

    def rows(x, pooled, expected=None):  # the T slots, then the pooled and the expected row
        return jnp.concatenate([x, jnp.stack([pooled, pooled if expected is None else expected])])

    # One trace of each estimator over all rows.
    parts, parts_axis = ((jax.vmap(link.parts_at)(rows(mid, w @ mid)), 0) if link.background
                         else (link.parts, None))
    eta = {arm: rows(v, w @ v) for arm, v in eta.items()}
    est = jax.vmap(proto.estimate, in_axes=(0, 0, parts_axis, 0))(
        rows(sent, sent.sum(0), jnp.tensordot(pulses, ps, 1)),
        rows(counts, counts.sum(0), jnp.tensordot(pulses, po, 1)), parts, eta)
    asym = jax.vmap(proto.asymptotic_rate, in_axes=(0, 0, parts_axis, 0))(
        rows(ps, jnp.tensordot(w, ps, 1)), rows(po, jnp.tensordot(w, po, 1)), parts, eta)
    tr, bound = jax.vmap(proto.alice_bob_transmittance)(eta), jax.vmap(proto.bound)(eta)
    slots = sent.shape[0]
    empty = jnp.sum(sent, -1) == 0

    def per_slot(v):
        return jnp.where(empty.reshape((slots,) + (1,) * (v.ndim - 1)), jnp.nan, v[:slots])

    out = {k: per_slot(v) for k, v in est.items()}
    out.update(key_rate_asymptotic=asym[:slots], transmittance=tr[:slots], plob_bound=bound[:slots],
               key_rate_pooled=est["key_rate"][slots], key_rate_asymptotic_pooled=asym[slots],
               transmittance_pooled=tr[slots])
    if "secret_key_bits" in est:  # the same estimator on the expected counts of all slots
        out.update(secret_key_bits_pooled=est["secret_key_bits"][slots],
                   secret_key_bits_expected=est["secret_key_bits"][slots + 1])
    return out


SLOT_NODES = 16
"""Gauss-Legendre nodes over each time slot for its expected counts."""


@dataclasses.dataclass(frozen=True)
class Slots:
    """Time slots of a run over a changing channel: ``count`` slots of ``blocks`` blocks each."""

    blocks: int
    count: int
    seconds: float  # slot length
    times: np.ndarray  # middle of each slot's pulses, s
    pulses: np.ndarray  # pulses sent in each slot
    nodes: np.ndarray  # [count, SLOT_NODES] times spanning each slot's pulses, s
    weights: np.ndarray  # [count, SLOT_NODES], each row summing to 1


def plan_slots(link: Link, pulses: int, slot_s: float) -> Slots | None:
    """Time slots of ``slot_s`` seconds (rounded to whole blocks, at least one), or None for a
    static link. The repetition rate must be the same at every grid point."""
    if not link.time_varying:
        return None
    rep = np.asarray(link.rep_rate_hz(), np.float64).reshape(-1)
    if not np.all(rep == rep[0]):
        raise ValueError("a changing channel needs one repetition rate for the whole sweep")
    block_s = keys.BLOCK / float(rep[0])
    per = max(1, int(round(slot_s / block_s)))
    blocks = -(-int(pulses) // keys.BLOCK)
    count = -(-blocks // per)
    start = np.arange(count) * per * keys.BLOCK
    sent = np.clip(int(pulses) - start, 0, per * keys.BLOCK)
    x, w = np.polynomial.legendre.leggauss(SLOT_NODES)
    nodes = (start[:, None] + sent[:, None] * (x[None, :] + 1.0) / 2.0) / float(rep[0])
    weights = np.broadcast_to(w / 2.0, nodes.shape)
    return Slots(per, count, per * block_s, (start + sent / 2.0) / float(rep[0]), sent, nodes, weights)


def simulate(link: Link, *, pulses: int, seed: int = 0, chunk_size: int | None = None, mode: str = "count",
             prng: str = "threefry2x32", progress: bool | None = None, workers: int | None = None,
             slot_s: float = 1.0, devices: int | None = None, target_rel_error: float | None = None,
             memory: int | None = None) -> dict:
    """Monte Carlo of ``pulses`` pulses at every grid point of ``link`` (leading axis of leaves),
    ``chunk_size`` pulses a step (default ``driver.default_chunk(mode)``), ``workers`` chunks at a
    time (``driver.accumulate``) on ``devices`` devices (None: all; :func:`kqjax.engine.driver.devices`,
    split as :func:`kqjax.engine.driver.layout`; over several processes one step at a time),
    the grid in slices whose work arrays fit ``memory`` bytes (default: ``driver.memory_budget``
    of the devices used).

    Returns numpy arrays with the grid axis first: ``sent`` [G, S] and ``counts`` [G, S, O]
    (exact int64; with a time axis [G, T, ...] over a changing channel), the estimator's rates from
    the counts, asymptotic rates, transmittance, PLOB bound and ``key_rate_bps``; ``slots`` (a
    :class:`Slots` or None), ``pulses_done`` and ``complete`` (False if interrupted). With
    ``target_rel_error`` a point stops once the relative standard error of its key rate is at most
    that (checked after each chunk); then also ``pulses_used`` [G], ``key_rate_rel_error`` [G] and
    ``qber_rel_error`` (:func:`precision`). Channels that draw something once per run are prepared
    first (:func:`prepare`); ``link`` is the link as simulated, so that what a caller reports
    afterwards is of the same run.
    """
    root = keys.root_key(seed, prng)
    link = prepare(link, root)
    used = driver.devices(devices)
    _, per_chunk = driver.plan(pulses, chunk_size or driver.default_chunk(mode))
    per_chunk = -(-per_chunk // len(used)) * len(used)
    slots = plan_slots(link, pulses, slot_s)
    if target_rel_error is not None and slots is not None:
        raise ValueError("early stopping needs a channel that does not change in time")
    g = int(np.shape(jax.tree_util.tree_leaves(link)[0])[0])
    memory = driver.memory_budget(len(used)) if memory is None else memory
    per_slice = slice_points(link, per_chunk, mode, memory, workers, slots.count if slots else 1)
    if len(used) <= per_slice < g:  # slices of a multiple of the devices: their points split over all
        per_slice -= per_slice % len(used)
    mesh = driver.mesh(used, per_slice)
    step = make_step(link if mesh is None else jax.tree_util.tree_map(np.asarray, link), root, per_chunk, mode,
                     slots.blocks if slots else 0, slots.count if slots else 0, mesh)
    stop = driver.stop_requested
    if jax.process_count() > 1:  # every process issues the same steps in the same order, gets all counts
        (step, stop), workers = _gathered(step), 1
    converged = None
    if target_rel_error is not None:
        def converged(acc, _):
            return np.asarray(precision(link, *acc)["key_rate_signed"])[:, 0] <= target_rel_error
    sliced = per_slice < g or converged is not None
    s, o = link.shape()
    shape = (g, slots.count) if slots else (g,)
    if slots is None:
        estimator, extra = rates, ()
    else:
        estimator = slot_rates
        extra = tuple(np.broadcast_to(np.asarray(a, np.float64), (g, *np.shape(a)))
                      for a in (slots.nodes, slots.weights, slots.pulses))
    ready = _prepared(estimator, link, np.zeros((*shape, s), np.int64), np.zeros((*shape, s, o), np.int64), *extra)
    acc = driver.accumulate(step, pulses, per_chunk * keys.BLOCK, progress=progress, workers=workers,
                            points=g if sliced else None, slice_points=per_slice, converged=converged, stop=stop)
    sent, counts = (np.asarray(x, np.int64) for x in acc.counts)
    if slots is not None and not acc.complete:  # the expected counts of the pulses sent, not of the whole pass
        extra = (*extra[:2], sent.sum(-1).astype(np.float64))
    ready.join()
    out = estimator(link, sent, counts, *extra)
    out = {k: np.asarray(v) for k, v in out.items()}
    rep = np.asarray(link.rep_rate_hz())
    out["key_rate_bps"] = out["key_rate"] * (rep if slots is None else rep[:, None])
    if slots is not None:
        out["key_rate_bps_pooled"] = out["key_rate_pooled"] * rep
    if target_rel_error is not None:
        err = {k: np.asarray(v) for k, v in precision(link, sent, counts).items()}
        out.update(pulses_used=acc.point_pulses, key_rate_rel_error=err["key_rate_signed"][:, 0],
                   qber_rel_error=err["qber"].reshape(np.shape(out["qber"])))
    out.update(sent=sent, counts=counts, slots=slots, pulses_done=acc.pulses, complete=acc.complete,
               seconds=acc.seconds, link=link)
    return out


def _prepared(fn, *args) -> threading.Thread:
    """``fn`` traced and compiled for arguments shaped like ``args`` (one call on them) in a thread
    beside the run's steps, so that it is ready when the counts are (its compilation overlaps the
    Monte Carlo instead of following it). A failure there is left to the real call to report."""
    def call():
        try:
            jax.block_until_ready(fn(*args))
        except Exception:  # noqa: BLE001  (the real call raises it again, in the caller's thread)
            pass

    thread = threading.Thread(target=call, name="kqjax-estimator", daemon=True)
    thread.start()
    return thread


def _gathered(step):
    """``(step, stop)`` for processes that run the same steps together: the step's counts, split
    over the devices of all processes, come back whole to every process
    (``multihost_utils.process_allgather``), and with them whether each process was asked to stop
    (Ctrl-C, SIGTERM); ``stop()`` holds in every process from the same step on once any process
    was, so that all of them stop after the same chunk and none waits for a step the others left."""
    from jax.experimental import multihost_utils

    agreed = threading.Event()

    def gathered(*args):
        out, asked = multihost_utils.process_allgather((step(*args), np.array([driver.stop_requested()])),
                                                       tiled=True)
        if asked.any():
            agreed.set()
            driver.request_stop()
        return out

    return gathered, agreed.is_set


def prepare(link: Link, root) -> Link:
    """``link`` with every channel prepared for the run (:meth:`Channel.prepare`: what it draws
    once per run, e.g. a wave-optics bank), point by point with the same key (common random numbers
    over the grid); ``link`` itself when no channel draws anything."""
    from kqjax.links.base import Channel

    arms = list(link.channels())
    if all(type(ch).prepare is Channel.prepare for ch in link.channels().values()):
        return link
    run = jax.jit(lambda chs, k: jax.lax.map(
        lambda c: {a: c[a].prepare(jax.random.fold_in(k, i)) for i, a in enumerate(arms)}, chs))
    return dataclasses.replace(link, parts={**link.parts, **run(link.channels(), keys.stream(root, "prepare"))})


WORK_BYTES_PER_CELL = 32
"""Bytes of a count step's work arrays per point, block and count cell: a bound (one step of 1000
decoy-BB84 points and 4096 blocks took about 7 bytes per cell above the interpreter's memory)."""


def slice_points(link: Link, blocks: int, mode: str, memory: int | None = None, workers: int | None = None,
                 slots: int = 1) -> int:
    """Grid points per step so that the steps in flight fit ``memory`` bytes: a count step holds
    about ``WORK_BYTES_PER_CELL`` bytes per point, block and cell (S + S O cells, times the time
    slots' outputs); event mode maps the points one by one, so its steps take the whole grid."""
    g = int(np.shape(jax.tree_util.tree_leaves(link)[0])[0])
    if mode == "event":
        return g
    s, o = link.shape()
    workers = driver.default_workers() if workers is None else max(1, int(workers))
    memory = driver.memory_budget() if memory is None else int(memory)
    per_point = WORK_BYTES_PER_CELL * (blocks * (s + s * o) + slots * (s + s * o))
    return int(max(1, min(g, memory // (workers * per_point))))


@jax.jit
@jax.vmap
def precision(link: Link, sent, counts):
    """Relative standard errors of ``key_rate_signed`` and ``qber`` at the simulated counts
    (delta method over the pulses' multinomial: :func:`kqjax.engine.driver.relative_errors`)."""
    return driver.relative_errors(link.estimate, sent, counts, link.protocol.MEASURED)
