"""Where kqjax keeps compiled programs, and how a user turns that off or overrides it."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from kqjax.engine import compile_cache


def test_directory_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("KQJAX_CACHE_DIR", str(tmp_path / "c"))
    assert compile_cache.directory() == tmp_path / "c"
    monkeypatch.setenv("KQJAX_CACHE_DIR", "")
    assert compile_cache.directory() is None
    monkeypatch.delenv("KQJAX_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert compile_cache.directory() == tmp_path / "xdg" / "kqjax" / "xla"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert compile_cache.directory() == Path.home() / ".cache" / "kqjax" / "xla"


def _cache_dir_after_import(env: dict) -> str:
    """``jax_compilation_cache_dir`` in a fresh interpreter that imports kqjax."""
    code = "import kqjax, jax; print(jax.config.jax_compilation_cache_dir)"
    base = {k: v for k, v in os.environ.items() if k not in ("KQJAX_CACHE_DIR", "JAX_COMPILATION_CACHE_DIR")}
    out = subprocess.run([sys.executable, "-c", code], env={**base, **env}, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_import_turns_the_cache_on_off_or_leaves_jax_own(tmp_path):
    assert _cache_dir_after_import({"KQJAX_CACHE_DIR": str(tmp_path / "on")}) == str(tmp_path / "on")
    assert (tmp_path / "on").is_dir()
    assert _cache_dir_after_import({"KQJAX_CACHE_DIR": ""}) == "None"
    own = str(tmp_path / "jax-own")
    assert _cache_dir_after_import({"KQJAX_CACHE_DIR": str(tmp_path / "x"), "JAX_COMPILATION_CACHE_DIR": own}) == own
    assert not (tmp_path / "x").exists()


_RUN = """
import collections, json, sys
import jax
from jax import monitoring
import kqjax
events = collections.Counter()
monitoring.register_event_listener(lambda name, **kw: events.update([name]))
kqjax.run(["channel.length_km=[0,50]", "run.pulses=" + sys.argv[1], "run.chunk_size=4194304", "run.progress=false"])
print(json.dumps(events))
"""


def _compile_events(cache: Path, pulses: str) -> dict:
    base = {k: v for k, v in os.environ.items() if k not in ("KQJAX_CACHE_DIR", "JAX_COMPILATION_CACHE_DIR",
                                                             "KQJAX_CACHE_MIN_COMPILE_S")}
    out = subprocess.run([sys.executable, "-c", _RUN, pulses], env={**base, "KQJAX_CACHE_DIR": str(cache)},
                         capture_output=True, text=True, timeout=600, check=False)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_a_second_run_of_another_size_compiles_nothing(tmp_path):
    """Every program of a run is kept, and the chunk's shape does not depend on run.pulses: a run of
    another number of pulses (in a fresh process) finds every program it compiles in the cache."""
    first = _compile_events(tmp_path, "1e6")  # 16 blocks: less than one chunk of 64
    assert first.get("/jax/compilation_cache/cache_misses", 0) > 0  # programs written
    second = _compile_events(tmp_path, "5e7")
    asked = second.get("/jax/compilation_cache/compile_requests_use_cache", 0)
    assert asked > 0 and second.get("/jax/compilation_cache/cache_hits", 0) == asked
