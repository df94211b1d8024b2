"""A large grid is computed in slices of points: the counts are those of one unsliced call."""
import numpy as np

from kqjax.engine.keys import BLOCK
from kqjax.links.link import WORK_BYTES_PER_CELL, simulate, slice_points
from tests.links.helpers import make_link


def test_slices_give_the_counts_of_the_whole_grid():
    """Slices of 2 of 5 points (the last padded), two workers: every count equals the unsliced run's."""
    link, _ = make_link(["channel.length_km=[0,20,40,60,80]"])
    pulses = 3 * BLOCK + 99
    s, o = link.shape()
    two = 2 * WORK_BYTES_PER_CELL * (2 + 1) * (s + s * o) * 2  # two points a slice, two workers
    assert slice_points(link, 2, "count", memory=two, workers=2) == 2
    whole = simulate(link, pulses=pulses, seed=5, chunk_size=2 * BLOCK, progress=False, workers=1)
    sliced = simulate(link, pulses=pulses, seed=5, chunk_size=2 * BLOCK, progress=False, workers=2, memory=two)
    assert np.array_equal(whole["sent"], sliced["sent"]) and np.array_equal(whole["counts"], sliced["counts"])
    assert np.array_equal(whole["key_rate"], sliced["key_rate"])
    assert whole["sent"].sum() == 5 * pulses


def test_slice_size_follows_the_memory_budget():
    """Points per slice: the budget over the bytes of one point's work arrays, in [1, points]."""
    link, _ = make_link(["channel.length_km=linspace:0:100:50"])
    s, o = link.shape()
    per_point = WORK_BYTES_PER_CELL * (4096 + 1) * (s + s * o)
    assert slice_points(link, 4096, "count", memory=2**40, workers=1) == 50
    assert slice_points(link, 4096, "count", memory=1, workers=1) == 1
    assert slice_points(link, 4096, "count", memory=2 * 10 * per_point, workers=2) == 10
    assert slice_points(link, 4096, "count", memory=2 * 10 * per_point - 1, workers=2) == 9
    assert slice_points(link, 4096, "event", memory=1) == 50


def test_memory_budget_counts_each_accelerator_and_shares_the_host(monkeypatch):
    """On accelerators every device a step spans holds its share of the work: the budget is 1/8 of
    each one's memory times their number; CPU devices share the host's 256 MiB."""
    import jax

    from kqjax.engine import driver

    assert driver.memory_budget(4) == driver.memory_budget(1) == 2**28  # this CPU

    class Device:
        def memory_stats(self):
            return {"bytes_limit": 80 * 2**30}

    monkeypatch.setattr(driver, "accelerator", lambda: True)
    monkeypatch.setattr(jax, "local_devices", lambda: [Device()])
    assert driver.memory_budget(1) == 10 * 2**30 and driver.memory_budget(4) == 40 * 2**30


def test_default_chunk_follows_the_device_memory(monkeypatch):
    """2^28 count and 2^20 event pulses a step on a CPU; on an accelerator the largest power of two
    up to its memory over 4 GiB times that, from 1 (under 8 GiB) to 16 (64 GiB and more)."""
    import jax

    from kqjax.engine import driver

    assert (driver.default_chunk("count"), driver.default_chunk("event")) == (2**28, 2**20)  # this CPU
    limit = {}

    class Device:
        def memory_stats(self):
            return {"bytes_limit": limit["bytes"]}

    monkeypatch.setattr(driver, "accelerator", lambda: True)
    monkeypatch.setattr(jax, "local_devices", lambda: [Device()])
    for gib, scale in [(2, 1), (7.9, 1), (8, 2), (12, 2), (16, 4), (60, 8), (64, 16), (104, 16), (1000, 16)]:
        limit["bytes"] = int(gib * 2**30)
        assert driver.default_chunk("count") == 2**28 * scale, gib
        assert driver.default_chunk("event") == 2**20 * scale, gib
