"""Exactness, determinism and batching of kqjax.engine.samplers.

The statistical checks compare draws at a fixed seed with scipy.stats.binom: the sample mean and
the sample variance within 5 standard errors (from the exact central moments), and a chi-square
goodness of fit on bins of the exact distribution with p-value > 1e-4. ``test_checks_have_power``
shows the same checks rejecting slightly wrong samplers.

To keep compile time low the binomial calls are eager (no outer jit) and of one total size:
unbatched calls and both vmap patterns then reach the sampler's jitted flat core with the same
shapes and share one compiled program. The multinomial runs under jit, as in the simulation.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from kqjax.engine import samplers

M = 50_000  # draws per grid row
# (n, p, rows): both regimes, the BTRS threshold n p = 10, the fast-path inversion variants
# (mean 1.3), the log j! table edge (n = 65536 vs 65537) and the Stirling form (n = 2**33).
# p = 1e-9 gets 3 rows, for 10 expected draws above 0.
STAT_CASES = [
    (65536, 1e-9, 3), (65536, 1e-6, 1), (65536, 1e-3, 1), (65536, 0.3, 1), (65536, 0.7, 1),
    (65536, 0.999, 1), (65536, 0.5, 1), (65536, 1.2 / 65536, 1), (65536, 2.0 / 65536, 1),
    (10, 0.5, 1), (10, 0.03, 1), (1000, 0.0099, 1), (1000, 0.01, 1), (1000, 0.3, 1),
    (20, 0.5, 1), (65537, 0.01, 1), (2**33, 1e-9, 1), (2**33, 0.3, 1),
]
# (n, p, exact value of every draw)
EDGE_CASES = [
    (0, 0.3, 0), (7, 0.0, 0), (7, 1.0, 7), (7.9, 1.0, 7), (2**40, 1.0, 2**40),
    (-1, 0.3, -1), (np.nan, 0.3, -1), (np.inf, 0.3, -1), (10, np.nan, -1), (10, 1.5, -1),
    (10, -0.1, -1),
]
CASES = [(n, p) for n, p, rows in STAT_CASES for _ in range(rows)]
STAT_ROWS = np.cumsum([0] + [rows for _, _, rows in STAT_CASES])
CASES += [(n, p) for n, p, _ in EDGE_CASES]
ROW = int(STAT_ROWS[3])  # (65536, 0.3), used for the batching checks
assert CASES[ROW] == (65536, 0.3) and CASES[ROW + 1] == (65536, 0.7)


def _grid():
    n = np.repeat(np.array([c[0] for c in CASES], np.float64)[:, None], M, axis=1)
    p = np.repeat(np.array([c[1] for c in CASES], np.float64)[:, None], M, axis=1)
    return jnp.asarray(n), jnp.asarray(p)


@pytest.fixture(scope="module")
def grid():
    """Draws of every case, one key per case, vmapped over (keys, n, p)."""
    keys = jax.random.split(jax.random.key(20240611), len(CASES))
    n, p = _grid()
    draws = np.asarray(jax.vmap(samplers.binomial)(keys, n, p))
    return keys, n, p, draws


def _moment_failures(x, n, p):
    """Mean and variance of the draws against Binomial(n, p), in standard errors."""
    x = np.asarray(x, np.float64)
    size = x.size
    q = 1.0 - p
    var = n * p * q
    mu4 = var * (1.0 + 3.0 * (n - 2.0) * p * q)  # 4th central moment of the binomial
    se_mean = np.sqrt(var / size)
    se_var = np.sqrt((mu4 - var**2 * (size - 3) / (size - 1)) / size)
    d = x - n * p
    z_mean = d.mean() / se_mean
    z_var = (d.var(ddof=1) - var) / se_var
    return z_mean, z_var


def _chi2_pvalue(x, n, p, max_bins=60):
    """Chi-square goodness of fit of the draws to Binomial(n, p) on quantile bins."""
    dist = stats.binom(n, p)
    edges = np.unique(dist.ppf(np.linspace(0.0, 1.0, max_bins + 1)[1:-1]))
    edges = edges[edges < n]
    # bins: x <= e0, e0 < x <= e1, ..., x > e_last; probabilities from cdf or sf, whichever is
    # the smaller side, so that tiny tail probabilities keep their precision
    cdf, sf = dist.cdf(edges), dist.sf(edges)
    lower = np.concatenate([[0.0], cdf])
    upper = np.concatenate([cdf, [1.0]])
    upper_sf = np.concatenate([[1.0], sf])
    lower_sf = np.concatenate([sf, [0.0]])
    prob = np.where(upper < 0.5, upper - lower, upper_sf - lower_sf)
    obs = np.bincount(np.searchsorted(edges, x, side="left"), minlength=len(prob)).astype(float)
    exp = prob * x.size
    while len(exp) > 2 and exp.min() < 5:  # merge the smallest bin into its smaller neighbour
        i = int(np.argmin(exp))
        j = i - 1 if i == len(exp) - 1 or (i > 0 and exp[i - 1] < exp[i + 1]) else i + 1
        lo, hi = min(i, j), max(i, j)
        exp = np.concatenate([exp[:lo], [exp[lo] + exp[hi]], exp[hi + 1:]])
        obs = np.concatenate([obs[:lo], [obs[lo] + obs[hi]], obs[hi + 1:]])
    assert len(exp) >= 2 and exp.min() >= 5, "too few draws for a chi-square test"
    stat = np.sum((obs - exp) ** 2 / exp)
    return stats.chi2.sf(stat, len(exp) - 1)


@pytest.mark.parametrize("case", range(len(STAT_CASES)),
                         ids=[f"n={n:g},p={p:g}" for n, p, _ in STAT_CASES])
def test_binomial_matches_scipy(grid, case):
    _, _, _, draws = grid
    n, p, _ = STAT_CASES[case]
    x = draws[STAT_ROWS[case]:STAT_ROWS[case + 1]].reshape(-1)
    assert x.dtype == np.int64
    assert x.min() >= 0 and x.max() <= n
    z_mean, z_var = _moment_failures(x, n, p)
    assert abs(z_mean) < 5, f"mean off by {z_mean:.2f} standard errors"
    assert abs(z_var) < 5, f"variance off by {z_var:.2f} standard errors"
    assert _chi2_pvalue(x, n, p) > 1e-4


def test_checks_have_power():
    """The same checks reject samplers that are slightly wrong."""
    rng = np.random.default_rng(1)
    # Poisson in place of Binomial(1000, 0.3): right mean, variance 300 instead of 210.
    x = rng.poisson(300.0, M)
    assert abs(_moment_failures(x, 1000, 0.3)[1]) > 5
    # p off by 0.5%: invisible to the variance, visible to the mean and the chi-square.
    x = rng.binomial(65536, 0.3 * 1.005, M)
    assert abs(_moment_failures(x, 65536, 0.3)[0]) > 5
    assert _chi2_pvalue(x, 65536, 0.3) < 1e-4
    # Small-mean shape error (mean kept): the chi-square sees it.
    x = rng.poisson(9.9 * 0.9, M) + rng.binomial(1, 0.99, M)
    assert _chi2_pvalue(x, 1000, 0.0099) < 1e-4
    # Rare events at the wrong rate, with the draws of the p = 1e-9 case (10 expected events):
    # 3e-9 instead of 1e-9 at n = 65536.
    x = rng.binomial(65536, 3e-9, 3 * M)
    assert _chi2_pvalue(x, 65536, 1e-9) < 1e-4


def test_edge_cases_and_invalid_input(grid):
    _, _, _, draws = grid
    for i, (_, _, value) in enumerate(EDGE_CASES):
        assert (draws[STAT_ROWS[-1] + i] == value).all()


def test_deterministic_and_independent_of_batch(grid):
    keys, n, p, draws = grid
    # Reordering the rows of a vmapped call reorders the draws (so a rerun gives the same).
    perm = np.random.default_rng(0).permutation(len(CASES))
    permuted = np.asarray(jax.vmap(samplers.binomial)(keys[perm], n[perm], p[perm]))
    np.testing.assert_array_equal(permuted, draws[perm])
    # vmap over p (and n) with one key gives, row by row, the vmap over identical keys.
    same_key = jnp.broadcast_to(keys[ROW], keys.shape)
    over_keys = np.asarray(jax.vmap(samplers.binomial)(same_key, n, p))
    over_p = np.asarray(jax.vmap(samplers.binomial, in_axes=(None, 0, 0))(keys[ROW], n, p))
    np.testing.assert_array_equal(over_p, over_keys)
    np.testing.assert_array_equal(over_keys[ROW], draws[ROW])
    # Other keys give other draws (row ROW + 1, p = 0.7, drawn with the key of row ROW).
    assert (over_keys[ROW + 1] != draws[ROW + 1]).mean() > 0.9
    # An unbatched call gives the vmapped row: draw i depends on the key, i, n_i and p_i only.
    # (Same total size as the grid, so the same compiled program.)
    n_flat = jnp.roll(n.reshape(-1), -ROW * M)
    p_flat = jnp.roll(p.reshape(-1), -ROW * M)
    single = np.asarray(samplers.binomial(keys[ROW], n_flat, p_flat))
    np.testing.assert_array_equal(single[:M], draws[ROW])


def test_philox_known_answers():
    """Random123 known-answer vectors of Philox-2x32-10."""
    vectors = [((0, 0), 0, (0xFF1DAE59, 0x6CD10DF2)),
               ((0xFFFFFFFF, 0xFFFFFFFF), 0xFFFFFFFF, (0x2C3F628B, 0xAB4FD7AD)),
               ((0x243F6A88, 0x85A308D3), 0x13198A2E, (0xDD7CE038, 0xF62A4C12))]
    for (c0, c1), k, want in vectors:
        got = samplers.philox2x32(np.uint32(c0), np.uint32(c1), np.uint32(k))
        assert tuple(int(g) for g in got) == want
        word = int(samplers._word(np.uint32(c0), np.uint32(c1), np.uint32(k)))  # the packed block
        assert (word >> 32, word & 0xFFFFFFFF) == want


def test_inversion_search_stops_early_with_the_full_search_counts():
    """The tile's inversion search stops once no draw is still searching; its counts are those of
    all INVERSION_MAX_X + 1 steps of the survival-function recurrence (written out here, with
    the same float64 operations), with -1 beyond INVERSION_MAX_X, and a lane with w = 2 (not an
    inversion draw) gives 0."""
    rng = np.random.default_rng(3)
    size = 4096
    n = rng.integers(1, 70_000, size).astype(np.float64)
    ps = rng.uniform(0.0, 10.0, size) / n
    w = rng.uniform(0.0, 1.0, size)
    w[:8] = 1e-40  # the deep tail of means near 10: the whole search, and -1 where the survival
    ps[:8] = 9.9 / n[:8]  # function at INVERSION_MAX_X is still above w (its rounding is ~1e-16)
    w[8:16] = 2.0

    @jax.jit
    def full(w, n, ps):
        lq = jnp.log1p(-ps)
        pmf, sf, r = jnp.exp(n * lq), -jnp.expm1(n * lq), ps / (1.0 - ps)
        cnt = (w < sf).astype(jnp.float64)
        for k in range(1, samplers.INVERSION_MAX_X + 1):
            pmf = pmf * ((n - (k - 1)) * r) * (1.0 / k)
            sf = sf - pmf
            cnt = cnt + (w < sf)
        return jnp.where(w < sf, -1.0, cnt)

    want = np.asarray(full(w, n, ps))
    got = np.asarray(jax.jit(samplers._inversion)(jnp.asarray(w), jnp.asarray(n), jnp.asarray(ps)))
    assert (want[:8] == -1).any() and want[:8].max() >= 40 and (want[8:16] == 0).all()
    np.testing.assert_array_equal(got, want)


def test_bounded_draws_are_those_of_the_search():
    """Every inversion draw the Bonferroni bounds decide has the value of the full search, and
    they decide most draws of small means (values 0, 1 and 2 all occur)."""
    rng = np.random.default_rng(5)
    size = 200_000
    n = np.concatenate([rng.integers(1, 70_000, size - 8), np.arange(1, 9)]).astype(np.float64)
    mean = np.exp(rng.uniform(np.log(1e-4), np.log(3.0), size))
    ps = np.minimum(mean / n, 0.5)
    w = rng.uniform(0.0, 1.0, size)
    args = [jnp.asarray(x) for x in (w, n, ps)]
    bounded = np.asarray(jax.jit(samplers._bounded)(*args))
    search = np.asarray(jax.jit(samplers._inversion)(*args))
    decided = bounded >= 0
    np.testing.assert_array_equal(bounded[decided], search[decided])
    assert set(np.unique(bounded[decided])) == {0.0, 1.0, 2.0}
    small = mean * (n * ps / mean) < 0.3
    assert decided[small].mean() > 0.99 and (search[small & decided] > 0).sum() > 1000


def test_the_tile_is_traced_once_per_program(monkeypatch):
    """A vmapped multinomial traces the tile once: the custom_vmap's plain call and its batching
    rule share the trace (they used to trace it in different mesh contexts, twice)."""
    calls = []
    tile = samplers._tile.__wrapped__

    def counted(*args):
        calls.append(1)
        return tile(*args)

    monkeypatch.setattr(samplers, "_tile", jax.jit(counted))
    monkeypatch.setattr(samplers, "_sample_flat", jax.jit(samplers._sample_flat.__wrapped__))
    keys = jax.random.split(jax.random.key(0), 8)
    jax.jit(jax.vmap(samplers.multinomial)).lower(keys, jnp.full(8, 100.0), jnp.full((8, 3), 1 / 3))
    assert len(calls) == 1


# --------------------------------------------------------------------------------- multinomial

BLOCKS = 10_000
# a link's 12 classes: one dominant outcome and rare ones down to 1e-9
PROBS = np.array([0.9, 0.05, 0.03, 1e-2, 5e-3, 3e-3, 1e-3, 7e-4, 2e-4, 9e-5, 1e-6, 1e-9])
PROBS[0] = 1.0 - PROBS[1:].sum()


@pytest.fixture(scope="module")
def counts():
    """Multinomial counts per block, vmapped over per-block keys (as the link simulation)."""
    root = jax.random.key(7)
    keys = jax.vmap(lambda i: jax.random.fold_in(root, i))(jnp.arange(BLOCKS + 3))
    n = np.full(BLOCKS + 3, 65536, np.int64)
    probs = np.tile(PROBS, (BLOCKS + 3, 1))
    n[-3] = 0  # no pulses
    n[-2] = 65535
    probs[-2] = np.eye(12)[5]  # all mass in one class
    probs[-1, 3] = -1e-3  # invalid weights
    fn = jax.jit(jax.vmap(samplers.multinomial))
    out = np.asarray(fn(keys, n, probs))
    again = np.asarray(fn(keys, n, probs))
    return out, again


def test_multinomial_sums_and_edge_rows(counts):
    out, again = counts
    assert out.dtype == np.int64 and out.shape == (BLOCKS + 3, 12)
    np.testing.assert_array_equal(out, again)
    assert (out[:-1] >= 0).all()
    assert (out[:BLOCKS].sum(axis=1) == 65536).all()
    assert (out[-3] == 0).all()
    np.testing.assert_array_equal(out[-2], 65535 * np.eye(12, dtype=np.int64)[5])
    assert (out[-1] == -1).all()


def test_multinomial_rows_with_a_draw_given_up(monkeypatch):
    """With one cheap BTRS candidate, one more attempt per round and none allowed after it, the
    draws still open are given up: such a draw's count and its row's later counts are -1, the
    earlier ones are kept, and the other rows sum to n."""
    for name, value in (("_MAX_ATTEMPTS", 0), ("_FAST_BTRS", 1), ("_ROUND_ATTEMPTS", 1)):
        monkeypatch.setattr(samplers, name, value)
    jax.clear_caches()
    try:
        keys = jax.random.split(jax.random.key(3), 4000)
        out = np.asarray(jax.jit(jax.vmap(samplers.multinomial, in_axes=(0, None, None)))(
            keys, 60.0, jnp.array([0.5, 0.3, 0.2])))
    finally:
        jax.clear_caches()
    failed = (out < 0).any(axis=1)
    first = np.argmax(out < 0, axis=1)
    assert 100 < failed.sum() < 2000 and (first[failed] == 1).any(), failed.sum()
    assert all((row[f:] == -1).all() and (row[:f] >= 0).all() for row, f in zip(out[failed], first[failed]))
    assert (out[~failed].sum(axis=1) == 60).all()


@pytest.mark.parametrize("j", range(12))
def test_multinomial_marginals(counts, j):
    x = counts[0][:BLOCKS, j]
    z_mean, z_var = _moment_failures(x, 65536, PROBS[j])
    assert abs(z_mean) < 5 and abs(z_var) < 5, (z_mean, z_var)
    if 65536 * PROBS[j] * BLOCKS > 50:  # enough draws above 0 for a chi-square
        assert _chi2_pvalue(x, 65536, PROBS[j]) > 1e-4


def test_multinomial_covariance(counts):
    """Cov(X_0, X_1) = -n p_0 p_1: the classes are drawn jointly, not independently."""
    x = counts[0][:BLOCKS, :2].astype(float) - 65536 * PROBS[:2]
    prod = x[:, 0] * x[:, 1]
    z = (prod.mean() + 65536 * PROBS[0] * PROBS[1]) / (prod.std(ddof=1) / np.sqrt(BLOCKS))
    assert abs(z) < 5, z
    # independent classes with the same marginals would give Cov = 0, many errors away
    assert abs(65536 * PROBS[0] * PROBS[1]) / (prod.std(ddof=1) / np.sqrt(BLOCKS)) > 20


@pytest.mark.parametrize("tile", [64, 2**20])
def test_draws_do_not_depend_on_tile_size(grid, monkeypatch, tile):
    """Tiles change which work runs where (cheap bound, whole-tile search, gathered pending
    draws), never the draws: both layouts of a vmapped batch, tiny and huge tiles."""
    keys, n, p, draws = grid
    rows = slice(ROW - 2, ROW + 6)
    short = jax.jit(jax.vmap(samplers.binomial))  # 8 rows of 4 draws: laid out across the rows
    long = jax.jit(jax.vmap(samplers.binomial))  # 8 rows of 50 000 draws: row by row
    np.testing.assert_array_equal(np.asarray(short(keys[rows], n[rows, :4], p[rows, :4])),
                                  draws[rows, :4])
    monkeypatch.setitem(samplers._TILE, jax.default_backend(), tile)
    jax.clear_caches()
    try:
        np.testing.assert_array_equal(np.asarray(short(keys[rows], n[rows, :4], p[rows, :4])),
                                      draws[rows, :4])
        np.testing.assert_array_equal(np.asarray(long(keys[rows], n[rows], p[rows])), draws[rows])
    finally:
        jax.clear_caches()
