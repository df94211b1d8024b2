"""Quantum links: sources, channels, detectors and protocols (importing registers them)."""
from kqjax.links import base  # noqa: F401
from kqjax.links.channels import fiber  # noqa: F401
from kqjax.links.channels import lognormal_fading  # noqa: F401
from kqjax.links.detectors import threshold  # noqa: F401
from kqjax.links.protocols import bb84_decoy  # noqa: F401
from kqjax.links.sources import weak_coherent  # noqa: F401
from kqjax.links.protocols import sns_tf  # noqa: F401
from kqjax.links.sources import twin_field  # noqa: F401
from kqjax.links.protocols import bbm92  # noqa: F401
from kqjax.links.sources import spdc  # noqa: F401
from kqjax.links.channels import transmittance_table  # noqa: F401
from kqjax.links.channels import satellite  # noqa: F401
from kqjax.links.channels import tle_pass  # noqa: F401
from kqjax.links.channels import free_space  # noqa: F401  (with cn2_profile, turbulence, gamma_gamma, pointing)
from kqjax.links.channels import elliptic_beam  # noqa: F401
from kqjax.links.channels import platform_motion  # noqa: F401  (with frozen_flow)
