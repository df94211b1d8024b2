"""Decoy BB84 on the protocol-generic engine gives what the BB84-only engine gave (kqjax commit
313f1c2): the GYS asymptotic key rates to 1e-12, and counts pinned at seed 11 in count and event
mode.

The settings split the sifted pulses into both-Z and both-X since the finite-key analysis (9
settings: intensity x (both Z, both X, bases differ), the Z/X split drawn by the engine, not
assigned in expectation). The old layout per intensity was (correct, error, no click, bases
differ), with both bases pooled.

- Event mode draws the same uniforms per pulse as before (class, Alice's basis, Bob's basis, the
  detectors), so the old event counts come back exactly once Z and X are pooled.
- Count mode draws one multinomial over 9 settings per block instead of 6, so its draws changed at
  the same seed: the count pins below are the new counts at seed 11, taken after the tests in
  test_link.py (and ``test_count_pins_match_their_expectation`` here: every class within 5
  standard deviations of N p) had shown that the new counts follow their expectation; the
  expectation and the asymptotic rates did not change.
"""
import jax
import numpy as np
import pytest

from kqjax.links.link import Link, simulate

from .helpers import gys, make_link, probabilities

GYS = {  # Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005) parameters at 0, 50, 100 km
    "vacuum_weak": [0.0018030800261547792, 0.00015566823316623177, 1.1728219541119718e-05],
    "infinite": [0.002042692828619105, 0.0001778272499987675, 1.3716896924170227e-05],
}
EVENT_OLD = (2**20, [  # seed 11, default link at 0, 50, 100 km; per intensity: (Z + X) correct, error,
    # no click, bases differ (the 6-setting engine's counts)
    [[70395, 751, 347770, 419427], [2071, 23, 50402, 52250], [0, 0, 52979, 52508]],
    [[11579, 124, 407213, 419427], [307, 5, 52184, 52250], [0, 0, 52979, 52508]],
    [[1253, 7, 417656, 419427], [32, 1, 52463, 52250], [0, 0, 52979, 52508]]])
COUNT = (10**9, [  # seed 11, default link at 0, 50, 100 km; per intensity: Z correct, error, no click,
    # X correct, error, no click, bases differ (the 9-setting engine's counts)
    [[33487677, 356928, 166158255, 33489059, 358758, 166140223, 400004776],
     [939923, 9532, 24054174, 941289, 9643, 24047158, 50002911],
     [1, 1, 25006546, 0, 1, 25001681, 49991464]],
    [[5514942, 55768, 194432150, 5517026, 55865, 194415149, 400004776],
     [139835, 1412, 24862382, 139420, 1403, 24857267, 50002911],
     [1, 2, 25006545, 4, 1, 25001677, 49991464]],
    [[588374, 5976, 199408510, 589601, 5991, 199392448, 400004776],
     [14798, 147, 24988684, 14761, 141, 24983188, 50002911],
     [1, 2, 25006545, 5, 1, 25001676, 49991464]]])


def by_basis(sent, counts):
    """Per point and intensity: Z outcomes, X outcomes, pulses whose bases differ: [G, 3, 7]."""
    c = np.asarray(counts).reshape(-1, 3, 3, 3)
    s = np.asarray(sent).reshape(-1, 3, 3)
    return np.concatenate([c[:, :, 0], c[:, :, 1], s[:, :, 2, None]], -1)


@pytest.mark.parametrize("decoy", sorted(GYS))
def test_gys_asymptotic_rates_unchanged(decoy):
    link, _ = gys("[0,50,100]", [f"protocol.decoy={decoy}"])
    rate = np.asarray(jax.vmap(Link.expected)(link)["key_rate_asymptotic"])
    np.testing.assert_allclose(rate, GYS[decoy], rtol=1e-12)


def test_same_event_counts_at_the_same_seed():
    """Event mode: Z and X pooled give the 6-setting engine's counts exactly."""
    pulses, old = EVENT_OLD
    link, _ = make_link(["channel.length_km=[0,50,100]"])
    out = simulate(link, pulses=pulses, seed=11, mode="event", progress=False)
    new = by_basis(out["sent"], out["counts"])
    pooled = np.concatenate([new[..., 0:3] + new[..., 3:6], new[..., 6:]], -1)
    np.testing.assert_array_equal(pooled, old)


def test_same_counts_at_the_same_seed():
    pulses, pinned = COUNT
    link, _ = make_link(["channel.length_km=[0,50,100]"])
    out = simulate(link, pulses=pulses, seed=11, mode="count", progress=False)
    np.testing.assert_array_equal(by_basis(out["sent"], out["counts"]), pinned)


def test_count_pins_match_their_expectation():
    """Each pinned count c of N pulses is within 5 sqrt(N p (1 - p)) of N p (Binomial marginals of
    the multinomial), p from the link's probabilities (0 for nothing: every class here has p > 0)."""
    pulses, pinned = COUNT
    link, _ = make_link(["channel.length_km=[0,50,100]"])
    ps, po = probabilities(link)
    p = by_basis(ps, po)
    pinned = np.asarray(pinned, float)
    assert np.all(p > 0)
    assert np.all(np.abs(pinned - pulses * p) <= 5 * np.sqrt(pulses * p * (1 - p)))
    assert np.all(pinned.sum((-1, -2)) == pulses)
