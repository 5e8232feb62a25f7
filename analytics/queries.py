"""Counts and series over the canonical model. Every value is bound; identifiers never
come from input. A period a source does not cover is NULL ("no data"), never zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import duckdb
import pandas as pd

CITY = "Kansas City"


class BadQuery(ValueError):
    """A filter value the data does not know (source, category, area, dates)."""


@dataclass(frozen=True)
class Filter:
    source: str
    category: str
    start: date
    end: date
    area: str | None = None  # a neighborhood name; None = the whole city


def sources(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return con.execute("SELECT * FROM sources ORDER BY kind DESC, source_id").df()


def categories(con: duckdb.DuckDBPyConnection, source: str | None = None) -> pd.DataFrame:
    """Categories, or those a source actually has counts for."""
    if source is None:
        return con.execute("SELECT * FROM categories ORDER BY category_id").df()
    return con.execute(
        """SELECT c.* FROM categories c
           WHERE category_id IN (SELECT DISTINCT measure FROM area_counts WHERE source_id = ?)
           ORDER BY CASE c.kind WHEN 'violence' THEN 0 WHEN 'nibrs_group' THEN 1 ELSE 2 END, c.category_id""",
        [source],
    ).df()


def neighborhoods(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    return con.execute(
        "SELECT area_id, name, population FROM areas WHERE area_type = 'neighborhood' ORDER BY name"
    ).df()


def validate(con: duckdb.DuckDBPyConnection, f: Filter) -> None:
    """Raise BadQuery naming the first value the data does not know."""
    if con.execute("SELECT count(*) FROM sources WHERE source_id = ?", [f.source]).fetchall()[0][0] == 0:
        known = ", ".join(sources(con)["source_id"])
        raise BadQuery(f"unknown source {f.source!r}; choose one of: {known}")
    known_cats = categories(con, f.source)["category_id"].tolist()
    if f.category not in known_cats:
        raise BadQuery(f"source {f.source!r} has no category {f.category!r}; it has: {', '.join(known_cats)}")
    if f.start > f.end:
        raise BadQuery(f"start {f.start} is after end {f.end}")
    if f.area is not None:
        hit = con.execute(
            "SELECT count(*) FROM areas WHERE area_type = 'neighborhood' AND area_id = ?", [f.area]
        ).fetchall()[0][0]
        if not hit:
            raise BadQuery(f"unknown neighborhood {f.area!r}")


MONTHLY = """
WITH spine AS (
    SELECT unnest(generate_series(date_trunc('month', ?::DATE), date_trunc('month', ?::DATE), INTERVAL 1 MONTH))::DATE
        AS month
),
cov AS (
    -- yearly sources cover each month of a covered year
    SELECT s.month, c.status, c.note, c.has_coords, c.has_firearm
    FROM spine s JOIN coverage c
      ON c.source_id = ? AND (
         (c.grain = 'month' AND c.period_start = s.month)
      OR (c.grain = 'year' AND c.period_start = date_trunc('year', s.month)))
),
counts AS (
    SELECT date_trunc('month', period_start)::DATE AS month, sum(n) AS n
    FROM area_counts
    WHERE source_id = ? AND measure = ? AND grain IN ('day', 'month')
      AND area_type = ? AND (? IS NULL OR area_id = ?)
      AND period_start BETWEEN date_trunc('month', ?::DATE) AND ?::DATE
    GROUP BY 1
)
SELECT s.month,
       CASE WHEN cov.status IS NULL OR cov.status = 'sample' THEN NULL
            WHEN ? AND NOT cov.has_coords THEN NULL
            WHEN ? AND NOT cov.has_firearm THEN NULL
            ELSE coalesce(counts.n, 0) END AS n,
       coalesce(cov.status, 'no data') AS status,
       CASE WHEN cov.status IS NULL THEN 'not covered by this source'
            WHEN cov.status = 'sample' THEN coalesce(cov.note, 'a sample, not a total')
            WHEN ? AND NOT cov.has_coords THEN 'this period has no coordinates, so no area counts'
            WHEN ? AND NOT cov.has_firearm THEN 'this period has no firearm flag'
            ELSE cov.note END AS note
FROM spine s LEFT JOIN cov USING (month) LEFT JOIN counts USING (month)
ORDER BY s.month
"""


def _area_scope(con: duckdb.DuckDBPyConnection, f: Filter) -> tuple[str, str | None]:
    """Which rows of area_counts hold the city-wide or area count for this source."""
    if f.area is not None:
        return "neighborhood", f.area
    has_city = con.execute(
        "SELECT count(*) > 0 FROM area_counts WHERE source_id = ? AND area_type = 'city' AND grain <> 'year'",
        [f.source],
    ).fetchall()[0][0]
    if has_city:
        return "city", CITY
    # area-count sources without a city row: the city is the sum of its areas
    area_type = con.execute(
        "SELECT any_value(area_type) FROM area_counts WHERE source_id = ? AND grain <> 'year'", [f.source]
    ).fetchall()[0][0]
    return area_type or "city", None


def monthly(con: duckdb.DuckDBPyConnection, f: Filter) -> pd.DataFrame:
    """Monthly counts (month, n, status, note); n is NULL where there is no data."""
    validate(con, f)
    area_type, area_id = _area_scope(con, f)
    firearm = needs_firearm(con, f.category)
    kind = con.execute("SELECT kind FROM sources WHERE source_id = ?", [f.source]).fetchall()[0][0]
    needs_coords = f.area is not None and kind == "incidents"
    params = [f.start, f.end, f.source, f.source, f.category, area_type, area_id, area_id, f.start, f.end,
              needs_coords, firearm, needs_coords, firearm]
    return con.execute(MONTHLY, params).df()


def yearly(con: duckdb.DuckDBPyConnection, f: Filter) -> pd.DataFrame:
    """Annual counts for year-grain sources (FBI UCR, annual KCPD totals); uncovered years are NULL."""
    validate(con, f)
    return con.execute(
        """WITH spine AS (SELECT unnest(generate_series(year(?::DATE), year(?::DATE))) AS year)
           SELECT s.year, CASE WHEN c.status IS NULL THEN NULL ELSE a.n END AS n,
                  coalesce(c.status, 'no data') AS status,
                  CASE WHEN c.status IS NULL THEN 'not covered by this source' ELSE c.note END AS note,
                  p.population
           FROM spine s
           LEFT JOIN coverage c ON c.source_id = ? AND c.grain = 'year' AND year(c.period_start) = s.year
           LEFT JOIN area_counts a ON a.source_id = ? AND a.grain = 'year' AND year(a.period_start) = s.year
                AND a.measure = ? AND a.area_type = 'city'
           LEFT JOIN city_population p ON p.year = s.year AND c.status IS NOT NULL
           ORDER BY 1""",
        [f.start, f.end, f.source, f.source, f.category],
    ).df()


def total(con: duckdb.DuckDBPyConnection, f: Filter) -> dict:
    """The count for the whole range, with what is missing from it.

    Incident sources count incidents between the exact start and end dates; area
    sources sum whole periods. `n` is None when no part of the range is covered;
    `missing` lists months without data, so a partial total is never mistaken for a full one.
    """
    series = monthly(con, f)
    missing = series.loc[series["n"].isna(), "month"].dt.strftime("%Y-%m").tolist()
    partial = series.loc[series["status"].eq("partial"), "month"].dt.strftime("%Y-%m").tolist()
    covered = series["n"].notna()
    kind = con.execute("SELECT kind FROM sources WHERE source_id = ?", [f.source]).fetchall()[0][0]
    if not covered.any():
        n = None
    elif kind == "incidents" and not whole_months(f):  # the monthly roll-up cannot split a month
        n = _incident_count(con, f, series.loc[covered, "month"].tolist())
    else:
        n = float(series.loc[covered, "n"].sum())
    return {
        "source": f.source, "category": f.category, "start": str(f.start), "end": str(f.end),
        "area": f.area or CITY, "n": None if n is None else int(n), "months": len(series),
        "months_with_data": int(covered.sum()), "missing_months": missing, "partial_months": partial,
    }


def whole_months(f: Filter) -> bool:
    """True when the range starts on a month's first day and ends on a month's last day."""
    return f.start.day == 1 and (f.end + timedelta(days=1)).day == 1


def _incident_count(con: duckdb.DuckDBPyConnection, f: Filter, months: list) -> int:
    return con.execute(
        """SELECT count(*) FROM incidents i JOIN incident_categories c USING (incident_id)
           WHERE i.source_id = ? AND c.category_id = ? AND i.event_date BETWEEN ? AND ?
             AND date_trunc('month', i.event_date)::DATE IN (SELECT unnest(?::DATE[]))
             AND (CASE WHEN ? IS NULL THEN i.geo_status <> 'outside_city' ELSE i.neighborhood = ? END)""",
        [f.source, f.category, f.start, f.end, [m.date() for m in months], f.area, f.area],
    ).fetchall()[0][0]


def latest_two_years(con: duckdb.DuckDBPyConnection, source: str, category: str,
                     area: str | None = None) -> dict | None:
    """The latest fully covered calendar year against the year before, or None.

    A year counts as covered only if all 12 months have data (partial months allowed,
    flagged), so a half-bundled year is never compared with a whole one.
    """
    months = con.execute(
        """SELECT year(period_start) AS y, count(*) AS m, count(*) FILTER (status = 'partial') AS p
           FROM coverage WHERE source_id = ? AND grain = 'month' AND status <> 'sample' GROUP BY 1 HAVING m = 12
           ORDER BY 1 DESC""",
        [source],
    ).fetchall()
    full = [y for y, _m, _p in months]
    pairs = [(y, y - 1) for y in full if y - 1 in full]
    if not pairs:
        return None
    latest, prior = pairs[0]
    out = {}
    for year in (latest, prior):
        out[year] = total(con, Filter(source, category, date(year, 1, 1), date(year, 12, 31), area))["n"]
    return {"latest_year": latest, "prior_year": prior, "latest": out[latest], "prior": out[prior]}


MISSING = """
WITH spine AS (
    SELECT unnest(generate_series(date_trunc('month', ?::DATE), date_trunc('month', ?::DATE), INTERVAL 1 MONTH))::DATE
        AS month
)
SELECT strftime(s.month, '%Y-%m') FROM spine s
LEFT JOIN coverage c ON c.source_id = ? AND c.grain = 'month' AND c.period_start = s.month
WHERE c.status IS NULL OR c.status = 'sample' OR (? AND NOT c.has_coords) OR (? AND NOT c.has_firearm)
ORDER BY 1
"""


def needs_firearm(con: duckdb.DuckDBPyConnection, category: str) -> bool:
    """Whether counts of this category need the source's firearm flag."""
    rows = con.execute("SELECT needs_firearm FROM categories WHERE category_id = ?", [category]).fetchall()
    return bool(rows and rows[0][0])


def covered_months(con: duckdb.DuckDBPyConnection, source: str, has_coords: bool = False,
                   firearm: bool = False) -> set:
    """Months (as timestamps) with usable data: covered, not a sample, with coordinates / firearm flag if needed."""
    rows = con.execute(
        """SELECT period_start FROM coverage WHERE source_id = ? AND grain = 'month' AND status <> 'sample'
           AND (NOT ? OR has_coords) AND (NOT ? OR has_firearm)""", [source, has_coords, firearm]).fetchall()
    return {pd.Timestamp(r[0]) for r in rows}


def missing_months(con: duckdb.DuckDBPyConnection, f: Filter, area_level: bool, firearm_only: bool = False) -> list[str]:
    """Months in the range with no data for this source and category (area-level counts also need coordinates)."""
    firearm = firearm_only or needs_firearm(con, f.category)
    return [r[0] for r in con.execute(MISSING, [f.start, f.end, f.source, area_level, firearm]).fetchall()]
