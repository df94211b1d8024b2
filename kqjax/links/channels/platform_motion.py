"""A moving platform at one end of a free-space link: pointing offsets in time and frozen-flow
scintillation, as one time-correlated fading of the channel's own turbulence.

The platform's residual pointing error is an angle (θx, θy) per axis; the beam centre lands at
r(t) = L |θ(t)| from the receiver's axis and is collected with the Vasylyev-Semenov-Vogel η(r) of a
Gaussian beam through a circular aperture (:func:`kqjax.links.channels.pointing.log_transmittance_at`,
PRL 108, 220501 (2012)), W the channel's long-term beam radius. Motions (``platform`` parts):

- ``still``: no motion, θ = 0;
- ``hover``: a hovering drone whose gimbal / tracking leaves a jitter of rms θ_j per axis, two
  independent Ornstein-Uhlenbeck processes of covariance θ_j² exp(-2π f_c |τ|) (corner frequency
  f_c; spectral measure Cauchy of scale 2π f_c). Then r is Rayleigh distributed (σ = L θ_j) and
  the marginal of η is the log-negative Weibull law of Vasylyev et al. (2012);
- ``ship``: roll and pitch, sinusoids of amplitudes A_r, A_p and periods T_r, T_p with independent
  uniform phases, reduced by the tracking system to the residual fraction ε:
  θx = ε A_r sin(2π t / T_r + φ_r), θy = ε A_p sin(2π t / T_p + φ_p).

The ``moving_platform`` fading (over a ``free_space`` channel) resolves into two time-correlated
factors of the channel: the pointing factor η(r(t)) / T0² (T0² = η(0), the collection of the
channel's deterministic factor; its mean E[η]/T0² is the mean pointing loss), and frozen-flow
scintillation (:mod:`kqjax.links.channels.frozen_flow`) of the channel's own scintillation index
(log-normal) or α, β (gamma-gamma), drifting at v⊥ = |v_wind + v_platform / 2| (the line of sight
through the air moves at v_platform at the moving end and not at all at the other: v/2 at the
middle, where a spherical wave's scintillation is weighted most, A&P ch. 8).

Expectations over the pointing use the rule of :class:`BeamWander` for Rayleigh offsets (hover:
the same beam deflected by σ = L θ_j per axis), and Gauss-Legendre in each phase over (0, π/2) for
the ship (8 x 8 nodes; η depends on |θx|, |θy| only).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

from kqjax.engine.params import component, param, part
from kqjax.links.base import ChannelFading, Factor
from kqjax.links.channels import frozen_flow as ff
from kqjax.links.channels.pointing import BeamWander, log_transmittance_at, vasylyev_shape

_URAD, _DEG = 1e-6, np.pi / 180.0
HOVER_NODES = 24
PHASE_NODES = 8
_LAG_X, _LAG_W = np.polynomial.laguerre.laggauss(HOVER_NODES)
_PH_X, _PH_W = np.polynomial.legendre.leggauss(PHASE_NODES)
_PHASE = 0.25 * np.pi * (_PH_X + 1.0)
_PHASE_W = _PH_W / _PH_W.sum()
SCINTILLATION_MODELS = ("lognormal", "gamma_gamma", "none")


class PlatformMotion:
    """Residual pointing angles of a platform: :meth:`offsets_rad` (a realisation at time t per
    key) and :meth:`offset_nodes` (a quadrature rule of their marginal)."""

    def offsets_rad(self, key, t, shape=()):
        """(θx, θy) at time ``t`` (rad), each of ``shape``."""
        zero = jnp.zeros(shape) + 0.0 * jnp.asarray(t, jnp.float64)
        return zero, zero

    def offset_nodes(self):
        """(θx [K], θy [K], weights [K]) of the marginal of the offsets."""
        return jnp.zeros(1), jnp.zeros(1), jnp.ones(1)

    def rayleigh_sigma_rad(self):
        """σ per axis when the offsets are two independent centred normals (|θ| Rayleigh), else NaN."""
        return jnp.nan


@component("platform", "still")
class StillPlatform(PlatformMotion):
    """No motion."""


@component("platform", "hover")
class HoveringDrone(PlatformMotion):
    """θx, θy: independent Ornstein-Uhlenbeck processes, rms θ_j, covariance exp(-2π f_c |τ|)."""

    jitter_urad: float = param(20.0, ge=0, le=1e5, unit="urad", long_name="residual pointing jitter (rms per axis)")
    bandwidth_hz: float = param(2.0, gt=0, le=1e6, unit="Hz", long_name="corner frequency of the jitter")

    def correlation(self, tau):
        """exp(-2π f_c |τ|)."""
        return jnp.exp(-2.0 * jnp.pi * self.bandwidth_hz * jnp.abs(jnp.asarray(tau, jnp.float64)))

    def offsets_rad(self, key, t, shape=()):
        scale = 2.0 * jnp.pi * jnp.asarray(self.bandwidth_hz, jnp.float64)
        kx, ky = jax.random.split(key)
        gx, gy = (ff.spectral_series(k, t, lambda u: scale * jnp.tan(jnp.pi * (u - 0.5)), shape) for k in (kx, ky))
        return self.jitter_urad * _URAD * gx, self.jitter_urad * _URAD * gy

    def offset_nodes(self):
        theta = self.jitter_urad * _URAD * jnp.sqrt(2.0 * jnp.asarray(_LAG_X))
        return theta, jnp.zeros_like(theta), jnp.asarray(_LAG_W)

    def rayleigh_sigma_rad(self):
        return self.jitter_urad * _URAD


@component("platform", "ship")
class ShipMotion(PlatformMotion):
    """Roll and pitch sinusoids (random phases) times the tracking residual fraction ε."""

    roll_deg: float = param(5.0, ge=0, le=45, unit="deg", long_name="roll amplitude")
    roll_period_s: float = param(8.0, gt=0, le=1e3, unit="s", long_name="roll period")
    pitch_deg: float = param(2.0, ge=0, le=45, unit="deg", long_name="pitch amplitude")
    pitch_period_s: float = param(5.0, gt=0, le=1e3, unit="s", long_name="pitch period")
    residual: float = param(1e-4, ge=0, le=1, long_name="fraction of the motion left by the tracking system")

    def amplitudes_rad(self):
        """(ε A_r, ε A_p)."""
        return self.residual * self.roll_deg * _DEG, self.residual * self.pitch_deg * _DEG

    def offsets_rad(self, key, t, shape=()):
        phase = jax.random.uniform(key, (2, *shape), jnp.float64, 0.0, 2.0 * jnp.pi)
        t = jnp.asarray(t, jnp.float64)
        ar, ap = self.amplitudes_rad()
        return (ar * jnp.sin(2.0 * jnp.pi * t / self.roll_period_s + phase[0]),
                ap * jnp.sin(2.0 * jnp.pi * t / self.pitch_period_s + phase[1]))

    def offset_nodes(self):
        ar, ap = self.amplitudes_rad()
        s = jnp.sin(jnp.asarray(_PHASE))
        w = jnp.asarray(_PHASE_W)
        return ((ar * s)[:, None] + 0.0 * s[None, :]).reshape(-1), (0.0 * s[:, None] + ap * s[None, :]).reshape(-1), \
            (w[:, None] * w[None, :]).reshape(-1)


@component("factor", "platform_pointing")
class PlatformPointing(Factor):
    """ln of η(L |θ(t)|) / T0²: the pointing loss of a moving platform relative to a centred beam."""

    motion: PlatformMotion = part("platform", "still")
    length_m: float = param(1e3, ge=0, unit="m", long_name="link length")
    aperture_radius_m: float = param(0.05, gt=0, unit="m", long_name="receiver aperture radius")
    beam_radius_m: float = param(0.05, gt=0, unit="m", long_name="long-term beam radius at the receiver")

    random = True
    time_varying = True
    correlated = True

    def log_eta(self, theta_x, theta_y):
        """ln η at the beam offset L |θ|."""
        r = jnp.asarray(self.length_m, jnp.float64) * jnp.hypot(theta_x, theta_y)
        return log_transmittance_at(r, self.aperture_radius_m, self.beam_radius_m)

    def log_centred(self):
        """ln T0² = ln η(0)."""
        return jnp.log(vasylyev_shape(self.aperture_radius_m, self.beam_radius_m)[0])

    def wander(self) -> BeamWander | None:
        """For Rayleigh offsets (``hover``), the beam-wander factor of the same beam and deflection
        σ = L θ_j, whose rule and density serve; None for other motions."""
        if not isinstance(self.motion, HoveringDrone):
            return None
        sigma = jnp.asarray(self.length_m, jnp.float64) * self.motion.rayleigh_sigma_rad()
        return BeamWander(aperture_radius_m=self.aperture_radius_m, beam_radius_m=self.beam_radius_m,
                          sigma_m=sigma, offset_m=jnp.zeros_like(sigma))

    def log_mean_transmittance(self):
        """ln E[η] over the marginal of the offsets, summed in logs: finite (and E[η] = 0 in
        float64) when the beam misses the aperture by many beam radii at every node."""
        if self.wander() is not None:
            return jnp.log(self.wander().mean_transmittance())
        tx, ty, w = self.motion.offset_nodes()
        return logsumexp(self.log_eta(tx, ty), b=w)

    def mean_transmittance(self):
        """E[η] over the marginal of the offsets."""
        return jnp.exp(self.log_mean_transmittance())

    def log_gain(self, t):
        """ln(E[η] / T0²): the mean pointing loss."""
        return jnp.zeros_like(jnp.asarray(t, jnp.float64)) + self.log_mean_transmittance() - self.log_centred()

    def sample_log(self, key, t, shape=()):
        tx, ty = self.motion.offsets_rad(key, t, shape)
        return self.log_eta(tx, ty) - self.log_centred()

    def quadrature(self, ceiling=jnp.inf):
        """(ln(η / E[η]) at the nodes of the offsets, weights)."""
        if self.wander() is not None:
            return self.wander().quadrature()
        tx, ty, w = self.motion.offset_nodes()
        return self.log_eta(tx, ty) - self.log_mean_transmittance(), w

    def log_pdf(self, x):
        """ln p(x) of X = η / E[η] for Rayleigh offsets (``hover``): the log-negative Weibull law
        of :meth:`BeamWander.log_pdf`; NaN for other motions."""
        if self.wander() is None:
            return jnp.full_like(jnp.asarray(x, jnp.float64), jnp.nan)
        return self.wander().log_pdf(x)


@component("fading", "moving_platform")
class MovingPlatform(ChannelFading):
    """Pointing of a moving platform and frozen-flow scintillation of the channel's turbulence
    (resolved against a ``free_space`` channel by :meth:`resolve`)."""

    scintillation: str = param("lognormal", choices=SCINTILLATION_MODELS, long_name="scintillation model")
    wind_speed_m_s: float = param(5.0, ge=-100, le=100, unit="m/s", long_name="wind speed across the line of sight")
    platform_speed_m_s: float = param(0.0, ge=-1e3, le=1e3, unit="m/s",
                                      long_name="speed of the moving end across the line of sight")
    motion: PlatformMotion = part("platform", "hover")

    CHANNELS = ("free_space",)
    time_varying = True
    correlated = True

    def transverse_speed_m_s(self):
        """v⊥ = |v_wind + v_platform / 2|."""
        return jnp.abs(jnp.asarray(self.wind_speed_m_s, jnp.float64) + 0.5 * jnp.asarray(self.platform_speed_m_s, jnp.float64))

    def pointing(self, channel) -> PlatformPointing:
        """The pointing factor over ``channel``'s length, aperture and long-term beam."""
        return PlatformPointing(motion=self.motion, length_m=channel.length_m(),
                                aperture_radius_m=channel.aperture_radius_m(),
                                beam_radius_m=channel.effective_beam_radius_m())

    def scintillation_factor(self, channel):
        """The frozen-flow factor of ``channel``'s scintillation (None for ``none``)."""
        length, k, d = channel.length_m(), channel.wavenumber(), 2.0 * channel.aperture_radius_m()
        v = self.transverse_speed_m_s()
        if self.scintillation == "lognormal":
            sigma = jnp.minimum(jnp.sqrt(jnp.log1p(channel.scintillation_index())), 5.0)
            return ff.LognormalFrozenFlow(sigma=sigma, correlation_length_m=ff.scintillation_length_m(length, k, d),
                                          transverse_speed_m_s=v)
        if self.scintillation == "gamma_gamma":
            alpha, beta = channel.gamma_gamma_parameters()
            large, small = ff.eddy_lengths_m(length, k, d, channel.fried_parameter_m() / 2.1)
            return ff.GammaGammaFrozenFlow(alpha=jnp.minimum(alpha, 1e6), beta=jnp.minimum(beta, 1e6),
                                           large_scale_m=large, small_scale_m=small, transverse_speed_m_s=v)
        return None

    def resolve(self, channel) -> tuple:
        """The scintillation and pointing factors of ``channel``; the pointing first when its
        density has a closed form (Rayleigh offsets), so that a transmittance density is built on
        it (smoother than narrow scintillation over the pointing's nodes)."""
        scint = self.scintillation_factor(channel)
        point = self.pointing(channel)
        if scint is None:
            return (point,)
        return (point, scint) if point.wander() is not None else (scint, point)

