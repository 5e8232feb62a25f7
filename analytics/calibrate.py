"""Thresholds calibrated on placebos, and their false-positive rate checked on placebos the calibration never saw.

A placebo is a made-up footprint: neighborhoods where nothing in the registry happened, at a made-up start,
evaluated exactly as a real event is. Places are split at random into two halves once per evaluation: placebos
drawn from the first half set the threshold, placebos drawn from the second half, never seen by the calibration,
check it. Both halves are random halves of the same eligible places (so the same distribution), and no place, hence
no place-window, is in both: the check is on places the calibration never saw, as the real footprint is. Every
placebo avoids the evaluated footprint and its buffer (so its own windows there are never used), and every place
another registry event touched while it was active.

The threshold is conservative on purpose. The plain 90th percentile of the calibration placebos flags a new
placebo 10% of the time only on average: the percentile of a few hundred placebos (drawn from a few dozen places,
so fewer independent ones than it seems) is itself noisy, and half the time lands low. On the bundled data its
held-out rate passed the binomial tolerance in about one evaluation in six instead of one in twenty (issue 16:
Peace Walk 14.5%, council footprints 14-17% against 13.5%). So the threshold is the value that leaves at most
`allowed(n)` of the n calibration placebos beyond it, the most for which the one-sided 95% Clopper-Pearson upper
bound on the share flagged is still at most 10%: with 95% confidence the false-positive rate is at most 10%
(with 200 placebos at most 12 flagged, 6%; with 40 none). Fewer than 29 placebos cannot support any threshold:
no change is then claimed.

How many held-out placebos may be flagged by chance: with n of them and a true rate of exactly 10%, the count
flagged exceeds the binomial 95th percentile only one time in twenty, so a rate up to `tolerance(n)` is within
sampling error of the nominal 10% (for n = 100, up to 15%).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import beta, binom

from analytics import panel, synth
from analytics.wdd import Z90, wdd

NOMINAL = 0.10
#: confidence that the false-positive rate of a calibrated threshold is at most NOMINAL (see the module docstring)
CONFIDENCE = 0.95
#: placebos per half by default: enough for a conservative threshold that can still claim (of 150, 8 may be flagged:
#: a rank test among 20 donors puts about 1 placebo in 21 at its smallest p, so 100 (4 allowed) often could not)
N_WDD, N_SYNTH = 200, 150


def allowed(n: int, nominal: float = NOMINAL, confidence: float = CONFIDENCE) -> int:
    """The most calibration placebos (of n) a threshold may flag while the one-sided Clopper-Pearson upper bound on
    its false-positive rate stays at most `nominal`; -1 when even none would not do (n below 29 at 10%)."""
    x = -1
    while x + 1 < n and beta.ppf(confidence, x + 2, n - x - 1) <= nominal:
        x += 1
    return x


def tolerance(n: int, nominal: float = NOMINAL) -> float:
    """The largest held-out false-positive rate within sampling error of `nominal` for n placebos (binomial 95th
    percentile): a higher rate means the threshold does not hold."""
    return float(binom.ppf(0.95, n, nominal) / n) if n else 1.0


@dataclass
class Calibration:
    """One method's threshold and its check. `threshold` is a critical |z| (WDD, program) or a largest p-value
    (synthetic control's rank test); `held_out_rate` is the share of held-out placebos it flags."""
    method: str
    statistic: str  # "|z|" or "p"
    threshold: float
    n_calibration: int
    n_held_out: int
    held_out_rate: float | None
    nominal: float = NOMINAL
    what: str = "placebo footprints"
    #: where the threshold comes from, in words (the calibration, or a higher floor another test imposes)
    origin: str = ""

    @property
    def tolerance(self) -> float:
        """See the module docstring: the highest held-out rate consistent with the nominal rate."""
        return tolerance(self.n_held_out, self.nominal)

    @property
    def holds(self) -> bool:
        """Whether the held-out rate is within sampling error of the nominal rate (or below it)."""
        return self.held_out_rate is not None and self.held_out_rate <= self.tolerance

    @property
    def can_claim(self) -> bool:
        """False when no value could pass the threshold (too few placebos, or p cut-off 0)."""
        return bool(np.isfinite(self.threshold)) and (self.statistic == "|z|" or self.threshold > 0)

    def flags(self, value: float | None) -> bool:
        """Whether a statistic (|z| or p) is beyond the threshold: a change is claimed."""
        if value is None or not np.isfinite(value) or not self.can_claim:
            return False
        return abs(value) > self.threshold if self.statistic == "|z|" else value <= self.threshold + 1e-12

    @property
    def rule(self) -> str:
        """The one threshold a page prints, e.g. "|z| > 2.82" or "p ≤ 0.048" (or that none can be passed)."""
        if not self.can_claim:
            return "none: this test cannot claim a change here"
        return f"|z| > {self.threshold:.2f}" if self.statistic == "|z|" else f"p ≤ {self.threshold:.3f}"

    def as_dict(self) -> dict:
        """Plain data for JSON and the page, with the sentence that explains it. `threshold` is the one the verdict
        uses (None when no value can pass it), `rule` the same in print, `origin` where it comes from."""
        return {"method": self.method, "statistic": self.statistic,
                "threshold": self.threshold if self.can_claim else None, "rule": self.rule,
                "origin": self.origin or f"calibrated on {self.n_calibration} {self.what}",
                "n_calibration": self.n_calibration, "n_held_out": self.n_held_out,
                "held_out_rate": self.held_out_rate, "nominal": self.nominal, "confidence": CONFIDENCE,
                "tolerance": self.tolerance, "holds": self.holds, "sentence": self.sentence()}

    def sentence(self) -> str:
        """In plain words: the threshold, where it came from, and how it did on placebos it never saw."""
        if not self.can_claim:
            return (f"This test cannot claim a change: {self.n_calibration} {self.what} are too few to set a "
                    f"threshold with {100 * CONFIDENCE:.0f}% confidence that it flags at most "
                    f"{100 * self.nominal:.0f}% of places where nothing happened.")
        rule = (f"|z| above {self.threshold:.2f}" if self.statistic == "|z|" else f"p at or below {self.threshold:.3f}")
        if self.origin:
            rule += f" ({self.origin})"
        if not self.n_held_out or self.held_out_rate is None:
            return f"A change is claimed at {rule}, set on {self.n_calibration} placebos; none were left to check it."
        verdict = "within" if self.holds else "ABOVE"
        k = round(self.held_out_rate * self.n_held_out)
        claimed = (f"claimed a change in none of the {self.n_held_out}" if k == 0 else
                   f"claimed a change in {k} of the {self.n_held_out}, {100 * self.held_out_rate:.0f}%")
        return (f"A change is claimed at {rule}, set on {self.n_calibration} {self.what}; on other {self.what} it "
                f"never saw, it {claimed} "
                f"(nominal {100 * self.nominal:.0f}%; up to {100 * self.tolerance:.0f}% is {verdict} sampling error "
                f"for {self.n_held_out}).")


def z_threshold(abs_z: np.ndarray, nominal: float = NOMINAL) -> float:
    """The critical |z|: the value with `allowed(n)` calibration placebos strictly above it (ties above it count,
    so ties can only make it stricter), never below the textbook 90% value; infinite (never claim) when the
    placebos are too few."""
    x = allowed(len(abs_z), nominal)
    if x < 0:
        return float("inf")
    return max(Z90, float(np.sort(np.abs(abs_z))[::-1][x]))


def p_threshold(p: np.ndarray, grid: np.ndarray, nominal: float = NOMINAL) -> float:
    """The largest p cut-off on the grid (the values a rank test can take), never above the nominal itself, that
    flags at most `allowed(n)` of the calibration placebos (p at or below it); 0 (never claim) if none does."""
    x = allowed(len(p), nominal)
    ok = [c for c in grid if c <= nominal + 1e-12 and int((p <= c + 1e-12).sum()) <= x]
    return float(max(ok)) if ok else 0.0


def calibration(method: str, statistic: str, cal: np.ndarray, held: np.ndarray, grid=None,
                what: str = "placebo footprints", floor: float | None = None, floor_origin: str = "") -> Calibration:
    """A Calibration from the two halves' statistics (|z| values, or p-values with their grid). A `floor` (|z|
    only) that is higher than the calibrated value becomes the threshold, named by `floor_origin`: the held-out
    rate is always that of the threshold the verdict uses."""
    cal, held = np.asarray(cal, float), np.asarray(held, float)
    threshold = z_threshold(np.abs(cal)) if statistic == "|z|" else p_threshold(cal, grid)
    origin = ""
    if floor is not None and np.isfinite(threshold) and floor > threshold:
        threshold, origin = float(floor), floor_origin
    out = Calibration(method, statistic, threshold, len(cal), len(held), None, what=what, origin=origin)
    if len(held):
        out.held_out_rate = float(np.mean([out.flags(v) for v in held]))
    return out


@dataclass
class Placebos:
    """Where placebos may be drawn for one evaluation: the two halves of the places, the start months whose
    windows fit in the data, and for each start the places busy with registry events."""
    m: pd.DataFrame
    before: int
    after: int
    halves: tuple[set[str], set[str]]
    starts: list[pd.Timestamp]
    blocked: set[str]  # the evaluated footprint and its buffer
    busy: dict  # start -> set of busy places
    geo: panel.Geo
    _profiles: dict = field(default_factory=dict)
    _eligible: dict = field(default_factory=dict)

    def eligible(self, start: pd.Timestamp) -> list[str]:
        """panel.eligible at this start, before exclusions (computed once per start)."""
        if start not in self._eligible:
            pre, post = panel.windows(start, self.before, self.after)
            self._eligible[start] = panel.eligible(self.m, pre, post, set())
        return self._eligible[start]

    def draw(self, rng: np.random.Generator, half: int, sizes: list[int], n: int) -> list[list[tuple]]:
        """n placebo programs: for each, one (areas, start) per size, areas drawn from that half of the places,
        eligible at that start and not busy, no footprint next to another of the same program."""
        out = []
        for _ in range(n * 5):
            if len(out) == n:
                break
            prog, used = [], set()
            for size in sizes:
                start = self.starts[rng.integers(len(self.starts))]
                skip = self.blocked | self.busy[start] | used
                pool = [a for a in self.eligible(start) if a in self.halves[half] and a not in skip]
                if len(pool) < size:
                    break
                areas = tuple(str(a) for a in rng.choice(pool, size=size, replace=False))
                used |= self.geo.around(areas)
                prog.append((areas, start))
            if len(prog) == len(sizes):
                out.append(prog)
        return out

    def window_sums(self, areas, start: pd.Timestamp) -> tuple[float, float]:
        """The areas' summed counts in the before and the after window of this start."""
        i = self.m.index.get_loc(start)
        cols = [self.m.columns.get_loc(a) for a in areas]
        block = self.m.to_numpy()[:, cols].sum(axis=1)
        return float(block[i - self.before:i].sum()), float(block[i + 1:i + 1 + self.after].sum())

    def profile(self, start: pd.Timestamp) -> tuple[pd.Index, np.ndarray, np.ndarray]:
        """Every place's before-window level and relative trend at this start (what comparisons are matched on)."""
        if start not in self._profiles:
            pre, _ = panel.windows(start, self.before, self.after)
            block = self.m.loc[pre]
            block = block.loc[:, block.notna().all()]
            self._profiles[start] = (block.columns, *level_trend(block.to_numpy(dtype=float)))
        return self._profiles[start]


def placebos_for(con, m: pd.DataFrame, events: list, footprint_areas, before: int, after: int,
                 key: str) -> Placebos:
    """The placebo frame of one evaluation (`key` seeds the split of places, so reruns draw the same)."""
    g = panel.geo(con)
    order = list(panel.rng_for(key, "halves").permutation(sorted(m.columns)))
    halves = (set(order[::2]), set(order[1::2]))
    starts = panel.placebo_starts(m, before, after)
    busy = {}
    for s in starts:
        pre, post = panel.windows(s, before, after)
        busy[s] = panel.busy(g, events, pre[0], post[-1])
    return Placebos(m, before, after, halves, starts, g.around(footprint_areas), busy, g)


def level_trend(block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each column's mean and its least-squares slope over the months divided by (mean + 0.5): the level and
    relative trend analytics.evaluation.suggest matches comparisons on."""
    x = np.arange(len(block)) - (len(block) - 1) / 2
    level = block.mean(axis=0)
    return level, (x @ block / max((x ** 2).sum(), 1)) / (level + 0.5)


def match(names: pd.Index, level: np.ndarray, trend: np.ndarray, areas, exclude: set[str]) -> list[str]:
    """For each area, the most similar unused place outside `exclude` by level and relative trend before the start:
    the rule of analytics.evaluation.suggest (|log level ratio| + |trend difference|), on arrays."""
    index = {n: i for i, n in enumerate(names)}
    free = np.array([n not in exclude for n in names])
    chosen: list[str] = []
    for a in areas:
        i = index[a]
        score = np.abs(np.log((level + 0.5) / (level[i] + 0.5))) + np.abs(trend - trend[i])
        score[~free] = np.inf
        j = int(np.argmin(score))
        if np.isfinite(score[j]):
            chosen.append(str(names[j]))
            free[j] = False
    return chosen


def wdd_z(p: Placebos, areas, start) -> float | None:
    """The local WDD z of a placebo footprint against comparisons matched as the evaluation matches them."""
    names, level, trend = p.profile(start)
    comp = match(names, level, trend, areas, p.geo.around(areas, "wide") | p.blocked | p.busy[start])
    (t0, t1), (c0, c1) = p.window_sums(areas, start), p.window_sums(comp, start)
    return wdd((t0, t1), (c0, c1), before_len=p.before, after_len=p.after)["local"].z


def wdd_calibration(p: Placebos, size: int, key: str, n: int | None = None, floor: float | None = None,
                    floor_origin: str = "") -> Calibration:
    """The WDD local test's critical |z| on placebo footprints of `size` neighborhoods, checked on held-out ones
    (at `floor` instead when that is higher: see `calibration`)."""
    zs = []
    for half in (0, 1):
        draws = p.draw(panel.rng_for(key, "wdd", half), half, [size], n or N_WDD)
        zs.append([z for ((areas, start),) in draws if (z := wdd_z(p, areas, start)) is not None])
    return calibration("WDD local test", "|z|", zs[0], zs[1], floor=floor, floor_origin=floor_origin)


def synth_p(p: Placebos, areas, start) -> float:
    """The synthetic control's rank-test p-value for a placebo footprint (1.0 when the fit is poor: no claim)."""
    pre, post = panel.windows(start, p.before, p.after)
    skip = p.geo.around(areas) | p.blocked | p.busy[start]
    cands = [a for a in p.eligible(start) if a not in skip]
    r = synth.run(p.m, p.m[list(areas)].sum(axis=1), cands, pre, post, p.geo.near, fast=True)
    return 1.0 if r["poor_fit"] else r["p_value"]


def synth_calibration(p: Placebos, size: int, key: str, n: int | None = None) -> Calibration:
    """The rank test's p cut-off on placebo footprints of `size` neighborhoods, checked on held-out ones."""
    ps = []
    for half in (0, 1):
        draws = p.draw(panel.rng_for(key, "synth", half), half, [size], n or N_SYNTH)
        ps.append([synth_p(p, areas, start) for ((areas, start),) in draws])
    grid = np.arange(1, synth.N_DONORS + 2) / (synth.N_DONORS + 1)
    return calibration("synthetic control rank test", "p", ps[0], ps[1], grid)
