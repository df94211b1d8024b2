"""Two processes on this machine, two CPU devices each, run one job through the command line with
``jax.distributed`` (gloo collectives): the work splits over the four devices of both processes,
every process gets the counts of a one-process run, and only process 0 writes."""
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
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


def _launch(tmp_path, overrides, **streams) -> list[subprocess.Popen]:
    """Two processes of one job (two CPU devices each), process i writing under ``tmp_path/run{i}``."""
    root = Path(__file__).resolve().parents[2]
    port = _free_port()
    procs = []
    for i in range(2):
        env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2", "PYTHONPATH": str(root),
               "JAX_COORDINATOR_ADDRESS": f"127.0.0.1:{port}", "JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": str(i)}
        out = {k: v(i) if callable(v) else v for k, v in streams.items()}
        procs.append(subprocess.Popen(
            [sys.executable, "-c", SCRIPT, *overrides, "run.distributed=true", f"hydra.run.dir={tmp_path / f'run{i}'}"],
            env=env, cwd=root, text=True, **out))
    return procs


def test_two_processes_split_the_run_and_match_one(tmp_path):
    procs = _launch(tmp_path, OVERRIDES, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
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
    # gloo's connection messages differ by rank and reach stdout from C++ while the processes connect,
    # in pieces that may be split over lines; Python's buffered table reaches the pipe after them
    # in one write at exit, so the comparison starts at the table's first line (the protocol's title)
    lines = [[ln for ln in o.splitlines() if ln and not ln.startswith(("MESHES", "dataset:", "plot:"))] for o in outs]
    tables = [ls[next(i for i, ln in enumerate(ls) if ln.startswith("bb84_decoy (")):] for ls in lines]
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


def test_a_stop_reaching_one_process_stops_both_after_the_same_chunk(tmp_path):
    """SIGINT to process 1 only, once the run is under way: both processes learn it with the counts
    of the next step, stop after that same chunk, exit 130, and process 0 writes the finished chunks
    (complete = 0) while process 1 writes nothing; neither waits for a step the other has left."""
    logs = [tmp_path / f"err{i}.txt" for i in range(2)]
    procs = _launch(tmp_path, ["run.pulses=1e13", "channel.length_km=[0,50]", "run.progress=true"],
                    stdout=subprocess.DEVNULL, stderr=lambda i: logs[i].open("w"))
    try:
        t0 = time.monotonic()
        while not all(log.is_file() and "pulses/s" in log.read_text() for log in logs):
            assert time.monotonic() - t0 < 300 and all(p.poll() is None for p in procs), logs[0].read_text()[-3000:]
            time.sleep(0.05)
        procs[1].send_signal(signal.SIGINT)
        for p in procs:
            p.wait(timeout=120)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in procs] == [130, 130], [log.read_text()[-2000:] for log in logs]
    assert "Traceback" not in logs[0].read_text() + logs[1].read_text()
    (nc,) = (tmp_path / "run0").glob("*.nc")
    with xr.open_dataset(nc) as ds:
        assert ds.attrs["complete"] == 0 and 0 < ds.attrs["pulses_done"] < ds.attrs["pulses"] == 1e13
        assert (ds["counts"].values >= 0).all() and ds["sent"].values.sum() > 0
    assert not list((tmp_path / "run1").glob("*.nc"))
