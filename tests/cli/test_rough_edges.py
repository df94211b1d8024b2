"""Rough edges of the command line, run as a user types the commands: the installed executables
in a fresh temporary directory (see ``test_cli.py``).

Input that Hydra would accept silently, ``--version``/``--help``, a missing optional dependency,
file modes, output directories, interrupts (SIGINT/SIGTERM) and the warning before a long run.
"""
from __future__ import annotations

import gc
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from tests.cli.test_cli import BIN, EVENT, PULSES, kqjax, printed_paths


def sibling(tmp_path: Path, name: str) -> Path:
    """A path beside ``tmp_path`` (so that ``tmp_path`` itself stays empty)."""
    return tmp_path.parent / f"{tmp_path.name}-{name}"


def refused(proc, tmp_path, *parts):
    """Exit status 2, one line ``kqjax: error: ...`` holding every one of ``parts``, nothing written."""
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("kqjax: error: "), lines[0]
    for part in parts:
        assert part in lines[0], (part, lines[0])
    assert "Traceback" not in proc.stdout + proc.stderr
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# 1, 4, 5: input that was accepted silently or explained badly

REFUSED = {
    "unknown_top_level_key": (["+foo=bar"], "foo", "bar", "unknown option", "distance_km"),
    "list_for_a_group": (["detector=[snspd,gys]"], "detector=[snspd,gys]", "-m detector=snspd,gys"),
    "list_for_a_group_in_a_multirun": (["-m", "detector=[snspd,gys]"], "detector=[snspd,gys]",
                                       "-m detector=snspd,gys"),
    "list_for_an_arm": (["experiment=entanglement_100km", "detector@detector_a=[snspd,gys]"],
                        "detector@detector_a=[snspd,gys]", "-m detector@detector_a=snspd,gys"),
    "typo_in_a_range": (["channel.length_km=lnspace:0:250:51"], "channel.length_km=lnspace:0:250:51",
                        "[a,b,...]", "linspace:", "logspace:", "geomspace:", "arange:"),
    "typo_in_a_range_call": (["channel.length_km=lnspace(0,250,51)"], "channel.length_km=lnspace(0,250,51)",
                             "[a,b,...]", "linspace:", "logspace:", "geomspace:", "arange:"),
    "progress_choice": (["run.progress=maybe"], "run.progress=maybe", "one of auto, true, false"),
    "source_of_another_protocol": (["source=spdc"], "source=spdc", "bb84_decoy", "weak_coherent"),
    "source_of_another_protocol_in_one_job": (["-m", "source=weak_coherent,spdc"], "source=spdc", "weak_coherent"),
    "twin_field_needs_its_source": (["experiment=tf_qkd", "source=weak_coherent"], "source=weak_coherent",
                                    "twin_field"),
    "geometric_range_through_zero": (["channel.length_km=geomspace:0:100:3"],
                                     "channel.length_km=geomspace:0:100:3", "same sign, neither 0"),
    "range_beyond_floats": (["channel.length_km=logspace:0:1e6:3"], "channel.length_km=logspace:0:1e6:3",
                            "beyond the float range"),
    "range_of_a_billion_values": (["channel.length_km=linspace:0:100:1e9"], "linspace:0:100:1e9", "1000000"),
    "range_whose_step_overflows": (["channel.length_km=linspace:-1e308:1e308:3"],
                                   "channel.length_km=linspace:-1e308:1e308:3", "beyond the float range"),
    "range_of_complex_numbers": (["channel.length_km=linspace:0:1j:3"], "linspace:0:1j:3", "cannot read"),
    "hydra_float_range_with_step_zero": (["-m", "channel.length_km=range(0,10,0.0)"],
                                         "channel.length_km=range(0,10,0.0)", "Invalid range"),
    "hydra_range_with_step_zero": (["-m", "channel.length_km=range(0,10,0)"], "channel.length_km=range(0,10,0)",
                                   "must not be zero"),
    "multirun_of_a_hundred_million_jobs": (["-m", "channel.length_km=range(0,100000000)"],
                                           "channel.length_km=range(0,100000000)", "100,000,000 jobs",
                                           "at most 10,000", "linspace:"),
    "multirun_whose_product_is_too_large": (["-m", "channel.length_km=range(0,200)", "run.seed=range(0,50.5,0.5)"],
                                            "channel.length_km=range(0,200) run.seed=range(0,50.5,0.5)",
                                            "20,200 jobs", "sweep channel.length_km inside one run"),
    "multirun_of_an_endless_range": (["-m", "channel.length_km=range(0,inf)"], "channel.length_km=range(0,inf)",
                                     "a range needs a finite start, stop and step"),
    "multirun_shown_with_cfg": (["-m", "channel.length_km=1,2", "--cfg", "job"], "-m and --cfg do not go together",
                                "without -m"),
    "multirun_shown_with_info": (["--multirun", "channel.length_km=1,2", "-i"], "-m and -i do not go together"),
    "multirun_of_a_glob_times_a_range": (["-m", "detector=glob(*)", "channel.length_km=range(0,5000)"],
                                         "channel.length_km=range(0,5000)", "15,000 jobs"),
    "multirun_of_an_empty_sweep_and_a_huge_one": (["-m", "channel.length_km=range(0,3e6)", "run.seed=range(3,3)"],
                                                  "channel.length_km=range(0,3e6) alone has 3,000,000 values"),
    "multirun_of_a_range_beyond_floats": (["-m", "channel.length_km=range(0,1e300,1e-300)"],
                                          "channel.length_km=range(0,1e300,1e-300): more values than"),
    "multirun_of_a_glob_over_a_field": (["-m", "channel.length_km=glob(*)"], "channel.length_km=glob(*)",
                                        "presets of a config group"),
    "multirun_of_a_glob_matching_nothing": (["-m", "detector=glob(zz*)"], "detector=glob(zz*)",
                                            "matches none of", "snspd"),
    "fading_of_another_kind": (["channel=free_space", "channel.fading.kind=gamma_gamma", "channel.fading.alpha=4"],
                               "channel.fading.alpha=4", "'~channel.fading' '+channel.fading={kind:"),
    "navigation_of_two_steps": (["experiment=navigation_drift", "navigation.duration_s=1e-3",
                                 "navigation.step_s=5e-4"], "navigation.step_s=0.0005", "at least 3 steps"),
}


@pytest.mark.parametrize("case", REFUSED.values(), ids=REFUSED.keys())
def test_refused_before_any_work(tmp_path, case):
    args, *parts = case
    refused(kqjax(tmp_path, *args, PULSES), tmp_path, *parts)


def test_hydra_keys_may_still_be_added(tmp_path):
    """``+hydra.*`` is Hydra's own business: not refused (``--cfg hydra`` composes it, runs nothing)."""
    proc = kqjax(tmp_path, "+hydra.job.env_set.KQJAX_TEST=1", "--cfg", "hydra")
    assert proc.returncode == 0, proc.stderr
    assert "KQJAX_TEST" in proc.stdout


# ---------------------------------------------------------------------------------------------
# 2: --version and --help are kqjax's


def test_version(tmp_path):
    import jax

    import kqjax as kq

    proc = kqjax(tmp_path, "--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"kqjax {kq.__version__} (jax {jax.__version__})\n"
    assert list(tmp_path.iterdir()) == []


def test_help_lists_experiments_groups_presets_and_sweeps(tmp_path):
    from kqjax.engine.params import conf_dir

    proc = kqjax(tmp_path, "--help")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "powered by Hydra" not in text and text.startswith("usage: kqjax")
    conf = conf_dir()
    for path in conf.glob("experiment/*.yaml"):
        assert f"  {path.stem} " in text, path.stem
    for group in (p for p in conf.iterdir() if p.is_dir() and p.name != "experiment" and any(p.glob("*.yaml"))):
        assert f"  {group.name} " in text, group.name
        for preset in group.glob("*.yaml"):
            assert preset.stem in text, preset.stem
    for word in ("-m", "linspace:", "kqjax-collect", "README", "docs/", "--hydra-help"):
        assert word in text, word
    assert kqjax(tmp_path, "-h").stdout == text
    hydra_help = kqjax(tmp_path, "--hydra-help")
    assert hydra_help.returncode == 0 and "Hydra" in hydra_help.stdout
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# 3: kqjax-bench-sensors without allantools


def test_bench_sensors_without_allantools(tmp_path):
    shim = sibling(tmp_path, "shim")
    shim.mkdir()
    (shim / "allantools.py").write_text('raise ImportError("No module named \'allantools\' (test shim)")\n')
    env = dict(os.environ, PYTHONPATH=str(shim))
    proc = subprocess.run([str(BIN / "kqjax-bench-sensors"), "--quick"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, env=env, check=False)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert "allantools" in lines[0] and "pip install 'kqjax[test]'" in lines[0]
    assert "Traceback" not in proc.stderr and proc.stdout == ""


# ---------------------------------------------------------------------------------------------
# 6: written files follow the umask


def test_files_follow_the_umask(tmp_path):
    # the umask set by a shell, as a user's is: no Python code between fork and exec
    proc = subprocess.run(["sh", "-c", 'umask 022 && exec "$0" "$@"', str(BIN / "kqjax"), *EVENT,
                           "channel.length_km=[0,50]"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    paths = printed_paths(proc.stdout)
    written = paths["dataset"] + paths["plot"]
    assert len(written) == 2
    for path in written:
        assert path.stat().st_mode & 0o777 == 0o644, (path, oct(path.stat().st_mode))


@pytest.mark.parametrize("umask,mode", [(0o077, 0o600), (0o002, 0o664)])
def test_atomic_writes_follow_the_umask(tmp_path, umask, mode):
    from kqjax.results.io import write_dataset

    old = os.umask(umask)
    try:
        path = write_dataset(xr.Dataset({"x": ("i", np.arange(3))}), tmp_path / "x.nc")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == mode


# ---------------------------------------------------------------------------------------------
# 7: the output directory is checked before any work


def test_unusable_run_directory(tmp_path):
    blocker = sibling(tmp_path, "file")
    blocker.write_text("")
    proc = kqjax(tmp_path, f"hydra.run.dir={blocker}/run", PULSES)
    refused(proc, tmp_path, "kqjax: error: output directory ", f"{blocker}/run", "not a directory")


def test_unusable_sweep_directory(tmp_path):
    blocker = sibling(tmp_path, "file")
    blocker.write_text("")
    proc = kqjax(tmp_path, "-m", f"hydra.sweep.dir={blocker}/sweep", "channel.attenuation_db_per_km=0.16,0.2",
                 PULSES)
    refused(proc, tmp_path, "kqjax: error: output directory ", f"{blocker}/sweep", "not a directory")


@pytest.mark.parametrize("where", ["file", "below_a_file"])
def test_api_checks_output_dir_before_any_work(tmp_path, monkeypatch, where):
    import kqjax as kq
    import kqjax.api

    def never(*args, **kwargs):
        raise AssertionError("the simulation ran")

    monkeypatch.setattr(kqjax.api, "execute", never)
    blocker = tmp_path / "file"
    blocker.write_text("")
    out = blocker if where == "file" else blocker / "a" / "b"
    with pytest.raises(kq.ConfigError, match=r"^output directory .*not a directory$"):
        kq.run([PULSES], output_dir=out)


def test_api_creates_output_dir(tmp_path, monkeypatch):
    import kqjax as kq
    import kqjax.api

    monkeypatch.setattr(kqjax.api, "execute", lambda cfg, output_dir, prepared: (output_dir, []))
    assert kq.run([PULSES], output_dir=tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert (tmp_path / "a" / "b").is_dir()


# ---------------------------------------------------------------------------------------------
# 8, 9: interrupts, and the warning before a long run


def start(tmp_path, *args):
    """Start ``kqjax args`` in ``tmp_path``; stderr goes to a file beside it (read while it runs)."""
    err = sibling(tmp_path, "stderr.txt")
    proc = subprocess.Popen([str(BIN / "kqjax"), *args], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=err.open("w"), text=True)
    return proc, err


def wait_for(condition, timeout=180.0):
    t0 = time.monotonic()
    while not condition():
        assert time.monotonic() - t0 < timeout, "timed out"
        time.sleep(0.02)


def stop(proc, err, sig):
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=180)
    lines = [ln for ln in err.read_text().replace("\r", "\n").splitlines() if ln.strip()]
    return out, lines


@pytest.mark.parametrize("sig,code,pulses", [(signal.SIGINT, 130, "1e13"), (signal.SIGTERM, 143, "1e15")])
def test_interrupt_writes_what_is_done(tmp_path, sig, code, pulses):
    """Stopped once the progress bar shows: the finished chunks are written (complete = 0,
    pulses_done), one line says so, exit status 130 (SIGINT) or 143 (SIGTERM). 10^15 pulses
    (about a day on a CPU) are announced before the run starts."""
    proc, err = start(tmp_path, f"run.pulses={pulses}", "channel.length_km=[10]")
    wait_for(lambda: "pulses/s" in err.read_text())
    out, lines = stop(proc, err, sig)
    assert proc.returncode == code, lines
    name = signal.Signals(sig).name
    assert lines[-1].startswith(f"kqjax: {name}: stopped after ") and "complete = 0" in lines[-1], lines
    # the notice from the measured speed (once the first chunks are timed) may come between
    measured = [ln for ln in lines if ln.startswith("kqjax: at the measured ")]
    assert all(" h more; Ctrl-C stops it" in ln for ln in measured) and len(measured) <= 1, lines
    ours = [ln for ln in lines if ln.startswith("kqjax") and ln not in measured]
    if pulses == "1e15":
        assert len(ours) == 2 and ours[0].startswith("kqjax: this run will take about "), lines
        assert " h (1e+15 pulses x 1 point)" in ours[0] and "Ctrl-C" in ours[0]
    else:
        assert len(ours) == 1, lines
    (nc,) = printed_paths(out)["dataset"]
    with xr.open_dataset(nc) as ds:
        attrs = dict(ds.attrs)
        assert np.isfinite(ds["key_rate"].values).all()
    assert attrs["complete"] == 0
    assert 0 < attrs["pulses_done"] < attrs["pulses"] == float(pulses)
    assert "Traceback" not in "\n".join(lines)


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_before_the_first_chunk_leaves_nothing(tmp_path, sig, code):
    """Stopped as soon as Hydra has made the run directory (the step still compiling: a grid no
    other test uses, so nothing is cached): one line, exit 130/143, and no ``outputs/``."""
    proc, err = start(tmp_path, "run.pulses=1e13", "channel.length_km=linspace:0:60:7")
    wait_for(lambda: any(tmp_path.glob("outputs/*/*/.hydra/overrides.yaml")))
    _, lines = stop(proc, err, sig)
    assert proc.returncode == code, lines
    assert lines == [f"kqjax: {signal.Signals(sig).name}: stopped before any result; nothing written"]
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    logs = {p.name: p.read_text()[-300:] for p in tmp_path.rglob("*.log")}
    assert left == [], (left, logs)


def test_interrupt_right_after_start_leaves_nothing(tmp_path):
    """Ctrl-C half a second after the command starts: no ``outputs/``. The status is 130 once
    ``kqjax.cli`` runs; before that (Python still importing jax, about 1 s) Python's own handler
    ends the process by SIGINT, which a shell also shows as 130."""
    proc, err = start(tmp_path, "run.pulses=1e13", "channel.length_km=[10]")
    time.sleep(0.5)
    _, lines = stop(proc, err, signal.SIGINT)
    assert proc.returncode in (130, -signal.SIGINT), lines
    if proc.returncode == 130:
        assert len(lines) == 1 and lines[0].startswith("kqjax: SIGINT: stopped before any result"), lines
    assert list(tmp_path.iterdir()) == []


def test_stop_flag_is_seen_by_the_loop():
    """A stop asked for while the loop waits (what the signal handlers do; a KeyboardInterrupt
    raised in a garbage-collector callback would be lost) keeps the finished chunks."""
    from kqjax.engine import driver
    from kqjax.engine.keys import BLOCK

    def step(first, sizes):
        if int(first) == 3:
            driver.request_stop()
        time.sleep(0.05)
        return np.sum(sizes)

    driver.reset_stop()
    handler = signal.getsignal(signal.SIGINT)
    try:
        acc = driver.accumulate(step, 100 * BLOCK, BLOCK, progress=False, workers=2)
    finally:
        driver.reset_stop()
    assert not acc.complete and 0 < acc.pulses < 100 * BLOCK and int(acc.counts) == acc.pulses
    assert signal.getsignal(signal.SIGINT) is handler


def test_ctrl_c_during_the_loop_is_never_lost():
    """With Python's default SIGINT handler (the API), a Ctrl-C while the loop runs stops it and
    keeps the finished chunks, even with a garbage-collector callback that runs Python code."""
    from kqjax.engine import driver
    from kqjax.engine.keys import BLOCK

    def step(first, sizes):
        time.sleep(0.05)
        return np.sum(sizes)

    def callback(phase, info):
        time.sleep(0)

    gc.callbacks.append(callback)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    # Python's own handler, as in an interactive session (a shell starts background jobs with
    # SIGINT ignored, which Python then keeps)
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        timer.start()
        acc = driver.accumulate(step, 10_000 * BLOCK, BLOCK, progress=False, workers=2)
        after = signal.getsignal(signal.SIGINT)
    finally:
        timer.cancel()
        gc.callbacks.remove(callback)
        signal.signal(signal.SIGINT, inherited)
    assert not acc.complete and 0 < acc.pulses < 10_000 * BLOCK
    assert not driver.stop_requested()
    assert after is signal.default_int_handler


def test_signal_in_a_gc_callback_is_delivered_again(monkeypatch):
    """A Ctrl-C that lands in a garbage-collector callback (jax's ``_xla_gc_callback``, where
    Python would print and drop the KeyboardInterrupt) raises nothing there and is sent again."""
    import gc
    import sys

    from kqjax import cli
    from kqjax.engine import driver

    sent, raised = [], []
    monkeypatch.setattr(cli.os, "kill", lambda pid, sig: sent.append(sig))
    driver.reset_stop()

    def callback(phase, info):
        if phase == "start":
            try:
                cli._on_signal(signal.SIGINT, sys._getframe())
            except KeyboardInterrupt:
                raised.append(phase)

    gc.callbacks.append(callback)
    try:
        gc.collect()
    finally:
        gc.callbacks.remove(callback)
    deadline = time.time() + 5
    while not sent and time.time() < deadline:
        time.sleep(0.01)
    assert raised == [] and sent == [signal.SIGINT] and not driver.stop_requested()
    with pytest.raises(KeyboardInterrupt):  # outside a callback the same signal stops at once
        cli._on_signal(signal.SIGINT, sys._getframe())
    driver.reset_stop()
    cli._STATE["signal"] = None


def test_only_kqjax_user_warnings_are_one_line(monkeypatch):
    """kqjax's own UserWarnings print as ``kqjax: warning: ...``; numpy's RuntimeWarnings raised on
    a kqjax line, and other packages' warnings, keep Python's format; installing it twice does not
    wrap it twice."""
    import warnings

    from kqjax import cli

    monkeypatch.setattr(warnings, "formatwarning", warnings.formatwarning)
    cli._one_line_warnings()
    cli._one_line_warnings()
    assert not hasattr(warnings.formatwarning.default, "default")  # wraps Python's, not itself
    here = cli.__file__
    assert warnings.formatwarning("beyond it", UserWarning, here, 1) == "kqjax: warning: beyond it\n"
    assert warnings.formatwarning("divide by zero", RuntimeWarning, here, 1).startswith(f"{here}:1: RuntimeWarning")
    assert warnings.formatwarning("old", UserWarning, "/elsewhere/x.py", 3).startswith("/elsewhere/x.py:3: UserWarning")


def test_a_multirun_is_counted_as_hydra_lists_it():
    """A sweep up to the cap counts as Hydra lists it (choices, integer, empty, negative and float
    ranges); beyond the cap a range is estimated, within one of Hydra's count (its float ranges step
    in decimals: 40 random ranges of 10 000-10 200 values), without being listed."""
    import random

    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from kqjax.config.compose import MAX_JOBS, sweep_size

    def listed(override):
        return sum(len(b) for b in BasicSweeper.split_arguments([override], max_batch_size=None))

    for text in ["a=1,2,3", "a=choice(x,y)", "a=range(5)", "a=range(2,9,3)", "a=range(0.5,2.6,0.5)",
                 "a=range(5,0,-2)", "a=range(3,3)", "a=range(0,1,0.3)", "a=range(10,0)", "a=range(3.0,3.91,0.07)"]:
        (override,) = OverridesParser.create().parse_overrides([text])
        assert sweep_size(override) == listed(override), text
    rng = random.Random(1)
    for _ in range(40):
        step = round(rng.uniform(0.001, 0.01), 4)
        a = round(rng.uniform(-5, 5), 3)
        (override,) = OverridesParser.create().parse_overrides(
            [f"a=range({a},{round(a + step * rng.uniform(MAX_JOBS + 2, MAX_JOBS + 200), 3)},{step})"])
        n = listed(override)
        if n > MAX_JOBS + 2:
            assert abs(sweep_size(override) - n) <= 1, override.input_line


def test_a_key_given_twice_counts_as_hydra_sweeps_it():
    """Hydra sweeps the last of a key given twice: so does the count (20 000 values, then 3)."""
    from kqjax.config.compose import expand_multirun

    assert expand_multirun(["run.seed=range(0,20000)", "run.seed=range(0,3)"]) == [[f"run.seed={i}"] for i in range(3)]


def test_a_glob_expands_as_hydra_expands_it(tmp_path):
    """A glob over a group's presets is listed as Hydra lists it (its group's presets in order, the
    excluded ones left out), and the multirun runs the jobs the checks composed: ``glob(sn*)`` is
    one job, with the SNSPD."""
    from kqjax.config.compose import conf_dir, expand_multirun

    presets = sorted(p.stem for p in (conf_dir() / "detector").glob("*.yaml"))
    assert expand_multirun(["detector=glob(*)", "run.seed=1,2"]) == [
        [f"detector={d}", f"run.seed={s}"] for d in presets for s in (1, 2)]
    assert expand_multirun(["detector@detector_a=glob(*,exclude=gys)"]) == [
        [f"detector@detector_a={d}"] for d in presets if d != "gys"]
    proc = kqjax(tmp_path, "-m", "detector=glob(sn*)", PULSES, "channel.length_km=[0,10]")
    assert proc.returncode == 0, proc.stderr
    done = sorted(tmp_path.glob("multirun/*/*/*/results.nc"))
    assert len(done) == 1
    assert "- detector=snspd" in (done[0].parent / ".hydra" / "overrides.yaml").read_text()
