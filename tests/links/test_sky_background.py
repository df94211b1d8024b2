"""Background light: photons per gate from the sky's radiance, the sky models, and the detectors'
clicks and the QBER with background.

n_bg = L Ω A Δλ Δt η_rx / (h c / λ), Ω = π (θ_fov / 2)² (Miao et al., New J. Phys. 7, 215, 2005;
Bourgoin et al., New J. Phys. 15, 023006, 2013); night sky from I-band surface brightness (Patat,
A&A 400, 1183, 2003; Walker 1987) with the zero point of Bessell et al., A&A 333, 231 (1998); clear
sky zenith luminance of Karayel et al., Energy Build. 6, 283 (1984) with the CIE clear-sky
distribution; the threshold detectors' click probability 1 - (1 - p_d) exp(-η_D (m + n_bg)) and the
QBER of Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005) with the dark counts raised by the background.
"""
from __future__ import annotations

import math

import jax
import numpy as np
import pytest

from kqjax.links.channels import sky_background as sb
from kqjax.links.channels.free_space import FreeSpace
from kqjax.links.channels.satellite import SatellitePass
from kqjax.links.detectors.threshold import ThresholdDetectors, pair_outcomes
from kqjax.links.link import Link, simulate

from .helpers import make_link

H, C = 6.62607015e-34, 299792458.0


def test_photons_per_gate_by_hand():
    """L = 1e-3 W m⁻² sr⁻¹ nm⁻¹, 100 µrad, 1 m, 1 nm, 1 ns, η_rx = 0.5 at 785 nm:
    1e-3 x π(5e-5)² x π/4 x 1 x 1e-9 x 0.5 / (h c / 785 nm) = 0.01219 photons per gate."""
    part = sb.SkyBackground(sky="radiance", radiance_w_m2_sr_nm=1e-3, fov_urad=100.0, filter_nm=1.0,
                            gate_ns=1.0, optics_efficiency=0.5)
    hand = 1e-3 * (math.pi * 5e-5**2) * (math.pi / 4) * 1.0 * 1e-9 * 0.5 / (H * C / 785e-9)
    assert hand == pytest.approx(0.01219, rel=1e-3)
    assert float(part.photons(785.0, 1.0)) == pytest.approx(hand, rel=1e-12)
    # quadratic in the field of view and the aperture, linear in the filter and the gate
    wide = sb.SkyBackground(sky="radiance", radiance_w_m2_sr_nm=1e-3, fov_urad=200.0, filter_nm=3.0,
                            gate_ns=2.0, optics_efficiency=0.5)
    assert float(wide.photons(785.0, 2.0)) == pytest.approx(hand * 4 * 4 * 3 * 2, rel=1e-12)
    assert float(sb.NoBackground().photons(785.0, 1.0)) == 0.0


def test_night_radiances_from_magnitudes():
    """I = 19.9 (no Moon) and 17.5 (full Moon) mag arcsec⁻²: 1.13e-11 x 10^(-0.4 I) W m⁻² nm⁻¹ per
    (π/648000)² sr = 5.27e-9 and 4.81e-8 W m⁻² sr⁻¹ nm⁻¹."""
    sr = (math.pi / 648000.0) ** 2
    assert sb.NIGHT_RADIANCE["none"] == pytest.approx(1.13e-11 * 10 ** (-0.4 * 19.9) / sr, rel=1e-12, abs=0)
    assert sb.NIGHT_RADIANCE["none"] == pytest.approx(5.27e-9, rel=1e-3)
    assert sb.NIGHT_RADIANCE["full"] == pytest.approx(4.81e-8, rel=1e-3)


def test_clear_day_sky():
    """Karayel zenith luminance 1000 [(1.376 T - 1.81) tan γ_s + 0.38] cd m⁻² (2354 at 45°, T = 2.75);
    the CIE distribution is 1 at the zenith, brightest towards the Sun and the horizon; the Rayleigh
    spectrum converts it to ~5e-3 W m⁻² sr⁻¹ nm⁻¹ at 785 nm, darker at 1550 nm by about
    (785/1550)^4 B(1550)/B(785)."""
    sun = math.radians(45.0)
    assert float(sb.zenith_luminance(sun)) == pytest.approx(1000 * (1.376 * 2.75 - 1.81 + 0.38), rel=1e-12)
    assert float(sb.cie_clear_sky(math.pi / 2, sun, 1.0)) == pytest.approx(1.0, rel=1e-12)
    toward = float(sb.cie_clear_sky(math.radians(50), sun, 0.0))
    away = float(sb.cie_clear_sky(math.radians(50), sun, math.pi))
    assert toward > 3 * away
    # photometric closure: 683 ∫ V L(λ) dλ over the visible gives back the luminance
    lam = np.linspace(360.0, 830.0, 4701)
    spectrum = np.asarray(sb.luminance_to_radiance(1000.0, lam))
    assert 683.0 * np.trapezoid(np.asarray(sb.photopic(lam)) * spectrum, lam) == pytest.approx(1000.0, rel=1e-4)
    zenith_785 = float(sb.clear_sky_radiance(785.0, math.pi / 2, sun, 0.0))
    assert 3e-3 < zenith_785 < 8e-3
    ratio = float(sb.clear_sky_radiance(1550.0, math.pi / 2, sun, 0.0)) / zenith_785
    assert ratio == pytest.approx((785 / 1550) ** 4 * float(sb.planck(1550.0) / sb.planck(785.0)), rel=1e-9)


def test_night_is_far_darker_than_day_and_twilight_between():
    day = float(sb.clear_sky_radiance(785.0, math.radians(40), math.radians(30), 1.0))
    sunset = float(sb.clear_sky_radiance(785.0, math.radians(40), 0.0, 1.0))
    civil = float(sb.clear_sky_radiance(785.0, math.radians(40), math.radians(-6), 1.0))
    night = float(sb.clear_sky_radiance(785.0, math.radians(40), math.radians(-30), 1.0))
    assert night == pytest.approx(sb.NIGHT_RADIANCE["none"], rel=1e-12, abs=0)
    assert day > sunset > civil > night and day / night > 1e5
    # log-linear twilight: a third of the way down in ln L at -6 deg
    zenith_sunset = float(sb.luminance_to_radiance(sb.zenith_luminance(0.0), 785.0))
    assert math.log(civil) == pytest.approx(
        math.log(zenith_sunset) + (math.log(night) - math.log(zenith_sunset)) / 3, rel=1e-12)
    day_part = sb.SkyBackground(sky="day", sun_elevation_deg=30.0)
    night_part = sb.SkyBackground(sky="night")
    moon_part = sb.SkyBackground(sky="night", moon="full")
    n_day, n_night, n_moon = (float(p.photons(785.0, 1.0, math.radians(40))) for p in (day_part, night_part, moon_part))
    assert n_day > 1e5 * n_night and n_moon > 5 * n_night


def test_satellite_day_and_night_follow_the_sun():
    """``sky=sun`` over a circular pass without its own Sun uses ``sun_elevation_deg``; an uplink
    receiver sees the sunlit ground ρ E_sun sin γ_s / π."""
    day = SatellitePass(background=sb.SkyBackground(sky="sun", sun_elevation_deg=30.0))
    night = SatellitePass(background=sb.SkyBackground(sky="sun", sun_elevation_deg=-30.0))
    t = float(day.window_s()) / 2
    assert day.has_background and not SatellitePass().has_background
    assert float(day.background_photons(t)) > 1e5 * float(night.background_photons(t))
    up = SatellitePass(direction="uplink", receiver_aperture_m=0.3,
                       background=sb.SkyBackground(sky="day", sun_elevation_deg=30.0, albedo=0.3))
    ground = 0.3 * float(sb.solar_irradiance(785.0)) * 0.5 / math.pi
    expected = float(sb.photons_per_gate(ground, 785.0, 100e-6, 0.3, 1.0, 1e-9, 0.5))
    assert float(up.background_photons(t)) == pytest.approx(expected, rel=1e-12)


def test_detector_click_probability_with_background():
    """with_background(n): 1 - (1 - p_d)(1 - p_bg), p_bg = 1 - exp(-η_D n); a click on m photons is
    then 1 - (1 - p_d) exp(-η_D (m + n))."""
    det = ThresholdDetectors(efficiency=0.6, dark_count_prob=1e-6)
    n = 3e-3
    bg = det.with_background(n)
    p_bg = 1 - math.exp(-0.6 * n)
    assert float(bg.dark_count_prob) == pytest.approx(1 - (1 - 1e-6) * (1 - p_bg), rel=1e-12)
    assert float(sb.click_probability(n, 0.6)) == pytest.approx(p_bg, rel=1e-12)
    for m in (0.0, 1e-3, 0.2):
        assert float(bg.free_click(m)) == pytest.approx(1 - (1 - 1e-6) * math.exp(-0.6 * (m + n)), rel=1e-10)
    assert float(det.with_background(0.0).dark_count_prob) == pytest.approx(1e-6, rel=1e-12)


FREE_SPACE = ["channel=free_space", "channel.length_km=1.5", "~channel.fading.scintillation", "~channel.fading.beam", "channel.fading.kind=none",
              "detector.dead_time_ns=0", "detector.afterpulse_prob=0", "detector.dark_count_prob=1e-6"]
SKY = ["channel.background.kind=sky", "+channel.background.sky=radiance"]


def signal_qber(counts):
    """QBER of the signal intensity (setting 0: signal, bases agree) and its standard error."""
    right, wrong = counts[0, 0], counts[0, 1]
    e = wrong / (right + wrong)
    return e, math.sqrt(e * (1 - e) / (right + wrong))


def closed_form_qber(link, n):
    """E = P_err / (P_err + P_ok) of the signal, two detectors of dark probability
    1 - (1 - p_d) exp(-η_D n) seeing (1 - e_d) η_D m and e_d η_D m, m = μ η (double clicks: random bit)."""
    ch, det, src = link.parts["channel"], link.parts["detector"], link.parts["source"]
    m = float(src.intensities()[0]) * float(ch.transmittance())
    eta_d, e_d = float(det.efficiency), float(det.misalignment)
    dark = 1 - (1 - 1e-6) * math.exp(-eta_d * n)
    c = 1 - (1 - dark) * math.exp(-eta_d * (1 - e_d) * m)
    w = 1 - (1 - dark) * math.exp(-eta_d * e_d * m)
    ok, err, _ = pair_outcomes(c, w)
    return err / (ok + err)


def test_background_raises_the_qber_by_the_expected_amount():
    """Decoy BB84 over a 1.5 km free-space link under a sky of 0 and 0.02 W m⁻² sr⁻¹ nm⁻¹ (about
    5e-3 photons per gate; one run, the radiance swept): the simulated signal QBER (1e7 pulses,
    seed 5) agrees with the closed form within 5 standard errors at both points, and its rise with
    the expected rise, which is resolved (> 20 standard errors)."""
    link, _ = make_link(FREE_SPACE + SKY + ["+channel.background.radiance_w_m2_sr_nm=[0,0.02]"])
    points = [jax.tree_util.tree_map(lambda x, i=i: x[i], link) for i in range(2)]
    assert link.background and points[1].parts_at(0.0)["detector"] is not points[1].parts["detector"]
    n_bg = [float(p.parts["channel"].background_photons()) for p in points]
    assert n_bg[0] == 0.0 and 3e-3 < n_bg[1] < 8e-3
    out = simulate(link, pulses=10**7, seed=5, progress=False)
    (e0, s0), (e1, s1) = (signal_qber(out["counts"][i]) for i in range(2))
    m0, m1 = (closed_form_qber(p, n) for p, n in zip(points, n_bg))
    assert abs(e0 - m0) < 5 * s0 and abs(e1 - m1) < 5 * s1
    assert m1 - m0 > 20 * math.hypot(s0, s1)
    assert abs((e1 - e0) - (m1 - m0)) < 5 * math.hypot(s0, s1)


def test_no_background_leaves_the_parts_untouched():
    """Without background light ``parts_at`` is ``parts`` itself: runs are bit-identical."""
    link, _ = make_link(FREE_SPACE)
    first = jax.tree_util.tree_map(lambda x: x[0], link)
    assert first.parts_at(3.0) is first.parts
    assert isinstance(first.parts["channel"], FreeSpace) and not first.parts["channel"].has_background
    assert isinstance(first, Link)
