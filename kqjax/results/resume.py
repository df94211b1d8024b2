"""Resume a multirun: redo the jobs whose datasets are missing or incomplete, keep the others.

Usage: ``kqjax-resume multirun/2026-11-22/10-00-00`` relaunches the multirun of that directory
(the overrides Hydra recorded in its ``multirun.yaml``) into the same directory. A job whose
``results.nc`` is complete and was made from the same config is skipped with one line; the rest
run again. Starting the original ``kqjax -m ...`` command again with
``hydra.sweep.dir=DIRECTORY`` does the same.

A dataset reads as complete when it exists (written atomically: a killed job leaves none, or the
previous one), its ``complete`` attribute is not 0 (a run stopped by SIGINT/SIGTERM writes the
finished pulses with ``complete = 0``) and the job's plots, written before it, are there with it.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

RESULT = "results.nc"


def _attrs(path) -> dict | None:
    """The global attributes of the dataset at ``path``, or None if it cannot be read."""
    import xarray as xr

    path = Path(path)
    if not path.is_file():
        return None
    try:
        with xr.open_dataset(path) as ds:
            return dict(ds.attrs)
    except (OSError, ValueError, RuntimeError):
        return None


def dataset_complete(path) -> bool:
    """Whether ``path`` is a readable dataset of a run that finished (``complete`` not 0)."""
    attrs = _attrs(path)
    return attrs is not None and bool(attrs.get("complete", 1))


def finished(job_dir, config_yaml: str | None = None) -> bool:
    """Whether the job in ``job_dir`` is done: its dataset is complete and, if ``config_yaml`` is
    given, was made from that resolved config (the dataset's ``config`` attribute)."""
    attrs = _attrs(Path(job_dir) / RESULT)
    if attrs is None or not attrs.get("complete", 1):
        return False
    return config_yaml is None or attrs.get("config") == config_yaml


def multirun_argv(directory) -> list[str]:
    """The ``kqjax`` command line (without the program name) that relaunches the multirun of
    ``directory`` into it: ``-m``, its task overrides, its Hydra overrides and the sweep dir."""
    directory = Path(directory)
    path = directory / "multirun.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{directory}: no multirun.yaml (not a kqjax -m sweep directory)")
    cfg = yaml.safe_load(path.read_text()) or {}
    hydra = cfg.get("hydra") or {}
    overrides = hydra.get("overrides") or {}
    task = [str(o) for o in overrides.get("task") or []]
    own = [str(o) for o in overrides.get("hydra") or []
           if not str(o).startswith(("hydra.sweep.dir=", "hydra.mode="))]
    name = (hydra.get("job") or {}).get("config_name")
    argv = ["-m", *task, *own, f"hydra.sweep.dir={directory.absolute()}"]
    if name and name != "config":
        argv = ["--config-name", str(name), *argv]
    return argv


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="kqjax-resume", description=__doc__.splitlines()[0])
    ap.add_argument("directory", help="the sweep directory of a kqjax -m run (holds multirun.yaml)")
    args = ap.parse_args(argv)
    try:
        again = multirun_argv(args.directory)
    except (FileNotFoundError, yaml.YAMLError) as err:
        print(f"kqjax-resume: error: {err}", file=sys.stderr)
        return 2
    from kqjax import cli

    print("kqjax " + " ".join(again), file=sys.stderr, flush=True)
    cli.main(again)
    return 0


if __name__ == "__main__":
    sys.exit(main())
