"""Allan-family deviations against allantools, EDF and confidence intervals."""
import math

import allantools
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats
from allantools import ci as at_ci

from kqjax.sensors import allan, noise

RATE = 2.0
TAU_CHOICES = [None, "decade", "all", np.array([0.5, 1.5, 3.6, 10.0, 50.0, 90.0, 3.6])]


@pytest.fixture(scope="module")
def freq_data():
    """Three records of 1000 fractional-frequency samples: white PM + white FM + random-walk FM + drift."""
    rng = np.random.default_rng(11)
    w = rng.standard_normal((3, 1001))
    return (1e-11 * np.diff(w, axis=-1) + 1e-12 * rng.standard_normal((3, 1000))
            + 1e-14 * np.cumsum(rng.standard_normal((3, 1000)), axis=-1) + 1e-16 * np.arange(1000) + 5e-9)


@pytest.mark.parametrize("taus", TAU_CHOICES, ids=["default", "decade", "all", "array"])
@pytest.mark.parametrize("name", ["adev", "oadev", "mdev", "tdev", "hdev"])
def test_matches_allantools(freq_data, name, taus):
    """The five deviations equal allantools' (Riley, NIST SP 1065 eqs. 7, 11, 14, 15, 18) to 1e-9 relative,
    with the same taus, error bars and counts, for each record of a batch."""
    ours = getattr(allan, name)(freq_data, rate=RATE, data_type="freq", taus=taus)
    for b in (0, 2):
        ref = getattr(allantools, name)(freq_data[b], rate=RATE, data_type="freq", taus=taus)
        np.testing.assert_array_equal(np.asarray(ours[0]), ref[0])
        np.testing.assert_array_equal(np.asarray(ours[3]), ref[3])
        np.testing.assert_allclose(np.asarray(ours[1][b]), ref[1], rtol=1e-9, atol=0)
        np.testing.assert_allclose(np.asarray(ours[2][b]), ref[2], rtol=1e-9, atol=0)


def test_phase_data(freq_data):
    """Phase input gives the same as allantools (frequency2phase as allantools.frequency2phase)."""
    phase = np.asarray(allan.frequency2phase(freq_data, RATE))
    ref_phase = allantools.frequency2phase(freq_data[0], RATE)
    # the removed mean (5e-9 here) is summed in a different order: its rounding, eps |y| per sample,
    # accumulates linearly along the record (a phase ramp, which the deviations cancel exactly)
    ramp = 10 * np.finfo(float).eps * np.abs(freq_data).max() * freq_data.shape[-1] / RATE
    np.testing.assert_allclose(phase[0], ref_phase, rtol=1e-12, atol=ramp)
    for name in ("oadev", "mdev", "tdev"):  # mdev, tdev from the phase increments
        ours = getattr(allan, name)(phase, rate=RATE, data_type="phase", taus="octave")
        ref = getattr(allantools, name)(phase[1], rate=RATE, data_type="phase", taus="octave")
        np.testing.assert_allclose(np.asarray(ours[1][1]), ref[1], rtol=1e-9)


def test_million_sample_random_walk_exact():
    """10^6 samples of random-walk FM with integer values: the phase x and its running sum are integers
    below 2^53, so every difference of NIST SP 1065 eqs. (7, 11, 14, 15, 18) is exact in int64 and gives
    the deviations to rounding of the final sum. mdev and tdev, formed from the phase increments, agree
    to 1e-11: each triangle-smoothed sum W_m carries at most 2 log2(m) + 2 roundings of eps |W_m|, and
    W_m (about m^2 |y|, |y| < 10^3 after the mean) exceeds the inner sums (about m^2.5) by at most
    sqrt(N) = 10^3, so 40 eps 10^3 < 1e-11. adev, oadev, hdev (phase from a running sum of the record)
    to the 1e-9 of the allantools cross-check."""
    n = 10**6
    y = np.cumsum(np.random.default_rng(5).integers(-1, 2, n))
    x = np.concatenate([[0], np.cumsum(y)])
    p = np.concatenate([[0], np.cumsum(x)])
    assert np.abs(p).max() < 2**53

    def exact(name, m):
        if name in ("adev", "hdev"):
            xs = x[::m]
            d = xs[2:] - 2 * xs[1:-1] + xs[:-2] if name == "adev" else xs[3:] - 3 * xs[2:-1] + 3 * xs[1:-2] - xs[:-3]
        elif name == "oadev":
            d = x[2 * m:] - 2 * x[m:-m] + x[:-2 * m]
        else:  # sum of m second differences = third difference of the running sum p, lag m
            k = len(x) - 3 * m + 1
            d = (p[3 * m:3 * m + k] - 3 * p[2 * m:2 * m + k] + 3 * p[m:m + k] - p[:k]) / m
        var = np.sum(d.astype(float) ** 2) / ((6 if name == "hdev" else 2) * len(d) * m * m)
        return math.sqrt(var) * (m / math.sqrt(3) if name == "tdev" else 1.0)

    for name, rtol in (("mdev", 1e-11), ("tdev", 1e-11), ("adev", 1e-9), ("oadev", 1e-9), ("hdev", 1e-9)):
        taus, dev, _, _ = getattr(allan, name)(y.astype(float), rate=1.0, data_type="freq", taus="octave")
        ref = [exact(name, int(m)) for m in np.asarray(taus)]
        assert len(ref) >= 17
        np.testing.assert_allclose(np.asarray(dev), ref, rtol=rtol, atol=0, err_msg=name)


def test_tau_beyond_record_raises(freq_data):
    """An averaging time the record cannot support is refused with the largest usable tau."""
    with pytest.raises(ValueError, match=r"tau = 400 s is beyond the record: adev of 1001 phase points"):
        allan.adev(freq_data, rate=RATE, taus=[1.0, 400.0])
    with pytest.raises(ValueError, match="beyond the record"):
        allan.hdev(freq_data[0], rate=RATE, taus=[200.0])
    with pytest.raises(ValueError, match="shorter than half the sample interval"):
        allan.oadev(freq_data, rate=RATE, taus=[0.1])


def test_bad_arguments_raise(freq_data):
    with pytest.raises(ValueError, match="data_type"):
        allan.oadev(freq_data, data_type="velocity")
    with pytest.raises(ValueError, match="taus = 'weekly'"):
        allan.oadev(freq_data, taus="weekly")
    with pytest.raises(ValueError, match="rate"):
        allan.oadev(freq_data, rate=-1.0)
    with pytest.raises(ValueError, match="too few"):
        allan.hdev(np.ones(2))


def test_edf_greenhall_matches_allantools():
    """Greenhall & Riley (PTTI 2003) equivalent degrees of freedom, case by case as allantools.ci."""
    checked = 0
    for alpha in (2, 1, 0, -1, -2):
        for d, overlapping, modified in [(2, False, False), (2, True, False), (2, True, True), (3, False, False),
                                         (3, True, False)]:
            for n_phase in (40, 1001, 16385):
                for m in (1, 2, 3, 8, 33, 128, 1000, 4096):
                    if m * (d + 1) >= n_phase:
                        continue
                    try:
                        ref = at_ci.edf_greenhall(alpha, d, m, n_phase, overlapping=overlapping, modified=modified)
                    except NotImplementedError:
                        continue
                    ours = allan.edf_greenhall(alpha, d, m, n_phase, overlapping, modified)
                    assert ours == pytest.approx(ref, rel=1e-12, abs=0)
                    checked += 1
    assert checked > 300


def test_confidence_interval_matches_allantools():
    """Chi-squared interval of NIST SP 1065 eq. (45), as allantools.ci.confidence_interval."""
    edf = np.array([0.4, 1.3, 4.0, 17.5, 250.0, 3e4, 1e6])
    for ci in (allan.ONE_SIGMA, 0.9, 0.95):
        ref = np.array([at_ci.confidence_interval(2.5e-13, e, ci) for e in edf])
        lo, hi = allan.confidence_interval(2.5e-13, edf, ci)
        np.testing.assert_allclose(np.stack([lo, hi], -1), ref, rtol=1e-10)


def test_traced_interval_and_chi2_ppf_match_scipy():
    """The traced path of confidence_interval (JAX chi-squared quantiles by Newton iteration) matches
    allantools/SciPy from 0.4 to 1e6 degrees of freedom."""
    df = np.array([0.4, 1.0, 2.0, 3.7, 10.0, 100.0, 1e4, 1e6])
    ref = np.array([at_ci.confidence_interval(2.5e-13, e) for e in df])
    lo, hi = jax.jit(lambda e: allan.confidence_interval(2.5e-13, e))(df)
    np.testing.assert_allclose(np.stack([lo, hi], -1), ref, rtol=1e-10)
    np.testing.assert_allclose(np.asarray(lo) ** 2 / 2.5e-13 ** 2,
                               df / scipy.stats.chi2.ppf(0.5 + allan.ONE_SIGMA / 2, df), rtol=1e-10)


def test_confidence_interval_coverage():
    """The 68.3 % interval from Greenhall's EDF covers the true Allan deviation in 68.3 % of realisations
    (NIST SP 1065), within 5 binomial standard errors; white FM (exact for the generator) and
    flicker FM at m = 16 (discretisation bias 0.5 %, small against the interval width)."""
    n_real = 1000
    # row 0 white FM, row 1 flicker FM (per-row levels broadcast over the batch)
    h = {0: jnp.array([[1.0], [0.0]]), -1: jnp.array([[0.0], [1.0]])}
    y = noise.power_law_noise(jax.random.key(40), h, 512, 1.0, (2, n_real))
    for row, (alpha, m) in enumerate(((0, 8), (-1, 16))):
        res = allan.stability(y[row], 1.0, alpha, "oadev", "freq", [float(m)])
        truth = math.sqrt(float(noise.power_law_avar(alpha, 1.0, m, 1.0)))
        inside = np.mean((np.asarray(res["dev_lo"][:, 0]) <= truth) & (truth <= np.asarray(res["dev_hi"][:, 0])))
        se = math.sqrt(allan.ONE_SIGMA * (1 - allan.ONE_SIGMA) / n_real)
        assert abs(inside - allan.ONE_SIGMA) < 5 * se, (alpha, inside)


def test_stability_traced_alpha_selects_edf_row():
    """Under jit, per-tau noise types (traced) select the matching row of the EDF table."""
    y = np.random.default_rng(1).standard_normal((2, 256))
    alpha = jnp.asarray([0, -1, -2, 2, 1, 0, -1])
    res = jax.jit(lambda a: allan.stability(y, 1.0, a, taus="octave"))(alpha)
    ms = [1, 2, 4, 8, 16, 32, 64]  # m = 128 has a single term for 257 phase points and is dropped
    expected = [allan.edf("oadev", int(a), m, 257) for a, m in zip(alpha, ms)]
    np.testing.assert_allclose(res["edf"], expected, rtol=1e-12)
    assert np.all(res["dev_lo"] < res["dev"]) and np.all(res["dev"] < res["dev_hi"])
    ref = allantools.oadev(y[1], rate=1.0, data_type="freq", taus="octave")
    np.testing.assert_allclose(res["dev"][1], ref[1], rtol=1e-9)  # the single-statistic compiled path
