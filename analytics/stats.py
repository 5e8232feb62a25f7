"""Statistics for honest comparisons of small counts.

Uses statsmodels' Poisson e-test (Krishnamoorthy & Thomson 2004) rather than a
hand-written test: it is exact enough for the small counts that violence data has.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

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
    method = "score" if min(before, after) >= LARGE_COUNTS else "etest"
    result = test_poisson_2indep(after, exposure_after, before, exposure_before, method=method)
    p = float(result.pvalue)
    if p >= alpha:
        verdict = "no clear change"
    else:
        verdict = "up" if after / exposure_after > before / exposure_before else "down"
    return Change(before, after, pct, p, verdict)
