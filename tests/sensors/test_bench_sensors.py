"""kqjax-bench-sensors through its entry point: the rows it prints and the agreement of kqjax's Allan
deviations with allantools on the same data. No timing is asserted: speed lives in the benchmark's
output, never in a test."""
from __future__ import annotations


import pytest

from tests.bench_run import quick_bench

STATISTICS = ("adev", "oadev", "mdev", "hdev", "tdev")


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """One ``kqjax-bench-sensors --quick --json`` run, as a user types it."""
    return quick_bench(tmp_path_factory, "kqjax-bench-sensors")


def test_prints_table_with_ratios_and_environment(quick):
    stdout, result = quick
    lines = stdout.splitlines()
    for stat in STATISTICS:
        assert sum(1 for ln in lines if ln.split()[1:2] == [stat]) == 2, stdout  # two record lengths
    assert sum("all five" in ln and "target >= 2x" in ln for ln in lines) == 2, stdout
    for noise in ("white FM", "flicker FM", "random-walk FM"):
        assert any(ln.startswith(noise) for ln in lines), stdout
    assert "load average" in stdout and "allantools" in stdout and "device " in stdout
    env = result["environment"]
    assert env["cpu_count"] >= 1 and len(env["load_average"]) == 3 and env["allantools_version"]
    for row in result["allan"]:
        assert row["kqjax_s"] > 0 and row["allantools_s"] > 0 and row["compile_s"] >= 0  # compile apart
    assert set(result["allan_totals"]) == {str(2**14), str(2**16)}


def test_allan_deviations_agree_with_allantools(quick):
    """Same taus and term counts as allantools, deviations equal to 1e-9 relative (Riley, NIST SP 1065)."""
    _, result = quick
    assert {(r["samples"], r["statistic"]) for r in result["allan"]} == {
        (n, s) for n in (2**14, 2**16) for s in STATISTICS}
    for row in result["allan"]:
        assert row["same_taus_and_counts"], row
        assert row["max_rel_diff"] < 1e-9, row
        assert row["taus"] >= 12


def test_noise_generators_match_the_power_law_model(quick):
    """Both generators' Allan deviation at tau = m = 4 samples, pooled over the realisations, is that
    of the power-law model (NIST SP 1065) with the discretisation terms the model leaves out
    (kqjax.sensors.noise.power_law_avar: variance x (1 + c / m^2), c about 1.2 for flicker FM and 1/2
    for random-walk FM), within 5 standard errors: 1 / sqrt(2 EDF) relative, with Greenhall's
    equivalent degrees of freedom of one record times the realisations (7500 to 10000 here: 3.5 to
    4.1 %)."""
    from allantools import edf_greenhall

    from kqjax.bench_sensors import CHECK_M

    _, result = quick
    assert [r["alpha"] for r in result["noise"]] == [0, -1, -2]
    for row in result["noise"]:
        assert row["kqjax_per_s"] > 0 and row["allantools_per_s"] > 0
        expected = (1 + {0: 0.0, -1: 1.2, -2: 0.5}[row["alpha"]] / CHECK_M**2) ** 0.5
        edf = row["realisations"] * edf_greenhall(alpha=row["alpha"], d=2, m=CHECK_M, N=row["samples"],
                                                  overlapping=True, modified=False)
        for who in ("kqjax", "allantools"):
            assert abs(row[f"adev_over_model_{who}"] / expected - 1) < 5 / (2 * edf) ** 0.5, row


def test_rows_give_their_effective_bandwidth_against_the_memory_ceiling(quick):
    """The ceiling is measured in the run, and each row's fraction is its bytes (8 a sample, once a
    statistic or realisation) over its time, over the ceiling."""
    stdout, result = quick
    c = result["memory_ceiling"]
    assert c["bytes_per_call"] == 16 * c["elements"] and c["bytes_per_s"] == c["bytes_per_call"] / c["best_s"]
    for row in result["allan"]:
        assert row["effective_bytes"] == 8 * row["samples"]
        assert row["fraction_of_memory_ceiling"] == pytest.approx(
            row["effective_bytes"] / row["kqjax_s"] / c["bytes_per_s"], rel=1e-12)
    for n, t in result["allan_totals"].items():
        assert t["effective_bytes"] == 5 * 8 * int(n)
    for row in result["noise"]:
        assert row["effective_bytes"] == 8 * row["samples"] * row["realisations"]
        assert 0 < row["fraction_of_memory_ceiling"] == pytest.approx(
            row["effective_bytes_per_s"] / c["bytes_per_s"], rel=1e-12)
    assert "memory-bandwidth ceiling" in stdout

