"""Entanglement-based QKD (BBM92) with a parametric down-conversion source between Alice and Bob.

The source (:class:`kqjax.links.sources.spdc.SPDCSource`) sends one photon of each pair through
``channel_a`` to Alice and the other through ``channel_b`` to Bob. Each party measures in Z with
probability p_z (X otherwise) on a pair of threshold detectors (``detector_a``, ``detector_b``);
Bob flips his bit so that the ideal outcomes agree. Settings: bases agree (sifted) or differ
(discarded, not drawn). Outcomes of a sifted pulse: bits agree, bits differ, no coincidence.

Model, exact for any number of pairs. The pairs of the two pair modes, K_1 and K_2, are i.i.d.
(thermal or Poisson, see the source). In a basis both parties measure, a photon of pair mode 1
belongs to detector 0 at both sides and one of mode 2 to detector 1 (the polarisation-entangled
state is invariant under joint rotations, so this holds in Z and in X). Each photon of side
X = A, B is detected with probability t_X = eta_X eta_D,X, at its own detector with probability
t_X (1 - e_X) and at the other one with t_X e_X (the detector's ``split``: independent misrouting,
e.g. finite extinction of the polarising beam splitter), independently of all others. A detector
clicks if it is available (probability a_X, dead time) and detects a photon or a dark count
(probability p_X, afterpulses included, as in :class:`ThresholdDetectors`); a double click at a
side gives a random bit. With S_d the event 'detector d silent' and S_T = all of T silent,
  P(S_TA and S_TB, always available) = (1-p_A)^|TA| (1-p_B)^|TB| prod_j G((1 - w_A,j)(1 - w_B,j)),
where w_X,j is the probability that one photon of pair mode j is detected in T_X, and G the pair
number's generating function (source). The outcome probabilities follow, without cancellation:
  Q = P_A P_B + sum_{TA,TB} pi_A(TA) pi_B(TB) (1-p_A)^|TA| (1-p_B)^|TB| D(TA, TB),
  C = P(agree) - P(differ) = a_A a_B (1-p_A)(1-p_B) sum_{dA,dB} s(dA) s(dB) D({dA}, {dB}),
with P_X = a_X (1 - a_X) [K_0 + K_1] + a_X^2 K_01 the probability that side X clicks (K_T: some
detector of T clicks, always available), pi_X(T) = a_X^|T| (1 - a_X)^(2-|T|), s(1) = 1, s(0) = -1 and
D = prod_j G(z_A,j z_B,j) - prod_j G(z_A,j) G(z_B,j) (z = 1 - w) from the source's
``pgf_covariance`` (C also holds E[S_A1 - S_A0] E[S_B1 - S_B0], zero for this symmetric
source). Then P(agree) = (Q + C)/2, P(differ) = (Q - C)/2, P(no coincidence) = 1 - Q.
Dead time and afterpulses enter through the detectors' ``effective`` at the mean click
probability of a free detector (mean-field, as for BB84); with bases that differ C = 0.

Against Ma, Fung, Lo, PRA 76, 012307 (2007): thermal source, Y_0X = 1 - (1 - p_X)^2, no dead time,
  Q_lambda = 1 - (1-Y0A)/(1+eta_A lambda)^2 - (1-Y0B)/(1+eta_B lambda)^2
             + (1-Y0A)(1-Y0B)/(1+eta_A lambda+eta_B lambda-eta_A eta_B lambda)^2        (exact),
  E_lambda Q_lambda = Q_lambda/2 - 2 (1/2 - e_d) eta_A eta_B lambda (1+lambda)
             / [(1+eta_A lambda)(1+eta_B lambda)(1+eta_A lambda+eta_B lambda-eta_A eta_B lambda)],
with eta_X = t_X and 1 - 2 e_d = (1 - 2 e_A)(1 - 2 e_B). Here C is exactly (1-p_A)(1-p_B) times
theirs when e_A = e_B = 0 (a dark count beside a photon click makes a double click); with
misrouting the two differ only through events with >= 3 photons detected at one side.

Key rate per pulse sent (basis-independent source, Koashi-Preskill; Ma, Fung, Lo 2007):
  R = q Q_lambda [1 - f h2(E_lambda) - h2(E_lambda)],   q = p_z^2 + (1 - p_z)^2,
from the gain and QBER estimated from the counts; ``key_rate`` is max(R, 0). Visibility
V = 1 - 2 E and the CHSH value it gives, S = 2 sqrt(2) V.
"""
from __future__ import annotations

import itertools
import math

import jax
import jax.numpy as jnp

from kqjax.engine import random_words
from kqjax.engine.params import component, param
from kqjax.links.base import Protocol
from kqjax.links.protocols.bb84_decoy import fraction, h2, observed

_SUBSETS = ((0,), (1,), (0, 1))
_SIDES = (("channel_a", "detector_a"), ("channel_b", "detector_b"))


def detection_split(detector, eta):
    """(w_right, w_wrong): probability that one photon sent into an arm of transmittance ``eta``
    is detected at its own detector, at the other one: the detected fraction eta_D eta divided by
    the detector's ``split``."""
    return detector.split(detector.detected(eta))


@component("protocol", "bbm92")
class BBM92(Protocol):
    f_ec: float = param(1.16, ge=1, le=3, long_name="error-correction inefficiency")
    p_z: float = param(0.5, gt=0, lt=1, long_name="probability of the Z basis (each party)")

    GROUPS = ("source", "channel_a", "channel_b", "detector_a", "detector_b")
    KINDS = {"source": ("spdc",)}
    ARMS = ("channel_a", "channel_b")
    PARTIES = ("source", "alice", "bob")
    TOPOLOGY = "alice <- source -> bob"
    SETTINGS = ("bases agree", "bases differ")
    MEASURED = (True, False)
    OUTCOMES = ("bits agree", "bits differ", "no coincidence")
    COORDS = {}
    VARIABLES = {
        "key_rate": ((), "bit/pulse", "secret key rate per pulse"),
        "qber": ((), "1", "quantum bit error rate of coincidences, sifted (NaN without coincidences)"),
        "coincidence_probability": ((), "1", "coincidence probability per sifted pulse Q_lambda"),
        "visibility": ((), "1", "visibility V = 1 - 2 E (NaN without coincidences)"),
        "chsh": ((), "1", "CHSH value of the visibility, 2 sqrt(2) V (NaN without coincidences)"),
    }
    LABEL = "BBM92"

    # ------------------------------------------------------------------ structure

    def sifting(self):
        """q = p_z^2 + (1 - p_z)^2: both parties choose the same basis."""
        return self.p_z**2 + (1.0 - self.p_z) ** 2

    def setting_probabilities(self, parts):
        """[q, 1 - q]."""
        q = self.sifting()
        return jnp.stack(jnp.broadcast_arrays(q, 1.0 - q), -1)

    def key_detections(self, counts):
        """Sifted coincidences (per pulse: q Q_lambda): R over them is the key per coincidence,
        1 - f h2(E) - h2(E), which rises towards key where there is none (R / q = Q_lambda [...]
        rises as the pairs' mean number -> 0)."""
        c = jnp.asarray(counts, jnp.float64)[..., 0, :]
        return c[..., 0] + c[..., 1]

    # ------------------------------------------------------------------ model

    def photon_weights(self, parts, eta):
        """Per side, [2 pair modes, 2 detectors]: probability that one photon of pair mode j is
        detected at detector d (mode j belongs to detector j)."""
        out = []
        for arm, det in _SIDES:
            right, wrong = detection_split(parts[det], eta[arm])
            out.append(jnp.stack([jnp.stack([right, wrong]), jnp.stack([wrong, right])]))
        return out

    def detector_states(self, parts, eta):
        """Per side, (p', a) of its detectors at the mean click probability R of a free detector,
        R = 1 - (1 - p_d) G(1 - w_right) G(1 - w_wrong)."""
        source = parts["source"]
        states = []
        for (arm, det), w in zip(_SIDES, self.photon_weights(parts, eta)):
            detector = parts[det]
            log_silent = jnp.log1p(-detector.free_click(0.0)) + source.log_pgf(w[0, 0]) + source.log_pgf(w[0, 1])
            states.append(detector.effective(-jnp.expm1(log_silent), source.rep_rate_hz()))
        return states

    def coincidences(self, parts, eta):
        """(Q, C): coincidence probability and P(agree) - P(differ) of a sifted pulse."""
        source = parts["source"]
        weights = self.photon_weights(parts, eta)
        states = self.detector_states(parts, eta)

        def w_of(side, subset):  # [2 modes]: photon detected somewhere in ``subset``
            w = weights[side]
            return sum(w[:, d] for d in subset)

        def log_silent(side, subset):  # one side alone, always available
            dark = states[side][0]
            w = w_of(side, subset)
            return len(subset) * jnp.log1p(-dark) + source.log_pgf(w[0]) + source.log_pgf(w[1])

        def covariance(sa, sb):  # D(TA, TB): P(TA and TB silent) minus the product, no dark counts
            wa, wb = w_of(0, sa), w_of(1, sb)
            both = [jnp.exp(source.log_pgf(wa[j] + wb[j] - wa[j] * wb[j])) for j in range(2)]
            apart = [jnp.exp(source.log_pgf(wa[j]) + source.log_pgf(wb[j])) for j in range(2)]
            excess = [source.pgf_covariance(wa[j], wb[j]) for j in range(2)]
            return excess[0] * both[1] + apart[0] * excess[1]

        p_side, click = [], []
        for side in range(2):
            avail = states[side][1]
            k = {s: -jnp.expm1(log_silent(side, s)) for s in _SUBSETS}
            click.append(k)
            p_side.append(avail * (1.0 - avail) * (k[(0,)] + k[(1,)]) + avail**2 * k[(0, 1)])
        (dark_a, avail_a), (dark_b, avail_b) = states
        cov = 0.0
        for sa, sb in itertools.product(_SUBSETS, _SUBSETS):
            pi = (avail_a ** len(sa) * (1.0 - avail_a) ** (2 - len(sa))
                  * avail_b ** len(sb) * (1.0 - avail_b) ** (2 - len(sb)))
            dark = jnp.exp(len(sa) * jnp.log1p(-dark_a) + len(sb) * jnp.log1p(-dark_b))
            cov = cov + pi * dark * covariance(sa, sb)
        q = p_side[0] * p_side[1] + cov
        corr = 0.0
        for da, db in itertools.product((0, 1), (0, 1)):
            corr = corr + (2 * da - 1) * (2 * db - 1) * covariance((da,), (db,))
        corr = avail_a * avail_b * (1.0 - dark_a) * (1.0 - dark_b) * corr
        # E[D_A] E[D_B], D_X = S_X1 - S_X0: zero for the symmetric source, kept for exactness
        bias = [states[s][1] * (click[s][(0,)] - click[s][(1,)]) for s in range(2)]
        return q, corr + bias[0] * bias[1]

    def outcome_probabilities(self, parts, eta):
        """[2, 3]: bases agree ((Q + C)/2, (Q - C)/2, 1 - Q); bases differ (Q/2, Q/2, 1 - Q)."""
        q, c = self.coincidences(parts, eta)
        agree = jnp.stack([0.5 * (q + c), 0.5 * (q - c), 1.0 - q])
        differ = jnp.stack([0.5 * q, 0.5 * q, 1.0 - q])
        return jnp.stack([agree, differ])

    def sample_events(self, key, n, parts, eta):
        """Setting and outcome of each of ``n`` pulses, drawn pulse by pulse from 17 32-bit random
        words each (:mod:`kqjax.engine.random_words`): the parties' independent bases (one word,
        an inversion over the four joint cells, each within 2^-32 of P_A P_B); the pairs K_1, K_2
        of each pair mode (the source's ``sample_pairs``, a 64-bit word each); at each side, which
        of its detectors the photons reach (a 64-bit word); one 64-bit word per detector for its
        click; random bits of double clicks, and Bob's bit when the bases differ, are bit 0 of
        detector words. Each photon of mode j lands at detector d of side X with probability
        w_jd (:meth:`photon_weights`), independently, so that given K_1, K_2
          P(no photon at d) = n_d = prod_j (1 - w_jd)^K_j,   h_d = 1 - n_d,
          P(photons at both) = h_0 h_1 - n_0 n_1 [1 - exp(-sum_j K_j g_j)],
          g_j = ln(1 + w_j0 w_j1 / (1 - w_j0 - w_j1))
        (n_0 n_1 - P(none at all), free of cancellation; 0 with fewer than two photons), drawn by
        inversion with 64-bit thresholds summed as integers (each cell within 2^-64 of its float64
        value). A detector clicks with probability a (dead-time availability) when a photon reaches it and
        a p' (dark counts and afterpulses) otherwise: 63 bits, within 2^-63. With bases that
        differ Bob's bit is independent of Alice's."""
        k_src, k_words = jax.random.split(key)
        pairs = parts["source"].sample_pairs(k_src, (n,))
        weights = self.photon_weights(parts, eta)
        states = self.detector_states(parts, eta)
        (bases_word,), wide = random_words.draw(k_words, n, narrow=1, wide=6)
        z = jnp.stack(jnp.broadcast_arrays(self.p_z, 1.0 - self.p_z))
        cell = random_words.categorical(bases_word, (z[:, None] * z[None, :]).reshape(-1), 32)
        agree = (cell == 0) | (cell == 3)

        def power_log(k, x):  # ln (1 - x)^k, 0 when k = 0 (also at x = 1)
            return jnp.where(k > 0, k * jnp.log1p(-x), 0.0)

        bits, clicked = [], []
        for side in range(2):
            w = weights[side]  # [mode j, detector d]
            log_no = [power_log(pairs[0], w[0, d]) + power_log(pairs[1], w[1, d]) for d in range(2)]
            g_sum = 0.0
            for j in range(2):
                den, prod = 1.0 - w[j, 0] - w[j, 1], w[j, 0] * w[j, 1]
                g = jnp.where(den > 0, jnp.log1p(prod / jnp.where(den > 0, den, 1.0)),
                              jnp.where(prod > 0, jnp.inf, 0.0))
                g_sum = g_sum + jnp.where(pairs[j] > 0, pairs[j] * g, 0.0)
            h0, h1 = -jnp.expm1(log_no[0]), -jnp.expm1(log_no[1])
            both = h0 * h1 + jnp.exp(log_no[0] + log_no[1]) * jnp.expm1(-g_sum)
            both = jnp.where(pairs[0] + pairs[1] >= 2, jnp.clip(both, 0.0, jnp.minimum(h0, h1)), 0.0)
            t_both = random_words.threshold(both)
            t_0 = random_words.threshold(h0)
            t_1 = random_words.threshold(h1 - both)
            t_any = t_0 + jnp.minimum(t_1, jnp.uint64(2**64 - 1) - t_0)
            u = wide[side]
            hit = [u < t_0, (u < t_both) | ((u >= t_0) & (u < t_any))]
            dark, avail = states[side]
            t_photon, t_dark = random_words.threshold(avail, 63), random_words.threshold(avail * dark, 63)
            det = wide[2 + 2 * side: 4 + 2 * side]
            c = [random_words.field(det[d], 1, 63) < jnp.where(hit[d], t_photon, t_dark) for d in range(2)]
            coin = random_words.field(det[0], 0, 1) == 1
            bits.append(jnp.where(c[0] & c[1], coin, c[1]))
            clicked.append(c[0] | c[1])
        bob = jnp.where(agree, bits[1], random_words.field(wide[5], 0, 1) == 1)
        outcome = jnp.where(clicked[0] & clicked[1], jnp.where(bits[0] == bob, 0, 1), 2)
        return jnp.where(agree, 0, 1).astype(jnp.int32), outcome.astype(jnp.int32)

    # ------------------------------------------------------------------ estimator

    def estimate(self, sent, counts, parts, eta):
        """Rates from sent [2] and counts [2, 3] (integers from a run, or expected values):
        Q = coincidences / sifted pulses, E = differing bits / coincidences,
        R = (sifted / sent) Q [1 - f h2(E) - h2(E)]."""
        s = jnp.asarray(sent, jnp.float64)
        c = jnp.asarray(counts, jnp.float64)[0]
        total = jnp.maximum(jnp.sum(s), 1e-300)
        coinc = c[0] + c[1]
        qber = fraction(c[1], coinc)
        rate = coinc / total * (1.0 - self.f_ec * h2(qber) - h2(qber))
        qber = observed(c[1], coinc)  # NaN without coincidences, and so are V and S
        visibility = 1.0 - 2.0 * qber
        return {
            "key_rate": jnp.maximum(rate, 0.0),
            "key_rate_signed": rate,
            "qber": qber,
            "coincidence_probability": observed(coinc, s[0]),
            "visibility": visibility,
            "chsh": 2.0 * math.sqrt(2.0) * visibility,
        }
