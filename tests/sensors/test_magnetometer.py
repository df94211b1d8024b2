"""NV-centre and optically pumped magnetometers."""
import math

import jax
import numpy as np
import pytest

from kqjax.sensors import magnetometer as mag
from kqjax.sensors.magnetometer import NVMagnetometer, OpticallyPumpedMagnetometer

H = 6.62607015e-34
MU_B = 9.2740100783e-24


def test_nv_cw_odmr_sensitivity():
    """eta = (4/(3 sqrt 3)) h/(g mu_B) Delta_nu/(C sqrt(R)) (Degen, Reinhard & Cappellaro, RMP 89, 035002,
    2017; Dréau et al., PRB 84, 195204, 2011); a single NV with a 1 MHz line, 30 % contrast and 200 kcounts/s
    is in the 0.1-1 uT/sqrt(Hz) range quoted there."""
    nv = NVMagnetometer.preset("nv_single")
    expected = 4 / (3 * math.sqrt(3)) * H / (2.0028 * MU_B) * 1e6 / (0.3 * math.sqrt(2e5))
    assert float(nv.sensitivity) == pytest.approx(expected, rel=1e-14, abs=0)
    assert 1e-7 < expected < 1e-6
    # linear in linewidth, inverse in contrast and sqrt(rate)
    assert float(NVMagnetometer(linewidth_hz=2e6, contrast=0.15, photon_rate_hz=8e5).sensitivity) == pytest.approx(
        2 * 2 / 2 * expected, rel=1e-12, abs=0)


def test_opm_spin_projection_and_photon_limits():
    """delta B = 1/(gamma sqrt(N T2 t)) and photon shot noise 1/(2 phi_0 gamma T2 sqrt(Phi t)) added in
    quadrature (Budker & Romalis, Nat. Phys. 3, 227, 2007)."""
    opm = OpticallyPumpedMagnetometer.preset("opm_rb_vapour_cell")
    gamma = 2 * math.pi * 7.0e9
    sp = 1 / (gamma * math.sqrt(1e11 * 0.01))
    ph = 1 / (2 * 0.1 * gamma * 0.01 * math.sqrt(1e15))
    assert float(opm.spin_projection) == pytest.approx(sp, rel=1e-14, abs=0)
    assert float(opm.photon_shot_noise) == pytest.approx(ph, rel=1e-14, abs=0)
    assert float(opm.sensitivity) == pytest.approx(math.hypot(sp, ph), rel=1e-14, abs=0)
    assert float(opm.adev(4.0)) == pytest.approx(math.hypot(sp, ph) / 2, rel=1e-12, abs=0)
    serf = OpticallyPumpedMagnetometer.preset("opm_serf_k")
    assert float(serf.sensitivity) < 1e-15  # sub-fT/sqrt(Hz) fundamental limit of a SERF magnetometer


def test_simulated_field_noise():
    """Monte Carlo field records: mean Allan variance equals eta^2/tau plus the flicker floor (NIST SP 1065)
    within 5 EDF standard errors over 32 realisations."""
    nv = NVMagnetometer(linewidth_hz=1e6, contrast=0.02, photon_rate_hz=1e12, flicker_floor_t=2e-13)
    out = mag.simulate(nv, jax.random.key(4), n_samples=2048, n_realisations=32)
    tau = np.asarray(out["tau_s"])
    model = float(nv.sensitivity) ** 2 / tau + 2e-13 ** 2
    np.testing.assert_allclose(np.asarray(out["adev_model"]) ** 2, model, rtol=1e-12)
    avar = np.asarray(out["adev"]) ** 2
    se = model * np.sqrt(2 / np.asarray(out["edf"])) / math.sqrt(32)
    keep = tau / nv.sample_time_s >= 32  # flicker FM: discretisation bias < 0.2 % from m = 32 (test_noise)
    keep |= tau < float(nv.sensitivity) ** 2 / (10 * 2e-13 ** 2)  # or white-dominated
    assert np.all(np.abs(avar.mean(0) - model)[keep] < 5 * se[keep])
    assert out["field_noise_t"].shape == (32, 2048)


def test_bad_input_raises():
    with pytest.raises(ValueError, match=r"NVMagnetometer.contrast = 1.5 is not allowed"):
        mag.simulate(NVMagnetometer(contrast=1.5), jax.random.key(0))
    with pytest.raises(ValueError, match="atom_number"):
        OpticallyPumpedMagnetometer(atom_number=-1e10).validate()
    with pytest.raises(ValueError, match="unknown"):
        OpticallyPumpedMagnetometer.preset("squid")
