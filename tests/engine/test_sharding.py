"""The blocks of a chunk shared over several devices give the counts of one device, exactly.

Runs in a fresh interpreter with ``--xla_force_host_platform_device_count=4`` (four CPU devices)."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent("""
    import json, sys
    import jax, numpy as np
    from kqjax.engine.keys import BLOCK
    from kqjax.links.link import simulate
    from tests.links.helpers import make_link

    path = sys.argv[1]
    open(path, "w").write("time_s,loss_db\\n0,30\\n2,3\\n")
    cases = {
        "event static": (["channel.length_km=[0,50]"], "event", 5 * BLOCK + 7, {}),
        "count changing": (["experiment=bb84_table", f"channel.path={path}", "source.rep_rate_mhz=1"],
                           "count", 9 * BLOCK + 3, {"slot_s": 0.2}),
    }
    out = {"devices": jax.local_device_count()}
    for name, (overrides, mode, pulses, extra) in cases.items():
        link, _ = make_link(overrides)
        runs = {d: simulate(link, pulses=pulses, seed=11, chunk_size=4 * BLOCK, mode=mode, progress=False,
                            workers=2, devices=d, **extra) for d in (1, 4)}
        out[name] = {"same": all(np.array_equal(runs[1][k], runs[4][k]) for k in ("sent", "counts")),
                     "total": int(runs[4]["sent"].sum()), "points": int(runs[4]["sent"].shape[0]),
                     "pulses": pulses}
    print(json.dumps(out))
""")


def test_four_devices_count_exactly_as_one(tmp_path):
    """Event mode on a static channel, count mode on a changing one: ``sent`` and ``counts``
    are identical for run.devices = 1 and 4 at the same seed (block keys depend on the block index
    only; int64 sums across devices), and every pulse is counted once."""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "PYTHONPATH": str(root)}
    res = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "t.csv")], env=env, cwd=root, check=False,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out.pop("devices") == 4
    for name, r in out.items():
        assert r["same"], name
        assert r["total"] == r["points"] * r["pulses"], name
