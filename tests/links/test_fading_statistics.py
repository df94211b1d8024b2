"""The transmittance distribution, outage probability and key-rate quantiles of fading links
against closed forms: the log-normal law of a fiber with log-normal fading (its CDF at the
transmittance where the key rate vanishes, its quantile function, its density), the gamma-gamma
scintillation index 1/α + 1/β + 1/(αβ) of a free-space link (Andrews & Phillips, *Laser Beam
Propagation through Random Media*, 2nd ed., SPIE 2005, ch. 11) and the mixture density of
gamma-gamma scintillation times beam wander; Monte Carlo within 5 standard errors at a fixed seed."""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from scipy.stats import norm

from kqjax.links.fading_statistics import fading_statistics
from kqjax.links.link import Link

from .helpers import make_link

N = 4000
SIGMA = 1.0
LEVELS = (0.1, 0.5, 0.9)


def point(link):
    return jax.tree_util.tree_map(lambda x: x[0], link)


def rate_at(lk, eta):
    """Asymptotic key rate of decoy BB84 at a fixed transmittance."""
    e = {"channel": jnp.asarray(eta, jnp.float64)}
    return float(lk.protocol.asymptotic_rate(*lk.probabilities(e), lk.parts, e))


def cutoff(lk):
    """The transmittance below which the key rate is zero (bisection in ln η)."""
    lo, hi = np.log(1e-12), np.log(1e-1)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if rate_at(lk, np.exp(mid)) > 0 else (mid, hi)
    return np.exp(hi)


def lognormal_link():
    """Decoy BB84 over fiber with log-normal fading (σ = 1) at the length L where the closed-form
    outage is Φ(-1/2) = 0.31 (mean transmittance e^1 times the cut-off), and at L + 10 km."""
    probe, _ = make_link(["channel=lognormal_fading", "channel.length_km=[10,20]", f"channel.fading.sigma={SIGMA}"])
    eta_min = cutoff(point(probe))
    length = -10 * np.log10(eta_min * np.e) / 0.2
    channel = dataclasses.replace(probe.parts["channel"], length_km=np.array([length, length + 10.0]))
    return Link(probe.protocol, {**probe.parts, "channel": channel}), eta_min, eta_min * np.e


def test_lognormal_outage_quantiles_and_density():
    """Outage P(η < η_min) = Φ((ln(η_min/m) + σ²/2)/σ); ln of the sample quantiles against
    ln m - σ²/2 + σ Φ⁻¹(q) (standard error σ sqrt(q(1-q)/N) / φ(z_q)); the key-rate quantiles between
    the rates at the transmittance quantiles of levels q ± 5 standard errors; the density is the
    log-normal density of η; both points draw the same random numbers (η ratio 10^-0.2 of 10 km
    more fiber below the cap), another seed others."""
    link, eta_min, m = lognormal_link()
    stats = fading_statistics(link, seed=0, prng="threefry2x32", samples=N, quantiles=LEVELS)
    eta = stats["transmittance_samples"][0]
    assert stats["transmittance_samples"].shape == (2, N) and np.all((eta > 0) & (eta <= 1))
    assert np.allclose(stats["transmittance_samples"][1] / eta, 10**-0.2, rtol=1e-10)
    other = fading_statistics(link, seed=1, prng="threefry2x32", samples=N, quantiles=LEVELS)
    assert not np.allclose(other["transmittance_samples"], stats["transmittance_samples"])
    p = norm.cdf((np.log(eta_min / m) + SIGMA**2 / 2) / SIGMA)
    assert abs(stats["outage_probability"][0] - p) < 5 * np.sqrt(p * (1 - p) / N)
    lk = point(link)
    for j, q in enumerate(LEVELS):
        z = norm.ppf(q)
        se = SIGMA * np.sqrt(q * (1 - q) / N) / norm.pdf(z)
        assert abs(np.log(np.quantile(eta, q)) - (np.log(m) - SIGMA**2 / 2 + SIGMA * z)) < 5 * se, q
        dq = 5 * np.sqrt(q * (1 - q) / N)
        lo, hi = (np.exp(np.log(m) - SIGMA**2 / 2 + SIGMA * norm.ppf(v)) for v in (q - dq, q + dq))
        assert rate_at(lk, lo) <= stats["key_rate_quantile"][0, j] <= rate_at(lk, hi), q
    assert np.all(np.diff(stats["key_rate_quantile"][0]) >= 0)
    x, dens = stats["density_transmittance"][0], stats["transmittance_density"][0]
    want = norm.pdf((np.log(x / m) + SIGMA**2 / 2) / SIGMA) / (SIGMA * x)
    assert np.allclose(dens, want, rtol=1e-9)


def test_gamma_gamma_normalised_variance_is_the_scintillation_index():
    """A free-space link with gamma-gamma scintillation only (10 dB extra loss keeps the cap out of
    reach): E[(η/m)²] - 1 of the samples against the reported scintillation index, within 5
    standard errors from the gamma-gamma moments E[X⁴] - E[X²]²."""
    link, _ = make_link(["channel=free_space", "channel.length_km=1.5", "channel.cn2=[5e-14]", "channel.extra_loss_db=10",
                         "channel.fading.beam=none"])
    lk = point(link)
    ch = lk.parts["channel"]
    (gg,) = [f for f in ch.factors() if f.random]
    m = float(jnp.exp(ch.log_transmittance()))
    x = fading_statistics(link, 0, "threefry2x32", N, LEVELS)["transmittance_samples"][0] / m
    si = float(ch.scintillation_index())
    assert np.isclose(float(gg.scintillation_index()), si, rtol=1e-6) and si > 0.1
    se = np.sqrt((float(gg.moment(4)) - float(gg.moment(2)) ** 2) / N)
    assert abs(np.mean(x**2) - 1 - si) < 5 * se


def test_mixture_density_of_scintillation_and_beam_wander():
    """The free-space preset (gamma-gamma x beam wander): the mixture density over the beam-wander
    nodes gives the probability of an interval that the samples' fraction matches (binomial
    standard error), for three intervals."""
    link, _ = make_link(["channel=free_space", "channel.length_km=1.5", "channel.cn2=[3e-14]"])
    stats = fading_statistics(link, 0, "threefry2x32", N, LEVELS)
    eta, x, dens = (stats[k][0] for k in ("transmittance_samples", "density_transmittance", "transmittance_density"))
    assert np.all(np.isfinite(dens)) and np.all(dens >= 0)
    lo, mid, hi = np.quantile(x, [0.15, 0.45, 0.8])
    for a, b in ((lo, mid), (mid, hi), (lo, hi)):
        inside = (x >= a) & (x <= b)
        prob = np.trapezoid(dens[inside], x[inside])
        frac = np.mean((eta >= x[inside][0]) & (eta <= x[inside][-1]))
        assert abs(frac - prob) < 5 * np.sqrt(prob * (1 - prob) / N), (a, b)
