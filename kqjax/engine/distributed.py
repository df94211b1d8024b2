"""Multi-host runs: ``jax.distributed.initialize`` from the config's ``run.distributed``.

``auto`` initialises when the process is one of several tasks of a cluster job that JAX's own
cluster detection reads (SLURM: ``SLURM_NTASKS`` > 1 with the step's variables; Open MPI:
``OMPI_COMM_WORLD_SIZE`` > 1; or ``JAX_COORDINATOR_ADDRESS`` with ``JAX_NUM_PROCESSES`` > 1
and ``JAX_PROCESS_ID``); ``true`` always initialises (JAX then detects the cluster or fails);
``false`` never. The coordinator address, process count and id come from JAX's cluster detection
(``jax.distributed.initialize()`` without arguments). It must run before anything touches a
device, once per process.

Once initialised, ``jax.devices()`` lists the devices of every process: the link Monte Carlo
splits its sweep points and blocks over all of them (:func:`kqjax.engine.driver.mesh`), every
process runs the same steps and receives all counts, and process 0 writes. CPU processes exchange
counts through gloo (``jax_cpu_collectives_implementation``, the default in jax 0.10; the
environment variable ``JAX_CPU_COLLECTIVES_IMPLEMENTATION=gloo`` sets it where it is not).
"""
from __future__ import annotations

import os

MODES = ("auto", True, False)

_SLURM = ("SLURM_JOB_ID", "SLURM_STEP_NODELIST", "SLURM_NTASKS", "SLURM_PROCID", "SLURM_LOCALID")
_done = [False]


def _count(environ, name: str) -> int:
    try:
        return int(environ.get(name, "1"))
    except ValueError:
        return 1


def detect(environ=None) -> tuple[str, int] | None:
    """``(cluster, processes)`` of a multi-process cluster job this process belongs to, or None."""
    env = os.environ if environ is None else environ
    if all(k in env for k in _SLURM) and _count(env, "SLURM_NTASKS") > 1:
        return "SLURM", _count(env, "SLURM_NTASKS")
    if _count(env, "OMPI_COMM_WORLD_SIZE") > 1:
        return "Open MPI", _count(env, "OMPI_COMM_WORLD_SIZE")
    if env.get("JAX_COORDINATOR_ADDRESS") and "JAX_PROCESS_ID" in env and _count(env, "JAX_NUM_PROCESSES") > 1:
        return "JAX_COORDINATOR_ADDRESS", _count(env, "JAX_NUM_PROCESSES")
    return None


def wanted(mode, environ=None) -> bool:
    """Whether ``run.distributed = mode`` initialises in this environment."""
    if mode == "auto" or mode is None:
        return detect(environ) is not None
    return bool(mode)


def initialize(mode="auto", environ=None) -> bool:
    """Call ``jax.distributed.initialize()`` if ``mode`` wants it and it has not run yet.

    Returns whether JAX runs distributed. Raises ``RuntimeError`` with one line if it is asked for
    after a device was used, or if JAX cannot initialise (no cluster found with ``true``).
    """
    import jax

    if _done[0] or jax.distributed.is_initialized():
        return True
    if not wanted(mode, environ):
        return False
    env = os.environ if environ is None else environ
    try:
        if env.get("JAX_COORDINATOR_ADDRESS") and "JAX_PROCESS_ID" in env and "JAX_NUM_PROCESSES" in env:
            jax.distributed.initialize(num_processes=int(env["JAX_NUM_PROCESSES"]),
                                       process_id=int(env["JAX_PROCESS_ID"]))
        else:
            jax.distributed.initialize()
    except (RuntimeError, ValueError, TypeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise RuntimeError(f"run.distributed={str(mode).lower()}: jax.distributed.initialize failed: {first}") from None
    _done[0] = True
    return True


def shutdown() -> None:
    """Leave a multi-host run together with the other processes (``jax.distributed.shutdown``, a
    barrier of all of them) before this process exits without Python's clean-up, as the command
    line does when stopped: process 0 holds the coordination service, which must outlive the other
    processes' connections (a process whose service vanishes aborts). Nothing when not distributed."""
    import sys

    jax = sys.modules.get("jax")
    if _done[0] or (jax is not None and jax.distributed.is_initialized()):
        jax.distributed.shutdown()


def process_index() -> int:
    """This process's index among the hosts (0 when not distributed): process 0 writes the files."""
    import jax

    return jax.process_index() if (_done[0] or jax.distributed.is_initialized()) else 0
