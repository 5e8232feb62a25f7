"""Placebo checks of the Outreach evaluation: the same local test where no canvass took place.

Two kinds, both on a month x neighborhood count matrix:
- fake dates: the footprint against its own comparisons at earlier start months;
- other places: each untreated neighborhood as a fake footprint against a comparison matched to it as the
  evaluation matches comparisons to the footprint (the most similar neighborhood by before-window level and
  relative trend, not next door, not treated).

Why the matching matters: the test subtracts the comparison's change in counts from the footprint's. Set a single
neighborhood of ~20 incidents a month against the real footprint's comparisons (~60 a month, down 9 a month in the
Independence Avenue windows) and every placebo "beats" that drop by about 9 a month: the placebo z values all sat
near +2 and 62% were beyond the 90% threshold, a null distribution that was not null. A placebo is only a placebo
when it is the same test, so each fake footprint gets a comparison of its own size and path.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics.wdd import Z90, wdd

#: the fewest placebos a threshold is calibrated on; with fewer the usual 90% threshold is used
MIN_PLACEBOS = 20


def z_local(t0: float, t1: float, c0: float, c1: float, nb: int, na: int) -> float | None:
    """The local WDD z of a footprint (t) against a comparison (c); None when every count is 0."""
    return wdd((t0, t1), (c0, c1), before_len=nb, after_len=na)["local"].z


def level_trend(block: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Each column's mean and least-squares slope divided by (mean + 0.5): what comparisons are matched on
    (analytics.evaluation.suggest's rule)."""
    x = np.arange(len(block)) - (len(block) - 1) / 2
    level = block.mean()
    slope = block.mul(x, axis=0).sum() / max(float((x**2).sum()), 1.0)
    return level, slope / (level + 0.5)


def matched(level: pd.Series, trend: pd.Series, area: str, exclude: set[str]) -> str | None:
    """The neighborhood most like `area` (|log level ratio| + |trend difference|) outside `exclude` and itself."""
    score = np.abs(np.log((level + 0.5) / (level[area] + 0.5))) + np.abs(trend - trend[area])
    score = score.drop([a for a in exclude | {area} if a in score.index])
    return None if score.empty else str(score.idxmin())


def fake_dates(m: pd.DataFrame, footprint: list[str], control: list[str], event_month: pd.Timestamp,
               nb: int, na: int) -> list[float]:
    """The footprint against its comparisons at every earlier start whose windows end before the real before
    window begins (so no placebo sees the canvass) and have data."""
    if not footprint or not control:
        return []
    treated = m[footprint].sum(axis=1, min_count=1)
    comparison = m[control].sum(axis=1, min_count=1)
    out = []
    first, latest = m.index.min() + pd.DateOffset(months=nb), event_month - pd.DateOffset(months=nb + na + 1)
    for fake in pd.date_range(first, latest, freq="MS"):
        b = pd.date_range(fake - pd.DateOffset(months=nb), periods=nb, freq="MS")
        a = pd.date_range(fake + pd.DateOffset(months=1), periods=na, freq="MS")
        if treated[b.union(a)].notna().all() and comparison[b.union(a)].notna().all():
            z = z_local(treated[b].sum(), treated[a].sum(), comparison[b].sum(), comparison[a].sum(), nb, na)
            if z is not None:
                out.append(z)
    return out


def other_places(m: pd.DataFrame, skip: set[str], too_close: dict[str, set[str]], event_month: pd.Timestamp,
                 nb: int, na: int) -> list[float]:
    """Each neighborhood outside `skip` (the footprint, its buffer, its comparisons, other canvass sites) as a fake
    footprint in the real windows, against its own matched comparison: never itself, never one of `skip`, never
    one `too_close` to it (whose change would leak into the comparison, as the evaluation's rule keeps out)."""
    b = pd.date_range(event_month - pd.DateOffset(months=nb), periods=nb, freq="MS")
    a = pd.date_range(event_month + pd.DateOffset(months=1), periods=na, freq="MS")
    window = m.loc[b.union(a)]
    if m.empty or window.isna().any(axis=None):
        return []
    level, trend = level_trend(m.loc[b])
    before, after = m.loc[b].sum(), m.loc[a].sum()
    out = []
    for area in m.columns:
        if area in skip or before[area] + after[area] == 0:
            continue
        comp = matched(level, trend, area, skip | set(too_close.get(area, ())))
        if comp is not None and (z := z_local(before[area], after[area], before[comp], after[comp], nb, na)) is not None:
            out.append(z)
    return out


def summarise(z_dates: list[float], z_areas: list[float]) -> dict:
    """The placebo z values, the share beyond the usual 90% threshold, and the threshold a change must pass: the
    larger of the usual one and the placebos' 90th percentile of |z| (with at least MIN_PLACEBOS of them)."""
    every = np.abs(np.array(z_dates + z_areas))
    return {
        "fake_dates": [round(float(z), 3) for z in z_dates], "other_areas": [round(float(z), 3) for z in z_areas],
        "share_beyond_nominal": None if not len(every) else round(float((every > Z90).mean()), 3),
        "critical_z": max(Z90, float(np.quantile(every, 0.9))) if len(every) >= MIN_PLACEBOS else Z90,
    }


def share_as_large(plc: dict, z: float | None) -> float | None:
    """The share of placebo results at least as far from zero as the real one (None without placebos or a z)."""
    every = np.abs(np.array(plc["fake_dates"] + plc["other_areas"]))
    return None if z is None or not len(every) else round(float((every >= abs(z)).mean()), 3)
