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


def _tle(tmp_path, line1_epoch=None, line2_fields=None):
    """The shipped Micius TLE with line 1's epoch (columns 19-32) or line 2's columns replaced
    (``{(start, end): text}``, 0-based), checksums recomputed."""
    from kqjax.engine.params import data_file

    name, line1, line2 = data_file(TLE).read_text().splitlines()[:3]
    if line1_epoch is not None:
        line1 = line1[:18] + line1_epoch + line1[32:]
    for (a, b), text in (line2_fields or {}).items():
        line2 = line2[:a] + text.rjust(b - a) + line2[b:]

    def checksum(line):
        return line[:68] + str((sum(int(c) for c in line[:68] if c.isdigit()) + line[:68].count("-")) % 10)

    path = tmp_path / "sat.tle"
    path.write_text("\n".join([name, checksum(line1), checksum(line2)]) + "\n")
    return path


def _check_channel(path):
    from kqjax.config.build import check_group
    from kqjax.config.compose import compose

    return check_group("channel", compose(["experiment=satellite_micius", f"channel.tle={path}"]).channel)


@pytest.mark.parametrize("fields,why", [
    ({(8, 16): "197.3699"}, r"inclination 197\.37 deg: must be in \[0, 180\] deg"),
    ({(52, 63): "0.00000000"}, "mean motion 0 rev/day: must be > 0"),
    ({(52, 63): "-5.2391530"}, r"mean motion -5\.23915 rev/day: must be > 0"),
])
def test_impossible_orbits_are_refused_naming_the_tle(tmp_path, fields, why):
    """An element set that is no orbit is refused as channel.tle, not as 'no pass found' (pass_index)."""
    from kqjax.config.errors import ConfigError

    path = _tle(tmp_path, line2_fields=fields)
    with pytest.raises(tp.PassError, match=why) as err:
        tp.satrec(path)
    assert err.value.field == "tle"
    with pytest.raises(ConfigError, match=rf"^channel\.tle={path}: TLE {why}") as err:
        _check_channel(path)
    assert "\n" not in str(err.value)


def test_an_element_set_far_from_the_search_window_warns(tmp_path):
    """SGP4 is meant for days to weeks around the epoch: one line of warning beyond 30 days, none
    for the shipped TLE (epoch 2016-12-18 21:38, search from 2016-12-19)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _check_channel(TLE)
        _check_channel(_tle(tmp_path, line1_epoch="16335.90152003"))  # 18 days before: no warning
    path = _tle(tmp_path, line1_epoch="30353.90152003")
    with pytest.warns(UserWarning, match=rf"^TLE {path}: epoch 2030-12-19T21:38 UTC is 5113 days from the "
                                         "searched window; SGP4's accuracy degrades over days to weeks") as rec:
        _check_channel(path)
    assert len(rec) == 1 and "\n" not in str(rec[0].message)
    with pytest.warns(UserWarning, match="is 31 days from the searched window"):
        _check_channel(_tle(tmp_path, line1_epoch="17019.90152003"))  # 2017-01-19, after the 24 h search
