"""Decoy-state BB84 with weak coherent pulses and two threshold detectors.

Settings of a pulse: intensity class k (signal mu, decoy nu, vacuum omega) and the parties' bases:
both Z, both X (sifted), or different (discarded: no detection is drawn), so 9 settings, index
3 k + b. Each party picks Z with probability p_z, so a pulse of class k is sifted in Z with
probability p_z^2, in X with (1 - p_z)^2, and the engine draws that split itself (count level:
one multinomial over the 9 settings; event level: both bases drawn per pulse). Outcomes of a
sifted pulse: correct bit, bit error, no click, the same probabilities in either basis.

Asymptotic key (``finite_key=false``), from both bases pooled (GLLP): with the sifting factor
q = p_z^2 + (1 - p_z)^2, the key rate per pulse sent (Lo, Ma, Chen, PRL 94, 230504, 2005; GLLP,
QIC 4, 325, 2004) is
  R = p_mu q { Q_1 [1 - h2(e_1)] - f Q_mu h2(E_mu) },  reported as 0 when negative,
with Q_1 = Y_1 mu exp(-mu) (``key_rate_signed`` is R before clipping, for optimisers). The
single-photon yield and error are bounded from the measured gains Q_k and QBERs E_k (Z and X
sifted pulses pooled) with the vacuum + weak decoy (or weak + weak) estimates of Ma, Qi, Zhao, Lo,
PRA 72, 012326 (2005):
  Y_0 >= max{(nu Q_w e^w - w Q_nu e^nu) / (nu - w), 0}
  Y_1 >= mu / (mu nu - mu w - nu^2 + w^2) [Q_nu e^nu - Q_w e^w - (nu^2 - w^2)/mu^2 (Q_mu e^mu - Y_0)]
  e_1 <= (E_nu Q_nu e^nu - E_w Q_w e^w) / ((nu - w) Y_1)
or with the exact Y_1, e_1 of the model (``decoy="infinite"``).

Finite key (``finite_key=true``): Lim, Curty, Walenta, Xu, Zbinden, PRA 89, 022307 (2014)
(arXiv:1311.7129), with their X and Z bases swapped: the key is the sifted Z-basis detections of
all three intensities mu_1 > mu_2 > mu_3 >= 0 (``source.mu``, ``nu``, ``omega``; mu_1 > mu_2 + mu_3),
the sifted X-basis detections estimate the phase errors. With n_{Z,k} (m_{Z,k}) the detections
(errors) of intensity k in Z, n_Z = sum_k n_{Z,k}, p_k the intensity probabilities,
tau_n = sum_k p_k e^{-k} k^n / n! and eps = eps_sec / 21, the secret key length is (Eq. 1)
  l = s_Z0 + s_Z1 [1 - h2(phi_Z)] - lambda_EC - 6 log2(21/eps_sec) - log2(2/eps_cor),
  s_Z0 >= tau_0 (mu_2 n^-_{Z,mu3} - mu_3 n^+_{Z,mu2}) / (mu_2 - mu_3)                  (Eq. 2)
  s_Z1 >= tau_1 mu_1 [n^-_{Z,mu2} - n^+_{Z,mu3} - (mu_2^2 - mu_3^2)/mu_1^2 (n^+_{Z,mu1} - s_Z0/tau_0)]
          / [mu_1 (mu_2 - mu_3) - mu_2^2 + mu_3^2]                                      (Eq. 3)
  v_X1 <= tau_1 (m^+_{X,mu2} - m^-_{X,mu3}) / (mu_2 - mu_3)                             (Eq. 4)
  phi_Z <= v_X1/s_X1 + gamma(eps_sec, v_X1/s_X1, s_X1, s_Z1),                           (Eq. 5)
  gamma(a, b, c, d) = sqrt{ (c + d)(1 - b) b / (c d ln 2) log2[ (c + d) 21^2 / (c d (1 - b) b a^2) ] },
with s_X0, s_X1 from Eqs. (2)-(3) on the X-basis counts and lambda_EC = f n_Z h2(E_Z),
E_Z = m_Z / n_Z (``f_ec``; ``ec_leakage=finite_size``: the finite-length estimate of
Tomamichel et al. 2017, :func:`finite_size_leakage`, which tends to n_Z h2(E_Z)). The expected counts behind the observed ones are bounded as
  n^±_{Z,k} = (e^k / p_k) [n_{Z,k} ± delta^±]  (likewise n^±_{X,k}, and m^±_{X,k} from the
             X-basis errors m_{X,k}, m_X = sum_k m_{X,k}, in place of n_{Z,k}, n_Z),
  hoeffding: delta^± = sqrt(n_Z / 2 ln(1/eps))  (Hoeffding, as in Lim et al., Eqs. 2 and 4),
  chernoff:  delta^- = beta/2 + sqrt(2 beta n_{Z,k} + beta^2/4),
             delta^+ = beta + sqrt(2 beta n_{Z,k} + beta^2),  beta = ln(1/eps),
multiplicative Chernoff bounds on a sum of independent Bernoulli trials (Zhang, Zhao, Razavi, Ma,
PRA 95, 012333, 2017, applied to Lim et al.) in the closed form of the satellite finite-key model
of Sidhu et al., npj Quantum Inf. 8, 18 (2022) (SatQuMA). delta^+ solves
P[X <= (1 - d) E] <= exp(-d^2 E / 2) = eps for E; delta^- is beta more conservative than the
solution of P[X >= (1 + d) E] <= exp(-d^2 E / (2 + d)) = eps. Each bound is one-sided with failure
probability eps, so the secrecy budget 21 eps of Lim et al. is unchanged. They are tighter than
Hoeffding's for the rare classes (decoy, vacuum) that the bounds hinge on.
Negative bounds are raised to 0 (s_Z0, s_Z1 >= 0 hold trivially), v_X1 is kept in [0, m_X] and
phi_Z in [0, 1/2]; with an intensity never sent (p_k = 0) there is no bound (s = 0). ``estimate`` then gives ``secret_key_bits`` = floor(max(l, 0)) from the counts
given (integer counts of a run, or expected counts: any non-negative floats), whose total is
N = sum(sent), ``key_rate`` = secret_key_bits / N and ``key_rate_signed`` = l / N (not clipped,
not floored: smooth for optimisers), with the bounds ``s_z0_lower``, ``s_z1_lower`` and
``phase_error_upper``. The limit N -> infinity of l / N (the same bounds with every finite-size
term dropped: deviations, gamma and the eps terms) is ``asymptotic_rate``: the asymptotic
Z-basis key of the same protocol, reported as ``key_rate_asymptotic``. The ``decoy`` field
applies to the GLLP estimate only.

Without ``finite_key`` the three bounds are reported too, without finite-size terms, and
``secret_key_bits`` is the asymptotic (GLLP) rate times N.
"""
from __future__ import annotations

import jax.numpy as jnp
from jax.scipy.special import ndtri

from kqjax.engine import random_words
from kqjax.engine.params import component, param
from kqjax.links.base import Protocol


def h2(x):
    """Binary entropy in bits, 0 at x = 0 and x = 1."""
    x = jnp.clip(x, 0.0, 1.0)
    safe = jnp.clip(x, 1e-300, 1.0 - 1e-16)
    val = -safe * jnp.log2(safe) - (1.0 - safe) * jnp.log2(1.0 - safe)
    return jnp.where((x <= 0.0) | (x >= 1.0), 0.0, val)


_NO_COUNTS = 1e-150  # expected counts below this are none: 1 / den^2 of the gradient stays finite


def fraction(num, den):
    """num / den where den > 1e-150, else 0 (a ratio of counts, e.g. a QBER); finite gradients
    either way (no 0 / 0 in the branch not taken, no overflow of num / den^2)."""
    positive = den > _NO_COUNTS
    return jnp.where(positive, num / jnp.where(positive, den, 1.0), 0.0)


def observed(num, den):
    """num / den as reported (a QBER, a gain): NaN where ``den`` has no counts, since nothing was
    observed there; estimators use :func:`fraction` in their arithmetic."""
    return jnp.where(den > _NO_COUNTS, fraction(num, den), jnp.nan)


_TINY = 1e-300
_BASES = {True: ("both Z", "both X", "bases differ"), False: ("bases agree", "bases differ")}
"""Basis classes of a pulse: with ``finite_key`` the Z/X split of the sifted pulses is drawn (the
key is Z, the test X); without it the sifted pulses of both bases are one class (GLLP, both bases)."""


def _safe_sqrt(x):
    """sqrt(max(x, 0)) with a finite gradient at 0."""
    return jnp.sqrt(jnp.maximum(x, _TINY))


def lim_gamma(a, b, c, d):
    """gamma(a, b, c, d) of Lim et al., PRA 89, 022307 (2014), Eq. (5): the random-sampling
    deviation of the phase error rate, with a = eps_sec (the 21^2 / a^2 of the paper inside the
    logarithm), b the single-photon error rate of the test basis, c and d its and the key basis's
    single-photon events. In logs (no overflow), 0 where b = 0, and the logarithm kept >= 0."""
    b = jnp.clip(b, _TINY, 0.5)
    c = jnp.maximum(c, 1.0)
    d = jnp.maximum(d, 1.0)
    inv = 1.0 / c + 1.0 / d  # (c + d) / (c d)
    log_arg = jnp.log2(inv) - jnp.log2((1.0 - b) * b) + 2.0 * jnp.log2(21.0 / a)
    return _safe_sqrt(inv * (1.0 - b) * b / jnp.log(2.0) * jnp.maximum(log_arg, 0.0))


def finite_size_leakage(n, e, eps):
    """Error-correction leakage of ``n`` bits with error rate ``e`` and failure probability
    ``eps`` at finite length: Tomamichel, Martinez-Mateo, Pacher, Elkouss, Quantum Inf. Process.
    16, 280 (2017), Eq. (6) in the form of SatQuMA (Sidhu et al., npj Quantum Inf. 8, 18, 2022),
      leak = n h2(e) + (n (1 - e) - F^-1(eps; n, 1 - e) - 1) log2((1 - e)/e) - log2(n)/2 - log2(1/eps),
    with the binomial quantile in its normal form, n (1 - e) - F^-1 = sqrt(n e (1 - e)) Phi^-1(1 - eps),
    so that the excess over n h2(e) is sqrt(n v(e)) Phi^-1(1 - eps), v = e (1 - e) log2^2((1 - e)/e),
    to second order. Logarithms base 2 (bits); kept >= 0; differentiable."""
    n = jnp.maximum(jnp.asarray(n, jnp.float64), 1.0)
    p = jnp.clip(e, _TINY, 0.5)
    z = -ndtri(jnp.asarray(eps, jnp.float64))  # Phi^-1(1 - eps) without rounding 1 - eps
    excess = (_safe_sqrt(n * p * (1.0 - p)) * z - 1.0) * (jnp.log2(1.0 - p) - jnp.log2(p))
    leak = n * h2(e) + excess - 0.5 * jnp.log2(n) - jnp.log2(1.0 / eps)
    return jnp.maximum(leak, 0.0)


@component("protocol", "bb84_decoy")
class DecoyBB84(Protocol):
    decoy: str = param("vacuum_weak", choices=("vacuum_weak", "infinite"),
                       long_name="decoy-state estimation")
    f_ec: float = param(1.16, ge=1, le=3, long_name="error-correction inefficiency")
    p_z: float = param(0.5, gt=0, lt=1, long_name="probability of the Z basis")
    finite_key: bool = param(False, choices=(False, True),
                             long_name="finite-key analysis (Lim et al. 2014; key from the Z basis)")
    eps_sec: float = param(1e-10, gt=0, lt=1, long_name="secrecy parameter (finite key)")
    eps_cor: float = param(1e-15, gt=0, lt=1, long_name="correctness parameter (finite key)")
    tail_bound: str = param("hoeffding", choices=("hoeffding", "chernoff"),
                            long_name="finite-size deviation of the decoy counts (finite key)")
    ec_leakage: str = param("efficiency", choices=("efficiency", "finite_size"),
                            long_name="error-correction leakage (finite key): f n h2(E) or "
                                      "Tomamichel et al.'s finite-size estimate")

    GROUPS = ("source", "channel", "detector")
    KINDS = {"source": ("weak_coherent",)}
    ARMS = ("channel",)
    PARTIES = ("alice", "bob")
    TOPOLOGY = "alice -> bob"
    INTENSITIES = ("signal", "decoy", "vacuum")
    OUTCOMES = ("correct", "error", "no_click")
    COORDS = {"intensity": INTENSITIES}
    VARIABLES = {
        "qber": (("intensity",), "1", "quantum bit error rate (NaN without detections)"),
        "gain": (("intensity",), "1", "gain (detection probability per sifted pulse)"),
        "y1_lower": ((), "1", "single-photon yield, lower bound"),
        "e1_upper": ((), "1", "single-photon error rate, upper bound"),
        "secret_key_bits": ((), "bit", ("secret key length (finite key: Lim et al. 2014; "
                                        "otherwise the asymptotic rate x pulses)")),
        "s_z0_lower": ((), "count", "vacuum events in the Z-basis key, lower bound"),
        "s_z1_lower": ((), "count", "single-photon events in the Z-basis key, lower bound"),
        "phase_error_upper": ((), "1", "phase error rate of the single-photon Z-basis key, upper bound"),
    }
    """``secret_key_bits`` and the three Z-basis bounds are finite-key quantities; without
    ``finite_key`` they are given without finite-size terms (and the key as the asymptotic rate
    times the pulses), so that every dataset has the same variables."""
    LABEL = "decoy BB84"

    @property
    def SETTINGS(self):  # noqa: N802  (the Protocol interface's name)
        """intensity x (bases agree | differ), or x (both Z | both X | bases differ) with finite_key."""
        return tuple(f"{k}, {b}" for k in self.INTENSITIES for b in _BASES[self.finite_key])

    @property
    def MEASURED(self):  # noqa: N802
        return (True, True, False) * 3 if self.finite_key else (True, False) * 3

    def sifting(self):
        """q = p_z^2 + (1 - p_z)^2."""
        return self.p_z**2 + (1.0 - self.p_z) ** 2

    def basis_probabilities(self):
        """P(both Z), P(both X), P(bases differ): [3] with finite_key; else P(bases agree), P(differ)."""
        z, x = self.p_z**2, (1.0 - self.p_z) ** 2
        if self.finite_key:
            return jnp.stack(jnp.broadcast_arrays(z, x, 1.0 - z - x), -1)
        return jnp.stack(jnp.broadcast_arrays(z + x, 1.0 - z - x), -1)

    def detector_state(self, parts, eta):
        """(p_d', a) of the detectors at the mean click rate of this link."""
        source, detector = parts["source"], parts["detector"]
        raw = detector.pair_click(source.intensities() * eta["channel"])
        rate = 0.5 * jnp.sum(source.probabilities() * raw, -1)
        return detector.effective(rate, source.rep_rate_hz())

    def setting_probabilities(self, parts):
        """P(intensity k) P(basis class), [9] with finite_key, else [6]."""
        return (parts["source"].probabilities()[:, None] * self.basis_probabilities()[None, :]).reshape(-1)

    def outcome_probabilities(self, parts, eta):
        """P(correct, error, no click | intensity k), the same in either basis (rows of differing
        bases are not drawn), [9 or 6, 3]."""
        dark, avail = self.detector_state(parts, eta)
        m = parts["source"].intensities() * eta["channel"]
        p = jnp.stack(parts["detector"].outcomes(m, dark, avail), -1)
        return jnp.repeat(p, len(_BASES[self.finite_key]), axis=0)

    def sample_events(self, key, n, parts, eta):
        """Setting and outcome of each of ``n`` pulses, drawn pulse by pulse from five 32-bit random
        words each (:mod:`kqjax.engine.random_words`): one for the intensity class and Alice's and
        Bob's bases (independent choices, one inversion over the 12 joint cells, each within 2^-32
        of p_k P(basis_A) P(basis_B)); a 64-bit word per detector, whose click is one Bernoulli of
        the detector's click probability for the photons reaching it (63 bits, within 2^-63;
        the correct detector's bit 0 is the random bit of a double click; the wrong detector 64
        bits, within 2^-64)."""
        source, detector = parts["source"], parts["detector"]
        dark, avail = self.detector_state(parts, eta)
        (setting_word,), (word_c, word_w) = random_words.draw(key, n, narrow=1, wide=2)
        z = jnp.stack(jnp.broadcast_arrays(self.p_z, 1.0 - self.p_z))
        joint = source.probabilities()[:, None, None] * z[None, :, None] * z[None, None, :]
        cell = random_words.categorical(setting_word, joint.reshape(-1), 32)
        k, z_a, z_b = cell // 4, cell % 4 < 2, cell % 2 == 0
        if self.finite_key:
            basis = jnp.where(z_a & z_b, 0, jnp.where(~z_a & ~z_b, 1, 2)).astype(jnp.int32)
        else:
            basis = jnp.where(z_a == z_b, 0, 1).astype(jnp.int32)
        right, wrong = detector.split(source.intensities() * eta["channel"])
        t_c = random_words.by_class(detector.click_threshold(right, dark, avail, 63), k)
        t_w = random_words.by_class(detector.click_threshold(wrong, dark, avail, 64), k)
        click_c = random_words.field(word_c, 1, 63) < t_c
        click_w = random_words.field(word_w, 0, 64) < t_w
        coin = random_words.field(word_c, 0, 1) == 1
        outcome = jnp.where(click_c & click_w, jnp.where(coin, 1, 0),
                            jnp.where(click_c, 0, jnp.where(click_w, 1, 2)))
        return len(_BASES[self.finite_key]) * k + basis, outcome.astype(jnp.int32)

    # ------------------------------------------------------------------ estimators

    def _by_basis(self, counts):
        """(Z counts, X counts) [..., intensity 3, outcome 3] of counts [..., S, 3], float64.

        Without finite_key the Z/X split is not drawn: the sifted counts are divided between the
        bases in proportion p_z^2 : (1 - p_z)^2 (their expectation, for the asymptotic bounds)."""
        c = jnp.asarray(counts, jnp.float64)
        c = c.reshape(c.shape[:-2] + (3, len(_BASES[self.finite_key]), 3))
        if self.finite_key:
            return c[..., 0, :], c[..., 1, :]
        z, x = self.p_z**2, (1.0 - self.p_z) ** 2
        return c[..., 0, :] * (z / (z + x)), c[..., 0, :] * (x / (z + x))

    def estimate(self, sent, counts, parts, eta):
        """Rates from sent [S] and counts [S, 3] (integers from a run, or expected values of any
        scale: only N = sum(sent) and the counts enter, as floats)."""
        cz, cx = self._by_basis(counts)
        out = self._gllp(cz + cx, parts, eta)
        total = jnp.sum(jnp.asarray(sent, jnp.float64), -1)
        per = jnp.maximum(total, 1.0)
        fk = self._lim(cz, cx, parts, finite=self.finite_key)
        bounds = {"s_z0_lower": fk["s_z0"], "s_z1_lower": fk["s_z1"], "phase_error_upper": fk["phi_z"]}
        if self.finite_key:
            bits = jnp.floor(jnp.maximum(fk["length"], 0.0))
            return {**out, **bounds, "secret_key_bits": bits, "key_rate": bits / per,
                    "key_rate_signed": fk["length"] / per}
        return {**out, **bounds, "secret_key_bits": out["key_rate"] * total}

    def asymptotic_rate(self, sent, counts, parts, eta):
        """The key rate of infinitely many pulses: GLLP without ``finite_key``, else the limit
        N -> infinity of the finite-key rate (Lim et al.'s bounds without finite-size terms; the
        counts may have any scale)."""
        if not self.finite_key:
            return self.estimate(sent, counts, parts, eta)["key_rate"]
        cz, cx = self._by_basis(counts)
        total = jnp.maximum(jnp.sum(jnp.asarray(sent, jnp.float64), -1), _TINY)
        return jnp.maximum(self._lim(cz, cx, parts, finite=False)["length"] / total, 0.0)

    def _gllp(self, c, parts, eta):
        """GLLP rate and decoy estimates from the sifted counts [..., 3 intensities, 3 outcomes]
        of both bases pooled."""
        source = parts["source"]
        sifted = c.sum(-1)
        det = c[..., 0] + c[..., 1]
        gain = fraction(det, sifted)
        qber = fraction(c[..., 1], det)
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
            "gain": observed(det, sifted),
            "qber": observed(c[..., 1], det),
            "y1_lower": y1,
            "e1_upper": e1,
        }

    def deviations(self, x, total):
        """(delta^-, delta^+) of observed counts ``x`` [..., 3] (per intensity) whose sum over the
        intensities is ``total``: Hoeffding (the same for every intensity) or Chernoff."""
        beta = jnp.log(21.0 / self.eps_sec)  # ln(1/eps), eps = eps_sec / 21
        x = jnp.maximum(x, 0.0)
        if self.tail_bound == "chernoff":
            lo = beta / 2.0 + _safe_sqrt(2.0 * beta * x + beta**2 / 4.0)
            hi = beta + _safe_sqrt(2.0 * beta * x + beta**2)
            return lo, hi
        d = _safe_sqrt(total[..., None] / 2.0 * beta) * jnp.ones_like(x)
        return d, d

    def _decoy_bounds(self, n, parts, finite: bool):
        """(n^- [..., 3], n^+ [..., 3]): the expected counts of the photon-number mixture,
        (e^k / p_k) (n_k -+ delta), from observed counts ``n`` per intensity."""
        source = parts["source"]
        scale = jnp.exp(source.intensities()) / jnp.maximum(source.probabilities(), _TINY)
        if not finite:
            return scale * n, scale * n
        lo, hi = self.deviations(n, n.sum(-1))
        return scale * (n - lo), scale * (n + hi)

    @staticmethod
    def _tau(parts, k):
        """tau_k = sum_j p_j e^{-mu_j} mu_j^k / k!, k = 0 or 1."""
        source = parts["source"]
        m = source.intensities()
        w = source.probabilities() * jnp.exp(-m)
        return jnp.sum(w if k == 0 else w * m, -1)

    def _vacuum_single(self, n, parts, finite: bool):
        """(s_0, s_1) lower bounds of Lim et al., Eqs. (2) and (3), from detections per intensity."""
        m = parts["source"].intensities()
        m1, m2, m3 = m[..., 0], m[..., 1], m[..., 2]
        lo, hi = self._decoy_bounds(n, parts, finite)
        tau0, tau1 = self._tau(parts, 0), self._tau(parts, 1)
        s0 = jnp.maximum(tau0 * (m2 * lo[..., 2] - m3 * hi[..., 1]) / (m2 - m3), 0.0)
        s1 = tau1 * m1 * (lo[..., 1] - hi[..., 2] - (m2**2 - m3**2) / m1**2 * (hi[..., 0] - s0 / tau0)) / (
            m1 * (m2 - m3) - m2**2 + m3**2)
        # an intensity never sent tells nothing (its n*_k = e^k n_k / p_k is 0/0): no bound
        sent = jnp.all(parts["source"].probabilities() > 0, -1)
        return jnp.where(sent, s0, 0.0), jnp.where(sent, jnp.maximum(s1, 0.0), 0.0)

    def _lim(self, cz, cx, parts, finite: bool):
        """Lim et al.'s key length from the Z-basis (key) and X-basis (test) counts [..., 3, 3],
        with (``finite``) or without finite-size terms."""
        m = parts["source"].intensities()
        m2, m3 = m[..., 1], m[..., 2]
        n_z, n_x = cz[..., 0] + cz[..., 1], cx[..., 0] + cx[..., 1]
        err_z, err_x = cz[..., 1], cx[..., 1]
        s_z0, s_z1 = self._vacuum_single(n_z, parts, finite)
        _, s_x1 = self._vacuum_single(n_x, parts, finite)
        e_lo, e_hi = self._decoy_bounds(err_x, parts, finite)
        v_x1 = self._tau(parts, 1) * (e_hi[..., 1] - e_lo[..., 2]) / (m2 - m3)
        v_x1 = jnp.clip(v_x1, 0.0, err_x.sum(-1))
        ratio = jnp.where(s_x1 > 0, v_x1 / jnp.where(s_x1 > 0, s_x1, 1.0), 0.5)
        phi = ratio + lim_gamma(self.eps_sec, ratio, s_x1, s_z1) if finite else ratio
        phi = jnp.clip(phi, 0.0, 0.5)
        nz_total, ez_total = n_z.sum(-1), err_z.sum(-1)
        e_z = jnp.where(nz_total > 0, ez_total / jnp.maximum(nz_total, _TINY), 0.0)
        length = s_z0 + s_z1 * (1.0 - h2(phi)) - self.leakage(nz_total, e_z, finite)
        if finite:
            length = length - 6.0 * jnp.log2(21.0 / self.eps_sec) - jnp.log2(2.0 / self.eps_cor)
        return {"length": length, "s_z0": s_z0, "s_z1": s_z1, "phi_z": phi}

    def leakage(self, n, e, finite: bool = True):
        """Bits revealed by error correction of ``n`` key bits with error rate ``e``: f n h2(E)
        (``ec_leakage=efficiency``), or with ``finite_size`` :func:`finite_size_leakage` (its
        N -> infinity limit, n h2(E), when not ``finite``)."""
        if self.ec_leakage == "efficiency":
            return self.f_ec * n * h2(e)
        return finite_size_leakage(n, e, self.eps_cor) if finite else n * h2(e)

    def signal_probability(self, parts):
        """p_mu: the fraction of pulses that carry key."""
        return parts["source"].probabilities()[..., 0]

    def key_detections(self, counts):
        """Signal detections in agreeing bases (per pulse: p_mu q Q_mu). The rate over them is the
        key per detected signal, Omega [1 - h2(e_1)] - f h2(E_mu) (GLLP, Omega = Q_1 / Q_mu): where
        there is no key it rises towards key as mu, p_mu or q grow from 0 (the rate over p_mu q
        alone rises as mu -> 0, towards the vacuum's -f Y_0)."""
        cz, cx = self._by_basis(counts)
        signal = (cz + cx)[..., 0, :]
        return signal[..., 0] + signal[..., 1]
