"""Pulsed parametric down-conversion (SPDC) source of polarisation-entangled photon pairs.

The source emits into two polarisation pair modes, (H_a, V_b) and (V_a, H_b), one photon of each
pair going to Alice and the other to Bob. Each pair mode holds K_1, K_2 pairs, independent and
identically distributed with mean lambda = mean_pairs / 2:

- ``thermal`` (one spectral-temporal mode, the two-mode squeezed vacuum of each pair mode):
  P(K = k) = lambda^k / (1 + lambda)^(k+1), so that the number of pairs n = K_1 + K_2 follows
    P(n) = (n + 1) lambda^n / (1 + lambda)^(n+2),   E[n] = 2 lambda,
  and given n, K_1 is uniform on 0..n: Ma, Fung, Lo, PRA 76, 012307 (2007), whose lambda
  (= sinh^2 chi) is half the mean number of pairs;
- ``poisson`` (many modes, independent pairs): K_1, K_2 ~ Poisson(lambda), so n ~ Poisson(2 lambda)
  and each pair is independently in either pair mode (a Bell pair).

Losses and detectors act on each photon independently, so the protocol needs the distribution of
K only through its probability generating function G(z) = E[z^K]:
  thermal: G(z) = 1 / (1 + lambda (1 - z)),   poisson: G(z) = exp(-lambda (1 - z)).
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy.special import gammaln

from kqjax.engine import random_words
from kqjax.engine.params import component, param

STATISTICS = ("thermal", "poisson")
_POISSON_MAX, _POISSON_TERMS = 48, 80
"""Largest Poisson pair number drawn per mode, and the terms summed for its survival function."""


@component("source", "spdc")
class SPDCSource:
    mean_pairs: float = param(0.1, gt=0, le=10, long_name="mean number of photon pairs per pulse (2 lambda)")
    statistics: str = param("thermal", choices=STATISTICS, long_name="multi-pair statistics")
    rep_rate_mhz: float = param(100.0, gt=0, le=1e5, unit="MHz", long_name="pulse repetition rate")

    def rep_rate_hz(self):
        return self.rep_rate_mhz * 1e6

    def mode_mean(self):
        """lambda = mean_pairs / 2: the mean number of pairs in each of the two pair modes."""
        return 0.5 * self.mean_pairs

    def pair_probabilities(self, nmax: int):
        """P(n) of the total number of pairs, n = 0..nmax, [nmax + 1]:
        thermal (n + 1) lambda^n / (1 + lambda)^(n+2), poisson e^(-2 lambda) (2 lambda)^n / n!."""
        lam = self.mode_mean()
        n = jnp.arange(nmax + 1, dtype=jnp.float64)
        if self.statistics == "thermal":
            log_p = jnp.log1p(n) + n * jnp.log(lam) - (n + 2.0) * jnp.log1p(lam)
        else:
            log_p = -2.0 * lam + n * jnp.log(2.0 * lam) - gammaln(n + 1.0)
        return jnp.exp(log_p)

    def log_pgf(self, w):
        """ln G(1 - w) = ln E[(1 - w)^K]: the log-probability that none of the K pairs of one pair
        mode is detected, each independently with probability ``w``.
        thermal -ln(1 + lambda w), poisson -lambda w."""
        lam = self.mode_mean()
        if self.statistics == "thermal":
            return -jnp.log1p(lam * w)
        return -lam * w

    def pgf_covariance(self, wa, wb):
        """G((1 - wa)(1 - wb)) - G(1 - wa) G(1 - wb) >= 0: the covariance that the pairs of one
        pair mode give to 'no photon detected at Alice' (probability ``wa`` per photon) and 'no
        photon detected at Bob' (``wb``), in a form free of cancellation:
          thermal  lambda (1 + lambda) wa wb / [(1 + lambda W)(1 + lambda wa)(1 + lambda wb)],
          poisson  -exp(-lambda W) expm1(-lambda wa wb),   W = wa + wb - wa wb."""
        lam = self.mode_mean()
        both = wa + wb - wa * wb
        if self.statistics == "thermal":
            return lam * (1.0 + lam) * wa * wb / ((1.0 + lam * both) * (1.0 + lam * wa) * (1.0 + lam * wb))
        return -jnp.exp(-lam * both) * jnp.expm1(-lam * wa * wb)

    def sample_pairs(self, key, shape=()):
        """(K_1, K_2): the numbers of pairs in the two pair modes of each pulse (float64 counts),
        each from one 64-bit random word (two 32-bit words per mode) by :meth:`pair_numbers`."""
        k = self.pair_numbers(jax.random.bits(key, (2, *shape), jnp.uint64))
        return k[0], k[1]

    def pair_numbers(self, word):
        """Pairs K of one pair mode from a 64-bit random word w (uint64 [...]) by inversion:
          thermal: K = floor(ln U / ln r), U = (w + 1/2) / 2^64, r = lambda / (1 + lambda), so that
                   P(K >= k) = P(U <= r^k) = r^k up to the rounding of U and of the logarithms
                   (relative error of order 2^-52 (1 + k |ln r|), plus 2^-64);
          poisson: K = #{k <= 48: w < floor(S_k 2^64)}, S_k = P(K >= k) summed from the top
                   (:func:`kqjax.engine.random_words.inverse_survival`): P(K >= k) within 2^-64,
                   P(K > 48) < 1e-30 for lambda <= 5 (mean_pairs <= 10).
        K does not increase with w; float64 [...]."""
        lam = self.mode_mean()
        if self.statistics == "thermal":
            u = random_words.unit_open(word)
            return jnp.floor(jnp.log(u) / (jnp.log(lam) - jnp.log1p(lam)))
        j = jnp.arange(_POISSON_TERMS, dtype=jnp.float64)
        p = jnp.exp(-lam + j * jnp.log(lam) - gammaln(j + 1.0))
        tail = jnp.cumsum(p[::-1])[::-1]  # S_j = P(K >= j), summed from the smallest terms
        return random_words.inverse_survival(word, tail[1:_POISSON_MAX + 1]).astype(jnp.float64)
