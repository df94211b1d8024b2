"""Random draws from raw random words: integer thresholds instead of floating-point uniforms.

Event-level sampling spends most of its time making random bits, so each pulse takes as few
32-bit words from ``jax.random.bits`` as exactness allows, and every draw is a comparison of a
word (or a bit field of one) with an integer threshold computed once from a float64
probability. With a field F uniform on {0, ..., 2^w - 1} and T = floor(p 2^w),
  P(F < T) = T / 2^w,   p - 2^-w < T / 2^w <= p,
so a 64-bit field resolves click probabilities of 1e-10 (long fibres) or 1e-7 (dark counts) to a
relative 2^-64 / p, while a 32-bit one (2^-32 ~ 2.3e-10 absolute) is for probabilities that are
not tiny: settings, bases, intensity classes, phases. Separate bit fields of one word are
independent (the bits of a uniform word are i.i.d.), so a double-click coin can be bit 0 of a
detector's word while its click compares the other 63 bits.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

_MAX64 = 2**64 - 1


def draw(key, n: int, narrow: int = 0, wide: int = 0):
    """(``narrow`` 32-bit words [narrow, n], ``wide`` 64-bit words [wide, n]), both uint64: narrow +
    2 wide 32-bit words per pulse. The 64-bit words, and the 32-bit words in pairs (the halves of
    a 64-bit word), come from ``jax.random.bits`` with uint64 words, an odd 32-bit word from one
    with uint32 words, each call on its own key of ``key`` split in three: threefry2x32 makes 64
    bits per hash and keeps only 32 of them for a uint32 word, so 64-bit words halve its work."""
    k_wide, k_pairs, k_odd = jax.random.split(key, 3)
    wide_words = jax.random.bits(k_wide, (wide, n), jnp.uint64)
    pairs, odd = divmod(narrow, 2)
    halves = jax.random.bits(k_pairs, (pairs, n), jnp.uint64)
    narrow_words = [halves >> jnp.uint64(32), halves & jnp.uint64(0xFFFFFFFF)]
    if odd:
        narrow_words.append(jax.random.bits(k_odd, (1, n), jnp.uint32).astype(jnp.uint64))
    return jnp.concatenate(narrow_words, 0), wide_words


def field(word, shift: int, width: int):
    """Bits ``shift .. shift + width - 1`` of ``word`` as an integer uniform on {0, ..., 2^width - 1}."""
    word = jnp.asarray(word, jnp.uint64) >> jnp.uint64(shift)
    return word if shift + width >= 64 else word & jnp.uint64((1 << width) - 1)


def threshold(p, width: int = 64):
    """T = floor(p 2^width) as uint64 (p clipped to [0, 1]; at width 64, p = 1 gives 2^64 - 1).

    Exact: p 2^(width - 32) = hi + f splits into its integer part hi and fraction f without
    rounding, and T = hi 2^32 + floor(f 2^32), so that a field of ``width`` bits is below T with
    probability T / 2^width in (p - 2^-width, p]."""
    p = jnp.clip(jnp.asarray(p, jnp.float64), 0.0, 1.0)
    if width <= 32:
        return jnp.floor(p * 2.0**width).astype(jnp.uint64)
    x = p * 2.0 ** (width - 32)
    hi = jnp.floor(x)
    lo = jnp.floor((x - hi) * 2.0**32)
    t = (hi.astype(jnp.uint64) << jnp.uint64(32)) | lo.astype(jnp.uint64)
    return jnp.where(p >= 1.0, jnp.asarray(_MAX64, jnp.uint64), t) if width == 64 else t


def bernoulli(x, thresh):
    """True with probability T / 2^w for a field ``x`` of w bits and T = :func:`threshold` (p, w):
    within 2^-w below p."""
    return x < thresh


def categorical(x, probs, width: int):
    """Index i with probability (C_{i+1} - C_i) / 2^width, C_i = floor(c_i 2^width) the thresholds
    of the normalised cumulative probabilities c_i = (p_0 + ... + p_{i-1}) / sum(p) (C_0 = 0,
    C_K = 2^width): inversion of the cumulative distribution, each cell within 2^-width of p_i,
    cells of probability 0 never drawn. ``x`` [...] uniform on ``width`` bits, ``probs`` [K]
    or [..., K]; int32 [...]."""
    probs = jnp.asarray(probs, jnp.float64)
    cum = jnp.cumsum(probs, -1)
    c = threshold(cum[..., :-1] / cum[..., -1:], width)
    return _count(x, lambda i: x >= c[..., i], c.shape[-1])


def by_class(values, k):
    """``values[k]`` for a few classes ``values`` [K] and class indices ``k`` [...], as a chain of
    selects: each class's value is then loop-invariant in the per-pulse kernel and computed once,
    where a gather would make XLA compute the indexed value (a threshold's logarithms, floors and
    conversions) again for every pulse."""
    out = jnp.broadcast_to(values[0], jnp.shape(k))
    for i in range(1, values.shape[0]):
        out = jnp.where(k == i, values[i], out)
    return out


def inverse_survival(word, tail):
    """Number of k = 1..K with ``word`` < floor(S_k 2^64), for the survival function
    S_k = P(X >= k) [..., K] of a count X (non-increasing in k): X from one 64-bit word by
    inversion, P(X >= k) within 2^-64 of S_k (X capped at K)."""
    t = threshold(tail, 64)
    return _count(word, lambda i: word < t[..., i], t.shape[-1])


def _count(x, test, k: int):
    """Number of i < k for which ``test(i)`` holds, elementwise over ``x`` (one fused pass per
    threshold: faster than a reduction over a trailing axis of thresholds)."""
    total = jnp.zeros(jnp.shape(x), jnp.int32)
    for i in range(k):
        total = total + test(i).astype(jnp.int32)
    return total


def unit_open(word, width: int = 64):
    """U = (word + 1/2) / 2^width in (0, 1) as float64 (rounded to 53 bits: relative error 2^-53):
    a word of ``width`` bits as a uniform for an inversion by a closed form (e.g. a logarithm)."""
    return (jnp.asarray(word).astype(jnp.float64) + 0.5) * 2.0**-width
