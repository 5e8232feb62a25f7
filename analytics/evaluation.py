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

from analytics import geometry, placebo, queries, registry, stats
from analytics.registry import CanvassEvent, RegistryError
from analytics.wdd import Z90, as_dict, minimum_detectable_drop, wdd

#: the most similar neighborhoods listed for the reader (those actually used are listed wherever they rank)
SUGGESTIONS = 12
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
    #: other canvass sites left out of the comparison pools and placebos: event name -> its footprint neighborhoods
    left_out: dict[str, list[str]] = field(default_factory=dict)
    #: which comparison neighborhood was matched to which footprint or buffer neighborhood (areas unit)
    matches: dict[str, str] = field(default_factory=dict)


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
    return [{"area": a, "rank": i, "score": round(float(s), 3), "before_mean": round(float(level[a]), 2)}
            for i, (a, s) in enumerate(ranked.items(), start=1)]


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


def _match_each(before: pd.DataFrame, areas: list[str], exclude: set[str]) -> dict[str, str]:
    """For each area, the most similar unused neighborhood outside `exclude` (nearest-neighbour matching)."""
    chosen: dict[str, str] = {}
    for a in areas:
        for s in suggest(before, before[a], exclude | set(chosen.values()), 1):
            chosen[a] = s["area"]
    return chosen


def footprint_neighborhoods(event: CanvassEvent, shapes: dict[str, shapely.Geometry]) -> list[str]:
    """The neighborhoods an event's footprint stands for: those it names, or those holding at least 5% of its corridor
    or circle."""
    if event.footprint_type == "neighborhoods":
        return [a for a in event.neighborhoods if a in shapes]
    footprint = event.footprint()
    return [a for a, s in shapes.items() if s.intersects(footprint)
            and s.intersection(footprint).area >= 0.05 * footprint.area]


def other_sites(event: CanvassEvent, others: list[CanvassEvent], shapes: dict[str, shapely.Geometry]) -> dict:
    """Other registry events' footprint neighborhoods (event name -> neighborhoods), whatever their date: a place
    that was canvassed too, or whose date is unknown, is no clean comparison for this one."""
    out = {}
    for other in others:
        if other.event_id == event.event_id:
            continue
        try:
            areas = footprint_neighborhoods(other, shapes)
        except RegistryError:  # a footprint that cannot be drawn leaves nothing out
            continue
        if areas:
            out[other.name] = areas
    return out


def regions(con, event: CanvassEvent, design: Design, before_matrix: pd.DataFrame,
            others: list[CanvassEvent] | None = None) -> Regions:
    """Footprint, buffer and comparison regions for the event, comparisons matched on the before window only.

    Neighborhoods within twice the buffer distance of the footprint are never comparisons, so displacement next
    door cannot leak into the control; neighborhoods of `others` (the other registry events) are left out of the
    comparison pools too. For the areas unit every region is a union of whole neighborhoods, since that is all the
    counts know. Comparisons the design names are used as given.
    """
    shapes = neighborhood_shapes(con)
    f_areas = footprint_neighborhoods(event, shapes)
    if event.footprint_type == "neighborhoods" or design.unit == "areas":
        footprint = shapely.union_all([shapes[a] for a in f_areas])  # counts are by whole neighborhoods
    else:
        footprint = event.footprint()
    near = geometry.buffer_m(footprint, design.buffer_m)
    b_areas = [a for a, s in shapes.items() if a not in f_areas and s.intersects(near)
               and s.intersection(near).area >= 0.02 * s.area]
    exclude_zone = geometry.buffer_m(footprint, 2 * design.buffer_m)
    left_out = other_sites(event, others or [], shapes)
    exclude = set(f_areas) | set(b_areas) | {a for a, s in shapes.items() if s.intersects(exclude_zone)}
    exclude |= {a for areas in left_out.values() for a in areas}
    if design.unit == "areas":
        treated_before = before_matrix[f_areas].sum(axis=1)
        buffer_shape = shapely.union_all([shapes[a] for a in b_areas]) if b_areas else shapely.Polygon()
    else:
        treated_before = point_matrix(con, design.source, design.measure, {"t": footprint},
                                      list(before_matrix.index))["t"]
        buffer_shape = geometry.ring(footprint, design.buffer_m)
    ranked = suggest(before_matrix, treated_before, exclude, limit=len(shapes))
    matches: dict[str, str] = {}
    if design.comparison:
        c_areas = list(design.comparison)
    elif design.unit == "areas":
        matches = _match_each(before_matrix, f_areas, exclude)
        c_areas = list(matches.values())
    else:
        c_areas = choose_controls(ranked, float(treated_before.sum()), before_matrix)
    control = shapely.union_all([shapes[a] for a in c_areas])
    if design.unit == "areas":  # the comparison buffer is matched to the buffer, neighborhood by neighborhood
        buffer_matches = _match_each(before_matrix, b_areas, exclude | set(c_areas))
        matches |= buffer_matches
        e_areas = list(buffer_matches.values())
        control_buffer = shapely.union_all([shapes[a] for a in e_areas]) if e_areas else shapely.Polygon()
    else:
        c_near = geometry.buffer_m(control, design.buffer_m)
        e_areas = [a for a, s in shapes.items() if a not in c_areas and a not in exclude and s.intersects(c_near)
                   and s.intersection(c_near).area >= 0.05 * s.area]
        control_buffer = geometry.ring(control, design.buffer_m).difference(near)
    used = set(c_areas) | set(e_areas)  # the most similar, and every neighborhood actually used wherever it ranks
    suggestions = [s for i, s in enumerate(ranked) if i < SUGGESTIONS or s["area"] in used]
    return Regions(footprint, buffer_shape, control, control_buffer, f_areas, b_areas, c_areas, e_areas, suggestions,
                   left_out, matches)


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


def _pct(value: float, base: float) -> float | None:
    return None if base <= 0 else 100.0 * value / base


def verdict(local: dict, t0_rate: float, critical: float, mdd: float | None, more_data: bool = True) -> str:
    """Plain words that never claim more than the numbers allow; "yet" only when `more_data` (months after the
    window may still be published)."""
    z = local["z"]
    if z is None:
        return "No incidents in the footprint or comparison areas in either window: nothing to evaluate."
    pct = _pct(local["estimate"], t0_rate)
    lo, hi = (_pct(x, t0_rate) for x in local["ci90"])
    ci = "" if lo is None else f" (90% CI {lo:+.0f}% to {hi:+.0f}%)"
    if abs(z) <= critical:
        need = "no drop, however large, could be told from noise with counts this small" if mdd is None else (
            f"a drop of at least {100 * mdd:.0f}% would be needed to tell")
        return f"No detectable change{' yet' * more_data} relative to the comparison areas; {need}."
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


def _change(pair: dict, nb: int, na: int) -> tuple[float | None, str]:
    """Percent change of the monthly rate, and it in words: "fell 22% (361 → 283)"."""
    b, a = pair["before"], pair["after"]
    pct = _pct(a / na - b / nb, b / nb)
    counts = f"({b:,} → {a:,})" if nb == na else f"({b / nb:,.1f} → {a / na:,.1f} a month)"
    if pct is None:
        return None, f"went from none to {a:,}" if a else "stayed at none"
    if round(pct) == 0:
        return pct, f"stayed level {counts}"
    return pct, f"{'fell' if pct < 0 else 'rose'} {abs(pct):.0f}% {counts}"


def _where(result: dict) -> str:
    """Where the footprint's incidents were counted, in words."""
    areas, fp = result["footprint_areas"], result["footprint"]
    shape = {"corridor": "the corridor", "point": f"the {fp['radius_m'] or 0:,.0f} m circle"}.get(fp["type"])
    if result["unit"] == "points" and shape:
        return f"inside {shape}"
    if shape is None or len(areas) == 1:
        return "in " + (", ".join(areas[:-1]) + " and " + areas[-1] if len(areas) > 1 else areas[0])
    return f"in the {len(areas)} neighborhoods around {shape}"


def _per_month(x: float) -> str:
    return "0.0" if round(x, 1) == 0 else f"{abs(x):.1f} {'fewer' if x < 0 else 'more'}"


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _noise(result: dict, detectable: bool) -> str:
    """Whether the relative change stands out from what the placebos (places and dates without a canvass) show."""
    plc = result["placebo"]
    n = len(plc["fake_dates"]) + len(plc["other_areas"])
    if not n or plc.get("share_as_large") is None:
        return (f"Judged against the usual 90% threshold (no placebo checks were run), that is "
                f"{'larger than' if detectable else 'within'} ordinary noise.")
    checks = (f"{100 * plc['share_as_large']:.0f}% of {n:,} placebo checks (the same test at {len(plc['fake_dates'])} "
              f"earlier dates and in {len(plc['other_areas'])} other neighborhoods, where no canvass took place) "
              "moved at least as far")
    if detectable:
        return f"That is larger than the noise places like these show: only {checks}."
    return f"That is within the noise places like these show: {checks}."


def _reconcile(result: dict, detectable: bool, comparison_pct: float | None, comparison_words: str) -> str:
    """Why the raw e-test and the relative test can both be right."""
    e, local = result["etest"], result["wdd"]["local"]
    raw_clear = e["verdict"] in ("up", "down")
    word = "drop" if e["verdict"] == "down" else "rise"
    if raw_clear and not detectable:
        t0 = result["counts"]["footprint"]["before"] / len(result["windows"]["before"])
        rest = "" if t0 <= 0 else f" ({abs(100 * local['estimate'] / t0):.0f}% of the footprint's level)"
        same_way = comparison_pct is not None and round(comparison_pct) != 0 and (comparison_pct < 0) == (word == "drop")
        matched = (f"part of it is matched by the comparison neighborhoods' {abs(comparison_pct):.0f}% {word} over the "
                   f"same months, and the rest{rest} is within that noise" if same_way else
                   f"set against the comparison neighborhoods, which {comparison_words.split(' (')[0]}, and the "
                   "placebos' spread, it does not stand out")
        return (f"So both hold: the footprint's own {word} is larger than chance on its own (Poisson e-test, "
                f"{_p(e['p_value'])}), but {matched}.")
    if detectable and not raw_clear:
        return ("The footprint's own change is within ordinary noise (Poisson e-test); it stands out only against "
                f"the comparison neighborhoods, which {comparison_words}.")
    if detectable:
        return "This compares places; it does not show that the canvass caused the change."
    return ""


def _to_tell(result: dict) -> str:
    """What it would take to tell a change from noise: a larger drop, or more months (now, or once published)."""
    mdd, na = result["minimum_detectable_drop"], len(result["windows"]["after"])
    need = (f"No drop, however large, could be told from noise with counts this small over {na} months" if mdd is None
            else f"To tell, the footprint would have to fall at least {100 * mdd:.0f}% relative to the comparisons "
                 f"over {na} months")
    if result["more_data_may_come"]:
        end = f" (the source's last month is {result['data_end']})" if result["data_end"] else ""
        return f"{need}; this is not settled yet: more months of data may still be published{end}."
    after_end = pd.Period(result["windows"]["after"][-1], "M")
    room = min(MONTHS[1], na + (pd.Period(result["data_end"], "M") - after_end).n)
    return (f"{need}. The data run to {result['data_end']}, so a longer after window (up to {room} months) can be "
            "tried in the design.")


def summary(result: dict) -> str:
    """One plain paragraph built from the numbers: what happened in the footprint and in the comparisons, the change
    relative to them, whether that stands out from the noise the placebos show, what it would take to tell, and
    what was counted where (the measure's label and definition, never its id). Used by the Outreach page, the CLI
    and the report."""
    if result.get("status") != "evaluated":
        return result.get("message", "")
    nb, na = len(result["windows"]["before"]), len(result["windows"]["after"])
    before, after = result["windows"]["before"], result["windows"]["after"]
    c = result["counts"]
    _, fp_words = _change(c["footprint"], nb, na)
    cp_pct, cp_words = _change(c["comparison"], nb, na)
    k = len(result["comparison_areas"])
    parts = [f"{result['measure_label']} ({result['source_label']}) {_where(result)} {fp_words} from the {nb} "
             f"months before the canvass ({before[0]} to {before[-1]}) to the {na} months after ({after[0]} to "
             f"{after[-1]}); in the {k} comparison neighborhood{'s' * (k != 1)} they {cp_words} over the same months."]
    local = result["wdd"]["local"]
    if local["z"] is None:
        parts.append("There were no incidents in either window to compare.")
    else:
        t0 = c["footprint"]["before"] / nb
        share = "" if t0 <= 0 else f", {abs(100 * local['estimate'] / t0):.0f}% of its level before"
        lo, hi = local["ci90"]
        moved = ("moved by the same amount" if round(local["estimate"], 1) == 0 else
                 f"had {_per_month(local['estimate'])} a month{share}")
        parts.append(f"Relative to the comparisons, the footprint {moved} (90% interval: {_per_month(lo)} to "
                     f"{_per_month(hi)} a month).")
        detectable = abs(local["z"]) > result["placebo"]["critical_z"]
        parts += [_noise(result, detectable), _reconcile(result, detectable, cp_pct, cp_words)]
        if not detectable:
            parts.append(_to_tell(result))
    if result["measure_definition"]:
        parts.append(f"{result['measure_label']} here means {result['measure_definition']}")
    return " ".join(p for p in parts if p)


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
    series = region_series(con, design, reg, all_months)
    missing = [m.strftime("%Y-%m") for m in win["before"] + win["after"] if series.loc[m].isna().any()]
    base = {"event": event.event_id, "name": event.name, "date": str(event.start_date), "unit": design.unit,
            "source": design.source, "measure": design.measure, "design_reason": reason, **labels(con, design),
            "footprint": {"type": event.footprint_type, "radius_m": event.radius_m,
                          "width_m": event.corridor_width_m},
            "windows": {k: [m.strftime("%Y-%m") for m in v] for k, v in win.items()},
            "footprint_areas": reg.footprint_areas, "buffer_areas": reg.buffer_areas,
            "comparison_areas": reg.control_areas, "comparison_buffer_areas": reg.control_buffer_areas,
            "suggested_comparisons": reg.suggestions, "comparison_matches": reg.matches, "left_out": reg.left_out,
            "shapes": _shapes(event, reg), "caveats": caveats(con, design, win["before"] + win["after"]),
            "monthly": [{"month": m.strftime("%Y-%m"), **{k: (None if pd.isna(v) else int(v)) for k, v in row.items()}}
                        for m, row in series.iterrows()]}
    if missing:
        return {**base, "status": "missing data", "missing_months": missing,
                "message": f"No data for {', '.join(missing)} in {base['source_label']}: the windows cannot be evaluated as "
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
    plc["share_as_large"] = placebo.share_as_large(plc, tests["local"]["z"])
    more_data = base["data_end"] is None or win["after"][-1].strftime("%Y-%m") >= base["data_end"]
    out = {**base, "status": "evaluated", "counts": counts, "wdd": tests,
           "etest": {"before": etest.before, "after": etest.after, "p_value": etest.p_value,
                     "verdict": etest.verdict, "sentence": etest.sentence},
           "minimum_detectable_drop": mdd, "placebo": plc, "more_data_may_come": more_data,
           "verdict": verdict(tests["local"], t0_rate, plc["critical_z"], mdd, more_data),
           "displacement": displacement_verdict(tests["displacement"], b["buffer"] / nb, plc["critical_z"])}
    return {**out, "summary": summary(out)}


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
