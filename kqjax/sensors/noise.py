"""Power-law frequency noise and inertial-sensor noise.

Power-law noise
    Fractional-frequency data ``y`` whose one-sided PSD is ``S_y(f) = h_alpha f^alpha`` for
    ``alpha`` in {2, 1, 0, -1, -2} (white PM, flicker PM, white FM, flicker FM, random-walk FM). The
    generator is the Kasdin–Walter method (Kasdin & Walter, Proc. IEEE FCS 1992, 274; Kasdin, Proc.
    IEEE 83, 802, 1995): white noise of variance ``Q_d`` is filtered by the fractional difference
    ``(1 - z^-1)^(alpha/2)`` whose impulse response is

        h_0 = 1,   h_k = h_(k-1) (k - 1 - alpha/2) / k,

    applied as a zero-padded (linear, not circular) convolution by FFT, as in
    ``allantools.noise_kasdin``. The discrete PSD is ``S_y(f) = 2 Q_d tau0 (2 sin(pi f tau0))^alpha``,
    so at low frequency ``h_alpha = 2 Q_d (2 pi)^alpha tau0^(alpha + 1)`` (tau0 = 1/rate).

Inertial-sensor noise (IEEE Std 952-1997, Annex C; El-Sheimy, Hou & Niu, IEEE TIM 57, 140, 2008)
    A gyro (or accelerometer) output error is the sum of a constant bias, white noise of Allan
    variance ``N^2/tau`` (angle/velocity random walk), bias instability (flicker, Allan deviation
    plateau ``sqrt(2 ln2 / pi) B``) and rate random walk (``K^2 tau / 3``). In power-law form
    ``h_0 = 2 N^2``, ``h_-1 = B^2 / pi``, ``h_-2 = K^2 / (2 pi^2)`` with the data in the sensor's own
    units (rad/s or m/s^2 instead of a dimensionless y).
"""
from __future__ import annotations

import math
from functools import partial
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np

ArrayLike = jax.typing.ArrayLike

ALPHAS: tuple[int, ...] = (2, 1, 0, -1, -2)
NOISE_NAMES: dict[int, str] = {2: "white PM", 1: "flicker PM", 0: "white FM", -1: "flicker FM",
                               -2: "random-walk FM"}


def check_alpha(alpha: object) -> int:
    """``alpha`` as an int if it is one of the supported power-law exponents, else ``ValueError``."""
    ok = (not isinstance(alpha, bool) and isinstance(alpha, (int, float, np.integer, np.floating))
          and float(alpha) in ALPHAS)
    if not ok:
        raise ValueError(
            f"power-law exponent alpha = {alpha!r} is not supported: alpha must be one of 2, 1, 0, -1, -2 "
            "(white PM, flicker PM, white FM, flicker FM, random-walk FM)")
    return int(alpha)


def _check_h(h: Mapping[int, ArrayLike]) -> dict[int, ArrayLike]:
    if not isinstance(h, Mapping) or len(h) == 0:
        raise ValueError(f"h = {h!r} is not allowed: must be a non-empty mapping {{alpha: h_alpha}} "
                         "with alpha in 2, 1, 0, -1, -2")
    out = {}
    for alpha, level in h.items():
        a = check_alpha(alpha)
        arr = None if isinstance(level, jax.core.Tracer) else np.asarray(level)
        if arr is not None and (not np.all(np.isfinite(arr)) or np.any(arr < 0)):
            raise ValueError(f"h[{a}] = {level!r} is not allowed: power-law coefficients must be finite and >= 0")
        out[a] = level
    return out


def standard_normal(key: jax.Array, shape: tuple[int, ...], dtype: Any = jnp.float64) -> jax.Array:
    """Standard normal draws of ``shape``, generated flat and reshaped.

    Same distribution as ``jax.random.normal(key, shape)``; drawing a flat vector keeps XLA compile time
    small on CPU (multi-dimensional threefry counters compile several times slower).
    """
    shape = tuple(int(s) for s in shape)
    return jax.random.normal(key, (math.prod(shape),), dtype).reshape(shape)


def kasdin_filter(alpha: int, n: int) -> jax.Array:
    """Impulse response ``h_k`` (k = 0..n-1) of the fractional difference ``(1 - z^-1)^(alpha/2)``.

    Kasdin, Proc. IEEE 83, 802 (1995): ``h_k = h_(k-1) (k - 1 - alpha/2) / k``.
    """
    alpha = check_alpha(alpha)
    k = jnp.arange(1, n, dtype=jnp.float64)
    ratios = (k - 1.0 - alpha / 2.0) / k
    return jnp.concatenate([jnp.ones(1), jnp.cumprod(ratios)])


def discrete_variance(alpha: int, h_alpha: ArrayLike, rate: ArrayLike = 1.0) -> jax.Array:
    """Variance ``Q_d`` of the white driving noise giving ``S_y = h_alpha f^alpha`` at sample ``rate``.

    ``Q_d = h_alpha / (2 (2 pi)^alpha tau0^(alpha+1))`` (Kasdin & Walter 1992, eq. 39, for y).
    """
    alpha = check_alpha(alpha)
    tau0 = 1.0 / jnp.asarray(rate, dtype=jnp.float64)
    return jnp.asarray(h_alpha, dtype=jnp.float64) / (2.0 * (2.0 * math.pi) ** alpha * tau0 ** (alpha + 1))


def power_law_noise(key: jax.Array, h: Mapping[int, ArrayLike], n_samples: int, rate: ArrayLike = 1.0,
                    batch_shape: tuple[int, ...] = ()) -> jax.Array:
    """Fractional-frequency samples with one-sided PSD ``S_y(f) = sum_alpha h_alpha f^alpha``.

    Args:
        key: JAX PRNG key; component ``alpha`` uses ``fold_in(key, index of alpha in ALPHAS)`` so that
            adding a component leaves the others' realisations unchanged.
        h: ``{alpha: h_alpha}``, alpha in {2, 1, 0, -1, -2}; each ``h_alpha`` [Hz^(-alpha-1)] is a scalar
            or an array broadcastable to ``batch_shape`` (one level per realisation or sweep point).
        n_samples: number of samples (static).
        rate: sample rate [Hz] (may be traced).
        batch_shape: leading shape of independent realisations (static).

    Returns:
        ``y`` of shape ``batch_shape + (n_samples,)``, float64. Each ``y_n`` is the frequency averaged
        over one sample interval, generated by the Kasdin–Walter filter (module docstring).
    """
    h = _check_h(h)
    n = int(n_samples)
    if n < 2:
        raise ValueError(f"n_samples = {n_samples!r} is not allowed: must be an integer >= 2")
    alphas = tuple(sorted(h, reverse=True))
    levels = tuple(jnp.asarray(h[a], jnp.float64) for a in alphas)
    return _power_law_noise(key, levels, jnp.asarray(rate, jnp.float64), alphas, n,
                            tuple(int(b) for b in batch_shape))


@partial(jax.jit, static_argnames=("alphas", "n", "batch_shape"))
def _power_law_noise(key, levels, rate, alphas, n, batch_shape):
    total = jnp.zeros(batch_shape + (n,), dtype=jnp.float64)
    spectrum = None
    for alpha, level in zip(alphas, levels):
        sub = jax.random.fold_in(key, ALPHAS.index(alpha))
        w = standard_normal(sub, batch_shape + (n,))
        scale = jnp.sqrt(discrete_variance(alpha, level, rate))[..., None]
        if alpha == 0:
            total = total + scale * w
            continue
        filt = jnp.fft.rfft(kasdin_filter(alpha, n), n=2 * n)
        term = scale * jnp.fft.rfft(w, n=2 * n, axis=-1) * filt
        spectrum = term if spectrum is None else spectrum + term
    if spectrum is not None:
        total = total + jnp.fft.irfft(spectrum, n=2 * n, axis=-1)[..., :n]
    return total


def power_law_avar(alpha: int, h_alpha: ArrayLike, tau: ArrayLike, rate: ArrayLike = 1.0) -> jax.Array:
    """Expected Allan variance of power-law noise ``S_y = h_alpha f^alpha`` (Riley, NIST SP 1065).

    White PM  ``3 f_h h_2 / (4 pi^2 tau^2)``                     f_h = rate/2 (exact for Kasdin data)
    Flicker PM ``h_1 [1.038 + 3 ln(2 pi f_h tau)] / (4 pi^2 tau^2)``, f_h = 2 rate / pi (see below)
    White FM  ``h_0 / (2 tau)``
    Flicker FM ``2 ln2 h_-1``
    RW FM     ``(2 pi^2 / 3) h_-2 tau``

    For flicker PM the result depends on how the spectrum is cut off at high frequency. The discrete
    Kasdin spectrum ``(2 sin(pi f tau0))^1`` lies below ``2 pi f tau0``; its Allan variance equals the
    brick-wall formula with the effective cutoff ``f_h = 2/(pi tau0)`` (the excess
    ``int_0^(pi/2) (1/sin u - 1/u) du = ln(4/pi)`` shifts the logarithm), which is what this function
    uses so that it predicts the data of :func:`power_law_noise`. Flicker FM and random-walk FM have
    discretisation corrections at ``tau = m tau0`` of relative size ``~1.2/m^2`` and exactly ``1/(2 m^2)``,
    and the finite start of Kasdin flicker FM lowers its Allan variance by ``~0.05 m/N`` for ``N``
    samples; these are omitted.
    """
    alpha = check_alpha(alpha)
    tau = jnp.asarray(tau, dtype=jnp.float64)
    h_alpha = jnp.asarray(h_alpha, dtype=jnp.float64)
    rate = jnp.asarray(rate, dtype=jnp.float64)
    if alpha == 2:
        return 3.0 * (rate / 2.0) * h_alpha / (4.0 * math.pi ** 2 * tau ** 2)
    if alpha == 1:
        f_h = 2.0 * rate / math.pi
        return h_alpha * (1.038 + 3.0 * jnp.log(2.0 * math.pi * f_h * tau)) / (4.0 * math.pi ** 2 * tau ** 2)
    if alpha == 0:
        return h_alpha / (2.0 * tau)
    if alpha == -1:
        return 2.0 * math.log(2.0) * h_alpha * jnp.ones_like(tau)
    return (2.0 * math.pi ** 2 / 3.0) * h_alpha * tau


def avar(h: Mapping[int, ArrayLike], tau: ArrayLike, rate: ArrayLike = 1.0) -> jax.Array:
    """Expected Allan variance of a sum of independent power-law noises (sum of :func:`power_law_avar`)."""
    h = _check_h(h)
    return sum(power_law_avar(a, level, tau, rate) for a, level in h.items())


def dominant_alpha(h: Mapping[int, ArrayLike], tau: ArrayLike, rate: ArrayLike = 1.0) -> jax.Array:
    """The exponent alpha whose Allan-variance contribution is largest at each ``tau`` (int array).

    Used to pick the noise type for equivalent degrees of freedom when the noise model is known, in
    place of a noise identification from the data (Riley, NIST SP 1065).
    """
    h = _check_h(h)
    alphas = list(h)
    contrib = jnp.stack([jnp.broadcast_to(power_law_avar(a, h[a], tau, rate),
                                          jnp.broadcast_shapes(jnp.shape(tau), jnp.shape(h[a])))
                         for a in alphas])
    return jnp.asarray(alphas, dtype=jnp.int32)[jnp.argmax(contrib, axis=0)]


# --- adev-level conversions ----------------------------------------------------------------------------

def h_white_fm(adev_1s: ArrayLike) -> jax.Array:
    """``h_0`` for white FM with Allan deviation ``adev_1s / sqrt(tau/1 s)``: ``h_0 = 2 adev_1s^2``."""
    return 2.0 * jnp.asarray(adev_1s, dtype=jnp.float64) ** 2


def h_flicker_fm(adev_floor: ArrayLike) -> jax.Array:
    """``h_-1`` for a flicker-FM Allan-deviation floor: ``h_-1 = floor^2 / (2 ln 2)``."""
    return jnp.asarray(adev_floor, dtype=jnp.float64) ** 2 / (2.0 * math.log(2.0))


def h_random_walk_fm(adev_1s: ArrayLike) -> jax.Array:
    """``h_-2`` for random-walk FM with Allan deviation ``adev_1s sqrt(tau/1 s)``: ``3 adev_1s^2/(2 pi^2)``."""
    return 3.0 * jnp.asarray(adev_1s, dtype=jnp.float64) ** 2 / (2.0 * math.pi ** 2)


# --- inertial sensors ----------------------------------------------------------------------------------

def inertial_h(random_walk: ArrayLike = 0.0, bias_instability: ArrayLike = 0.0,
               rate_random_walk: ArrayLike = 0.0) -> dict[int, jax.Array]:
    """Power-law coefficients of an inertial sensor from its Allan-variance parameters (IEEE Std 952).

    ``random_walk`` N [unit/sqrt(s)]: AVAR ``N^2/tau``  -> ``h_0 = 2 N^2``;
    ``bias_instability`` B [unit]: flicker plateau AVAR ``(2 ln2/pi) B^2`` -> ``h_-1 = B^2/pi``;
    ``rate_random_walk`` K [unit/sqrt(s)]: AVAR ``K^2 tau/3`` -> ``h_-2 = K^2/(2 pi^2)``.
    """
    f64 = lambda v: jnp.asarray(v, dtype=jnp.float64)  # noqa: E731
    return {0: 2.0 * f64(random_walk) ** 2, -1: f64(bias_instability) ** 2 / math.pi,
            -2: f64(rate_random_walk) ** 2 / (2.0 * math.pi ** 2)}


def inertial_noise(key: jax.Array, n_samples: int, rate: ArrayLike, *, random_walk: ArrayLike = 0.0,
                   bias_instability: ArrayLike = 0.0, rate_random_walk: ArrayLike = 0.0,
                   bias: ArrayLike = 0.0, batch_shape: tuple[int, ...] = ()) -> jax.Array:
    """Output error of a gyro or accelerometer sampled at ``rate`` [Hz], in the sensor's SI units.

    Sum of ``bias`` (constant), white noise (angle/velocity random walk ``random_walk``), flicker bias
    instability ``bias_instability`` and rate random walk ``rate_random_walk``, generated with
    :func:`power_law_noise` and :func:`inertial_h` (IEEE Std 952-1997, Annex C). Gyro: rad/s with N in
    rad/sqrt(s), B in rad/s, K in rad/s/sqrt(s); accelerometer: m/s^2 with N in m/s/sqrt(s), B in
    m/s^2, K in m/s^2/sqrt(s). Shape ``batch_shape + (n_samples,)``.
    """
    for name, v in (("random_walk", random_walk), ("bias_instability", bias_instability),
                    ("rate_random_walk", rate_random_walk)):
        arr = None if isinstance(v, jax.core.Tracer) else np.asarray(v)
        if arr is not None and (not np.all(np.isfinite(arr)) or np.any(arr < 0)):
            raise ValueError(f"{name} = {v!r} is not allowed: must be finite and >= 0")
    y = power_law_noise(key, inertial_h(random_walk, bias_instability, rate_random_walk), n_samples,
                        rate, batch_shape)
    return y + jnp.asarray(bias, dtype=jnp.float64)[..., None]


def markov_flicker_bank(f_low: float, f_high: float, per_decade: int = 2) -> np.ndarray:
    """Corner frequencies [Hz] of first-order Gauss–Markov processes whose sum approximates 1/f noise.

    A sum of Lorentzians with corners spaced by the ratio ``r = 10^(1/per_decade)`` and equal variances
    ``sigma_k^2 = h_-1 ln r`` has PSD ``~ h_-1 / f`` between ``f_low`` and ``f_high`` (Keshner, Proc. IEEE
    70, 212, 1982): ``sum_k 4 sigma^2 tau_k/(1 + (2 pi f tau_k)^2) -> (sigma^2/ln r) / f``. Used where noise
    must be generated step by step (a ``lax.scan``), e.g. inertial navigation. Static (NumPy).
    """
    if not (0 < f_low < f_high):
        raise ValueError(f"flicker band [{f_low}, {f_high}] Hz is not allowed: need 0 < f_low < f_high")
    per_decade = int(per_decade)
    n = int(math.ceil(per_decade * math.log10(f_high / f_low))) + 1
    return f_low * 10.0 ** (np.arange(n) / per_decade)


def markov_flicker_variance(h_minus1: ArrayLike, per_decade: int = 2) -> jax.Array:
    """Variance of each Gauss–Markov process of :func:`markov_flicker_bank`: ``h_-1 ln(10)/per_decade``."""
    return jnp.asarray(h_minus1, dtype=jnp.float64) * math.log(10.0) / int(per_decade)
