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
Standard errors are clustered by place; with a handful of footprints they are unreliable, so the claim rests on a
threshold calibrated on placebo programs (the same number of footprints at random places and dates).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from analytics import calibrate, panel, registry, synth
from analytics.registry import CanvassEvent
from analytics.wdd import Z90
from kcvt.settings import REFERENCE_DIR

PROGRAMS_FILE = REFERENCE_DIR / "programs.csv"
WINDOW = 12
N_DONORS = 40
N_PROGRAM = 40  # placebo programs per half
MIN_FOOTPRINT = 1


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
        chosen, title = [known[i] for i in event_ids], (label(program_id) if program_id else "the events chosen")
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
        return pf.fepois(formula, data=data, vcov={"CRV1": "unit"}, separation_check=[], copy_data=False,
                         store_data=False)


def pooled(data: pd.DataFrame) -> dict:
    """The pooled effect: one coefficient on after-months of footprints (month 0, which mixes before and after,
    has its own), against the same footprints' months -12..-1 and their donors."""
    d = data.assign(post=(data["treated"] & (data["rel"] >= 1)).astype(int),
                    t0=(data["treated"] & (data["rel"] == 0)).astype(int))
    fit = _fepois("n ~ post + t0 | stack_unit + stack_month", d)
    b, se = float(fit.coef()["post"]), float(fit.se()["post"])
    return {"coef": b, "se": se, "z": b / se if se > 0 else None}


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
    """One coefficient per month relative to the starts (month -1 is the reference), as % with a 90% interval."""
    d = data.copy()
    cols = {}
    for k in sorted(d.loc[d["treated"], "rel"].unique()):
        if k == -1:
            continue
        name = f"rel_{'m' if k < 0 else 'p'}{abs(k)}"
        d[name] = (d["treated"] & (d["rel"] == k)).astype(int)
        cols[name] = int(k)
    fit = _fepois(f"n ~ {' + '.join(cols)} | stack_unit + stack_month", d)
    coef, se = fit.coef(), fit.se()
    rows = [{"rel": k, "coef": float(coef[c]), "se": float(se[c])} for c, k in cols.items() if c in coef.index]
    rows.append({"rel": -1, "coef": 0.0, "se": 0.0})
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
            out.append({"pct": pct(r["coef"]), "z": r["z"]})
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
    every = halves[0] + halves[1]
    claimed = cal.flags(pool["z"])
    beyond = None if pool["z"] is None else float(np.mean([abs(x["z"]) >= abs(pool["z"]) for x in every])) if every \
        else None
    return {**base, "status": "evaluated", "after_months": after,
            "footprints": _contributions(m, fps, own, data),
            "pooled": {"pct": pct(pool["coef"]), "z": pool["z"], "claimed": bool(claimed),
                       # the interval at the calibrated threshold: it leaves out 0 exactly when a change is claimed
                       "low": pct(pool["coef"] - cal.threshold * pool["se"]),
                       "high": pct(pool["coef"] + cal.threshold * pool["se"]), "interval": "calibrated 90%"},
            "event_study": es[["rel", "pct", "low", "high"]].round(1).to_dict("records"),
            "placebos": {"n": len(every), "estimates_pct": [x["pct"] for x in every], "share_as_large": beyond},
            "calibration": cal.as_dict(), "verdict": verdict(mem.title, pool, claimed, after, cal, beyond)}


def _contributions(m: pd.DataFrame, fps: list[panel.Footprint], own: list[dict], data: pd.DataFrame) -> list[dict]:
    """Each footprint: start, places, before-window monthly mean, its own effect, the pooled effect without it, and
    its share of the footprints' after-window counts (what weighs it in the pooled Poisson estimate)."""
    by_stack = {o["stack"]: o for o in own}
    treated_after = data[data["treated"] & (data["rel"] >= 1)].groupby("stack")["n"].sum()
    total = float(treated_after.sum()) or 1.0
    out = []
    for s, fp in enumerate(fps):
        pre, _ = panel.windows(fp.start, WINDOW, 0)
        o = by_stack.get(s)
        out.append({"event": fp.key, "name": fp.name, "start": fp.start.strftime("%Y-%m"), "areas": list(fp.areas),
                    "before_monthly": round(float(m.loc[pre, list(fp.areas)].sum(axis=1).mean()), 1),
                    "own_pct": None if o is None else pct(o["coef"]),
                    "pooled_without_pct": None if o is None or o["without"] is None else pct(o["without"]),
                    "share_pct": round(100 * float(treated_after.get(s, 0.0)) / total, 1)})
    return out


def verdict(title: str, pool: dict, claimed: bool, after: int, cal: calibrate.Calibration, beyond) -> str:
    """Plain words for the pooled estimate, never more than the placebo programs allow."""
    p = pct(pool["coef"])
    where = f"{abs(p):.0f}% {'lower' if p < 0 else 'higher'}"
    against = "" if beyond is None else f" {100 * beyond:.0f}% of placebo programs showed a change at least as large."
    if claimed:
        return (f"Across {title}, violence was {where} than in their comparison places over the {after} months after "
                f"each start, beyond the calibrated threshold.{against} This compares places; it does not show "
                "that the work caused it.")
    return (f"Across {title}, no change beyond chance: {where} than in their comparison places over the {after} "
            f"months after each start, within what placebo programs show.{against}")


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
