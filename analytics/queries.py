"""Counts and series over the canonical model. Every value is bound; identifiers never
come from input. A period a source does not cover is NULL ("no data"), never zero.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, timedelta

import duckdb
import numpy as np
import pandas as pd

CITY = "Kansas City"

#: The dates every filter, link and date widget accepts (checked in `validate`, shown in `filters`). No source starts
#: before 2006 (FBI UCR) and none is published ahead of time, so anything outside is a typo, never a real question.
EARLIEST = date(2000, 1, 1)
YEARS_AHEAD = 2


def latest_date(today: date | None = None) -> date:
    """The last accepted day: the end of the year YEARS_AHEAD after today's (a whole year, so never 29 February)."""
    return date((today or date.today()).year + YEARS_AHEAD, 12, 31)


def date_problem(value: date, name: str) -> str | None:
    """Why a date is outside the accepted range (naming it and the range), or None when it is inside."""
    if EARLIEST <= value <= latest_date():
        return None
    return f"{name} {value} is outside the accepted dates, {EARLIEST} to {latest_date()}"


class BadQuery(ValueError):
    """A filter value the data does not know (source, category, area, dates)."""


@dataclass(frozen=True)
class Filter:
    """What a count is of: source, category, an inclusive date range and optionally one neighborhood (None: the
    whole city). Values come from links and forms, so every query checks them first (`validate`)."""
    source: str
    category: str
    start: date
    end: date
    area: str | None = None  # a neighborhood name; None = the whole city


def sources(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every source with its kind, publisher, unit and caveat, incident sources first: pages show the caveat next
    to the numbers it qualifies."""
    return con.execute("SELECT * FROM sources ORDER BY kind DESC, source_id").df()


def categories(con: duckdb.DuckDBPyConnection, source: str | None = None) -> pd.DataFrame:
    """Categories, or only those a source has counts for (violence first): a source never offers a measure it does
    not publish, e.g. no shootings from kcpd_nbhd, whose neighborhood counts have no shooting split."""
    if source is None:
        return con.execute("SELECT * FROM categories ORDER BY category_id").df()
    return con.execute(
        """SELECT c.* FROM categories c
           WHERE category_id IN (SELECT measure FROM source_measures WHERE source_id = ?)
           ORDER BY CASE c.kind WHEN 'violence' THEN 0 WHEN 'nibrs_group' THEN 1 ELSE 2 END, c.category_id""",
        [source],
    ).df()


def neighborhoods(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Named neighborhoods with their population (2010 Census, areal-interpolated, so fractional): the
    denominators of every neighborhood rate, whatever the year."""
    return con.execute(
        "SELECT area_id, name, population FROM areas WHERE area_type = 'neighborhood' ORDER BY name"
    ).df()


@dataclass(frozen=True)
class Coverage:
    """One covered period of a source (the view `coverage`)."""

    status: str  # complete | partial | sample
    note: str | None
    has_coords: bool
    has_firearm: bool


@dataclass(frozen=True)
class Catalog:
    """The small facts that checking and shaping every query needs: fixed for a database version, so they are read
    once per version (see `catalog`) instead of once per query."""

    kinds: dict[str, str]  # source -> 'incidents' | 'area_counts'
    scopes: dict[tuple[str, str], tuple[str, str | None]]  # (source, measure) -> its city-wide rows (source_measures)
    needs_firearm: dict[str, bool]  # category -> counts need the source's firearm flag
    neighborhoods: pd.DataFrame  # area_id, name, population (2010 Census), by area_id; never modified
    months: dict[str, dict[date, Coverage]]  # source -> covered month (grain 'month') -> coverage
    years: dict[str, dict[int, Coverage]]  # source -> covered year (grain 'year') -> coverage
    #: count source -> the neighborhoods it reports: another neighborhood's count is unknown there, never 0 (KCPD's
    #: neighborhood file names 240 of the 246 areas, not the six unnamed ones)
    reported: dict[str, frozenset[str]]


_CATALOGS: OrderedDict[tuple, Catalog] = OrderedDict()


def catalog(con: duckdb.DuckDBPyConnection) -> Catalog:
    """The database's catalog, memoised per file version for read-only connections (the app's); a writable
    connection may change its data at any time, so it is read afresh."""
    path, readonly = con.execute(
        "SELECT path, readonly FROM duckdb_databases() WHERE database_name = current_database()").fetchall()[0]
    key = None
    if readonly and path:
        try:
            info = os.stat(path)
            key = (path, info.st_ino, info.st_mtime_ns)
        except OSError:  # an older version's link, removed while a session still reads it: read afresh
            pass
    if key in _CATALOGS:
        return _CATALOGS[key]
    found = _read_catalog(con)
    if key:
        _CATALOGS[key] = found
        while len(_CATALOGS) > 8:
            _CATALOGS.popitem(last=False)
    return found


def _read_catalog(con: duckdb.DuckDBPyConnection) -> Catalog:
    months: dict[str, dict[date, Coverage]] = {}
    years: dict[str, dict[int, Coverage]] = {}
    for source, grain, period, status, note, coords, firearm in con.execute(
            """SELECT source_id, grain, period_start, status, note, has_coords, has_firearm FROM coverage""").fetchall():
        cov = Coverage(status, note, bool(coords), bool(firearm))
        if grain == "year":
            years.setdefault(source, {})[period.year] = cov
        else:
            months.setdefault(source, {})[period] = cov
    return Catalog(
        kinds=dict(con.execute("SELECT source_id, kind FROM sources").fetchall()),
        scopes={(s, m): (t, i) for s, m, t, i in con.execute(
            "SELECT source_id, measure, scope_type, scope_id FROM source_measures").fetchall()},
        needs_firearm=dict(con.execute("SELECT category_id, needs_firearm FROM categories").fetchall()),
        neighborhoods=con.execute(
            "SELECT area_id, name, population FROM areas WHERE area_type = 'neighborhood' ORDER BY area_id").df(),
        months=months, years=years,
        reported={s: frozenset(areas) for s, areas in con.execute(
            """SELECT a.source_id, list(DISTINCT a.area_id) FROM area_counts a JOIN sources s USING (source_id)
               WHERE s.kind <> 'incidents' AND a.area_type = 'neighborhood' GROUP BY 1""").fetchall()},
    )


@dataclass(frozen=True)
class Context:
    """What a valid filter's source and category are."""

    kind: str  # 'incidents' or 'area_counts'
    needs_firearm: bool  # the category's counts need the source's firearm flag
    scope_type: str  # the rows of area_counts that hold the count: 'neighborhood', 'city', or another area type
    scope_id: str | None  # that area, or None: the sum of every area of scope_type
    months: dict[date, Coverage]  # the source's covered months
    years: dict[int, Coverage]  # the source's covered years
    neighborhoods: pd.DataFrame  # as in Catalog
    reported: frozenset[str] | None = None  # a count source's neighborhoods (Catalog.reported); None for incidents

    def unreported(self, area_id: str) -> bool:
        """Whether this count source never reports the neighborhood: its count there is unknown, not 0."""
        return self.reported is not None and area_id not in self.reported

    def coverage(self, month: date) -> Coverage | None:
        """A month's coverage; yearly sources cover each month of a covered year."""
        return self.months.get(month) or self.years.get(month.year)

    def missing_months(self, start: date, end: date, area_level: bool, firearm: bool) -> list[str]:
        """Months from start to end with no monthly data (a covered year gives no single month's count): area-level
        counts also need coordinates, firearm counts (a firearm category, or firearm-only maps) the firearm flag."""
        return [f"{m:%Y-%m}" for m in month_starts(start, end) if unusable(self.months.get(m), area_level, firearm)]


def partial_months(con: duckdb.DuckDBPyConnection, source: str, start: date = date.min,
                   end: date = date.max) -> list[str]:
    """The source's partly covered months ("YYYY-MM", sorted) from start to end: the coverage notes' undercounts and
    datasets that stop a few days early. The one place pages, the ranking and the evaluation read them from."""
    months = catalog(con).months.get(source, {})
    return sorted(f"{m:%Y-%m}" for m, cov in months.items() if start <= m <= end and cov.status == "partial")


def validate(con: duckdb.DuckDBPyConnection, f: Filter) -> Context:
    """Raise BadQuery naming the first value the data does not know; else what the source and category are."""
    cat = catalog(con)
    if f.source not in cat.kinds:
        raise BadQuery(f"unknown source {f.source!r}; choose one of: {', '.join(sorted(cat.kinds))}")
    scope = cat.scopes.get((f.source, f.category))
    if scope is None:
        known_cats = ", ".join(categories(con, f.source)["category_id"])
        raise BadQuery(f"source {f.source!r} has no category {f.category!r}; it has: {known_cats}")
    for value, name in ((f.start, "start"), (f.end, "end")):
        if problem := date_problem(value, name):
            raise BadQuery(problem)
    if f.start > f.end:
        raise BadQuery(f"start {f.start} is after end {f.end}")
    if f.area is not None:
        if not cat.neighborhoods["area_id"].eq(f.area).any():
            raise BadQuery(f"unknown neighborhood {f.area!r}")
        scope = ("neighborhood", f.area)
    return Context(cat.kinds[f.source], bool(cat.needs_firearm.get(f.category)), *scope,
                   cat.months.get(f.source, {}), cat.years.get(f.source, {}), cat.neighborhoods,
                   None if cat.kinds[f.source] == "incidents" else cat.reported.get(f.source, frozenset()))


def month_starts(start: date, end: date) -> list[date]:
    """The first day of every month from start's month to end's month."""
    out, month = [], date(start.year, start.month, 1)
    while month <= end:
        out.append(month)
        month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return out


COUNTS = """
SELECT date_trunc('month', period_start)::DATE AS month, sum(n) AS n
FROM area_counts
WHERE source_id = ? AND measure = ? AND grain IN ('day', 'month') AND area_type = ? AND (? IS NULL OR area_id = ?)
  AND period_start BETWEEN date_trunc('month', ?::DATE) AND ?::DATE
GROUP BY 1
"""


def monthly(con: duckdb.DuckDBPyConnection, f: Filter) -> pd.DataFrame:
    """Monthly counts (month, n, status, note). n is NULL, never 0, for a month the source does not cover, a
    sample, or one without the coordinates or firearm flag the count needs; `note` says which."""
    return _monthly(con, f, validate(con, f))


def _monthly(con: duckdb.DuckDBPyConnection, f: Filter, ctx: Context) -> pd.DataFrame:
    counts = dict(con.execute(COUNTS, [f.source, f.category, ctx.scope_type, ctx.scope_id, ctx.scope_id, f.start,
                                       f.end]).fetchall())
    needs_coords = f.area is not None and ctx.kind == "incidents"
    unreported = f.area is not None and ctx.scope_type == "neighborhood" and ctx.unreported(f.area)
    months, ns, statuses, notes = month_starts(f.start, f.end), [], [], []
    for month in months:
        cov = ctx.coverage(month)
        why = "the source does not report this area" if unreported else unusable(cov, needs_coords, ctx.needs_firearm)
        ns.append(None if why else counts.get(month, 0))
        statuses.append(cov.status if cov else "no data")
        notes.append(why or cov.note)
    return pd.DataFrame({"month": np.array(months, dtype="datetime64[us]"), "n": np.array(ns, dtype=float),
                         "status": pd.array(statuses, dtype="str"), "note": pd.array(notes, dtype="str")})


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
    ctx = validate(con, f)
    series = _monthly(con, f, ctx)
    missing = series.loc[series["n"].isna(), "month"].dt.strftime("%Y-%m").tolist()
    partial = series.loc[series["status"].eq("partial"), "month"].dt.strftime("%Y-%m").tolist()
    covered = series["n"].notna()
    if not covered.any():
        n = None
    elif ctx.kind == "incidents" and not whole_months(f):  # the monthly roll-up cannot split a month
        n = _incident_count(con, f, series.loc[covered, "month"].tolist())
    else:
        n = float(series.loc[covered, "n"].sum())
    return {
        "source": f.source, "category": f.category, "start": str(f.start), "end": str(f.end),
        "area": f.area or CITY, "n": None if n is None else int(n), "months": len(series),
        "months_with_data": int(covered.sum()), "missing_months": missing, "partial_months": partial,
    }


def whole_months(f: Filter) -> bool:
    """True when the range starts on a month's first day and ends on a month's last day: only then can the monthly
    roll-ups answer; other ranges count incidents by day."""
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


def needs_firearm(con: duckdb.DuckDBPyConnection, category: str) -> bool:
    """Whether counts of this category need the source's firearm flag (a KCPD shooting is a homicide or aggravated
    assault flagged Y): periods without the flag, such as the bundled 2020 export, have no such counts."""
    return bool(catalog(con).needs_firearm.get(category))


def unusable(cov: Coverage | None, has_coords: bool = False, firearm: bool = False) -> str | None:
    """Why a period has no usable count (None when it has one): not covered, a sample, or no coordinates / firearm
    flag where the count needs them."""
    if cov is None:
        return "not covered by this source"
    if cov.status == "sample":
        return cov.note or "a sample, not a total"
    if has_coords and not cov.has_coords:
        return "this period has no coordinates, so no area counts"
    if firearm and not cov.has_firearm:
        return "this period has no firearm flag"
    return None


def covered_months(con: duckdb.DuckDBPyConnection, source: str, has_coords: bool = False,
                   firearm: bool = False) -> set:
    """Months (as timestamps) with usable data: covered, not a sample, with coordinates / firearm flag if needed."""
    months = catalog(con).months.get(source, {})
    return {pd.Timestamp(m) for m, cov in months.items() if not unusable(cov, has_coords, firearm)}
