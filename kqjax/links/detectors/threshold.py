"""A pair of threshold single-photon detectors, one per bit value.

Every photon reaching Bob lands in the wrong detector with probability e_d (misalignment) and is
detected with efficiency eta_D, so by Poisson thinning the two detectors see independent Poisson
numbers with means lambda_c = (1 - e_d) eta_D m and lambda_w = e_d eta_D m. A detector clicks
with P = a [1 - (1 - p_d') exp(-lambda)], where
  p_d' = p_d + p_ap R                     (afterpulses add random clicks at the click rate R),
  a    = 1 / (1 + f tau_dead R)           (non-paralysable dead time, f the repetition rate),
and R is the mean click probability per gate per detector (a mean-field model).
A click of the wrong detector alone is an error; a double click is given a random bit.
To first order in p_d this reproduces Q = Y0 + 1 - exp(-eta mu),
E Q = e0 Y0 + e_d (1 - exp(-eta mu)) of Ma, Qi, Zhao, Lo, PRA 72, 012326 (2005).
"""
from __future__ import annotations

import dataclasses

import jax.numpy as jnp

from kqjax.engine import random_words
from kqjax.engine.params import component, param


def pair_outcomes(p_correct_click, p_wrong_click):
    """(P correct bit, P error, P no click) of two independent detectors; double click -> random bit."""
    c, w = p_correct_click, p_wrong_click
    both = c * w
    return c - 0.5 * both, w - 0.5 * both, (1.0 - c) * (1.0 - w)


@component("detector", "threshold")
class ThresholdDetectors:
    efficiency: float = param(0.6, gt=0, le=1, long_name="detection efficiency (incl. receiver optics)")
    dark_count_prob: float = param(1e-7, ge=0, lt=1, long_name="dark count probability per gate per detector")
    afterpulse_prob: float = param(0.0, ge=0, lt=1, long_name="afterpulse probability per click")
    dead_time_ns: float = param(0.0, ge=0, le=1e6, unit="ns", long_name="dead time")
    misalignment: float = param(0.01, ge=0, le=0.5, long_name="optical error probability e_d")

    def effective(self, click_rate, rep_rate_hz):
        """(p_d', a): dark probability with afterpulses and the dead-time availability."""
        dark = self.dark_count_prob + self.afterpulse_prob * click_rate
        avail = 1.0 / (1.0 + self.dead_time_ns * 1e-9 * rep_rate_hz * click_rate)
        return dark, avail

    def click(self, photons, dark, avail):
        """Click probability for a Poisson mean ``photons`` at the detector (before efficiency).

        1 - (1 - p_d) exp(-eta_D m), computed with expm1/log1p so that tiny values keep precision.
        """
        return -avail * jnp.expm1(jnp.log1p(-dark) - self.efficiency * photons)

    def with_background(self, photons):
        """The detectors with background light of mean ``photons`` per gate at each of them folded
        into the dark counts: p_d -> 1 - (1 - p_d)(1 - p_bg), p_bg = 1 - exp(-eta_D n_bg)."""
        dark = -jnp.expm1(jnp.log1p(-self.dark_count_prob) - self.efficiency * photons)
        return dataclasses.replace(self, dark_count_prob=dark)

    def detected(self, photons):
        """Mean number of photons detected, eta_D m, for a mean ``photons`` at the detector."""
        return self.efficiency * photons

    def free_click(self, photons):
        """Click probability of one always-available detector with its own dark counts (no
        afterpulses): 1 - (1 - p_d) exp(-eta_D m)."""
        return self.click(photons, self.dark_count_prob, 1.0)

    def pair_click(self, photons):
        """P(either detector of the pair clicks) for a Poisson mean ``photons`` shared between
        them, free detectors with their own dark counts: 1 - (1 - p_d)^2 exp(-eta_D m). The mean
        click rate that :meth:`effective` takes."""
        return -jnp.expm1(2.0 * jnp.log1p(-self.dark_count_prob) - self.efficiency * photons)

    def split(self, photons):
        """(mean photons at the correct detector, at the wrong one): ((1 - e_d) m, e_d m)."""
        return (1.0 - self.misalignment) * photons, self.misalignment * photons

    def outcomes(self, photons, dark, avail):
        """(P correct, P error, P none) for a sifted pulse with mean ``photons`` at Bob."""
        right, wrong = self.split(photons)
        return pair_outcomes(self.click(right, dark, avail), self.click(wrong, dark, avail))

    def click_threshold(self, photons, dark, avail, width: int = 64):
        """Integer threshold floor(P 2^width) of the click probability P = :meth:`click`: a click
        needs the detector available and a photon detected or a dark count, and only the click
        matters, so one Bernoulli of P replaces the three draws (:mod:`kqjax.engine.random_words`)."""
        return random_words.threshold(self.click(photons, dark, avail), width)

    def sample_clicks(self, x, photons, dark, avail, width: int = 64):
        """Clicks of one detector, pulse by pulse, from a field ``x`` of ``width`` random bits per
        pulse: x < floor(P 2^width), P = :meth:`click`, probability within 2^-width below P."""
        return random_words.bernoulli(x, self.click_threshold(photons, dark, avail, width))

    def single_photon(self, eta, dark, avail):
        """(Y1, e1 Y1): yield and error of a one-photon pulse over transmittance ``eta``."""
        t = eta * self.efficiency
        d = avail * dark
        cases = (  # (probability, P correct detector clicks, P wrong detector clicks)
            (1.0 - t, d, d),
            (t * (1.0 - self.misalignment), avail, d),
            (t * self.misalignment, d, avail),
        )
        y = e = 0.0
        for prob, c, w in cases:
            ok, err, none = pair_outcomes(c, w)
            y = y + prob * (1.0 - none)
            e = e + prob * err
        return y, e
