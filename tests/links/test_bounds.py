import numpy as np

from kqjax.links.protocols.bounds import plob


def test_plob_closed_form():
    """PLOB bound -log2(1 - eta) (Pirandola et al., Nat. Commun. 8, 15043, 2017)."""
    eta = np.array([0.5, 0.1, 1e-3])
    assert np.allclose(plob(eta), -np.log2(1 - eta), rtol=1e-14)


def test_plob_stable_from_0_to_1000_km():
    """At small eta the bound is eta / ln 2; at 1000 km of 0.2 dB/km fiber eta = 1e-20."""
    eta = 10 ** (-0.2 * np.linspace(0, 1000, 101) / 10)
    b = np.asarray(plob(eta[1:]))
    assert np.all(np.isfinite(b)) and np.all(b > 0) and np.all(np.diff(b) < 0)
    assert np.isclose(float(plob(1e-20)), 1e-20 / np.log(2), rtol=1e-12, atol=0)
