"""Split-step wave optics of a Gaussian beam: vacuum diffraction, weak-turbulence scintillation,
the grid rules, and the free-space channel's wave-optics model (bank, factors, CLI refusal)."""
from __future__ import annotations

import math
import subprocess
import sys
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kqjax.links.channels import turbulence as tb
from kqjax.links.channels import wave_optics as wo
from kqjax.links.channels.free_space import FreeSpace

LAMBDA = 1.55e-6
K = 2 * math.pi / LAMBDA


@partial(jax.jit, static_argnames=("count", "n", "screens"))
def samples(key, count, n, screens, **kw):
    return wo.transmittance_samples(key, count, n=n, screens=screens, dtype=jnp.float32, **kw)


@pytest.mark.parametrize("focus", [math.inf, 400.0])
def test_vacuum_beam_against_gaussian_optics(focus):
    """Without turbulence the power in apertures of radius a is 1 - exp(-2a²/W²), with
    W = W0 ((1 - L/F)² + (2L / k W0²)²)^(1/2) (Andrews & Phillips 2005, ch. 2), collimated and focused."""
    w0, length = 0.01, 500.0
    w = w0 * math.hypot(1 - length / focus, 2 * length / (K * w0**2))
    for a in (0.5 * w, w, 1.5 * w):
        t = samples(jax.random.key(0), 2, 128, 3, wavelength=LAMBDA, length=length, cn2=0.0, waist=w0,
                    aperture_radius=a, spacing=1.5e-3, outer_scale=10.0, jitter_rad=0.0, focus=focus)
        assert float(t[0]) == pytest.approx(-math.expm1(-2 * a**2 / w**2), rel=2e-3)


def test_weak_turbulence_scintillation_against_rytov():
    """A wide collimated beam (W0 = 15 cm, Fresnel ratio 2L/kW0² = 0.02: a plane wave near the
    axis) over 1 km with plane-wave Rytov variance σ_R² = 1.23 Cn² k^(7/6) L^(11/6) = 0.1: the
    normalised variance of the power into a pinhole (a = 1 mm, far below the Fresnel zone
    (L/k)^(1/2) = 16 mm) against the plane-wave scintillation index (the extended Rytov
    theory of Andrews & Phillips ch. 9, 0.099 here; weak turbulence), within 4 standard errors of batch means."""
    length, count = 1000.0, 512
    cn2 = 0.1 / (1.23 * K ** (7 / 6) * length ** (11 / 6))
    t = np.asarray(samples(jax.random.key(5), count, 128, 5, wavelength=LAMBDA, length=length, cn2=cn2, waist=0.15,
                           aperture_radius=1e-3, spacing=4e-3, outer_scale=100.0, jitter_rad=0.0, focus=math.inf))
    assert np.all(np.isfinite(t)) and np.all(t > 0)
    groups = t.reshape(16, -1)
    per = groups.var(1, ddof=1) / groups.mean(1) ** 2
    si = t.var(ddof=1) / t.mean() ** 2
    se = per.std(ddof=1) / math.sqrt(len(per))
    theory = float(tb.scintillation_index(0.1, "plane", 0.0))
    assert theory == pytest.approx(0.1, rel=0.06)
    assert abs(si - theory) < 4 * se, (si, theory, se)


def test_grid_rules():
    """The default link's grid passes; 128 points warn (auto spacing coarser than W0/4); too few
    points, a spacing above W0/2, r0/2 of a screen, and a slab beyond the Fresnel sampling limit
    are refused with their numbers."""
    link = dict(wavelength=LAMBDA, length=1500.0, cn2=1e-14, waist=0.01, aperture_radius=0.05, screens=5,
                jitter_rad=2e-6)
    assert wo.grid_problems(256, 0.0, **link) == ([], [])
    errors, warned = wo.grid_problems(128, 0.0, **link)
    assert errors == [] and warned == ["spacing 3.53 mm (auto) resolves the waist 10 mm with only 2.8 points "
                                       "(>= 4 advised)"]
    errors, _ = wo.grid_problems(64, 0.0, **link)
    assert len(errors) == 1 and "too small for the beam" in errors[0] and "W_rx = 79.1 mm" in errors[0]
    errors, _ = wo.grid_problems(512, 6e-3, **link)
    assert any("under-resolves the beam waist 10 mm" in e for e in errors)
    errors, _ = wo.grid_problems(1024, 1e-3, **{**link, "screens": 1})
    assert any("Fresnel sampling limit" in e and "1500 m" in e for e in errors)
    errors, warned = wo.grid_problems(256, 3e-3, **link)
    assert errors == [] and any("only 3.3 points" in w for w in warned)
    strong = {**link, "cn2": 1e-12, "screens": 1, "length": 500.0}
    errors, _ = wo.grid_problems(1024, 4e-3, **strong)
    assert any("Fried parameter" in e for e in errors)
    spacing = float(wo.auto_spacing(256, **{k: v for k, v in link.items()}))
    assert spacing == pytest.approx(2 * float(wo.receiver_beam_radius(0.01, K, 1500.0, 1e-14, 2e-6)) / (0.35 * 256))


def test_channel_bank_and_factors():
    """FreeSpace(model=wave_optics): prepare() holds the bank; the mean transmittance is its mean
    times the extinction; realisations are bank entries times it; the analytic model is unchanged."""
    base = dict(length_km=0.5, cn2=1e-14, wave_grid_points=64, wave_screens=3, wave_realisations=16,
                wave_grid_spacing_m=2.5e-3)
    prepare = jax.jit(lambda channel, key: channel.prepare(key))
    analytic = FreeSpace(**base)
    assert analytic.prepare(jax.random.key(0)) is analytic
    wave = FreeSpace(model="wave_optics", **base)
    assert wave.random and not wave.time_varying
    with pytest.raises(ValueError, match="transmittance bank"):
        wave.transmittance()
    ready = prepare(wave, jax.random.key(1))
    bank = np.asarray(ready.transmittance_bank)
    assert bank.shape == (16,) and np.all((bank > 0) & (bank < 1))
    ext = math.exp(-float(wave.extinction_per_km()) * 0.5)
    assert float(ready.transmittance()) == pytest.approx(bank.mean() * ext, rel=1e-12)
    draws = np.asarray(jax.jit(jax.vmap(ready.sample))(jax.random.split(jax.random.key(2), 64)))
    assert np.all(np.min(np.abs(draws[:, None] - bank[None, :] * ext), axis=1) < 1e-12)
    assert set(ready.describe(0.0)) >= {"scintillation_index", "scintillation_index_wave_optics", "transmittance_mean"}
    si = float(ready.describe(0.0)["scintillation_index_wave_optics"][0])
    assert si == pytest.approx(bank.var() / bank.mean() ** 2)
    still = FreeSpace(model="wave_optics", **{**base, "cn2": 0.0, "pointing_jitter_urad": 0.0})
    vacuum = prepare(still, jax.random.key(1))
    w = float(FreeSpace(**base).beam_radius_m())
    np.testing.assert_allclose(vacuum.transmittance_bank, -math.expm1(-2 * 0.05**2 / w**2), rtol=2e-3)


def test_cli_refuses_an_under_resolved_grid(tmp_path):
    """A grid too small for the beam is refused before any work: one line naming the field, its
    value and the numbers, exit status 2, nothing written."""
    exe = Path(sys.executable).parent / "kqjax"
    proc = subprocess.run([str(exe), "channel=free_space", "channel.model=wave_optics", "channel.length_km=1.5",
                           "channel.wave_grid_points=64"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "channel.wave_grid_points=64" in lines[0] and "W_rx = 79.1 mm" in lines[0]
    assert not any(tmp_path.iterdir())
