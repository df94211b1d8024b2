"""A channel given as a time series, and the engine's time slots over it.

Per-slot Monte Carlo counts against their exact expectation (the expected counts of every block
of the slot at its own time, summed), 5 standard deviations at a fixed seed.
"""
import re

import jax
import numpy as np
import pytest

from kqjax.engine import keys
from kqjax.links.channels.transmittance_table import DOWN, TableError, read_table
from kqjax.links.link import simulate

from .helpers import make_link

SIGMA = 5.0


def write(tmp_path, text, name="pass.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_reads_loss_or_transmittance_and_interpolates_in_db(tmp_path):
    """ln(eta) is linear in time between rows (loss in dB linear), and the link is down outside."""
    path = write(tmp_path, "time_s,loss_db,elevation_deg\n0,40,10\n10,20,60\n")
    link, _ = make_link(["experiment=bb84_table", f"channel.path={path}"])
    ch = jax.tree_util.tree_map(lambda x: x[0], link.parts["channel"])
    assert ch.time_varying and not ch.random
    assert np.isclose(float(ch.loss_db(5.0)), 30.0, rtol=1e-12)
    assert np.isclose(float(ch.transmittance(2.5)), 10 ** -3.5, rtol=1e-12)
    assert float(ch.log_transmittance(-1.0)) == DOWN and float(ch.transmittance(11.0)) == 0.0
    t = read_table(write(tmp_path, "time_s,transmittance\n0,0.5\n1,0\n", "t.csv"))
    assert np.allclose(t["log_eta"], [np.log(0.5), DOWN])


def test_a_relative_path_is_also_looked_up_in_the_shipped_configs(tmp_path, monkeypatch):
    """From any working directory, data/... names a table shipped in kqjax's conf/; a file of that
    name in the working directory comes first; a missing one is refused."""
    from kqjax.engine.params import conf_dir

    monkeypatch.chdir(tmp_path)
    shipped = read_table("data/satquma_fs_loss_xi0.csv")
    assert np.array_equal(shipped["time_s"], read_table(conf_dir() / "data" / "satquma_fs_loss_xi0.csv")["time_s"])
    (tmp_path / "data").mkdir()
    write(tmp_path / "data", "time_s,loss_db\n0,30\n1,20\n", "satquma_fs_loss_xi0.csv")
    assert len(read_table("data/satquma_fs_loss_xi0.csv")["time_s"]) == 2
    with pytest.raises(TableError, match="no such file"):
        read_table("data/none.csv")


@pytest.mark.parametrize("text,why", [
    ("time_s,transmittance\n0,0.1\n2,0.2\n2,0.3\n", "line 4: time_s=2 must be > 2"),
    ("time_s,transmittance\n0,0.1\n1,1.5\n", "line 3: transmittance=1.5 must be in [0, 1]"),
    ("time_s,loss_db\n0,3\n1,-1\n", "line 3: loss_db=-1 must be >= 0"),
    ("time,loss_db\n0,3\n1,4\n", "line 1: needs the columns time_s and transmittance or loss_db"),
    ("time_s,loss_db\n0,3\n1,x\n", "line 3: cannot read"),
    ("time_s,transmittance,loss_db\n0,0.1,10\n1,0.1,20\n",
     "line 1: has both transmittance and loss_db columns; give one of them"),
    ("time_s,transmittance\n0,0.1\n1,0.1,5\n", "line 3: 3 fields (1,0.1,5); the header has 2"),
    ("time_s,transmittance,elevation_deg\n0,0.1,10\n1,0.1\n", "line 3: 2 fields (1,0.1); the header has 3"),
    ("# a comment\n\ntime_s,loss_db\n0,3\n# another\n1,-1\n", "line 6: loss_db=-1 must be >= 0"),
])
def test_bad_tables_name_the_line(tmp_path, text, why):
    """The line is the file's own (comments and blank lines counted)."""
    with pytest.raises(TableError, match="^" + re.escape(why)):
        read_table(write(tmp_path, text))


def test_bad_tables_are_one_line_naming_the_field_and_file(tmp_path):
    """Through the config: channel.path=FILE: line N: ...; a directory is not 'no such file'."""
    from kqjax.config.errors import ConfigError

    path = write(tmp_path, "time_s,transmittance,loss_db\n0,0.1,10\n1,0.1,20\n")
    with pytest.raises(ConfigError, match=rf"^channel\.path={path}: line 1: has both transmittance and loss_db"):
        make_link(["experiment=bb84_table", f"channel.path={path}"])
    with pytest.raises(ConfigError, match=rf"^channel\.path={tmp_path}: a directory, not a file$"):
        make_link(["experiment=bb84_table", f"channel.path={tmp_path}"])


@pytest.mark.parametrize("mode,pulses", [("count", 3 * 10**8 + 77), ("event", 2**21 + 5)])
def test_slot_counts_match_their_expectation(tmp_path, mode, pulses):
    """Each slot's counts against the sum over its blocks of (block pulses) x P(setting, outcome)
    at the block's time; the slots add up to every pulse sent, and the pooled rate is the
    estimator on the summed counts (no dead time here, so the decoy estimator sees nothing but
    the counts)."""
    rate_hz = 1e8 if mode == "count" else 1e6
    path = write(tmp_path, "time_s,loss_db\n0,30\n2,3\n4,30\n")
    link, _ = make_link(["experiment=bb84_table", f"channel.path={path}", f"source.rep_rate_mhz={rate_hz / 1e6}",
                         "detector.dark_count_prob=1e-4", "detector.dead_time_ns=0"])
    slot_s = pulses / rate_hz / 5
    out = simulate(link, pulses=pulses, seed=2, mode=mode, slot_s=slot_s, progress=False)
    slots = out["slots"]
    s, o = len(link.protocol.SETTINGS), len(link.protocol.OUTCOMES)
    assert out["sent"].shape == (1, slots.count, s) and out["counts"].shape == (1, slots.count, s, o)
    assert out["sent"].sum() == pulses and slots.pulses.sum() == pulses
    lk = jax.tree_util.tree_map(lambda x: x[0], link)
    blocks = np.arange(-(-pulses // keys.BLOCK))
    sizes = np.minimum(pulses - blocks * keys.BLOCK, keys.BLOCK)
    ps, po = jax.vmap(lambda i: lk.expected_probabilities(lk.block_time(i)))(blocks)
    slot = blocks // slots.blocks
    for name, p in (("sent", ps), ("counts", po)):
        n_p = np.stack([np.tensordot(sizes[slot == k], np.asarray(p)[slot == k], 1) for k in range(slots.count)])
        var = np.stack([np.tensordot(sizes[slot == k], np.asarray(p * (1 - p))[slot == k], 1)
                        for k in range(slots.count)])
        assert np.all(np.abs(out[name][0] - n_p) <= SIGMA * np.sqrt(var) + 1e-9), name
    assert out["key_rate"].shape == (1, slots.count) and np.all(np.isfinite(out["key_rate_pooled"]))
    # without dead time the vacuum + weak decoy estimator depends on the counts alone
    pooled = lk.estimate(out["sent"][0].sum(0), out["counts"][0].sum(0))["key_rate"]
    assert float(pooled) > 0 and np.isclose(out["key_rate_pooled"][0], float(pooled), rtol=1e-12)  # two programs: rounding


def test_slots_do_not_depend_on_chunk_size(tmp_path):
    path = write(tmp_path, "time_s,loss_db\n0,30\n3,10\n")
    link, _ = make_link(["experiment=bb84_table", f"channel.path={path}"])
    runs = [simulate(link, pulses=2**22 + 3, seed=4, chunk_size=c, slot_s=0.004, progress=False, workers=w)["counts"]
            for c in (2**16, 2**20) for w in (1, 2)]
    for r in runs[1:]:
        assert np.array_equal(r, runs[0])


def test_a_run_shorter_than_the_table_warns(tmp_path):
    """``run.pulses`` at the repetition rate sets the seconds of the table a run covers: under
    99 % of its span (the last row's time) the run warns in one line with the pulses that cover
    it all; a run that covers it does not warn."""
    import warnings

    from kqjax.api import prepare
    from kqjax.config.compose import compose

    table = tmp_path / "pass.csv"
    table.write_text("time_s,loss_db\n0,35\n5,20\n10,35\n")
    base = ["experiment=bb84_table", f"channel.path={table}"]
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        prepare(compose([*base, "run.pulses=1e8"]))
        short = [str(w.message) for w in said]
        del said[:]
        prepare(compose([*base, "run.pulses=1e9"]))
    assert short == ["run.pulses=1e+08: covers 1 s of the table's 10 s at 100 MHz; run.pulses=1e+09 covers it all"]
    assert said == []
