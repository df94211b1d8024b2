"""The horizontal free-space channel and the beam-wander factor.

Gaussian-beam collection efficiency and visibility extinction against hand formulas; the
Vasylyev-Semenov-Vogel transmittance (PRL 108, 220501 (2012)) against the exact overlap integral;
the beam-wander factor's sample mean against its quadrature (5 standard errors, fixed seed);
config bounds and the shipped preset.
"""
import dataclasses
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import yaml
from scipy.integrate import quad
from scipy.special import i0e

from kqjax.config.build import check_group
from kqjax.config.errors import ConfigError
from kqjax.engine.params import preset, specs
from kqjax.links.base import NoFading
from kqjax.links.channels import turbulence as tb
from kqjax.links.channels.free_space import FreeSpace, extinction_per_km, size_exponent
from kqjax.links.channels.gamma_gamma import GammaGamma
from kqjax.links.channels.pointing import (
    BeamWander,
    log_transmittance_at,
    vasylyev_shape,
)

N = 200_000
CONF = Path(__file__).resolve().parents[2] / "conf" / "channel" / "free_space.yaml"


def exact_eta(r, a, w):
    """η(r) = (4/W²) e^(-2r²/W²) ∫_0^a ρ e^(-2ρ²/W²) I0(4rρ/W²) dρ: a Gaussian beam of radius W
    centred at r through a circular aperture of radius a."""
    def f(rho):
        return rho * np.exp(-2 * (rho - r) ** 2 / w**2) * i0e(4 * r * rho / w**2)
    return 4 / w**2 * quad(f, 0, a, epsabs=0, epsrel=1e-12, limit=200)[0]


# ----------------------------------------------------------------------------- the channel


def test_short_range_transmittance_is_the_gaussian_beam_formula():
    """No turbulence: η = (1 - exp(-2a²/W²)) exp(-σ_ext L) 10^(-extra/10), W = W0 (1 + (L/z_R)²)^(1/2)."""
    w0, d, length_km, lam_nm = 0.005, 0.02, 0.1, 785.0
    ch = FreeSpace(length_km=length_km, wavelength_nm=lam_nm, cn2=0.0, beam_waist_m=w0, receiver_aperture_m=d,
                   pointing_jitter_urad=0.0, visibility_km=10.0, extra_loss_db=1.5)
    z_r = np.pi * w0**2 / (lam_nm * 1e-9)
    w = w0 * np.sqrt(1 + (length_km * 1e3 / z_r) ** 2)
    sigma_ext = 3.91 / 10.0 * (lam_nm / 550.0) ** -1.3
    hand = (1 - np.exp(-2 * (d / 2) ** 2 / w**2)) * np.exp(-sigma_ext * length_km) * 10 ** -0.15
    assert not ch.random
    assert np.isclose(float(ch.transmittance()), hand, rtol=1e-12)
    assert np.isclose(float(ch.loss_db()), -10 * np.log10(hand), rtol=1e-12)
    # at L = 0 only the aperture clips the waist
    at0 = FreeSpace(length_km=0.0, beam_waist_m=0.03, receiver_aperture_m=0.05)
    assert np.isclose(float(at0.transmittance()), 1 - np.exp(-2 * 0.025**2 / 0.03**2), rtol=1e-13)


def test_turbulence_and_jitter_widen_the_long_term_beam():
    """W_eff² = W² (1 + 1.33 σ_R² Λ^(5/6)) + 4 (L θ)² in the collection efficiency."""
    ch = FreeSpace(length_km=1.2, wavelength_nm=1550.0, cn2=3e-14, beam_waist_m=0.01, receiver_aperture_m=0.08,
                   pointing_jitter_urad=5.0, visibility_km=1e4, extinction_model="kruse")
    k, length = 2 * np.pi / 1550e-9, 1200.0
    lam0 = 2 * length / (k * 0.01**2)
    w2 = 0.01**2 * (1 + lam0**2)
    s = 1.23 * 3e-14 * k ** (7 / 6) * length ** (11 / 6)
    w_eff2 = w2 * (1 + 1.33 * s * (lam0 / (1 + lam0**2)) ** (5 / 6)) + 4 * (length * 5e-6) ** 2
    coll = 1 - np.exp(-2 * 0.04**2 / w_eff2)
    ext = np.exp(-3.91e-4 * (1550 / 550) ** -1.6 * 1.2)
    assert np.isclose(float(ch.collection_efficiency()), coll, rtol=1e-12)
    assert np.isclose(float(ch.transmittance()), coll * ext, rtol=1e-12)
    calm = FreeSpace(length_km=1.2, cn2=0.0, beam_waist_m=0.01, receiver_aperture_m=0.08, pointing_jitter_urad=0.0)
    assert float(calm.collection_efficiency()) > float(ch.collection_efficiency())


def test_extinction_from_visibility():
    """σ_ext = (3.91/V)(λ/550 nm)^(-q): Kim (2001) and Kruse (1962) exponents."""
    lam = 1550.0
    for v, q_kim, q_kruse in [(60.0, 1.6, 1.6), (20.0, 1.3, 1.3), (3.0, 0.16 * 3 + 0.34, 0.585 * 3 ** (1 / 3)),
                              (0.8, 0.3, 0.585 * 0.8 ** (1 / 3)), (0.3, 0.0, 0.585 * 0.3 ** (1 / 3))]:
        assert np.isclose(float(size_exponent(v, "kim")), q_kim, rtol=1e-14)
        assert np.isclose(float(size_exponent(v, "kruse")), q_kruse, rtol=1e-14)
        assert np.isclose(float(extinction_per_km(v, lam, "kim")), 3.91 / v * (lam / 550) ** -q_kim, rtol=1e-14)
    # fog (Kim, V < 0.5 km): no wavelength dependence
    assert float(extinction_per_km(0.3, 785.0)) == float(extinction_per_km(0.3, 1550.0))
    ch = FreeSpace(length_km=2.0, visibility_km=20.0)
    assert np.isclose(float(ch.extinction_per_km()), 3.91 / 20 * (1550 / 550) ** -1.3, rtol=1e-14)
    with pytest.raises(ValueError):
        size_exponent(1.0, "beer")


def test_reported_turbulence_quantities():
    ch = FreeSpace(length_km=1.5, wavelength_nm=1550.0, cn2=1e-14, receiver_aperture_m=0.1)
    k, length = 2 * np.pi / 1550e-9, 1500.0
    assert np.isclose(float(ch.rytov_variance()), 1.23 * 1e-14 * k ** (7 / 6) * length ** (11 / 6), rtol=1e-13)
    assert np.isclose(float(ch.fried_parameter_m()), (0.423 * k**2 * 1e-14 * length) ** -0.6, rtol=1e-13)
    d2 = k * 0.1**2 / (4 * length)
    b0 = 0.5 * 1e-14 * k ** (7 / 6) * length ** (11 / 6)
    x = 0.49 * b0 / (1 + 0.18 * d2 + 0.56 * b0**1.2) ** (7 / 6)
    y = 0.51 * b0 * (1 + 0.69 * b0**1.2) ** (-5 / 6) / (1 + 0.90 * d2 + 0.62 * d2 * b0**1.2)
    assert np.isclose(float(ch.scintillation_index()), np.expm1(x + y), rtol=1e-12)
    assert np.isclose(float(ch.gamma_gamma_fading().scintillation_index()), float(ch.scintillation_index()), rtol=1e-12)
    # a point receiver scintillates more
    assert float(tb.scintillation_index(b0, "spherical")) > float(ch.scintillation_index())
    # batched fields (a sweep) and gradients
    many = FreeSpace(length_km=jnp.array([0.5, 1.0, 2.0]), cn2=jnp.array([1e-15, 1e-14, 1e-13]))
    assert np.asarray(many.scintillation_index()).shape == (3,)
    assert np.all(np.diff(np.asarray(many.rytov_variance())) > 0)
    g = jax.grad(lambda w0: FreeSpace(beam_waist_m=w0).transmittance())(0.01)
    h = 1e-6
    fd = (float(FreeSpace(beam_waist_m=0.01 + h).transmittance())
          - float(FreeSpace(beam_waist_m=0.01 - h).transmittance())) / (2 * h)
    assert np.isclose(float(g), fd, rtol=1e-6)


def test_bad_inputs_are_rejected_by_the_bounds():
    sp = specs(FreeSpace)
    assert sp["cn2"].check(-1e-15) is not None and sp["cn2"].check(0.0) is None
    assert sp["receiver_aperture_m"].check(0.0) is not None and sp["receiver_aperture_m"].check(-0.1) is not None
    assert sp["beam_waist_m"].check(0.0) is not None
    assert sp["wavelength_nm"].check(100.0) is not None and sp["wavelength_nm"].check(30000.0) is not None
    assert sp["wavelength_nm"].check(785.0) is None
    assert sp["pointing_jitter_urad"].check(-1.0) is not None and sp["visibility_km"].check(0.0) is not None
    assert sp["extinction_model"].check("beer") is not None and sp["extinction_model"].static
    assert specs(GammaGamma)["alpha"].check(0.0) is not None and specs(GammaGamma)["beta"].check(-1.0) is not None
    assert specs(BeamWander)["sigma_m"].check(-0.01) is not None
    assert specs(BeamWander)["aperture_radius_m"].check(0.0) is not None
    # the config check names the field
    good = {"kind": "free_space", "cn2": 1e-14}
    check_group("channel", good)
    for key, value in [("cn2", -1e-15), ("receiver_aperture_m", 0.0), ("wavelength_nm", 100.0),
                       ("wavelength_nm", 25000.0), ("beam_waist_m", -0.01)]:
        with pytest.raises(ConfigError, match=rf"channel\.{key}"):
            check_group("channel", {**good, key: value})
    with pytest.raises(ConfigError, match=r"channel\.fading\.alpha"):
        check_group("channel", {**good, "fading": {"kind": "gamma_gamma", "alpha": 0.0, "beta": 2.0}})


def test_preset_is_a_consistent_link():
    """The config file states every field and the defaults; its fading is the link's own turbulence:
    gamma-gamma with the link's alpha and beta (30.9 and 92.8, as its comment says) times the
    link's beam wander."""
    node = yaml.safe_load(CONF.read_text())
    assert node.pop("kind") == "free_space"
    fading = node.pop("fading")
    assert node.pop("background") == {"kind": "none"}
    assert set(node) | {"fading"} == set(specs(FreeSpace)) | {"fading"}
    sp = specs(FreeSpace)
    assert all(sp[k].check(v) is None for k, v in node.items())
    assert {k: getattr(FreeSpace(), k) for k in node} == node
    ch = preset("channel", "free_space")
    assert fading == {"kind": "turbulence", "scintillation": "gamma_gamma", "beam": "beam_wander"}
    gg, bw = [f for f in ch.factors() if f.random]
    assert isinstance(ch, FreeSpace) and isinstance(gg, GammaGamma) and isinstance(bw, BeamWander) and ch.random
    assert np.isclose(float(gg.alpha), 30.9, rtol=2e-3) and np.isclose(float(gg.beta), 92.8, rtol=2e-3)
    assert np.isclose(float(bw.sigma_m), float(ch.beam_wander_fading().sigma_m), rtol=1e-12)
    moved = dataclasses.replace(ch, cn2=1e-13, length_km=2.0)
    alpha, beta = (float(v) for v in moved.gamma_gamma_parameters())
    gg2 = next(f for f in moved.factors() if f.random)
    assert np.isclose(float(gg2.alpha), alpha, rtol=1e-12) and np.isclose(float(gg2.beta), beta, rtol=1e-12)
    assert 1.0 < float(ch.loss_db()) < 4.0 and 0.3 < float(ch.rytov_variance()) < 0.5


def test_preset_runs_in_the_engine():
    from .helpers import expected, make_link

    link, _ = make_link(["channel=free_space", "channel.length_km=[0.5,1.5]"])
    out = expected(link)
    assert out["transmittance"].shape == (2,) and np.all(np.isfinite(out["key_rate_asymptotic"]))
    assert np.all(out["key_rate_asymptotic"] > 0) and out["transmittance"][0] > out["transmittance"][1]
    ch = preset("channel", "free_space")
    assert np.isclose(out["transmittance"][1], float(ch.transmittance()), rtol=1e-10)


# ----------------------------------------------------------------------------- beam wander


@pytest.mark.parametrize("a,w", [(0.01, 0.1), (0.05, 0.07), (0.05, 0.05), (0.1, 0.05), (0.1, 0.01)])
def test_vasylyev_transmittance_against_the_exact_overlap(a, w):
    """T0² = 1 - exp(-2a²/W²), η(a) and its slope are exact; elsewhere the approximation is within 5 % of T0²."""
    t0sq, lam, _ = (float(v) for v in vasylyev_shape(a, w))
    assert np.isclose(t0sq, 1 - np.exp(-2 * a**2 / w**2), rtol=1e-14)
    assert np.isclose(t0sq, exact_eta(0.0, a, w), rtol=1e-10)
    assert np.isclose(float(jnp.exp(log_transmittance_at(a, a, w))), exact_eta(a, a, w), rtol=1e-9)
    h = 1e-6 * a  # and so is the slope of ln η there (λ and R are fixed by both)
    slope = (np.log(exact_eta(a + h, a, w)) - np.log(exact_eta(a - h, a, w))) / (2 * h)
    assert np.isclose(float(jax.grad(log_transmittance_at)(a, a, w)), slope, rtol=1e-6)
    for r in np.linspace(0, 3 * max(a, w), 16):
        assert abs(float(jnp.exp(log_transmittance_at(r, a, w))) - exact_eta(r, a, w)) < 0.05 * t0sq
    assert lam >= 2.0 - 1e-12


def test_vasylyev_small_aperture_limit():
    """a << W: λ → 2, R → W/√2, η(r) → (2a²/W²) exp(-2r²/W²) (series branch, smooth at the switch)."""
    for a in (1e-9, 1e-4, 0.1581, 0.1582):
        _, lam, radius = (float(v) for v in vasylyev_shape(a, 1.0))
        assert abs(lam - 2) < 2e-5 and abs(radius / np.sqrt(0.5) - 1) < 2e-2
    _, lam, radius = (float(v) for v in vasylyev_shape(1e-4, 1.0))
    assert np.isclose(lam, 2.0, rtol=1e-12) and np.isclose(radius, np.sqrt(0.5), rtol=1e-8)
    edge = np.sqrt(0.1 / 4)  # x = 4a²/W² = 0.1
    lo, hi = (np.array([float(v) for v in vasylyev_shape(edge * f, 1.0)]) for f in (1 - 1e-12, 1 + 1e-12))
    assert np.allclose(lo, hi, rtol=1e-11)


def test_beam_wander_factor_tends_to_t0_as_sigma_vanishes():
    a, w = 0.05, 0.07
    t0sq = 1 - np.exp(-2 * a**2 / w**2)
    for s in (1e-7, 0.0):
        bw = BeamWander(aperture_radius_m=a, beam_radius_m=w, sigma_m=s)
        assert np.isclose(float(bw.mean_transmittance()), t0sq, rtol=1e-6)
        x, v = bw.quadrature()
        assert np.allclose(np.asarray(x), 0.0, atol=1e-6) and np.isclose(float(jnp.sum(v)), 1.0)
        assert np.allclose(np.asarray(bw.sample_log(jax.random.key(0), 0.0, (5,))), 0.0, atol=1e-6)
    # with an offset and no wander, the transmittance of the offset beam
    off = BeamWander(aperture_radius_m=a, beam_radius_m=w, sigma_m=0.0, offset_m=0.03)
    assert np.isclose(float(off.mean_transmittance()), float(jnp.exp(off.log_transmittance_at(0.03))), rtol=1e-14)


@pytest.mark.parametrize("a,w,sigma,offset", [(0.05, 0.07, 0.02, 0.0), (0.05, 0.07, 0.02, 0.03),
                                              (0.05, 0.01, 0.2, 0.0), (0.1, 0.01, 0.05, 0.0)])
def test_beam_wander_sample_mean_against_quadrature(a, w, sigma, offset):
    bw = BeamWander(aperture_radius_m=a, beam_radius_m=w, sigma_m=sigma, offset_m=offset)
    x, v = bw.quadrature()
    assert np.isclose(float(jnp.sum(v * jnp.exp(x))), 1.0, rtol=1e-13)  # unit mean under the rule
    eta = np.exp(np.asarray(bw.sample_log(jax.random.key(21), 0.0, (N,)))) * float(bw.mean_transmittance())
    assert abs(eta.mean() - float(bw.mean_transmittance())) < 5 * eta.std() / np.sqrt(N)
    # second moment too
    m2 = float(jnp.sum(v * jnp.exp(2 * x))) * float(bw.mean_transmittance()) ** 2
    assert abs((eta**2).mean() - m2) < 5 * (eta**2).std() / np.sqrt(N)
    assert eta.max() <= float(bw.shape()[0]) * (1 + 1e-12)


def test_beam_wander_mean_of_a_small_aperture_is_the_convolved_beam():
    """a << W: E[η] → 2a² / (W² + 4σ²), the aperture in the long-term spot W² + 4σ²."""
    a, w, sigma = 1e-3, 0.1, 0.03
    bw = BeamWander(aperture_radius_m=a, beam_radius_m=w, sigma_m=sigma)
    assert np.isclose(float(bw.mean_transmittance()), 1 - np.exp(-2 * a**2 / (w**2 + 4 * sigma**2)), rtol=1e-3)


def test_beam_wander_density_and_gradients():
    bw = BeamWander(aperture_radius_m=0.05, beam_radius_m=0.07, sigma_m=0.02)
    t0sq = float(bw.shape()[0])
    e = np.linspace(1e-6, t0sq * (1 - 1e-9), 20001)
    p = np.exp(np.asarray(bw.transmittance_log_pdf(e)))
    assert np.isclose(np.trapezoid(p, e), 1.0, rtol=2e-3)
    assert np.isclose(np.trapezoid(p * e, e), float(bw.mean_transmittance()), rtol=2e-3)
    assert float(bw.transmittance_log_pdf(t0sq * 1.01)) == -np.inf
    # d E[η] / d σ < 0 (more wander, less light), matching a finite difference; 0 at zero offset
    def mean(s, d=0.0):
        return BeamWander(aperture_radius_m=0.05, beam_radius_m=0.07, sigma_m=s, offset_m=d).mean_transmittance()
    g = float(jax.grad(mean)(0.02))
    assert g < 0 and np.isclose(g, (float(mean(0.02 + 1e-7)) - float(mean(0.02 - 1e-7))) / 2e-7, rtol=1e-6)
    assert abs(float(jax.grad(mean, 1)(0.02, 0.0))) < 1e-3


def test_beam_wander_fading_of_the_link():
    """The channel's beam-wander factor: W_ST, σ² = ⟨r_c²⟩/2 + (Lθ)², and a channel using it keeps
    its deterministic mean far from the cap."""
    ch = FreeSpace()
    bw = ch.beam_wander_fading()
    rc2 = float(ch.beam_wander_variance_m2())
    assert np.isclose(float(bw.sigma_m) ** 2, rc2 / 2 + (1500 * 2e-6) ** 2, rtol=1e-12)
    assert np.isclose(float(bw.beam_radius_m) ** 2, float(ch.long_term_beam_radius_m()) ** 2 - rc2, rtol=1e-12)
    assert abs(float(bw.mean_transmittance()) / float(ch.collection_efficiency()) - 1) < 0.05
    faded = FreeSpace(fading=bw, extra_loss_db=3.0)
    plain = FreeSpace(extra_loss_db=3.0)
    assert faded.random and np.isclose(float(faded.transmittance()), float(plain.transmittance()), rtol=1e-10)
    assert isinstance(FreeSpace().fading, NoFading)
