"""Before/after evaluation of a canvass against comparison areas, with a displacement buffer.

Two units of analysis, both on real data:
- `areas`: neighborhood-month counts (e.g. KCPD crimes against persons). Footprint =
  the neighborhoods the canvass touched, buffer = the neighborhoods around them, comparisons =
  other neighborhoods.
- `points`: incident points (e.g. GVA shootings). Footprint, buffer ring and comparison areas
  are shapes; incidents are counted inside them.
Windows are whole months: the N months before the event's month and the N months after it
(the event's own month is left out, since it mixes before and after).
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from datetime import date

import duckdb
import numpy as np
import pandas as pd

from analytics import placebo, queries, registry, stats
from analytics.evaluation_text import (  # noqa: F401 (summary: callers)
    displacement_verdict,
    etest_sentence,
    in_short,
    interval,
    plural,
    summary,
    verdict,
)
from analytics.regions import (  # noqa: F401 (re-exported: callers use evaluation.area_matrix, .suggest, ...)
    SUGGESTIONS,
    Regions,
    _shapes,
    area_matrix,
    choose_controls,
    footprint_neighborhoods,
    neighborhood_shapes,
    other_sites,
    overlap_caveat,
    overlapping,
    point_matrix,
    region_series,
    regions,
    suggest,
)
from analytics.registry import CanvassEvent
from analytics.wdd import Z90, as_dict, minimum_detectable_drop, wdd

#: how an administrator brings missing months in, after "An administrator can bring those months in"
HOW_TO_ADD = {
    "gva": "from a Gun Violence Archive export: python -m etl load FILE --source gva.",
    "kcpd": "from the city's portal with python -m etl refresh --since YEAR, or offline from its 'KCPD Crime Data "
            "<year>' files with python -m etl load FILE --source kcpd (see the Data page).",
}


#: The design values an evaluation accepts. Windows beyond three years mix in too much else that changed; a buffer
#: ring wider than 2 km is no longer "next door" (canvass footprints are a few blocks).
MONTHS = (1, 36)
MAX_BUFFER_M = 2000.0
#: each unit's source and measure when nothing else is chosen (see default_design)
UNIT_DEFAULTS = {"points": ("gva", "shooting"), "areas": ("kcpd_nbhd", "persons")}
#: each unit in words, in the order the page offers them
UNIT_LABELS = {"areas": "neighborhood-month counts", "points": "incident points"}


class BadDesign(ValueError):
    """A design value an evaluation cannot use: a window or buffer out of range, or an id the data does not know."""


@dataclass
class Design:
    """How an evaluation counts: the unit (`areas`: neighborhood-months; `points`: incidents inside shapes), source,
    measure, windows in whole months, buffer ring in metres, and comparison neighborhoods (None: matched on the
    before window). The defaults are KCPD crimes against persons by neighborhood-month, the only continuous series;
    `check` refuses values out of range before anything is counted."""
    unit: str = "areas"  # areas | points
    source: str = "kcpd_nbhd"
    measure: str = "persons"
    months_before: int = 6
    months_after: int = 6
    buffer_m: float = 400.0
    comparison: list[str] | None = None  # neighborhoods; None = suggested

    def check(self, con: duckdb.DuckDBPyConnection) -> Design:
        """This design, or BadDesign naming the first value out of range or unknown to the database."""
        self._check_ranges()
        self._check_ids(con)
        return self

    def _check_ranges(self) -> None:
        if self.unit not in UNIT_DEFAULTS:
            raise BadDesign(f"unknown unit {self.unit!r}; known: {', '.join(sorted(UNIT_DEFAULTS))}")
        for name, value in (("months before", self.months_before), ("months after", self.months_after)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or not MONTHS[0] <= value <= MONTHS[1]:
                raise BadDesign(f"{name} must be a whole number from {MONTHS[0]} to {MONTHS[1]}, not {value!r}")
        buffer_m = self.buffer_m
        numeric = isinstance(buffer_m, int | float | np.number) and not isinstance(buffer_m, bool)
        if not (numeric and math.isfinite(buffer_m) and 0 < buffer_m <= MAX_BUFFER_M):
            shown = f"{buffer_m:g}" if numeric else repr(buffer_m)
            raise BadDesign(f"buffer must be a distance in metres above 0 and at most {MAX_BUFFER_M:,.0f}, not {shown}")

    def _check_ids(self, con: duckdb.DuckDBPyConnection) -> None:
        cat = queries.catalog(con)
        usable = _usable_sources(cat, self.unit)
        if self.source not in cat.kinds:
            raise BadDesign(f"unknown source {self.source!r}; known: {', '.join(usable)}")
        if self.source not in usable:
            what = "incident points" if self.unit == "points" else "neighborhood counts"
            raise BadDesign(f"source {self.source!r} has no {what} for unit {self.unit!r}; choose one of: "
                            f"{', '.join(usable)}")
        if (self.source, self.measure) not in cat.scopes:
            known = sorted(m for src, m in cat.scopes if src == self.source)
            raise BadDesign(f"unknown measure {self.measure!r} for source {self.source!r}; known: {', '.join(known)}")
        names = set(cat.neighborhoods["area_id"])
        for area in self.comparison or []:
            if area not in names:  # about 240 names: the closest few, not all of them
                near = difflib.get_close_matches(str(area), sorted(names), n=3) or sorted(names)[:3]
                raise BadDesign(f"unknown comparison neighborhood {area!r}; known: {len(names)} neighborhoods "
                                f"such as {', '.join(near)} (as on the Neighborhood page)")


def _usable_sources(cat: queries.Catalog, unit: str) -> list[str]:
    """Sources a unit can count: incident sources for `points`; for `areas` also neighborhood-level count tables."""
    by_neighborhood = {src for (src, _measure), (scope, _id) in cat.scopes.items() if scope == "neighborhood"}
    return sorted(s for s, kind in cat.kinds.items() if kind == "incidents" or (unit == "areas" and s in by_neighborhood))


def usable_sources(con: duckdb.DuckDBPyConnection, unit: str) -> list[str]:
    """The sources a unit can count, the unit's default first (what the Outreach page offers)."""
    found = _usable_sources(queries.catalog(con), unit)
    first = UNIT_DEFAULTS[unit][0]
    return [first] * (first in found) + [s for s in found if s != first]


def default_design(con: duckdb.DuckDBPyConnection, event: CanvassEvent) -> tuple[Design, str]:
    """GVA shooting points when GVA covers both windows, else KCPD neighborhood-month persons; and why."""
    months = _window_months(event.start_date, 6, 6)
    covered = queries.covered_months(con, "gva", has_coords=True)
    if all(m in covered for m in months["before"] + months["after"]):
        return Design("points", *UNIT_DEFAULTS["points"]), (
            "GVA covers both windows, so shootings are counted as points inside the footprint: the measure "
            "closest to what canvasses aim to prevent.")
    source, measure = UNIT_DEFAULTS["areas"]
    span = sorted(queries.covered_months(con, source))
    years = f" ({span[0]:%Y}-{span[-1]:%Y})" if span else ""
    why = ("No incident-level shooting data covers these windows; KCPD crimes against persons by neighborhood-month "
           f"is the only series with every month{years}, though it undercounts some years (the coverage line and "
           "the caveats below name them). It is dominated by simple assault.")
    published = [m for m in months["after"] if span and m <= pd.Timestamp(span[-1])]
    if span and 0 < len(published) < len(months["after"]):
        return Design("areas", source, measure, months_after=len(published)), (
            f"{why} The data run to {span[-1]:%Y-%m}, so the after window is the {plural(len(published), 'month')} "
            "published so far (6 when more are).")
    return Design("areas", source, measure), why


#: What every evaluation's reader should know, whatever the data.
DESIGN_CAVEATS = [
    "Before/after comparisons against similar places show whether a change is larger than chance; they cannot show "
    "that the canvass caused it.",
    "Months a source does not cover are never treated as zero: such windows are not evaluated.",
]


def labels(con: duckdb.DuckDBPyConnection, design: Design) -> dict:
    """The names a reader sees for the design's source and measure (the sources and categories tables), and the
    last month the source has usable counts for: after it, more months may still be published."""
    measure = con.execute("SELECT label, definition FROM categories WHERE category_id = ?", [design.measure]).fetchall()
    source = con.execute("SELECT label FROM sources WHERE source_id = ?", [design.source]).fetchall()
    usable = queries.covered_months(con, design.source, has_coords=True, firearm=queries.needs_firearm(con, design.measure))
    return {"measure_label": measure[0][0] if measure else design.measure,
            "measure_definition": (measure[0][1] or "") if measure else "",
            "source_label": source[0][0] if source else design.source,
            "data_end": max(usable).strftime("%Y-%m") if usable else None}


def caveats(con: duckdb.DuckDBPyConnection, design: Design, months: list[pd.Timestamp]) -> list[str]:
    """The caveats of the design actually used, from the database: the measure's definition, the source's caveat
    and the coverage notes of the months counted (e.g. the 2019-2021 coordinates gap), then DESIGN_CAVEATS."""
    label, definition = (con.execute("SELECT label, definition FROM categories WHERE category_id = ?",
                                     [design.measure]).fetchall() or [(design.measure, "")])[0]
    source = con.execute("SELECT label, caveat FROM sources WHERE source_id = ?", [design.source]).fetchall()
    notes = [r[0] for r in con.execute(
        """SELECT note FROM coverage WHERE source_id = ? AND note IS NOT NULL AND period_start IN (SELECT unnest(?))
           GROUP BY note ORDER BY min(period_start)""", [design.source, [m.date() for m in months]]).fetchall()]
    out = [f"Measure: {label}" + (f": {definition}" if definition else ".")]
    if source:
        out.append(f"{source[0][0]}: {source[0][1]}")
    return out + notes + DESIGN_CAVEATS


def _window_months(event_date: date, before: int, after: int) -> dict[str, list[pd.Timestamp]]:
    m = pd.Timestamp(event_date).to_period("M")
    return {"before": [(m - i).start_time for i in range(before, 0, -1)],
            "after": [(m + i).start_time for i in range(1, after + 1)]}


def _missing_message(base: dict, missing: list[str]) -> str:
    """Why windows with months the source lacks are not evaluated, and what a reader can do. Months after the
    source's last one, with the before window published, are "too soon" (the after window can be shortened to what
    is published); other gaps need data an administrator loads."""
    end, after = base["data_end"], base["windows"]["after"]
    admin = f"An administrator can bring those months in {HOW_TO_ADD.get(base['source'], HOW_TO_ADD['kcpd'])}"
    if end and all(m > end for m in missing) and all(m <= end for m in base["windows"]["before"]):
        published = sum(m <= end for m in after)
        what = (f"choose at most {plural(published, 'month')} after in the design, or wait for later months" if
                published else "wait until months after the canvass are published")
        return (f"Too soon to evaluate: {base['source_label']} has data to {end}, and this design's after window "
                f"runs to {after[-1]}. Months without data are never counted as zero, so {what}. {admin}")
    return (f"No data for {', '.join(missing)} in {base['source_label']}: the windows cannot be evaluated as if those "
            f"months were zero. Choose another source or shorter windows. {admin}")


def placebos(con, design: Design, reg: Regions, event_month: pd.Timestamp) -> dict:
    """The same local test at fake dates before the event, and for other neighborhoods as fake footprints, each
    against a comparison matched to it (analytics.placebo says why that matters).

    Both use neighborhood-month counts of the chosen source and measure (for the points unit, its
    neighborhood roll-up), so the real result can be set against what chance alone produces here.
    """
    from analytics import panel  # panel builds on this module

    nb, na = design.months_before, design.months_after
    first = pd.Timestamp(con.execute("SELECT min(period_start) FROM coverage WHERE source_id = ? AND grain = 'month'",
                                     [design.source]).fetchall()[0][0])
    months = list(pd.date_range(first, event_month + pd.DateOffset(months=na), freq="MS"))
    m = area_matrix(con, design.source, design.measure, months)
    z_dates = placebo.fake_dates(m, reg.footprint_areas, reg.control_areas, event_month, nb, na)
    skip = set(reg.footprint_areas) | set(reg.buffer_areas) | set(reg.control_areas)
    skip |= {a for areas in reg.left_out.values() for a in areas}  # canvassed elsewhere: no placebo
    z_areas = placebo.other_places(m, skip, panel.geo(con).wide, event_month, nb, na)
    return placebo.summarise(z_dates, z_areas)


def evaluate(con, event: CanvassEvent, design: Design | None = None, with_placebos: bool = True,
             others: list[CanvassEvent] | None = None) -> dict:
    """Everything the evaluation page and `analytics evaluate` show, as plain data.

    `others`: the other canvass events, whose footprints are left out of the comparison pools and placebos; None
    reads them from the registry, [] leaves nothing out. Raises BadDesign for a design value out of range or
    unknown (see Design.check), before anything is counted.
    """
    if design is not None:
        design.check(con)
    if not event.evaluable:
        return {"event": event.event_id, "name": event.name, "status": "needs a date",
                "message": "This event has no date, so it cannot be evaluated as stored. Try a date to see what the "
                           "evaluation would be (not saved), or an editor adds the date to the registry."}
    reason = None
    if design is None:
        design, reason = default_design(con, event)
    nb, na = design.months_before, design.months_after
    win = _window_months(event.start_date, nb, na)
    all_months = win["before"] + [pd.Timestamp(event.start_date).to_period("M").start_time] + win["after"]
    before_matrix = area_matrix(con, design.source, design.measure, win["before"])
    if others is None:
        others = registry.load()
    reg = regions(con, event, design, before_matrix, others)
    for role, areas in (("the footprint", reg.footprint_areas), ("its buffer, watched for displacement",
                                                                 reg.buffer_areas)):
        if clash := [a for a in design.comparison or [] if a in set(areas)]:
            one = len(clash) == 1
            raise BadDesign(f"{', '.join(clash)} {'is' if one else 'are'} in {role}, so {'it' if one else 'they'} "
                            f"cannot also be {'a comparison' if one else 'comparisons'}: the footprint would be "
                            "compared with itself or its own surroundings. Choose neighborhoods away from both "
                            "(the suggested ones are).")
    overlaps = overlapping(event, others, neighborhood_shapes(con), reg.footprint_areas,
                           {"before": win["before"], "after": win["after"]}, reg.buffer_areas)
    series = region_series(con, design, reg, all_months)
    empty = [k for k, v in (("footprint", reg.footprint_areas), ("comparison", reg.control_areas))
             if design.unit == "areas" and not v]  # no neighborhood to count: no month's gap, a refusal below
    drawn = [c for c in series.columns if c not in empty]
    missing = [m.strftime("%Y-%m") for m in win["before"] + win["after"] if series.loc[m, drawn].isna().any()]
    base = {"event": event.event_id, "name": event.name, "date": str(event.start_date),
            "date_confirmed": event.date_confirmed, "unit": design.unit,
            "source": design.source, "measure": design.measure, "design_reason": reason, **labels(con, design),
            "footprint": {"type": event.footprint_type, "radius_m": event.radius_m,
                          "width_m": event.corridor_width_m},
            "windows": {k: [m.strftime("%Y-%m") for m in v] for k, v in win.items()},
            "footprint_areas": reg.footprint_areas, "buffer_areas": reg.buffer_areas,
            "comparison_areas": reg.control_areas, "comparison_buffer_areas": reg.control_buffer_areas,
            "suggested_comparisons": reg.suggestions, "comparison_matches": reg.matches, "left_out": reg.left_out,
            "overlapping_events": overlaps, "shapes": _shapes(event, reg),
            "caveats": [overlap_caveat(o) for o in overlaps] + caveats(con, design, win["before"] + win["after"]),
            "monthly": [{"month": m.strftime("%Y-%m"), **{k: (None if pd.isna(v) else int(v)) for k, v in row.items()}}
                        for m, row in series.iterrows()]}
    if missing:
        return {**base, "status": "missing data", "missing_months": missing, "message": _missing_message(base, missing)}
    if empty:
        return {**base, "status": "missing data", "missing_months": [],
                "message": f"No {' or '.join(empty)} neighborhoods could be matched for this design, so there is "
                           "nothing to compare the footprint with. Choose comparison neighborhoods in the design."}
    b, a = series.loc[win["before"]].sum(), series.loc[win["after"]].sum()
    counts = {k: {"before": int(b[k]), "after": int(a[k])} for k in series.columns}
    result = wdd((b["footprint"], a["footprint"]), (b["comparison"], a["comparison"]),
                 (b["buffer"], a["buffer"]), (b["comparison buffer"], a["comparison buffer"]), nb, na)
    tests = as_dict(result)
    etest = stats.poisson_change(int(b["footprint"]), int(a["footprint"]), nb, na)
    plc = placebos(con, design, reg, pd.Timestamp(event.start_date).to_period("M").start_time) if with_placebos \
        else {"critical_z": Z90, "fake_dates": [], "other_areas": [], "share_beyond_nominal": None}
    mdd = minimum_detectable_drop(b["footprint"], b["comparison"], before_len=nb, after_len=na, z=plc["critical_z"])
    t0_rate = b["footprint"] / nb
    plc["share_as_large"] = placebo.share_as_large(plc, tests["local"]["z"])
    more_data = base["data_end"] is None or win["after"][-1].strftime("%Y-%m") >= base["data_end"]
    out = {**base, "status": "evaluated", "counts": counts, "wdd": tests,
           "etest": {"before": etest.before, "after": etest.after, "p_value": etest.p_value,
                     "verdict": etest.verdict},
           "minimum_detectable_drop": mdd, "placebo": plc, "more_data_may_come": more_data,
           "verdict": verdict(tests["local"], t0_rate, plc["critical_z"], mdd, more_data),
           "displacement": displacement_verdict(
               tests["displacement"], b["buffer"] / nb, plc["critical_z"],
               footprint_drop=tests["local"]["z"] is not None and tests["local"]["z"] < -plc["critical_z"],
               buffer_incidents=int(b["buffer"] + a["buffer"] + b["comparison buffer"] + a["comparison buffer"])),
           "methods_windows": methods_windows(con, event)}
    usable = queries.covered_months(con, design.source, has_coords=True, firearm=queries.needs_firearm(con, design.measure))
    room, month = na, win["after"][-1]
    while room < MONTHS[1] and (month := (month + pd.offsets.MonthBegin(1))) in usable:
        room += 1
    out["longest_after"] = room  # the longest after window the data allow, up to the first month without data
    windows = base["windows"]["before"] + base["windows"]["after"]
    # every partly covered month of the windows (the caveats name why); "undercounted" only when they are uneven
    out["partial_months"] = sorted(set(windows) & set(queries.partial_months(con, design.source)))
    out["undercounted"] = uneven_coverage(con, design.source, windows)
    out["etest"]["sentence"] = etest_sentence(out["etest"], nb, na, out["undercounted"])
    tests["local"]["ci_placebo"] = list(interval(tests["local"], plc["critical_z"]))
    return {**out, "in_short": in_short(out), "summary": summary(out)}


def uneven_coverage(con, source: str, months: list[str]) -> list[str]:
    """The partly covered months of `source` (the coverage notes: KCPD's 2017 and 2019-2021 undercounts, datasets
    that stop a few days early) among `months` ("YYYY-MM"), when the others are not: a raw before/after change across
    them is partly the data's. Empty when none, or all, are partial (an even undercount leaves a ratio alone)."""
    hit = sorted(set(months) & set(queries.partial_months(con, source)))
    return hit if len(hit) < len(set(months)) else []


def methods_windows(con, event: CanvassEvent) -> dict | None:
    """The windows the methods side by side use for this event (analytics.methods: synth.BEFORE and synth.AFTER
    months, shortened to months with data) and the footprint's own counts in them, so the paragraph can say why
    their answer may read differently from this one. None when those methods cannot run for the event."""
    from analytics import methods, panel, synth  # they build on this module

    m = panel.matrix(con)
    have = set(m.index[m.notna().all(axis=1)])
    pre, post = panel.windows(panel.month_of(event.start_date), synth.BEFORE, synth.AFTER)
    pre, post = [x for x in pre if x in have], [x for x in post if x in have]
    if len(pre) < methods.MIN_BEFORE or len(post) < methods.MIN_AFTER:
        return None
    t = m[list(panel.geo(con).footprint_areas(event))].sum(axis=1)
    label = con.execute("SELECT label FROM categories WHERE category_id = ?", [panel.MEASURE]).fetchall()
    return {"before": len(pre), "after": len(post), "first": pre[0].strftime("%Y-%m"), "last": post[-1].strftime("%Y-%m"),
            "measure": panel.MEASURE, "measure_label": label[0][0] if label else panel.MEASURE,
            "footprint": {"before": int(t[pre].sum()), "after": int(t[post].sum())},
            "undercounted": uneven_coverage(con, panel.SOURCE, [x.strftime("%Y-%m") for x in pre + post])}


def cumulative_difference(result: dict) -> pd.DataFrame:
    """After the event, the running sum of (footprint - comparison) beyond the before-window average, with a
    90% band from the Poisson variances (counts after, plus the before averages' share)."""
    monthly = pd.DataFrame(result["monthly"]).set_index("month")
    before, after = result["windows"]["before"], result["windows"]["after"]
    nb = len(before)
    t0, c0 = monthly.loc[before, "footprint"].sum(), monthly.loc[before, "comparison"].sum()
    diff = (monthly.loc[after, "footprint"] - monthly.loc[after, "comparison"]) - (t0 - c0) / nb
    k = np.arange(1, len(after) + 1)
    var = (monthly.loc[after, "footprint"] + monthly.loc[after, "comparison"]).cumsum() + k**2 * (t0 + c0) / nb**2
    out = pd.DataFrame({"month": after, "cumulative": diff.cumsum().to_numpy()})
    out["low"] = out["cumulative"] - Z90 * np.sqrt(var.to_numpy())
    out["high"] = out["cumulative"] + Z90 * np.sqrt(var.to_numpy())
    return out
