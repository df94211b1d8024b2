"""experiment=optimize_gravimeter_T: optax's optimal interrogation time T against a dense grid search."""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import kqjax
from kqjax.config.errors import ConfigError


def test_optimum_T_matches_grid_search(tmp_path):
    ds = kqjax.run(["experiment=optimize_gravimeter_T"], output_dir=tmp_path)
    assert (tmp_path / "results.nc").exists() and (tmp_path / "optimum.png").exists()
    from kqjax.sensors.interferometer import AtomAccelerometer

    base = dataclasses.replace(AtomAccelerometer.preset("gravimeter_freier2016"), dead_time_s=1.0,
                               vibration_asd_m_s2_per_rthz=0.0)
    grid = jnp.geomspace(0.01, 3.0, 4001)
    t_opt = ds["pulse_separation_s_opt"].values
    noise_opt = 10.0 ** -ds["objective_opt"].values
    red = ds["vibration_red_asd_m_s2_per_rthz"].values
    assert len(red) >= 5 and np.all(np.diff(t_opt) < 0)  # noisier platform: shorter optimal T
    search = jax.jit(jax.vmap(lambda r, T: dataclasses.replace(
        base, vibration_red_asd_m_s2_per_rthz=r, pulse_separation_s=T).design_sensitivity(), (None, 0)))
    for r, t, n in zip(red, t_opt, noise_opt):
        s = dataclasses.replace(base, vibration_red_asd_m_s2_per_rthz=float(r))
        noise = np.asarray(search(jnp.float64(r), grid))  # the same closed form, densely in T
        i = int(np.argmin(noise))
        assert 0 < i < len(grid) - 1  # an interior optimum
        assert n == pytest.approx(noise[i], rel=0.01)  # optimum noise within 1 % of the grid's
        assert n >= noise[i] * (1 - 1e-6)
        assert t == pytest.approx(float(grid[i]), rel=0.05)
        assert float(dataclasses.replace(s, pulse_separation_s=t).design_sensitivity()) == pytest.approx(n, rel=1e-9)


def test_design_model_limits():
    from kqjax.sensors.interferometer import AtomAccelerometer

    s = AtomAccelerometer.preset("gravimeter_freier2016")
    # no dead time and no 1/f noise: the design model is the white model of the Monte Carlo
    assert float(s.design_sensitivity()) == pytest.approx(float(s.sensitivity), rel=1e-12)
    assert float(s.design_cycle_time_s) == s.cycle_time_s
    assert float(dataclasses.replace(s, dead_time_s=1.0).design_cycle_time_s) == pytest.approx(1.0 + 2 * 0.26)


def test_optimize_needs_an_accelerometer():  # the design model is the accelerometer's
    with pytest.raises(ConfigError, match="^mode=optimize: .*atom_accelerometer"):
        kqjax.run(["experiment=gravimeter", "sensor=gyroscope_cold_atom", "mode=optimize",
                   "optimize.objective=neg_log10_adev_1s", "optimize.params=[sensor.pulse_separation_s]"])
