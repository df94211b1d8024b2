"""kqjax-bench through its entry point: the rows it prints, and the honesty of its NumPy peers.

No timing is asserted here: speed lives in the benchmark's output, never in a test.
"""
from __future__ import annotations


import numpy as np
import pytest

from tests.bench_run import quick_bench

ROWS = ("kqjax count", "kqjax event", "numpy count", "numpy event")


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """One ``kqjax-bench --quick --json`` run, as a user types it."""
    return quick_bench(tmp_path_factory, "kqjax-bench")


def test_prints_rows_ratios_and_environment(quick):
    stdout, result = quick
    lines = stdout.splitlines()
    for name in ROWS:
        row = [ln for ln in lines if ln.startswith(name + " ") and ln[len(name):].split()[0][0].isdigit()]
        assert len(row) == 1, stdout
        assert float(row[0].split()[-2]) > 0  # pulses/s
        assert result["rows"][name]["pulses_per_s"] > 0
    assert any(ln.startswith("ratio kqjax count") and "kqjax event" in ln and "target >= 100x" in ln
               for ln in lines), stdout
    assert any(ln.startswith("ratio kqjax count") and "numpy count" in ln and "target >= 1x" in ln
               for ln in lines), stdout
    assert "device " in stdout and "jax " in stdout and "CPUs " in stdout
    env = result["environment"]
    assert env["cpu_count"] >= 1 and env["jax_version"] and env["device"]
    assert result["rows"]["kqjax count"]["compile_s"] is not None  # compile time reported apart


ALPHA = 5.733e-7  # two-sided tail of 5 standard deviations of a normal law


def _binom_p(k, n, p):
    """Exact two-sided tail probability of counts ``k`` under Binomial(n, p), cell by cell."""
    from scipy import stats

    k, p = np.asarray(k, float), np.asarray(p, float)
    return np.minimum(1.0, 2.0 * np.minimum(stats.binom.cdf(k, n, p), stats.binom.sf(k - 1, n, p)))


def assert_counts_match(counts, n, p):
    """Every class count is within the 5-sigma two-sided tail of Binomial(n, p) (exact tails, so
    classes with a handful of expected counts, e.g. dark counts of vacuum pulses, are judged right)."""
    pv = _binom_p(counts, n, p)
    assert (pv >= ALPHA).all(), (np.argwhere(pv < ALPHA), counts, n * np.asarray(p))


def assert_runs_agree(a, b, n, p):
    """Two independent runs of the same model agree class by class within 5 standard errors of
    their difference: |a - b| <= 5 sqrt(2 n p (1 - p)) where that is Gaussian (n p (1 - p) >= 100);
    for rare classes (Poisson regime) a given a + b is Binomial(a + b, 1/2), tested exactly."""
    from scipy import stats

    a, b, p = (np.asarray(x, float) for x in (a, b, p))
    var = n * p * (1.0 - p)
    gauss = var >= 100
    assert (np.abs(a - b)[gauss] <= 5 * np.sqrt(2 * var[gauss])).all(), (a, b)
    s = (a + b)[~gauss]
    k = a[~gauss]
    pv = np.minimum(1.0, 2.0 * np.minimum(stats.binom.cdf(k, s, 0.5), stats.binom.sf(k - 1, s, 0.5)))
    assert (pv >= ALPHA).all(), (a, b)


def test_numpy_count_reference_agrees_with_kqjax_count(quick):
    """Both draw multinomial counts of the same 12 probabilities per block (fixed seed, so the test
    is deterministic): the two independent runs agree within 5 standard errors of their
    difference, and each agrees with its expectation N p."""
    _, result = quick
    n = result["rows"]["kqjax count"]["pulses_per_point"]
    assert result["rows"]["numpy count"]["pulses_per_point"] == n
    p = np.asarray(result["probabilities"]["decoy_bb84"])
    kq = np.asarray(result["counts"]["kqjax count"])
    ref = np.asarray(result["counts"]["numpy count"])
    assert kq.shape == ref.shape == p.shape == (result["points"], 12)
    assert (kq.sum(-1) == n).all() and (ref.sum(-1) == n).all()
    assert_runs_agree(kq, ref, n, p)
    assert_counts_match(kq, n, p)
    assert_counts_match(ref, n, p)


@pytest.mark.parametrize("protocol", ["bbm92", "sns_tf"])
def test_protocol_rows_against_their_numpy_reference(quick, protocol):
    """Each protocol's count row and its NumPy count peer draw the same model (the protocol's
    declared settings and outcomes): both agree with N p class by class, and with each other."""
    stdout, result = quick
    assert any(ln.startswith(f"kqjax count {protocol} ") for ln in stdout.splitlines()), stdout
    assert any(ln.startswith(f"ratio kqjax count {protocol}") for ln in stdout.splitlines()), stdout
    n = result["rows"][f"kqjax count {protocol}"]["pulses_per_point"]
    p = np.asarray(result["probabilities"][protocol])
    kq = np.asarray(result["counts"][f"kqjax count {protocol}"])
    ref = np.asarray(result["counts"][f"numpy count {protocol}"])
    assert kq.shape == ref.shape == p.shape and (kq.sum(-1) == n).all() and (ref.sum(-1) == n).all()
    assert p.shape[0] == result["points"]  # the distances alone: the rates per point are what they say
    assert_runs_agree(kq, ref, n, p)
    assert_counts_match(kq, n, p)
    assert_counts_match(ref, n, p)


def test_satellite_pass_rows_draw_the_pass_as_kqjax_does(quick):
    """The satellite-pass rows (one point, the whole pass in time slots, scintillation drawn per
    block): kqjax's counts summed over the slots and the NumPy peer's, drawn from kqjax's own
    per-block probabilities, each within 5 sigma of the expected counts of those blocks (the sum of
    n p over the blocks; exact Poisson tails for rare classes)."""
    from scipy import stats

    stdout, result = quick
    assert any(ln.startswith("ratio kqjax count satellite pass") for ln in stdout.splitlines()), stdout
    sat = result["satellite_pass"]
    e, var = np.asarray(sat["expected_counts"]), np.asarray(sat["count_variance"])
    assert e.sum() == pytest.approx(sat["pulses"], rel=1e-9) and sat["blocks"] == -(-sat["pulses"] // 2**16)
    for name in ("kqjax count satellite pass", "numpy count satellite pass"):
        row = result["rows"][name]
        assert row["points"] == 1 and row["pulses_per_point"] == sat["pulses"]
        (c,) = np.asarray(result["counts"][name])
        assert c.sum() == sat["pulses"]
        gauss = var >= 100
        assert (np.abs(c - e)[gauss] <= 5 * np.sqrt(var[gauss])).all(), (name, c, e)
        k, m = c[~gauss], e[~gauss]
        assert (np.minimum(stats.poisson.cdf(k, m), stats.poisson.sf(k - 1, m)) >= ALPHA / 2).all(), (name, c, e)


def test_pass_probabilities_are_those_kqjax_draws_each_block_from():
    """Block by block: the clicks kqjax counts in 512 blocks mid-pass (the quick pass, one time
    slot per block) against ``pass_probabilities`` at the same seed, as a sum of squared z-scores
    over the settings with clicks in every block (signal and decoy: 1024 terms), lie within 5
    standard deviations of its mean; the probabilities of another seed (another draw of the
    scintillation, 5 % from block to block) lie far outside, so the check tells the draws apart."""
    from kqjax.bench import QUICK_PASS, build_pass, pass_probabilities
    from kqjax.engine import keys
    from kqjax.links.link import chunk_counts, prepare

    link, pulses, _ = build_pass(QUICK_PASS)
    blocks, first = 512, -(-pulses // keys.BLOCK) // 2 - 256
    root = keys.root_key(0)
    sent, counts = chunk_counts(prepare(link, root), root, np.int64(first), np.full(blocks, keys.BLOCK, np.int64),
                                blocks=blocks, mode="count", shared=True, slot_blocks=1, slots=first + blocks)
    sent, counts = np.asarray(sent)[0, first:], np.asarray(counts)[0, first:]
    idx = np.flatnonzero(link.protocol.MEASURED)
    n = sent[:, idx]
    clicks = n - counts[:, idx, -1]  # the last outcome is no click
    stats = []
    for seed in (0, 1):
        p = 1 - pass_probabilities(link, pulses, seed)[0, first:first + blocks][:, idx, -1]
        use = (n * p).min(0) >= 5  # settings with clicks in every block
        npq = (n * p * (1 - p))[:, use]
        z2 = (clicks[:, use] - (n * p)[:, use]) ** 2 / npq
        stats.append((z2.sum(), z2.size, np.sqrt((2 + (1 - 6 * npq / n[:, use]) / npq).sum())))
    (same, terms, sd), (other, _, _) = stats
    assert terms == 2 * blocks
    assert abs(same - terms) <= 5 * sd, stats
    assert other - terms > 5 * sd, stats


def test_a_benchmark_link_with_another_sweep_is_refused():
    """entanglement_100km sweeps the mean pair number too: unpinned, its grid is not the lengths."""
    from kqjax.bench import build_link

    with pytest.raises(ValueError, match="496 grid points, not the 16 lengths"):
        build_link(16, 250.0, ("entanglement_100km",))


def test_event_rows_sample_the_same_model(quick):
    """The event-level rows (kqjax and the NumPy peer) draw pulse by pulse from the same per-pulse
    probabilities: their counts lie within 5 sigma of N p."""
    _, result = quick
    p = np.asarray(result["probabilities"]["decoy_bb84"])
    for name in ("kqjax event", "numpy event"):
        n = result["rows"][name]["pulses_per_point"]
        c = np.asarray(result["counts"][name])
        assert (c.sum(-1) == n).all()
        assert_counts_match(c, n, p)


def test_numpy_references_directly():
    """The NumPy peers on a hand-made model: partial last block, exact totals, expected counts."""
    from kqjax.bench import class_probabilities, classes, numpy_count, numpy_event

    measured = np.array([True, False, True])
    ps = np.array([[0.75, 0.25, 0.0], [0.5, 0.25, 0.25]])
    po = np.array([[[2 / 3, 1 / 3], [0.0, 1.0], [0.5, 0.5]], [[0.5, 0.5], [1.0, 0.0], [0.25, 0.75]]])
    p = class_probabilities(ps, po, measured)
    assert p.shape == (2, 5) and np.allclose(p.sum(-1), 1.0)
    n = 3 * 2**16 + 123
    sent, counts = numpy_count(ps, po, measured, n, seed=1)
    c = classes(sent, counts, measured)
    assert c.dtype == np.int64 and (c.sum(-1) == n).all() and (c[0, 3:] == 0).all()
    assert (counts[:, 1] == 0).all() and (counts[:, 0].sum(-1) == sent[:, 0]).all()
    assert_counts_match(c, n, p)
    assert (classes(*numpy_count(ps, po, measured, n, seed=1), measured) == c).all()  # seeded

    # one class of pulses, lossless: every sifted pulse clicks the right detector unless misaligned
    params = {"eta": np.array([1.0]), "dark": np.array([0.0]), "avail": np.array([1.0]),
              "intensities": np.array([[50.0, 0.0, 0.0]]), "class_p": np.array([[1.0, 0.0, 0.0]]),
              "efficiency": np.array([1.0]), "misalignment": np.array([0.0]), "p_z": np.array([0.5])}
    e = numpy_event(params, 100_000, seed=2, chunk=30_000)
    assert e.sum() == 100_000 and e[0, 1] == e[0, 2] == 0 and (e[0, 4:] == 0).all()
    assert abs(e[0, 3] - 50_000) <= 5 * np.sqrt(100_000 * 0.25)


def test_sampler_row_draws_what_its_peer_draws(quick):
    """The count-level sampler timed alone: its line is printed, and kqjax's multinomial and the
    NumPy conditional binomials it is compared with draw the same law (per point and setting, the
    counts summed over the chunk's blocks against Binomial(pulses, p) of every outcome)."""
    stdout, result = quick
    m = result["sampler"]
    assert m["kqjax_draws_per_s"] > 0 and m["numpy_draws_per_s"] > 0 and m["ratio"] > 0
    assert any(ln.startswith("count-level sampler alone") and f"{m['ratio']:.3g}x" in ln
               for ln in stdout.splitlines()), stdout
    trials, p = np.asarray(m["trials"]), np.asarray(m["probabilities"])
    for name in ("kqjax_counts", "numpy_counts"):
        counts = np.asarray(m[name])
        assert counts.shape == p.shape and (counts.sum(-1) == trials).all()
        assert_counts_match(counts, trials[..., None], p)
