"""Pass geometry of a satellite over a ground station on a spherical Earth.

Circular orbit of altitude h over a sphere of radius R_E, Earth's rotation neglected over a pass
(a LEO pass lasts minutes; the ground track moves by < 0.5 deg). The satellite moves on a great
circle at angular rate w = sqrt(GM / (R_E + h)^3); its central angle to the station psi(t) obeys
the spherical right-triangle relation
    cos psi(t) = cos psi_min cos(w t)        (t = 0 at closest approach),
with psi_min the central angle at the highest elevation theta_max of the pass:
    psi(theta) = arccos(R_E cos(theta) / (R_E + h)) - theta.
Slant range and elevation follow from the triangle centre-station-satellite:
    d = sqrt(R_E^2 + (R_E + h)^2 - 2 R_E (R_E + h) cos psi),
    sin(theta) = ((R_E + h) cos psi - R_E) / d
(e.g. Bourgoin et al., New J. Phys. 15, 023006, 2013, Sec. 3; Vallado, *Fundamentals of
Astrodynamics and Applications*, 4th ed., 2013, Sec. 11.3). All functions are jnp, vmap and grad
friendly.
"""
from __future__ import annotations

import jax.numpy as jnp

EARTH_RADIUS_M = 6_371_000.0
"""Mean Earth radius (IUGG), m."""
GM_EARTH = 3.986004418e14
"""Earth's gravitational parameter (WGS 84), m^3 s^-2."""


def angular_rate(altitude_m):
    """Orbital angular rate sqrt(GM / r^3) of a circular orbit, rad/s."""
    return jnp.sqrt(GM_EARTH / (EARTH_RADIUS_M + altitude_m) ** 3)


def central_angle(elevation_rad, altitude_m):
    """Central angle psi between the station and the sub-satellite point at elevation theta."""
    r = EARTH_RADIUS_M + altitude_m
    return jnp.arccos(EARTH_RADIUS_M * jnp.cos(elevation_rad) / r) - elevation_rad


def slant_range(psi, altitude_m):
    """Station-satellite distance at central angle ``psi``, m."""
    r = EARTH_RADIUS_M + altitude_m
    return jnp.sqrt(EARTH_RADIUS_M**2 + r**2 - 2.0 * EARTH_RADIUS_M * r * jnp.cos(psi))


def elevation(psi, altitude_m):
    """Elevation of the satellite at central angle ``psi``, rad."""
    r = EARTH_RADIUS_M + altitude_m
    return jnp.arcsin((r * jnp.cos(psi) - EARTH_RADIUS_M) / slant_range(psi, altitude_m))


def pass_angle(t, altitude_m, max_elevation_rad):
    """psi(t) with cos psi = cos psi_min cos(w t), t in s from closest approach."""
    psi_min = central_angle(max_elevation_rad, altitude_m)
    phase = jnp.clip(angular_rate(altitude_m) * t, -jnp.pi, jnp.pi)
    return jnp.arccos(jnp.clip(jnp.cos(psi_min) * jnp.cos(phase), -1.0, 1.0))


def pass_half_duration(altitude_m, max_elevation_rad, mask_rad):
    """Time from the rise above ``mask`` to closest approach, s (0 if the pass stays below it)."""
    psi_min = central_angle(max_elevation_rad, altitude_m)
    psi_mask = central_angle(mask_rad, altitude_m)
    c = jnp.clip(jnp.cos(psi_mask) / jnp.cos(psi_min), -1.0, 1.0)
    return jnp.where(max_elevation_rad > mask_rad, jnp.arccos(c) / angular_rate(altitude_m), 0.0)


def air_mass(elevation_rad):
    """Relative air mass of a spherical atmosphere (Kasten & Young, Appl. Opt. 28, 4735, 1989):
    1 / [sin(theta) + 0.50572 (theta_deg + 6.07995)^-1.6364]; sec(zenith) above ~20 deg."""
    deg = jnp.degrees(elevation_rad)
    return 1.0 / (jnp.sin(elevation_rad) + 0.50572 * jnp.maximum(deg + 6.07995, 1e-3) ** -1.6364)
