"""kqjax: Monte Carlo engine for quantum links and quantum sensors on JAX."""
import jax as _jax

# Exact integer counts beyond 2**32 and float64 key-rate algebra need 64-bit types;
# hot paths choose float32 explicitly.
_jax.config.update("jax_enable_x64", True)

from kqjax.engine import compile_cache as _compile_cache  # noqa: E402

_compile_cache.enable()  # compiled programs kept on disk between runs (KQJAX_CACHE_DIR)

__version__ = "0.1.0"

from kqjax.api import run  # noqa: E402
from kqjax.config.errors import ConfigError  # noqa: E402

__all__ = ["run", "ConfigError", "__version__"]
