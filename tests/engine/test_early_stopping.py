"""Early stopping: a point stops after the first chunk at which the relative standard error of its
key rate reaches ``target_rel_error``; that error is the delta method's over the count multinomial."""
import jax
import numpy as np

from kqjax.engine.driver import relative_errors
from kqjax.links.link import precision, simulate
from tests.links.helpers import make_link, probabilities

CHUNK = 2**22
TARGET = 0.05


def test_points_stop_at_the_first_chunk_that_reaches_the_target():
    """Each point's counts are those of a plain run of ``pulses_used`` pulses (keys from the block
    index), its error there is at most the target and one chunk earlier above it; the decisions
    do not depend on the chunks in flight; a longer fiber needs more pulses."""
    link, _ = make_link(["channel.length_km=[0,25,50]"])
    cap = 32 * CHUNK
    runs = [simulate(link, pulses=cap, seed=1, chunk_size=CHUNK, progress=False, workers=w,
                     target_rel_error=TARGET) for w in (1, 3)]
    out = runs[0]
    for k in ("pulses_used", "sent", "counts", "key_rate_rel_error"):
        assert np.array_equal(out[k], runs[1][k]), k
    used = out["pulses_used"]
    assert np.all(used % CHUNK == 0) and np.all(used < cap) and out["complete"]
    assert used[0] <= used[1] <= used[2] and used[2] > used[0]
    assert np.all(out["sent"].sum(-1) == used)
    assert np.all(out["key_rate_rel_error"] <= TARGET)
    for n in np.unique(used):
        plain = simulate(link, pulses=int(n), seed=1, chunk_size=CHUNK, progress=False)
        at = used == n
        assert np.array_equal(plain["counts"][at], out["counts"][at]) and np.array_equal(plain["sent"][at], out["sent"][at])
        if n > CHUNK:
            before = simulate(link, pulses=int(n) - CHUNK, seed=1, chunk_size=CHUNK, progress=False)
            err = np.asarray(precision(link, before["sent"], before["counts"])["key_rate_signed"])[:, 0]
            assert np.all(err[at] > TARGET)


def test_delta_method_error_matches_the_spread_of_independent_runs():
    """Relative standard error of the decoy-BB84 key rate at 25 km from 2^24 pulses: the delta
    method's (averaged over the replicas) against the standard deviation of 400 independent
    replicas of the count multinomial; the sample standard deviation of 400 draws has a relative
    standard error of 1/sqrt(2 x 399) = 3.5 %, so 5 sigma is 18 %."""
    link, _ = make_link(["channel.length_km=[25]"])
    lk = jax.tree_util.tree_map(lambda x: x[0], link)
    ps, po = (p[0] for p in probabilities(link))
    measured = np.asarray(lk.protocol.MEASURED)
    n = 2**24
    cells = np.concatenate([(ps[measured, None] * po[measured] / po[measured].sum(-1, keepdims=True)).reshape(-1),
                            ps[~measured]])
    rng = np.random.default_rng(0)
    x = rng.multinomial(n, cells / cells.sum(), size=400)
    s, o = link.shape()
    m = measured.sum()
    counts = np.zeros((400, s, o), np.int64)
    counts[:, measured] = x[:, :m * o].reshape(400, m, o)
    sent = np.zeros((400, s), np.int64)
    sent[:, measured] = counts[:, measured].sum(-1)
    sent[:, ~measured] = x[:, m * o:]
    rate = np.asarray(jax.vmap(lambda a, b: lk.estimate(a, b)["key_rate_signed"])(sent, counts))
    delta = np.asarray(jax.jit(jax.vmap(lambda a, b: relative_errors(lk.estimate, a, b, measured)["key_rate_signed"][0]))(sent, counts))
    spread = rate.std(ddof=1) / abs(rate.mean())
    assert 0.01 < spread < 0.2  # a regime where the linearisation holds
    assert abs(delta.mean() / spread - 1) < 5 / np.sqrt(2 * 399)
