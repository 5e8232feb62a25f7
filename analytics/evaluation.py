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
from dataclasses import dataclass, field
from datetime import date

import duckdb
import numpy as np
import pandas as pd
import shapely

from analytics import geometry, queries, stats
from analytics.registry import CanvassEvent
from analytics.wdd import Z90, as_dict, minimum_detectable_drop, wdd

MIN_PLACEBOS = 20
HOW_TO_ADD = {
    "gva": "Bring those months in from a Gun Violence Archive export: python -m etl load FILE --source gva.",
    "kcpd": "Bring those months in from the city's portal with python -m etl refresh --since YEAR, or offline "
            "from its 'KCPD Crime Data <year>' files with python -m etl load FILE --source kcpd (see the Data page).",
}


#: The design values an evaluation accepts. Windows beyond three years mix in too much else that changed; a buffer
#: ring wider than 2 km is no longer "next door" (canvass footprints are a few blocks).
MONTHS = (1, 36)
MAX_BUFFER_M = 2000.0
#: each unit's source and measure when nothing else is chosen (see default_design)
UNIT_DEFAULTS = {"points": ("gva", "shooting"), "areas": ("kcpd_nbhd", "persons")}


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


@dataclass
class Regions:
    """The four regions of the weighted displacement difference test (footprint, its buffer, the comparison and
    its buffer) as shapes, with the neighborhoods in each: area-unit counts exist only per whole neighborhood.
    `suggestions` are the ranked comparison candidates shown to the reader."""
    footprint: shapely.Geometry
    buffer: shapely.Geometry
    control: shapely.Geometry
    control_buffer: shapely.Geometry
    footprint_areas: list[str]
    buffer_areas: list[str]
    control_areas: list[str]
    control_buffer_areas: list[str]
    suggestions: list[dict] = field(default_factory=list)


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
    return Design("areas", source, measure), (
        "No incident-level shooting data covers these windows; KCPD crimes against persons by neighborhood-month is "
        f"the only continuous series{years}. It is dominated by simple assault; see the caveats below.")


#: What every evaluation's reader should know, whatever the data.
DESIGN_CAVEATS = [
    "Before/after comparisons against similar places show whether a change is larger than chance; they cannot show "
    "that the canvass caused it.",
    "Months a source does not cover are never treated as zero: such windows are not evaluated.",
]


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


def neighborhood_shapes(con) -> dict[str, shapely.Geometry]:
    """Every neighborhood's polygon by area_id, parsed once per set of borders (geometry.neighborhood_shapes caches
    on the WKT) rather than on every evaluation."""
    pairs = con.execute("SELECT area_id, geometry_wkt FROM areas WHERE area_type = 'neighborhood'").fetchall()
    return geometry.neighborhood_shapes(tuple(pairs))


def area_matrix(con, source: str, measure: str, months: list[pd.Timestamp]) -> pd.DataFrame:
    """Month x neighborhood counts; rows for months the source does not cover (for areas) are NaN."""
    covered = queries.covered_months(con, source, has_coords=True, firearm=queries.needs_firearm(con, measure))
    counts = con.execute(
        """SELECT date_trunc('month', period_start)::DATE AS month, area_id, sum(n) AS n FROM area_counts
           WHERE source_id = ? AND measure = ? AND area_type = 'neighborhood' AND grain IN ('day', 'month')
             AND period_start BETWEEN ? AND ? GROUP BY 1, 2""",
        [source, measure, min(months).date(), (max(months) + pd.offsets.MonthEnd(0)).date()]).df()
    areas = [r[0] for r in con.execute("SELECT area_id FROM areas WHERE area_type = 'neighborhood'").fetchall()]
    matrix = counts.pivot_table(index="month", columns="area_id", values="n", aggfunc="sum")
    matrix.index = pd.to_datetime(matrix.index)
    matrix = matrix.reindex(index=pd.DatetimeIndex(months), columns=sorted(areas)).fillna(0.0)
    matrix.loc[[m not in covered for m in matrix.index]] = np.nan
    return matrix


def point_matrix(con, source: str, measure: str, shapes: dict[str, shapely.Geometry],
                 months: list[pd.Timestamp]) -> pd.DataFrame:
    """Month x named shape counts of incident points inside each shape (NaN for uncovered months)."""
    covered = queries.covered_months(con, source, has_coords=True, firearm=queries.needs_firearm(con, measure))
    pts = con.execute(
        """SELECT date_trunc('month', i.event_date)::DATE AS month, i.lon, i.lat FROM incidents i
           JOIN incident_categories c USING (incident_id)
           WHERE i.source_id = ? AND c.category_id = ? AND i.lat IS NOT NULL AND i.event_date BETWEEN ? AND ?""",
        [source, measure, min(months).date(), (max(months) + pd.offsets.MonthEnd(0)).date()]).df()
    out = pd.DataFrame(0.0, index=pd.DatetimeIndex(months), columns=list(shapes))
    if len(pts):
        pts["month"] = pd.to_datetime(pts["month"])
        for name, shape in shapes.items():
            inside = shapely.contains_xy(shape, pts["lon"].to_numpy(), pts["lat"].to_numpy())
            out[name] = pts[inside].groupby("month").size().reindex(out.index).fillna(0.0)
    out.loc[[m not in covered for m in out.index]] = np.nan
    return out


def _level_trend(series: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    x = np.arange(len(series))
    level = series.mean()
    centred = x - x.mean()
    slope = (series.mul(centred, axis=0).sum()) / max((centred**2).sum(), 1)
    return level, slope / (level + 0.5)


def suggest(before: pd.DataFrame, treated_before: pd.Series, exclude: set[str], limit: int = 12) -> list[dict]:
    """Neighborhoods most like the footprint in the before window (level and relative trend): a comparison is fair
    only if it moved like the footprint before the event, and using the before window alone keeps the outcome from
    steering the choice."""
    candidates = before[[c for c in before.columns if c not in exclude]].dropna(axis=1)
    level, trend = _level_trend(candidates)
    t_level, t_trend = _level_trend(treated_before.to_frame("t"))
    score = np.abs(np.log((level + 0.5) / (t_level["t"] + 0.5))) + np.abs(trend - t_trend["t"])
    ranked = score.sort_values().head(limit)
    return [{"area": a, "score": round(float(s), 3), "before_mean": round(float(level[a]), 2)} for a, s in
            ranked.items()]


def choose_controls(suggestions: list[dict], treated_before_total: float, before: pd.DataFrame) -> list[str]:
    """Take the best matches while their summed before-count gets closer to the footprint's."""
    chosen, total = [], 0.0
    for s in suggestions:
        add = float(before[s["area"]].sum())
        if chosen and abs(total + add - treated_before_total) >= abs(total - treated_before_total):
            break
        chosen.append(s["area"])
        total += add
    return chosen


def _match_each(before: pd.DataFrame, areas: list[str], exclude: set[str]) -> list[str]:
    """For each area, the most similar unused neighborhood outside `exclude` (nearest-neighbour matching)."""
    chosen: list[str] = []
    for a in areas:
        chosen += [s["area"] for s in suggest(before, before[a], exclude | set(chosen), 1)]
    return chosen


def regions(con, event: CanvassEvent, design: Design, before_matrix: pd.DataFrame) -> Regions:
    """Footprint, buffer and comparison regions for the event, comparisons matched on the before window only.

    Neighborhoods within twice the buffer distance of the footprint are never comparisons, so displacement next
    door cannot leak into the control. For the areas unit every region is a union of whole neighborhoods, since
    that is all the counts know. Comparisons the design names are used as given.
    """
    shapes = neighborhood_shapes(con)
    if event.footprint_type == "neighborhoods":
        f_areas = list(event.neighborhoods)
        footprint = shapely.union_all([shapes[a] for a in f_areas])
    else:
        footprint = event.footprint()
        f_areas = [a for a, s in shapes.items() if s.intersects(footprint)
                   and s.intersection(footprint).area >= 0.05 * footprint.area]
        if design.unit == "areas":  # counts are by whole neighborhoods, so the footprint is their union
            footprint = shapely.union_all([shapes[a] for a in f_areas])
    near = geometry.buffer_m(footprint, design.buffer_m)
    b_areas = [a for a, s in shapes.items() if a not in f_areas and s.intersects(near)
               and s.intersection(near).area >= 0.02 * s.area]
    exclude_zone = geometry.buffer_m(footprint, 2 * design.buffer_m)
    exclude = set(f_areas) | set(b_areas) | {a for a, s in shapes.items() if s.intersects(exclude_zone)}
    if design.unit == "areas":
        treated_before = before_matrix[f_areas].sum(axis=1)
        buffer_shape = shapely.union_all([shapes[a] for a in b_areas]) if b_areas else shapely.Polygon()
    else:
        treated_before = point_matrix(con, design.source, design.measure, {"t": footprint},
                                      list(before_matrix.index))["t"]
        buffer_shape = geometry.ring(footprint, design.buffer_m)
    suggestions = suggest(before_matrix, treated_before, exclude)
    if design.comparison:
        c_areas = list(design.comparison)
    elif design.unit == "areas":
        c_areas = _match_each(before_matrix, f_areas, exclude)
    else:
        c_areas = choose_controls(suggestions, float(treated_before.sum()), before_matrix)
    control = shapely.union_all([shapes[a] for a in c_areas])
    if design.unit == "areas":  # the comparison buffer is matched to the buffer, neighborhood by neighborhood
        e_areas = _match_each(before_matrix, b_areas, exclude | set(c_areas))
        control_buffer = shapely.union_all([shapes[a] for a in e_areas]) if e_areas else shapely.Polygon()
    else:
        c_near = geometry.buffer_m(control, design.buffer_m)
        e_areas = [a for a, s in shapes.items() if a not in c_areas and a not in exclude and s.intersects(c_near)
                   and s.intersection(c_near).area >= 0.05 * s.area]
        control_buffer = geometry.ring(control, design.buffer_m).difference(near)
    return Regions(footprint, buffer_shape, control, control_buffer, f_areas, b_areas, c_areas, e_areas, suggestions)


def region_series(con, design: Design, reg: Regions, months: list[pd.Timestamp]) -> pd.DataFrame:
    """Monthly counts in footprint, buffer, comparison and comparison buffer. A month the source does not cover
    stays NaN, never 0, so a window with a gap is refused rather than read as a drop."""
    if design.unit == "areas":
        m = area_matrix(con, design.source, design.measure, months)
        cols = {"footprint": reg.footprint_areas, "buffer": reg.buffer_areas, "comparison": reg.control_areas,
                "comparison buffer": reg.control_buffer_areas}
        out = pd.DataFrame({k: m[v].sum(axis=1, min_count=1) if v else 0.0 for k, v in cols.items()})
        out[m.isna().all(axis=1)] = np.nan
        return out
    shapes = {"footprint": reg.footprint, "buffer": reg.buffer, "comparison": reg.control,
              "comparison buffer": reg.control_buffer}
    return point_matrix(con, design.source, design.measure, shapes, months)


def _shapes(event: CanvassEvent, reg: Regions) -> dict:
    """GeoJSON of each region (simplified, about 10 m) for maps and reports."""
    named = {"footprint": reg.footprint, "buffer": reg.buffer, "comparison": reg.control,
             "comparison buffer": reg.control_buffer}
    if event.footprint() is not None:
        named["canvass"] = event.footprint()
    return {k: shapely.geometry.mapping(g.simplify(0.0001)) for k, g in named.items() if not g.is_empty}


def _z_local(t0, t1, c0, c1, before_len, after_len) -> float | None:
    return wdd((t0, t1), (c0, c1), before_len=before_len, after_len=after_len)["local"].z


def placebos(con, design: Design, reg: Regions, event_month: pd.Timestamp) -> dict:
    """The same local test at fake dates before the event, and for other neighborhoods as fake footprints.

    Both use neighborhood-month counts of the chosen source and measure (for the points unit, its
    neighborhood roll-up), so the real result can be set against what chance alone produces here.
    """
    nb, na = design.months_before, design.months_after
    first = pd.Timestamp(con.execute("SELECT min(period_start) FROM coverage WHERE source_id = ? AND grain = 'month'",
                                     [design.source]).fetchall()[0][0])
    months = list(pd.date_range(first, event_month + pd.DateOffset(months=na), freq="MS"))
    m = area_matrix(con, design.source, design.measure, months)
    treated = m[reg.footprint_areas].sum(axis=1, min_count=1) if reg.footprint_areas else None
    control = m[reg.control_areas].sum(axis=1, min_count=1)
    z_dates = []
    if treated is not None:
        latest_fake = event_month - pd.DateOffset(months=nb + na + 1)
        for fake in pd.date_range(first + pd.DateOffset(months=nb), latest_fake, freq="MS"):
            b = pd.date_range(fake - pd.DateOffset(months=nb), periods=nb, freq="MS")
            a = pd.date_range(fake + pd.DateOffset(months=1), periods=na, freq="MS")
            t0, t1, c0, c1 = treated[b].sum(), treated[a].sum(), control[b].sum(), control[a].sum()
            if treated[b.union(a)].notna().all() and (z := _z_local(t0, t1, c0, c1, nb, na)) is not None:
                z_dates.append(z)
    b = pd.date_range(event_month - pd.DateOffset(months=nb), periods=nb, freq="MS")
    a = pd.date_range(event_month + pd.DateOffset(months=1), periods=na, freq="MS")
    skip = set(reg.footprint_areas) | set(reg.buffer_areas) | set(reg.control_areas)
    z_areas = []
    if m.loc[b.union(a)].notna().all(axis=None) and not m.empty:
        c0, c1 = control[b].sum(), control[a].sum()
        for area in m.columns:
            if area in skip:
                continue
            t0, t1 = m.loc[b, area].sum(), m.loc[a, area].sum()
            if t0 + t1 > 0 and (z := _z_local(t0, t1, c0, c1, nb, na)) is not None:
                z_areas.append(z)
    every = np.abs(np.array(z_dates + z_areas))
    return {
        "fake_dates": [round(z, 3) for z in z_dates], "other_areas": [round(z, 3) for z in z_areas],
        "share_beyond_nominal": None if not len(every) else round(float((every > Z90).mean()), 3),
        "critical_z": max(Z90, float(np.quantile(every, 0.9))) if len(every) >= MIN_PLACEBOS else Z90,
    }


def _pct(value: float, base: float) -> float | None:
    return None if base <= 0 else 100.0 * value / base


def verdict(local: dict, t0_rate: float, critical: float, mdd: float | None) -> str:
    """Plain words that never claim more than the numbers allow."""
    z = local["z"]
    if z is None:
        return "No incidents in the footprint or comparison areas in either window: nothing to evaluate."
    pct = _pct(local["estimate"], t0_rate)
    lo, hi = (_pct(x, t0_rate) for x in local["ci90"])
    ci = "" if lo is None else f" (90% CI {lo:+.0f}% to {hi:+.0f}%)"
    if abs(z) <= critical:
        need = "no drop, however large, could be told from noise with counts this small" if mdd is None else (
            f"a drop of at least {100 * mdd:.0f}% would be needed to tell")
        return f"No detectable change yet relative to the comparison areas; {need}."
    word = "drop" if z < 0 else "rise"
    return (f"Consistent with a {word} of {abs(pct):.0f}% relative to the comparison areas{ci}. "
            "This compares places; it does not show that the canvass caused the change.")


def displacement_verdict(disp: dict, d0_rate: float, critical: float) -> str:
    """Did the buffer change relative to the comparison buffer? A rise suggests displacement, a drop diffusion."""
    if disp["z"] is None:
        return "No incidents in the buffers in either window: displacement cannot be assessed."
    if abs(disp["z"]) <= critical:
        return "Buffer: no detectable change relative to the comparison buffer (no sign of displacement)."
    pct = _pct(abs(disp["estimate"]), d0_rate)
    share = "" if pct is None else f" of {pct:.0f}%"
    if disp["z"] > 0:
        return f"Buffer: a rise{share} relative to the comparison buffer, consistent with displacement next door."
    return f"Buffer: a drop{share} relative to the comparison buffer, consistent with a diffusion of benefits."


def evaluate(con, event: CanvassEvent, design: Design | None = None, with_placebos: bool = True) -> dict:
    """Everything the evaluation page and `analytics evaluate` show, as plain data.

    Raises BadDesign for a design value out of range or unknown (see Design.check), before anything is counted.
    """
    if design is not None:
        design.check(con)
    if not event.evaluable:
        return {"event": event.event_id, "status": "needs a date",
                "message": "This event has no date, so it cannot be evaluated. Add the date to the registry."}
    reason = None
    if design is None:
        design, reason = default_design(con, event)
    nb, na = design.months_before, design.months_after
    win = _window_months(event.start_date, nb, na)
    all_months = win["before"] + [pd.Timestamp(event.start_date).to_period("M").start_time] + win["after"]
    before_matrix = area_matrix(con, design.source, design.measure, win["before"])
    reg = regions(con, event, design, before_matrix)
    series = region_series(con, design, reg, all_months)
    missing = [m.strftime("%Y-%m") for m in win["before"] + win["after"] if series.loc[m].isna().any()]
    base = {"event": event.event_id, "name": event.name, "date": str(event.start_date), "unit": design.unit,
            "source": design.source, "measure": design.measure, "design_reason": reason,
            "windows": {k: [m.strftime("%Y-%m") for m in v] for k, v in win.items()},
            "footprint_areas": reg.footprint_areas, "buffer_areas": reg.buffer_areas,
            "comparison_areas": reg.control_areas, "comparison_buffer_areas": reg.control_buffer_areas,
            "suggested_comparisons": reg.suggestions,
            "shapes": _shapes(event, reg), "caveats": caveats(con, design, win["before"] + win["after"]),
            "monthly": [{"month": m.strftime("%Y-%m"), **{k: (None if pd.isna(v) else int(v)) for k, v in row.items()}}
                        for m, row in series.iterrows()]}
    if missing:
        return {**base, "status": "missing data", "missing_months": missing,
                "message": f"No data for {', '.join(missing)} in {design.source}: the windows cannot be evaluated as "
                           f"if those months were zero. {HOW_TO_ADD.get(design.source, HOW_TO_ADD['kcpd'])} "
                           "Or choose another source or shorter windows."}
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
    return {**base, "status": "evaluated", "counts": counts, "wdd": tests,
            "etest": {"before": etest.before, "after": etest.after, "p_value": etest.p_value,
                      "verdict": etest.verdict, "sentence": etest.sentence},
            "minimum_detectable_drop": mdd, "placebo": plc,
            "verdict": verdict(tests["local"], t0_rate, plc["critical_z"], mdd),
            "displacement": displacement_verdict(tests["displacement"], b["buffer"] / nb, plc["critical_z"])}


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
