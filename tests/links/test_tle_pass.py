"""Passes of a real satellite from its TLE (SGP4), and the Sun's elevation.

The slant range of a pass obeys d = sqrt(r^2 - rs^2 cos^2 theta_c) - rs sin theta_c (law of cosines;
r: the satellite's geocentric radius, rs: the station's, theta_c: the elevation above the plane
normal to the station's geocentric radius), and the elevation above the geodetic horizon differs from
theta_c by the angle between the two verticals (0.19 deg at 40 deg latitude); the Sun's noon
elevation at the December solstice is 90 deg - latitude - 23.44 deg.
"""
import numpy as np
import pytest

from kqjax.links.channels import tle_pass as tp

TLE = "data/micius_2016-12-18.tle"
XINGLONG = (40.3959, 117.577, 890.0)


def test_micius_passes_over_xinglong():
    """Two whole passes above 10 deg on 2016-12-19: a daytime one and a night one whose slant
    range spans 645 km (highest elevation, 47.8 deg) to ~1680 km, as in Liao et al., Nature 549,
    43 (2017), who report 645-1200 km over their key-generation window."""
    sat = tp.satrec(TLE)
    passes = tp.find_passes(sat, tp.julian_date("2016-12-19T00:00:00"), 24, XINGLONG, np.radians(10))
    assert len(passes) == 2
    night = tp.pass_track(sat, passes[1][0], passes[1][1], XINGLONG, np.radians(10))
    assert np.degrees(night["sun_elevation"]).max() < -18
    assert 640e3 < night["range_m"].min() < 650e3 and np.isclose(np.degrees(night["elevation_rad"].max()), 47.8, atol=0.1)
    assert 400 < night["time_s"][-1] < 450


def test_range_and_elevation_follow_the_spherical_relation():
    sat = tp.satrec(TLE)
    jd = tp.julian_date("2016-12-19T16:46:00") + np.arange(0, 600, 5) / 86400.0
    ecef = tp.satellite_ecef(sat, jd)
    el, _, rng = tp.topocentric(ecef, *XINGLONG)
    r = np.linalg.norm(ecef, axis=-1)
    station = tp.station_ecef(*XINGLONG)
    rs = np.linalg.norm(station)
    up = el > np.radians(5)
    assert up.sum() > 20
    el_c = np.arcsin((ecef - station) @ (station / rs) / rng)
    spherical = np.sqrt(r**2 - (rs * np.cos(el_c)) ** 2) - rs * np.sin(el_c)
    assert np.allclose(rng[up], spherical[up], rtol=1e-9)
    assert np.all(np.abs(np.degrees(el - el_c)) < 0.2)


def test_sun_at_the_december_solstice():
    jd = tp.julian_date("2016-12-21T00:00:00") + np.arange(0, 86400, 60) / 86400.0
    noon = np.degrees(tp.sun_elevation(jd, XINGLONG[0], XINGLONG[1]).max())
    assert abs(noon - (90 - 40.3959 - 23.44)) < 0.2


@pytest.mark.parametrize("text,why", [
    ("1 41731U 16051A   16353.90152003  .00000364  00000-0  17957-4 0  9994\n"
     "2 41731  97.3699 267.4500 0013200 178.5836 246.0824 15.23915303 19063\n", "line 1 does not parse"),
    ("hello\nworld\n", "no TLE found"),
])
def test_bad_tles_are_refused(tmp_path, text, why):
    path = tmp_path / "bad.tle"
    path.write_text(text)
    with pytest.raises(tp.PassError, match=why):
        tp.satrec(path)
