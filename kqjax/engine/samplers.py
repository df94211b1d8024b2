"""Exact binomial and multinomial samplers in pure JAX, fast on CPU and GPU.

``jax.random.binomial`` iterates over whole arrays until their last element is accepted, about a
million draws per second on a CPU. These samplers are exact (no normal or Poisson approximation;
the only error is float64 arithmetic, quantified below), jit/vmap friendly and fixed-shape:

* Symmetry: ``p > 1/2`` draws ``n - Binomial(n, 1 - p)``, so the algorithms see ``p <= 1/2``.
* Inversion (mean ``n p < INVERSION_MAX_MEAN``): ``X = #{k : w < P(X > k)}`` for one uniform
  ``w``, the survival function following the pmf recurrence (the search stops at
  ``INVERSION_MAX_X``, where the attempt is redrawn).
* BTRS (mean ``>= INVERSION_MAX_MEAN``): Hörmann's transformed rejection with squeeze (W.
  Hörmann, "The generation of binomial random variates", J. Stat. Comput. Simul. 46, 1993).
  ``log f(k) / f(m)`` comes from a float64 table of ``log j!`` where ``n <= LOGFACT_TABLE_N``,
  otherwise from Hörmann's Stirling-series expression (such draws are left to the repair
  passes, which are slower: the engine's blocks have ``n <= 65536``).
* Fast pass: one fused kernel over all draws makes the first attempts: the inversion search
  unrolled for a number of steps set by the largest inversion mean of the batch (16 up to a
  mean of 1.3, else 40), and ``_FAST_BTRS = 2`` BTRS candidates. Regimes absent from the batch
  are skipped.
* Repair passes: the draws the fast pass leaves undecided (about ``0.2**_FAST_BTRS`` of BTRS
  draws, ``< 1e-12`` of inversion draws) are found from a bit-packed mask and its prefix counts
  and get ``_REPAIR_ATTEMPTS`` complete attempts per pass, until none is left. Under
  ``jax.vmap`` a custom batching rule flattens the batch, so the decisions to run a stage or a
  pass are taken over the whole batch, not per row.

Random bits: the key gives a 64-bit seed (``jax.random.bits``, whatever the key's PRNG); word
``j`` of draw ``e`` is Philox-2x32-10 (Salmon et al., SC'11; the counter-based generator of
cuRAND and Random123) of counter ``(e, seed_hi + stream * 2**20 + j)`` under key ``seed_lo``.
Attempt ``t`` of a draw uses words ``2t`` and ``2t + 1``, so a draw is a function of its key, its
index, ``n`` and ``p`` only: it does not depend on batching, ``vmap`` or chunking. Inversion
uses a 64-bit uniform; BTRS takes ``u`` from 40 bits and ``v`` from 24 bits, refined by word
``2t + 1`` (64 more bits) whenever the 24 bits do not decide the test.

Float64 limits (the only departures from the exact law): the inversion survival function has
absolute rounding error about ``1e-16``, and an inversion attempt with ``X > INVERSION_MAX_X``
is redrawn (a tail below ``5e-18`` for means under 10); the BTRS acceptance ratio has relative
error about ``1e-10`` (table) or ``1e-12`` (Stirling), and the 40-bit ``u`` moves candidate
probabilities by about ``2**-40 * 2.5 sqrt(n p q)`` relative.

Invalid input (``n`` negative, infinite or NaN; ``p`` outside ``[0, 1]`` or NaN) gives ``-1``.
Non-integer ``n`` is truncated, as in NumPy. ``n`` is exact up to ``2**53``.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.custom_batching import custom_vmap

__all__ = ["binomial", "multinomial", "philox2x32", "INVERSION_MAX_MEAN", "INVERSION_MAX_X",
           "LOGFACT_TABLE_N"]

F64 = jnp.float64
I32 = jnp.int32
I64 = jnp.int64
U32 = jnp.uint32
U64 = jnp.uint64

INVERSION_MAX_MEAN = 10.0  # inversion below this mean n * min(p, 1 - p), BTRS at or above
INVERSION_MAX_X = 48  # an inversion attempt with X > 48 is redrawn; P(X > 48 | mean < 10) < 5e-18
LOGFACT_TABLE_N = 65536  # log j! table for j <= this; BTRS with larger n uses Stirling's series
_LOGFACT = np.array([math.lgamma(j + 1.0) for j in range(LOGFACT_TABLE_N + 1)], np.float64)
# Stirling series remainder fc(k) = log k! - [(k + 1/2) log(k + 1) - (k + 1) + log(2 pi) / 2].
_FC_SMALL = (0.0810614667953272, 0.0413406959554092, 0.0276779256849983, 0.02079067210376509,
             0.0166446911898211, 0.0138761288230707, 0.0118967099458917, 0.0104112652619720,
             0.00925546218271273, 0.00833056343336287)
# Fast-pass inversion steps by the largest inversion-regime mean of the batch: S steps leave a
# draw of mean <= mu undecided with probability P(Poisson(mu) >= S) <= 1e-12.
_INV_FAST = ((1.3, 16), (INVERSION_MAX_MEAN, 40))
_FAST_BTRS = 2  # BTRS candidates per draw on the fast path
_REPAIR_CHUNK = 1024  # undecided draws per repair kernel call
_REPAIR_ATTEMPTS = 1  # attempts per undecided draw and repair pass
_MAX_PASSES = 200  # repair passes; a draw still undecided after them (never seen) gives -1
_STREAM_BITS = 20  # counter word: seed_hi + stream * 2**20 + word index (word index < 2**20)
_MAX_STREAMS = 1 << (32 - _STREAM_BITS)


# ----------------------------------------------------------------------------- random bits

_PHILOX_M = np.uint64(0xD256D193)
_PHILOX_W = np.uint32(0x9E3779B9)


def philox2x32(c0, c1, k):
    """Philox-2x32-10 block: counters ``(c0, c1)`` and key ``k`` (uint32 arrays) -> (hi, lo)."""
    c0, c1, k = (jnp.asarray(x, U32) for x in (c0, c1, k))
    for _ in range(10):
        prod = c0.astype(U64) * _PHILOX_M
        hi = (prod >> np.uint64(32)).astype(U32)
        lo = prod.astype(U32)
        c0, c1 = hi ^ k ^ c1, lo
        k = k + _PHILOX_W
    return c0, c1


def _dense_uniform(hi, lo):
    """Uniform on (0, 1] from 64 bits, with resolution 2**-64 near zero."""
    return hi.astype(F64) * 2.0**-32 + (lo.astype(F64) + 0.5) * 2.0**-64


def _seeds(key):
    """64-bit seed of a key, as uint32[2], from the key's own PRNG."""
    return jax.random.bits(key, (2,), U32)


# ------------------------------------------------------------------------------- inversion
# Every kernel returns one float64 "code" per draw: the draw X >= 0 once decided, else
# -1 - t with t the next attempt to evaluate in full. One output per kernel keeps XLA from
# duplicating work across fusions.

def _inversion(w, n, ps, steps):
    """Inversion ``X = #{k < steps : w < P(X > k)}``; -1 when ``X >= steps``."""
    lq = jnp.log1p(-ps)
    pmf, sf, r = jnp.exp(n * lq), -jnp.expm1(n * lq), ps / (1.0 - ps)
    cnt = (w < sf).astype(F64)
    for k in range(1, steps):
        pmf = pmf * ((n - (k - 1)) * r) * (1.0 / k)
        sf = sf - pmf
        cnt = cnt + (w < sf)
    return jnp.where(w < sf, -1.0, cnt)


# ------------------------------------------------------------------------------------ BTRS

def _fc(k):
    """Stirling remainder fc(k) for integer-valued float k >= 0 (table below 10)."""
    ix = 1.0 / (k + 1.0)
    ix2 = ix * ix
    out = (1.0 / 12 - (1.0 / 360 - (1.0 / 1260 - ix2 / 1680) * ix2) * ix2) * ix
    small = jnp.asarray(_FC_SMALL, F64)[jnp.clip(k, 0, len(_FC_SMALL) - 1).astype(I32)]
    return jnp.where(k < len(_FC_SMALL), small, out)


class _Btrs:
    """Per-draw constants of BTRS for ``p <= 1/2`` and ``n p >= 10``."""

    def __init__(self, n, ps, stirling):
        q = 1.0 - ps
        sd = jnp.sqrt(n * ps * q)
        self.n, self.stirling = n, stirling
        self.b = 1.15 + 2.53 * sd
        self.a = -0.0873 + 0.0248 * self.b + 0.01 * ps
        self.c = n * ps + 0.5
        self.vr = 0.92 - 4.2 / self.b
        self.alpha = (2.83 + 5.1 / self.b) * sd
        self.r = ps / q
        self.m = m = jnp.floor((n + 1.0) * ps)
        self.logr = jnp.log(self.r)
        self.lfm = _lf(m) + _lf(n - m)
        if stirling:
            self.h = ((m + 0.5) * jnp.log((m + 1.0) / (self.r * (n - m + 1.0)))
                      + _fc(m) + _fc(n - m))

    def log_ratio(self, k):
        """log f(k) / f(m): the log j! table where n fits, else Hörmann's Stirling form."""
        n, m = self.n, self.m
        d = self.lfm - _lf(k) - _lf(n - k) + (k - m) * self.logr
        if self.stirling:
            nk = n - k + 1.0
            d_st = (self.h + (n + 1.0) * jnp.log1p((k - m) / nk)
                    + (k + 0.5) * jnp.log(nk * self.r / (k + 1.0)) - _fc(k) - _fc(n - k))
            d = jnp.where(n > LOGFACT_TABLE_N, d_st, d)
        return d

    def candidate(self, hi, lo):
        """Candidate of 64-bit words: (k, g, V24), to accept iff ``v <= g``.

        ``v = (V24 + E) / 2**24``: ``V24`` is the low 24 bits of the word and ``E`` uniform,
        taken from a second word only when the bounds ``E in [0, 1)`` leave the test open.
        """
        u = hi.astype(F64) * 2.0**-32 + ((lo >> 24).astype(F64) + 0.5) * 2.0**-40 - 0.5
        us = 0.5 - jnp.abs(u)
        k = jnp.floor((2.0 * self.a / us + self.b) * u + self.c)
        kc = jnp.clip(k, 0.0, self.n)
        g = jnp.where((k >= 0) & (k <= self.n),
                      jnp.exp(self.log_ratio(kc)) * (self.a / (us * us) + self.b) / self.alpha,
                      -1.0)
        g = jnp.maximum(g, jnp.where(us >= 0.07, self.vr, -1.0))  # squeeze
        return k, g, (lo & np.uint32(0xFFFFFF)).astype(F64)


def _lf(j):
    """log j! from the table (j clipped into it)."""
    return jnp.asarray(_LOGFACT)[jnp.clip(j, 0, LOGFACT_TABLE_N).astype(I32)]


# ---------------------------------------------------------------------------------- kernels

def _fast_kernel(s0, s1, e, n, ps):
    """First attempts of every draw (p <= 1/2): codes."""
    mean = n * ps
    inv = (mean > 0) & (mean < INVERSION_MAX_MEAN)
    bt = mean >= INVERSION_MAX_MEAN
    zeros = jnp.zeros(n.shape, F64)

    def inv_run(steps):
        def run(n, ps):
            hi, lo = philox2x32(e, s1, s0)
            return _inversion(_dense_uniform(hi, lo), n, ps, steps)
        return run

    mx = jnp.max(jnp.where(inv, mean, 0.0))
    ibranch = jnp.where(jnp.any(inv), 1 + sum((mx > lim).astype(I32) for lim, _ in _INV_FAST[:-1]),
                        0)
    code_inv = lax.switch(ibranch, [lambda n, ps: zeros] + [inv_run(s) for _, s in _INV_FAST],
                          n, ps)

    def bt_run(n, ps):
        c = _Btrs(n, ps, False)
        out = jnp.full(n.shape, -1.0 - _FAST_BTRS)
        for j in reversed(range(_FAST_BTRS)):
            hi, lo = philox2x32(e, s1 + np.uint32(2 * j), s0)
            k, g, v24 = c.candidate(hi, lo)
            acc = (v24 + 1.0) * 2.0**-24 <= g
            rej = v24 * 2.0**-24 > g
            out = jnp.where(rej, out, jnp.where(acc, k, -1.0 - j))
        # Beyond the log j! table the repair passes (Stirling form) decide, from attempt 0.
        return jnp.where(n > LOGFACT_TABLE_N, -1.0, out)

    code_bt = lax.cond(jnp.any(bt), bt_run, lambda n, ps: zeros, n, ps)
    return jnp.where(inv, code_inv, jnp.where(bt, code_bt, 0.0))


def _full_attempts(s0, s1, e, t, n, ps):
    """Attempts ``t, ..., t + _REPAIR_ATTEMPTS - 1`` (t uint32) in full: X, or ``-1 - t'`` with
    ``t'`` the next attempt when all are rejected. Inversion attempts are accepted unless
    ``X > INVERSION_MAX_X``, so only attempt ``t`` is made for them."""
    mean = n * ps
    inv = (mean > 0) & (mean < INVERSION_MAX_MEAN)
    bt = mean >= INVERSION_MAX_MEAN
    tf = t.astype(F64)
    hi, lo = philox2x32(e, s1 + 2 * t, s0)
    x_inv = _inversion(_dense_uniform(hi, lo), n, ps, INVERSION_MAX_X + 1)
    x_inv = jnp.where(x_inv >= 0, x_inv, -2.0 - tf)
    c = _Btrs(n, ps, True)
    x_bt = jnp.full(n.shape, -1.0 - _REPAIR_ATTEMPTS) - tf
    for j in reversed(range(_REPAIR_ATTEMPTS)):
        if j:
            hi, lo = philox2x32(e, s1 + 2 * (t + j), s0)
        ehi, elo = philox2x32(e, s1 + 2 * (t + j) + 1, s0)
        k, g, v24 = c.candidate(hi, lo)
        x_bt = jnp.where((v24 + _dense_uniform(ehi, elo)) * 2.0**-24 <= g, k, x_bt)
    return jnp.where(inv, x_inv, jnp.where(bt, x_bt, 0.0))


# ------------------------------------------------------------------------------ repair path

def _pack(pending):
    """Bit-pack a mask in 64-bit words: words, exclusive prefix counts of set bits, total."""
    size = pending.shape[0]
    rows = -(-size // 64)
    pad = jnp.pad(pending, (0, rows * 64 - size)).reshape(rows, 64)
    words = jnp.sum(pad.astype(U64) << jnp.arange(64, dtype=U64), axis=1, dtype=U64)
    counts = lax.population_count(words).astype(I32)
    offs = jnp.cumsum(counts, dtype=I32) - counts
    return words, offs, jnp.sum(counts, dtype=I32)


def _select(words, offs, slots):
    """Flat indices of the set bits of ranks ``slots`` (each < total)."""
    rows = words.shape[0]
    row = jnp.zeros(slots.shape, I32)
    step = 1 << max(rows - 1, 1).bit_length()
    while step:  # largest row whose offset is <= slot
        cand = row + step
        ok = (cand < rows) & (offs[jnp.minimum(cand, rows - 1)] <= slots)
        row = jnp.where(ok, cand, row)
        step >>= 1
    w = words[row]
    j = (slots - offs[row]).astype(U64)
    pos = jnp.zeros(slots.shape, U64)
    for width in (32, 16, 8, 4, 2, 1):  # position of the j-th set bit of w
        cnt = lax.population_count((w >> pos) & np.uint64((1 << width) - 1))
        move = j >= cnt
        pos = jnp.where(move, pos + np.uint64(width), pos)
        j = jnp.where(move, j - cnt, j)
    return row * 64 + pos.astype(I32)


def _repair(s0, s1, e, n, ps, code):
    """Passes over the undecided draws, one complete attempt each per pass, until none is left.

    A pass finds the undecided draws through a bit-packed mask and its prefix counts (gathers
    only), in chunks of ``_REPAIR_CHUNK``, and writes the codes back with one scatter.
    """
    size = n.shape[0]
    chunk = min(_REPAIR_CHUNK, 1 << max(size - 1, 1).bit_length())

    def chunk_body(s):
        base, words, offs, total, code = s
        slots = base + jnp.arange(chunk, dtype=I32)
        valid = slots < total
        f = jnp.where(valid, _select(words, offs, jnp.minimum(slots, total - 1)), 0)
        t = (-1.0 - code[f]).astype(U32)
        res = _full_attempts(s0[f], s1[f], e[f], t, n[f], ps[f])
        code = code.at[jnp.where(valid, f, size)].set(res, mode="drop")
        return base + chunk, words, offs, total, code

    def pass_body(s):
        it, code, words, offs, total = s
        code = lax.while_loop(lambda c: c[0] < c[3], chunk_body,
                              (jnp.int32(0), words, offs, total, code))[4]
        return (it + 1, code) + _pack(code < 0)

    def pass_cond(s):
        return (s[4] > 0) & (s[0] < _MAX_PASSES)

    return lax.while_loop(pass_cond, pass_body, (jnp.int32(0), code) + _pack(code < 0))[1]


# ------------------------------------------------------------------------------------ core

@jax.jit
def _sample_flat(s0, s1, e, n, p):
    """Binomial draws of flat arrays: draw i from words of counter (e[i], s1[i] + j), key s0[i].

    Jitted so that eager callers share one compiled program per size, whatever the batching
    (unbatched calls and both vmap patterns reach it with flat arrays); inside an outer jit it
    is inlined.
    """
    if n.shape[0] >= 2**31:
        raise ValueError("at most 2**31 - 1 draws per call")
    valid = jnp.isfinite(n) & (n >= 0) & (p >= 0) & (p <= 1)
    n = jnp.where(valid, jnp.floor(n), 0.0)
    p = jnp.where(valid, p, 0.0)
    flip = p > 0.5
    ps = jnp.where(flip, 1.0 - p, p)
    code = _repair(s0, s1, e, n, ps, _fast_kernel(s0, s1, e, n, ps))
    out = jnp.where(flip, n - code, code)
    return jnp.where(valid & (code >= 0), out, -1.0).astype(I64)


@custom_vmap
def _core(seeds, n, p):
    """``(seeds[R, 2], n[R, M], p[R, M]) -> int64[R, M]``, row r keyed by ``seeds[r]``; its
    vmap flattens the batch into more rows."""
    rows, per_row = n.shape
    if per_row >= 2**32:
        raise ValueError("at most 2**32 - 1 draws per key")
    s0 = jnp.broadcast_to(seeds[:, 0:1], n.shape).reshape(-1)
    s1 = jnp.broadcast_to(seeds[:, 1:2], n.shape).reshape(-1)
    e = jnp.broadcast_to(jnp.arange(per_row, dtype=U32), n.shape).reshape(-1)
    return _sample_flat(s0, s1, e, n.reshape(-1), p.reshape(-1)).reshape(n.shape)


@_core.def_vmap
def _core_vmap(axis_size, in_batched, seeds, n, p):
    sb, nb, pb = in_batched
    seeds = seeds if sb else jnp.broadcast_to(seeds, (axis_size,) + seeds.shape)
    n = n if nb else jnp.broadcast_to(n, (axis_size,) + n.shape)
    p = p if pb else jnp.broadcast_to(p, (axis_size,) + p.shape)
    b, r, m = n.shape
    out = _core(seeds.reshape(b * r, 2), n.reshape(b * r, m), p.reshape(b * r, m))
    return out.reshape(b, r, m), True


def _stream(seeds, stream):
    """Seeds of sub-stream ``stream`` (< 2**12): counter words offset by ``stream * 2**20``."""
    return seeds.at[1].add(jnp.asarray(stream, U32) << np.uint32(_STREAM_BITS))


def _draw(seeds, n, p, shape):
    n = jnp.broadcast_to(jnp.asarray(n).astype(F64), shape)
    p = jnp.broadcast_to(jnp.asarray(p).astype(F64), shape)
    size = math.prod(shape)
    if size == 0:
        return jnp.zeros(shape, I64)
    return _core(seeds[None], n.reshape(1, size), p.reshape(1, size)).reshape(shape)


# ------------------------------------------------------------------------------------- API

def binomial(key, n, p, shape=None):
    """Exact Binomial(n, p) draws as int64.

    Args:
      key: a JAX PRNG key (typed or legacy uint32[2]).
      n: trial counts (integer or integer-valued float, ``0 <= n <= 2**53``; non-integers are
        truncated).
      p: success probabilities in ``[0, 1]``.
      shape: output shape; default the broadcast shape of ``n`` and ``p``.

    Returns:
      int64 array of ``shape``; ``-1`` where the input is invalid. Deterministic in ``key``;
      element ``i`` depends only on ``key``, ``i`` and its own ``n``, ``p``, so ``jit`` and
      ``vmap`` (over keys, ``n`` or ``p``) give the draws of the unbatched calls.
    """
    n, p = jnp.asarray(n), jnp.asarray(p)
    bshape = jnp.broadcast_shapes(n.shape, p.shape)
    shape = bshape if shape is None else tuple(shape)
    if jnp.broadcast_shapes(bshape, shape) != shape:
        raise ValueError(f"n and p of shapes {n.shape}, {p.shape} do not broadcast to {shape}")
    return _draw(_seeds(key), n, p, shape)


def multinomial(key, n, probs):
    """Exact multinomial counts over the last axis of ``probs``, by conditional binomials.

    Args:
      key: a JAX PRNG key.
      n: number of trials, broadcast against ``probs.shape[:-1]`` (rules as in :func:`binomial`).
      probs: category probabilities on the last axis: non-negative weights, normalised by
        their sum (which should be 1).

    Returns:
      int64 counts of shape ``broadcast(n.shape, probs.shape[:-1]) + (K,)`` that sum exactly to
      ``floor(n)``; a row is all ``-1`` where its input is invalid (negative, NaN or infinite
      ``n`` or weights, or zero total weight).
    """
    probs = jnp.asarray(probs).astype(F64)
    if probs.ndim == 0:
        raise ValueError("probs needs a category axis")
    ncat = probs.shape[-1]
    n = jnp.asarray(n).astype(F64)
    batch = jnp.broadcast_shapes(n.shape, probs.shape[:-1])
    probs = jnp.broadcast_to(probs, batch + (ncat,))
    n = jnp.broadcast_to(n, batch)
    bad = ~(jnp.isfinite(n) & (n >= 0)) | jnp.any(~(probs >= 0) | ~jnp.isfinite(probs), axis=-1)
    # tail[j] = sum_{i >= j} probs[i], summed from the small end.
    tail = jnp.flip(jnp.cumsum(jnp.flip(probs, -1), axis=-1), -1)
    bad = bad | ~(tail[..., 0] > 0)
    n = jnp.where(bad, 0.0, jnp.floor(n))
    if ncat == 1:
        return jnp.where(bad, -1, n.astype(I64))[..., None]
    cond = jnp.where(tail > 0, jnp.clip(probs / jnp.where(tail > 0, tail, 1.0), 0.0, 1.0), 0.0)
    seeds = _seeds(key)

    def step(rem, xs):
        pj, j = xs
        if ncat - 1 > _MAX_STREAMS:
            base = _seeds(jax.random.fold_in(key, j // _MAX_STREAMS))
        else:
            base = seeds
        xj = _draw(_stream(base, j % _MAX_STREAMS), rem, pj, batch)
        return rem - xj, xj

    rem, counts = lax.scan(step, n, (jnp.moveaxis(cond[..., :-1], -1, 0),
                                     jnp.arange(ncat - 1, dtype=jnp.int32)))
    out = jnp.concatenate([jnp.moveaxis(counts, 0, -1), rem.astype(I64)[..., None]], axis=-1)
    return jnp.where(bad[..., None] | jnp.any(out < 0, axis=-1, keepdims=True), -1, out)
