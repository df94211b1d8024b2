"""Merge the datasets of a Hydra multirun into one, with the swept overrides as dimensions.

Usage: ``kqjax-collect multirun/2026-11-22/10-00-00 [-o merged.nc]``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import xarray as xr
import yaml

from kqjax.results.io import write_dataset

RESULT = "results.nc"


def _value(text: str):
    """An override's value: a number where it reads as one (``1e-07``, which YAML 1.1 leaves a
    string, included), else the text."""
    try:
        v = yaml.safe_load(text)
    except yaml.YAMLError:
        v = text
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return v
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else str(text)


def _block_class(config: dict, head: str):
    """The dataclass declaring the fields of the top-level block ``head`` of a job's config."""
    from kqjax import tasks
    from kqjax.config.build import registry_group
    from kqjax.config.optimize import OptimizeSettings
    from kqjax.config.run import RunSettings
    from kqjax.engine.params import registry

    node = config.get(head)
    task = tasks.get(config.get("task", "qkd_link"))  # registers the task's components
    if isinstance(node, dict) and "kind" in node:
        return registry(registry_group(head)).get(node["kind"])
    name = head.capitalize() + "Settings"  # run, optimize and the tasks' blocks (NavigationSettings)
    return {"run": RunSettings, "optimize": OptimizeSettings}.get(head) or getattr(task, name, None)


def field_attrs(config: dict, key: str) -> dict:
    """``units`` and ``long_name`` of the config field ``key`` (``detector.dark_count_prob``) as an
    in-run sweep gives them (:func:`kqjax.config.build.build`); a long_name only for a choice, a
    text field or a config group (``detector=snspd``); ``{}`` where the field is not found."""
    import dataclasses

    from kqjax.config.build import DISTANCE
    from kqjax.engine.params import parts, registry, specs

    head, *rest = key.split(".")
    if key == "distance_km":
        return {"units": DISTANCE.unit, "long_name": DISTANCE.long_name}
    if not rest:
        return {"long_name": "experiment" if head == "experiment" else f"{head} preset"}
    if rest[-1] == "kind":
        return {"long_name": f"{key[:-5]} kind"}
    try:
        cls, node = _block_class(config, head), config.get(head)
        for name in rest[:-1]:
            node = node[name]
            cls = registry(parts(cls)[name].metadata["part"]).get(node["kind"])
        field = next(f for f in dataclasses.fields(cls) if f.name == rest[-1])
    except (KeyError, TypeError, AttributeError, StopIteration, ValueError):  # not a declared field
        return {}
    spec = specs(cls).get(rest[-1])
    if spec is None:
        return {"long_name": field.metadata.get("long_name") or rest[-1]}
    long_name = spec.long_name or rest[-1]
    if spec.choices is not None or spec.text:  # categorical: no unit
        return {"long_name": long_name}
    return {"units": spec.unit, "long_name": long_name}


def job_overrides(job_dir: Path) -> dict:
    """``{key: value}`` of one job's command-line overrides."""
    path = job_dir / ".hydra" / "overrides.yaml"
    items = yaml.safe_load(path.read_text()) if path.is_file() else []
    out = {}
    for item in items or []:
        key, _, val = str(item).partition("=")
        out[key.lstrip("+~")] = _value(val)
    return out


def _config(ds) -> dict:
    """The job's composed config, from its dataset's ``config`` attribute (``{}`` if none)."""
    try:
        config = yaml.safe_load(ds.attrs.get("config", ""))
    except yaml.YAMLError:
        return {}
    return config if isinstance(config, dict) else {}


def collect(directory, output=None) -> xr.Dataset:
    """One dataset from every finished job under ``directory``; the jobs without a complete dataset
    (interrupted, ``complete = 0``, or stopped before writing one: a job folder of Hydra's with no
    dataset) are skipped and listed in the ``jobs_incomplete`` attribute (``kqjax-resume
    DIRECTORY`` redoes them)."""
    from kqjax.results.resume import dataset_complete

    directory = Path(directory)
    hydra_jobs = {p.parent.parent for p in directory.rglob("overrides.yaml") if p.parent.name == ".hydra"}
    found = sorted(({p.parent for p in directory.rglob(RESULT)} | hydra_jobs) - {directory})
    jobs = [j for j in found if dataset_complete(j / RESULT)]
    incomplete = [str(j.relative_to(directory)) for j in found if j not in jobs]
    if not jobs:
        raise FileNotFoundError(f"no complete {RESULT} under {directory}" +
                                (f" ({len(incomplete)} incomplete: kqjax-resume {directory} redoes them)"
                                 if incomplete else ""))
    overrides = [job_overrides(j) for j in jobs]
    keys = sorted({k for o in overrides for k in o})
    swept = [k for k in keys if len({str(o.get(k)) for o in overrides}) > 1]
    for k in swept:  # 0 and 1e-07 are one float coordinate
        vals = [o.get(k) for o in overrides]
        if all(isinstance(v, (int, float)) for v in vals) and any(isinstance(v, float) for v in vals):
            for o in overrides:
                o[k] = float(o[k])
    names = {k: k.split(".")[-1].split("/")[-1] for k in swept}
    if len(set(names.values())) < len(names):
        names = {k: k.replace(".", "_").replace("/", "_") for k in swept}
    parts, attrs = [], {}
    for job, ov in zip(jobs, overrides):
        with xr.open_dataset(job / RESULT) as ds:
            ds = ds.load()
        config = _config(ds)
        for k in swept:
            if names[k] in ds.dims:
                raise ValueError(f"{k} is swept both inside the jobs and across them")
            if not attrs.get(k):
                attrs[k] = field_attrs(config, k)
            ds = ds.expand_dims({names[k]: [ov.get(k)]})
            ds[names[k]].attrs.update({**attrs[k], "config_field": k})
        parts.append(ds)
    # Jobs may cover different coordinates (passes of different lengths, other sweeps): the union,
    # with NaN where a job has no value and 0 in its integer counts (no pulses there).
    zeros = {k: 0 for p in parts for k, v in p.data_vars.items() if np.issubdtype(v.dtype, np.integer)}
    try:
        merged = xr.combine_by_coords(parts, data_vars="minimal", coords="minimal", join="outer",
                                      fill_value=zeros, compat="override", combine_attrs="drop_conflicts")
    except ValueError:
        merged = xr.concat(parts, dim="job", combine_attrs="drop_conflicts")
    merged.attrs["jobs"] = len(jobs)
    if incomplete:
        merged.attrs["jobs_incomplete"] = " ".join(incomplete)
    merged.attrs["multirun_dir"] = str(directory)
    if output is not None:
        write_dataset(merged, output)
    return merged


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="kqjax-collect", description=__doc__.splitlines()[0])
    ap.add_argument("directory", help="a Hydra multirun directory")
    ap.add_argument("-o", "--output", help="merged file (default: DIRECTORY/merged.nc)")
    args = ap.parse_args(argv)
    out = Path(args.output) if args.output else Path(args.directory) / "merged.nc"
    try:
        ds = collect(args.directory, out)
    except (FileNotFoundError, ValueError) as err:
        print(f"kqjax-collect: error: {err}", file=sys.stderr)
        return 2
    dims = ", ".join(f"{k}={v}" for k, v in ds.sizes.items())
    print(f"merged {ds.attrs['jobs']} jobs ({dims})")
    if ds.attrs.get("jobs_incomplete"):
        print(f"skipped the incomplete jobs {ds.attrs['jobs_incomplete']} (kqjax-resume {args.directory} redoes them)")
    print(f"dataset: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
