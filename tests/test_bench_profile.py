"""kqjax-bench-profile: the chunk scan's line and the kernels read back from a trace (no timing
asserted)."""
from __future__ import annotations

import json
from types import SimpleNamespace as NS

import numpy as np
import pytest

from kqjax import bench_profile


def _event(name, start, duration, **stats):
    return NS(name=name, start_ns=start, duration_ns=duration, stats=list(stats.items()))


def test_self_time_is_an_event_less_the_events_nested_in_it():
    """A while loop of 100 ns holding two kernels (30 and 20 ns, one holding a 5 ns one) and a
    kernel after it: self times 50, 25, 5, 20 and 7 ns; an event overlapping the end of another
    takes only the overlap from it."""
    events = [_event("k2", 60, 20), _event("while", 10, 100), _event("k1", 20, 30), _event("inner", 30, 5),
              _event("after", 110, 7)]
    got = {e.name: t for e, t in bench_profile.self_times(events)}
    assert got == pytest.approx({"while": 50e-9, "k1": 25e-9, "inner": 5e-9, "k2": 20e-9, "after": 7e-9})
    got = {e.name: t for e, t in bench_profile.self_times([_event("a", 0, 10), _event("b", 5, 10)])}
    assert got == pytest.approx({"a": 5e-9, "b": 10e-9})


def test_kernels_of_a_gpu_trace_come_from_its_streams():
    """A GPU trace as jax.profiler writes it: kernels on ``Stream #N`` lines, named by their
    ``hlo_op`` where given, copies counted apart; per step, the largest first. Other lines of
    the device plane (``CUPTI overhead``) and the host's threads do not count."""
    stream = NS(name="Stream #7(Kernel,MemcpyD2H)", events=[
        _event("loop_fusion_kernel", 0, 40, hlo_op="fusion.1"), _event("MemcpyD2H", 45, 3),
        _event("other_kernel", 50, 10, hlo_op="fusion.2"), _event("loop_fusion_kernel", 70, 40, hlo_op="fusion.1"),
        _event("plain_kernel", 120, 4)])
    data = NS(planes=[NS(name="/host:CPU", lines=[NS(name="tf_XLAEigen/1", events=[_event("x", 0, 1)])]),
                      NS(name="/device:GPU:0", lines=[stream, NS(name="CUPTI overhead", events=[_event("c", 0, 9)])])])
    got = bench_profile.kernels(data, steps=2)
    assert got["lines"] == ["/device:GPU:0: Stream #7(Kernel,MemcpyD2H)"]
    assert list(got["kernels"]) == ["fusion.1", "fusion.2", "plain_kernel"]
    assert got["kernels"]["fusion.1"] == pytest.approx({"launches": 1.0, "seconds": 40e-9})
    assert got["launches_per_step"] == 2 and got["kernel_s_per_step"] == pytest.approx(47e-9)
    assert got["copies_per_step"] == 0.5 and got["copy_s_per_step"] == pytest.approx(1.5e-9)


def test_an_xla_ops_line_is_taken_over_the_streams():
    """Where a device plane has an ``XLA Ops`` line (the streams repeat the same kernels), only it
    counts."""
    ops = NS(name="XLA Ops", events=[_event("fusion.1", 0, 40)])
    stream = NS(name="Stream #7", events=[_event("fusion.1", 0, 40)])
    got = bench_profile.kernels(NS(planes=[NS(name="/device:GPU:0", lines=[ops, stream])]), steps=1)
    assert got["lines"] == ["/device:GPU:0: XLA Ops"] and got["launches_per_step"] == 1


def test_quick_run_on_this_cpu(tmp_path, capsys):
    """The command end to end: a scan of two chunk sizes whose line goes through both points, and
    the kernels of XLA's CPU threads, with a trace kept where asked."""
    out = tmp_path / "p.json"
    assert bench_profile.main(["--quick", "--json", str(out), "--trace", str(tmp_path / "trace"), "--top", "5"]) == 0
    result = json.loads(out.read_text())
    rows = result["scan"]["rows"]
    assert [r["chunk"] for r in rows] == [2**16, 2**18] and all(r["best_s"] > 0 for r in rows)
    fit = result["scan"]["fixed_s"] + np.array([r["pulses"] for r in rows]) * result["scan"]["seconds_per_pulse"]
    assert list(fit) == pytest.approx([r["best_s"] for r in rows], rel=1e-6)
    assert result["profile"]["chunk"] == 2**18  # --quick traces the scan's largest chunk
    prof = result["profile"]
    assert 0 < len(prof["kernels"]) <= 5 and prof["launches_per_step"] > len(prof["kernels"])
    assert all(line.startswith("/host:CPU: tf_XLA") for line in prof["lines"])
    assert (tmp_path / "trace").is_dir() and prof["trace"].endswith(".xplane.pb")
    assert "least squares over the scan;" in capsys.readouterr().out


def test_the_satellite_pass_and_one_chunk_size(tmp_path, capsys):
    """The pass (one point, its time slots) profiles too; one chunk size (given twice) gives no
    line rather than a made-up one, and a size that is not a power of two is shown as a number."""
    out = tmp_path / "p.json"
    assert bench_profile.main(["--quick", "--experiment", "satellite_pass", "--chunks", "196608", "196608",
                               "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["link"] == "satellite_pass" and result["points"] == 1
    assert [r["chunk"] for r in result["scan"]["rows"]] == [196608] and result["scan"]["fixed_s"] is None
    assert result["profile"]["trace"] is None and result["profile"]["launches_per_step"] > 0
    text = capsys.readouterr().out
    assert "no line: a scan of one chunk size" in text and "196,608" in text


def test_bad_chunk_is_refused(capsys):
    with pytest.raises(SystemExit) as err:
        bench_profile.main(["--chunks", "1000"])
    assert err.value.code == 2 and "--chunks 1000: must be a multiple of 65536" in capsys.readouterr().err


def test_a_failed_trace_keeps_the_scan(tmp_path, capsys, monkeypatch):
    """Without a trace of the device's kernels the scan is still printed and written, the profile
    names why, and the command's exit status is 1."""
    def no_trace(*args, **kwargs):
        raise RuntimeError("the trace lists no kernels of the device")

    monkeypatch.setattr(bench_profile, "profile", no_trace)
    out = tmp_path / "p.json"
    assert bench_profile.main(["--quick", "--json", str(out)]) == 1
    result = json.loads(out.read_text())
    assert len(result["scan"]["rows"]) == 2 and result["profile"]["error"].startswith("the trace lists no kernels")
    text = capsys.readouterr().out
    assert "compile [s]" in text and "no kernel profile: the trace lists no kernels of the device" in text
