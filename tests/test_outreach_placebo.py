"""The Outreach placebos are a null distribution: centred on 0, with about the nominal share beyond the 90% threshold.

The bug these guard against: every "other neighborhood" placebo was tested against the real footprint's comparison
areas (several neighborhoods, ~60 incidents a month, down ~9 a month), so a single quiet neighborhood that did not
change "beat" that drop: the placebo z values sat near +2 and 62% were beyond the 90% threshold.

Expectations are derived here, not read from the code: if the placebo z values are a null distribution they are
about standard normal, so each is positive with chance 1/2, the median |z| is Phi^-1(0.75) = 0.674, and a share 0.10
lies beyond the two-sided 90% threshold. Real counts vary more than Poisson counts (extra-Poisson variation), so the
spread may be wider than N(0, 1): up to SPREAD times the standard deviation is accepted.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom, binomtest, norm

from analytics import evaluation, placebo, registry

INDEPENDENCE = "independence-ave-2023-11-29"
Z90 = norm.ppf(0.95)  # two-sided 90%
MEDIAN_ABS = norm.ppf(0.75)  # median of |z| for z ~ N(0, 1)
#: how much wider than N(0, 1) the real placebos may spread (extra-Poisson variation of neighborhood counts)
SPREAD = 1.5
#: the chance of failing a correct placebo distribution by sampling alone
FALSE_ALARM = 0.001


def _assert_null(z: np.ndarray, spread: float) -> None:
    """z looks like draws from N(0, s^2) with s at most `spread`: signs balanced, median |z| and the share beyond the
    90% threshold within what such draws give (binomial tolerances at FALSE_ALARM)."""
    z = z[z != 0]  # a placebo with no change at all has no sign
    assert len(z) >= 40
    positive = int((z > 0).sum())
    assert binomtest(positive, len(z), 0.5).pvalue > FALSE_ALARM, f"{positive} of {len(z)} placebo z values > 0"
    median = float(np.median(np.abs(z)))
    assert MEDIAN_ABS / spread < median < MEDIAN_ABS * spread, f"median |z| {median:.2f}, N(0, 1) gives 0.67"
    beyond = int((np.abs(z) > Z90).sum())
    worst = 2 * norm.sf(Z90 / spread)  # the share beyond the threshold at the widest spread accepted
    assert beyond <= binom.isf(FALSE_ALARM, len(z), worst), f"{beyond} of {len(z)} beyond the 90% threshold"


def test_other_place_placebos_are_centred_when_every_place_fell_alike():
    """Inline Poisson counts: 120 neighborhoods of 3 to 40 incidents a month, all falling 15% after month 12 (a
    city-wide drop, as in 2023-24). A fake footprint that fell like every other place did not change relative to
    places like it, so its z must be N(0, 1)-like: the share beyond the threshold near 10%."""
    rng = np.random.default_rng(7)
    months = pd.date_range("2022-01-01", periods=19, freq="MS")
    level = rng.uniform(3, 40, 120)
    rate = np.outer(np.where(np.arange(19) > 12, 0.85, 1.0), level)
    m = pd.DataFrame(rng.poisson(rate).astype(float), index=months, columns=[f"n{i:03d}" for i in range(120)])
    event = months[12]
    footprint, control = ["n000", "n001", "n002", "n003"], ["n004", "n005", "n006", "n007"]
    z = placebo.other_places(m, set(footprint + control), {}, event, 6, 6)
    assert len(z) == 112
    _assert_null(np.array(z), spread=1.0 + 0.15)  # Poisson counts: N(0, 1) up to matching's small distortion


def test_the_independence_avenue_placebos_are_a_null_distribution(con):
    """Real data for the Independence Avenue canvass: the other-neighborhood placebos (one per untreated
    neighborhood, so independent enough for binomial tolerances) are centred and about as wide as N(0, 1)."""
    result = evaluation.evaluate(con, registry.get(INDEPENDENCE))
    z = np.array(result["placebo"]["other_areas"])
    _assert_null(z, SPREAD)
    # the share the page reports (fake dates and other places together) is near nominal, not most of them
    every = np.abs(np.array(result["placebo"]["fake_dates"] + result["placebo"]["other_areas"]))
    assert np.mean(every > Z90) <= 2 * norm.sf(Z90 / SPREAD)
    assert result["placebo"]["critical_z"] == pytest.approx(max(Z90, np.quantile(every, 0.9)), abs=1e-3)  # z kept to 3 places
