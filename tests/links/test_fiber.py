import jax
import numpy as np

from kqjax.links.channels.fiber import Fiber


def test_transmittance_is_ten_to_minus_loss_over_ten():
    """eta = 10^(-(alpha L + extra)/10): 100 km at 0.2 dB/km plus 3 dB."""
    f = Fiber(length_km=100.0, attenuation_db_per_km=0.2, extra_loss_db=3.0)
    assert np.isclose(float(f.transmittance()), 10 ** -2.3, rtol=1e-14)


def test_transmittance_does_not_underflow_at_1000_km():
    f = Fiber(length_km=1000.0, attenuation_db_per_km=0.2, extra_loss_db=0.0)
    assert np.isclose(float(f.transmittance()), 1e-20, rtol=1e-12, atol=0)


def test_fiber_does_not_fade():
    f = Fiber(length_km=50.0, attenuation_db_per_km=0.2, extra_loss_db=0.0)
    s = f.sample(jax.random.key(0), 0.0, (5,))
    assert np.all(np.asarray(s) == float(f.transmittance()))
