"""Statistics for honest comparisons of small counts.

The Poisson e-test (Krishnamoorthy & Thomson 2004) is statsmodels' (`etest_poisson_2indep`): the same grid, null means,
statistic and tolerance, summed in O(G log G) instead of over its G x G grid (`_etest_pvalue`), with statsmodels as the
reference a test holds it to pair by pair. It is exact enough for the small counts that violence data has.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import stats as sps
from statsmodels.stats.rates import test_poisson_2indep

#: below this many events in both periods together, no change can be told from noise
MIN_EVENTS = 10
#: from this many events in each period, the score test replaces the e-test: the two p-values agree to three or more
#: significant digits there (1,000 vs 1,100: 0.029096 both; 1,500 vs 1,400: 0.06333 and 0.06332), while the
#: e-test's grid grows with the counts (8,000 vs 8,300 takes 15 s, a fresh server's first home page)
LARGE_COUNTS = 1000


@dataclass(frozen=True)
class Change:
    """Two counts and their verdict: 'up', 'down', 'no clear change' (within Poisson noise) or 'too few to tell'
    (fewer than MIN_EVENTS in all). pct is None when before is 0."""
    before: int
    after: int
    pct: float | None  # percent change, None when before is 0
    p_value: float | None
    verdict: str  # 'up', 'down', 'no clear change', 'too few to tell'

    @property
    def sentence(self) -> str:
        """The change in words for headlines: 'larger than chance' only when the e-test says so, and no percentage when
        the counts are too few to tell."""
        if self.verdict == "too few to tell":
            return f"{self.before:,} → {self.after:,}: too few to tell"
        pct = "" if self.pct is None else f" ({self.pct:+.0f}%)"
        if self.verdict == "no clear change":
            return f"{self.before:,} → {self.after:,}{pct}: within ordinary noise (p = {self.p_value:.2f})"
        return f"{self.before:,} → {self.after:,}{pct}: larger than chance (p = {self.p_value:.3f})"


@lru_cache(maxsize=65536)
def poisson_change(before: int, after: int, exposure_before: float = 1.0, exposure_after: float = 1.0,
                   alpha: float = 0.05) -> Change:
    """Is the change from `before` to `after` larger than Poisson noise? Two-sided e-test (Krishnamoorthy & Thomson
    2004), or the score test when both counts reach LARGE_COUNTS (same answer, far faster). It tests a raw change in
    rate, not its cause; with fewer than MIN_EVENTS in all it is 'too few to tell'."""
    pct = None if before == 0 else 100.0 * (after / exposure_after - before / exposure_before) / (
        before / exposure_before)
    if before + after < MIN_EVENTS:
        return Change(before, after, pct, None, "too few to tell")
    if min(before, after) >= LARGE_COUNTS:
        p = float(test_poisson_2indep(after, exposure_after, before, exposure_before, method="score").pvalue)
    else:
        p = _etest_pvalue(after, exposure_after, before, exposure_before)
    if p >= alpha:
        verdict = "no clear change"
    else:
        verdict = "up" if after / exposure_after > before / exposure_before else "down"
    return Change(before, after, pct, p, verdict)


def _etest_pvalue(y1: int, n1: float, y2: int, n2: float) -> float:
    """The two-sided p-value of statsmodels' `etest_poisson_2indep(y1, n1, y2, n2)` (rates equal under the null, the
    score statistic): the probability, under the null means, of every pair of counts on its grid whose statistic is
    at least as far from 0 as the observed one. statsmodels sums a G x G mask (G about 100 to 700 here: 0.3 s for the
    Hotspots ranking's 246 neighborhoods at two years of counts); for each first count the statistic falls as the
    second grows, so those pairs are two runs of the second count, a prefix and a suffix, found by bisection and summed
    from each end (no cancellation in tiny tails). Same grid, means, statistic and tolerance; a test holds it to
    statsmodels on hundreds of pairs and exposures."""
    r_d = 1 / (n2 / n1)  # statsmodels' r / d, the ratio r = 1 under the null
    rate = (y1 + y2) / n2 / (1 + r_d)  # both rates' constrained estimate
    mean1, mean2 = n1 * rate, n2 * rate

    def stat(x1, x2):
        return (x1 - x2 * r_d) / np.sqrt((x1 + x2) * r_d + 1e-20)

    s = np.abs(stat(y1, y2)) - 1e-15  # statsmodels' correction for the strict inequality
    grid = np.arange(max(sps.poisson.isf(1e-13, max(mean1, mean2)), 100) + 1)
    pdf1, pdf2 = sps.poisson.pmf(grid, mean1), sps.poisson.pmf(grid, mean2)
    below = np.concatenate([[0.0], np.cumsum(pdf2)])  # below[k]: P(second count < k)
    above = np.concatenate([[0.0], np.cumsum(pdf2[::-1])])  # above[m]: P(second count among the last m)
    if s <= 0:  # every pair is as extreme
        return float((pdf1 * below[-1]).sum())
    size = len(grid)

    def first_failing(holds) -> np.ndarray:
        """For every first count, the smallest second count at which `holds` (true on a prefix) turns false."""
        lo, hi = np.zeros(size, dtype=np.int64), np.full(size, size, dtype=np.int64)
        while (open_ := lo < hi).any():
            mid = (lo + hi) // 2
            ok = holds(grid, grid[np.minimum(mid, size - 1)]) & open_
            lo, hi = np.where(ok, mid + 1, lo), np.where(open_ & ~ok, mid, hi)
        return lo

    prefix = first_failing(lambda x1, x2: stat(x1, x2) >= s)  # stat >= s on [0, prefix)
    suffix = first_failing(lambda x1, x2: stat(x1, x2) > -s)  # stat <= -s on [suffix, size)
    return float((pdf1 * (below[prefix] + above[size - suffix])).sum())
