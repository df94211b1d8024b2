import numpy as np
import pytest

from kqjax.links.protocols.bb84_decoy import h2

from .helpers import estimate, expected, gys, make_link, probabilities


def h(x):
    return -x * np.log2(x) - (1 - x) * np.log2(1 - x)


def test_h2():
    assert float(h2(0.0)) == 0.0 and float(h2(1.0)) == 0.0 and np.isclose(float(h2(0.5)), 1.0)
    assert np.isclose(float(h2(0.11)), h(0.11), rtol=1e-14)


def test_probabilities_are_a_distribution():
    link, _ = make_link(["channel.length_km=[0,100,300]", "protocol.p_z=0.8"])
    ps, po = probabilities(link)
    assert ps.shape == (3, 6) and po.shape == (3, 6, 3)
    assert np.allclose(ps.sum(-1), 1.0, atol=1e-15)
    assert np.allclose(ps.reshape(3, 3, 2).sum(-1), [0.8, 0.1, 0.1])
    q = 0.8**2 + 0.2**2
    assert np.allclose(ps[:, ::2], q * np.array([0.8, 0.1, 0.1]))
    assert np.allclose(po[:, ::2].sum(-1), ps[:, ::2], rtol=1e-14) and np.all(po[:, 1::2] == 0)


@pytest.mark.parametrize("length", [0.0, 50.0, 100.0])
def test_gllp_rate_with_exact_single_photon_terms(length):
    """R = p_mu q {Q1 [1 - h2(e1)] - f Q_mu h2(E_mu)} with Q1 = Y1 mu e^{-mu} (GLLP; Lo, Ma, Chen 2005),
    Q_mu = Y0 + 1 - e^{-eta mu}, E_mu Q_mu = e0 Y0 + e_d (1 - e^{-eta mu}) to first order (Ma et al. 2005)."""
    link, _ = gys(f"[{length}]", ["protocol.decoy=infinite"])
    r = float(expected(link)["key_rate_asymptotic"][0])
    mu, pd, ed, f = 0.5, 8.5e-7, 0.033, 1.22
    eta = 10 ** (-0.21 * length / 10) * 0.045
    y0 = 1 - (1 - pd) ** 2
    q_mu = 1 - (1 - y0) * np.exp(-eta * mu)
    pc, pw = (1 - (1 - pd) * np.exp(-(1 - ed) * eta * mu)), (1 - (1 - pd) * np.exp(-ed * eta * mu))
    e_mu = (pw * (1 - pc) + 0.5 * pc * pw) / q_mu
    y1 = 1 - (1 - pd) ** 2 * (1 - eta)
    e1 = (eta * ed * (1 - pd) + (1 - eta) * pd * (1 - pd) + (pd * pd * (1 - eta) + eta * pd) / 2) / y1
    expect = 0.8 * 0.5 * (y1 * mu * np.exp(-mu) * (1 - h(e1)) - f * q_mu * h(e_mu))
    assert np.isclose(r, expect, rtol=1e-9, atol=0)
    # and the first-order forms of Ma et al. agree to O(eta mu)
    e_ma = (0.5 * y0 + ed * (1 - np.exp(-eta * mu))) / (y0 + 1 - np.exp(-eta * mu))
    assert abs(e_mu - e_ma) <= eta * mu * e_ma


def test_decoy_bounds_are_bounds_and_tight_for_weak_decoy():
    """Vacuum + weak decoy: Y1^L <= Y1 and e1^U >= e1, approaching them as nu -> 0
    (Ma, Qi, Zhao, Lo, PRA 72, 012326, 2005, Sec. IV)."""
    lengths = "[0,40,80,120]"
    exact, _ = gys(lengths, ["protocol.decoy=infinite"])
    for nu, tol in ((0.1, 0.2), (0.01, 0.02)):
        est, _ = gys(lengths, [f"source.nu={nu}"])
        lo, hi = estimate(est, *probabilities(est)), estimate(exact, *probabilities(exact))
        y1l, y1 = np.asarray(lo["y1_lower"]), np.asarray(hi["y1_lower"])
        e1u, e1 = np.asarray(lo["e1_upper"]), np.asarray(hi["e1_upper"])
        assert np.all(y1l <= y1 * (1 + 1e-12)) and np.all(e1u >= e1 * (1 - 1e-12))
        assert np.all(y1l >= y1 * (1 - tol)) and np.all(e1u <= e1 * (1 + 2 * tol))


def test_rate_ordering_and_plob():
    """vacuum+weak <= infinite decoy <= PLOB bound (per pulse, before detector loss)."""
    lengths = "linspace:0:200:21"
    vw, _ = gys(lengths)
    inf, _ = gys(lengths, ["protocol.decoy=infinite"])
    a, b = expected(vw), expected(inf)
    assert np.all(np.asarray(a["key_rate_asymptotic"]) <= np.asarray(b["key_rate_asymptotic"]) + 1e-18)
    assert np.all(np.asarray(b["key_rate_asymptotic"]) <= np.asarray(b["plob_bound"]))


def test_gys_key_rate_vanishes_near_140_km():
    """With the GYS parameters the asymptotic decoy key reaches about 140 km and not 160 km
    (Ma, Qi, Zhao, Lo 2005, Fig. 2: maximal distance ~142 km for mu ~ 0.48)."""
    link, _ = gys("[120,160]", ["source.mu=0.48", "protocol.decoy=infinite"])
    r = expected(link)["key_rate_asymptotic"]
    assert r[0] > 0 and r[1] == 0
