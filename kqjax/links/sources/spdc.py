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

from kqjax.engine.params import component, param

STATISTICS = ("thermal", "poisson")


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
        """(K_1, K_2): the numbers of pairs in the two pair modes of each pulse (float64 counts).
        thermal: K = floor(ln(1 - u) / ln(lambda / (1 + lambda))), u ~ U[0, 1); poisson: Poisson(lambda)."""
        lam = self.mode_mean()
        if self.statistics == "thermal":
            u = jax.random.uniform(key, (2, *shape), jnp.float64)
            k = jnp.floor(jnp.log1p(-u) / (jnp.log(lam) - jnp.log1p(lam)))
        else:
            k = jax.random.poisson(key, lam, (2, *shape)).astype(jnp.float64)
        return k[0], k[1]
