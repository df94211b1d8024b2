import os
import shutil
import tempfile

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=1")
# One compilation cache for the session and the commands it starts; never the user's.
os.environ["KQJAX_CACHE_DIR"] = tempfile.mkdtemp(prefix="kqjax-test-cache-")

import kqjax  # noqa: E402,F401  (enables x64 before any test builds arrays)


def pytest_unconfigure(config):
    shutil.rmtree(os.environ["KQJAX_CACHE_DIR"], ignore_errors=True)
