"""Program-level effects: the average change across footprints that start on different dates.

A program is registry events sharing a `program` id (data/reference/programs.csv names them): the Prospect
Avenue corridor's walks and efforts of 2019, 2021 and 2023, or the five 2026 council outreach neighborhoods.

Estimator: a stacked event study with Poisson fixed effects (pyfixest `fepois`). Each footprint gets its own
"stack": the footprint and its own donor neighborhoods over months -12 to +12 around its start, where donors are
places no registry event touched during that stack's window (never treated, or not yet treated). Unit and
calendar-month fixed effects are interacted with the stack, so every comparison is between a footprint and its
own clean donors at the same calendar months. A plain two-way fixed-effects regression on staggered starts would
also compare later footprints with earlier ones already treated, whose own changes then enter as if they were the
baseline; with effects that grow or fade, that can even flip the sign (Goodman-Bacon 2021; Sun & Abraham 2021).
Poisson, because counts are small and often zero, and a multiplicative effect (a share) is what a task force asks.

Uncertainty: errors clustered by place rest, for the footprints' coefficients, on the footprints alone (one to five
clusters); with one footprint they shrink to almost nothing (issue 16: z = -6.5 on 89 incidents), and so do
heteroskedasticity-robust ones, whose residuals vanish for a coefficient resting on a few footprint-months. So the
standard errors are the Poisson model's own (1 / expected count: they grow as counts shrink), and the threshold on
|z| and the interval width come from placebo programs (the same number and sizes of footprints at random places and dates),
which carry the extra month-to-month variation of real counts. With one footprint there is no pooled effect: the
result is that footprint's own change, and says so.

Before any verdict, two refusals. Pre-trend: the footprints' change between months -12..-7 and -6..-1 against
their donors, as a z, must be within what placebo programs show (a footprint already drifting before its start
would make any after-change its drift). Information: the smallest drop the calibrated test would catch four times
in five at these counts (analytics.detect's POWER) must be at most the largest drop the tracking view projects
(analytics.detect.DROPS, 30%); otherwise the verdict is "too little information yet", as `detectable` says
"would not show". The event study's monthly intervals are Poisson 90% intervals: real counts vary more.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from scipy.stats import norm

from analytics import calibrate, panel, registry, synth
from analytics.registry import CanvassEvent
from analytics.wdd import Z90
from kcvt.settings import REFERENCE_DIR

PROGRAMS_FILE = REFERENCE_DIR / "programs.csv"
WINDOW = 12
N_DONORS = 40
N_PROGRAM = 40  # placebo programs per half
#: the most placebo programs per half a caller may ask for: 200 gives a threshold that may flag 12 (a 6% rate) and a
#: held-out check within 4 points; more only costs minutes (100,000 ran for many)
MAX_PROGRAM = 200
MIN_FOOTPRINT = 1
#: the power at which the minimum detectable drop is taken (analytics.detect.POWER: "would show" there)
POWER = 0.80


ProgramError = panel.NotEvaluable


def programs() -> pd.DataFrame:
    """The named programs (id, name, description), plus any program id events use without a name."""
    named = pd.read_csv(PROGRAMS_FILE, dtype=str, keep_default_na=False)
    used = sorted({e.program for e in registry.load() if e.program} - set(named["program_id"]))
    return pd.concat([named, pd.DataFrame({"program_id": used, "name": used, "description": ""})], ignore_index=True)


def label(program_id: str) -> str:
    """A program's name (its id when it has none)."""
    p = programs()
    hit = p[p["program_id"] == program_id]
    return hit["name"].iloc[0] if len(hit) else program_id


@dataclass
class Members:
    """The events evaluated together, the footprints of those with a date, and those left out with why."""
    title: str
    events: list[CanvassEvent]
    footprints: list[panel.Footprint]
    left_out: list[str]


def members(con, program_id: str | None = None, event_ids: list[str] | None = None) -> Members:
    """The program's events (or the events named), their footprints, and the undated ones left out."""
    every = registry.load()
    if event_ids:
        known = {e.event_id: e for e in every}
        unknown = [i for i in event_ids if i not in known]
        if unknown:
            raise ProgramError(f"no event {', '.join(map(repr, unknown))} in the registry")
        repeated = sorted({i for i in event_ids if event_ids.count(i) > 1})
        if repeated:  # one place counted twice would pass as two footprints (a "pooled" effect of one place)
            raise ProgramError(f"event {', '.join(map(repr, repeated))} named more than once: name each event once")
        chosen = [known[i] for i in event_ids]
        title = _subset_title(chosen, [e for e in every if e.program == program_id] if program_id else [],
                              label(program_id) if program_id else "")
    elif program_id:
        chosen, title = [e for e in every if e.program == program_id], label(program_id)
        if not chosen:
            raise ProgramError(f"no event belongs to program {program_id!r}; known programs: "
                               f"{', '.join(programs()['program_id'])}")
    else:
        raise ProgramError("name a program or the events to evaluate together")
    g = panel.geo(con)
    dated = [e for e in chosen if e.evaluable]
    left = [f"{e.event_id}: no date" for e in chosen if not e.evaluable]
    return Members(title, chosen, [panel.event_footprint(g, e) for e in dated], left)


def _names(events: list[CanvassEvent]) -> str:
    """The events' names, without the prefix they all share ("Council-funded outreach team: Ivanhoe (2026)" ->
    "Ivanhoe (2026)"), joined in words."""
    names = [e.name for e in events]
    heads = {n.split(": ", 1)[0] for n in names}
    if len(heads) == 1 and all(": " in n for n in names):
        names = [n.split(": ", 1)[1] for n in names]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _subset_title(chosen: list[CanvassEvent], whole: list[CanvassEvent], name: str) -> str:
    """What the estimate covers: the program's name only when every one of its events is chosen; a part of it is
    "2 of the 5 footprints of <program> (names)", so a subset is never reported as the whole program."""
    if whole and {e.event_id for e in chosen} == {e.event_id for e in whole}:
        return name
    if whole and {e.event_id for e in chosen} < {e.event_id for e in whole}:
        return f"{len(chosen)} of the {len(whole)} footprints of {name} ({_names(chosen)})"
    return f"the events chosen ({_names(chosen)})"


def stack(m: pd.DataFrame, series: pd.Series, start: pd.Timestamp, donors: list[str], key: str, s: int,
          after: int = WINDOW) -> pd.DataFrame:
    """One footprint's stack: its series and its donors' over months -WINDOW..+after (those with data)."""
    i = m.index.get_loc(start)
    lo, hi = max(0, i - WINDOW), min(len(m) - 1, i + after)
    ok = m.iloc[lo:hi + 1].notna().all(axis=1).to_numpy()
    rel = np.arange(lo - i, hi - i + 1)[ok]
    months = m.index[lo:hi + 1][ok].strftime("%Y-%m").to_numpy()
    values = np.column_stack([series.to_numpy()[lo:hi + 1][ok], m[donors].to_numpy()[lo:hi + 1][ok]])
    units = np.array([key, *donors], dtype=object)
    t, u = values.shape
    unit = np.repeat(units, t)
    return pd.DataFrame({"stack": s, "unit": unit, "stack_unit": f"{s}|" + unit.astype(str),
                         "stack_month": np.char.add(f"{s}|", np.tile(months, u).astype(str)), "rel": np.tile(rel, u),
                         "treated": np.repeat(np.arange(u) == 0, t), "n": values.T.ravel().astype(float)})


def build(m: pd.DataFrame, g: panel.Geo, events: list[CanvassEvent], items: list[tuple[str, tuple, pd.Timestamp]],
          blocked: set[str] = frozenset(), after: int = WINDOW, placebo: bool = False, pool_at=None) -> pd.DataFrame:
    """The stacked panel of footprints given as (key, areas, start). Each stack's donors: the N_DONORS eligible
    places closest to its footprint before its start, none near it, none touched by another registry event active
    in its window (so a later footprint of the same program may be a donor before it starts: not yet treated).
    A placebo program's footprints are never each other's donors. `pool_at(start)`, if given, returns the eligible
    places at a start (a cache: placebo programs reuse starts)."""
    frames = []
    for s, (key, areas, start) in enumerate(items):
        pre, post = panel.windows(start, WINDOW, after)
        have = [x for x in post if x in m.index and m.loc[x].notna().all()]
        exclude = g.around(areas) | panel.busy(g, events, pre[0], post[-1], {key}) | set(blocked)
        if placebo:
            exclude = exclude.union(*(set(a) for _, a, _ in items))
        cands = ([a for a in pool_at(start) if a not in exclude] if pool_at else
                 panel.eligible(m, pre, have, exclude))
        series = m[list(areas)].sum(axis=1)
        frames.append(stack(m, series, start, synth.choose_donors(m, series, cands, pre, N_DONORS), key, s, after))
    return pd.concat(frames, ignore_index=True)


def _fepois(formula: str, data: pd.DataFrame):
    import pyfixest as pf  # imported here: it is slow to import and only this module needs it

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # no separation check: every unit averages at least panel.MIN_MONTHLY (donors) or MIN_FOOTPRINT (footprints)
        # incidents a month before its start, so no unit's counts are all zero; the check took a third of the time
        return pf.fepois(formula, data=data, vcov="iid", separation_check=[], copy_data=False, store_data=False)


def pooled(data: pd.DataFrame) -> dict:
    """The pooled effect: one coefficient on after-months of footprints (month 0, which mixes before and after,
    has its own), against the same footprints' months -12..-1 and their donors."""
    d = data.assign(post=(data["treated"] & (data["rel"] >= 1)).astype(int),
                    t0=(data["treated"] & (data["rel"] == 0)).astype(int))
    fit = _fepois("n ~ post + t0 | stack_unit + stack_month", d)
    b, se = float(fit.coef()["post"]), float(fit.se()["post"])
    return {"coef": b, "se": se, "z": b / se if se > 0 else None, "pre_z": pre_shift(data)}


def pre_shift(data: pd.DataFrame) -> float | None:
    """The footprints' change from months -12..-7 to -6..-1 against their donors', as a z (log ratio of the two
    ratios over its Poisson standard error, counts summed over stacks): a drift before the start. None when a
    count is zero."""
    early, late = data["rel"].between(-12, -7), data["rel"].between(-6, -1)
    t = data["treated"]
    n = [float(data.loc[w & side, "n"].sum()) for side in (t, ~t) for w in (early, late)]
    if min(n) <= 0:
        return None
    (t0, t1, c0, c1) = n
    return float(np.log((t1 / t0) / (c1 / c0)) / np.sqrt(1 / t0 + 1 / t1 + 1 / c0 + 1 / c1))


def per_footprint(data: pd.DataFrame, keys: list[str]) -> list[dict]:
    """Each footprint's own after-window effect from its own stack, in the same regression, and the pooled effect
    without it (how much the total leans on it). No interval for a single footprint: clustered errors from one
    place are unreliable, so the pooled estimate and its placebo programs carry any claim."""
    d = data.copy()
    names = []
    for s, _key in enumerate(keys):
        col = f"post_{s}"
        d[col] = (d["treated"] & (d["rel"] >= 1) & (d["stack"] == s)).astype(int)
        if d[col].any():
            names.append(col)
    d["t0"] = (d["treated"] & (d["rel"] == 0)).astype(int)
    if not names:
        return []
    fit = _fepois(f"n ~ {' + '.join(names)} + t0 | stack_unit + stack_month", d)
    coef = fit.coef()
    out = []
    for c in names:
        s = int(c.split("_")[1])
        rest = data[data["stack"] != s]
        without = pooled(rest)["coef"] if rest["treated"].any() and len(keys) > 1 else None
        out.append({"stack": s, "coef": float(coef[c]), "without": without})
    return out


def event_study(data: pd.DataFrame) -> pd.DataFrame:
    """One coefficient per month relative to the starts, as % with a 90% interval, against the footprints' average
    month before the start (0 = the 12 months before, on average, against the donors).

    Fitted with month -1 left out, then every coefficient is moved by the mean of the before-months' ones (month -1's
    being 0), with its standard error from the model's covariance. One month as the reference let one low month -1
    (the 2026 council footprints) lift every later month to +15..+40% beside a pooled -4%: the pooled estimate
    compares the after-months with all twelve before-months, and so does this baseline, so the two agree in sign
    and size (the pooled one weights months by their counts, this one equally)."""
    d = data.copy()
    cols = {}
    for k in sorted(d.loc[d["treated"], "rel"].unique()):
        if k == -1:
            continue
        name = f"rel_{'m' if k < 0 else 'p'}{abs(k)}"
        d[name] = (d["treated"] & (d["rel"] == k)).astype(int)
        cols[name] = int(k)
    fit = _fepois(f"n ~ {' + '.join(cols)} | stack_unit + stack_month", d)
    names = [c for c in cols if c in fit.coef().index]
    b = fit.coef()[names].to_numpy(dtype=float)
    v = pd.DataFrame(np.asarray(fit._vcov), index=fit.coef().index, columns=fit.coef().index).loc[names, names]
    rel = np.array([cols[c] for c in names])
    before = rel < 0  # the before-months fitted; month -1 (0 by construction) is one more of them
    w = np.where(before, 1.0, 0.0) / (before.sum() + 1)  # mean of the before-months, month -1 included
    moved = b - w @ b
    ident = np.eye(len(b))
    se = np.sqrt(np.maximum(0, np.einsum("ij,jk,ik->i", ident - w, v.to_numpy(), ident - w)))
    se_ref = float(np.sqrt(max(0.0, w @ v.to_numpy() @ w)))
    rows = [{"rel": int(k), "coef": float(c), "se": float(e)} for k, c, e in zip(rel, moved, se, strict=True)]
    rows.append({"rel": -1, "coef": float(-(w @ b)), "se": se_ref})
    out = pd.DataFrame(rows).sort_values("rel", ignore_index=True)
    out["pct"] = 100 * (np.exp(out["coef"]) - 1)
    out["low"] = 100 * (np.exp(out["coef"] - Z90 * out["se"]) - 1)
    out["high"] = 100 * (np.exp(out["coef"] + Z90 * out["se"]) - 1)
    return out


def pct(coef: float) -> float:
    """A log-rate coefficient as a percent change."""
    return round(100 * (float(np.exp(coef)) - 1), 1)


def placebo_zs(m, g, events, p: calibrate.Placebos, sizes: list[int], key: str, half: int, n: int) -> list[dict]:
    """Pooled estimates of n placebo programs (footprints of the given sizes at random places and starts)."""
    out = []
    for prog in p.draw(panel.rng_for(key, "program", half), half, sizes, n):
        items = [(f"placebo-{i}", areas, start) for i, (areas, start) in enumerate(prog)]
        try:
            r = pooled(build(m, g, events, items, p.blocked, p.after, placebo=True, pool_at=p.eligible))
        except Exception:  # noqa: BLE001, S112 (a placebo the estimator cannot fit is skipped: "n" counts those fitted)
            continue
        if r["z"] is not None and np.isfinite(r["z"]):
            out.append({"pct": pct(r["coef"]), "z": r["z"], "pre_z": r["pre_z"]})
    return out


def _usable(m: pd.DataFrame, fp: panel.Footprint) -> str | None:
    """Why a footprint cannot enter the program estimate (None if it can): all 12 months before need data, at
    least one month after, and at least MIN_FOOTPRINT incidents a month before."""
    pre, post = panel.windows(fp.start, WINDOW, 1)
    have = set(m.index[m.notna().all(axis=1)])
    if not all(x in have for x in pre):
        return f"not all of the {WINDOW} months before {fp.start:%Y-%m} have data"
    if m.loc[pre, list(fp.areas)].sum(axis=1).mean() < MIN_FOOTPRINT:
        return f"fewer than {MIN_FOOTPRINT} incident a month before the start: too few to estimate"
    if post[0] not in have:
        return f"no month of data after {fp.start:%Y-%m} yet"
    return None


def evaluate(con, program_id: str | None = None, event_ids: list[str] | None = None,
             n_placebos: int | None = None) -> dict:
    """The program's pooled effect, its event study, each footprint's own effect, and placebo programs."""
    if n_placebos is not None and not 1 <= n_placebos <= MAX_PROGRAM:
        raise ProgramError(f"placebos must be a whole number from 1 to {MAX_PROGRAM}, not {n_placebos}")
    mem = members(con, program_id, event_ids)
    m, g, events = panel.matrix(con), panel.geo(con), registry.load()
    left = list(mem.left_out)
    fps = []
    for fp in mem.footprints:
        why = _usable(m, fp)
        if why:
            left.append(f"{fp.key}: {why}")
        else:
            fps.append(fp)
    fps.sort(key=lambda f: (f.start, f.key))  # the same answer whatever order the events are named in
    base = {"program": program_id, "title": mem.title, "left_out": left, "source": panel.SOURCE,
            "measure": panel.MEASURE, "window": WINDOW}
    if not fps:
        return {**base, "status": "nothing to evaluate", "message": "No footprint of these events can be evaluated: "
                + "; ".join(left)}
    last = m.index[m.notna().all(axis=1)].max()
    after = min(WINDOW, max(min(WINDOW, (last.to_period("M") - fp.start.to_period("M")).n) for fp in fps))
    items = [(fp.key, fp.areas, fp.start) for fp in fps]
    data = build(m, g, events, items)
    pool, own, es = pooled(data), per_footprint(data, [fp.key for fp in fps]), event_study(data)
    frame = calibrate.placebos_for(con, m, events, sorted(set().union(*(fp.areas for fp in fps))), WINDOW, after,
                                   "|".join(sorted(fp.key for fp in fps)))
    sizes = [len(fp.areas) for fp in fps]
    halves = [placebo_zs(m, g, events, frame, sizes, "|".join(sorted(fp.key for fp in fps)), h, n_placebos or N_PROGRAM)
              for h in (0, 1)]
    cal = calibrate.calibration("program estimate", "|z|", [x["z"] for x in halves[0]], [x["z"] for x in halves[1]],
                                what="placebo programs")
    pre = [[x["pre_z"] for x in h if x["pre_z"] is not None] for h in halves]
    pre_cal = calibrate.calibration("pre-trend check", "|z|", pre[0], pre[1], what="placebo programs")
    every = halves[0] + halves[1]
    beyond = None if pool["z"] is None else float(np.mean([abs(x["z"]) >= abs(pool["z"]) for x in every])) if every \
        else None
    thr = cal.threshold if cal.can_claim else None
    mdd = None if thr is None else round(100 * (1 - float(np.exp(-(thr + norm.ppf(POWER)) * pool["se"]))), 1)
    span = (min(min(after, _months_after(last, fp)) for fp in fps), after)  # starts differ: so do months after
    refused = refusals(pool, pre_cal, mdd, span, len(fps))
    claimed = not refused and cal.flags(pool["z"])
    single = len(fps) == 1
    title = fps[0].name if single else mem.title
    return {**base, "title": title, "status": "evaluated", "after_months": after, "after_months_range": list(span),
            "single_footprint": single, "footprints": _contributions(m, fps, own, data, last, after),
            "pooled": {"pct": pct(pool["coef"]), "z": pool["z"], "claimed": bool(claimed),
                       # the interval at the calibrated threshold: it leaves out 0 exactly when |z| passes it
                       "low": None if thr is None else pct(pool["coef"] - thr * pool["se"]),
                       "high": None if thr is None else pct(pool["coef"] + thr * pool["se"]),
                       "interval": "Poisson model errors times the threshold calibrated on placebo programs",
                       "kind": "one footprint's own change (no pooled effect)" if single else "pooled",
                       "minimum_detectable_drop_pct": mdd, "pre_trend_z": pool["pre_z"], "refused": refused},
            "pre_trend": pre_cal.as_dict(),
            "event_study": es[["rel", "pct", "low", "high"]].round(1).to_dict("records"),
            "placebos": {"n": len(every), "estimates_pct": [x["pct"] for x in every], "share_as_large": beyond},
            "calibration": cal.as_dict(), "verdict": verdict(title, pool, claimed, span, cal, beyond, refused, single)}


def _months_after(last: pd.Timestamp, fp: panel.Footprint) -> int:
    """Months of data after a footprint's start month (up to the last month with data)."""
    return int((last.to_period("M") - fp.start.to_period("M")).n)


def months_words(after: int | tuple[int, int], single: bool = False) -> str:
    """"the 5 months after each start", or, when footprints have different numbers of months after their starts,
    "3 to 5 months after each start, depending on the footprint" (never one number that is wrong for some)."""
    lo, hi = (after, after) if isinstance(after, int) else after
    if lo == hi:
        return f"the {hi} month{'s' if hi != 1 else ''} after {'the' if single else 'each'} start"
    return f"{lo} to {hi} months after each start, depending on the footprint"


def refusals(pool: dict, pre_cal: calibrate.Calibration, mdd: float | None, after: int | tuple[int, int],
             n_fps: int) -> list[str]:
    """Why no verdict may be given (empty: one may): a pre-trend beyond what placebo programs show, or too little
    information for any drop the tracking view projects to be told from chance (see the module docstring)."""
    from analytics.detect import DROPS  # imported here: detect imports this module

    out = []
    if pool["pre_z"] is not None and pre_cal.flags(pool["pre_z"]):
        out.append(f"the footprint{'s' if n_fps > 1 else ''} already moved against {'their' if n_fps > 1 else 'its'} "
                   f"comparison places before the start (months -12..-7 against -6..-1: z = {pool['pre_z']:+.2f}, "
                   f"beyond the {pre_cal.rule} placebo programs show), so a change after it could be that drift")
    largest = round(100 * max(DROPS))
    if mdd is None or mdd > largest:
        told = "no drop" if mdd is None else f"only a drop of {mdd:.0f}% or more"  # caught 4 times in 5
        out.append(f"too little information yet: at these counts, over {months_words(after, n_fps == 1)}, "
                   f"{told} could be told from chance, and a {largest}% drop could not")
    return out


def _contributions(m: pd.DataFrame, fps: list[panel.Footprint], own: list[dict], data: pd.DataFrame,
                   last: pd.Timestamp, after: int) -> list[dict]:
    """Each footprint: start, places, months after its start in the estimate, before-window monthly mean, its own
    effect, the pooled effect without it, and its share of the footprints' after-window counts (what weighs it in
    the pooled Poisson estimate)."""
    by_stack = {o["stack"]: o for o in own}
    treated_after = data[data["treated"] & (data["rel"] >= 1)].groupby("stack")["n"].sum()
    total = float(treated_after.sum()) or 1.0
    out = []
    for s, fp in enumerate(fps):
        pre, _ = panel.windows(fp.start, WINDOW, 0)
        o = by_stack.get(s)
        out.append({"event": fp.key, "name": fp.name, "start": fp.start.strftime("%Y-%m"), "areas": list(fp.areas),
                    "months_after": min(after, _months_after(last, fp)),
                    "before_monthly": round(float(m.loc[pre, list(fp.areas)].sum(axis=1).mean()), 1),
                    "own_pct": None if o is None else pct(o["coef"]),
                    "pooled_without_pct": None if o is None or o["without"] is None else pct(o["without"]),
                    "share_pct": round(100 * float(treated_after.get(s, 0.0)) / total, 1)})
    return out


def verdict(title: str, pool: dict, claimed: bool, after: int | tuple[int, int], cal: calibrate.Calibration, beyond,
            refused: list[str] = (), single: bool = False) -> str:
    """Plain words for the estimate, never more than the placebo programs, the pre-trend check and the counts allow.
    One footprint is said as one place ("In X"), never as a pooled program ("Across ...")."""
    p = pct(pool["coef"])
    where = f"{abs(p):.0f}% {'lower' if p < 0 else 'higher'}"
    against = "" if beyond is None else f" {100 * beyond:.0f}% of placebo programs showed a change at least as large."
    head = f"In {title}" if single else f"Across {title}"
    months = months_words(after, single)
    theirs = "its comparison places" if single else "their comparison places"
    if refused:
        return (f"{head}, no verdict: violence was {where} than in {theirs} over {months}, but "
                + "; and ".join(refused) + ".")
    if claimed:
        return (f"{head}, violence was {where} than in {theirs} over {months}, beyond the calibrated threshold "
                f"({cal.rule}).{against} This compares places; it does not show that the work caused it.")
    return (f"{head}, no change beyond chance: {where} than in {theirs} over {months}, within what "
            f"placebo programs show ({cal.rule}).{against}")


def set_start(program_id: str, day, confirmed: bool = True) -> list[str]:
    """Save `day` as the start of every event of the program (an editor's choice on the Programs page; the 2026
    council program is stored at its ordinance month until then). Each event is validated again and its notes say
    who set the date; returns the ids changed."""
    changed = []
    for e in registry.load():
        if e.program != program_id:
            continue
        notes = re.sub(r" ?Start set to \d{4}-\d{2}-\d{2} by an editor on \d{4}-\d{2}-\d{2}\.", "", e.notes)
        notes = f"{notes} Start set to {day:%Y-%m-%d} by an editor on {date.today():%Y-%m-%d}.".strip()
        registry.upsert(registry.parse({**e.row(), "start_date": day.isoformat(), "date_confirmed": confirmed,
                                        "notes": notes}))
        changed.append(e.event_id)
    if not changed:
        raise ProgramError(f"no event belongs to program {program_id!r}")
    return changed
