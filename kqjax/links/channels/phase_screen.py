"""Random phase screens of atmospheric turbulence by the FFT method with subharmonics.

A screen is a square of ``n x n`` points spaced ``delta`` (m) holding the phase (rad) that a
thin slab of turbulence of Fried parameter r0 imprints on a wave. Its statistics are those of the
modified von Kármán phase power spectral density (Schmidt, *Numerical Simulation of Optical Wave
Propagation*, SPIE 2010, eq. 9.52; f in cycles/m):

    Φ(f) = C r0^(-5/3) exp(-(f/f_m)²) / (f² + f_0²)^(11/6),  f_0 = 1/L0,  f_m = 5.92 / (2π l0),

with C = Γ(11/6)² / (2 π^(11/3)) (24/5 Γ(6/5))^(5/6) = 0.02290 (0.023 in Schmidt and aotools), so
that the structure function of Kolmogorov turbulence (L0 → ∞, l0 = 0) is
D(r) = 6.88 (r/r0)^(5/3) (Fried 1966). The high frequencies are the FFT of complex Gaussian
coefficients on the grid f = (i, j)/(n delta) (Johansson & Gavel, SPIE 2200, 1994; Schmidt
listing 9.2); the low frequencies the grid misses (tip, tilt and the large scales of the outer
scale) are added as three levels of 3 x 3 subharmonics of spacing 1/(3^p n delta), p = 1, 2, 3
(Lane, Glindemann & Dainty, Waves Random Media 2, 209, 1992; Schmidt listing 9.3).

The real and imaginary parts of one complex transform are independent screens of the same
statistics (the coefficients are circular Gaussian and Φ is even), so one FFT gives two screens.
The Gaussian draws are float32 in either precision (their tails reach 5.3 σ), so that a float32
and a float64 screen of the same key agree to float32 rounding; the transform and the screen
are in the precision asked for.
A screen is r0^(-5/6) times the unit screen (r0 = 1 m) of the same key: the draws are
reparameterised in r0.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp

PSD_COEF = math.gamma(11 / 6) ** 2 / (2 * math.pi ** (11 / 3)) * (24 / 5 * math.gamma(6 / 5)) ** (5 / 6)
"""C of the phase PSD C r0^(-5/3) f^(-11/3) (0.02290)."""
KOLMOGOROV = 2 * (24 / 5 * math.gamma(6 / 5)) ** (5 / 6)
"""6.88 of the Kolmogorov phase structure function D(r) = 6.88 (r/r0)^(5/3)."""
SUBHARMONIC_LEVELS = 3


def psd(f, r0=1.0, outer_scale=math.inf, inner_scale=0.0):
    """Modified von Kármán phase PSD Φ(f) (rad² m²) at spatial frequency ``f`` (cycles/m)."""
    f0 = 1.0 / outer_scale
    f2 = jnp.square(f)
    cutoff = jnp.exp(-f2 * jnp.square(2 * jnp.pi * inner_scale / 5.92))
    return PSD_COEF * r0 ** (-5.0 / 3.0) * cutoff * (f2 + f0**2) ** (-11.0 / 6.0)


def bessel_k(nu, x, nodes: int = 400, upper: float = 12.0):
    """K_ν(x) = ∫₀^∞ exp(-x cosh t) cosh(ν t) dt (Watson 1944, 6.22 (5)) by the trapezoidal rule,
    exact to rounding for x >= 1e-4 (the integrand decays doubly exponentially)."""
    t = jnp.linspace(0.0, upper, nodes)
    h = t[1] - t[0]
    x = jnp.asarray(x, jnp.float64)[..., None]
    g = jnp.exp(-x * jnp.cosh(t) + jnp.log(jnp.cosh(nu * t)))
    return h * (jnp.sum(g, -1) - 0.5 * g[..., 0])


def structure_function(r, r0=1.0, outer_scale=math.inf):
    """Phase structure function D(r) = <(φ(x + r) - φ(x))²> (rad²) of the von Kármán PSD:

        D(r) = (12π/5) C (L0/r0)^(5/3) [1 - (5/3) 2^(-5/6) / Γ(11/6) x^(5/6) K_{5/6}(x)],  x = 2π r / L0,

    from D = 4π ∫ Φ(f) [1 - J0(2π f r)] f df (Gradshteyn & Ryzhik 6.565.4), and 6.88 (r/r0)^(5/3)
    for L0 = ∞ (inner scale 0)."""
    r = jnp.asarray(r, jnp.float64)
    kolmogorov = KOLMOGOROV * (r / r0) ** (5.0 / 3.0)
    if outer_scale == math.inf:
        return kolmogorov
    x = 2 * jnp.pi * r / outer_scale
    coef = 12 * jnp.pi / 5 * PSD_COEF * (outer_scale / r0) ** (5.0 / 3.0)
    bracket = 1.0 - (5.0 / 3.0) * 2 ** (-5.0 / 6.0) / math.gamma(11 / 6) * x ** (5.0 / 6.0) * bessel_k(5.0 / 6.0, x)
    return jnp.where(x < 1e-4, kolmogorov, coef * bracket)


def _frequencies(n: int, delta):
    """|f| on the FFT grid (numpy order, cycles/m)."""
    f = jnp.fft.fftfreq(n, delta)
    return jnp.sqrt(f[:, None] ** 2 + f[None, :] ** 2)


def _complex_screen(key, n: int, delta, outer_scale, inner_scale, subharmonics: bool, dtype):
    """One complex screen (r0 = 1) whose real and imaginary parts are independent screens."""
    cdtype = jnp.complex64 if dtype == jnp.float32 else jnp.complex128
    k_hi, k_lo = jax.random.split(key)
    del_f = 1.0 / (n * delta)
    amp = jnp.sqrt(psd(_frequencies(n, delta), 1.0, outer_scale, inner_scale)).at[0, 0].set(0.0) * del_f
    noise = jax.random.normal(k_hi, (2, n, n), jnp.float32).astype(dtype)
    cn = jax.lax.complex(noise[0] * amp.astype(dtype), noise[1] * amp.astype(dtype))
    screen = jnp.fft.ifft2(cn) * (n * n)
    if not subharmonics:
        return screen.astype(cdtype)
    # level p: f = (-1, 0, 1) / (3^p n delta); the sum of c_ij exp(2πi (f_i x + f_j y)) is
    # E_x C E_y^T with E[x, i] = exp(2πi f_i x): one (n x 9)(9 x 9)(9 x n) product for all levels
    p = jnp.arange(1, SUBHARMONIC_LEVELS + 1, dtype=jnp.float64)
    step = del_f / 3.0**p  # [P]
    fx = step[:, None] * jnp.array([-1.0, 0.0, 1.0])  # [P, 3]
    a = jnp.sqrt(psd(jnp.sqrt(fx[:, :, None] ** 2 + fx[:, None, :] ** 2), 1.0, outer_scale, inner_scale))
    a = a.at[:, 1, 1].set(0.0) * step[:, None, None]  # [P, 3, 3]
    z = jax.random.normal(k_lo, (2, SUBHARMONIC_LEVELS, 3, 3), jnp.float64)
    c = jax.lax.complex(z[0] * a, z[1] * a)  # [P, 3, 3]
    x = (jnp.arange(n) - n // 2) * delta
    e = jnp.exp(2j * jnp.pi * x[:, None, None] * fx[None, :, :])  # [n, P, 3]
    low = jnp.einsum("xpi,pij,ypj->xy", e, c, e)
    low = low - jnp.mean(low)
    return screen.astype(cdtype) + low.astype(cdtype)


def unit_screens(key, count: int, n: int, delta, outer_scale=math.inf, inner_scale=0.0, *,
                 subharmonics: bool = True, dtype=jnp.float64):
    """``count`` independent screens [count, n, n] of r0 = 1 m (rad), two per complex FFT."""
    pairs = -(-int(count) // 2)
    z = jax.vmap(lambda k: _complex_screen(k, int(n), delta, outer_scale, inner_scale, subharmonics, dtype))(
        jax.random.split(key, pairs))
    return jnp.concatenate([z.real, z.imag], 0)[: int(count)]


def phase_screens(key, count: int, r0, n: int, delta, outer_scale=math.inf, inner_scale=0.0, *,
                  subharmonics: bool = True, dtype=jnp.float64):
    """``count`` screens of Fried parameter ``r0`` (m): r0^(-5/6) times :func:`unit_screens`."""
    unit = unit_screens(key, count, n, delta, outer_scale, inner_scale, subharmonics=subharmonics, dtype=dtype)
    return jnp.asarray(r0, unit.dtype) ** (-5.0 / 6.0) * unit


def phase_screen(key, r0, n: int, delta, outer_scale=math.inf, inner_scale=0.0, *, subharmonics: bool = True,
                 dtype=jnp.float64):
    """One screen [n, n] of Fried parameter ``r0`` (m)."""
    return phase_screens(key, 1, r0, n, delta, outer_scale, inner_scale, subharmonics=subharmonics, dtype=dtype)[0]
