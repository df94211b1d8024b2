"""Turbulence along a satellite pass: the Cn² profile, the slant Fried parameter, downlink
scintillation with aperture averaging, uplink beam wander, and a user Cn² table.

Formulas of Andrews & Phillips, *Laser Beam Propagation through Random Media*, 2nd ed. (SPIE 2005),
"A&P": slant Rytov variance 2.25 k^(7/6) sec^(11/6)(ζ) ∫ Cn²(h) h^(5/6) [(1 - h/H)^(5/6)] dh (ch. 12;
constant Cn² gives 1.227 and 0.496 Cn² k^(7/6) L^(11/6) for the plane and spherical wave), the
aperture-averaged plane-wave scintillation index of extended Rytov theory (ch. 9, 10), the Fried
parameter (0.423 k² sec(ζ) ∫ Cn² dh)^(-3/5) (ch. 12) and the uplink beam wander
0.54 d² (λ / 2W0)² (2W0 / r0)^(5/3) (ch. 12); Hufnagel-Valley 5/7 gives r0 ≈ 5 cm at 500 nm (ch. 12).
"""
from __future__ import annotations

import itertools
import math

import jax
import numpy as np
import pytest
from scipy.integrate import quad
from scipy.special import betainc
from scipy.special import gamma as gamma_fn

from kqjax.config.build import check_group
from kqjax.config.errors import ConfigError
from kqjax.engine.params import conf_dir
from kqjax.links.channels.cn2_profile import (
    ConstantProfile,
    HufnagelValleyProfile,
    SeeingProfile,
    TableProfile,
    path_integral,
    read_cn2_table,
)
from kqjax.links.channels.satellite import SatellitePass

LAM = 785e-9
K = 2 * math.pi / LAM


def hv57(h):
    return (0.00594 * (21.0 / 27.0) ** 2 * (1e-5 * h) ** 10 * math.exp(-h / 1000.0)
            + 2.7e-16 * math.exp(-h / 1500.0) + 1.7e-14 * math.exp(-h / 100.0))


def hv_integral(power, top=30e3):
    """∫_0^top HV5/7(h) h^power dh by adaptive quadrature on the profile's scales."""
    edges = [0, 100, 1000, 5000, 10000, 20000, top]
    return sum(quad(lambda h: hv57(h) * h**power, a, b, limit=200, epsabs=0, epsrel=1e-11)[0]
               for a, b in itertools.pairwise(edges))


def sat(**kw):
    base = {"cn2_profile": HufnagelValleyProfile(), "altitude_km": 500.0, "max_elevation_deg": 80.0,
            "extra_loss_db": 0.0, "scintillation": True}
    return SatellitePass(**{**base, **kw})


def times(ch, n=7):
    return np.linspace(0.0, float(ch.window_s()), n)


def test_downlink_scintillation_follows_the_slant_rytov_formula():
    """σ_R²(ζ) = 2.25 k^(7/6) sec^(11/6) ζ ∫ Cn² h^(5/6) dh and σ_I² of the aperture-averaged plane
    wave (d² = k D² / 4 H sec ζ), from independent quadrature of HV5/7, at every elevation."""
    ch = sat()
    moment = hv_integral(5.0 / 6.0)
    for t in times(ch):
        theta = float(ch.geometry(t)[0])
        sec = 1.0 / math.sin(theta)
        rytov = 2.25 * K ** (7 / 6) * sec ** (11 / 6) * moment
        d2 = K * 1.0**2 / (4.0 * 30e3 * sec)
        s125 = rytov ** 1.2
        x = 0.49 * rytov / (1 + 0.65 * d2 + 1.11 * s125) ** (7 / 6)
        y = 0.51 * rytov * (1 + 0.69 * s125) ** (-5 / 6) / (1 + 0.90 * d2 + 0.62 * d2 * s125)
        assert float(ch.rytov_variance(t)) == pytest.approx(rytov, rel=1e-7)
        assert float(ch.scintillation_index(t)) == pytest.approx(math.expm1(x + y), rel=1e-7)
    # lower elevation, longer path through the turbulence: stronger scintillation
    s = [float(ch.scintillation_index(t)) for t in times(ch)[:4]]
    assert s[0] > s[1] > s[2] > s[3]


def test_fried_parameter_from_the_profile():
    """r0 = (0.423 k² sec ζ ∫ Cn² dh)^(-3/5) of the HV profile; HV5/7 at zenith, 500 nm: ≈ 5 cm. The
    ``seeing`` profile reproduces the closed form r0_z (λ/500 nm)^(6/5) sin^(3/5) θ."""
    ch = sat()
    integral = hv_integral(0.0)
    for t in times(ch, 4):
        theta = float(ch.geometry(t)[0])
        r0 = (0.423 * K**2 / math.sin(theta) * integral) ** (-0.6)
        assert float(ch.fried_parameter_m(t)) == pytest.approx(r0, rel=1e-7)
    r0_zenith_500 = (0.423 * (2 * math.pi / 500e-9) ** 2 * integral) ** (-0.6)
    assert 0.048 < r0_zenith_500 < 0.055
    seeing = sat(cn2_profile=SeeingProfile(), fried_parameter_zenith_cm=7.0)
    t = times(seeing, 5)[1]
    theta = float(seeing.geometry(t)[0])
    closed = float(seeing.fried_parameter_m(t))
    assert closed == pytest.approx(0.07 * (785 / 500) ** 1.2 * math.sin(theta) ** 0.6, rel=1e-12)
    # the scaled profile's own path integral gives the same r0
    k500 = 2 * math.pi / 500e-9
    r0_scaled = (0.423 * k500**2 * path_integral(seeing.cn2, 0.0, 30e3)) ** (-0.6)
    assert float(r0_scaled) == pytest.approx(0.07, rel=1e-9)


def test_uplink_and_downlink_differ_as_they_should():
    """A constant Cn² layer of height H: plane-wave (downlink) σ_R² = 2.25 (6/11) Cn² k^(7/6) L^(11/6)
    = 1.227 ..., L = H sec ζ; spherical-wave (uplink) β0² = 2.25 Cn² k^(7/6) ∫_0^L z^(5/6) (1 - z/d)^(5/6)
    dz to the satellite at slant range d (A&P ch. 12), d^(11/6) B(L/d; 11/6, 11/6) (incomplete
    beta), near the plane wave's 1.227 for a layer far below the satellite (0.496, B(11/6, 11/6),
    only for a receiver at the top of the layer). The uplink's
    beam wander is 0.54 d² (λ/2W0)² (2W0/r0)^(5/3) and its fading index κ²/(1 + 2κ) exceeds the
    downlink's aperture-averaged scintillation; the uplink loses more."""
    layer = ConstantProfile(cn2=1e-15, height_m=2000.0)
    down = sat(cn2_profile=layer)
    up = sat(cn2_profile=layer, direction="uplink", transmitter_aperture_m=1.0, receiver_aperture_m=0.3)
    t = times(down, 5)[1]
    theta = float(down.geometry(t)[0])
    length = 2000.0 / math.sin(theta)
    base = 1e-15 * K ** (7 / 6) * length ** (11 / 6)
    assert float(down.rytov_variance(t)) == pytest.approx(2.25 * 6 / 11 * base, rel=1e-7)
    beta = gamma_fn(11 / 6) ** 2 / gamma_fn(11 / 3)
    _, d = up.geometry(t)
    moment = float(d) ** (11 / 6) * beta * betainc(11 / 6, 11 / 6, length / float(d))
    assert float(up.rytov_variance(t)) == pytest.approx(2.25 * 1e-15 * K ** (7 / 6) * moment, rel=1e-6)
    assert 0.9 * 2.25 * 6 / 11 * base < float(up.rytov_variance(t)) < 2.25 * 6 / 11 * base
    assert 2.25 * 6 / 11 == pytest.approx(1.227, abs=1e-3) and 2.25 * beta == pytest.approx(0.496, abs=1e-3)
    # uplink beam wander at the satellite
    _, d = up.geometry(t)
    r0 = float(up.fried_parameter_m(t))
    two_w0 = 2 * 1.0 * math.sqrt(0.8145 / 8)  # the 1 m telescope's beam (Klein & Degnan's gain)
    rc2 = 0.54 * float(d) ** 2 * (LAM / two_w0) ** 2 * (two_w0 / r0) ** (5 / 3)
    assert float(up.beam_wander_variance_m2(t)) == pytest.approx(rc2, rel=1e-9)
    w_st2 = float(up.beam_radius_m(t)) ** 2 - rc2  # short-term beam, W_LT² - <r_c²> (A&P ch. 6)
    assert w_st2 > float(up.vacuum_beam_radius_m(t)) ** 2
    kappa = 2 * rc2 / w_st2
    assert float(up.scintillation_index(t)) == pytest.approx(kappa**2 / (1 + 2 * kappa), rel=1e-9)
    assert float(up.scintillation_index(t)) > float(down.scintillation_index(t))
    assert float(down.beam_wander_variance_m2(t)) == 0.0
    assert float(up.loss_db(t)) > float(down.loss_db(t)) + 10.0


@pytest.mark.parametrize("direction", ["downlink", "uplink"])
def test_fading_law_has_unit_mean_and_the_scintillation_index(direction):
    """The quadrature of the fading at time t: E[X] = 1 and E[X²] = 1 + σ_I²; the sample mean of
    40 000 draws at a fixed seed within 5 standard errors of 1."""
    ch = sat(direction=direction, transmitter_aperture_m=1.0 if direction == "uplink" else 0.3,
             receiver_aperture_m=0.3 if direction == "uplink" else 1.0)
    factor = ch.factors()[-1]
    t = times(ch, 5)[1]
    x, w = factor.quadrature_at(t)
    x, w = np.asarray(x), np.asarray(w)
    index = float(ch.scintillation_index(t))
    assert np.sum(w * np.exp(x)) == pytest.approx(1.0, rel=1e-9)
    assert np.sum(w * np.exp(2 * x)) == pytest.approx(1.0 + index, rel=1e-6)
    draws = np.exp(np.asarray(factor.sample_log(jax.random.PRNGKey(3), t, (40_000,))))
    assert abs(draws.mean() - 1.0) < 5.0 * math.sqrt(index / draws.size)
    # the channel's expectation uses the law at t: E[eta] is the budget without fading
    assert float(ch.transmittance(t)) == pytest.approx(math.exp(float(ch.log_transmittance(t))), rel=1e-9)
    assert ch.random and ch.time_varying


def test_table_reproduces_hv57():
    """The shipped table of HV5/7 (conf/data/cn2_hv57.csv, ln Cn² linear between rows every
    10-250 m) gives the Fried parameter and Rytov variance of the formula to within the error of
    interpolating ln Cn² linearly between the rows (at most (Δh)²/8 max |(ln Cn²)''| in ln Cn²): the
    integrals differ by 2-3e-4, checked against 1e-3."""
    data = read_cn2_table("data/cn2_hv57.csv")
    table = TableProfile(path="data/cn2_hv57.csv", **data)
    assert float(table.top_m()) == 30e3
    hv = sat()
    tab = sat(cn2_profile=table)
    for t in times(hv, 4):
        assert float(tab.fried_parameter_m(t)) == pytest.approx(float(hv.fried_parameter_m(t)), rel=1e-3)
        assert float(tab.rytov_variance(t)) == pytest.approx(float(hv.rytov_variance(t)), rel=1e-3)
    assert float(table.at(50.0)) == pytest.approx(hv57(50.0), rel=1e-3, abs=0)
    assert float(table.at(31e3)) == 0.0


@pytest.mark.parametrize("text, why", [
    ("height_m,cn2\n0,1e-14\n", "at least two rows"),
    ("h,cn2\n0,1e-14\n10,1e-15\n", "line 1: needs the columns height_m and cn2"),
    ("height_m,cn2\n0,1e-14\n0,1e-15\n", "line 3: height_m=0 must be > 0"),
    ("height_m,cn2\n0,1e-14\n10,-1\n", "line 3"),
    ("height_m,cn2\n0,1e-14\n10,abc\n", "line 3: cannot read"),
])
def test_bad_cn2_table_is_one_line_naming_the_field(tmp_path, text, why):
    path = tmp_path / "cn2.csv"
    path.write_text(text)
    node = {"kind": "satellite", "cn2_profile": {"kind": "table", "path": str(path)}}
    with pytest.raises(ConfigError) as err:
        check_group("channel", node)
    msg = str(err.value)
    assert msg.startswith("channel.cn2_profile.path=") and why in msg and "\n" not in msg
    with pytest.raises(ConfigError, match="channel.cn2_profile.path=nope.csv: no such file"):
        check_group("channel", {"kind": "satellite", "cn2_profile": {"kind": "table", "path": "nope.csv"}})


def test_describe_reports_fried_parameter_and_scintillation():
    ch = sat(cn2_profile=TableProfile(path="x", **read_cn2_table(conf_dir() / "data/cn2_hv57.csv")))
    out = ch.describe(10.0)
    assert out["fried_parameter_m"][1] == "m" and out["scintillation_index"][1] == "1"
    assert float(out["scintillation_index"][0]) == pytest.approx(float(ch.scintillation_index(10.0)))
