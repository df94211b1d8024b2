"""Shared constructors for link tests."""
import jax
import numpy as np

from kqjax.api import prepare
from kqjax.config.compose import compose
from kqjax.links.link import Link
from kqjax.tasks.qkd_link import link_of


def make_link(overrides=()):
    """A batched Link (leading grid axis) from config overrides, as the CLI builds it."""
    _, built = prepare(compose(list(overrides)))
    return link_of(built.components), built


def gys(length="[0]", extra=()):
    """GYS parameters of Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005)."""
    return make_link([f"channel.length_km={length}", "channel.attenuation_db_per_km=0.21",
                      "detector=gys", "protocol.f_ec=1.22", *extra])


def expected(link):
    """Asymptotic outputs at every grid point."""
    return {k: np.asarray(v) for k, v in jax.vmap(Link.expected)(link).items()}


def probabilities(link):
    """(P(setting) [G, S], P(setting, outcome) [G, S, O]) per pulse, averaged over any fading."""
    ps, po = jax.vmap(lambda lk: lk.expected_probabilities())(link)
    return np.asarray(ps), np.asarray(po)


def estimate(link, sent, counts):
    out = jax.vmap(Link.estimate)(link, sent, counts)
    return {k: np.asarray(v) for k, v in out.items()}
