"""Multiruns through kqjax's Hydra launcher presets (conf/hydra/launcher/): joblib (local
processes) and submitit's local executor, two jobs each with few pulses, merged by kqjax-collect.
"""
from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from kqjax.config.compose import compose
from tests.cli.test_cli import EVENT, kqjax, printed_paths


@pytest.mark.parametrize("launcher", ["kqjax_joblib", "kqjax_local"])
def test_two_job_multirun_through_a_launcher(tmp_path, launcher):
    pytest.importorskip({"kqjax_joblib": "hydra_plugins.hydra_joblib_launcher",
                         "kqjax_local": "hydra_plugins.hydra_submitit_launcher"}[launcher])
    sweep = tmp_path / "sweep"
    proc = kqjax(tmp_path, "-m", f"hydra/launcher={launcher}", "channel.length_km=0,50", *EVENT,
                 "run.workers=1", f"hydra.sweep.dir={sweep}")
    assert proc.returncode == 0, proc.stderr
    for i in range(2):
        with xr.open_dataset(sweep / str(i) / "results.nc") as ds:
            assert ds.attrs["complete"] == 1 and ds.attrs["pulses_done"] == 10**6
    if launcher == "kqjax_joblib":  # the jobs' output comes back through joblib
        assert sorted(printed_paths(proc.stdout)["dataset"]) == [sweep / "0" / "results.nc", sweep / "1" / "results.nc"]
    else:  # submitit keeps each job's log and result under .submitit/
        assert list((sweep / ".submitit").rglob("*_result.pkl"))
    col = kqjax(tmp_path, str(sweep), exe="kqjax-collect")
    assert col.returncode == 0 and "merged 2 jobs" in col.stdout, col.stderr
    with xr.open_dataset(sweep / "merged.nc") as merged:
        np.testing.assert_allclose(merged["length_km"].values, [0, 50])
        assert np.isfinite(merged["key_rate_asymptotic"].values).all()
        assert float(merged["key_rate_asymptotic"][1]) < float(merged["key_rate_asymptotic"][0])


def test_slurm_preset_asks_for_a_gpu_cores_memory_and_time():
    """The SLURM preset composes (without a cluster) with the resources every job needs."""
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    launcher = compose(["hydra/launcher=kqjax_slurm", "hydra.launcher.partition=gpu"], hydra_config=True).hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert (launcher.gpus_per_node, launcher.tasks_per_node, launcher.nodes) == (1, 1, 1)
    assert launcher.cpus_per_task >= 1 and launcher.mem_gb >= 1 and launcher.timeout_min >= 1
    assert launcher.partition == "gpu"
