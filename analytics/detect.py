"""When can we tell? Month-by-month tracking of a program still under way, and when a drop would show.

Tracking: from the start, the footprints' cumulative count against what was expected without the work: the
matched comparison places' count (matched as analytics.evaluation matches them) plus the footprints' usual gap
to them in the 24 months before the start. The difference after k months is the WDD local estimate times k, and
its band is the critical |z| times its standard error (Wheeler & Ratcliffe's variance): a band that leaves zero
is a change beyond chance. The critical |z| is calibrated month by month on placebo programs (the same number and
sizes of footprints at random places and starts, never near the real ones), because real counts vary more than
Poisson noise and a 24-month baseline drifts.

Detectability: future months are simulated from the before window itself: each simulated month is a before-window
month drawn at random (the footprints' and the comparisons' counts of the same month together, so their shared
swings stay shared), with the footprints' incidents thinned by the drop (each kept with probability 1 - drop).
The curve is cumulative, as the tracking test is read (someone looking every month claims a change the first month
it crosses): at month k, the share of simulated futures in which the drop has crossed the calibrated threshold at
some month up to k. It never falls. A drop "would show" by the first month at which 80% of futures have crossed.

Footprints of a staggered program are each aligned on their own start, so months are counted "after each start"
and given calendar names only when every footprint starts in the same month. When the tracked period is over (as
many months of data as the horizon), the answer is in the past tense: what could or could not be told.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics import calibrate, panel, program, registry
from analytics.calibrate import Placebos

BEFORE = 24
HORIZON = 36
#: the longest projection: placebo programs need BEFORE + horizon months of data (the series has 138)
MAX_HORIZON = 60
DROPS = (0.10, 0.20, 0.30)
POWER = 0.80
DRAWS = 4000
N_PLACEBO = 200  # placebo programs per half


def _z(d: np.ndarray, k: np.ndarray, t0: float, c0: float, t1: np.ndarray, c1: np.ndarray, nb: int) -> np.ndarray:
    """WDD z of the cumulative difference after k months (see analytics.wdd and evaluation.cumulative_difference)."""
    var = k ** 2 * (t0 + c0) / nb ** 2 + t1 + c1
    return np.where(var > 0, d / np.sqrt(np.where(var > 0, var, 1)), 0.0)


def cumulative(t_pre, c_pre, t_after, c_after) -> pd.DataFrame:
    """From monthly counts before (footprints t, comparisons c) and after the start: per month k, the cumulative
    actual, the expected, their difference and its z."""
    t_pre, c_pre = np.asarray(t_pre, float), np.asarray(c_pre, float)
    t1, c1 = np.cumsum(t_after, dtype=float), np.cumsum(c_after, dtype=float)
    nb, t0, c0 = len(t_pre), t_pre.sum(), c_pre.sum()
    k = np.arange(1, len(t1) + 1)
    expected = c1 + k * (t0 - c0) / nb
    diff = t1 - expected
    sd = np.sqrt(k ** 2 * (t0 + c0) / nb ** 2 + t1 + c1)
    return pd.DataFrame({"k": k, "actual": t1, "expected": expected, "difference": diff, "sd": sd,
                         "z": _z(diff, k, t0, c0, t1, c1, nb)})


def power_curve(t_pre, c_pre, drop: float, critical: np.ndarray, draws: int = DRAWS,
                rng: np.random.Generator | None = None) -> np.ndarray:
    """For months 1..len(critical), the share of simulated futures (see the module docstring) in which the
    footprints' drop has been beyond the calibrated threshold (z below -critical[j-1]) at some month j up to k."""
    rng = rng or np.random.default_rng(0)
    t_pre, c_pre = np.asarray(t_pre, float), np.asarray(c_pre, float)
    nb, h = len(t_pre), len(critical)
    idx = rng.integers(nb, size=(draws, h))
    t1 = np.cumsum(rng.binomial(t_pre[idx].astype(np.int64), 1 - drop), axis=1).astype(float)
    c1 = np.cumsum(c_pre[idx], axis=1)
    k = np.arange(1, h + 1)
    t0, c0 = t_pre.sum(), c_pre.sum()
    z = _z(t1 - c1 - k * (t0 - c0) / nb, k, t0, c0, t1, c1, nb)
    return np.logical_or.accumulate(z < -np.asarray(critical), axis=1).mean(axis=0)


def first_month(power: np.ndarray, level: float = POWER) -> int | None:
    """The first month (1-based) whose power reaches `level`, or None within the horizon."""
    hits = np.flatnonzero(power >= level)
    return int(hits[0]) + 1 if len(hits) else None


def _pooled_series(p: Placebos, items: list[tuple[tuple, pd.Timestamp]], exclude: set[str]):
    """Pooled monthly counts of footprints and their matched comparisons, aligned on each start: before (BEFORE
    months) and after (up to p.after months, as many as every footprint has)."""
    m = p.m.to_numpy(dtype=float)
    t_pre, c_pre, t_post, c_post, used = 0.0, 0.0, [], [], set(exclude)
    for areas, start in items:
        names, level, trend = p.profile(start)
        comp = calibrate.match(names, level, trend, areas, used | p.geo.around(areas, "wide") | p.busy.get(start, set()))
        used |= set(comp)
        i = p.m.index.get_loc(start)
        cols_t = [p.m.columns.get_loc(a) for a in areas]
        cols_c = [p.m.columns.get_loc(a) for a in comp]
        t, c = m[:, cols_t].sum(axis=1), m[:, cols_c].sum(axis=1)
        t_pre = t_pre + t[i - p.before:i]
        c_pre = c_pre + c[i - p.before:i]
        t_post.append(t[i + 1:i + 1 + p.after])
        c_post.append(c[i + 1:i + 1 + p.after])
    n = min(len(x) for x in t_post)
    return t_pre, c_pre, sum(x[:n] for x in t_post), sum(x[:n] for x in c_post)


def critical_values(p: Placebos, sizes: list[int], key: str, n: int | None = None) -> tuple[np.ndarray, dict]:
    """Month-by-month critical |z| for watching every month, from placebo programs of these sizes, and its check.

    Each month's 90th percentile of the placebos' |z| is scaled up by one common factor until at most
    calibrate.allowed(n) of the n calibration placebos ever cross within the horizon (the conservative rule of
    analytics.calibrate): someone who looks every month must not see a false change more often than 10%. The check
    is the share of held-out placebo programs that ever cross."""
    zs = []
    for half in (0, 1):
        rows = []
        for prog in p.draw(panel.rng_for(key, "detect", half), half, sizes, n or N_PLACEBO):
            t_pre, c_pre, t_post, c_post = _pooled_series(p, prog, set())
            rows.append(np.abs(cumulative(t_pre, c_pre, t_post, c_post)["z"].to_numpy()))
        zs.append(np.array(rows))
    base = np.maximum(calibrate.Z90, np.quantile(zs[0], 1 - calibrate.NOMINAL, axis=0))
    ever = (zs[0] / base).max(axis=1)  # how far each calibration placebo ever goes, in units of the pointwise cut
    x = calibrate.allowed(len(ever))
    scale = max(1.0, float(np.sort(ever)[::-1][x])) if x >= 0 else float("inf")
    crit = scale * base
    held = float(np.mean((zs[1] > crit).any(axis=1))) if len(zs[1]) else None
    cal = calibrate.Calibration(f"tracking test, watched every month for {p.after} months", "|z|", float(crit[0]),
                                len(zs[0]), len(zs[1]), held, what="placebo programs")
    out = cal.as_dict()
    out["sentence"] = (f"A change is claimed when the month's |z| passes its threshold ({crit[0]:.2f} after one month, "
                       f"{crit[min(11, p.after - 1)]:.2f} after {min(12, p.after)}), set on {len(zs[0])} placebo "
                       f"programs so that at most 10% ever cross in {p.after} months of watching; of {len(zs[1])} other "
                       f"placebo programs {100 * (held or 0):.0f}% ever crossed (up to {100 * cal.tolerance:.0f}% is "
                       "within sampling error).")
    return crit, out


def track(con, program_id: str | None = None, event_ids: list[str] | None = None, horizon: int = HORIZON,
          n_placebos: int | None = None, draws: int = DRAWS) -> dict:
    """Tracking from the start and the months by which drops of 10%, 20% and 30% would show, for a program or
    events (all footprints pooled, each aligned on its own start)."""
    if not 1 <= horizon <= MAX_HORIZON:
        raise panel.NotEvaluable(f"horizon must be a whole number of months from 1 to {MAX_HORIZON}, not {horizon}")
    mem = program.members(con, program_id, event_ids)
    m, events = panel.matrix(con), registry.load()
    have = m.index[m.notna().all(axis=1)]
    fps = sorted((fp for fp in mem.footprints if all(x in set(have) for x in panel.windows(fp.start, BEFORE, 0)[0])),
                 key=lambda f: (f.start, f.key))
    left = mem.left_out + [f"{fp.key}: fewer than {BEFORE} months of data before the start"
                           for fp in mem.footprints if fp not in fps]
    base = {"title": mem.title, "program": program_id, "left_out": left, "source": panel.SOURCE,
            "measure": panel.MEASURE, "before_months": BEFORE, "horizon": horizon}
    if not fps:
        return {**base, "status": "nothing to evaluate", "message": "; ".join(left) or "no dated footprint"}
    areas = sorted(set().union(*(fp.areas for fp in fps)))
    key = "|".join(sorted(fp.key for fp in fps))
    p = calibrate.placebos_for(con, m, events, areas, BEFORE, horizon, key)
    crit, check = critical_values(p, [len(fp.areas) for fp in fps], key, n_placebos)
    real = calibrate.Placebos(m, BEFORE, horizon, p.halves, p.starts, set(), _busy_real(p, events, fps), p.geo)
    real.after = max(0, min(int((have.max().to_period("M") - fp.start.to_period("M")).n) for fp in fps))
    real.after = min(real.after, horizon)
    t_pre, c_pre, t_post, c_post = _pooled_series(real, [(fp.areas, fp.start) for fp in fps], set())
    so_far = cumulative(t_pre, c_pre, t_post, c_post) if len(t_post) else None
    rng = panel.rng_for(key, "simulate")
    curves = {d: power_curve(t_pre, c_pre, d, crit, draws, rng) for d in DROPS}
    start = min(fp.start for fp in fps)
    common = start if len({fp.start for fp in fps}) == 1 else None  # calendar names only for one shared start
    confirmed = all(e.date_confirmed for e in mem.events if e.evaluable)
    return {**base, "status": "tracked", "start": start.strftime("%Y-%m"), "start_confirmed": confirmed,
            "staggered": common is None, "complete": so_far is not None and len(so_far) >= horizon,
            "footprints": [{"event": fp.key, "areas": list(fp.areas), "start": fp.start.strftime("%Y-%m")} for fp in fps],
            "before_monthly": round(float(np.mean(t_pre)), 1), "months_so_far": 0 if so_far is None else len(so_far),
            "tracking": [] if so_far is None else _rows(so_far, crit, common),
            "critical_z": [round(float(c), 3) for c in crit], "calibration": check,
            "detectable": [{"drop_pct": round(100 * d), "month": first_month(c), "by": _by(common, first_month(c)),
                            "power": [round(float(x), 3) for x in c]} for d, c in curves.items()],
            "answer": answer(so_far, crit, curves, common, horizon, confirmed)}


def _busy_real(p: Placebos, events, fps) -> dict:
    """Places the real footprints' comparisons must avoid: other registry events active in their windows."""
    keys = {fp.key for fp in fps}
    out = {}
    for fp in fps:
        pre, post = panel.windows(fp.start, BEFORE, p.after)
        out[fp.start] = out.get(fp.start, set()) | panel.busy(p.geo, events, pre[0], post[-1], keys) | \
            p.geo.around(set().union(*(f.areas for f in fps)), "wide")
    return out


def _rows(so_far: pd.DataFrame, crit: np.ndarray, start: pd.Timestamp | None) -> list[dict]:
    """Tracking rows; `month` is the calendar month when every footprint shares `start` (None when staggered), and
    `label` what a page prints either way."""
    c = crit[: len(so_far)]
    return [{"k": int(r.k), "month": None if start is None else panel.shifted(start, int(r.k)).strftime("%Y-%m"),
             "label": _label(start, int(r.k)), "actual": int(r.actual),
             "expected": round(float(r.expected), 1), "difference": round(float(r.difference), 1),
             "low": round(float(r.difference - c[i] * r.sd), 1), "high": round(float(r.difference + c[i] * r.sd), 1),
             "beyond_chance": bool(abs(r.z) > c[i])} for i, r in enumerate(so_far.itertuples())]


def _label(start: pd.Timestamp | None, k: int) -> str:
    return f"month {k} after each start" if start is None else panel.shifted(start, k).strftime("%Y-%m")


def _by(start: pd.Timestamp | None, k: int | None) -> str | None:
    return None if k is None or start is None else panel.shifted(start, k).strftime("%B %Y")


def _when(start: pd.Timestamp | None, k: int) -> str:
    return f"month {k} after each start" if start is None else f"month {k} ({_by(start, k)})"


def answer(so_far: pd.DataFrame | None, crit: np.ndarray, curves: dict, start: pd.Timestamp | None, horizon: int,
           confirmed: bool = True) -> str:
    """One plain sentence for a task-force lead: can the answer be known yet, and if not, when. `start` is the
    footprints' shared start month, None when staggered (months then count after each footprint's own start). In
    the past tense once the tracked period is over."""
    lead = "" if confirmed or start is None else f"Counting from {start:%B %Y} (a start no source confirms), "
    done = so_far is not None and len(so_far) >= horizon
    if so_far is None or not len(so_far):
        head = "not yet, no month after the start has data"
    else:
        last = so_far.iloc[-1]
        k = int(last.k)
        word = "fewer" if last.difference < 0 else "more"
        after = f"after {k} months" if start is None else f"after {k} months (to {_by(start, k)})"
        beyond = abs(last.z) > crit[k - 1]
        verb = "there were" if done else "there are"
        head = ("yes" if beyond else ("no change beyond chance" if done else "not yet")) + \
            f": {after} {verb} {abs(last.difference):.0f} {word} incidents than expected, " + \
            ("beyond chance" if beyond else "within chance")
    shows = []
    for d, c in curves.items():
        k = first_month(c)
        if done:
            shows.append(f"a {round(100 * d)}% drop " + (f"could be told by {_when(start, k)}" if k else
                                                        f"could not be told within {horizon} months"))
        else:
            shows.append(f"a {round(100 * d)}% drop " + (f"would show by {_when(start, k)}" if k else
                                                        f"would not show within {horizon} months"))
    tail = ("; with these counts, " if done else "; if the work cut violence, ") + ", ".join(shows[:-1]) + \
        f" and {shows[-1]}" + ("" if done else " at these counts")
    text = lead + head + tail + "."
    return text[0].upper() + text[1:]
