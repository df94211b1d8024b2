"""Log-normal fading factor over a fiber: eta = min(eta_f exp(sigma z - sigma^2/2), 1), z ~ N(0, 1).

Monte Carlo moments against closed forms, 5 standard errors at a fixed seed. The unit-mean
log-normal factor is the weak-turbulence scintillation model of Andrews & Phillips, *Laser Beam
Propagation through Random Media*, 2nd ed. (SPIE, 2005).
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.stats import norm

from kqjax.links.channels.fiber import Fiber
from kqjax.links.channels.lognormal_fading import LognormalFading

N = 200_000


def faded(length_km, sigma, attenuation=0.2):
    return Fiber(length_km=length_km, attenuation_db_per_km=attenuation, fading=LognormalFading(sigma=sigma))


def test_factor_has_unit_mean_and_log_std_sigma():
    """At 20 dB the cap at 1 is 9 sigma away: E[eta] = eta_f and std(ln eta) = sigma."""
    ch = faded(100.0, 0.5)
    eta = np.asarray(ch.sample(jax.random.key(1), 0.0, (N,)))
    eta_f = float(Fiber(length_km=100.0, attenuation_db_per_km=0.2).transmittance())
    assert ch.random and not Fiber(length_km=1.0).random
    assert abs(eta.mean() - eta_f) < 5 * eta.std() / np.sqrt(N)
    assert np.isclose(float(ch.transmittance()), eta_f, rtol=1e-12)
    logs = np.log(eta / eta_f)
    assert abs(logs.std() - 0.5) < 5 * 0.5 / np.sqrt(2 * N)
    assert abs(logs.mean() + 0.5**2 / 2) < 5 * 0.5 / np.sqrt(N)


def test_cap_at_one_and_closed_form_mean():
    """At 0 dB half the realisations would exceed 1: E[min(X, 1)] = Phi(c - sigma) + 1 - Phi(c),
    c = sigma / 2 for eta_f = 1 (a log-normal partial expectation). The sample mean agrees within
    5 standard errors; the quadrature (the cap on a node boundary) to 1e-12."""
    sigma = 0.8
    ch = faded(0.0, sigma)
    eta = np.asarray(ch.sample(jax.random.key(2), 0.0, (N,)))
    assert eta.max() <= 1.0
    c = sigma / 2
    closed = norm.cdf(c - sigma) + 1 - norm.cdf(c)
    assert abs(eta.mean() - closed) < 5 * eta.std() / np.sqrt(N)
    assert np.isclose(float(ch.transmittance()), closed, rtol=1e-12)


@pytest.mark.parametrize("sigma", [0.4, 0.8])
def test_quadrature_is_exact_away_from_the_cap(sigma):
    """E[eta^k] = eta_f^k exp(k (k - 1) sigma^2 / 2) for the unit-mean log-normal (no cap reached),
    to rounding for sigma <= 1 (Gauss-Hermite; at sigma = 1.3 the third moment's tail is off by 3e-5)."""
    ch = faded(200.0, sigma)
    eta_f = 1e-4
    for k in (1, 2, 3):
        m = float(ch.expect(lambda e: e**k))
        assert np.isclose(m, eta_f**k * np.exp(k * (k - 1) * sigma**2 / 2), rtol=1e-12, atol=0), (k, m)


def test_no_underflow_at_high_loss_and_no_fading_at_sigma_zero():
    ch = faded(2000.0, 0.3)
    assert np.isclose(float(ch.transmittance()), 1e-40, rtol=1e-12, atol=0)
    assert np.all(np.asarray(ch.sample(jax.random.key(3), 0.0, (10,))) > 0)
    flat = faded(50.0, 0.0)
    assert np.allclose(np.asarray(flat.sample(jax.random.key(4), 0.0, (5,))), 0.1, rtol=1e-14)


def test_reparameterised_gradient_of_the_mean():
    """d/dsigma E[eta] = 0 away from the cap: the pathwise (common-random-number) gradient of
    the sample mean, eta_f mean[X (z - sigma)], is 0 within 5 standard errors."""
    key = jax.random.key(5)

    def mean_eta(s):
        return jnp.mean(faded(100.0, s).sample(key, 0.0, (N,)))

    g = float(jax.grad(mean_eta)(0.5))
    eta = np.asarray(faded(100.0, 0.5).sample(key, 0.0, (N,)))
    z = (np.log(eta / 0.01) + 0.125) / 0.5
    per = eta * (z - 0.5)  # d eta / d sigma of each realisation
    assert abs(g) < 5 * per.std() / np.sqrt(N)
    assert np.isclose(g, per.mean(), rtol=1e-9, atol=1e-15)
