"""Run settings: seed, number of pulses, chunking, workers, sampling mode, PRNG, progress."""
from __future__ import annotations

import dataclasses

from kqjax.config.settings import levels
from kqjax.engine.driver import DEFAULT_CHUNK, default_chunk  # noqa: F401  (DEFAULT_CHUNK: the CPU's)
from kqjax.engine.keys import BLOCK, PRNG_IMPLS
from kqjax.engine.params import param, specs


class _YamlBool:
    """A boolean choice shown as the config writes it (``true``/``false``, not ``True``/``False``):
    equal to the bool (and to what equals it), so a choice check accepts the config's value."""

    __slots__ = ("value",)

    def __init__(self, value: bool):
        self.value = bool(value)

    def __eq__(self, other):
        return other.value == self.value if isinstance(other, _YamlBool) else other == self.value

    def __hash__(self):
        return hash(self.value)

    def __repr__(self):
        return "true" if self.value else "false"

    __str__ = __repr__


@dataclasses.dataclass(frozen=True)
class RunSettings:
    seed: int = param(0, ge=0, lt=2**32, integer=True, long_name="random seed")
    pulses: int = param(10**10, ge=1, le=10**18, integer=True, long_name="pulses sent per sweep point")
    chunk_size: int | None = param(None, ge=BLOCK, le=2**34, integer=True,
                                   long_name="pulses per compiled step (a multiple of 65536)")
    workers: int | None = param(None, ge=1, le=256, integer=True,
                                long_name="chunks in flight at once (null: the usable cores, at most 8)")
    devices: int | None = param(None, ge=1, le=65536, integer=True,
                                long_name="devices sharing each chunk's points and blocks (null: all, of every process)")
    target_rel_error: float | None = param(None, gt=0, lt=1,
                                           long_name="relative standard error at which a point stops: of the "
                                                     "key rate (links; null: all pulses) or of the Allan deviation "
                                                     "(sensor_stability; null: stability.realisations records)")
    mode: str = param("count", choices=("count", "event"), long_name="sampling level")
    prng: str = param("threefry2x32", choices=PRNG_IMPLS, long_name="JAX PRNG implementation")
    slot_s: float = param(1.0, gt=0, le=1e6, unit="s",
                          long_name="time slot over a channel that changes in time (whole blocks)")
    progress: object = param("auto", choices=("auto", _YamlBool(True), _YamlBool(False)),
                             long_name="progress bar")
    distributed: object = param("auto", choices=("auto", _YamlBool(True), _YamlBool(False)),
                                long_name="jax.distributed.initialize (auto: in a multi-task SLURM/MPI job)")
    fading_samples: int = param(1000, ge=0, le=10**6, integer=True,
                                long_name="fading realisations per sweep point for the transmittance "
                                          "distribution, outage and key-rate quantiles (0: none)")
    quantiles: tuple = levels((0.1, 0.5, 0.9), long_name="quantile levels of the key rate over the fading")

    @property
    def chunk(self) -> int:
        return self.chunk_size or default_chunk(self.mode)

    @property
    def show_progress(self) -> bool | None:
        return None if self.progress == "auto" else bool(self.progress)


RUN_SPECS = specs(RunSettings)
