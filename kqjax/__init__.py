"""kqjax: Monte Carlo engine for quantum links and quantum sensors on JAX."""
import signal as _signal
import threading as _threading

# A Ctrl-C while jax and xarray load can land in one of jax's garbage-collector callbacks, where
# Python prints "Exception ignored" and goes on: hold it until the package is loaded, then raise it.
_held = []
_previous = _signal.getsignal(_signal.SIGINT) if _threading.current_thread() is _threading.main_thread() else None
if _previous is not None:
    _signal.signal(_signal.SIGINT, lambda signum, frame: _held.append(signum))
try:
    import jax as _jax

    # Exact integer counts beyond 2**32 and float64 key-rate algebra need 64-bit types;
    # hot paths choose float32 explicitly.
    _jax.config.update("jax_enable_x64", True)

    from kqjax.engine import compile_cache as _compile_cache
    from kqjax.engine import host_memory as _host_memory

    _compile_cache.enable()  # compiled programs kept on disk between runs (KQJAX_CACHE_DIR)
    _host_memory.keep_freed_memory()  # a step's buffers reused, not faulted in every step

    __version__ = "0.1.0"

    from kqjax.api import run
    from kqjax.config.errors import ConfigError
finally:
    if _previous is not None:
        _signal.signal(_signal.SIGINT, _previous)
if _held:
    raise KeyboardInterrupt

__all__ = ["run", "ConfigError", "__version__"]
