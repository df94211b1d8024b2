"""The worked example of docs/architecture.md runs as written: a new channel in one file, used by
the engine with time slots, without touching anything else."""
import re
from pathlib import Path

import jax
import numpy as np

from kqjax.links.link import simulate

from .helpers import make_link

DOC = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"


def test_new_channel_example_runs_with_time_slots():
    code = re.search(r"## Worked example: a new channel.*?```python\n(.*?)```", DOC.read_text(), re.S).group(1)
    namespace = {}
    exec(compile(code, str(DOC), "exec"), namespace)
    drifting = namespace["DriftingFiber"]
    link, _ = make_link(["channel.length_km=[50]"])
    one = jax.tree_util.tree_map(lambda x: x[0], link)
    period = 4 * 15 * 2**16 / 1e8  # four slots of 15 blocks at 100 MHz
    channel = drifting(length_km=50.0, amplitude_db=3.0, period_s=period)
    assert channel.time_varying and not channel.random
    # 50 km of 0.2 dB/km plus 3 sin(2 pi t / T) dB
    assert np.isclose(float(channel.loss_db(period / 4)), 13.0, rtol=1e-12)
    batched = jax.tree_util.tree_map(lambda x: np.asarray(x)[None], type(one)(one.protocol, {**one.parts, "channel": channel}))
    out = simulate(batched, pulses=4 * 15 * 2**16, seed=0, slot_s=period / 4, progress=False)
    assert out["slots"].count == 4 and out["key_rate"].shape == (1, 4)
    eta = out["transmittance"][0]  # the loss rises in the first half period, falls below 10 dB in the second
    assert np.isclose(eta[0], eta[1], rtol=1e-9) and eta[2] > eta[1] and np.isclose(eta[2], eta[3], rtol=1e-9)
    assert np.all(out["key_rate"][0] > 0)
