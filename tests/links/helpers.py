"""Shared constructors for link tests."""
import jax
import numpy as np

from kqjax.config.build import build
from kqjax.config.compose import compose
from kqjax.links.link import Link


def make_link(overrides=()):
    """A batched Link (leading grid axis) from config overrides, as the CLI builds it."""
    built = build(compose(list(overrides)), ("channel", "source", "detector", "protocol"))
    return Link(**built.components), built


def gys(length="[0]", extra=()):
    """GYS parameters of Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005)."""
    return make_link([f"channel.length_km={length}", "channel.attenuation_db_per_km=0.21",
                      "detector=gys", "protocol.f_ec=1.22", *extra])


def expected(link):
    """Asymptotic outputs at every grid point."""
    return {k: np.asarray(v) for k, v in jax.vmap(Link.expected)(link).items()}


def probabilities(link):
    return np.asarray(jax.vmap(lambda lk: lk.probabilities(lk.channel.transmittance()))(link))


def estimate(link, counts):
    out = jax.vmap(lambda lk, c: lk.estimate(c, lk.channel.transmittance()))(link, counts)
    return {k: np.asarray(v) for k, v in out.items()}
