"""A built wheel carries its Hydra configs (``conf/`` force-included as ``kqjax/conf``) and finds
them when installed outside the source checkout."""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    """One wheel per session, built as a packager would (``pip wheel . --no-deps``)."""
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(out)],
                          cwd=out, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (whl,) = out.glob("kqjax-*.whl")
    return whl


def test_wheel_contains_configs_and_entry_points(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {f"kqjax/conf/{p.relative_to(ROOT / 'conf').as_posix()}" for p in (ROOT / "conf").rglob("*.yaml")}
    assert "kqjax/conf/config.yaml" in names
    assert shipped <= names, sorted(shipped - names)
    for module in ("kqjax/__init__.py", "kqjax/cli.py", "kqjax/bench.py", "kqjax/results/collect.py"):
        assert module in names, module
    meta = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    entry = zipfile.ZipFile(wheel).read(meta).decode()
    for script in ("kqjax = kqjax.cli:main", "kqjax-collect = kqjax.results.collect:main",
                   "kqjax-bench = kqjax.bench:main"):
        assert script in entry


def test_unpacked_wheel_composes_its_own_configs(wheel, tmp_path):
    """Unpacked away from the checkout, the package finds ``kqjax/conf`` beside itself and composes
    the default experiment from it."""
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    code = ("import kqjax, sys; from kqjax.config.compose import conf_dir, compose; "
            "print(kqjax.__file__); print(conf_dir()); cfg = compose(['channel.length_km=7']); "
            "print(cfg.task, cfg.channel.length_km)")
    env = {**os.environ, "PYTHONPATH": str(site)}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    mod, conf, composed = proc.stdout.splitlines()[-3:]
    assert Path(mod).resolve() == (site / "kqjax" / "__init__.py").resolve()
    assert Path(conf).resolve() == (site / "kqjax" / "conf").resolve()
    assert composed == "qkd_link 7"
