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
  otherwise from Hörmann's Stirling-series expression (such draws skip the cheap first
  attempts, so they are slower: the engine's blocks have ``n <= 65536``).
* Tiles: draws are taken ``_TILE`` at a time (4096 on a CPU, 2**20 on a GPU), and a tile
  runs only the work of the regimes it holds (under ``jax.vmap`` a custom batching rule lays
  a batch of many short rows out with the draws of one row position side by side: rows of a
  batch tend to share a regime, so tiles do). First, the cheap attempts: an inversion draw
  whose ``w`` lies between Bonferroni bounds of the survival function at consecutive values
  ``k < _BOUNDED`` is ``k`` (``w >= n p`` gives 0, since ``P(X > 0) <= n p``), which decides all
  but a fraction of order ``mean**3``; when more than ``1/_DENSE_FRACTION`` of a tile's draws
  are not decided so, the tile's search runs over all of them, ``_UNROLL`` steps
  of the survival function at a time until none of them is still searching (at most
  ``INVERSION_MAX_X + 1`` steps: the largest ``X`` of the tile, not the largest mean, sets the
  cost). BTRS draws get ``_FAST_BTRS`` candidates whose test uses 24 bits of ``v`` where they
  decide it. Then the pending draws (about ``0.2**_FAST_BTRS`` of BTRS draws, and the
  inversion draws the bounds leave open) are gathered through a bit-packed mask,
  ``1/_SPARSE_FRACTION`` of a tile at a time, in rounds (an inversion attempt in full, or
  ``_ROUND_ATTEMPTS`` BTRS attempts; a round's first pending draws are gathered anew each
  round) until none is pending. The tile size changes the speed only, never the draws.

Random bits: the key gives a 64-bit seed (``jax.random.bits``, whatever the key's PRNG); word
``j`` of draw ``e`` is Philox-2x32-10 (Salmon et al., SC'11; the counter-based generator of
cuRAND and Random123) of counter ``(e, seed_hi + stream * 2**20 + j)`` under key ``seed_lo``.
Attempt ``t`` of a draw uses words ``2t`` and ``2t + 1``, so a draw is a function of its key, its
index, ``n`` and ``p`` only: it does not depend on batching, ``vmap`` or chunking (nor on the
tile size, the number of cheap attempts or the attempts per round: these change the speed only).
Philox runs in 64-bit lanes (one 32 x 32 -> 64-bit multiply per round, no width conversions).
Inversion uses a 64-bit uniform; BTRS takes ``u`` from 40 bits and ``v`` from 24 bits, refined by word
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

import contextlib
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
_UNROLL = 4  # inversion steps per loop iteration (divides INVERSION_MAX_X)
_STEPS = np.array([(k - 1.0, 1.0 / k) for k in range(1, INVERSION_MAX_X + 1)])  # step k: (k - 1, 1 / k)
_BOUNDED = 3  # inversion values 0, 1, 2 decided from bounds on the survival function
_FAST_BTRS = 3  # BTRS candidates per draw in the first attempts
_DENSE_FRACTION = 8  # inversion search over the whole tile when over 1/8 of it needs one
_SPARSE_FRACTION = 64  # else pending draws are attempted 1/64 of a tile at a time
_TILE = {"cpu": 4096}  # draws per tile by platform: cache-sized on a CPU
_TILE_DEFAULT = 2**20  # elsewhere (GPU): wide tiles, one kernel over many draws
_TILE_MIN = 4096  # smallest tile: one tile size (one trace of the tile kernel) on a CPU
_ROUND_ATTEMPTS = 3  # BTRS attempts per pending draw and round
_MAX_ATTEMPTS = 600  # a draw still pending after 600 attempts (never seen) gives -1
_STREAM_BITS = 20  # counter word: seed_hi + stream * 2**20 + word index (word index < 2**20)
_MAX_STREAMS = 1 << (32 - _STREAM_BITS)


# ----------------------------------------------------------------------------- random bits

_PHILOX_M = np.uint64(0xD256D193)
_PHILOX_W = np.uint32(0x9E3779B9)
_MASK32 = np.uint64(0xFFFFFFFF)


def _philox_lanes(c0, c1, k):
    """Philox-2x32-10 in 64-bit lanes (the 32-bit words zero-extended): each round is one
    32 x 32 -> 64-bit multiply, a shift, a mask and two xors, with no conversions between widths.
    Returns (hi, lo) as uint64 holding 32-bit values."""
    c0, c1, k = (jnp.asarray(x, U32).astype(U64) for x in (c0, c1, k))
    for i in range(10):  # round i's key k + i W (mod 2**32), from k itself
        prod = c0 * _PHILOX_M
        key = (k + np.uint64(i * int(_PHILOX_W))) & _MASK32
        c0, c1 = (prod >> np.uint64(32)) ^ key ^ c1, prod & _MASK32
    return c0, c1


@jax.jit
def philox2x32(c0, c1, k):
    """Philox-2x32-10 block: counters ``(c0, c1)`` and key ``k`` (uint32 arrays) -> (hi, lo)."""
    hi, lo = _philox_lanes(c0, c1, k)
    return hi.astype(U32), lo.astype(U32)


def _word(c0, c1, k):
    """Philox block as one uint64 ``hi * 2**32 + lo``: one array, computed once for all its uses."""
    hi, lo = _philox_lanes(c0, c1, k)
    return (hi << np.uint64(32)) | lo


def _split(word):
    """(hi, lo) uint32 halves of a :func:`_word`."""
    return (word >> np.uint64(32)).astype(U32), word.astype(U32)


def _dense_uniform(hi, lo):
    """Uniform on (0, 1] from 64 bits, with resolution 2**-64 near zero."""
    return hi.astype(F64) * 2.0**-32 + (lo.astype(F64) + 0.5) * 2.0**-64


def _seeds(key):
    """64-bit seed of a key, as uint32[2], from the key's own PRNG."""
    return jax.random.bits(key, (2,), U32)


# ------------------------------------------------------------------------------- inversion

def _inversion(w, n, ps, early=True):
    """Inversion ``X = #{k <= INVERSION_MAX_X : w < P(X > k)}``; -1 when ``X > INVERSION_MAX_X``.

    The survival function follows the pmf recurrence ``f(k) = f(k - 1) (n - k + 1) r / k``
    (``r = p / (1 - p)``), ``_UNROLL`` steps a loop iteration while some ``w < P(X > k)``: it never
    increases (``f(k) >= 0``), so the search stops after the largest ``X`` of the batch, with the
    results of the full search (a lane with ``w >= 1`` takes no part). ``early=False`` writes
    out every step instead, one kernel for a small batch."""
    lq = jnp.log1p(-ps)
    pmf, sf, r = jnp.exp(n * lq), -jnp.expm1(n * lq), ps / (1.0 - ps)

    def body(c):
        k, pmf, sf, cnt = c
        steps = lax.dynamic_slice(jnp.asarray(_STEPS), (k - 1, jnp.int32(0)), (_UNROLL, 2))
        for i in range(_UNROLL):
            pmf = pmf * ((n - steps[i, 0]) * r) * steps[i, 1]
            sf = sf - pmf
            cnt = cnt + (w < sf)
        return k + _UNROLL, pmf, sf, cnt

    c = (jnp.int32(1), pmf, sf, (w < sf).astype(F64))
    if early:
        c = lax.while_loop(lambda c: (c[0] <= INVERSION_MAX_X) & jnp.any(w < c[2]), body, c)
    else:
        for _ in range(INVERSION_MAX_X // _UNROLL):
            c = body(c)
    _, _, sf, cnt = c
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
# Results of the p <= 1/2 problem: X >= 0 once decided, ``-1 - t`` while pending with ``t`` the
# next attempt to make in full, NaN for a draw given up after ``_MAX_ATTEMPTS`` attempts.

def _prepare(n, p):
    """(valid, n, flip, ps): validity, truncated n and the p <= 1/2 problem of each draw."""
    valid = jnp.isfinite(n) & (n >= 0) & (p >= 0) & (p <= 1)
    n = jnp.where(valid, jnp.floor(n), 0.0)
    p = jnp.where(valid, p, 0.0)
    flip = p > 0.5
    return valid, n, flip, jnp.where(flip, 1.0 - p, p)


def _attempts(s0, s1, e, t, n, ps):
    """Attempts of pending draws (p <= 1/2) from attempt ``t`` (uint32): X, or ``-1 - t'`` with
    ``t'`` the next attempt. Inversion draws make attempt ``t`` in full (accepted unless
    ``X > INVERSION_MAX_X``); BTRS draws make ``_ROUND_ATTEMPTS`` attempts (Stirling's form where
    ``n`` is beyond the ``log j!`` table)."""
    mean = n * ps
    inv = (mean > 0) & (mean < INVERSION_MAX_MEAN)
    bt = mean >= INVERSION_MAX_MEAN
    tf = t.astype(F64)
    x = _inversion(jnp.where(inv, _dense_uniform(*philox2x32(e, s1 + 2 * t, s0)), 2.0), n, ps,
                   early=False)
    x_inv = jnp.where(x >= 0, x, -2.0 - tf)

    def btrs(n, ps):
        c = _Btrs(n, ps, True)
        x = -1.0 - _ROUND_ATTEMPTS - tf
        for j in reversed(range(_ROUND_ATTEMPTS)):
            k, g, v24 = c.candidate(*philox2x32(e, s1 + 2 * (t + j), s0))
            ev = _dense_uniform(*philox2x32(e, s1 + 2 * (t + j) + 1, s0))
            x = jnp.where((v24 + ev) * 2.0**-24 <= g, k, x)
        return x

    x_bt = lax.cond(jnp.any(bt), btrs, lambda n, ps: jnp.zeros(n.shape, F64), n, ps)
    return jnp.where(inv, x_inv, jnp.where(bt, x_bt, 0.0))


def _bounded(w, n, ps):
    """Inversion draws that Bonferroni bounds decide: ``X = k`` (``k < _BOUNDED``) where
    ``U_{k+1} <= w < L_k``, else -1.

    With ``S_j = C(n, j) p^j`` (``E C(X, j)``), the truncations of
    ``P(X >= m) = sum_{j >= m} (-1)^(j - m) C(j - 1, m - 1) S_j`` bound it (Bonferroni):
    ``L_m = S_m - m S_(m+1) <= P(X >= m) <= L_m + C(m + 1, 2) S_(m+2) = U_m`` (``L_0 = 1``);
    inversion gives ``X = k`` exactly where ``P(X >= k + 1) <= w < P(X >= k)`` (W. Feller, *An
    Introduction to Probability Theory and Its Applications* I, 3rd ed., IV.5). Polynomial work
    that leaves open a fraction of order ``mean**_BOUNDED`` of the draws."""
    s = [jnp.ones_like(n)]
    for j in range(1, _BOUNDED + 3):
        s.append(s[-1] * ((n - (j - 1)) * ps) * (1.0 / j))
    x, lower = jnp.full(w.shape, -1.0), None
    for k in range(_BOUNDED):
        m = k + 1
        upper = s[m] - m * s[m + 1] + (m * (m + 1) // 2) * s[m + 2]
        hit = w >= upper if lower is None else (w >= upper) & (w < lower)
        x = jnp.where(hit, float(k), x)
        lower = s[m] - m * s[m + 1]
    return x


def _first(s0, s1, e, n, ps):
    """Attempt 0 of every draw of a tile, where it is cheap: results.

    An inversion draw is decided by bounds on its survival function where they suffice
    (:func:`_bounded`); when more than ``1/_DENSE_FRACTION`` of the tile's draws are not, the
    tile's inversion draws are searched in full.
    BTRS draws (with ``n`` in the ``log j!`` table) get ``_FAST_BTRS`` candidates, decided by the
    first 24 bits of ``v`` where these suffice.
    Everything else is left pending.
    """
    mean = n * ps
    inv = (mean > 0) & (mean < INVERSION_MAX_MEAN)
    bt = (mean >= INVERSION_MAX_MEAN) & (n <= LOGFACT_TABLE_N)
    word = _word(e, s1, s0)
    w = _dense_uniform(*_split(word))
    bounded = _bounded(w, n, ps)
    maybe = inv & (bounded < 0)

    def search(n, ps):
        x = _inversion(jnp.where(inv, w, 2.0), n, ps)
        return jnp.where(x >= 0, x, -2.0)

    def btrs(n, ps):
        c = _Btrs(n, ps, False)
        out = jnp.full(n.shape, -1.0 - _FAST_BTRS)
        for j in reversed(range(_FAST_BTRS)):
            k, g, v24 = c.candidate(*(_split(word) if j == 0 else philox2x32(e, s1 + np.uint32(2 * j), s0)))
            acc = (v24 + 1.0) * 2.0**-24 <= g
            rej = v24 * 2.0**-24 > g
            out = jnp.where(rej, out, jnp.where(acc, k, -1.0 - j))
        return out

    open_inv, any_bt = jnp.sum(jnp.stack([maybe, bt]), axis=1, dtype=I32)  # one reduction
    x_inv = lax.cond(open_inv * _DENSE_FRACTION > n.shape[0], search, lambda n, ps: bounded, n, ps)
    x_bt = lax.cond(any_bt > 0, btrs, lambda n, ps: jnp.full(n.shape, -1.0), n, ps)
    return jnp.where(inv, x_inv, jnp.where(bt, x_bt, jnp.where(mean > 0, -1.0, 0.0)))


def _compact(mask, size):
    """Indices of the first ``size`` set lanes of ``mask``, then ``len(mask)`` as filler.

    The mask is bit-packed in 64-bit words; a slot finds its word by searching the words'
    prefix counts, and its bit by halving the word with population counts.
    """
    lanes = mask.shape[0]
    rows = -(-lanes // 64)
    bits = jnp.pad(mask, (0, rows * 64 - lanes)).reshape(rows, 64).astype(U64)
    words = jnp.sum(bits << jnp.arange(64, dtype=U64), axis=1, dtype=U64)
    counts = lax.population_count(words).astype(I32)
    offs = jnp.cumsum(counts, dtype=I32) - counts
    slots = jnp.arange(size, dtype=I32)
    method = "compare_all" if rows * size <= 2**16 else "scan"
    row = jnp.searchsorted(offs, slots, side="right", method=method).astype(I32) - 1
    w = words[row]
    j = (slots - offs[row]).astype(U64)
    pos = jnp.zeros(size, U64)
    for width in (32, 16, 8, 4, 2, 1):  # position of the j-th set bit of w
        cnt = lax.population_count((w >> pos) & np.uint64((1 << width) - 1))
        move = j >= cnt
        pos = jnp.where(move, pos + np.uint64(width), pos)
        j = jnp.where(move, j - cnt, j)
    return jnp.where(slots < jnp.sum(counts), row * 64 + pos.astype(I32), lanes)


def _complete(s0, s1, e, n, ps, x):
    """Pending draws of a tile, ``1/_SPARSE_FRACTION`` of it at a time: each round gathers the
    first pending draws and makes their next attempts, until none is pending (a draw still
    pending after ``_MAX_ATTEMPTS`` attempts, never seen, is given up as NaN)."""
    lanes = x.shape[0]
    size = max(lanes // _SPARSE_FRACTION, 1)

    def batch(x):
        idx = _compact(x < 0, size)
        at = jnp.minimum(idx, lanes - 1)
        t = (-1.0 - x[at]).astype(U32)
        y = _attempts(s0[at], s1[at], e[at], t, n[at], ps[at])
        y = jnp.where(y <= -1.0 - _MAX_ATTEMPTS, jnp.nan, y)
        return x.at[jnp.where(idx < lanes, idx, lanes)].set(y, mode="drop")

    return lax.while_loop(lambda x: jnp.any(x < 0), batch, x)


@jax.jit
def _tile(s0, s1, e, n, p):
    """Binomial draws of one tile (floats; -1 for invalid input or a draw given up). Jitted:
    traced once per tile size, whatever the batch."""
    valid, n, flip, ps = _prepare(n, p)
    x = _complete(s0, s1, e, n, ps, _first(s0, s1, e, n, ps))
    return jnp.where(valid & (x >= 0), jnp.where(flip, n - x, x), -1.0)


# ------------------------------------------------------------------------------------ core

def _mesh_named():
    """The current abstract mesh set explicitly: JAX caches a jitted function's trace per context,
    and a ``custom_vmap``'s plain call and its batching rule trace in contexts that differ only by
    an unset versus an empty mesh, so the tile would be traced and lowered twice."""
    use, get = (getattr(jax.sharding, f, None) for f in ("use_abstract_mesh", "get_abstract_mesh"))
    return use(get()) if use and get else contextlib.nullcontext()


@jax.jit
def _sample_flat(s0, s1, e, n, p):
    """Binomial draws of flat arrays: draw i from words of counter (e[i], s1[i] + j), key s0[i].

    Tile by tile (``_TILE`` draws by platform; the work of each regime only where a tile has
    draws of it). Jitted so that eager callers share one compiled program per size, whatever the
    batching; inside an outer jit it is inlined.
    """
    size = n.shape[0]
    if size >= 2**31:
        raise ValueError("at most 2**31 - 1 draws per call")
    tile = _TILE.get(jax.default_backend(), _TILE_DEFAULT)
    if tile > _TILE_MIN:  # small batches in smaller tiles (CPU tiles are small already)
        tile = min(tile, max(_TILE_MIN, 1 << max(size - 1, 1).bit_length()))
    padded = -(-size // tile) * tile
    args = [jnp.pad(x, (0, padded - size)) for x in (s0, s1, e, n, p)]
    with _mesh_named():
        if padded == tile:
            out = _tile(*args)
        else:
            out = lax.map(lambda a: _tile(*a), [x.reshape(-1, tile) for x in args]).reshape(-1)
    return out[:size].astype(I64)


@custom_vmap
def _core(seeds, n, p):
    """``(seeds[R, 2], n[R, M], p[R, M]) -> int64[R, M]``, row r keyed by ``seeds[r]``; its
    vmap flattens the batch into more rows."""
    rows, per_row = n.shape
    if per_row >= 2**32:
        raise ValueError("at most 2**32 - 1 draws per key")
    # Runs along the longer axis: with many rows, draw j of every row side by side (rows of
    # a batch tend to share a regime, so tiles do); else row by row.
    across = rows > per_row
    flat = [jnp.broadcast_to(x, n.shape) for x in
            (seeds[:, 0:1], seeds[:, 1:2], jnp.arange(per_row, dtype=U32), n, p)]
    out = _sample_flat(*[(x.T if across else x).reshape(-1) for x in flat])
    return out.reshape(per_row, rows).T if across else out.reshape(rows, per_row)


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
      ``n`` or weights, or zero total weight); a draw given up after ``_MAX_ATTEMPTS`` attempts
      (never seen) makes its count and the row's later counts ``-1``.
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
        # a draw given up (-1, never seen) leaves NaN trials: the row's later counts are -1
        return rem - jnp.where(xj < 0, jnp.nan, xj), jnp.where(bad, -1, xj)

    rem, counts = lax.scan(step, n, (jnp.moveaxis(cond[..., :-1], -1, 0),
                                     jnp.arange(ncat - 1, dtype=jnp.int32)))
    last = jnp.where(bad | jnp.isnan(rem), -1, rem.astype(I64))
    return jnp.concatenate([jnp.moveaxis(counts, 0, -1), last[..., None]], axis=-1)
