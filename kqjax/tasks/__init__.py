"""Experiments that kqjax can run, by the config's ``task`` name.

A task module defines ``GROUPS`` (the component groups it needs), ``run(built) -> (Dataset,
extra attrs)``, ``summary(ds) -> str`` and ``plots(ds, directory) -> [paths]``.
"""
from __future__ import annotations

import importlib

TASKS = {
    "qkd_link": "kqjax.tasks.qkd_link",
    "sensor_stability": "kqjax.tasks.sensor_stability",
    "navigation": "kqjax.tasks.navigation",
}


def get(name: str):
    from kqjax.config.errors import ConfigError

    if name not in TASKS:
        raise ConfigError("task", name, "one of " + ", ".join(sorted(TASKS)))
    return importlib.import_module(TASKS[name])
