"""The daytime satellite experiment from the command line, as a user types it (few pulses)."""
from __future__ import annotations

import numpy as np
import xarray as xr

from kqjax.links.channels import sky_background as sb

from .test_cli import kqjax, printed_paths


def test_satellite_day(tmp_path):
    """Micius's daytime pass over Xinglong (the Sun ~26 deg up) with the sky's background light, the
    field of view swept inside the run: through 100 µrad the clear sky brings 0.01-0.4 photons per
    gate, the QBER nears 1/2 and the key of the pass vanishes; through 1 µrad (10⁴ times less light,
    Ω ∝ θ_fov²) the key survives. The photons per gate follow n_bg = L Ω A Δλ Δt η_rx / (h c/λ)."""
    proc = kqjax(tmp_path, "experiment=satellite_day", "source.rep_rate_mhz=0.1", "run.slot_s=60",
                 "channel.background.fov_urad=[1,100]", "run.progress=false")
    assert proc.returncode == 0, proc.stderr
    with xr.open_dataset(printed_paths(proc.stdout)["dataset"][0]) as ds:
        ds = ds.load()
    assert ds["background_photons"].dims == ("fov_urad", "time_s")
    assert ds["sun_elevation_deg"].min() > 20  # daylight all along the pass
    narrow, wide = ds["background_photons"].sel(fov_urad=1.0), ds["background_photons"].sel(fov_urad=100.0)
    assert np.allclose(wide / narrow, 1e4, rtol=1e-9)
    assert 5e-3 < float(wide.min()) and float(wide.max()) < 1.0
    # far above the moonless night's n_bg through the same optics (5.3e-9 W m⁻² sr⁻¹ nm⁻¹)
    night = float(sb.photons_per_gate(sb.NIGHT_RADIANCE["none"], 850.0, 1e-4, 1.0, 1.0, 2e-9, 0.25))
    assert float(wide.min()) > 1e5 * night
    qber = ds["qber"].sel(fov_urad=100.0, intensity="signal")
    assert float(qber.min()) > 0.2
    assert float(ds["key_rate_asymptotic_pooled"].sel(fov_urad=100.0)) == 0.0
    assert float(ds["key_rate_pooled"].sel(fov_urad=100.0)) == 0.0
    assert float(ds["key_rate_asymptotic_pooled"].sel(fov_urad=1.0)) > 0.0
