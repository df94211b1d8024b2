"""Command line: ``kqjax [overrides]`` runs an experiment with Hydra; ``-m`` runs a multirun.

Every job's config is composed and checked before Hydra starts, so bad input fails with one
line (field, value, what is allowed), exit status 2 and no output directory.
"""
from __future__ import annotations

import sys

from kqjax.config.compose import DEFAULT_CONFIG, compose, conf_dir, expand_multirun
from kqjax.config.errors import ConfigError

_VALUE_FLAGS = {"-cn", "--config-name", "-cp", "--config-path", "-cd", "--config-dir", "-c", "--cfg",
                "-p", "--package", "-sc", "--shell-completion", "--experimental-rerun"}
_INFO_FLAGS = {"-h", "--help", "--hydra-help", "--version", "-c", "--cfg", "-i", "--info",
               "-sc", "--shell-completion"}


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


def preflight(argv) -> None:
    """Compose and check every job of the command line before any work."""
    from kqjax.api import prepare

    overrides, name, multirun, info = split_argv(argv)
    if info:
        return
    own = [o for o in overrides if not o.lstrip("+~").startswith("hydra")]
    custom_sweeper = any(o.startswith("hydra/sweeper") for o in overrides)
    jobs = [own]
    if multirun:
        if custom_sweeper:
            own = [o for o in own if not any(f in o for f in ("interval(", "range(", "choice(", "tag("))]
        jobs = expand_multirun(own)
    for job in jobs:
        prepare(compose(job, name))


def _app(cfg) -> float:
    """One job. Returns the job's score (see :func:`kqjax.api.score`) for a sweeper such as Optuna."""
    from hydra.core.hydra_config import HydraConfig

    from kqjax.api import execute, prepare, score, summary

    task, built = prepare(cfg)
    ds, written = execute(cfg, HydraConfig.get().runtime.output_dir, prepared=(task, built))
    print(summary(task, ds))
    if not ds.attrs.get("complete", 1):
        print(f"interrupted: {ds.attrs['pulses_done']:.4g} of {ds.attrs['pulses']:.4g} pulses per point")
    for path in written:
        print(f"{'dataset' if str(path).endswith('.nc') else 'plot'}: {path}")
    return score(ds)


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        preflight(argv)
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


if __name__ == "__main__":
    main()
