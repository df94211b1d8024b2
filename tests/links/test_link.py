"""Monte Carlo of the link against its own expectation, at fixed seeds.

Each setting and each (setting, outcome) count of N pulses is Binomial(N, p) (a multinomial
marginal), so a count c is checked against N p within 5 standard deviations sqrt(N p (1 - p)).
"""
import numpy as np
import pytest

from kqjax.links.link import precision, simulate

from .helpers import make_link, probabilities

SIGMA = 5.0


def within(counts, p, n):
    sd = np.sqrt(n * p * (1 - p))
    return np.abs(counts - n * p) <= SIGMA * sd + 1e-9


@pytest.mark.parametrize("mode,pulses", [("count", 10**9), ("event", 2**20)])
def test_counts_match_expectation(mode, pulses):
    link, _ = make_link(["channel.length_km=[0,25,100]", "detector.dark_count_prob=1e-4",
                         "detector.dead_time_ns=20", "detector.afterpulse_prob=0.02"])
    out = simulate(link, pulses=pulses, seed=3, mode=mode, progress=False)
    ps, po = probabilities(link)
    assert out["sent"].sum() == 3 * pulses
    assert np.array_equal(out["counts"].sum(-1)[:, ::2], out["sent"][:, ::2])
    assert np.all(out["counts"][:, 1::2] == 0)  # bases differ: discarded, no detection drawn
    assert np.all(within(out["sent"], ps, pulses)), (out["sent"], pulses * ps)
    assert np.all(within(out["counts"], po, pulses)), (out["counts"], pulses * po)


@pytest.mark.parametrize("mode,chunks", [("count", (2**16, 2**20, 2**24)), ("event", (2**16, 2**18))])
def test_same_counts_whatever_the_chunk_size_and_workers(mode, chunks):
    link, _ = make_link(["channel.length_km=[10,60]"])
    pulses = 3 * 2**18 + 1234
    runs = [np.concatenate([(o := simulate(link, pulses=pulses, seed=7, chunk_size=c, mode=mode, progress=False,
                                           workers=w))["sent"][..., None], o["counts"]], -1)
            for c in chunks for w in (1, 3)]
    for r in runs[1:]:
        assert np.array_equal(r, runs[0])
    other = simulate(link, pulses=pulses, seed=8, chunk_size=chunks[0], mode=mode, progress=False)["counts"]
    assert not np.array_equal(other, runs[0][..., 1:])


def classes(out):
    """The 12 classes of a BB84 run: (intensity) x (correct, error, no click, bases differ)."""
    return np.concatenate([out["counts"][0, ::2], out["sent"][0, 1::2, None]], -1).reshape(-1)


def test_count_and_event_agree_in_distribution():
    """Over 40 seeds per mode: per-class means agree (two-sample z within 5) and the Pearson
    statistic of each run against the expectation averages to its degrees of freedom (11) within
    5 standard errors (its variance is 2 x 11 for a multinomial)."""
    link, _ = make_link(["channel.length_km=[0]", "detector.dark_count_prob=1e-3"])
    n, runs = 2**16, 40
    ps, po = probabilities(link)
    p = np.concatenate([po[0, ::2], ps[0, 1::2, None]], -1).reshape(-1)
    res = {}
    for mode in ("count", "event"):
        c = np.stack([classes(simulate(link, pulses=n, seed=s, mode=mode, progress=False))
                      for s in range(runs)])
        res[mode] = c
        pearson = ((c - n * p) ** 2 / (n * p)).sum(1)
        assert abs(pearson.mean() - 11) <= SIGMA * np.sqrt(2 * 11 / runs)
    diff = res["count"].mean(0) - res["event"].mean(0)
    se = np.sqrt(2 * n * p * (1 - p) / runs)
    assert np.all(np.abs(diff) <= SIGMA * se)


def test_exact_counts_past_two_to_the_32_pulses():
    link, _ = make_link(["channel.length_km=[50]"])
    pulses = 2**32 + 12345
    out = simulate(link, pulses=pulses, seed=1, chunk_size=2**30, progress=False)
    c = out["counts"]
    assert c.dtype == np.int64 and int(out["sent"].sum()) == pulses
    assert np.all(within(c, probabilities(link)[1], pulses))


def test_simulated_rate_converges_to_asymptotic():
    """With 1e10 pulses the key rate from counts is within 5 standard errors of the asymptotic one
    at 0 and 50 km, the standard error from the delta method over the pulses' multinomial
    (:func:`kqjax.links.link.precision`: 0.04 % and 0.12 % here; the estimator's O(1/N) bias is
    far below it)."""
    link, _ = make_link(["channel.length_km=[0,50]"])
    out = simulate(link, pulses=10**10, seed=0, chunk_size=2**30, progress=False)
    assert np.all(out["counts"][:, 2, 1] > 2e4)  # decoy errors
    rel = np.asarray(precision(link, out["sent"], out["counts"])["key_rate_signed"])[:, 0]
    assert np.all((rel > 1e-4) & (rel < 3e-3))
    assert np.all(np.abs(out["key_rate"] / out["key_rate_asymptotic"] - 1) <= SIGMA * rel)
    assert np.all(out["key_rate"] <= out["plob_bound"])


def test_the_estimator_is_compiled_beside_the_steps(monkeypatch):
    """``simulate`` calls its estimator first on zero counts of the run's shapes in a thread of its
    own (so that it compiles beside the steps), then on the run's counts; a failure in that thread
    is left to the real call."""
    import threading

    from kqjax.links import link as link_module

    calls = []
    real = link_module.rates

    def recording(lk, sent, counts):
        calls.append((threading.current_thread().name, np.asarray(sent).sum(), np.shape(counts)))
        return real(lk, sent, counts)

    monkeypatch.setattr(link_module, "rates", recording)
    lk, _ = make_link(["channel.length_km=[0,50]"])
    out = simulate(lk, pulses=10**6, seed=1, progress=False)
    s, o = lk.shape()
    here = threading.current_thread().name
    assert [(name, total) for name, total, _ in calls] == [("kqjax-estimator", 0), (here, 2 * 10**6)]
    assert {shape for *_, shape in calls} == {(2, s, o)}
    assert out["sent"].sum() == 2 * 10**6
    failing = link_module._prepared(lambda: 1 / 0)
    failing.join()
    assert not failing.is_alive()


def test_a_stopped_pass_reports_the_pulses_sent(monkeypatch):
    """A pass stopped a quarter through (Ctrl-C in a step): the time slots never reached have NaN
    rates from counts (no data, not "no key"), and the pooled expected rate is that of the pulses
    sent, low in the sky, which the pooled simulated rate follows, not that of the whole pass."""
    from kqjax.links import link as link_module

    real = link_module.make_step
    lk, built = make_link(["experiment=satellite_pass", "source.rep_rate_mhz=1"])
    whole = simulate(lk, pulses=built.run.pulses, seed=2, progress=False, slot_s=10.0, chunk_size=2**20)
    stop_at = int(0.25 * built.run.pulses) // 65536

    def stopping(*args, **kwargs):
        step = real(*args, **kwargs)

        def call(first, sizes, *rest):
            if int(first) >= stop_at:
                raise KeyboardInterrupt
            return step(first, sizes, *rest)

        return call

    monkeypatch.setattr(link_module, "make_step", stopping)
    part = simulate(lk, pulses=built.run.pulses, seed=2, progress=False, slot_s=10.0, chunk_size=2**20, workers=1)
    assert not part["complete"] and 0 < part["pulses_done"] < 0.3 * built.run.pulses
    reached = part["sent"].sum(-1)[0] > 0
    assert 5 < reached.sum() < 0.3 * reached.size and not reached[-1]
    assert np.all(np.isnan(part["key_rate"][0, ~reached])) and np.all(np.isnan(part["qber"][0, ~reached]))
    assert np.all(np.isfinite(part["key_rate"][0, reached]))
    assert np.all(np.isfinite(part["key_rate_asymptotic"]))  # a slot's expected rate needs no pulses
    done, planned = float(part["key_rate_asymptotic_pooled"][0]), float(whole["key_rate_asymptotic_pooled"][0])
    simulated = float(part["key_rate_pooled"][0])
    assert done < 0.5 * planned
    assert abs(simulated - done) < 0.1 * done
    assert np.array_equal(part["counts"][0, reached][:-1], whole["counts"][0, reached][:-1])  # same draws
