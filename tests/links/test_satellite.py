"""Satellite pass geometry and link budget against closed forms.

Spherical Earth: the slant range at elevation theta is d = sqrt((R + h)^2 - R^2 cos^2 theta) - R sin theta
(law of cosines in the triangle centre-station-satellite; Vallado, Fundamentals of Astrodynamics,
4th ed., Sec. 11.3). Far field into a small aperture D_R: the Friis transmission
G_T G_R (lambda / 4 pi d)^2 with the receiver's gain (pi D_R / lambda)^2 and the transmitter's
0.8145 (pi D_T / lambda)^2, the gain of an aperture under a Gaussian beam at the optimal truncation
(Klein & Degnan, Appl. Opt. 13, 2134, 1974); the uniformly lit aperture's (pi D_T / lambda)^2 is
the most any illumination gives.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from kqjax.links.channels import orbit
from kqjax.links.channels.satellite import SatellitePass

R = orbit.EARTH_RADIUS_M


def sat(**kw):
    base = dict(altitude_km=500.0, max_elevation_deg=70.0, mask_deg=10.0, pointing_jitter_urad=0.0,
                extra_loss_db=0.0, zenith_transmittance=1.0)
    return SatellitePass(**{**base, **kw})


@pytest.mark.parametrize("h_km", [400.0, 500.0, 1200.0])
def test_slant_range_and_elevation_closed_forms(h_km):
    h = h_km * 1e3
    theta = np.radians(np.linspace(0.5, 90, 60))
    psi = orbit.central_angle(jnp.asarray(theta), h)
    d = np.asarray(orbit.slant_range(psi, h))
    expect = np.sqrt((R + h) ** 2 - (R * np.cos(theta)) ** 2) - R * np.sin(theta)
    assert np.allclose(d, expect, rtol=1e-10)
    assert np.allclose(np.asarray(orbit.elevation(psi, h)), theta, atol=1e-9)
    assert np.isclose(d[-1], h, rtol=1e-9)  # zenith


def test_pass_is_symmetric_and_peaks_at_the_highest_elevation():
    s = sat()
    t = jnp.linspace(0.0, s.window_s(), 201)
    theta, d = jax.vmap(s.geometry)(t)
    theta = np.degrees(np.asarray(theta))
    assert np.isclose(theta.max(), 70.0, atol=1e-6) and np.isclose(theta[0], 10.0, atol=1e-6)
    assert np.allclose(theta, theta[::-1], atol=1e-6)
    period = 2 * np.pi / float(orbit.angular_rate(500e3))
    assert np.isclose(period, 2 * np.pi * np.sqrt(6871e3**3 / 3.986004418e14), rtol=1e-9)  # Kepler, R = 6371 km
    assert np.isclose(period / 60, 94.47, atol=0.005)
    assert 300 < float(s.window_s()) < 600  # a high pass above 10 deg lasts several minutes


def test_loss_falls_with_elevation_and_extinction_follows_the_air_mass():
    s = sat(zenith_transmittance=0.8)
    clear = sat(zenith_transmittance=1.0)
    t = jnp.linspace(0.0, s.half_window_s(), 50)  # rise to culmination
    loss = np.asarray(jax.vmap(s.loss_db)(t))
    assert np.all(np.diff(loss) < 0)
    theta = np.asarray(jax.vmap(lambda x: s.geometry(x)[0])(t))
    extinction = loss - np.asarray(jax.vmap(clear.loss_db)(t))
    am = 1 / np.sin(theta)
    high = theta > np.radians(30)  # where the air mass is the secant to < 0.3 %
    assert np.allclose(extinction[high], -10 * np.log10(0.8) * am[high], rtol=3e-3)


def test_far_field_diffraction_is_friis_with_the_truncated_gaussian_gain():
    s = sat(transmitter_aperture_m=0.1, receiver_aperture_m=0.2, wavelength_nm=1550.0)
    t = s.half_window_s()
    _, d = s.geometry(t)
    theta = s.geometry(t)[0]
    eta = float(jnp.exp(s.log_budget(t)))
    lam = 1550e-9
    friis = (np.pi * 0.1 / lam) ** 2 * (np.pi * 0.2 / lam) ** 2 * (lam / (4 * np.pi * float(d))) ** 2
    assert np.isclose(eta, 0.8145 * friis, rtol=1e-3), (eta, friis, float(theta))
    assert np.isclose(s.beam_waist_m(), 0.1 * np.sqrt(0.8145 / 8), rtol=1e-12)


def test_uplink_loses_more_than_downlink():
    down = sat(transmitter_aperture_m=0.3, receiver_aperture_m=1.0)
    up = sat(direction="uplink", transmitter_aperture_m=1.0, receiver_aperture_m=0.3)
    t = down.half_window_s()
    assert float(up.loss_db(t)) > float(down.loss_db(t)) + 10.0
    r0 = float(down.fried_parameter_m(t))
    # r0 ~ (k^2 sec(zeta) int Cn^2)^(-3/5): lambda^(6/5) and sin(elevation)^(3/5) from 5 cm at zenith,
    # 500 nm (Fried 1966; Andrews & Phillips, 2nd ed., ch. 12)
    assert np.isclose(r0, 0.05 * (785 / 500) ** 1.2 * np.sin(np.radians(70)) ** 0.6, rtol=1e-9)
