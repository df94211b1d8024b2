import numpy as np
import pytest

from kqjax.links.detectors.threshold import ThresholdDetectors


def det(**kw):
    base = dict(efficiency=1.0, dark_count_prob=0.0, afterpulse_prob=0.0, dead_time_ns=0.0, misalignment=0.0)
    return ThresholdDetectors(**{**base, **kw})


@pytest.mark.parametrize("lam", [1e-9, 1e-4, 0.02, 0.5, 3.0])
@pytest.mark.parametrize("pd", [0.0, 1e-8, 8.5e-7, 1e-4])
def test_gain_closed_form(lam, pd):
    """Q = Y0 + (1 - Y0)(1 - e^{-eta mu}) with Y0 = 1 - (1 - p_d)^2; Ma et al. PRA 72, 012326 (2005)
    write Q = Y0 + 1 - e^{-eta mu}, which differs by Y0 (1 - e^{-eta mu}) <= Y0."""
    d = det(dark_count_prob=pd, misalignment=0.033)
    ok, err, none = (float(x) for x in d.outcomes(lam, pd, 1.0))
    y0 = -np.expm1(2 * np.log1p(-pd))  # 1 - (1 - p_d)^2 without cancellation
    q = ok + err
    assert np.isclose(q, y0 + (1 - y0) * (-np.expm1(-lam)), rtol=1e-12, atol=0)
    assert abs(q - (y0 - np.expm1(-lam))) <= y0 * (-np.expm1(-lam)) + 4e-16 * q  # + rounding of q
    assert np.isclose(ok + err + none, 1.0, rtol=0, atol=1e-15)


@pytest.mark.parametrize("lam", [1e-6, 1e-3, 0.1])
def test_error_closed_forms(lam):
    """Per-photon misalignment e_d: the detectors see Poisson means (1-e_d) lam and e_d lam.

    p_d = 0: E Q = (1 - e^{-e_d lam}) e^{-(1-e_d) lam} + (1/2)(1 - e^{-(1-e_d) lam})(1 - e^{-e_d lam}),
    which is Ma et al.'s e_d (1 - e^{-lam}) to first order in lam (relative difference <= lam).
    """
    ed = 0.033
    ok, err, none = (float(x) for x in det(misalignment=ed).outcomes(lam, 0.0, 1.0))
    pc, pw = -np.expm1(-(1 - ed) * lam), -np.expm1(-ed * lam)
    assert np.isclose(err, pw * (1 - pc) + 0.5 * pc * pw, rtol=1e-12)
    ma = ed * (-np.expm1(-lam))
    assert abs(err - ma) <= lam * ma


def test_dark_counts_give_half_errors():
    """A pulse with no photons: QBER e0 = 1/2 (Ma et al. 2005)."""
    ok, err, none = (float(x) for x in det(dark_count_prob=1e-6).outcomes(0.0, 1e-6, 1.0))
    assert np.isclose(err / (ok + err), 0.5, rtol=1e-12)


def test_single_photon_yield_and_error():
    """Y1 = 1 - (1 - p_d)^2 (1 - t); with p_d = 0: Y1 = t and e1 = e_d exactly."""
    t, pd, ed = 1e-3, 8.5e-7, 0.033
    y1, e1y1 = (float(x) for x in det(misalignment=ed).single_photon(t, 0.0, 1.0))
    assert np.isclose(y1, t, rtol=1e-14) and np.isclose(e1y1 / y1, ed, rtol=1e-12)
    y1, e1y1 = (float(x) for x in det(dark_count_prob=pd, misalignment=ed).single_photon(t, pd, 1.0))
    assert np.isclose(y1, 1 - (1 - pd) ** 2 * (1 - t), rtol=1e-12)
    assert np.isclose(e1y1, t * ed * (1 - pd) + (1 - t) * pd * (1 - pd) + (pd * pd * (1 - t) + t * pd) / 2,
                      rtol=1e-9, atol=0)


def test_dead_time_and_afterpulse_mean_field():
    """Non-paralysable dead time: with n = f R clicks per second a detector is live a fraction
    1/(1 + n tau) of the time (G. F. Knoll, *Radiation Detection and Measurement*, 4th ed., Wiley 2010,
    sec. 4.VII, m = n / (1 + n tau)); afterpulses add p_ap R to p_d (to first order, one afterpulse
    probability per click)."""
    d = det(dark_count_prob=1e-6, afterpulse_prob=0.05, dead_time_ns=100.0)
    dark, avail = d.effective(0.1, 1e8)
    assert np.isclose(float(dark), 1e-6 + 0.005) and np.isclose(float(avail), 1 / (1 + 10 * 0.1))
