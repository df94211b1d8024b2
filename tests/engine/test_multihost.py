"""Two processes on this machine, two CPU devices each, run one job through the command line with
``jax.distributed`` (gloo collectives): the work splits over the four devices of both processes,
every process gets the counts of a one-process run, and only process 0 writes."""
import json
import os
import re
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import xarray as xr

from kqjax.links.link import simulate
from tests.links.helpers import make_link

OVERRIDES = ["run.mode=event", "run.pulses=400000", "channel.length_km=[0,50]", "run.progress=false"]

SCRIPT = textwrap.dedent("""
    import json, sys
    from kqjax.engine import driver
    from kqjax import cli

    meshes = []  # per run: (mesh shape, processes whose devices it holds)
    build = driver.mesh
    driver.mesh = lambda used, points: meshes.append(
        [driver.layout(points, len(used)), sorted({d.process_index for d in used})]) or build(used, points)
    try:
        cli.main(sys.argv[1:])
    finally:
        print("MESHES " + json.dumps(meshes), flush=True)
""")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_split_the_run_and_match_one(tmp_path):
    root = Path(__file__).resolve().parents[2]
    port = _free_port()
    procs = []
    for i in range(2):
        env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "PYTHONPATH": str(root),
               "JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{port}", "JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": str(i)}
        procs.append(subprocess.Popen(
            [sys.executable, "-c", SCRIPT, *OVERRIDES, "run.distributed=true", f"hydra.run.dir={tmp_path / f'run{i}'}"],
            env=env, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = []
    try:
        for p in procs:
            stdout, stderr = p.communicate(timeout=300)
            assert p.returncode == 0, stderr[-3000:]
            outs.append(stdout)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    meshes = [json.loads(next(ln for ln in o.splitlines() if ln.startswith("MESHES "))[7:]) for o in outs]
    # 2 points on 4 devices: points split over the processes, each point's blocks over its process's 2 devices
    assert meshes[0] == meshes[1] == [[[2, 2], [0, 1]]]
    # gloo's connection messages differ by rank and reach stdout from C++, unsynchronised with
    # Python's buffer: a message may be split over lines ("[Gloo] Rank " ... "0 is connected to ...")
    texts = [re.sub(r"\[Gloo\] Rank ?", "", o) for o in outs]
    tables = [[ln for ln in t.splitlines() if ln and "peer ranks" not in ln
               and not ln.startswith(("MESHES", "dataset:", "plot:"))] for t in texts]
    assert any("key rate" in ln for ln in tables[0])
    assert tables[0] == tables[1]  # both processes hold every point's counts and rates
    assert (tmp_path / "run0" / "results.nc").is_file() and (tmp_path / "run0" / "key_rate.png").is_file()
    assert not list((tmp_path / "run1").glob("*.nc")) and not list((tmp_path / "run1").glob("*.png"))

    link, _ = make_link(OVERRIDES)  # one process, one device
    one = simulate(link, pulses=400000, seed=0, mode="event", progress=False)
    with xr.open_dataset(tmp_path / "run0" / "results.nc") as ds:
        assert ds.attrs["device"].endswith("x4")
        np.testing.assert_array_equal(ds["sent"].values, one["sent"])
        np.testing.assert_array_equal(ds["counts"].values, one["counts"])
        np.testing.assert_array_equal(ds["key_rate"].values, one["key_rate"])
