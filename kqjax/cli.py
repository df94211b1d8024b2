"""Command line: ``kqjax [overrides]`` runs an experiment with Hydra; ``-m`` runs a multirun.

Every job's config is composed and checked before Hydra starts, so bad input fails with one
line (field, value, what is allowed), exit status 2 and no output directory; so does an output
directory that cannot be written.

SIGINT (Ctrl-C) and SIGTERM stop a run after the chunk in flight: the finished counts are written
(``complete = 0``, ``pulses_done``), one line says so and the exit status is 130 (SIGINT) or 143
(SIGTERM). Stopped before the first chunk finished (e.g. while compiling), nothing is written and
the run directory Hydra made is removed.
"""
from __future__ import annotations

import os
import re
import signal
import sys
import textwrap
import threading
from pathlib import Path

from kqjax.config.compose import (
    DEFAULT_CONFIG,
    check_new_keys,
    compose,
    conf_dir,
    expand_multirun,
    explain_sweep,
)
from kqjax.config.errors import ConfigError

_VALUE_FLAGS = {"-cn", "--config-name", "-cp", "--config-path", "-cd", "--config-dir", "-c", "--cfg",
                "-p", "--package", "-sc", "--shell-completion", "--experimental-rerun"}
_INFO_FLAGS = {"-h", "--help", "--hydra-help", "--version", "-c", "--cfg", "-i", "--info",
               "-sc", "--shell-completion"}
_ONE_JOB_FLAGS = {"-c", "--cfg", "-i", "--info", "-sc", "--shell-completion"}
"""Hydra's flags that show one job and refuse a multirun."""
_EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}

# What the signal handlers and the clean-up after an interruption need to know.
_STATE = {"signal": None, "run_dir": None, "keep": None, "jobs_done": 0}


def split_argv(argv):
    """(overrides, config name, multirun?, info-only?) from Hydra's command line."""
    overrides, name, multirun, info = [], DEFAULT_CONFIG, False, False
    it = iter(argv)
    for arg in it:
        flag, eq, val = arg.partition("=")
        if arg in ("-m", "--multirun"):
            multirun = True
        elif flag in _VALUE_FLAGS and flag.startswith("-"):
            info |= flag in _INFO_FLAGS
            val = val if eq else next(it, "")
            if flag in ("-cn", "--config-name"):
                name = val
        elif arg.startswith("-"):
            info |= arg in _INFO_FLAGS
        else:
            overrides.append(arg)
    return overrides, name, multirun, info


def preflight(argv) -> Path | None:
    """Compose and check every job of the command line, and the output directory, before any work.

    Returns the nearest existing parent of the run (or sweep) directory: what was there before
    Hydra made the rest (None when unknown).
    """
    from kqjax.api import prepare

    overrides, name, multirun, info = split_argv(argv)
    shown = [a.partition("=")[0] for a in argv if a.partition("=")[0] in _ONE_JOB_FLAGS]
    if multirun and shown:
        raise ConfigError("-m", message=f"-m and {shown[0]} do not go together: {shown[0]} shows one job "
                                         "(give one value of each swept field, without -m)")
    if info:
        return None
    own = [o for o in overrides if not o.lstrip("+~").startswith("hydra")]
    custom_sweeper = any(o.startswith("hydra/sweeper") for o in overrides)
    jobs = [own]
    if multirun:
        if custom_sweeper:
            own = [o for o in own if not any(f in o for f in ("interval(", "range(", "choice(", "tag("))]
        jobs = expand_multirun(own) or [own]
    for job in jobs:
        try:
            prepare(compose(job, name))
        except ConfigError as err:
            raise explain_sweep(err) from None
        check_new_keys(job, name)
    hydra_overrides = [o for o in overrides if o.lstrip("+~").startswith("hydra")]
    return _check_output_dir([*jobs[0], *hydra_overrides], name, "sweep" if multirun else "run")


def _init_distributed(argv) -> None:
    """``jax.distributed.initialize`` per the first job's ``run.distributed``, before the checks
    touch a device (:mod:`kqjax.engine.distributed`); nothing to do outside a cluster job unless
    the command line sets it."""
    from kqjax.config.build import check_run
    from kqjax.engine import distributed

    overrides, name, multirun, info = split_argv(argv)
    if info or (distributed.detect() is None and not any("distributed" in o for o in overrides)):
        return
    own = [o for o in overrides if not o.lstrip("+~").startswith("hydra")]
    try:
        job = (expand_multirun(own) or [own])[0] if multirun else own
        run = check_run(compose(job, name).get("run"))
    except ConfigError:
        return  # the checks report it
    distributed.initialize(run.distributed)


def _check_output_dir(overrides, name: str, which: str) -> Path | None:
    """Hydra's run (or sweep) directory must be, or be creatable as, a writable directory."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from kqjax.api import check_output_dir

    try:
        node = compose(overrides, name, hydra_config=True).hydra[which]
    except (ConfigError, OmegaConfBaseException):  # e.g. a sweeper plugin's: Hydra reports its own errors
        return None
    try:
        path = Path(str(node.dir))
    except OmegaConfBaseException:  # an interpolation only a job can resolve: check the part before it
        raw = str(OmegaConf.to_container(node, resolve=False).get("dir", ""))
        prefix = raw.split("${", 1)[0]
        path = Path(prefix) if prefix.endswith("/") else Path(prefix).parent
    check_output_dir(path, create=False)
    keep = path.absolute()
    while not keep.is_dir() and keep != keep.parent:
        keep = keep.parent
    return keep


# ---------------------------------------------------------------------------------------------
# --version and --help


def version() -> str:
    import jax

    import kqjax

    return f"kqjax {kqjax.__version__} (jax {jax.__version__})"


def _about(path: Path, width: int = 66) -> str:
    """The first line of a config file's leading comment, shortened."""
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return ""
    for line in lines:
        text = line.lstrip("#").strip()
        if not line.startswith("#"):
            break
        if text and not text.startswith("@package"):
            text = re.sub(r"\s*\([^()]*\)", "", text)  # asides in parentheses
            text = re.split(r"[:;,]\s|\s\(|\.\s|\.$", text, maxsplit=1)[0]
            return text if len(text) <= width else text[:width - 3].rstrip() + "..."
    return ""


def usage() -> str:
    """kqjax's own help: what it does, its experiments, groups and presets, sweeps."""
    conf = conf_dir()
    experiments = sorted(conf.glob("experiment/*.yaml"))
    groups = sorted(p for p in conf.iterdir() if p.is_dir() and p.name != "experiment" and any(p.glob("*.yaml")))
    pad = max([len(p.stem) for p in experiments] + [len(g.name) for g in groups] + [8]) + 2
    lines = [
        "usage: kqjax [-m] [OVERRIDE ...]          run an experiment (-m: one job per combination)",
        "       kqjax --cfg job [OVERRIDE ...]     print the composed config, run nothing",
        "       kqjax --version | --help | --hydra-help",
        "",
        "kqjax simulates quantum links (QKD) and quantum sensors by Monte Carlo on JAX. A run composes",
        "the config with the overrides, checks every value (a bad one: one line, exit 2, nothing",
        "written), simulates, prints a summary and writes results.nc (an xarray dataset) and plots",
        "into its run directory outputs/DATE/TIME/ (multirun: multirun/DATE/TIME/N/).",
        "",
        "experiments (experiment=NAME; default fiber_bb84):",
        *(f"  {p.stem:<{pad}}{_about(p)}" for p in experiments),
        "",
        "config groups (GROUP=PRESET picks a preset; GROUP.FIELD=VALUE sets one field):",
        *(textwrap.fill(", ".join(sorted(p.stem for p in g.glob("*.yaml"))), 96, initial_indent=f"  {g.name:<{pad}}",
                        subsequent_indent=" " * (pad + 2), break_on_hyphens=False) for g in groups),
        "  two-arm links take the channel and detector presets per arm: channel@channel_a=PRESET",
        "  run.pulses, run.seed, run.mode=count|event, mode=simulate|optimize|evaluate, distance_km",
        "",
        "sweeps inside one run (one dataset, the swept fields as its dimensions):",
        "  a numeric field given a list [a,b,...] or a range: linspace:start:stop:num,",
        "  logspace:start_exp:stop_exp:num, geomspace:start:stop:num, arange:start:stop[:step]",
        "    kqjax channel.length_km=[0,50,100] detector.efficiency=linspace:0.2:0.8:4",
        "sweeps across runs (-m; each job writes its own dataset, kqjax-collect DIR merges them):",
        "    kqjax -m detector=snspd,gys channel.attenuation_db_per_km=0.16,0.2",
        "  kqjax-resume DIR redoes the unfinished jobs of a killed multirun; clusters: hydra/launcher=",
        "  kqjax_joblib | kqjax_local | kqjax_slurm | kqjax_ray (docs/cluster.md)",
        "",
        "Ctrl-C (or SIGTERM) stops a run after the chunk in flight and writes what is done (complete = 0);",
        "exit status 130 (143).",
        "",
        "more: README.md and docs/ (architecture, optimize, sensors) in the kqjax source; the fields of",
        "a config: kqjax --cfg job; Hydra's own options: kqjax --hydra-help",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Interrupts


def _in_gc_callback(frame) -> bool:
    """Whether ``frame`` runs inside a garbage-collector callback (``gc.callbacks``, e.g. jax's
    ``_xla_gc_callback``), where Python prints and drops an exception instead of raising it."""
    import gc

    codes = {getattr(cb, "__code__", None) for cb in gc.callbacks} - {None}
    while frame is not None:
        if frame.f_code in codes:
            return True
        frame = frame.f_back
    return False


def _on_signal(signum, frame) -> None:
    """SIGINT/SIGTERM: ask the Monte Carlo loop to stop (it keeps what is done); before any loop
    has started (composing, compiling), stop at once with a KeyboardInterrupt. A signal that lands
    in a garbage-collector callback, which would drop the KeyboardInterrupt, is delivered again
    once the callback has returned."""
    from kqjax.engine import driver

    if not driver.stop_requested() and driver.loops_started() == 0 and _in_gc_callback(frame):
        threading.Timer(0.02, os.kill, (os.getpid(), signum)).start()
        return
    if _STATE["signal"] is None:
        _STATE["signal"] = signum
    stopping = driver.stop_requested()
    driver.request_stop()
    if not stopping and driver.loops_started() == 0:
        # the job's directory, while Hydra still has it: a stop before the job function starts
        # (Hydra writing its configs) ends the job, and Hydra forgets the directory
        _STATE["run_dir"] = _hydra_run_dir() or _STATE["run_dir"]
        raise KeyboardInterrupt


def _install_handlers():
    if threading.current_thread() is not threading.main_thread():
        return None
    return {s: signal.signal(s, _on_signal) for s in _EXIT}


def _restore_handlers(previous) -> None:
    for s, handler in (previous or {}).items():
        signal.signal(s, handler)


def _code() -> int:
    return _EXIT.get(_STATE["signal"], 130)


def _name() -> str:
    return signal.Signals(_STATE["signal"] or signal.SIGINT).name


def _exit(code: int) -> None:
    """Leave now: the chunks still in flight on worker threads are not waited for (a multi-host run,
    one step in flight, first leaves together with its other processes)."""
    import logging

    from kqjax.engine import distributed

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # closed, or a broken pipe
            pass
    logging.shutdown()
    distributed.shutdown()
    os._exit(code)


def _trivial(directory: Path) -> bool:
    """Holds nothing but Hydra's ``.hydra/``, empty log files (and a sweep's ``multirun.yaml``)."""
    for p in directory.iterdir():
        if p.name == ".hydra" and p.is_dir():
            continue
        if p.suffix == ".log" and p.is_file() and p.stat().st_size == 0:
            continue
        if p.name == "multirun.yaml" and p.is_file():
            continue
        if p.is_dir() and not p.is_symlink() and _trivial(p):  # a sweep's job directory
            continue
        return False
    return True


def _hydra_run_dir() -> str | None:
    """The output directory of the job Hydra is running now, if any (Hydra puts its previous
    config back when a job ends, also when it is interrupted)."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    try:
        from hydra.core.hydra_config import HydraConfig

        cfg = HydraConfig.instance().cfg
        return OmegaConf.select(cfg, "hydra.runtime.output_dir") if cfg is not None else None
    except OmegaConfBaseException:
        return None


def _remove_run_dir() -> None:
    """Remove the run directory Hydra made for a job stopped before any result, and the parents
    it made, if they hold nothing else; never what existed before (``_STATE['keep']``)."""
    import shutil

    run_dir = _STATE["run_dir"] or _hydra_run_dir()
    keep = _STATE["keep"]
    if run_dir is None or keep is None:
        return
    path = Path(run_dir).absolute()
    if path == keep or keep not in path.parents:
        return
    top = None
    while path != keep and path.is_dir() and _trivial(path):
        top = path
        path = path.parent
    if top is not None:
        shutil.rmtree(top, ignore_errors=True)


def _stopped(ds) -> None:
    """The job was interrupted (its results are written): one line, and exit 130/143."""
    if ds.attrs.get("complete", 1):
        line = f"kqjax: {_name()}: stopped after the run had finished; the results are complete"
    elif "pulses_done" in ds.attrs:
        line = (f"kqjax: {_name()}: stopped after {ds.attrs['pulses_done']:.4g} of {ds.attrs['pulses']:.4g} "
                "pulses per point; the dataset keeps them (complete = 0)")
    else:
        line = f"kqjax: {_name()}: stopped; the dataset keeps the finished work (complete = 0)"
    print(line, file=sys.stderr)
    _exit(_code())


# ---------------------------------------------------------------------------------------------


def _already_done(cfg):
    """A multirun job rerun into its old directory (``hydra.sweep.dir=DIR``, ``kqjax-resume DIR``)
    whose dataset is complete and made from the same config: one line, and its score; else None."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode
    from omegaconf import OmegaConf

    from kqjax.api import score
    from kqjax.results.resume import RESULT, finished

    hc = HydraConfig.get()
    if hc.mode != RunMode.MULTIRUN or not finished(_STATE["run_dir"], OmegaConf.to_yaml(cfg, resolve=True)):
        return None
    import xarray as xr

    with xr.open_dataset(Path(_STATE["run_dir"]) / RESULT) as ds:
        value = score(ds)
    print(f"kqjax: job {hc.job.num}: {Path(_STATE['run_dir']) / RESULT} is complete; skipped")
    _STATE["jobs_done"] += 1
    return value


def _app(cfg) -> float:
    """One job. Returns the job's score (see :func:`kqjax.api.score`) for a sweeper such as Optuna."""
    from hydra.core.hydra_config import HydraConfig

    from kqjax.api import execute, prepare, score, summary
    from kqjax.engine import distributed, driver

    _STATE["run_dir"] = HydraConfig.get().runtime.output_dir
    if driver.stop_requested():  # a multirun stopped in an earlier job
        raise KeyboardInterrupt
    driver.reset_stop()
    import logging

    logging.getLogger("jax").setLevel(logging.WARNING)  # also in a launcher's worker process
    try:  # before anything touches a device (a launcher's worker process runs only this job)
        distributed.initialize((cfg.get("run") or {}).get("distributed", "auto"))
    except RuntimeError as err:
        print(f"kqjax: error: {err}", file=sys.stderr)
        _exit(2)
    task, built = prepare(cfg)
    done = _already_done(cfg)
    if done is not None:
        return done
    writer = distributed.process_index() == 0  # on several hosts, process 0 writes the files
    ds, written = execute(cfg, _STATE["run_dir"] if writer else None, prepared=(task, built))
    print(summary(task, ds))
    for path in written:
        print(f"{'dataset' if str(path).endswith('.nc') else 'plot'}: {path}")
    if driver.stop_requested() or not ds.attrs.get("complete", 1):
        _stopped(ds)
    _STATE["jobs_done"] += 1
    return score(ds)


def _one_line_warnings() -> None:
    """kqjax's own warnings (UserWarnings it raises: a marginal wave-optics grid, a model used
    beyond its range) as one line ``kqjax: warning: ...``; every other warning (numpy's
    RuntimeWarnings, deprecations) keeps Python's format."""
    import warnings

    default = getattr(warnings.formatwarning, "default", warnings.formatwarning)
    own = str(Path(__file__).resolve().parent) + os.sep

    def fmt(message, category, filename, lineno, line=None):
        if category is UserWarning and str(filename).startswith(own):
            return f"kqjax: warning: {message}\n"
        return default(message, category, filename, lineno, line)

    fmt.default = default
    warnings.formatwarning = fmt


def _page(text: str) -> None:
    """Print ``text``; a reader that stops early (``kqjax --help | head``) ends it quietly (Python's
    advice for SIGPIPE: point stdout at devnull so that the exit's flush does not fail again)."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--version" in argv:
        return _page(version())
    if "-h" in argv or "--help" in argv:
        return _page(usage())
    from kqjax.engine import driver

    _one_line_warnings()
    _STATE.update(signal=None, run_dir=None, keep=None, jobs_done=0)
    driver.reset_stop()
    previous = _install_handlers()
    try:
        try:
            _init_distributed(argv)
            _STATE["keep"] = preflight(argv)
        except RuntimeError as err:  # jax.distributed.initialize failed
            print(f"kqjax: error: {err}", file=sys.stderr)
            sys.exit(2)
        except ConfigError as err:
            print(f"kqjax: error: {err}", file=sys.stderr)
            sys.exit(2)
        import logging

        import hydra

        # Hydra logs the root logger at INFO to the console and the job's log file; keep JAX's
        # INFO chatter (e.g. "Unable to initialize backend 'tpu'") out of both.
        logging.getLogger("jax").setLevel(logging.WARNING)
        sys.argv = [sys.argv[0], *argv]
        hydra.main(config_path=str(conf_dir()), config_name=DEFAULT_CONFIG, version_base="1.3")(_app)()
    except KeyboardInterrupt:
        _remove_run_dir()
        done = _STATE["jobs_done"]
        print(f"kqjax: {_name()}: stopped before any result" + (f" of this job; the {done} finished jobs are kept"
              if done else "; nothing written"), file=sys.stderr)
        _exit(_code())
    finally:
        _restore_handlers(previous)


if __name__ == "__main__":
    main()
