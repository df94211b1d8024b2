"""Quantum sensors: power-law noise, Allan statistics, clocks, atom interferometers, magnetometers and
inertial navigation (importing registers the sensor components under the config group ``sensor``)."""
from kqjax.sensors import clock  # noqa: F401
from kqjax.sensors import interferometer  # noqa: F401
from kqjax.sensors import magnetometer  # noqa: F401
from kqjax.sensors import navigation  # noqa: F401
