import numpy as np
import pytest

from kqjax.engine.grid import Axis, Grid, SweepSyntaxError, parse_values


def test_range_forms_agree():
    assert np.array_equal(parse_values("linspace(0, 250, 51)"), np.linspace(0, 250, 51))
    assert np.array_equal(parse_values("linspace:0:250:51"), np.linspace(0, 250, 51))
    assert np.array_equal(parse_values("logspace:-3:0:4"), np.logspace(-3, 0, 4))
    assert np.array_equal(parse_values("arange(0, 10, 2.5)"), np.arange(0, 10, 2.5))
    assert np.array_equal(parse_values([1, 2, 3]), [1.0, 2.0, 3.0])
    assert parse_values(5.0) is None and parse_values("fiber") is None


@pytest.mark.parametrize("bad", ["linspace(0,1)", "linspace:0:1:2.5", "arange:0:1:0", "linspace(a,b,3)", [],
                                 [1, "x"]])
def test_bad_sweeps_raise(bad):
    with pytest.raises(SweepSyntaxError):
        parse_values(bad)


def test_grid_is_an_outer_product_in_c_order():
    g = Grid((Axis("channel.length_km", np.array([0.0, 10.0, 20.0])), Axis("source.mu", np.array([0.3, 0.5]))))
    flat = g.flat()
    assert g.shape == (3, 2) and g.size == 6
    assert np.array_equal(flat["channel.length_km"], [0, 0, 10, 10, 20, 20])
    assert np.array_equal(flat["source.mu"], [0.3, 0.5] * 3)
    assert g.unflatten(np.arange(6)).tolist() == [[0, 1], [2, 3], [4, 5]]
    assert Grid().unflatten(np.array([7])) == 7
