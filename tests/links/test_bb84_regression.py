"""Decoy BB84 on the protocol-generic engine gives what the BB84-only engine gave (kqjax commit
313f1c2): the GYS asymptotic key rates to 1e-12, and the same counts at the same seed in count
mode; event mode keeps the counts of its sampler on raw random words (pinned once checked against
its expectation in test_event_words.py). The old layout per intensity was (correct, error, no
click, bases differ)."""
import jax
import numpy as np
import pytest

from kqjax.links.link import Link, simulate

from .helpers import gys, make_link

GYS = {  # Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005) parameters at 0, 50, 100 km
    "vacuum_weak": [0.0018030800261547792, 0.00015566823316623177, 1.1728219541119718e-05],
    "infinite": [0.002042692828619105, 0.0001778272499987675, 1.3716896924170227e-05],
}
COUNTS = {  # seed 11, default link at 0, 50, 100 km
    "count": (10**9, [[[66976198, 714953, 332314638, 400007247], [1880853, 19297, 48098689, 49999968],
                       [2, 2, 49991485, 49996668]],
                      [[11031643, 111503, 388862643, 400007247], [279231, 2835, 49716773, 49999968],
                       [4, 3, 49991482, 49996668]],
                      [[1177742, 11993, 398816054, 400007247], [29310, 310, 49969219, 49999968],
                       [4, 4, 49991481, 49996668]]]),
    "event": (2**20, [[[70329, 752, 348523, 420146], [2027, 17, 50328, 52230], [0, 0, 51854, 52370]],
                      [[11721, 108, 407775, 420146], [280, 2, 52090, 52230], [0, 0, 51854, 52370]],
                      [[1259, 15, 418330, 420146], [28, 0, 52344, 52230], [0, 0, 51854, 52370]]]),
}


@pytest.mark.parametrize("decoy", sorted(GYS))
def test_gys_asymptotic_rates_unchanged(decoy):
    link, _ = gys("[0,50,100]", [f"protocol.decoy={decoy}"])
    rate = np.asarray(jax.vmap(Link.expected)(link)["key_rate_asymptotic"])
    np.testing.assert_allclose(rate, GYS[decoy], rtol=1e-12)


@pytest.mark.parametrize("mode", sorted(COUNTS))
def test_same_counts_at_the_same_seed(mode):
    pulses, old = COUNTS[mode]
    link, _ = make_link(["channel.length_km=[0,50,100]"])
    out = simulate(link, pulses=pulses, seed=11, mode=mode, progress=False)
    layout = np.concatenate([out["counts"][:, ::2], out["sent"][:, 1::2, None]], -1)
    np.testing.assert_array_equal(layout, old)
