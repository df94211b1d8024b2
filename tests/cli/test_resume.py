"""A multirun killed mid-way and resumed: finished jobs are kept as they are, the rest are redone.

The sweep runs through the installed ``kqjax`` executable in a subprocess and is killed (SIGKILL:
nothing of the job in flight gets written) as soon as its second job has started; then
``kqjax-resume DIR`` relaunches it into the same directory, and so does the same command.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time

import numpy as np
import xarray as xr

from kqjax.results.collect import collect
from kqjax.results.io import write_dataset
from kqjax.results.resume import dataset_complete, finished, multirun_argv
from tests.cli.test_cli import BIN, kqjax

JOB = ("run.mode=event", "run.pulses=1e5", "run.progress=false")


def _wait_for(path, proc, timeout=240.0):
    end = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < end, f"{path} did not appear"
        time.sleep(0.005)


def test_killed_multirun_resumes_without_redoing_finished_jobs(tmp_path):
    sweep = tmp_path / "sweep"
    argv = ["-m", "channel.length_km=0,50,100", *JOB, f"hydra.sweep.dir={sweep}"]
    proc = subprocess.Popen([str(BIN / "kqjax"), *argv], cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    _wait_for(sweep / "1" / ".hydra" / "overrides.yaml", proc)  # Hydra starts the second job
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    first = sweep / "0" / "results.nc"
    assert dataset_complete(first)
    assert not (sweep / "1" / "results.nc").exists() and not (sweep / "2").exists()
    col = kqjax(tmp_path, str(sweep), exe="kqjax-collect")
    assert col.returncode == 0 and "merged 1 jobs" in col.stdout, col.stderr

    assert multirun_argv(sweep) == argv
    stamp = first.stat().st_mtime_ns
    again = kqjax(tmp_path, str(sweep), exe="kqjax-resume")
    assert again.returncode == 0, again.stderr
    assert f"kqjax: job 0: {first} is complete; skipped" in again.stdout
    assert first.stat().st_mtime_ns == stamp  # not recomputed
    assert [line.startswith("dataset:") for line in again.stdout.splitlines()].count(True) == 2
    assert all(finished(sweep / str(i)) for i in range(3))

    col = kqjax(tmp_path, str(sweep), exe="kqjax-collect")
    assert col.returncode == 0 and "merged 3 jobs" in col.stdout, col.stderr
    with xr.open_dataset(sweep / "merged.nc") as merged:
        np.testing.assert_allclose(merged["length_km"].values, [0, 50, 100])
        assert np.isfinite(merged["key_rate_asymptotic"].values).all()
        assert (merged["key_rate_asymptotic"].diff("length_km") < 0).all()  # less key over longer fiber

    # the same command again into the same directory: every job is complete, none is recomputed
    stamps = [(sweep / str(i) / "results.nc").stat().st_mtime_ns for i in range(3)]
    same = kqjax(tmp_path, *argv)
    assert same.returncode == 0, same.stderr
    assert same.stdout.count("is complete; skipped") == 3, same.stdout
    assert [(sweep / str(i) / "results.nc").stat().st_mtime_ns for i in range(3)] == stamps

    # a dataset from another config is not taken for done
    with xr.open_dataset(first) as ds:
        config = ds.attrs["config"]
    assert finished(sweep / "0", config)
    assert not finished(sweep / "0", config.replace("seed: 0", "seed: 1"))


def test_interrupted_datasets_are_not_complete_and_not_collected(tmp_path):
    """A dataset with ``complete = 0`` (a job stopped by SIGINT/SIGTERM) is not finished and is
    left out of kqjax-collect's merge, which names it."""
    for job, complete in (("0", 1), ("1", 0)):
        ds = xr.Dataset({"key_rate": ("length_km", [1e-3])}, coords={"length_km": [float(job)]},
                        attrs={"complete": complete, "config": "x"})
        write_dataset(ds, tmp_path / job / "results.nc")
    assert finished(tmp_path / "0") and not finished(tmp_path / "1")
    merged = collect(tmp_path)
    assert merged.attrs["jobs"] == 1 and merged.attrs["jobs_incomplete"] == "1"
    (tmp_path / "2" / ".hydra").mkdir(parents=True)  # a job that stopped before writing its dataset
    (tmp_path / "2" / ".hydra" / "overrides.yaml").write_text("- channel.length_km=2\n")
    assert collect(tmp_path).attrs["jobs_incomplete"] == "1 2"
    (tmp_path / "0" / "results.nc").unlink()
    try:
        collect(tmp_path)
    except FileNotFoundError as err:
        assert f"2 incomplete: kqjax-resume {tmp_path} redoes them" in str(err)
    else:
        raise AssertionError("collected an incomplete dataset")


def test_jobs_over_different_time_slots_merge_over_their_union(tmp_path):
    """Passes of different lengths (one per altitude): the merged time_s is the union, a job's
    missing slots hold NaN (rates) and 0 (counts: no pulses), and per-pass values keep their dims."""
    for job, (alt, slots) in enumerate(((400, 2), (800, 3))):
        ds = xr.Dataset({"key_rate": ("time_s", np.full(slots, 1e-3)), "sent": (("time_s", "setting"),
                         np.full((slots, 2), 7, np.int64)), "pass_duration_s": ((), float(slots))},
                        coords={"time_s": 0.5 + np.arange(slots) * (1.0 + 0.1 * job)},  # slots of each pass
                        attrs={"complete": 1, "config": "x"})
        write_dataset(ds, tmp_path / str(job) / "results.nc")
        (tmp_path / str(job) / ".hydra").mkdir()
        (tmp_path / str(job) / ".hydra" / "overrides.yaml").write_text(f"- channel.altitude_km={alt}\n")
    merged = collect(tmp_path)
    assert merged.sizes == {"altitude_km": 2, "time_s": 4, "setting": 2}  # 0.5 shared
    assert merged["pass_duration_s"].dims == ("altitude_km",) and list(merged["pass_duration_s"].values) == [2, 3]
    assert merged["sent"].dtype == np.int64 and int(merged["sent"].sum()) == 7 * 2 * (2 + 3)
    assert int(merged["key_rate"].notnull().sum()) == 5


def test_resume_of_a_directory_without_a_multirun_is_an_error(tmp_path):
    proc = kqjax(tmp_path, str(tmp_path), exe="kqjax-resume")
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"kqjax-resume: error: {tmp_path}: no multirun.yaml (not a kqjax -m sweep directory)"
    assert not os.listdir(tmp_path)
