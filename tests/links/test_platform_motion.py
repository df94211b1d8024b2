"""Moving platforms: a hovering drone's jitter, a ship's roll and pitch, and their pointing loss.

The drone's jitter against an Ornstein-Uhlenbeck process (variance θ_j², covariance
exp(-2π f_c |τ|)); the ship's residual motion against its sinusoids (E[θ²] = (ε A)² / 2, period T);
the pointing factor's mean against the beam-wander factor of Vasylyev, Semenov, Vogel, PRL 108,
220501 (2012) (Rayleigh offsets) and against a fine midpoint rule over the phases (ship), its
density against its moments; the ``moving_platform`` fading resolved against a free-space channel.
Monte Carlo at a fixed seed within 5 standard errors.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import quad

from kqjax.config.build import check_group
from kqjax.config.errors import ConfigError
from kqjax.links.channels import frozen_flow as ff
from kqjax.links.channels.free_space import FreeSpace
from kqjax.links.channels.platform_motion import (
    HoveringDrone,
    MovingPlatform,
    PlatformPointing,
    ShipMotion,
    StillPlatform,
)
from kqjax.links.channels.pointing import BeamWander, log_transmittance_at

N = 4000
KEY = jax.random.key(11)


def within(sample, expected, k=5.0):
    sample = np.asarray(sample)
    se = sample.std(ddof=1) / np.sqrt(sample.size)
    assert abs(sample.mean() - expected) < k * se, (sample.mean(), expected, se)


def offsets(motion, times):
    """(θx, θy) [T, N] of N independent realisations (one key: one time series each)."""
    t = jnp.asarray(times, jnp.float64)[:, None]
    return [np.asarray(a) for a in jax.jit(lambda t: motion.offsets_rad(KEY, t, (N,)))(t)]


def test_hover_jitter_is_ornstein_uhlenbeck():
    drone = HoveringDrone(jitter_urad=30.0, bandwidth_hz=2.0)
    tc = 1.0 / (2 * np.pi * 2.0)
    lags = np.array([0.0, 0.5, 1.0, 2.0]) * tc
    tx, ty = offsets(drone, 1.7 + lags)
    s2 = (30e-6) ** 2
    within(tx[0], 0.0)
    within(tx[0] ** 2, s2)
    within(ty[0] ** 2, s2)
    within(tx[0] * ty[0], 0.0)
    for lag, x, y in zip(lags[1:], tx[1:], ty[1:]):
        assert float(drone.correlation(lag)) == pytest.approx(np.exp(-lag / tc))
        within(tx[0] * x, s2 * np.exp(-lag / tc))
        within(ty[0] * y, s2 * np.exp(-lag / tc))


def test_ship_motion_is_the_residual_of_roll_and_pitch():
    ship = ShipMotion(roll_deg=5.0, roll_period_s=8.0, pitch_deg=2.0, pitch_period_s=5.0, residual=1e-3)
    ar, ap = 1e-3 * np.radians(5.0), 1e-3 * np.radians(2.0)
    tx, ty = offsets(ship, [1.0, 9.0, 6.0])
    within(tx[0] ** 2, ar**2 / 2)
    within(ty[0] ** 2, ap**2 / 2)
    assert np.all(np.abs(tx) <= ar * (1 + 1e-12)) and np.all(np.abs(ty) <= ap * (1 + 1e-12))
    assert np.allclose(tx[1], tx[0], rtol=0, atol=1e-12 * ar)  # one roll period later
    assert np.allclose(ty[2], ty[0], rtol=0, atol=1e-12 * ap)  # one pitch period later


def test_hover_pointing_mean_and_density_match_beam_wander():
    """Rayleigh offsets σ = L θ_j: E[η] and the density are those of the beam-wander factor."""
    p = PlatformPointing(motion=HoveringDrone(jitter_urad=40.0, bandwidth_hz=1.0), length_m=300.0,
                         aperture_radius_m=0.025, beam_radius_m=0.018)
    wander = BeamWander(aperture_radius_m=0.025, beam_radius_m=0.018, sigma_m=300.0 * 40e-6, offset_m=0.0)
    assert float(p.mean_transmittance()) == pytest.approx(float(wander.mean_transmittance()), rel=1e-12)
    s = 300.0 * 40e-6  # E[η] = ∫ η(σ sqrt(2u)) e^-u du, u = r²/2σ²
    exact, _ = quad(lambda u: np.exp(float(log_transmittance_at(s * np.sqrt(2 * u), 0.025, 0.018)) - u), 0, np.inf,
                    epsabs=1e-14, epsrel=1e-13)
    assert float(p.mean_transmittance()) == pytest.approx(exact, rel=2e-6)
    top = float(jnp.exp(p.log_centred()) / p.mean_transmittance())  # X <= T0² / E[η]; x = top e^-l
    log_pdf = jax.jit(p.log_pdf)

    def moment(n):
        return quad(lambda l: np.exp(float(log_pdf(top * np.exp(-l)))) * (top * np.exp(-l)) ** (n + 1), 0, 60,
                    limit=200, epsabs=1e-12, epsrel=1e-10)[0]

    assert moment(0) == pytest.approx(1.0, rel=1e-6)
    assert moment(1) == pytest.approx(1.0, rel=1e-6)
    ln_x, w = p.quadrature()
    assert float(jnp.sum(w * jnp.exp(ln_x))) == pytest.approx(1.0, rel=1e-12)


def test_ship_pointing_mean_against_a_fine_rule_and_monte_carlo():
    ship = ShipMotion(residual=3e-4)
    p = PlatformPointing(motion=ship, length_m=3000.0, aperture_radius_m=0.05, beam_radius_m=0.088)
    phi = (np.arange(600) + 0.5) / 600 * 2 * np.pi
    ar, ap = (float(a) for a in ship.amplitudes_rad())
    r = 3000.0 * np.hypot(ar * np.sin(phi)[:, None], ap * np.sin(phi)[None, :])
    fine = np.exp(np.asarray(log_transmittance_at(r, 0.05, 0.088))).mean()
    assert float(p.mean_transmittance()) == pytest.approx(fine, rel=1e-6)
    draws = np.exp(np.asarray(jax.jit(lambda k: p.sample_log(k, 2.5, (N,)))(KEY)))
    within(draws, float(jnp.exp(p.log_gain(2.5))))


def test_a_beam_far_off_the_aperture_loses_everything_finitely():
    """Untracked roll of 45 deg over 3 km: the beam misses the aperture by kilometres at every
    node, E[eta] is 0 in float64, and its logarithm, the mean loss and the rule stay finite
    (ln E[eta] = max ln eta + ln sum w e^(ln eta - max), summed in logs)."""
    ship = ShipMotion(residual=1.0, roll_deg=45.0)
    p = PlatformPointing(motion=ship, length_m=3000.0, aperture_radius_m=0.05, beam_radius_m=0.088)
    tx, ty, w = ship.offset_nodes()
    log_eta = np.asarray(p.log_eta(tx, ty))
    top = log_eta.max()
    assert np.isfinite(top) and top < -1e6 and float(p.mean_transmittance()) == 0.0
    assert float(p.log_mean_transmittance()) == pytest.approx(top + np.log(np.sum(w * np.exp(log_eta - top))),
                                                              rel=1e-12)
    nodes, _ = p.quadrature()
    assert np.all(np.isfinite(np.asarray(nodes))) and np.isfinite(float(p.log_gain(1.0)))


def test_still_platform_loses_nothing():
    p = PlatformPointing(motion=StillPlatform(), length_m=1e3, aperture_radius_m=0.05, beam_radius_m=0.05)
    assert float(p.log_gain(0.0)) == pytest.approx(0.0, abs=1e-15)
    assert float(p.sample_log(KEY, 3.0)) == pytest.approx(0.0, abs=1e-15)


def test_moving_platform_resolves_against_the_free_space_channel():
    """Scintillation σ² = ln(1 + σ_I²) of the channel, ℓ = max(sqrt(L/k), D), v⊥ = v_wind + v/2;
    the pointing over the channel's long-term beam; the channel's mean is their product's."""
    fading = MovingPlatform(scintillation="lognormal", wind_speed_m_s=4.0, platform_speed_m_s=6.0,
                            motion=HoveringDrone(jitter_urad=50.0, bandwidth_hz=2.0))
    ch = FreeSpace(length_km=0.3, cn2=5e-14, beam_waist_m=0.01, receiver_aperture_m=0.05,
                   pointing_jitter_urad=0.0, fading=fading)
    point, scint = ch.factors()[-2:]  # the pointing's density first (Rayleigh offsets)
    assert isinstance(point, PlatformPointing) and isinstance(scint, ff.LognormalFrozenFlow)
    assert float(scint.sigma) ** 2 == pytest.approx(np.log1p(float(ch.scintillation_index())), rel=1e-12)
    ell = max(np.sqrt(300.0 / float(ch.wavenumber())), 0.05)
    assert float(scint.correlation_time_s()) == pytest.approx(ell / 7.0, rel=1e-12)
    assert float(point.beam_radius_m) == pytest.approx(float(ch.effective_beam_radius_m()), rel=1e-12)
    assert ch.random and ch.time_varying
    no_scint = FreeSpace(length_km=0.3, cn2=5e-14, beam_waist_m=0.01, receiver_aperture_m=0.05,
                         pointing_jitter_urad=0.0, fading=MovingPlatform(scintillation="none", motion=fading.motion))
    expected = float(ch.collection_efficiency()) * float(point.mean_transmittance()) / float(jnp.exp(point.log_centred()))
    assert float(no_scint.transmittance()) == pytest.approx(expected * float(jnp.exp(-ch.extinction_per_km() * 0.3)),
                                                            rel=1e-10)
    gg = FreeSpace(length_km=3.0, cn2=5e-15, fading=MovingPlatform(scintillation="gamma_gamma", motion=ShipMotion()))
    scint = gg.factors()[-2]
    assert isinstance(scint, ff.GammaGammaFrozenFlow)
    assert float(scint.marginal().scintillation_index()) == pytest.approx(float(gg.scintillation_index()), rel=1e-6)


def test_moving_platform_needs_a_free_space_channel():
    with pytest.raises(ValueError, match="free_space"):
        MovingPlatform().sample_log(KEY, 0.0)


def test_bad_motion_values_are_refused():
    with pytest.raises(ConfigError, match="jitter_urad"):
        check_group("channel.fading", {"kind": "moving_platform", "motion": {"kind": "hover", "jitter_urad": -1}},
                    "fading")
    with pytest.raises(ConfigError, match="residual"):
        check_group("channel.fading", {"kind": "moving_platform", "motion": {"kind": "ship", "residual": 2}},
                    "fading")
