"""Sending-or-not-sending twin-field QKD (SNS TF-QKD) with vacuum + two decoys.

Alice and Bob send phase-randomised coherent pulses (:class:`TwinFieldSource`) through the arms
``channel_a`` and ``channel_b`` to Charlie, who interferes them on a 50:50 beam splitter watched by
two threshold detectors (left, right). An effective event is exactly one click. Protocol of Wang,
Yu, Hu, PRA 98, 062323 (2018); asymptotic estimation with vacuum + two decoys as in Yu et al.,
Sci. Rep. 9, 3080 (2019) and Hu, Jiang, Yu, Wang, PRA 100, 062337 (2019).

Settings: every pair (Alice's choice, Bob's choice) of :data:`CHOICES`, index 5 i + j, except that
the pair (X mu_1, X mu_1) is split by the announced phase difference delta = theta_A - theta_B into
  index 18: phases unmatched (not measured),
  index 25: |delta| <= Delta/2 ("slice 0"),   index 26: |delta - pi| <= Delta/2 ("slice pi"),
with Delta the post-selection width (``phase_slice_deg``). Measured: the four Z-Z pairs and the
X-window pairs the decoy analysis uses (vacuum-vacuum, vacuum-mu_k and mu_k-vacuum, and the two
slices). Outcomes: left click only, right click only, neither or both.

Interference model. With mean photon numbers m_A = eta_A k_A and m_B = eta_B k_B at Charlie and
phase theta = delta + phi (phi: residual phase offset of the two reference frames,
``phase_drift_deg``, fixed), the ports carry independent Poisson photon numbers of means
  L = (m_A + m_B)/2 + V sqrt(m_A m_B) cos(theta),   R = (m_A + m_B)/2 - V sqrt(m_A m_B) cos(theta),
where V = 1 - 2 e_d is the mode overlap (visibility) and e_d the detector's ``misalignment`` (the
fraction of the light of two equal, in-phase pulses that exits at the wrong port). The detector
applies its efficiency and dark counts (``click``). Phase averages over theta ~ U(0, 2 pi) are
exact with E exp(-x cos theta) = I_0(x) (Abramowitz & Stegun 9.6.16); those over a slice use
32-point Gauss-Legendre quadrature.

Key rate per time window (asymptotic forms of Sci. Rep. 9, 3080, 2019):
  R = (1/N) { n_1 [1 - h2(e_1^ph)] - f n_t h2(E_z) },
  n_1 = N_untagged mu_z e^{-mu_z} s_1^L   (N_untagged: Z windows where exactly one sender sends),
  s_1^L = [mu_2^2 e^{mu_1} S_1 - mu_1^2 e^{mu_2} S_2 - (mu_2^2 - mu_1^2) S_00] / [mu_1 mu_2 (mu_2 - mu_1)],
  e_1^ph <= [T_X - e^{-2 mu_1} S_00 / 2] / [2 mu_1 e^{-2 mu_1} s_1^L],
with S_k = (S_{0k} + S_{k0})/2 the effective-event yield of X windows where one sender sends mu_k
and the other vacuum, S_00 that of vacuum-vacuum, T_X the error yield of the post-selected
(mu_1, mu_1) windows (right click in slice 0, left click in slice pi), n_t the effective events of
Z windows and E_z their bit-flip error rate (both or neither sent).
"""
from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax.scipy.special import i0e

from kqjax.engine import random_words
from kqjax.engine.params import component, param
from kqjax.links.base import Protocol
from kqjax.links.protocols.bb84_decoy import fraction, h2, observed
from kqjax.links.sources.twin_field import CHOICES

_C = len(CHOICES)
_ALICE = np.concatenate([np.repeat(np.arange(_C), _C), [3, 3]])
_BOB = np.concatenate([np.tile(np.arange(_C), _C), [3, 3]])
X11, SLICE0, SLICEPI = 18, 25, 26
_KIND = np.zeros(len(_ALICE), np.int32)  # 0 uniform relative phase, 1 unmatched, 2 slice 0, 3 slice pi
_KIND[[X11, SLICE0, SLICEPI]] = (1, 2, 3)

Z_PAIRS = (0, 1, 5, 6)
"""(send, send), (send, no-send), (no-send, send), (no-send, no-send)."""
Z_ERRORS = (0, 6)
Z_UNTAGGED = (1, 5)
VACUUM = 12
ONE_SIDED = ((13, 17), (14, 22))
"""(vacuum, mu_k) and (mu_k, vacuum) for k = 1, 2."""

_NAMES = [f"{CHOICES[i]} | {CHOICES[j]}" for i, j in zip(_ALICE[:-2], _BOB[:-2])]
_NAMES[X11] += ", phases unmatched"
SETTINGS = tuple(_NAMES) + ("X mu_1 | X mu_1, phase slice 0", "X mu_1 | X mu_1, phase slice pi")
_MEASURED = set(Z_PAIRS) | {VACUUM, SLICE0, SLICEPI} | {s for pair in ONE_SIDED for s in pair}
OUTCOMES = ("left click", "right click", "no click or both")

_GL_X, _GL_W = (jnp.asarray(a) for a in np.polynomial.legendre.leggauss(32))


def log_i0(x):
    """ln I_0(x) for x >= 0: ln(1 + sum_k (x^2/4)^k / (k!)^2) below 0.5 (no cancellation for tiny
    x), x + ln(i0e(x)) above."""
    small = x < 0.5
    y = 0.25 * jnp.where(small, x, 0.0) ** 2
    term, total = y, y
    for k in range(2, 12):
        term = term * y / (k * k)
        total = total + term
    return jnp.where(small, jnp.log1p(total), jnp.where(small, 1.0, x) + jnp.log(i0e(jnp.where(small, 1.0, x))))


def arc_mean_expm1(x, lo, hi):
    """E[exp(x cos t) - 1] for t ~ U(lo, hi), by Gauss-Legendre quadrature; ``x`` [...]."""
    mid, half = 0.5 * (lo + hi), 0.5 * (hi - lo)
    t = mid + half * _GL_X
    return jnp.sum(0.5 * _GL_W * jnp.expm1(jnp.asarray(x)[..., None] * jnp.cos(t)), -1)


def _safe_sqrt(x):
    """sqrt(x) for x >= 0 with a finite gradient at 0 (zero)."""
    pos = x > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, x, 1.0)), 0.0)


@component("protocol", "sns_tf")
class SendingOrNotSending(Protocol):
    GROUPS = ("source", "channel_a", "channel_b", "detector")
    KINDS = {"source": ("twin_field",)}
    ARMS = ("channel_a", "channel_b")
    PARTIES = ("alice", "bob", "charlie")
    TOPOLOGY = "alice -> charlie <- bob"
    SETTINGS = SETTINGS
    MEASURED = tuple(s in _MEASURED for s in range(len(SETTINGS)))
    OUTCOMES = OUTCOMES
    COORDS = {}
    VARIABLES = {
        "key_rate": ((), "bit/pulse", "secret key rate per time window"),
        "qber": ((), "1", "bit-flip error rate of Z windows (NaN without Z events)"),
        "qber_x": ((), "1", "error rate of post-selected X windows (mu_1, mu_1; NaN without X events)"),
        "phase_error": ((), "1", "phase-flip error rate of untagged single photons, upper bound"),
        "s1_lower": ((), "1", "single-photon yield, lower bound"),
        "gain_z": ((), "1", "effective events per Z window pair"),
    }
    LABEL = "SNS TF-QKD"

    p_z: float = param(0.75, gt=0, lt=1, long_name="probability of a Z (signal) window")
    f_ec: float = param(1.16, ge=1, le=3, long_name="error-correction inefficiency")
    phase_drift_deg: float = param(5.0, ge=0, le=90, unit="deg",
                                   long_name="residual phase offset between the senders' references")
    phase_slice_deg: float = param(20.0, gt=0, le=180, unit="deg",
                                   long_name="post-selection width Delta of X-window phase differences")

    # ------------------------------------------------------------------ structure

    def slice_fraction(self):
        """Fraction of (mu_1, mu_1) windows in each phase slice: Delta / (2 pi)."""
        return self.phase_slice_deg / 360.0

    def setting_probabilities(self, parts):
        """P(setting) [27]: P_A(i) P_B(j) for index 5 i + j; the (mu_1, mu_1) pair split into
        unmatched (1 - Delta/pi), slice 0 and slice pi (Delta / (2 pi) each)."""
        pa = parts["source"].probabilities(self.p_z)
        grid = (pa[..., :, None] * pa[..., None, :]).reshape(pa.shape[:-1] + (_C * _C,))
        x11, f = grid[..., X11], self.slice_fraction()
        grid = grid.at[..., X11].set(x11 * (1.0 - 2.0 * f))
        return jnp.concatenate([grid, jnp.stack([x11 * f, x11 * f], -1)], -1)

    # ------------------------------------------------------------------ model

    @staticmethod
    def visibility(detector):
        """V = 1 - 2 e_d, with e_d the detector's misalignment (its wrong-port fraction)."""
        return 1.0 - 2.0 * detector.split(1.0)[1]

    @staticmethod
    def detected(detector, photons):
        """Mean detected photon number eta_D m."""
        return detector.detected(photons)

    def pulse_means(self, parts, eta):
        """(c, v) [S]: port means L, R = c +- v cos(theta), c = (m_A + m_B)/2, v = V sqrt(m_A m_B)."""
        k = parts["source"].intensities()
        m_a = eta["channel_a"] * k[..., _ALICE]
        m_b = eta["channel_b"] * k[..., _BOB]
        return 0.5 * (m_a + m_b), self.visibility(parts["detector"]) * _safe_sqrt(m_a * m_b)

    def detector_state(self, parts, eta):
        """(p_d', a) of the detectors at the mean click probability per gate of one detector,
        sum_s P(s) [1 - (1 - p_d) exp(-eta_D c_s)] (interference averaged out: a mean-field model)."""
        c, _ = self.pulse_means(parts, eta)
        det = parts["detector"]
        rate = jnp.sum(self.setting_probabilities(parts) * det.free_click(c), -1)
        return det.effective(rate, parts["source"].rep_rate_hz())

    def phase_moments(self, x):
        """(ln E e^{x cos theta}, ln E e^{-x cos theta}) [S] over each setting's phase distribution:
        uniform (ln I_0(x)), slice 0 (theta = delta + phi, |delta| <= Delta/2), slice pi, unmatched."""
        phi = jnp.deg2rad(self.phase_drift_deg)
        half = 0.5 * jnp.deg2rad(self.phase_slice_deg)
        uni = log_i0(x)
        p0 = jnp.log1p(arc_mean_expm1(x, phi - half, phi + half))
        m0 = jnp.log1p(arc_mean_expm1(-x, phi - half, phi + half))
        lo, hi = phi + half, phi + jnp.pi - half
        un = jnp.log1p(0.5 * (arc_mean_expm1(x, lo, hi) + arc_mean_expm1(-x, lo, hi)))
        kind = jnp.asarray(_KIND)
        plus = jnp.select([kind == 0, kind == 1, kind == 2], [uni, un, p0], m0)
        minus = jnp.select([kind == 0, kind == 1, kind == 2], [uni, un, m0], p0)
        return plus, minus

    def outcome_probabilities(self, parts, eta):
        """P(left only, right only, neither or both | setting) [S, 3].

        Per detector P(click) = a [1 - (1 - p_d') E e^{-eta_D L}], E e^{-eta_D L} = e^{-eta_D c}
        E e^{-eta_D v cos theta} (I_0 for a uniform phase); both click with probability
        E[P_L P_R] = a [P_L + P_R - a (1 - (1 - p_d')^2 e^{-2 eta_D c})], since L + R = 2c.
        """
        det = parts["detector"]
        dark, avail = self.detector_state(parts, eta)
        c, v = self.pulse_means(parts, eta)
        eff = self.detected(det, 1.0)
        plus, minus = self.phase_moments(eff * v)
        k_left = det.click(c - minus / eff, dark, avail)
        k_right = det.click(c - plus / eff, dark, avail)
        both = avail * (k_left + k_right - det.click(2.0 * c, -jnp.expm1(2.0 * jnp.log1p(-dark)), avail))
        left, right = k_left - both, k_right - both
        return jnp.stack([left, right, 1.0 - left - right], -1)

    def sample_events(self, key, n, parts, eta):
        """(setting [n], outcome [n]) int32, pulse by pulse from six 32-bit random words each
        (:mod:`kqjax.engine.random_words`): the senders' independent choices (one inversion over
        the 25 joint cells, each within 2^-32 of P_A(i) P_B(j)), the relative phase
        delta = 2 pi (x + 1/2) / 2^32 of a 32-bit word x (which also sorts (mu_1, mu_1) windows
        into slices, each within 2^-32 of Delta / (2 pi)), and each detector's click at the port
        means of that delta, one 64-bit word each (:meth:`ThresholdDetectors.sample_clicks`,
        within 2^-64)."""
        src, det = parts["source"], parts["detector"]
        dark, avail = self.detector_state(parts, eta)
        (choice_word, phase_word), (left_word, right_word) = random_words.draw(key, n, narrow=2, wide=2)
        pa = src.probabilities(self.p_z)
        pair = random_words.categorical(choice_word, (pa[:, None] * pa[None, :]).reshape(-1), 32)
        a, b = pair // _C, pair % _C
        delta = 2.0 * jnp.pi * random_words.unit_open(phase_word, 32)
        half = 0.5 * jnp.deg2rad(self.phase_slice_deg)
        in0 = jnp.abs(jnp.where(delta > jnp.pi, delta - 2.0 * jnp.pi, delta)) <= half
        inpi = jnp.abs(delta - jnp.pi) <= half
        setting = _C * a + b
        setting = jnp.where(setting == X11, jnp.where(in0, SLICE0, jnp.where(inpi, SLICEPI, X11)), setting)
        k = src.intensities()
        m_a, m_b = eta["channel_a"] * k[a], eta["channel_b"] * k[b]
        c = 0.5 * (m_a + m_b)
        v = self.visibility(det) * _safe_sqrt(m_a * m_b) * jnp.cos(delta + jnp.deg2rad(self.phase_drift_deg))
        left = det.sample_clicks(left_word, c + v, dark, avail)
        right = det.sample_clicks(right_word, c - v, dark, avail)
        outcome = jnp.where(left & ~right, 0, jnp.where(right & ~left, 1, 2))
        return setting.astype(jnp.int32), outcome.astype(jnp.int32)

    def key_detections(self, counts):
        """Effective events of Z window pairs, n_t: the rate over them is the key per Z event,
        which rises towards key where there is none."""
        c = jnp.asarray(counts, jnp.float64)
        return sum(c[..., s, 0] + c[..., s, 1] for s in Z_PAIRS)

    # ------------------------------------------------------------------ estimation

    def estimate(self, sent, counts, parts, eta):
        """Key rate per time window and its ingredients from ``sent`` [S] and ``counts`` [S, 3]."""
        src = parts["source"]
        sent = jnp.asarray(sent, jnp.float64)
        c = jnp.asarray(counts, jnp.float64)
        eff = c[..., 0] + c[..., 1]
        yld = fraction(eff, sent)
        total = jnp.sum(sent, -1)
        mu_z = src.signal_intensity()
        mu_1, mu_2 = src.decoy_intensities()

        n_t = sum(eff[..., s] for s in Z_PAIRS)
        z_sent = sum(sent[..., s] for s in Z_PAIRS)
        qber = fraction(sum(eff[..., s] for s in Z_ERRORS), n_t)

        s00 = yld[..., VACUUM]
        s_k = [0.5 * (yld[..., i] + yld[..., j]) for i, j in ONE_SIDED]
        s1 = (mu_2**2 * jnp.exp(mu_1) * s_k[0] - mu_1**2 * jnp.exp(mu_2) * s_k[1]
              - (mu_2**2 - mu_1**2) * s00) / (mu_1 * mu_2 * (mu_2 - mu_1))
        s1 = jnp.maximum(s1, 0.0)

        x_sent = sent[..., SLICE0] + sent[..., SLICEPI]
        x_err = c[..., SLICE0, 1] + c[..., SLICEPI, 0]
        x_eff = eff[..., SLICE0] + eff[..., SLICEPI]
        t_x = fraction(x_err, x_sent)
        single = 2.0 * mu_1 * jnp.exp(-2.0 * mu_1)
        s1_safe = jnp.where(s1 > 0, s1, 1.0)
        e_ph = (t_x - 0.5 * jnp.exp(-2.0 * mu_1) * s00) / (single * s1_safe)
        e_ph = jnp.where(s1 > 0, jnp.clip(e_ph, 0.0, 0.5), 0.5)

        n_1 = sum(sent[..., s] for s in Z_UNTAGGED) * mu_z * jnp.exp(-mu_z) * s1
        rate = (n_1 * (1.0 - h2(e_ph)) - self.f_ec * n_t * h2(qber)) / jnp.maximum(total, 1e-300)
        return {
            "key_rate": jnp.maximum(rate, 0.0),
            "key_rate_signed": rate,
            "qber": observed(sum(eff[..., s] for s in Z_ERRORS), n_t),
            "qber_x": observed(x_err, x_eff),
            "phase_error": e_ph,
            "s1_lower": s1,
            "gain_z": observed(n_t, z_sent),
        }
