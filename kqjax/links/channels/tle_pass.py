"""A real satellite's pass over a ground station, from a two-line element set (TLE).

The orbit is propagated with SGP4 (the ``sgp4`` package: Vallado et al., AIAA 2006-6753, the
reference implementation) in the TEME frame, rotated to Earth-fixed coordinates by the Greenwich
mean sidereal time (IAU 1982; polar motion and the equation of the equinoxes neglected: < 1 arcsec
of pointing, metres of range), and seen from a station at geodetic latitude, longitude and height
on the WGS 84 ellipsoid. Passes are found on a 10 s grid over ``search_hours`` from
``search_start_utc``; ``pass_index`` picks one of those rising above ``mask_deg`` (0: the first),
and its track is tabulated every second and interpolated. The Sun's elevation, for day and night,
comes from the low-precision solar coordinates of the Astronomical Almanac (about 0.01 deg, 1950-
2050): nothing is downloaded. An element set that is not a physical orbit is refused; one whose
epoch lies more than ``EPOCH_WARN_DAYS`` from the searched window is propagated with a warning.
"""
from __future__ import annotations

import datetime as _dt
import math
import warnings

import jax.numpy as jnp
import numpy as np

from kqjax.engine.params import component, data_file, param
from kqjax.links.channels.satellite import PassLink

WGS84_A = 6378137.0
WGS84_F = 1.0 / 298.257223563
DAY_S = 86400.0
EPOCH_WARN_DAYS = 30.0
"""Warn when the TLE's epoch is further than this from the searched window (SGP4's accuracy
degrades from about a kilometre at epoch to many kilometres over days to weeks)."""


class PassError(ValueError):
    """A TLE, a time or a pass that cannot be used: names the config field."""

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def read_tle(path) -> tuple[str, str]:
    """(line 1, line 2) of the first element set in ``path`` (an optional name line before them)."""
    path = data_file(path)  # or a TLE shipped with kqjax's configs
    if not path.is_file():
        raise PassError("tle", "no such file")
    lines = [ln.rstrip() for ln in path.read_text().splitlines() if ln.strip()]
    for i, ln in enumerate(lines[:-1]):
        if ln.startswith("1 ") and lines[i + 1].startswith("2 "):
            return ln, lines[i + 1]
    raise PassError("tle", "no TLE found (a line starting '1 ' followed by one starting '2 ')")


def satrec(path):
    """The SGP4 record of the TLE in ``path``; a TLE that does not parse raises PassError."""
    from sgp4.api import Satrec

    line1, line2 = read_tle(path)
    for n, line in ((1, line1), (2, line2)):
        if len(line) < 69 or not _checksum_ok(line):
            raise PassError("tle", f"TLE line {n} does not parse (69 characters with a valid checksum): {line}")
    try:
        sat = Satrec.twoline2rv(line1, line2)
    except Exception as err:  # the parser raises several types on malformed fields
        raise PassError("tle", f"TLE does not parse: {err}") from None
    inc = math.degrees(sat.inclo)
    if not 0.0 <= inc <= 180.0:
        raise PassError("tle", f"TLE inclination {inc:g} deg: must be in [0, 180] deg (not a physical orbit)")
    if not 0.0 <= sat.ecco < 1.0:
        raise PassError("tle", f"TLE eccentricity {sat.ecco:g}: must be in [0, 1) (not a closed orbit)")
    if not sat.no_kozai > 0.0:
        mean_motion = sat.no_kozai * 1440.0 / (2.0 * math.pi)
        raise PassError("tle", f"TLE mean motion {mean_motion:g} rev/day: must be > 0 (not an orbit)")
    return sat


def epoch_jd(sat) -> float:
    """Julian date of the TLE's epoch."""
    return sat.jdsatepoch + sat.jdsatepochF


def warn_if_stale(sat, start_jd: float, hours: float, tle) -> None:
    """Warn (one line) when the TLE's epoch is more than EPOCH_WARN_DAYS from the searched window."""
    epoch = epoch_jd(sat)
    days = max(start_jd - epoch, epoch - (start_jd + hours / 24.0), 0.0)
    if days > EPOCH_WARN_DAYS:
        when = (_dt.datetime(1970, 1, 1) + _dt.timedelta(days=epoch - 2440587.5)).strftime("%Y-%m-%dT%H:%M")
        warnings.warn(f"TLE {tle}: epoch {when} UTC is {days:.0f} days from the searched window; SGP4's "
                      "accuracy degrades over days to weeks, so the pass may be far from the real one (use an "
                      f"element set within {EPOCH_WARN_DAYS:g} days of search_start_utc)", stacklevel=3)


def _checksum_ok(line: str) -> bool:
    digits = sum(int(c) for c in line[:68] if c.isdigit()) + line[:68].count("-")
    return line[68].isdigit() and digits % 10 == int(line[68])


def julian_date(utc: str) -> float:
    """Julian date of an ISO-8601 UTC time (``2016-12-19T00:00:00``)."""
    try:
        t = _dt.datetime.fromisoformat(utc.replace("Z", "+00:00"))
    except ValueError:
        raise PassError("search_start_utc", "not an ISO-8601 UTC time, e.g. 2016-12-19T00:00:00") from None
    if t.tzinfo is not None:
        t = t.astimezone(_dt.timezone.utc).replace(tzinfo=None)
    return 2440587.5 + (t - _dt.datetime(1970, 1, 1)).total_seconds() / DAY_S


def gmst_rad(jd):
    """Greenwich mean sidereal time (IAU 1982), rad."""
    t = (jd - 2451545.0) / 36525.0
    sec = 67310.54841 + (876600.0 * 3600.0 + 8640184.812866) * t + 0.093104 * t**2 - 6.2e-6 * t**3
    return np.mod(sec / 240.0, 360.0) * np.pi / 180.0


def station_ecef(lat_deg, lon_deg, height_m):
    """Earth-fixed position of a station on the WGS 84 ellipsoid, m."""
    lat, lon = np.radians(lat_deg), np.radians(lon_deg)
    e2 = WGS84_F * (2.0 - WGS84_F)
    n = WGS84_A / np.sqrt(1.0 - e2 * np.sin(lat) ** 2)
    return np.array([(n + height_m) * np.cos(lat) * np.cos(lon), (n + height_m) * np.cos(lat) * np.sin(lon),
                     (n * (1.0 - e2) + height_m) * np.sin(lat)])


def topocentric(ecef, lat_deg, lon_deg, height_m):
    """(elevation rad, azimuth rad, range m) of Earth-fixed points ``ecef`` [..., 3] from a station."""
    lat, lon = np.radians(lat_deg), np.radians(lon_deg)
    rho = ecef - station_ecef(lat_deg, lon_deg, height_m)
    east = -np.sin(lon) * rho[..., 0] + np.cos(lon) * rho[..., 1]
    north = (-np.sin(lat) * np.cos(lon) * rho[..., 0] - np.sin(lat) * np.sin(lon) * rho[..., 1]
             + np.cos(lat) * rho[..., 2])
    up = np.cos(lat) * np.cos(lon) * rho[..., 0] + np.cos(lat) * np.sin(lon) * rho[..., 1] + np.sin(lat) * rho[..., 2]
    rng = np.sqrt(east**2 + north**2 + up**2)
    return np.arcsin(up / rng), np.mod(np.arctan2(east, north), 2 * np.pi), rng


def satellite_ecef(sat, jd):
    """Earth-fixed satellite positions at Julian dates ``jd`` [N], m (SGP4 in TEME, rotated by GMST)."""
    jd = np.asarray(jd, np.float64)
    whole = np.floor(jd)
    err, r, _ = sat.sgp4_array(whole, jd - whole)
    if np.any(err != 0):
        raise PassError("tle", f"SGP4 cannot propagate this TLE to the search time (error {int(err.max())})")
    g = gmst_rad(jd)
    x = np.cos(g) * r[:, 0] + np.sin(g) * r[:, 1]
    y = -np.sin(g) * r[:, 0] + np.cos(g) * r[:, 1]
    return np.stack([x, y, r[:, 2]], -1) * 1e3


def sun_elevation(jd, lat_deg, lon_deg):
    """Elevation of the Sun (Astronomical Almanac low-precision formulae), rad."""
    n = np.asarray(jd) - 2451545.0
    mean_lon = np.radians(np.mod(280.460 + 0.9856474 * n, 360.0))
    g = np.radians(np.mod(357.528 + 0.9856003 * n, 360.0))
    ecl = mean_lon + np.radians(1.915) * np.sin(g) + np.radians(0.020) * np.sin(2 * g)
    eps = np.radians(23.439 - 4e-7 * n)
    ra = np.arctan2(np.cos(eps) * np.sin(ecl), np.cos(ecl))
    dec = np.arcsin(np.sin(eps) * np.sin(ecl))
    hour = gmst_rad(jd) + np.radians(lon_deg) - ra
    lat = np.radians(lat_deg)
    return np.arcsin(np.sin(lat) * np.sin(dec) + np.cos(lat) * np.cos(dec) * np.cos(hour))


def sun_azimuth(jd, lat_deg, lon_deg):
    """Azimuth of the Sun from north through east (same formulae as :func:`sun_elevation`), rad."""
    n = np.asarray(jd) - 2451545.0
    g = np.radians(np.mod(357.528 + 0.9856003 * n, 360.0))
    ecl = (np.radians(np.mod(280.460 + 0.9856474 * n, 360.0)) + np.radians(1.915) * np.sin(g)
           + np.radians(0.020) * np.sin(2 * g))
    eps = np.radians(23.439 - 4e-7 * n)
    ra = np.arctan2(np.cos(eps) * np.sin(ecl), np.cos(ecl))
    dec = np.arcsin(np.sin(eps) * np.sin(ecl))
    hour = gmst_rad(jd) + np.radians(lon_deg) - ra
    lat = np.radians(lat_deg)
    return np.mod(np.arctan2(-np.cos(dec) * np.sin(hour),
                             np.sin(dec) * np.cos(lat) - np.cos(dec) * np.sin(lat) * np.cos(hour)), 2 * np.pi)


def find_passes(sat, start_jd, hours, station, mask_rad, step_s=10.0):
    """[(rise JD, set JD, highest elevation rad)] of the passes above ``mask`` in the search window."""
    jd = start_jd + np.arange(0.0, hours * 3600.0, step_s) / DAY_S
    el, _, _ = topocentric(satellite_ecef(sat, jd), *station)
    up = el > mask_rad
    edges = np.flatnonzero(np.diff(up.astype(int)))
    starts = list(edges[up[edges + 1]] + 1) if edges.size else []
    ends = list(edges[~up[edges + 1]] + 1) if edges.size else []
    if up[0]:
        starts.insert(0, 0)
    passes = []
    for s in starts:
        e = next((e for e in ends if e > s), len(jd))
        if s > 0 and e < len(jd):  # whole passes only
            passes.append((jd[s - 1], jd[e], float(el[s:e].max())))
    return passes


def pass_track(sat, rise_jd, set_jd, station, mask_rad):
    """The pass tabulated every second: time from the crossing of the mask, elevation, range, the
    Sun's elevation and the satellite's azimuth from the Sun's, [N] each; trimmed to the mask."""
    jd = rise_jd + np.arange(0.0, (set_jd - rise_jd) * DAY_S + 1.0, 1.0) / DAY_S
    el, az, rng = topocentric(satellite_ecef(sat, jd), *station)
    keep = el >= mask_rad
    jd, el, az, rng = jd[keep], el[keep], az[keep], rng[keep]
    sun_az = sun_azimuth(jd, station[0], station[1])
    return {"time_s": (jd - jd[0]) * DAY_S, "elevation_rad": el, "range_m": rng,
            "sun_elevation": sun_elevation(jd, station[0], station[1]), "start_jd": np.asarray(jd[0]),
            "relative_azimuth": np.unwrap(az - sun_az)}


@component("channel", "satellite_tle")
class TLEPass(PassLink):
    """A pass of the satellite of a TLE over a ground station (SGP4)."""

    tle: str = param("", text="a TLE file path", long_name="two-line element set of the satellite")
    station_lat_deg: float = param(40.3959, ge=-90, le=90, unit="deg", static=True, long_name="station geodetic latitude")
    station_lon_deg: float = param(117.577, ge=-180, le=360, unit="deg", static=True, long_name="station longitude (east)")
    station_height_m: float = param(890.0, ge=-500, le=9000, unit="m", static=True,
                                    long_name="station height above the ellipsoid")
    search_start_utc: str = param("", text="an ISO-8601 UTC time", long_name="start of the pass search")
    search_hours: float = param(24.0, gt=0, le=240, unit="h", static=True, long_name="length of the pass search")
    pass_index: int = param(0, ge=0, le=100, integer=True, static=True, long_name="which pass of the search (0: first)")
    time_s: object = None
    elevation_rad: object = None
    range_m: object = None
    sun_elevation: object = None
    start_jd: object = None
    relative_azimuth: object = None

    @staticmethod
    def load(values: dict) -> dict:
        """The track of the chosen pass (raises PassError naming the field)."""
        if isinstance(values["mask_deg"], np.ndarray):
            raise PassError("mask_deg", "cannot be swept inside a run over a TLE pass (use -m)")
        sat = satrec(values["tle"])
        station = (float(values["station_lat_deg"]), float(values["station_lon_deg"]),
                   float(values["station_height_m"]))
        mask = np.radians(float(values["mask_deg"]))
        start, hours = julian_date(values["search_start_utc"]), float(values["search_hours"])
        warn_if_stale(sat, start, hours, values["tle"])
        passes = find_passes(sat, start, hours, station, mask)
        k = int(values["pass_index"])
        if k >= len(passes):
            raise PassError("pass_index", f"the search finds {len(passes)} whole passes above the mask")
        return pass_track(sat, passes[k][0], passes[k][1], station, mask)

    def window_s(self):
        return self.time_s[..., -1]

    def geometry(self, t):
        return jnp.interp(t, self.time_s, self.elevation_rad), jnp.interp(t, self.time_s, self.range_m)

    def sun_position(self, t):
        """(the Sun's elevation, the satellite's azimuth from the Sun's) in rad at time ``t``."""
        return (jnp.interp(t, self.time_s, self.sun_elevation), jnp.interp(t, self.time_s, self.relative_azimuth))

    def extra_description(self, t) -> dict:
        return {"sun_elevation_deg": (jnp.degrees(jnp.interp(t, self.time_s, self.sun_elevation)), "deg",
                                      "elevation of the Sun (night below -18 deg)")}
