"""A neighborhood's profile: trend against the city, when incidents happen, what they are, who is involved
(aggregates only, small cells suppressed), its neighbours, and the canvasses that touched it."""

from __future__ import annotations

import duckdb
import pandas as pd
import shapely

from analytics import queries, registry
from analytics.queries import Filter

SMALL_CELL = 3  # people counts below this are never shown
#: the trend against the city is indexed (each month as % of the area's own average) only when the area averages at
#: least this many incidents a month: below it one incident reads as a spike of hundreds or thousands (a single
#: shooting in Hospital Hill over 52 months read as 5,500), so the page shows plain monthly counts instead
MIN_INDEX_MONTHLY = 3.0
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


def indexed_trend(con: duckdb.DuckDBPyConnection, f: Filter) -> pd.DataFrame:
    """Monthly counts for the area and the city, each as a percentage of its own average over the period, so a
    neighborhood's trend and the city's share one axis whatever their sizes."""
    area = queries.monthly(con, f)
    city = queries.monthly(con, Filter(f.source, f.category, f.start, f.end))
    out = pd.DataFrame({"month": area["month"], "area": area["n"], "city": city["n"], "status": area["status"],
                        "note": area["note"]})
    for col in ("area", "city"):
        mean = out[col].mean()
        out[f"{col}_index"] = (100 * out[col] / mean).round(1) if mean and mean == mean else None
    return out


def index_refusal(trend: pd.DataFrame, area: str) -> str | None:
    """Why the area's monthly index would be noise (None when it is not): too few incidents a month on average."""
    known = trend["area"].dropna()
    if known.empty or known.mean() >= MIN_INDEX_MONTHLY:
        return None
    return (f"{area} averages {known.mean():.2f} incidents a month ({plural(int(known.sum()), 'incident')} in "
            f"{plural(len(known), 'month')} with data): too few for an index against the city, where a single "
            f"incident would read as a spike. Monthly counts are shown instead (an index needs an average of at least "
            f"{MIN_INDEX_MONTHLY:.0f} a month).")


def plural(n: int, word: str) -> str:
    """'1 incident', '2 incidents', '1,204 months'."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"


def trend_caption(trend: pd.DataFrame) -> str:
    """The count under the trend chart, in proper singular or plural."""
    return f"{plural(int(trend['area'].sum()), 'incident')} in the months with data; gaps are months without data."


def neighbour_band(area: pd.DataFrame, neighbours: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The area's monthly counts against its neighbours' median and their lowest-to-highest range, month by month:
    one line and a band instead of a tangle of one line per neighbour over a decade. A month where no neighbour has
    data stays a gap (NaN), never 0."""
    wide = pd.concat({k: f.set_index("month")["n"] for k, f in neighbours.items()}, axis=1)
    out = pd.DataFrame({"month": area["month"], "area": area["n"].to_numpy()})
    wide = wide.reindex(out["month"])
    out["median"] = wide.median(axis=1, skipna=True).to_numpy()
    out["low"], out["high"] = wide.min(axis=1).to_numpy(), wide.max(axis=1).to_numpy()
    return out


def area_labels(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Every neighborhood's readable name, as stored (etl.geo names the six unnamed polygons of the city's borders
    file "Unnamed area 3 (next to X)", so every page shows one name for them)."""
    return dict(con.execute("SELECT area_id, name FROM areas WHERE area_type = 'neighborhood'").fetchall())


def hour_by_weekday(con: duckdb.DuckDBPyConnection, f: Filter) -> pd.DataFrame:
    """Incidents by weekday and hour of occurrence (sources that publish an hour)."""
    return con.execute(
        """SELECT isodow(i.occurred_date) - 1 AS weekday, i.occurred_hour AS hour, count(*) AS n FROM incidents i
           JOIN incident_categories c USING (incident_id)
           WHERE i.source_id = ? AND c.category_id = ? AND i.event_date BETWEEN ? AND ? AND i.neighborhood = ?
             AND i.occurred_hour IS NOT NULL AND i.occurred_date IS NOT NULL GROUP BY 1, 2""",
        [f.source, f.category, f.start, f.end, f.area]).df()


def category_mix(con: duckdb.DuckDBPyConnection, f: Filter) -> pd.DataFrame:
    """Counts per category in the area for the period (incidents can be in several categories)."""
    return con.execute(
        """SELECT a.measure AS category_id, any_value(c.label) AS label, sum(a.n) AS n FROM area_counts a
           JOIN categories c ON c.category_id = a.measure
           WHERE a.source_id = ? AND a.area_type = 'neighborhood' AND a.area_id = ? AND a.period_start BETWEEN ? AND ?
           GROUP BY 1 ORDER BY 3 DESC""", [f.source, f.area, f.start, f.end]).df()


def victims(con: duckdb.DuckDBPyConnection, f: Filter) -> pd.DataFrame:
    """Victims by sex and age band, aggregated; cells under SMALL_CELL people are suppressed."""
    frame = con.execute(
        """SELECT p.sex, p.age_band, sum(p.n) AS people FROM people_counts p
           JOIN incidents i USING (incident_id) JOIN incident_categories c USING (incident_id)
           WHERE i.source_id = ? AND c.category_id = ? AND i.event_date BETWEEN ? AND ? AND i.neighborhood = ?
             AND p.role = 'victim' GROUP BY 1, 2 ORDER BY 1, 2""",
        [f.source, f.category, f.start, f.end, f.area]).df()
    frame["people"] = frame["people"].astype("Int64").where(frame["people"] >= SMALL_CELL)
    frame["shown"] = frame["people"].astype(str).where(frame["people"].notna(), f"fewer than {SMALL_CELL}")
    return frame


def neighbour_names(labels: dict[str, str], area: str, neighbours: list[str]) -> list[str]:
    """The neighbours' readable names on `area`'s profile: an unnamed polygon labelled "next to" this very area
    reads "Unnamed area 3 (no name in the city's file)" instead, since "next to Hospital Hill" on Hospital Hill's
    own list says nothing."""
    own = f" (next to {labels.get(area, area)})"
    return [labels.get(n, n).removesuffix(own) + " (no name in the city's file)" if labels.get(n, n).endswith(own)
            else labels.get(n, n) for n in neighbours]


def neighbours(con: duckdb.DuckDBPyConnection, area_id: str) -> list[str]:
    """Neighborhoods next to this one, its border widened by about 50 m: the published borders leave small gaps (a
    street, a sliver) between some neighborhoods that plainly adjoin."""
    rows = con.execute("SELECT area_id, geometry_wkt FROM areas WHERE area_type = 'neighborhood'").fetchall()
    shapes = {a: shapely.from_wkt(w) for a, w in rows}
    mine = shapes[area_id].buffer(0.0005)
    return sorted(a for a, s in shapes.items() if a != area_id and s.intersects(mine))


def events_touching(con: duckdb.DuckDBPyConnection, area_id: str) -> list[registry.CanvassEvent]:
    """Canvass events whose evaluation counts the neighborhood in its footprint: named by the event, or holding at
    least 5% of its corridor or circle (the Outreach page's rule, panel.Geo.footprint_areas), so a neighborhood the
    Outreach page puts in an event's buffer is not listed here as canvassed."""
    from analytics import panel

    geo = panel.geo(con)
    return [e for e in registry.load() if area_id in geo.footprint_areas(e)]


def summary(con: duckdb.DuckDBPyConnection, f: Filter) -> dict:
    """Everything the profile page shows for one neighborhood: the trend against the city, hour by weekday (only
    for incident sources: counts by area have no time of day), the category mix, victims (small groups hidden) and
    the neighbours' monthly series."""
    kind = con.execute("SELECT kind FROM sources WHERE source_id = ?", [f.source]).fetchall()
    return {
        "trend": indexed_trend(con, f),
        "hours": hour_by_weekday(con, f) if kind == [("incidents",)] else None,
        "mix": category_mix(con, f),
        "victims": victims(con, f),
        # whether the source has victim details anywhere: an empty table is then "none here", not "not published"
        "publishes_victims": con.execute(
            """SELECT EXISTS (SELECT 1 FROM people_counts p JOIN incidents i USING (incident_id)
               WHERE i.source_id = ? AND p.role = 'victim')""", [f.source]).fetchone()[0],
        "neighbours": {n: queries.monthly(con, Filter(f.source, f.category, f.start, f.end, n))
                       for n in neighbours(con, f.area)},
    }
