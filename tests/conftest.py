import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=1")

import kqjax  # noqa: E402,F401  (enables x64 before any test builds arrays)
