"""Refractive-index structure parameter profiles Cn²(h) and their path integrals.

Pure ``jnp`` functions of the height ``h`` above the ground in metres, returning Cn² in m^-2/3;
float64, and ``vmap``/``grad`` friendly (their parameters may be traced arrays).

- :func:`constant`: a horizontal path near the ground, Cn²(h) = ``cn2``.
- :func:`hufnagel_valley`: the Hufnagel-Valley model (Andrews & Phillips, *Laser Beam Propagation
  through Random Media*, 2nd ed., SPIE 2005, ch. 12)::

      Cn²(h) = 0.00594 (v/27)² (1e-5 h)^10 exp(-h/1000) + 2.7e-16 exp(-h/1500) + A exp(-h/100)

  with ``A = cn2_ground`` (m^-2/3) and ``v = wind_rms_m_s`` the rms (pseudo)wind speed along the
  vertical path (m/s). The defaults A = 1.7e-14 and v = 21 m/s are HV5/7: Fried parameter
  r0 ≈ 5 cm and isoplanatic angle θ0 ≈ 7 µrad at 0.5 µm at zenith.

Path integrals along a slant path from height ``h0`` up to ``h1`` at zenith angle ζ (flat Earth,
z = (h - h0) sec ζ the distance along the path from ``h0``)::

    path_moment = ∫ Cn² z^p (1 - z/Z)^q dz
                = sec^(1+p)(ζ) ∫_{h0}^{h1} Cn²(h) (h - h0)^p (1 - (h - h0)/(h1 - h0))^q dh

(:func:`path_moment`; p = 0, q = 0 is the plain path integral :func:`path_integral` of the Fried
parameter; p = 5/3 that of the isoplanatic angle; p = 5/6 (and q = 5/6 for an uplink) that of the
slant Rytov variance; see :mod:`kqjax.links.channels.turbulence`). The integral is a composite
Gauss-Legendre rule on fixed height segments that resolve the 100 m boundary layer and the 10 km
tropopause bump of the Hufnagel-Valley profile (segments beyond ``h1`` are empty), graded
geometrically towards ``h1`` when q != 0; relative error below 1e-8 against adaptive quadrature.

A slant-path channel takes its profile as a ``cn2_profile`` part: ``seeing`` (HV5/7 scaled by the
channel to its zenith Fried parameter), ``hv`` (``cn2_ground``, ``wind_rms_m_s``), ``constant``
(``cn2`` up to ``height_m``) or ``table`` (``path``: a CSV of ``height_m``, ``cn2``, ln Cn² linear in
h between the rows; ``conf/data/cn2_hv57.csv`` tabulates HV5/7).
"""
from __future__ import annotations

import csv
import math

import jax.numpy as jnp
import numpy as np

from kqjax.engine.params import component, data_file, param

HV57_CN2_GROUND = 1.7e-14
"""A of the HV5/7 profile (m^-2/3)."""
HV57_WIND_RMS = 21.0
"""rms wind of the HV5/7 profile (m/s)."""

# Height segments above h0 (m); the last segment runs from 100 km to h1 when h1 is higher.
_BREAKS = np.array([0.0, 30.0, 100.0, 300.0, 700.0, 1500.0, 3000.0, 5000.0, 7500.0, 10000.0,
                    12500.0, 15000.0, 20000.0, 30000.0, 50000.0, 100000.0])
_NODES = 32
_GL_X, _GL_W = np.polynomial.legendre.leggauss(_NODES)
_GRADED = 0.5 ** np.arange(1, 25)  # fractions of the path below its top end


def constant(h, cn2):
    """Cn²(h) = ``cn2`` at every height (a horizontal path), m^-2/3."""
    h = jnp.asarray(h, jnp.float64)
    return jnp.zeros_like(h) + cn2


def hufnagel_valley(h, cn2_ground=HV57_CN2_GROUND, wind_rms_m_s=HV57_WIND_RMS):
    """Hufnagel-Valley Cn²(h) (m^-2/3) at height ``h`` (m) above the ground (A&P ch. 12); HV5/7 by
    default."""
    h = jnp.asarray(h, jnp.float64)
    return (0.00594 * (wind_rms_m_s / 27.0) ** 2 * (1e-5 * h) ** 10 * jnp.exp(-h / 1000.0)
            + 2.7e-16 * jnp.exp(-h / 1500.0) + cn2_ground * jnp.exp(-h / 100.0))


def sec(zenith_rad):
    """sec ζ (zenith angle in radians)."""
    return 1.0 / jnp.cos(zenith_rad)


def _segments(top, graded=False):
    """Gauss-Legendre nodes u [M] and weights [M] on (0, top) over the fixed segments, plus
    segments graded geometrically towards ``top`` (``graded``: for a (1 - u/top)^q weight)."""
    top = jnp.asarray(top, jnp.float64)
    breaks = jnp.minimum(jnp.asarray(_BREAKS), top)
    if graded:
        breaks = jnp.sort(jnp.concatenate([breaks, top * (1.0 - jnp.asarray(_GRADED))]))
    lo = breaks
    hi = jnp.append(breaks[1:], top)
    half = 0.5 * (hi - lo)
    u = (lo + half)[:, None] + half[:, None] * jnp.asarray(_GL_X)
    w = half[:, None] * jnp.asarray(_GL_W)
    return u.reshape(-1), w.reshape(-1)


def path_moment(profile, h0=0.0, h1=30e3, zenith_rad=0.0, power=0.0, taper=0.0, end=None):
    """sec^(1+p)(ζ) ∫_{h0}^{h1} Cn²(h) (h - h0)^p (1 - (h - h0)/(H - h0))^q dh, p = ``power``,
    q = ``taper`` (units m^(1/3 + p)): the moment ∫ Cn² z^p (1 - z/Z)^q dz along the slant path,
    whose end is at height H = ``end`` (default ``h1``; above the turbulence, Cn² = 0 up to it).

    ``profile`` maps heights (m) to Cn² (m^-2/3), e.g. ``functools.partial(hufnagel_valley,
    cn2_ground=...)``. Scalar ``h0``, ``h1``, ``end`` and ``zenith_rad`` (vmap for batches).
    """
    h0 = jnp.asarray(h0, jnp.float64)
    top = jnp.maximum(jnp.asarray(h1, jnp.float64) - h0, 0.0)
    u, w = _segments(top, graded=not (isinstance(taper, (int, float)) and taper == 0))
    length = top if end is None else jnp.maximum(jnp.asarray(end, jnp.float64) - h0, top)
    span = jnp.where(length > 0, length, 1.0)
    f = profile(h0 + u) * u**power * jnp.clip(1.0 - u / span, 0.0, 1.0) ** taper
    return sec(zenith_rad) ** (1.0 + power) * jnp.sum(w * f)


def path_integral(profile, h0=0.0, h1=30e3, zenith_rad=0.0):
    """sec(ζ) ∫_{h0}^{h1} Cn²(h) dh (m^1/3): ∫ Cn² dz along the slant path."""
    return path_moment(profile, h0, h1, zenith_rad, 0.0)


# ----------------------------------------------------------------------------- profile parts
#
# The ``cn2_profile`` part of a slant-path channel: ``at(h)`` gives Cn²(h) (m^-2/3) at heights h (m)
# above the ground, ``top_m()`` the top of the turbulence, and ``scaled`` whether the channel scales
# the profile to its own seeing (the ``seeing`` kind).

TOP_M = 30e3
"""Top of the Hufnagel-Valley turbulence for path integrals (m)."""


class Cn2TableError(ValueError):
    """A Cn² table that cannot be read: the message names the line."""

    field = "path"


def read_cn2_table(path) -> dict:
    """``{"height_m": [N], "log_cn2": [N]}`` from a CSV with the columns ``height_m`` (increasing,
    >= 0) and ``cn2`` (> 0, m^-2/3); '#' lines are comments. A relative path is also looked up in
    kqjax's conf/ (``data/cn2_hv57.csv``)."""
    path = data_file(path)
    if not path.is_file():
        raise Cn2TableError("no such file")
    with path.open(newline="") as f:
        rows = list(csv.reader(line for line in f if line.strip() and not line.lstrip().startswith("#")))
    head = [h.strip() for h in rows[0]] if rows else []
    if "height_m" not in head or "cn2" not in head:
        raise Cn2TableError(f"line 1: needs the columns height_m and cn2; has {', '.join(head) or 'nothing'}")
    ih, ic = head.index("height_m"), head.index("cn2")
    heights, values = [], []
    for line, row in enumerate(rows[1:], start=2):
        try:
            h, c = float(row[ih]), float(row[ic])
        except (ValueError, IndexError):
            raise Cn2TableError(f"line {line}: cannot read height_m and cn2 from {','.join(row)}") from None
        if not (math.isfinite(h) and math.isfinite(c)) or h < 0 or c <= 0:
            raise Cn2TableError(f"line {line}: height_m={row[ih].strip()} must be >= 0 and cn2={row[ic].strip()} > 0")
        if heights and h <= heights[-1]:
            raise Cn2TableError(f"line {line}: height_m={h:g} must be > {heights[-1]:g} (increasing)")
        heights.append(h)
        values.append(c)
    if len(heights) < 2:
        raise Cn2TableError("needs at least two rows")
    return {"height_m": np.asarray(heights), "log_cn2": np.log(np.asarray(values))}


@component("cn2_profile", "seeing")
class SeeingProfile:
    """The HV5/7 shape, scaled by the channel so that its zenith Fried parameter at 500 nm is the
    channel's ``fried_parameter_zenith_cm``."""

    scaled = True

    def at(self, h):
        return hufnagel_valley(h)

    def top_m(self):
        return TOP_M


@component("cn2_profile", "hv")
class HufnagelValleyProfile:
    """Hufnagel-Valley Cn²(h) with its ground Cn² and rms wind (HV5/7 by default)."""

    cn2_ground: float = param(HV57_CN2_GROUND, ge=0, le=1e-10, unit="m^-2/3", long_name="ground Cn2 (HV A)")
    wind_rms_m_s: float = param(HV57_WIND_RMS, ge=0, le=100, unit="m/s", long_name="rms wind (HV)")

    scaled = False

    def at(self, h):
        return hufnagel_valley(h, self.cn2_ground, self.wind_rms_m_s)

    def top_m(self):
        return TOP_M


@component("cn2_profile", "constant")
class ConstantProfile:
    """Cn²(h) = ``cn2`` from the ground up to ``height_m``, 0 above."""

    cn2: float = param(1e-15, ge=0, le=1e-10, unit="m^-2/3", long_name="Cn2 of the turbulent layer")
    height_m: float = param(2000.0, gt=0, le=1e5, unit="m", long_name="height of the turbulent layer")

    scaled = False

    def at(self, h):
        h = jnp.asarray(h, jnp.float64)
        return jnp.where(h <= self.height_m, constant(h, self.cn2), 0.0)

    def top_m(self):
        return jnp.asarray(self.height_m, jnp.float64)


@component("cn2_profile", "table")
class TableProfile:
    """A measured Cn²(h) table (:func:`read_cn2_table`): ln Cn² linear in h between the rows, the
    first row's value below it, 0 above the last row."""

    path: str = param("", text="a CSV file path (height_m, cn2)", long_name="Cn2 profile table")
    height_m: object = None
    log_cn2: object = None

    scaled = False

    @staticmethod
    def load(values: dict) -> dict:
        return read_cn2_table(values["path"])

    def at(self, h):
        h = jnp.asarray(h, jnp.float64)
        inside = h <= self.height_m[..., -1]
        return jnp.where(inside, jnp.exp(jnp.interp(h, self.height_m, self.log_cn2)), 0.0)

    def top_m(self):
        return self.height_m[..., -1]
