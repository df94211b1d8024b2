"""Sweep points and blocks shared over several devices give the counts of one device, exactly.

Runs in a fresh interpreter with ``--xla_force_host_platform_device_count=4`` (four CPU devices) and
uses the first 1, 2, 3 and 4 of them."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kqjax.engine import driver

SCRIPT = textwrap.dedent("""
    import json, sys
    import jax, numpy as np
    from kqjax.engine import driver
    from kqjax.engine.keys import BLOCK
    from kqjax.links.link import WORK_BYTES_PER_CELL, plan_slots, simulate
    from tests.links.helpers import make_link

    path = sys.argv[1]
    open(path, "w").write("time_s,loss_db\\n0,30\\n2,3\\n")
    CHUNK = 12  # blocks a chunk: a multiple of 1, 2, 3 and 4 devices
    cases = {  # name: overrides, mode, pulses, slot_s, points a step (None: the whole grid)
        "event static": (["channel.length_km=[0,25,50]"], "event", 5 * BLOCK + 7, None, None),
        "count changing, slices": (["experiment=bb84_table", f"channel.path={path}", "source.rep_rate_mhz=1",
                                    "detector.efficiency=[0.3,0.4,0.5,0.6,0.7]"],
                                   "count", 13 * BLOCK + 3, 0.2, 2),
    }
    shapes = []  # mesh shape of each run, as simulate builds it
    build = driver.mesh
    driver.mesh = lambda used, points: shapes.append(driver.layout(points, len(used))) or build(used, points)
    out = {"devices": jax.local_device_count()}
    for name, (overrides, mode, pulses, slot_s, per_slice) in cases.items():
        link, _ = make_link(overrides)
        memory = None
        if per_slice:  # a budget of per_slice points a step (two steps in flight)
            s, o = link.shape()
            slots = plan_slots(link, pulses, slot_s).count
            memory = 2 * per_slice * WORK_BYTES_PER_CELL * (CHUNK + slots) * (s + s * o)
        shapes.clear()
        runs = {d: simulate(link, pulses=pulses, seed=11, chunk_size=CHUNK * BLOCK, mode=mode, progress=False,
                            workers=2, devices=d, memory=memory, **({"slot_s": slot_s} if slot_s else {}))
                for d in (1, 2, 3, 4)}
        out[name] = {"same": {d: all(np.array_equal(runs[1][k], runs[d][k]) for k in ("sent", "counts"))
                              for d in (2, 3, 4)},
                     "layouts": dict(zip((2, 3, 4), shapes[1:])),
                     "totals": [int(runs[d]["sent"].sum()) for d in (1, 2, 3, 4)],
                     "points": int(runs[1]["sent"].shape[0]), "pulses": pulses,
                     "slot_axis": runs[1]["sent"].ndim == 3}
    print(json.dumps(out))
""")


def test_layout_rule():
    """Points split gcd(points, devices) ways, the blocks over the rest of the devices."""
    assert driver.layout(16, 4) == (4, 1)
    assert driver.layout(6, 4) == (2, 2)
    assert driver.layout(5, 4) == (1, 4)
    assert driver.layout(1, 8) == (1, 8)
    assert driver.layout(9, 3) == (3, 1)
    assert driver.layout(7, 1) == (1, 1)


def test_devices_of_one_process():
    """run.devices counts the devices of all processes; one process here."""
    n = len(driver.devices())
    assert driver.devices(1) == driver.devices()[:1]
    assert driver.devices_valid(n) and not driver.devices_valid(n + 1) and not driver.devices_valid(0)
    with pytest.raises(ValueError, match=rf"run.devices={n + 1}: must be an integer in \[1, {n}\]"):
        driver.devices(n + 1)


def test_one_to_four_devices_count_exactly_as_one(tmp_path):
    """Event mode on a static channel and count mode per time slot over a changing one (the grid of
    5 points in slices of 2, the last padded): ``sent`` and ``counts`` are identical for run.devices
    = 1, 2, 3 and 4 at the same seed, over points-only, blocks-only and 2-D meshes (block keys
    depend on the block index only; a point's draws on its parameters and keys only; int64 sums
    across devices), and every pulse is counted once."""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "PYTHONPATH": str(root)}
    res = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "t.csv")], env=env, cwd=root, check=False,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out.pop("devices") == 4
    expected_layouts = {  # every kind of mesh appears: points only, blocks only, points x blocks
        "event static": {"2": [1, 2], "3": [3, 1], "4": [1, 4]},
        "count changing, slices": {"2": [2, 1], "3": [1, 3], "4": [2, 2]},
    }
    for name, r in out.items():
        assert r["layouts"] == expected_layouts[name], name
        assert all(r["same"].values()), (name, r["same"])
        assert r["totals"] == [r["points"] * r["pulses"]] * 4, name
    assert out["count changing, slices"]["slot_axis"] and out["count changing, slices"]["points"] == 5
