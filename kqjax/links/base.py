"""The interfaces of a link's components: channels (and their loss factors) and protocols.

A **protocol** declares its structure, as a diffrax solver declares the terms it needs:

- ``GROUPS``: the component groups it runs on, besides ``protocol`` itself: the source(s), the
  channels (``ARMS``) and the detectors. Two-arm protocols name their arms ``channel_a`` and
  ``channel_b`` (and ``detector_a``/``detector_b`` when each side detects);
- ``PARTIES`` and ``TOPOLOGY``: who holds what (``"alice -> bob"``, ``"alice <- source -> bob"``,
  ``"alice -> charlie <- bob"``);
- ``SETTINGS``: the per-pulse classes the parties choose (intensity, basis, ...), drawn with
  :meth:`Protocol.setting_probabilities`; ``MEASURED`` says for which of them the outcome is drawn
  at all (a pulse whose bases differ is discarded at sifting and needs no detection draw);
- ``OUTCOMES``: what a measured pulse gives, with probabilities
  :meth:`Protocol.outcome_probabilities` per setting, given each arm's transmittance.

The engine (:mod:`kqjax.links.link`) draws, per block of pulses, the settings as one multinomial
and the outcomes of each measured setting as another (count level), or every pulse with
:meth:`Protocol.sample_events` (event level), never knowing which protocol runs. The protocol's
:meth:`Protocol.estimate` turns counts (or expected counts) into rates.

A **channel** is a chain of loss factors, composed like optax's ``chain``: its transmittance is
the product of the factors' (the sum of their logs, in nepers, so that 1000 km never underflow).
A factor is deterministic (fiber attenuation, a fixed loss) or random with unit mean (fading); any
factor may depend on the time ``t`` in seconds. The engine asks a channel for its expected
transmittance at ``t``, for realisations at ``t`` (one per block of pulses), and for the
expectation of a function of the transmittance over the fading (:meth:`Channel.expect`), which is
how the asymptotic rate of a fading link is defined.
"""
from __future__ import annotations

import abc
import math

import jax
import jax.numpy as jnp

from kqjax.engine.params import component
from kqjax.links.protocols.bounds import plob

_LN10_10 = math.log(10.0) / 10.0


def db_to_nepers(loss_db):
    """ln(eta) of a loss in dB: -ln(10)/10 * loss."""
    return -_LN10_10 * loss_db


# ----------------------------------------------------------------------------- loss factors


class Factor:
    """One multiplicative loss factor of a channel (a registered component).

    Deterministic factors implement :meth:`log_gain`. Random factors (``random = True``) have
    unit mean and also implement :meth:`sample_log` (reparameterised: a differentiable function
    of the fields for a fixed key) and :meth:`quadrature` (nodes and weights of ln of the factor,
    for expectations). ``time_varying = True`` when :meth:`log_gain` depends on ``t``.
    ``correlated = True`` when a realisation is a function of time drawn once per run (a fading
    time series, random and time-varying): the engine then passes the same run-level key at every
    block, and :meth:`quadrature` is the marginal distribution at any time.
    """

    random = False
    time_varying = False
    correlated = False

    def log_gain(self, t):
        """ln of the deterministic part of the factor at time ``t`` (nepers)."""
        return jnp.zeros_like(jnp.asarray(t, jnp.float64))

    def sample_log(self, key, t, shape=()):
        """ln of random realisations of the factor at time ``t``."""
        return jnp.broadcast_to(self.log_gain(t), shape)

    def quadrature(self, ceiling=jnp.inf):
        """(ln factor at the nodes [K], weights [K] summing to 1) of the factor's distribution;
        realisations whose ln exceeds ``ceiling`` may be merged into a node at the ceiling."""
        return jnp.zeros(1), jnp.ones(1)


class ChannelFading(Factor):
    """A fading whose parameters follow its channel's fields: a channel of a kind in ``CHANNELS``
    replaces it by the factors :meth:`resolve` builds from the channel; on its own it has no law."""

    CHANNELS: tuple[str, ...] = ()
    random = True

    @abc.abstractmethod
    def resolve(self, channel) -> tuple:
        """The unit-mean factors of ``channel``."""

    def beyond_validity(self, channel) -> list[str]:
        """Where a model it takes from ``channel`` is used beyond its stated range (one line each)."""
        return []

    def _unresolved(self, *_, **__):
        raise ValueError(f"fading '{self.kind}' takes its parameters from a {' or '.join(self.CHANNELS)} channel")

    sample_log = quadrature = _unresolved


@component("fading", "none")
class NoFading(Factor):
    """No fading: the factor is 1."""


# ----------------------------------------------------------------------------- channels


class Channel(abc.ABC):
    """A channel (a registered component) whose transmittance is the product of its factors.

    Subclasses implement :meth:`factors` (a tuple of :class:`Factor`), built from their own
    fields. Realisations are capped at transmittance 1.
    """

    @abc.abstractmethod
    def factors(self) -> tuple:
        """The loss factors, from the channel's own fields."""

    @property
    def random(self) -> bool:
        """Whether realisations differ from block to block (the channel fades)."""
        return any(random for random, _ in self._kinds())

    @property
    def time_varying(self) -> bool:
        """Whether the transmittance depends on the time (a run then keeps counts per slot)."""
        return any(varying for _, varying in self._kinds())

    def _kinds(self) -> list:
        """``(random, time_varying)`` of every factor. The kinds follow from the channel's structure,
        not its values: outside a trace the factors of a registered channel (a pytree) are built
        abstractly (``jax.eval_shape``), so that asking computes nothing."""
        leaves = jax.tree_util.tree_leaves(self)
        if any(x is self or isinstance(x, jax.core.Tracer) for x in leaves):
            return [(f.random, f.time_varying) for f in self.factors()]
        kinds = []

        def build(channel):
            kinds.extend((f.random, f.time_varying) for f in channel.factors())
            return jnp.zeros(())

        jax.eval_shape(build, self)
        return kinds

    def log_transmittance(self, t=0.0):
        """ln of the transmittance without fading at time ``t`` (nepers: no underflow)."""
        return sum(f.log_gain(t) for f in self.factors())

    def loss_db(self, t=0.0):
        """Loss without fading, in dB."""
        return -self.log_transmittance(t) / _LN10_10

    def sample(self, key, t=0.0, shape=(), run_key=None):
        """Transmittance realisations at time ``t``: min(prod of factor realisations, 1). A
        ``correlated`` factor draws from ``run_key`` (folded with its index) when one is given, so
        that its samples at successive times are one time series."""
        factors = self.factors()
        keys = jax.random.split(key, len(factors))
        log_eta = sum(f.sample_log(jax.random.fold_in(run_key, i) if f.correlated and run_key is not None else k,
                                   t, shape) for i, (f, k) in enumerate(zip(factors, keys)))
        return jnp.exp(jnp.minimum(log_eta, 0.0))

    def nodes(self, t=0.0):
        """(transmittances [K], weights [K]) whose weighted sums are expectations over the fading.

        Product rule over the random factors' quadratures; one node for a channel without fading.
        A single random factor is told where the cap at 1 lies, so that its rule can put the kink
        of the cap on a node boundary.
        """
        log_eta = jnp.atleast_1d(self.log_transmittance(t))
        w = jnp.ones(1)
        random = [f for f in self.factors() if f.random]
        for f in random:
            if f.random:
                x, v = f.quadrature(-log_eta[0]) if len(random) == 1 else f.quadrature()
                log_eta = (log_eta[:, None] + x[None, :]).reshape(-1)
                w = (w[:, None] * v[None, :]).reshape(-1)
        return jnp.exp(jnp.minimum(log_eta, 0.0)), w

    def expect(self, fn, t=0.0):
        """E[fn(eta)] over the fading at time ``t`` (``fn`` maps a scalar to a pytree)."""
        eta, w = self.nodes(t)
        vals = jax.vmap(fn)(eta)
        return jax.tree_util.tree_map(lambda v: jnp.tensordot(w, v, axes=1), vals)

    def transmittance(self, t=0.0):
        """Expected transmittance E[eta(t)]."""
        return self.expect(lambda e: e, t)

    def prepare(self, key) -> "Channel":
        """The channel ready for a run: what it draws once per run with ``key`` (a wave-optics
        bank of transmittances) computed and held. The engine calls it, point by point, before
        simulating; the default has nothing to draw and returns ``self``."""
        return self

    def drawn_per_run(self) -> tuple[str, object] | None:
        """``(field, value)`` of the setting that makes :meth:`prepare` draw something, or None."""
        return None


# ----------------------------------------------------------------------------- protocols


class Protocol(abc.ABC):
    """A QKD (or entanglement) protocol: declared structure, outcome model and estimator.

    ``parts`` below is the dict ``{group: component}`` of the groups in ``GROUPS``; ``eta`` is a
    dict ``{arm: transmittance}`` over ``ARMS``. Methods call the components' methods, never their
    fields. Estimators take counts (exact integers from a run, or expected values; only ratios
    and the total matter) and return rates per pulse sent.
    """

    GROUPS: tuple[str, ...] = ("source", "channel", "detector")
    KINDS: dict = {}
    """The component kinds it can run on, by group (``{"source": ("weak_coherent",)}``); a group
    not named takes any kind."""
    ARMS: tuple[str, ...] = ("channel",)
    PARTIES: tuple[str, ...] = ("alice", "bob")
    TOPOLOGY: str = "alice -> bob"
    SETTINGS: tuple[str, ...] = ()
    MEASURED: tuple[bool, ...] = ()
    OUTCOMES: tuple[str, ...] = ()
    COORDS: dict = {}
    """Extra dataset coordinates of the estimator's outputs: ``{dim: (labels...)}``."""
    VARIABLES: dict = {}
    """Estimator outputs stored in datasets: ``{name: (extra dims, units, long name)}``; must hold
    ``key_rate`` (bit/pulse, >= 0) and ``qber``."""
    LABEL: str = ""
    """Short name for plots and tables (``decoy BB84``)."""

    def source(self, parts):
        """The component that sets the pulse clock (its ``rep_rate_hz()``)."""
        return parts["source"]

    def rep_rate_hz(self, parts):
        return self.source(parts).rep_rate_hz()

    @abc.abstractmethod
    def setting_probabilities(self, parts):
        """P(setting) per pulse, [S]."""

    @abc.abstractmethod
    def outcome_probabilities(self, parts, eta):
        """P(outcome | setting), [S, O]; rows of settings not ``MEASURED`` are ignored."""

    @abc.abstractmethod
    def sample_events(self, key, n, parts, eta):
        """(setting [n], outcome [n]) int32 of ``n`` pulses drawn one by one (event level)."""

    @abc.abstractmethod
    def estimate(self, sent, counts, parts, eta):
        """Rates from ``sent`` [S] and ``counts`` [S, O]: a dict holding ``VARIABLES`` and
        ``key_rate_signed`` (the rate before clipping at 0, for optimisers)."""

    def asymptotic_rate(self, sent, counts, parts, eta):
        """The key rate of infinitely many pulses from expected counts (any scale): the estimator's
        ``key_rate`` unless a finite-size analysis must be switched off for it."""
        return self.estimate(sent, counts, parts, eta)["key_rate"]

    def probabilities(self, parts, eta):
        """(P(setting) [S], P(setting, outcome) [S, O]) per pulse sent, unmeasured rows zero."""
        ps = self.setting_probabilities(parts)
        po = self.outcome_probabilities(parts, eta)
        mask = jnp.asarray(self.MEASURED, bool)[:, None]
        return ps, jnp.where(mask, ps[:, None] * po, 0.0)

    def key_detections(self, counts):
        """The key-carrying detections among ``counts`` [..., S, O] (``[...]``), or None when the
        protocol names none."""
        return None

    def margin_scale(self, sent, counts, parts):
        """A positive scale of the rate at ``sent`` [S], ``counts`` [S, O]: the key-carrying detections
        per pulse (1 when the protocol names none). Where there is no key, ``key_rate_signed`` over
        this is the key per key-carrying detection, a margin an optimiser climbs towards key: it
        falls as the key-carrying settings' probabilities or intensities go to 0."""
        detections = self.key_detections(counts)
        if detections is None:
            return 1.0
        return detections / jnp.maximum(jnp.sum(jnp.asarray(sent, jnp.float64), -1), 1e-300)

    def alice_bob_transmittance(self, eta):
        """Transmittance between the two users: the product over the arms."""
        out = 1.0
        for arm in self.ARMS:
            out = out * eta[arm]
        return out

    def bound(self, eta):
        """PLOB repeaterless bound on the Alice-Bob transmittance, bit per pulse."""
        return plob(self.alice_bob_transmittance(eta))
