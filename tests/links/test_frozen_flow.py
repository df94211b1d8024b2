"""Time-correlated (frozen-flow) scintillation and the engine's run-level key.

The spectral Gaussian process against N(0, 1) and its covariance exp(-τ²/τ_c²); the log-normal
factor's moments and covariance exp(σ² ρ) - 1; the gamma quantile against scipy's inverse of the
regularised incomplete gamma function; the gamma-gamma factor's moments
E[X²] = (1 + 1/α)(1 + 1/β) (Andrews & Phillips, *Laser Beam Propagation through Random Media*,
2nd ed., ch. 11) and covariance C_α(ρ_large) C_β(ρ_small) - 1; Taylor's correlation time
ℓ / v⊥ with ℓ = max(sqrt(L/k), D). Monte Carlo at a fixed seed within 5 standard errors.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import gammaincinv, gammainccinv
from scipy.stats import norm

from kqjax.engine import keys
from kqjax.links.base import Channel
from kqjax.links.channels import frozen_flow as ff
from kqjax.links.channels.fiber import FixedLoss
from kqjax.links.channels.lognormal_fading import LognormalFading
from kqjax.links.link import Link

N = 4000
KEY = jax.random.key(7)


def within(sample, expected, k=5.0):
    """|mean - expected| < k standard errors of the mean."""
    sample = np.asarray(sample)
    se = sample.std(ddof=1) / np.sqrt(sample.size)
    assert abs(sample.mean() - expected) < k * se, (sample.mean(), expected, se)


def series(factor_or_fn, lags, t0=3.0):
    """N independent realisations at t0 and at t0 + each lag (the same key: one time series
    each): [1 + len(lags), N]."""
    f = factor_or_fn if callable(factor_or_fn) else factor_or_fn.sample_log
    t = t0 + jnp.concatenate([jnp.zeros(1), jnp.asarray(lags, jnp.float64)])[:, None]
    return np.asarray(jax.jit(lambda t: f(KEY, t, (N,)))(t))


def test_gaussian_series_is_standard_normal_with_gaussian_covariance():
    tau, lags = 0.02, np.array([0.5, 1.0, 2.0])
    g = series(lambda k, t, s: ff.gaussian_series(k, t, tau, s), lags * tau)
    within(g[0], 0.0)
    within(g[0] ** 2, 1.0)
    within(g[0] ** 4, 3.0)
    for lag, b in zip(lags, g[1:]):
        within(g[0] * b, np.exp(-(lag**2)))


def test_frozen_series_is_constant():
    """v⊥ = 0: nothing drifts, τ_c = ∞, the realisation does not change."""
    a, b = series(lambda k, t, s: ff.gaussian_series(k, t, jnp.inf, s), [100.0])
    assert np.array_equal(a, b)


def test_correlation_time_from_frozen_flow():
    """sqrt(L/k) at 1 km, 1550 nm = sqrt(1000 x 1.55e-6 / 2π) = 1.571 cm; a 10 cm aperture sets ℓ."""
    k = 2 * np.pi / 1550e-9
    assert float(ff.fresnel_zone_m(1000.0, k)) == pytest.approx(np.sqrt(1000 * 1550e-9 / (2 * np.pi)), rel=1e-12)
    assert float(ff.scintillation_length_m(1000.0, k, 0.01)) == pytest.approx(0.015707, rel=1e-4)
    assert float(ff.scintillation_length_m(1000.0, k, 0.1)) == 0.1
    assert float(ff.correlation_time_s(0.1, 5.0)) == pytest.approx(0.02)
    large, small = ff.eddy_lengths_m(1000.0, k, 0.001, 0.005)  # ρ0 < sqrt(L/k): strong turbulence
    assert float(large) == pytest.approx(0.015707**2 / 0.005, rel=1e-3) and float(small) == 0.005


def test_lognormal_frozen_flow_moments_and_covariance():
    f = ff.LognormalFrozenFlow(sigma=0.5, correlation_length_m=0.05, transverse_speed_m_s=5.0)
    assert float(f.correlation_time_s()) == pytest.approx(0.01)
    lags = np.array([0.5, 1.0]) * 0.01
    ln_x = series(f, lags)
    x = np.exp(ln_x)
    within(ln_x[0], -0.125)
    within(x[0], 1.0)
    within(x[0] ** 2, np.exp(0.25))
    for lag, b in zip(lags, x[1:]):
        assert float(f.autocovariance(lag)) == pytest.approx(np.expm1(0.25 * np.exp(-((lag / 0.01) ** 2))))
        within(x[0] * b - 1.0, float(f.autocovariance(lag)))


def test_lognormal_frozen_flow_marginal_is_the_lognormal_factor():
    f = ff.LognormalFrozenFlow(sigma=0.7)
    for a, b in zip(f.quadrature(-0.2), LognormalFading(sigma=0.7).quadrature(-0.2)):
        assert np.array_equal(np.asarray(a), np.asarray(b))
    assert f.random and f.time_varying and f.correlated


@pytest.mark.parametrize("shape", [0.3, 1.0, 2.5, 30.9, 1e4])
def test_gamma_quantile_against_scipy(shape):
    z = np.linspace(-7.0, 7.0, 29)
    ref = np.where(z <= 0, gammaincinv(shape, norm.cdf(z)), gammainccinv(shape, norm.sf(z)))
    got = np.exp(np.asarray(ff.log_gamma_quantile(shape, z)))
    assert np.allclose(got, ref, rtol=1e-9, atol=0)


def test_gamma_copula_moment_limits():
    """C_s(1) = E[G²] = 1 + 1/s, C_s(0) = 1; increasing in ρ."""
    for s in (0.5, 2.0, 30.0):
        assert float(ff.gamma_copula_moment(s, 1.0)) == pytest.approx(1 + 1 / s, rel=1e-8)
        assert float(ff.gamma_copula_moment(s, 0.0)) == pytest.approx(1.0, rel=1e-8)
        c = [float(ff.gamma_copula_moment(s, r)) for r in (0.2, 0.5, 0.8)]
        assert c[0] < c[1] < c[2] < 1 + 1 / s


def test_gamma_gamma_frozen_flow_moments_and_covariance():
    f = ff.GammaGammaFrozenFlow(alpha=4.0, beta=2.0, large_scale_m=0.1, small_scale_m=0.02,
                                transverse_speed_m_s=10.0)
    ta, tb = (float(x) for x in f.correlation_times_s())
    assert (ta, tb) == pytest.approx((0.01, 0.002))
    lags = np.array([0.5, 1.0, 3.0]) * 0.002
    x = np.exp(series(f, lags))
    within(x[0], 1.0)
    within(x[0] ** 2, (1 + 1 / 4) * (1 + 1 / 2))
    for lag, b in zip(lags, x[1:]):
        within(x[0] * b - 1.0, float(f.autocovariance(lag)))
    assert float(f.autocovariance(0.0)) == pytest.approx(float(f.marginal().scintillation_index()), rel=1e-8)


def test_channel_sample_uses_the_run_key_for_correlated_factors_only():
    """Same run key, different block keys: the correlated factor gives the same value; a fading
    that is not correlated ignores the run key (bit-identical to a call without it)."""
    class Both(Channel):
        def factors(self):
            return (FixedLoss(3.0), ff.LognormalFrozenFlow(sigma=0.4))

    class Plain(Channel):
        def factors(self):
            return (FixedLoss(3.0), LognormalFading(sigma=0.4))

    run, k1, k2 = jax.random.key(1), jax.random.key(2), jax.random.key(3)

    @jax.jit
    def draws(run, k1, k2):
        return (Both().sample(k1, 0.5, run_key=run), Both().sample(k2, 0.5, run_key=run), Both().sample(k1, 0.5),
                Both().sample(k2, 0.5), Plain().sample(k1, 0.5, run_key=run), Plain().sample(k1, 0.5))

    d = [float(x) for x in draws(run, k1, k2)]
    assert d[0] == d[1] and d[2] != d[3] and d[4] == d[5]
    assert Both().random and Both().time_varying and not Plain().time_varying


def test_engine_blocks_see_one_time_series():
    """Link.sample_transmittance with the run's root key: every block's transmittance is the
    run's realisation of the factor at the block's time, whatever the block's own key."""
    from kqjax.links.detectors.threshold import ThresholdDetectors
    from kqjax.links.protocols.bb84_decoy import DecoyBB84
    from kqjax.links.sources.weak_coherent import WeakCoherentSource

    class Drifting(Channel):
        def factors(self):
            return (FixedLoss(10.0), ff.LognormalFrozenFlow(sigma=0.5, correlation_length_m=0.05,
                                                           transverse_speed_m_s=1.0))

    link = Link(DecoyBB84(), {"source": WeakCoherentSource(), "channel": Drifting(), "detector": ThresholdDetectors()})
    root = keys.root_key(0)
    index = jnp.arange(0, 400, 10)
    t = jax.vmap(link.block_time)(index)
    eta = jax.jit(jax.vmap(lambda i, tt: link.sample_transmittance(keys.block_key(root, i), tt, root)["channel"]))(index, t)
    run = jax.random.fold_in(keys.stream(root, "fading"), 0)
    ln_x = jax.jit(jax.vmap(lambda tt: Drifting().factors()[1].sample_log(jax.random.fold_in(run, 1), tt)))(t)
    assert np.allclose(np.asarray(eta), np.exp(np.minimum(np.asarray(ln_x) - np.log(10.0), 0.0)), rtol=1e-12)
    assert np.corrcoef(np.asarray(ln_x)[:-1], np.asarray(ln_x)[1:])[0, 1] > 0.8  # 0.66 ms apart, τ_c = 50 ms
