"""Run a benchmark command once, as a user types it, and read its JSON output."""
import json
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def quick_bench(tmp_path_factory, command: str, *args: str):
    """``COMMAND --quick [ARGS] --json FILE`` in a fresh directory: (stdout, parsed JSON)."""
    tmp = tmp_path_factory.mktemp(command)
    out = tmp / "bench.json"
    proc = subprocess.run([str(BIN / command), "--quick", *args, "--json", str(out)], cwd=tmp,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, json.loads(out.read_text())
