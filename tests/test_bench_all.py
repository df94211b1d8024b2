"""kqjax-bench --all: the combined table from the areas' own results (no timing asserted)."""
from __future__ import annotations

import sys

import pytest

from kqjax import bench_all


def _links(count, numpy):
    return {"rows": {"kqjax count": {"pulses_per_s": count}, "numpy count": {"pulses_per_s": numpy},
                     "kqjax count bbm92": {"pulses_per_s": 2.0}}}


def test_rows_pair_each_kqjax_row_with_its_peer_at_both_thread_counts():
    rows = bench_all.combine({"links": {"all": _links(8.0, 2.0), "one": _links(3.0, 2.0)}})
    by = {r["row"]: r for r in rows}
    assert set(by) == {"kqjax count", "kqjax count bbm92"}
    assert by["kqjax count"]["ratio_all"] == 4.0 and by["kqjax count"]["ratio_one"] == 1.5
    assert by["kqjax count bbm92"]["ratio_all"] is None  # no peer row measured


def test_sensor_rows_and_markdown_table():
    sensors = {"allan_totals": {"1000000": {"kqjax_s": 0.1, "ratio": 2.5}},
               "noise": [{"noise": "white FM", "samples": 65536, "kqjax_per_s": 100.0, "ratio": 3.0}]}
    result = {"date": "2026-11-27", "quick": False, "rows": bench_all.combine({"sensors": {"all": sensors, "one": sensors}}),
              "environment": {"processor": "cpu", "cpu_count": 2, "cpus_usable": 2, "device": "cpu:cpu x1",
                              "jax_version": "0", "numpy_version": "0"}}
    table = bench_all.markdown(result).splitlines()
    assert table[2].startswith("| area | row |") and len(table) == 4 + 2
    assert ("| sensors | Allan family (5 statistics), 1e+06 samples | s | 0.100 | 0.100 | allantools | 2.50× | 2.50× "
            "| — |") in table


def test_rows_carry_their_fraction_of_the_device_s_ceiling():
    """The event row against the random-bit ceiling, the sensors' rows against the memory ceiling,
    each at both thread counts; the table truncates the percentages."""
    def links(fraction):
        return {"rows": {"kqjax event": {"pulses_per_s": 4.0}, "numpy event": {"pulses_per_s": 1.0}},
                "event_words": {"fraction_of_ceiling": fraction}}

    def sensors(fraction):
        return {"allan_totals": {"1000000": {"kqjax_s": 0.1, "ratio": 2.5, "fraction_of_memory_ceiling": fraction}},
                "noise": [{"noise": "white FM", "samples": 65536, "kqjax_per_s": 100.0, "ratio": 3.0}]}

    rows = bench_all.combine({"links": {"all": links(0.5089), "one": links(0.25)},
                              "sensors": {"all": sensors(0.0319), "one": sensors(0.0421)}})
    by = {r["row"]: r for r in rows}
    event, allan = by["kqjax event"], by["Allan family (5 statistics), 1e+06 samples"]
    assert (event["ceiling"], event["fraction_all"], event["fraction_one"]) == ("random bits", 0.5089, 0.25)
    assert (allan["ceiling"], allan["fraction_all"], allan["fraction_one"]) == ("memory", 0.0319, 0.0421)
    assert by["white FM noise, 65536 samples"]["ceiling"] is None
    assert bench_all._fraction(event) == "random bits 50.8 % / 25.0 %"
    assert bench_all._fraction(allan) == "memory 3.19 % / 4.21 %"


def test_an_area_may_give_its_own_summary():
    own = {"summary": [{"row": "screens 256^2", "unit": "screens/s", "value": 5.0, "peer": "aotools", "ratio": 2.0}]}
    (row,) = bench_all.combine({"screens": {"all": own, "one": own}})
    assert row["value_one"] == 5.0 and row["ratio_all"] == 2.0


def test_screen_rows_take_each_run_s_own_thread_setting():
    def rows(threads, kq, ao):
        return [{"size": 256, "library": "kqjax float64", "threads": threads, "screens_per_s": kq},
                {"size": 256, "library": "aotools", "threads": threads, "screens_per_s": ao},
                {"size": 256, "library": "kqjax wave optics", "threads": threads, "samples_per_s": 7.0}]

    result = {"rows": rows(1, 40.0, 4.0) + rows("all", 90.0, 5.0)}
    out = {r["row"]: r for r in bench_all.combine({"screens": {"all": result, "one": result}})}
    screens = out["kqjax float64 phase screens 256^2"]
    assert screens["value_all"] == 90.0 and screens["ratio_all"] == 18.0
    assert screens["value_one"] == 40.0 and screens["ratio_one"] == 10.0
    assert out["kqjax wave optics transmittances, 256^2 grid"]["peer"] is None


def test_numbers_are_truncated_never_rounded_up():
    assert bench_all._num(2.4299) == "2.42" and bench_all._num(0.99) == "0.990"
    assert bench_all._num(4.929e11) == "4.92e+11" and bench_all._num(878.9) == "878"


def test_a_missing_peer_is_refused_before_any_work(monkeypatch, capsys):
    """Without allantools (an install without the test extra) ``--all`` stops at once with one line
    naming the module and the install, instead of failing in the sensors' subprocess."""
    from kqjax import bench_all

    monkeypatch.setitem(sys.modules, "allantools", None)  # import fails
    monkeypatch.setattr(bench_all, "run", lambda *a, **k: pytest.fail("work began"))
    assert bench_all.main(["--all", "--quick"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "allantools is needed" in err[0] and "kqjax[test]" in err[0], err


def test_one_thread_count_alone_leaves_the_other_column_empty():
    """``--threads all`` (or ``one``) measures one column; the table shows the other as —."""
    for measured, empty in (("all", "one"), ("one", "all")):
        rows = bench_all.combine({"links": {measured: _links(8.0, 2.0)}})
        by = {r["row"]: r for r in rows}
        assert by["kqjax count"][f"ratio_{measured}"] == 4.0 and by["kqjax count"][f"ratio_{empty}"] is None
        assert by["kqjax count"][f"value_{empty}"] is None
