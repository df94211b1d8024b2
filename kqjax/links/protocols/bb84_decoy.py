"""Decoy-state BB84 with weak coherent pulses and two threshold detectors.

Settings of a pulse: intensity class k (signal mu, decoy nu, vacuum omega) and whether Alice's
and Bob's bases agree (sifted) or differ (discarded: no detection is drawn). Outcomes of a sifted
pulse: correct bit, bit error, no click. Key from both bases (GLLP): the sifting factor is
q = p_z^2 + (1 - p_z)^2.

Key rate per pulse sent (Lo, Ma, Chen, PRL 94, 230504, 2005; GLLP, QIC 4, 325, 2004):
  R = p_mu q { Q_1 [1 - h2(e_1)] - f Q_mu h2(E_mu) },  reported as 0 when negative,
with Q_1 = Y_1 mu exp(-mu) (``key_rate_signed`` is R before clipping, for optimisers). The
single-photon yield and error are bounded from the measured gains Q_k and QBERs E_k with the
vacuum + weak decoy (or weak + weak) estimates of Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005):
  Y_0 >= max{(nu Q_w e^w - w Q_nu e^nu) / (nu - w), 0}
  Y_1 >= mu / (mu nu - mu w - nu^2 + w^2) [Q_nu e^nu - Q_w e^w - (nu^2 - w^2)/mu^2 (Q_mu e^mu - Y_0)]
  e_1 <= (E_nu Q_nu e^nu - E_w Q_w e^w) / ((nu - w) Y_1)
or with the exact Y_1, e_1 of the model (``decoy="infinite"``).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from kqjax.engine.params import component, param
from kqjax.links.base import Protocol


def h2(x):
    """Binary entropy in bits, 0 at x = 0 and x = 1."""
    x = jnp.clip(x, 0.0, 1.0)
    safe = jnp.clip(x, 1e-300, 1.0 - 1e-16)
    val = -safe * jnp.log2(safe) - (1.0 - safe) * jnp.log2(1.0 - safe)
    return jnp.where((x <= 0.0) | (x >= 1.0), 0.0, val)


@component("protocol", "bb84_decoy")
class DecoyBB84(Protocol):
    decoy: str = param("vacuum_weak", choices=("vacuum_weak", "infinite"),
                       long_name="decoy-state estimation")
    f_ec: float = param(1.16, ge=1, le=3, long_name="error-correction inefficiency")
    p_z: float = param(0.5, gt=0, lt=1, long_name="probability of the Z basis")

    GROUPS = ("source", "channel", "detector")
    ARMS = ("channel",)
    PARTIES = ("alice", "bob")
    TOPOLOGY = "alice -> bob"
    INTENSITIES = ("signal", "decoy", "vacuum")
    SETTINGS = tuple(f"{k}, bases {b}" for k in INTENSITIES for b in ("agree", "differ"))
    MEASURED = (True, False) * 3
    OUTCOMES = ("correct", "error", "no_click")
    COORDS = {"intensity": INTENSITIES}
    VARIABLES = {
        "qber": (("intensity",), "1", "quantum bit error rate"),
        "gain": (("intensity",), "1", "gain (detection probability per sifted pulse)"),
        "y1_lower": ((), "1", "single-photon yield, lower bound"),
        "e1_upper": ((), "1", "single-photon error rate, upper bound"),
    }
    LABEL = "decoy BB84"

    def sifting(self):
        """q = p_z^2 + (1 - p_z)^2."""
        return self.p_z**2 + (1.0 - self.p_z) ** 2

    def detector_state(self, parts, eta):
        """(p_d', a) of the detectors at the mean click rate of this link."""
        source, detector = parts["source"], parts["detector"]
        raw = detector.pair_click(source.intensities() * eta["channel"])
        rate = 0.5 * jnp.sum(source.probabilities() * raw, -1)
        return detector.effective(rate, source.rep_rate_hz())

    def setting_probabilities(self, parts):
        """P(intensity k) P(bases agree | differ), [6]."""
        q = self.sifting()
        agree = jnp.stack(jnp.broadcast_arrays(q, 1.0 - q), -1)
        return (parts["source"].probabilities()[:, None] * agree[None, :]).reshape(-1)

    def outcome_probabilities(self, parts, eta):
        """P(correct, error, no click | intensity k), the same whether bases agree or not
        (rows of differing bases are not drawn), [6, 3]."""
        dark, avail = self.detector_state(parts, eta)
        m = parts["source"].intensities() * eta["channel"]
        p = jnp.stack(parts["detector"].outcomes(m, dark, avail), -1)
        return jnp.repeat(p, 2, axis=0)

    def sample_events(self, key, n, parts, eta):
        """Setting and outcome of each of ``n`` pulses, drawn pulse by pulse (ten uniforms each)."""
        source, detector = parts["source"], parts["detector"]
        dark, avail = self.detector_state(parts, eta)
        u = jax.random.uniform(key, (10, n), jnp.float64)
        cum = jnp.cumsum(source.probabilities())
        k = (u[0] >= cum[0]).astype(jnp.int32) + (u[0] >= cum[1]).astype(jnp.int32)
        sifted = (u[1] < self.p_z) == (u[2] < self.p_z)
        right, wrong = detector.split(source.intensities()[k] * eta["channel"])
        click_c = detector.sample_clicks(u[3], u[5], u[6], right, dark, avail)
        click_w = detector.sample_clicks(u[4], u[7], u[8], wrong, dark, avail)
        coin = u[9] < 0.5
        outcome = jnp.where(click_c & click_w, jnp.where(coin, 1, 0),
                            jnp.where(click_c, 0, jnp.where(click_w, 1, 2)))
        return 2 * k + jnp.where(sifted, 0, 1), outcome.astype(jnp.int32)

    def estimate(self, sent, counts, parts, eta):
        """Rates from sent [6] and counts [6, 3] (integers from a run, or expected values)."""
        source = parts["source"]
        c = jnp.asarray(counts, jnp.float64)[..., ::2, :]  # sifted rows, [3, 3]
        sifted = c.sum(-1)
        det = c[..., 0] + c[..., 1]
        gain = det / jnp.maximum(sifted, 1e-300)
        qber = jnp.where(det > 0, c[..., 1] / jnp.maximum(det, 1e-300), 0.0)
        inten = source.intensities()
        mu, nu, w = inten[..., 0], inten[..., 1], inten[..., 2]
        q_mu, q_nu, q_w = gain[..., 0], gain[..., 1], gain[..., 2]
        e_mu, e_nu, e_w = qber[..., 0], qber[..., 1], qber[..., 2]
        if self.decoy == "infinite":
            dark, avail = self.detector_state(parts, eta)
            y1, e1y1 = parts["detector"].single_photon(eta["channel"], dark, avail)
            e1 = e1y1 / y1
        else:
            y0 = jnp.maximum((nu * q_w * jnp.exp(w) - w * q_nu * jnp.exp(nu)) / (nu - w), 0.0)
            y1 = mu / (mu * nu - mu * w - nu**2 + w**2) * (
                q_nu * jnp.exp(nu) - q_w * jnp.exp(w) - (nu**2 - w**2) / mu**2 * (q_mu * jnp.exp(mu) - y0))
            y1 = jnp.maximum(y1, 0.0)
            y1_safe = jnp.where(y1 > 0, y1, 1.0)  # no 1/0 even in the branch not taken (finite gradients)
            e1 = (e_nu * q_nu * jnp.exp(nu) - e_w * q_w * jnp.exp(w)) / ((nu - w) * y1_safe)
            e1 = jnp.where(y1 > 0, jnp.clip(e1, 0.0, 0.5), 0.5)
        q1 = y1 * mu * jnp.exp(-mu)
        bracket = q1 * (1.0 - h2(e1)) - self.f_ec * q_mu * h2(e_mu)
        rate = self.signal_probability(parts) * self.sifting() * bracket
        return {
            "key_rate": jnp.maximum(rate, 0.0),
            "key_rate_signed": rate,  # before clipping at 0: smooth, for optimisers (< 0: no key)
            "gain": gain,
            "qber": qber,
            "y1_lower": y1,
            "e1_upper": e1,
        }

    def signal_probability(self, parts):
        """p_mu: the fraction of pulses that carry key."""
        return parts["source"].probabilities()[..., 0]

    def margin_scale(self, parts):
        """p_mu q: the rate divided by this is the GLLP bracket, which keeps its sign and scale
        where the signal or basis probabilities are small (what an optimiser climbs without key)."""
        return self.signal_probability(parts) * self.sifting()
