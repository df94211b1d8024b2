"""Allan-family deviations with equivalent-degrees-of-freedom confidence intervals.

``adev, oadev, mdev, hdev, tdev`` follow ``allantools`` (same names, arguments, tau selection and
results ``(taus_used, dev, dev_err, n)``) and the estimators of Riley, *Handbook of Frequency Stability
Analysis*, NIST SP 1065 (2008), with ``x`` the phase (time) data, ``tau = m tau0`` and ``N`` phase points:

    AVAR  (non-overlapping, eq. 7)   1/(2 tau^2 n) sum_(i = 0, m, 2m, ..) (x_(i+2m) - 2 x_(i+m) + x_i)^2
    OAVAR (overlapping, eq. 11)      same sum over every i,  n = N - 2m
    MVAR  (eq. 14)                   1/(2 m^2 tau^2 n) sum_j [sum_(i=j)^(j+m-1) (x_(i+2m) - 2x_(i+m) + x_i)]^2,
                                     n = N - 3m + 1
    TVAR  (eq. 15)                   tau^2 MVAR / 3
    HVAR  (non-overlapping, eq. 18)  1/(6 tau^2 n) sum_(i = 0, m, ..) (x_(i+3m) - 3x_(i+2m) + 3x_(i+m) - x_i)^2

Differences from ``allantools``: the default ``data_type`` is ``"freq"`` (fractional frequency, what
the sensors here produce); data may carry leading batch axes (independent realisations) and are
reduced along the last axis; NaNs are not trimmed; an explicit tau that the record cannot support
raises ``ValueError`` instead of being dropped silently. There is no Python loop over samples. Up to
:data:`UNROLL_MAX` averaging times (octave, decade or an explicit list) are computed for one statistic
at a time: adev and hdev on the decimated record ``x[::m]`` (``O(N/m)`` per tau, as allantools), mdev
and tdev at octave factors from the phase increments smoothed by triangles that double in width, one
blocked pass per octave with no running sum of the record (so no rounding that grows with its length),
oadev in one pass over the record for all its taus
(blocks of start points, the shifted windows shared between taus), mdev at other factors with one
``lax.map`` step per tau over shifted copies of the record. Longer lists (``taus="all"``) use that ``lax.map`` form
with the estimator chosen by ``lax.switch``, sharing one compilation across the five statistics per
(data shape, data type, bucket 16 * 8^k of the number of taus).

Confidence intervals use Greenhall's equivalent degrees of freedom (Greenhall & Riley, PTTI 2003,
"Uncertainty of stability variances based on finite differences"; NIST SP 1065, as
``allantools.ci.edf_greenhall``) and the chi-squared interval ``edf s^2 / chi2_(p)`` (SP 1065 eq. 45).
"""
from __future__ import annotations

import math
from functools import partial
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.scipy.special import gammainc, gammaln, ndtri

from kqjax.sensors.noise import ALPHAS, avar, check_alpha, dominant_alpha, power_law_noise

ArrayLike = jax.typing.ArrayLike

ONE_SIGMA = math.erf(1.0 / math.sqrt(2.0))  # 0.682689492137...

#: statistic -> (difference order d, overlapping, modified), for Greenhall's EDF
STATISTICS: dict[str, tuple[int, bool, bool]] = {
    "adev": (2, False, False), "oadev": (2, True, False), "mdev": (2, True, True),
    "tdev": (2, True, True), "hdev": (3, False, False)}


# --- data and tau handling -----------------------------------------------------------------------------

def frequency2phase(y: ArrayLike, rate: ArrayLike = 1.0) -> jax.Array:
    """Phase (time) data from fractional frequency, as ``allantools.frequency2phase``.

    ``x_0 = 0, x_k = tau0 sum_(i<k) (y_i - mean(y))``; the mean is removed along the last axis. Returns
    ``N + 1`` points for ``N`` frequency samples.
    """
    y = jnp.asarray(y, dtype=jnp.float64)
    y = y - jnp.mean(y, axis=-1, keepdims=True)
    x = jnp.cumsum(y, axis=-1) * (1.0 / jnp.asarray(rate, dtype=jnp.float64))
    return jnp.concatenate([jnp.zeros(y.shape[:-1] + (1,), dtype=jnp.float64), x], axis=-1)


def _count(statistic: str, m: np.ndarray, n_phase: int) -> np.ndarray:
    """Number of terms ``n`` of each estimator at averaging factor ``m`` (allantools conventions)."""
    m = np.asarray(m, dtype=np.int64)
    if statistic == "adev":
        return np.maximum(0, -(-(n_phase - 2 * m) // m))
    if statistic == "oadev":
        return np.maximum(0, n_phase - 2 * m)
    if statistic == "hdev":
        return np.maximum(0, -(-(n_phase - 3 * m) // m))
    return np.maximum(0, n_phase - 3 * m) + 1  # mdev, tdev


def _concrete_rate(rate: Any) -> float | None:
    if isinstance(rate, jax.core.Tracer):
        return None
    r = float(np.asarray(rate))
    if not (math.isfinite(r) and r > 0):
        raise ValueError(f"rate = {rate!r} is not allowed: must be a finite sample rate > 0 Hz")
    return r


def averaging_factors(statistic: str, n_phase: int, rate: Any = 1.0,
                      taus: str | Sequence[float] | np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Averaging factors ``m`` (tau = m/rate) and term counts ``n`` for ``n_phase`` phase points.

    ``taus`` is ``None``/``"octave"`` (m = 1, 2, 4, .., 2^floor(log2 N)), ``"decade"`` (1, 2, 4, 10, 20,
    40, ..), ``"all"`` (1 .. N) or an array of tau in seconds (rounded to the nearest multiple of
    1/rate, sorted, duplicates removed, as ``allantools.tau_generator``). Keyword lists keep only the
    factors with more than one term (``allantools.remove_small_ns``). An explicit tau shorter than half a
    sample, or too long for at least two terms of the estimator, raises ``ValueError``. Static (NumPy).
    """
    if statistic not in STATISTICS:
        raise ValueError(f"statistic = {statistic!r} is not allowed: must be one of {', '.join(STATISTICS)}")
    if taus is None or (isinstance(taus, (list, tuple)) and len(taus) == 0):
        taus = "octave"
    if isinstance(taus, str):
        if taus == "all":
            m = np.arange(1, n_phase + 1)
        elif taus == "octave":
            m = 2 ** np.arange(int(np.floor(np.log2(n_phase))) + 1)
        elif taus == "decade":
            m = np.array([c * 10 ** k for k in range(int(np.floor(np.log10(n_phase))) + 1) for c in (1, 2, 4)])
        else:
            raise ValueError(f"taus = {taus!r} is not allowed: must be 'octave', 'decade', 'all', None "
                             "or an array of averaging times in seconds")
        m = np.unique(m[(m > 0) & (m < n_phase)]).astype(np.int64)
        n = _count(statistic, m, n_phase)
        keep = n > 1
        if not np.any(keep):
            raise ValueError(f"{statistic}: {n_phase} phase points are too few for any averaging time")
        return m[keep], n[keep]
    r = _concrete_rate(rate)
    if r is None:
        raise ValueError("an explicit tau array needs a concrete rate (not a traced value) to fix the "
                         "averaging factors; pass rate as a Python float")
    tau = np.asarray(taus, dtype=np.float64).ravel()
    if tau.size == 0 or not np.all(np.isfinite(tau)):
        raise ValueError(f"taus = {taus!r} is not allowed: must be finite averaging times in seconds")
    m = np.round(tau * r)
    n_all = _count(statistic, np.arange(1, n_phase + 1), n_phase)
    usable = np.nonzero(n_all > 1)[0]
    m_max = int(usable[-1]) + 1 if usable.size else 0
    bad_short = tau[m < 1]
    if bad_short.size:
        raise ValueError(f"tau = {bad_short[0]:g} s is shorter than half the sample interval "
                         f"1/rate = {1.0 / r:g} s")
    bad_long = tau[m > m_max]
    if bad_long.size:
        raise ValueError(
            f"tau = {bad_long[0]:g} s is beyond the record: {statistic} of {n_phase} phase points at "
            f"{r:g} Hz needs tau <= {m_max / r:g} s (at least two terms)")
    m = np.unique(m).astype(np.int64)
    return m, _count(statistic, m, n_phase)


# --- the estimators ------------------------------------------------------------------------------------

def _sum_squares(x: jax.Array, ms: jax.Array, which: jax.Array) -> jax.Array:
    """Sum of squared differences of estimator ``which`` (0 adev, 1 oadev, 2 hdev, 3 mdev/tdev) for every
    averaging factor in ``ms``.

    ``x`` (..., N) phase data; returns (..., len(ms)). ``N + 2`` zeros are appended so that every shifted
    copy (at most 3 m <= N + 2 for a usable m) is a ``dynamic_slice``; invalid positions are masked out.
    ``which`` is a Python int (that estimator alone is compiled) or traced (chosen with ``lax.switch``,
    so that all of them share one compilation).
    """
    n_phase = x.shape[-1]
    pad = n_phase + 2
    xpad = jnp.concatenate([x, jnp.zeros(x.shape[:-1] + (pad,), x.dtype)], axis=-1)
    i = jnp.arange(n_phase)

    def shifted(arr, shift):
        return lax.dynamic_slice_in_dim(arr, shift, n_phase, axis=-1)

    def masked_sum(v, valid):
        return jnp.sum(jnp.where(valid, v * v, 0.0), axis=-1)

    def adev_(m):  # SP 1065 eq. (7): stride m
        v = shifted(xpad, 2 * m) - 2 * shifted(xpad, m) + x
        return masked_sum(v, (i + 2 * m < n_phase) & (i % m == 0))

    def oadev_(m):  # eq. (11): stride 1
        v = shifted(xpad, 2 * m) - 2 * shifted(xpad, m) + x
        return masked_sum(v, i + 2 * m < n_phase)

    def hdev_(m):  # eq. (18): third differences, stride m
        v = shifted(xpad, 3 * m) - 3 * shifted(xpad, 2 * m) + 3 * shifted(xpad, m) - x
        return masked_sum(v, (i + 3 * m < n_phase) & (i % m == 0))

    def mdev_(m):  # eq. (14): inner sums of second differences through a running sum
        d2 = jnp.where(i + 2 * m < n_phase, shifted(xpad, 2 * m) - 2 * shifted(xpad, m) + x, 0.0)
        c = jnp.concatenate([jnp.zeros(x.shape[:-1] + (1,), x.dtype), jnp.cumsum(d2, axis=-1),
                             jnp.zeros(x.shape[:-1] + (pad,), x.dtype)], axis=-1)
        return masked_sum(shifted(c, m) - c[..., :n_phase], i + 3 * m <= n_phase)

    branches = (adev_, oadev_, hdev_, mdev_)
    if isinstance(which, int):  # statistic known at trace time: compile that estimator only
        return jnp.moveaxis(lax.map(branches[which], ms), 0, -1)
    return jnp.moveaxis(lax.map(lambda m: lax.switch(which, branches, m), ms), 0, -1)


def _deviation(statistic: str, data: ArrayLike, rate: Any, data_type: str, taus: Any, static: bool = False):
    if data_type not in ("phase", "freq"):
        raise ValueError(f"data_type = {data_type!r} is not allowed: must be 'phase' or 'freq'")
    _concrete_rate(rate)
    data = jnp.asarray(data, dtype=jnp.float64)
    if data.ndim < 1:
        raise ValueError("data must have at least one axis (samples along the last axis)")
    n_phase = data.shape[-1] + (1 if data_type == "freq" else 0)
    m, n = averaging_factors(statistic, n_phase, rate, taus)
    stat = _STAT_INDEX[statistic]
    if len(m) <= UNROLL_MAX:
        rate_ = jnp.asarray(rate, dtype=jnp.float64)
        which = min(stat, 3)
        if which in (0, 1, 2) or (which == 3 and all(v & (v - 1) == 0 for v in m)):  # static factors
            taus_used, dev, err = _deviation_unrolled(data, tuple(int(v) for v in m), jnp.asarray(n), rate_, stat,
                                                      data_type)
        else:  # mdev at other factors: one lax.map step per factor, exactly these factors
            taus_used, dev, err = _deviation_core_static(data, jnp.asarray(m), jnp.asarray(n), rate_, stat, data_type)
        return taus_used, dev, err, jnp.asarray(n)
    # one compilation per (shape, statistic, data type, bucket of the number of taus): the factor list is
    # padded with m = 1, n = 2 to 16 * 8^k entries, and the zero padding of the phase record
    # (n_phase + 2 points, enough for every usable m) does not depend on the taus
    bucket = 16
    while bucket < len(m):
        bucket *= 8
    m_padded = np.concatenate([m, np.ones(bucket - len(m), dtype=np.int64)])
    n_padded = np.concatenate([n, np.full(bucket - len(m), 2, dtype=np.int64)])
    taus_used, dev, err = _deviation_core(data, jnp.asarray(m_padded), jnp.asarray(n_padded),
                                          jnp.asarray(rate, dtype=jnp.float64), stat if static else jnp.asarray(stat),
                                          data_type)
    k = len(m)
    if isinstance(dev, jax.core.Tracer):
        return taus_used[:k], dev[..., :k], err[..., :k], jnp.asarray(n)
    # concrete results: slice on the host (no per-shape compilation of the slice)
    taus_used, dev, err = (np.asarray(a)[..., :k] for a in (taus_used, dev, err))
    return jnp.asarray(taus_used), jnp.asarray(dev), jnp.asarray(err), jnp.asarray(n)


_STAT_INDEX = {"adev": 0, "oadev": 1, "hdev": 2, "mdev": 3, "tdev": 4}

UNROLL_MAX = 64
"""Tau lists up to this length (octave, decade, explicit arrays) are computed for the requested statistic
alone, over exactly these factors (:func:`_sum_squares_unrolled` or :func:`_sum_squares`); longer ones
(``taus="all"``) in the form shared by all statistics (bucketed factor list, traced statistic)."""

_BLOCK = 512  # width of the blocked (vectorised) reductions


def _diff_sumsq(z: jax.Array, coeffs: tuple[float, ...], lag: int, count: int) -> jax.Array:
    """``sum_(i < count) (sum_k c_k z[..., i + k lag])^2`` over the last axis, for static ``lag, count``.

    The terms are formed on windows of a common length ``L`` (a multiple of the block width, ``z``
    zero-padded if it is too short), masked beyond ``count``, and summed first across blocks, then within
    one: the form in which XLA on CPU fuses the windows into one vectorised pass over the data.
    """
    width = min(_BLOCK, count)
    length = -(-count // width) * width
    need = (len(coeffs) - 1) * lag + length
    if z.shape[-1] < need:
        z = jnp.pad(z, [(0, 0)] * (z.ndim - 1) + [(0, need - z.shape[-1])])
    v = sum(c * z[..., k * lag:k * lag + length] for k, c in enumerate(coeffs))
    v = jnp.where(jnp.arange(length) < count, v, 0.0)
    v = v.reshape(v.shape[:-1] + (length // width, width))
    return jnp.sum(jnp.sum(v * v, axis=-2), axis=-1)


def _sum_squares_unrolled(x: jax.Array, ms: tuple[int, ...], which: int) -> jax.Array:
    """:func:`_sum_squares` with every averaging factor ``m`` static, for adev, oadev and hdev (``which``
    0, 1, 2). oadev: :func:`_overlapping_sum_squares`; mdev/tdev at powers of two:
    :func:`_octave_sum_squares`.

    adev, hdev (SP 1065 eqs. 7, 18): differences of the decimated record ``x[::m]``, ``O(N/m)`` work as in
    allantools. ``x`` (..., N) phase data; returns (..., len(ms)).
    """
    if which == 1:
        return _overlapping_sum_squares(x, ms)
    out = []
    for m in ms:
        xs = x[..., ::m]
        coeffs = (1.0, -2.0, 1.0) if which == 0 else (-1.0, 3.0, -3.0, 1.0)
        out.append(_diff_sumsq(xs, coeffs, 1, xs.shape[-1] - len(coeffs) + 1))
    return jnp.stack(out, axis=-1)


_LEVEL_BLOCK = 8192  # points per step of the octave doubling


def _phase_increments(data: jax.Array, rate: jax.Array, data_type: str) -> jax.Array:
    """Phase increments ``dx_i = x_(i+1) - x_i`` with their mean removed, (..., N - 1) for N phase points.

    From frequency data ``dx_i = (y_i - mean(y)) / rate`` (no running sum); from phase data the first
    difference. The Allan-family differences of ``x`` are unchanged by the mean (a phase ramp), which is
    removed only so that the sums below stay small.
    """
    if data_type == "freq":
        return (data - jnp.mean(data, axis=-1, keepdims=True)) * (1.0 / rate)
    dx = data[..., 1:] - data[..., :-1]
    return dx - jnp.mean(dx, axis=-1, keepdims=True)


def _octave_sum_squares(dx: jax.Array, ms: tuple[int, ...]) -> jax.Array:
    """MVAR sums (SP 1065 eq. 14) at power-of-two factors ``ms`` from the phase increments ``dx``.

    The inner sum of ``m`` second differences is ``sum_(i=j)^(j+m-1) (x_(i+2m) - 2 x_(i+m) + x_i)
    = W_m[j+m] - W_m[j]`` with ``W_m[j] = sum_(i=j)^(j+m-1) (x_(i+m) - x_i)``, the increments ``dx``
    smoothed by a triangle of base ``2m - 1``; ``W_1 = dx`` and ``W_2m[j] = W_m[j] + 2 W_m[j+m] + W_m[j+2m]``.
    One pass per octave, in blocks of :data:`_LEVEL_BLOCK` points from one buffer into another (two
    levels per loop step, so that the buffers keep their places), every sum formed from increments: no
    running sum of the record, whose rounding grows with its length. ``dx`` (..., N - 1) for N phase
    points; returns (..., len(ms)).
    """
    n = dx.shape[-1]  # W_m has n - 2m + 2 valid points; MVAR at m has n - 3m + 2 terms
    levels = int(ms[-1]).bit_length()
    width = min(_LEVEL_BLOCK, -(-n // 8) * 8)
    level_m = 2 ** np.arange(levels + levels % 2)
    counts = np.where(np.isin(level_m, ms), n - 3 * level_m + 2, 0)
    spans = np.maximum(np.maximum(n - 4 * level_m + 2, counts), 0)
    spans[levels:] = 0
    steps = jnp.asarray(-(-spans // width), dtype=jnp.int32)
    counts = jnp.asarray(counts, dtype=jnp.int32)
    pad = [(0, 0)] * (dx.ndim - 1) + [(0, width + 8)]
    a = jnp.pad(dx, pad)
    b = jnp.zeros_like(a)
    start = jnp.arange(width, dtype=jnp.int32)
    batch = dx.shape[:-1]

    def level(lvl, src, dst):
        m = jnp.left_shift(jnp.int32(1), lvl)
        count = counts[lvl]

        def step(k, carry):
            dst, acc = carry
            j0 = k * width
            w0, w1, w2 = (lax.dynamic_slice_in_dim(src, j0 + s * m, width, axis=-1) for s in range(3))
            d = w1 - w0
            acc = acc + jnp.where(j0 + start < count, d * d, 0.0)
            return lax.dynamic_update_slice_in_dim(dst, w0 + 2.0 * w1 + w2, j0, axis=-1), acc

        dst, acc = lax.fori_loop(0, steps[lvl], step, (dst, jnp.zeros(batch + (width,), dx.dtype)))
        return dst, jnp.sum(acc, axis=-1)

    def two_levels(k, carry):
        a, b, sums = carry
        b, s0 = level(2 * k, a, b)
        a, s1 = level(2 * k + 1, b, a)
        sums = lax.dynamic_update_slice_in_dim(sums, jnp.stack([s0, s1], axis=-1), 2 * k, axis=-1)
        return a, b, sums

    sums = jnp.zeros(batch + (len(level_m),), dx.dtype)
    _, _, sums = lax.fori_loop(0, len(level_m) // 2, two_levels, (a, b, sums))
    return sums[..., np.asarray([int(m).bit_length() - 1 for m in ms])]


_PASS_BLOCK = 2048  # points per step of the one-pass overlapping estimator


def _overlapping_sum_squares(x: jax.Array, ms: tuple[int, ...]) -> jax.Array:
    """OAVAR sums (SP 1065 eq. 11) of every static factor ``m`` in one pass over the record.

    A loop over blocks of :data:`_PASS_BLOCK` start points reads the windows ``x[i + s]`` at the
    distinct shifts ``s`` in {0, m, 2m} once per block (at octave factors ``2m`` is the next ``m``, so
    the taus share their windows) and adds ``(x[i+2m] - 2 x[i+m] + x[i])^2`` for every ``m`` while the
    windows are in cache, instead of one pass over the record per tau.
    """
    n = x.shape[-1]
    shifts = sorted({0, *ms, *(2 * m for m in ms)})
    where = {s: k for k, s in enumerate(shifts)}
    blocks = -(-n // _PASS_BLOCK)
    pad = blocks * _PASS_BLOCK + shifts[-1] - n
    xpad = jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, pad)])
    start = jnp.arange(_PASS_BLOCK)
    limit = jnp.asarray([n - 2 * m for m in ms])

    def step(b, acc):
        i0 = b * _PASS_BLOCK
        w = [lax.dynamic_slice_in_dim(xpad, i0 + s, _PASS_BLOCK, axis=-1) for s in shifts]
        out = []
        for k, m in enumerate(ms):
            v = w[where[2 * m]] - 2.0 * w[where[m]] + w[0]
            out.append(jnp.sum(jnp.where(i0 + start < limit[k], v * v, 0.0), axis=-1))
        return acc + jnp.stack(out, axis=-1)

    return lax.fori_loop(0, blocks, step, jnp.zeros(x.shape[:-1] + (len(ms),), x.dtype))


@partial(jax.jit, static_argnames=("ms", "stat", "data_type"))
def _deviation_unrolled(data, ms, n, rate, stat, data_type):
    if stat >= 3:  # mdev, tdev at powers of two
        return _normalise(_octave_sum_squares(_phase_increments(data, rate, data_type), ms), jnp.asarray(ms), n,
                          rate, stat)
    x = frequency2phase(data, rate) if data_type == "freq" else data
    return _normalise(_sum_squares_unrolled(x, ms, stat), jnp.asarray(ms), n, rate, stat)


def _deviation_core(data, m, n, rate, stat, data_type):
    """Deviations for every factor ``m`` (term counts ``n``); ``stat`` indexes ``_STAT_INDEX``.

    A Python-int ``stat`` compiles that statistic alone (used inside the sensor simulations); a traced
    ``stat`` selects it at run time, so that the public functions share one compilation.
    """
    if isinstance(stat, int):
        return _deviation_core_static(data, m, n, rate, stat, data_type)
    return _deviation_core_traced(data, m, n, rate, stat, data_type)


def _normalise(s, m, n, rate, stat):
    """Deviation from the sums of squares (allantools' operation order); ``stat`` int or traced."""
    mf = m.astype(jnp.float64)
    nf = n.astype(jnp.float64)
    taus_used = mf / rate
    forms = (lambda: jnp.sqrt(s / (2.0 * nf)) / mf * rate,  # adev, oadev
             lambda: jnp.sqrt(s / 6.0 / nf) / ((1.0 / rate) * mf),  # hdev
             lambda: jnp.sqrt(s / (2.0 * mf * mf * taus_used * taus_used * nf)),  # mdev
             lambda: taus_used * jnp.sqrt(s / (2.0 * mf * mf * taus_used * taus_used * nf)) / math.sqrt(3.0))  # tdev
    if isinstance(stat, int):
        dev = forms[max(stat - 1, 0)]()
    else:
        dev = jnp.select([stat <= 1, stat == 2, stat == 3], [f() for f in forms[:3]], forms[3]())
    return taus_used, dev, dev / jnp.sqrt(nf)


@partial(jax.jit, static_argnames=("stat", "data_type"))
def _deviation_core_static(data, m, n, rate, stat, data_type):
    x = frequency2phase(data, rate) if data_type == "freq" else data
    return _normalise(_sum_squares(x, m, min(stat, 3)), m, n, rate, stat)


@partial(jax.jit, static_argnames=("data_type",))
def _deviation_core_traced(data, m, n, rate, stat, data_type):
    x = frequency2phase(data, rate) if data_type == "freq" else data
    return _normalise(_sum_squares(x, m, jnp.minimum(stat, 3)), m, n, rate, stat)


def adev(data: ArrayLike, rate: Any = 1.0, data_type: str = "freq", taus: Any = None):
    """Allan deviation (non-overlapping), NIST SP 1065 eq. (7).

    Returns ``(taus_used [s], dev, dev_err = dev/sqrt(n), n)``; ``dev`` has the leading axes of ``data``.
    """
    return _deviation("adev", data, rate, data_type, taus)


def oadev(data: ArrayLike, rate: Any = 1.0, data_type: str = "freq", taus: Any = None):
    """Overlapping Allan deviation, NIST SP 1065 eq. (11). Returns ``(taus_used, dev, dev_err, n)``."""
    return _deviation("oadev", data, rate, data_type, taus)


def mdev(data: ArrayLike, rate: Any = 1.0, data_type: str = "freq", taus: Any = None):
    """Modified Allan deviation, NIST SP 1065 eq. (14). Returns ``(taus_used, dev, dev_err, n)``."""
    return _deviation("mdev", data, rate, data_type, taus)


def tdev(data: ArrayLike, rate: Any = 1.0, data_type: str = "freq", taus: Any = None):
    """Time deviation ``tau mdev / sqrt(3)`` [s], NIST SP 1065 eq. (15). Returns ``(taus_used, dev, dev_err, n)``."""
    return _deviation("tdev", data, rate, data_type, taus)


def hdev(data: ArrayLike, rate: Any = 1.0, data_type: str = "freq", taus: Any = None):
    """Hadamard deviation (non-overlapping), NIST SP 1065 eq. (18). Returns ``(taus_used, dev, dev_err, n)``."""
    return _deviation("hdev", data, rate, data_type, taus)


DEVIATIONS = {"adev": adev, "oadev": oadev, "mdev": mdev, "tdev": tdev, "hdev": hdev}


# --- equivalent degrees of freedom (Greenhall & Riley 2003) ---------------------------------------------

def _sw(t: np.ndarray, alpha: int) -> np.ndarray:
    """Greenhall eq. (7)."""
    t = np.asarray(t, dtype=np.float64)
    at = np.abs(t)
    with np.errstate(divide="ignore", invalid="ignore"):
        logt = np.where(at > 0, np.log(np.where(at > 0, at, 1.0)), 0.0)
    table = {2: -at, 1: t ** 2 * logt, 0: at ** 3, -1: t ** 4 * logt, -2: at ** 5, -3: t ** 6 * logt,
             -4: at ** 7}
    return table[int(alpha)]


def _sx(t: np.ndarray, F: float, alpha: int) -> np.ndarray:
    """Greenhall eq. (8)."""
    if F == math.inf:
        return _sw(t, alpha + 2)
    return F ** 2 * (2 * _sw(t, alpha) - _sw(t - 1.0 / F, alpha) - _sw(t + 1.0 / F, alpha))


_SZ = {1: (2, -1), 2: (6, -4, 1), 3: (20, -15, 6, -1)}


def _sz(t: np.ndarray, F: float, alpha: int, d: int) -> np.ndarray:
    """Greenhall eq. (9): d-th order difference of ``sx`` (binomial weights)."""
    w = _SZ[d]
    out = w[0] * _sx(t, F, alpha)
    for k in range(1, d + 1):
        out = out + w[k] * (_sx(t - k, F, alpha) + _sx(t + k, F, alpha))
    return out


def _basic_sum(J: float, M: float, S: float, F: float, alpha: int, d: int) -> float:
    """Greenhall eq. (10)."""
    j = np.arange(1, int(J))
    first = _sz(np.array(0.0), F, alpha, d) ** 2
    second = (1 - J / M) * _sz(np.array(J / S), F, alpha, d) ** 2
    third = np.sum(2 * (1.0 - j / M) * _sz(j / S, F, alpha, d) ** 2)
    return float(first + second + third)


_TABLE1 = {2: [(2 / 3, 1 / 3), (7 / 9, 1 / 2), (22 / 25, 2 / 3)],
           1: [(0.840, 0.345), (0.997, 0.616), (1.141, 0.843)],
           0: [(1.079, 0.368), (1.033, 0.607), (1.184, 0.848)],
           -1: [(-1, -1), (1.048, 0.534), (1.180, 0.816)],
           -2: [(-1, -1), (1.302, 0.535), (1.175, 0.777)],
           -3: [(-1, -1), (-1, -1), (1.194, 0.703)],
           -4: [(-1, -1), (-1, -1), (1.489, 0.702)]}
_TABLE2 = {2: [(3 / 2, 1 / 2), (35 / 18, 1.0), (231 / 100, 3 / 2)],
           1: [(78.6, 25.2), (790.0, 410.0), (9950.0, 6520.0)],
           0: [(2 / 3, 1 / 6), (2 / 3, 1 / 3), (7 / 9, 1 / 2)],
           -1: [(-1, -1), (0.852, 0.375), (0.997, 0.617)],
           -2: [(-1, -1), (1.079, 0.368), (1.033, 0.607)],
           -3: [(-1, -1), (-1, -1), (1.053, 0.553)],
           -4: [(-1, -1), (-1, -1), (1.302, 0.535)]}
_TABLE3 = [(6.0, 4.0), (15.23, 12.0), (47.8, 40.0)]


def edf_greenhall(alpha: int, d: int, m: int, N: int, overlapping: bool = False,
                  modified: bool = False) -> float:
    """Equivalent degrees of freedom of a finite-difference variance (Greenhall & Riley 2003).

    Args: noise exponent ``alpha`` (+2 .. -4, with ``alpha + 2d > 1``), difference order ``d`` (2 Allan,
    3 Hadamard), averaging factor ``m``, number of phase points ``N``, ``overlapping`` (oadev, mdev) and
    ``modified`` (mdev, tdev). Follows ``allantools.ci.edf_greenhall`` case by case; where allantools
    has no formula (unmodified white PM with ``ceil(M/S) <= d``) the exact sum of Greenhall's
    eq. (13) is used. Static (Python floats).
    """
    alpha, d, m, N = int(alpha), int(d), int(m), int(N)
    if alpha + 2 * d <= 1:
        raise ValueError(f"edf_greenhall needs alpha + 2 d > 1, got alpha = {alpha}, d = {d}")
    F = 1 if modified else m
    S = m if overlapping else 1
    L = m / F + m * d
    M = 1 + math.floor(S * (N - L) / m)
    if M < 1:
        raise ValueError(f"edf_greenhall: m = {m} is too large for N = {N} phase points")
    J = min(M, (d + 1) * S)
    J_max = 100
    r = M / S

    def exact(F_):  # Greenhall eq. (13)
        return 1.0 / (_basic_sum(J, M, S, F_, alpha, d) / (_sz(np.array(0.0), F_, alpha, d) ** 2 * M))

    if F == 1 and modified:
        if J <= J_max:
            return exact(1)
        if r > d + 1:
            a0, a1 = _TABLE1[alpha][d - 1]
            return 1.0 / ((1.0 / r) * (a0 - a1 / r))
        m_prime = J_max / r
        inv = _basic_sum(J_max, J_max, m_prime, 1, alpha, d) / (_sz(np.array(0.0), F, alpha, d) ** 2 * J_max)
        return 1.0 / inv
    if F == m and alpha <= 0 and not modified:
        if J <= J_max:
            m_prime = m if m * (d + 1) <= J_max else math.inf
            inv = _basic_sum(J, M, S, m_prime, alpha, d) / (_sz(np.array(0.0), m_prime, alpha, d) ** 2 * M)
            return 1.0 / inv
        if r > d + 1:
            a0, a1 = _TABLE2[alpha][d - 1]
            return 1.0 / ((1.0 / r) * (a0 - a1 / r))
        m_prime = J_max / r
        inv = (_basic_sum(J_max, J_max, m_prime, math.inf, alpha, d)
               / (_sz(np.array(0.0), math.inf, alpha, d) ** 2 * J_max))
        return 1.0 / inv
    if F == m and alpha == 1 and not modified:
        if J <= J_max:
            inv = _basic_sum(J, M, S, m, 1, d) / (_sz(np.array(0.0), m, 1, d) ** 2 * M)
            return 1.0 / inv
        b0, b1 = _TABLE3[d - 1]
        if r > d + 1:
            a0, a1 = _TABLE2[alpha][d - 1]
            return 1.0 / ((1.0 / ((b0 + b1 * math.log(m)) ** 2 * r)) * (a0 - a1 / r))
        m_prime = J_max / r
        inv = _basic_sum(J_max, J_max, m_prime, m_prime, 1, d) / ((b0 + b1 * math.log(m)) ** 2 * J_max)
        return 1.0 / inv
    if F == m and alpha == 2 and not modified:
        if math.ceil(r) <= d:
            return exact(m)
        a0 = math.comb(4 * d, 2 * d) / math.comb(2 * d, d) ** 2
        a1 = d / 2.0
        return 1.0 / ((1.0 / M) * (a0 - a1 / r))
    raise ValueError(f"edf_greenhall: no case for alpha = {alpha}, d = {d}, modified = {modified}")


def edf(statistic: str, alpha: int, m: int, n_phase: int) -> float:
    """Greenhall EDF of ``statistic`` (adev, oadev, mdev, tdev, hdev) at factor ``m`` for ``n_phase`` points."""
    if statistic not in STATISTICS:
        raise ValueError(f"statistic = {statistic!r} is not allowed: must be one of {', '.join(STATISTICS)}")
    d, overlapping, modified = STATISTICS[statistic]
    return edf_greenhall(check_alpha(alpha), d, m, n_phase, overlapping=overlapping, modified=modified)


def edf_table(statistic: str, ms: Sequence[int], n_phase: int) -> np.ndarray:
    """EDF for every alpha in ``ALPHAS`` (rows) and every averaging factor in ``ms`` (columns)."""
    return np.array([[edf(statistic, a, int(m), n_phase) for m in ms] for a in ALPHAS])


# --- chi-squared interval ------------------------------------------------------------------------------

@partial(jax.jit, static_argnames=("iterations",))
def chi2_ppf(p: ArrayLike, df: ArrayLike, iterations: int = 40) -> jax.Array:
    """Quantile of the chi-squared distribution: ``x`` with ``P(df/2, x/2) = p`` (JAX, jit-able).

    Newton iterations on ``log x`` from the Wilson–Hilferty guess (or the small-x series
    ``x = 2 (p Gamma(df/2 + 1))^(2/df)`` where that guess is not positive), steps clipped to one e-fold.
    """
    p = jnp.asarray(p, dtype=jnp.float64)
    df = jnp.asarray(df, dtype=jnp.float64)
    p, df = jnp.broadcast_arrays(p, df)
    a = df / 2.0
    c = 2.0 / (9.0 * df)
    wh = df * (1.0 - c + ndtri(p) * jnp.sqrt(c)) ** 3
    small = 2.0 * jnp.exp((jnp.log(p) + gammaln(a + 1.0)) / a)
    u0 = jnp.log(jnp.where(wh > 0.05 * df, wh, small))

    def step(_, u):
        x = jnp.exp(u)
        f = gammainc(a, x / 2.0) - p
        dfdu = jnp.exp(a * jnp.log(x / 2.0) - x / 2.0 - gammaln(a))
        return u - jnp.clip(f / dfdu, -1.0, 1.0)

    return jnp.exp(lax.fori_loop(0, iterations, step, u0))


def confidence_interval(dev: ArrayLike, edf: ArrayLike, ci: float = ONE_SIGMA) -> tuple[jax.Array, jax.Array]:
    """Chi-squared confidence interval ``(dev_lo, dev_hi)`` of a deviation with ``edf`` degrees of freedom.

    NIST SP 1065 eq. (45): ``edf s^2 / chi2(1 - (1-ci)/2, edf) <= sigma^2 <= edf s^2 / chi2((1-ci)/2, edf)``,
    as ``allantools.ci.confidence_interval``; ``ci = 0.683`` is the one-sigma interval. ``edf`` may be
    traced (then the quantiles come from :func:`chi2_ppf`).
    """
    f_lo, f_hi = _interval_factors(edf, ci)
    dev = jnp.asarray(dev, dtype=jnp.float64)
    return dev * f_lo, dev * f_hi


def _interval_factors(edf: ArrayLike, ci: float) -> tuple[Any, Any]:
    """``sqrt(edf / chi2(ci_h))`` and ``sqrt(edf / chi2(ci_l))``: on the host (SciPy) for a concrete
    ``edf``, with :func:`chi2_ppf` when ``edf`` is traced."""
    ci = float(ci)
    if not 0.0 < ci < 1.0:
        raise ValueError(f"ci = {ci!r} is not allowed: must be a confidence level in (0, 1)")
    ci_l = min(abs(ci), abs(ci - 1.0)) / 2.0
    ci_h = 1.0 - ci_l
    if not isinstance(edf, jax.core.Tracer):
        e = np.asarray(edf, dtype=np.float64)
        if np.any(~(e > 0)):
            raise ValueError(f"edf = {edf!r} is not allowed: degrees of freedom must be > 0")
        try:  # SciPy ships with JAX; fall back to the JAX solver if it is absent
            from scipy.special import gammaincinv
        except ImportError:  # pragma: no cover
            gammaincinv = None
        if gammaincinv is not None:
            return (jnp.asarray(np.sqrt(e / (2.0 * gammaincinv(e / 2.0, ci_h)))),
                    jnp.asarray(np.sqrt(e / (2.0 * gammaincinv(e / 2.0, ci_l)))))
    e = jnp.asarray(edf, dtype=jnp.float64)
    q = chi2_ppf(jnp.asarray([ci_h, ci_l]).reshape((2,) + (1,) * e.ndim), e)
    return jnp.sqrt(e / q[0]), jnp.sqrt(e / q[1])


def stability(data: ArrayLike, rate: Any = 1.0, alpha: ArrayLike = 0, statistic: str = "oadev",
              data_type: str = "freq", taus: Any = "octave", ci: float = ONE_SIGMA) -> dict[str, jax.Array]:
    """A deviation with its Greenhall-EDF confidence interval, for a known noise type.

    ``alpha`` is an int from ``ALPHAS`` or an int array with one entry per tau (possibly traced, e.g.
    :func:`kqjax.sensors.noise.dominant_alpha` of a model). Returns ``tau_s, dev, dev_lo, dev_hi, edf, n``.
    """
    if statistic not in DEVIATIONS:
        raise ValueError(f"statistic = {statistic!r} is not allowed: must be one of {', '.join(DEVIATIONS)}")
    if not isinstance(alpha, jax.core.Tracer):
        for a in np.atleast_1d(np.asarray(alpha)).ravel():
            check_alpha(a.item())
    tau, dev, _, n = _deviation(statistic, data, rate, data_type, taus, static=True)
    n_phase = jnp.shape(data)[-1] + (1 if data_type == "freq" else 0)
    m, _ = averaging_factors(statistic, n_phase, rate, taus)
    table = edf_table(statistic, m, n_phase)
    f_lo, f_hi = _interval_factors(table, ci)  # static tables (5, n_tau), selected by alpha below
    row = jnp.broadcast_to(2 - jnp.asarray(alpha, dtype=jnp.int32), (len(m),))  # row of alpha: 2 - alpha
    col = jnp.arange(len(m))
    return {"tau_s": tau, "dev": dev, "dev_lo": dev * f_lo[row, col], "dev_hi": dev * f_hi[row, col],
            "edf": jnp.asarray(table)[row, col], "n": n}


def static_taus(taus: Any) -> Any:
    """``taus`` in a hashable form for a static jit argument (keyword kept, array -> tuple of floats)."""
    if taus is None or isinstance(taus, str):
        return taus
    return tuple(float(t) for t in np.asarray(taus, dtype=np.float64).ravel())


def simulate_stability(key: jax.Array, h: Any, n_samples: int, rate: Any = 1.0, n_realisations: int = 16,
                       taus: Any = "octave", ci: float = ONE_SIGMA, scale: ArrayLike = 1.0) -> dict[str, jax.Array]:
    """Monte Carlo Allan deviation of power-law noise ``{alpha: h_alpha}`` with confidence bounds.

    Generates ``n_realisations`` records of ``n_samples`` at ``rate`` (Kasdin–Walter), computes the
    overlapping Allan deviation of each, and its Greenhall-EDF interval for the noise type that dominates
    the model at each tau. All deviations are multiplied by ``scale`` (the unit of the data: 1 for
    fractional frequency, tesla for a magnetometer, ...). Returns ``tau_s (n_tau,)``, ``adev, adev_lo,
    adev_hi (n_realisations, n_tau)``, ``adev_model (n_tau,)`` (expected value,
    :func:`kqjax.sensors.noise.avar`), ``edf (n_tau,)`` and ``samples (n_realisations, n_samples)``.
    """
    y = power_law_noise(key, h, n_samples, rate, (int(n_realisations),))
    m, _ = averaging_factors("oadev", int(n_samples) + 1, rate, taus)
    tau = jnp.asarray(m, dtype=jnp.float64) / jnp.asarray(rate, dtype=jnp.float64)
    res = stability(y, rate, dominant_alpha(h, tau, rate), "oadev", "freq", taus, ci)
    scale = jnp.asarray(scale, dtype=jnp.float64)
    return {"tau_s": res["tau_s"], "adev": res["dev"] * scale, "adev_lo": res["dev_lo"] * scale,
            "adev_hi": res["dev_hi"] * scale, "adev_model": jnp.sqrt(avar(h, res["tau_s"], rate)) * scale,
            "edf": res["edf"], "samples": y * scale}
