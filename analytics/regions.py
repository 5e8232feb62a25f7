"""The four regions of an Outreach evaluation (footprint, its buffer, the comparison and its buffer) and their
monthly counts.

Comparisons are matched on the before window only (level and relative trend), never next door to the footprint
and never at another registry event's site, so that neither the outcome nor a displaced or treated place steers the
choice. For the areas unit every region is a union of whole neighborhoods, since that is all the counts know.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import shapely

from analytics import geometry, queries
from analytics.registry import CanvassEvent, RegistryError

if TYPE_CHECKING:
    from analytics.evaluation import Design

#: the most similar neighborhoods listed for the reader (those actually used are listed wherever they rank)
SUGGESTIONS = 12


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


def other_sites(event: CanvassEvent, others: list[CanvassEvent], shapes: dict[str, shapely.Geometry],
                own: list[str] | tuple[str, ...] = ()) -> dict:
    """Other registry events' footprint neighborhoods (event name -> neighborhoods), whatever their date: a place
    that was canvassed too, or whose date is unknown, is no clean comparison for this one. The evaluated footprint's
    `own` neighborhoods are never listed: they are what is evaluated, not a comparison left out (an event sharing
    them is a contamination, see `overlapping`)."""
    out = {}
    for other in others:
        if other.event_id == event.event_id:
            continue
        try:
            areas = [a for a in footprint_neighborhoods(other, shapes) if a not in own]
        except RegistryError:  # a footprint that cannot be drawn leaves nothing out
            continue
        if areas:
            out[other.name] = areas
    return out


def overlapping(event: CanvassEvent, others: list[CanvassEvent], shapes: dict[str, shapely.Geometry],
                own: list[str], windows: dict[str, list[pd.Timestamp]], ring: list[str] = ()) -> list[dict]:
    """Other registry events in the evaluated footprint's own neighborhoods, or in its buffer ring (`ring`, watched
    for displacement), while its before or after window ran: a centre opening or an outreach team there moves those
    counts too, so the before/after change (or the buffer's) is not this event's alone. An event counts as running
    from its start month to analytics.panel.ACTIVE_MONTHS after its end (or start), the rule the other methods use;
    an undated one may have run at any time. `where` says which: "footprint" (first) or "buffer"."""
    from analytics.panel import ACTIVE_MONTHS  # panel builds on the evaluation

    out = []
    for other in others:
        if other.event_id == event.event_id:
            continue
        try:
            theirs = footprint_neighborhoods(other, shapes)
        except RegistryError:
            continue
        where = "footprint"
        shared = [a for a in theirs if a in own]
        if not shared:
            where, shared = "buffer", [a for a in theirs if a in ring]
        if not shared:
            continue
        row = {"event": other.event_id, "name": other.name, "neighborhoods": shared, "where": where,
               "date": None if other.start_date is None else str(other.start_date),
               "date_confirmed": other.date_confirmed, "windows": []}
        if other.start_date is not None:
            begin = pd.Timestamp(other.start_date).to_period("M")
            end = pd.Timestamp(other.end_date or other.start_date).to_period("M") + ACTIVE_MONTHS
            row["windows"] = [k for k, months in windows.items()
                              if months and begin <= months[-1].to_period("M") and end >= months[0].to_period("M")]
            if not row["windows"]:
                continue
        out.append(row)
    return out


def overlap_caveat(row: dict) -> str:
    """One overlapping event in words, for the caveats."""
    where = ", ".join(row["neighborhoods"])
    ring = row.get("where") == "buffer"
    part = "in this event's buffer, watched for displacement" if ring else "part of this footprint"
    whose = "a change in the buffer may be that event's, not displacement" if ring else (
        "the change is not this event's alone")
    if row["date"] is None:
        return (f"Another registry event, {row['name']}, worked in {where} ({part}) on a date that is not published: "
                f"it may fall inside these windows, so {whose.replace('is not', 'may not be')}.")
    when = row["date"][:7] + ("" if row["date_confirmed"] else ", day not confirmed")
    windows = f"{row['windows'][0]} window" if len(row["windows"]) == 1 else "before and after windows"
    return f"Another registry event, {row['name']} ({when}), worked in {where} ({part}) during the {windows}: {whose}."


def few_residents(con) -> set[str]:
    """Neighborhoods under the ranking's MIN_RANK_POPULATION residents (2010 Census): hospital, downtown and
    nightlife districts whose incidents are mostly visitors' and workers'. They are not suggested as comparisons for
    a residential footprint (blind review: Hospital Hill, 378 residents, matched Independence Avenue)."""
    from analytics.hotspots import MIN_RANK_POPULATION

    return {a for (a,) in con.execute("SELECT area_id FROM areas WHERE area_type = 'neighborhood' AND population < ?",
                                      [MIN_RANK_POPULATION]).fetchall()}


def regions(con, event: CanvassEvent, design: Design, before_matrix: pd.DataFrame,
            others: list[CanvassEvent] | None = None) -> Regions:
    """Footprint, buffer and comparison regions for the event, comparisons matched on the before window only.

    Neighborhoods within twice the buffer distance of the footprint are never comparisons, so displacement next
    door cannot leak into the control; neighborhoods of `others` (the other registry events) and those with few
    residents (`few_residents`) are left out of the comparison pools too. For the areas unit every region is a
    union of whole neighborhoods, since that is all the counts know. Comparisons the design names are used as given.
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
    left_out = other_sites(event, others or [], shapes, f_areas)
    exclude = set(f_areas) | set(b_areas) | {a for a, s in shapes.items() if s.intersects(exclude_zone)}
    exclude |= {a for areas in left_out.values() for a in areas}
    exclude |= few_residents(con)  # never suggested; a design may still name one
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
        # no comparison neighborhood (none could be matched) is no count: NaN, never a line at 0 (evaluate refuses);
        # an empty buffer ring stays 0, as the test's displacement part reads it
        out = pd.DataFrame({k: m[v].sum(axis=1, min_count=1) if v else (0.0 if "buffer" in k else np.nan)
                            for k, v in cols.items()})
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
