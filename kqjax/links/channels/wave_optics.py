"""Wave-optics transmittance of a horizontal turbulent link: split-step angular-spectrum propagation.

A Gaussian beam of waist W0 (1/e² intensity radius; field exp(-r²/W0²), collimated, or focused at
F with exp(-i k r² / 2F)) is propagated over L through ``screens`` thin phase screens (Schmidt,
*Numerical Simulation of Optical Wave Propagation*, SPIE 2010, ch. 8-9). The path is cut into
``screens`` slabs of Δz = L / screens; slab i is represented by a screen at its middle carrying
its turbulence, r0_i = (0.423 k² Cn² Δz)^(-3/5) (constant Cn²), so that the screens' phase
variances add up to the path's (plane-wave r0 = (0.423 k² Cn² L)^(-3/5)). Between screens the
field goes through the paraxial angular-spectrum (Fresnel) transfer function
H(f) = exp(-iπ λ Δz (f_x² + f_y²)) on an ``n x n`` grid of spacing δ (the same in every plane), and
a super-Gaussian absorbing boundary exp(-(r / 0.47 n δ)^16) (Schmidt sec. 9.5) removes what
reaches the edge instead of letting it wrap around. A pointing error of rms θ per axis tilts the
launched beam by a Gaussian angle per realisation.

The transmittance of a realisation is the fraction of the launched power inside the circular
receiver aperture of radius a, Σ_{r<a} |U_L|² / Σ |U_0|² (the aperture mask is anti-aliased:
each pixel weighted by its covered fraction, to first order in δ).

:func:`grid_problems` checks a grid against the physics: the spacing against the r0 of a screen
and of the path and against the waist, the extent against the beam at the receiver (turbulent
spreading and wander: W_rx² = W² + (4.2 L / k r0)² + 4 (L θ)², the long-term spot of a beam whose
coherence radius is ρ0 = r0 / 2.1, Andrews & Phillips, *Laser Beam Propagation through Random
Media*, 2nd ed., SPIE 2005, ch. 7) and the Fresnel sampling of the transfer function,
Δz <= n δ² / λ (Schmidt eq. 9.86; beyond it H aliases at the grid edge). Schmidt's two-plane
condition n >= D1'/2δ + D2'/2δ + λL/2δ² (eq. 9.85) keeps a grid without absorber free of
wrap-around; here the absorbing boundary and the extent rule take its place.
"""
from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from kqjax.engine.params import component
from kqjax.links.base import Factor
from kqjax.links.channels import phase_screen as ps

USABLE = 0.35
"""Radius (in units of the grid width n δ) inside which the absorbing boundary removes < 1 %."""
BOUNDARY = 0.47
"""Radius of the super-Gaussian absorbing boundary, in units of n δ (Schmidt sec. 9.5)."""


def screen_fried_parameter(wavenumber, cn2, dz):
    """r0 of a slab of thickness ``dz``, (0.423 k² Cn² Δz)^(-3/5) (m; ∞ without turbulence)."""
    return jnp.asarray(0.423 * wavenumber**2 * cn2 * dz, jnp.float64) ** (-3.0 / 5.0)


def receiver_beam_radius(waist, wavenumber, length, cn2, jitter_rad=0.0):
    """W_rx = (W² + (4.2 L / k r0)² + 4 (L θ)²)^(1/2): the long-term spot (diffraction, turbulent
    spreading with ρ0 = r0 / 2.1, and the pointing jitter) that the grid must hold."""
    z_r = 0.5 * wavenumber * waist**2
    w = waist * jnp.sqrt(1.0 + (length / z_r) ** 2)
    r0 = screen_fried_parameter(wavenumber, cn2, length)
    return jnp.sqrt(w**2 + (4.2 * length / (wavenumber * r0)) ** 2 + 4.0 * (length * jitter_rad) ** 2)


def auto_spacing(n: int, wavelength, length, cn2, waist, aperture_radius, screens: int, jitter_rad=0.0):
    """The finest spacing whose grid holds the receiver beam (0.35 n δ >= max(2 W_rx, 1.2 a)) and
    samples the transfer function of a slab (δ² >= λ Δz / n), but no coarser than the advised
    resolution (δ <= W0/4, r0_screen/3, r0_path/2), or where the beam needs it no coarser than the
    required one (δ <= W0/2, r0_screen/2): :func:`grid_problems` then warns."""
    k = 2 * jnp.pi / wavelength
    dz = length / screens
    r0_s, r0_p = screen_fried_parameter(k, cn2, dz), screen_fried_parameter(k, cn2, length)
    advised = jnp.minimum(waist / 4.0, jnp.minimum(r0_s / 3.0, r0_p / 2.0))
    required = jnp.minimum(waist / 2.0, r0_s / 2.0)
    w_rx = receiver_beam_radius(waist, k, length, cn2, jitter_rad)
    want = jnp.maximum(jnp.maximum(2.0 * w_rx, 1.2 * aperture_radius) / (USABLE * n), jnp.sqrt(wavelength * dz / n))
    return jnp.minimum(want, jnp.maximum(advised, jnp.minimum(want, required)))


def grid_problems(n: int, spacing, wavelength, length, cn2, waist, aperture_radius, screens: int,
                  jitter_rad=0.0, names: dict | None = None) -> tuple[list[str], list[str]]:
    """(errors, warnings) of a grid (scalars; ``spacing`` 0 for :func:`auto_spacing`), each a
    short sentence with the numbers, naming the grid's settings by ``names`` (keys ``points``,
    ``spacing``, ``screens``). Errors make the transmittance wrong; warnings marginal."""
    label = {"points": "grid points", "spacing": "spacing", "screens": "screens", **(names or {})}
    f = float
    auto = f(spacing) == 0.0
    if auto:
        spacing = f(auto_spacing(n, wavelength, length, cn2, waist, aperture_radius, screens, jitter_rad))
    d, lam, big_l, w0, a = f(spacing), f(wavelength), f(length), f(waist), f(aperture_radius)
    k = 2 * math.pi / lam
    dz = big_l / screens
    r0_s = f(screen_fried_parameter(k, cn2, dz)) if cn2 > 0 else math.inf
    r0_p = f(screen_fried_parameter(k, cn2, big_l)) if cn2 > 0 else math.inf
    w_rx = f(receiver_beam_radius(w0, k, big_l, cn2, jitter_rad))
    usable = USABLE * n * d
    mm = 1e3
    sp = f"{label['spacing']} {d * mm:.3g} mm" + (" (auto)" if auto else "")
    errors, warnings = [], []
    if d > w0 / 2:
        errors.append(f"{sp} under-resolves the beam waist {w0 * mm:.3g} mm (needs <= W0/2, W0/4 advised)")
    elif d > w0 / 4:
        warnings.append(f"{sp} resolves the waist {w0 * mm:.3g} mm with only {w0 / d:.2g} points (>= 4 advised)")
    if d > r0_s / 2:
        errors.append(f"{sp} under-resolves the Fried parameter of each of the {screens} {label['screens']}, "
                      f"r0 = {r0_s * mm:.3g} mm (needs <= r0/2: more {label['screens']}, more "
                      f"{label['points']} or less turbulence)")
    elif d > r0_s / 3:
        warnings.append(f"{sp} is marginal against the r0 of a screen, {r0_s * mm:.3g} mm (<= r0/3 advised)")
    if d > r0_p / 2:
        warnings.append(f"{sp} is coarse against the r0 of the path, {r0_p * mm:.3g} mm (<= r0/2 advised)")
    need = max(1.5 * w_rx, a)
    if usable < need:
        errors.append(f"{label['points']} {n} x {sp} = {n * d:.3g} m is too small for the beam at the receiver "
                      f"{big_l / 1e3:.4g} km away, W_rx = {w_rx * mm:.3g} mm, and the aperture radius {a * mm:.3g} mm "
                      f"(needs 0.35 n spacing >= "
                      f"{need:.3g} m: more {label['points']} or a larger spacing)")
    elif usable < max(2.0 * w_rx, 1.2 * a):
        warnings.append(f"{label['points']} {n} x {sp} = {n * d:.3g} m holds the receiver beam W_rx = "
                        f"{w_rx * mm:.3g} mm with little margin (0.35 n spacing >= {max(2.0 * w_rx, 1.2 * a):.3g} m "
                        "advised)")
    if dz > n * d**2 / lam:
        errors.append(f"a slab of L / {label['screens']} = {dz:.4g} m exceeds the Fresnel sampling limit n spacing^2 / "
                      f"lambda = {n * d**2 / lam:.4g} m of the angular-spectrum transfer function (more "
                      f"{label['screens']} or {label['points']}, or a larger spacing)")
    return errors, warnings


def _frequency_squared(n: int, delta):
    f = jnp.fft.fftfreq(n, delta)
    return f[:, None] ** 2 + f[None, :] ** 2


def _coordinates(n: int, delta):
    x = (jnp.arange(n) - n // 2) * delta
    return x[:, None], x[None, :]


def aperture_mask(n: int, delta, radius):
    """Pixel weights of a centred disc of ``radius``: clip((a - r)/δ + 1/2, 0, 1)."""
    x, y = _coordinates(n, delta)
    return jnp.clip((radius - jnp.sqrt(x**2 + y**2)) / delta + 0.5, 0.0, 1.0)


def absorbing_boundary(n: int, delta):
    """exp(-(r / 0.47 n δ)^16)."""
    x, y = _coordinates(n, delta)
    return jnp.exp(-(jnp.sqrt(x**2 + y**2) / (BOUNDARY * n * delta)) ** 16)


def gaussian_beam(n: int, delta, waist, wavenumber, focus=math.inf, tilt=(0.0, 0.0)):
    """exp(-r²/W0²) exp(-i k r² / 2F) exp(i k (θx x + θy y)) on the grid."""
    x, y = _coordinates(n, delta)
    r2 = x**2 + y**2
    phase = -0.5 * wavenumber * r2 / focus + wavenumber * (tilt[0] * x + tilt[1] * y)
    return jnp.exp(-r2 / waist**2) * jnp.exp(1j * phase)


def propagate(field, phases, delta, wavelength, length):
    """The field after ``length`` through the screens ``phases`` [S, n, n] (rad) at the middles of
    S equal slabs, with the absorbing boundary after every step."""
    n = field.shape[-1]
    s = phases.shape[0]
    dz = length / s
    f2 = _frequency_squared(n, delta)
    full = jnp.exp(-1j * jnp.pi * wavelength * dz * f2).astype(field.dtype)
    half = jnp.exp(-0.5j * jnp.pi * wavelength * dz * f2).astype(field.dtype)
    sg = absorbing_boundary(n, delta).astype(field.real.dtype)

    def step(u, h):
        return jnp.fft.ifft2(jnp.fft.fft2(u) * h) * sg

    def body(u, xs):
        phase, last = xs
        u = u * jnp.exp(1j * phase).astype(u.dtype)
        return step(u, jnp.where(last, half, full)), None

    u = step(field, half)
    u, _ = jax.lax.scan(body, u, (phases, jnp.arange(s) == s - 1))
    return u


def transmittance(key, *, wavelength, length, cn2, waist, aperture_radius, n: int, spacing, screens: int,
                  outer_scale=math.inf, jitter_rad=0.0, focus=math.inf, dtype=jnp.float64):
    """One realisation of the fraction of the launched power inside the aperture."""
    k_screen, k_tilt = jax.random.split(key)
    k = 2 * jnp.pi / wavelength
    cdtype = jnp.complex64 if dtype == jnp.float32 else jnp.complex128
    r0 = screen_fried_parameter(k, cn2, length / screens)
    unit = ps.unit_screens(k_screen, screens, n, spacing, outer_scale, dtype=dtype)
    phases = jnp.where(cn2 > 0, r0 ** (-5.0 / 6.0), 0.0).astype(dtype) * unit
    tilt = jitter_rad * jax.random.normal(k_tilt, (2,))
    u0 = gaussian_beam(n, spacing, waist, k, focus, (tilt[0], tilt[1])).astype(cdtype)
    u = propagate(u0, phases, spacing, wavelength, length)
    power0 = jnp.sum(jnp.abs(u0).astype(jnp.float64) ** 2)
    inside = jnp.sum(aperture_mask(n, spacing, aperture_radius) * jnp.abs(u).astype(jnp.float64) ** 2)
    return inside / power0


def transmittance_samples(key, count: int, *, batch: int = 8, **kw):
    """``count`` independent realisations of :func:`transmittance` [count], ``batch`` at a time."""
    keys = jax.random.split(key, int(count))
    return jax.lax.map(lambda k: transmittance(k, **kw), keys, batch_size=min(int(batch), int(count)))


@component("factor", "sample_bank")
class SampleBank(Factor):
    """A unit-mean random factor given by R equally likely values exp(log_values) (a bank of
    transmittance samples over its mean): a realisation picks one uniformly; expectations are the
    equal-weight average over all of them."""

    log_values: object = None

    random = True

    def sample_log(self, key, t=0.0, shape=()):
        return self.log_values[jax.random.randint(key, shape, 0, self.log_values.shape[-1])]

    def quadrature(self, ceiling=jnp.inf):
        r = self.log_values.shape[-1]
        return self.log_values, jnp.full(r, 1.0 / r)
