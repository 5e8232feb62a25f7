"""Write one parsed file into DuckDB: incidents (with places), counts, coverage, log, rejects.

Incidents are keyed '<source>:<key>', so loading a file again replaces the same
incidents instead of adding them twice, and a file whose checksum is already in the
load log is skipped whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd

from analytics.settings import ROOT
from etl import geo, reference
from etl.model import Parsed

SCHEMA = (Path(__file__).parent / "schema.sql").read_text()
STATUS_RANK = {"sample": 1, "partial": 2, "complete": 3}


@dataclass
class CoverageSpec:
    """Which periods a file covers. Without start/end they are inferred from its dates."""

    start: str | None = None
    end: str | None = None
    status: str = "complete"
    apply_notes: bool = False  # bundled files take the notes in data/reference/coverage_notes.csv


@dataclass
class LoadResult:
    load_id: int | None
    file: str
    source_id: str
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    incidents: int
    skipped: bool = False
    message: str = ""


def init_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Tables, reference data and areas: everything a build starts from."""
    con.execute(SCHEMA)
    src = reference.sources()
    con.execute("INSERT OR REPLACE INTO sources SELECT source_id, label, kind, publisher, unit, caveat FROM src")
    cats = reference.categories()
    con.execute(
        "INSERT OR REPLACE INTO categories SELECT category_id, label, kind, needs_firearm, definition FROM cats"
    )
    codes = reference.table("nibrs_codes")
    con.execute("INSERT OR REPLACE INTO nibrs_codes SELECT code, label, offense_group, against FROM codes")
    area_frame = geo.areas().drop(columns=["geometry"]).assign(geometry_wkt=geo.areas()["geometry"].map(lambda g: g.wkt))
    con.execute(
        "INSERT OR REPLACE INTO areas SELECT area_type, area_id, name, population, population_source, geometry_wkt "
        "FROM area_frame"
    )


def already_loaded(con: duckdb.DuckDBPyConnection, sha: str, source_id: str) -> tuple | None:
    return con.execute(
        "SELECT load_id, file, loaded_at FROM load_log WHERE sha256 = ? AND source_id = ?", [sha, source_id]
    ).fetchone()


def _places(incidents: pd.DataFrame) -> pd.DataFrame:
    placed = geo.assign(incidents["lon"], incidents["lat"])
    out = incidents.join(placed)
    has = out["lat"].notna()
    out["geo_status"] = "no_coords"
    out.loc[~has & ~out["city_hint"].astype(bool), "geo_status"] = "outside_city"
    out.loc[has, "geo_status"] = out.loc[has, "in_city"].map({True: "in_city", False: "outside_city"})
    out.loc[out["placeholder"].astype(bool), "geo_status"] = "placeholder"
    return out


def _periods(parsed: Parsed, spec: CoverageSpec) -> pd.DataFrame:
    """Coverage rows (period_start, status, note) for the file."""
    freq = "YS" if parsed.grain == "year" else "MS"
    dates = parsed.incidents["event_date"] if not parsed.incidents.empty else parsed.area_counts["period_start"]
    dates = pd.to_datetime(dates)
    if dates.empty and not spec.start:
        return pd.DataFrame(columns=["period_start", "status", "note"])
    if not spec.start and parsed.incidents.empty:  # count files cover the periods they list, no more
        periods = pd.DatetimeIndex(sorted(dates.dt.to_period(freq[0]).dt.start_time.unique()))
    else:
        first = pd.Timestamp(spec.start) if spec.start else dates.min()
        last = pd.Timestamp(spec.end) if spec.end else dates.max()
        periods = pd.date_range(first.to_period(freq[0]).start_time, last.to_period(freq[0]).start_time, freq=freq)
    out = pd.DataFrame({"period_start": periods, "status": spec.status, "note": None})
    if not spec.start and not parsed.incidents.empty:  # inferred: months the file only partly spans
        if dates.min().day != 1:
            out.loc[0, ["status", "note"]] = ["partial", f"this file starts on {dates.min():%Y-%m-%d}"]
        if not dates.max().is_month_end:
            out.loc[len(out) - 1, ["status", "note"]] = ["partial", f"this file stops on {dates.max():%Y-%m-%d}"]
    if spec.apply_notes:
        notes = reference.table("coverage_notes")
        for n in notes[notes.source_id == parsed.source_id].itertuples():
            hit = out["period_start"].between(pd.Timestamp(n.start), pd.Timestamp(n.end))
            out.loc[hit, ["status", "note"]] = [n.status, n.note]
    return out


def write(con: duckdb.DuckDBPyConnection, parsed: Parsed, file: str, sha: str, spec: CoverageSpec) -> LoadResult:
    """Insert a parsed file. Runs in the caller's transaction."""
    load_id = con.execute("SELECT coalesce(max(load_id), 0) + 1 FROM load_log").fetchone()[0]
    n_incidents = len(parsed.incidents)
    if n_incidents:
        inc = _places(parsed.incidents)
        inc["load_id"] = load_id
        ids = inc[["incident_id"]]
        for table in ("incidents", "incident_categories", "people_counts"):
            con.execute(f"DELETE FROM {table} WHERE incident_id IN (SELECT incident_id FROM ids)")  # noqa: S608
        con.execute(
            "INSERT INTO incidents SELECT incident_id, source_id, source_key, event_date, occurred_date, "
            "occurred_hour, lat, lon, geo_status, neighborhood, zip, council_district, address, offenses, "
            "firearm, killed, injured, person_rows, load_id FROM inc"
        )
        cats = parsed.categories
        people = parsed.people
        con.execute("INSERT INTO incident_categories SELECT DISTINCT incident_id, category_id FROM cats")
        con.execute("INSERT INTO people_counts SELECT incident_id, role, sex, race, age_band, n FROM people")
    if not parsed.area_counts.empty:
        counts = parsed.area_counts
        con.execute(
            "INSERT OR REPLACE INTO area_counts SELECT source_id, area_type, area_id, grain, period_start, measure, n "
            "FROM counts"
        )
    if parsed.population is not None:
        pop = parsed.population.assign(source_id=parsed.source_id)
        con.execute("INSERT OR REPLACE INTO city_population SELECT year, population, source_id FROM pop")
    cov = _periods(parsed, spec).assign(
        load_id=load_id, source_id=parsed.source_id, grain=parsed.grain,
        has_coords=parsed.has_coords, has_firearm=parsed.has_firearm,
    )
    con.execute(
        "INSERT INTO load_coverage SELECT load_id, source_id, grain, period_start, status, has_coords, has_firearm, "
        "note FROM cov"
    )
    rejected = pd.DataFrame(parsed.rejects, columns=["row_number", "reason", "raw"]).assign(load_id=load_id, file=file)
    con.execute("INSERT INTO rejects SELECT load_id, file, row_number, reason, raw FROM rejected")
    message = "; ".join(parsed.notes)
    con.execute(
        "INSERT INTO load_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [load_id, file, parsed.source_id, sha, parsed.rows_read, parsed.rows_loaded, len(parsed.rejects),
         n_incidents, datetime.now(), message],
    )
    return LoadResult(load_id, file, parsed.source_id, parsed.rows_read, parsed.rows_loaded, len(parsed.rejects),
                      n_incidents, message=message)


ROLLUP = """
DELETE FROM area_counts WHERE source_id IN (SELECT source_id FROM sources WHERE kind = 'incidents');
INSERT INTO area_counts
WITH placed AS (
    SELECT i.source_id, i.event_date, c.category_id, unnest([
        {'t': 'city', 'id': CASE WHEN i.geo_status <> 'outside_city' THEN 'Kansas City' END},
        {'t': 'neighborhood', 'id': i.neighborhood},
        {'t': 'zip', 'id': i.zip},
        {'t': 'council_district', 'id': i.council_district}
    ]) AS a
    FROM incidents i JOIN incident_categories c USING (incident_id)
)
SELECT source_id, a.t, a.id, 'month', date_trunc('month', event_date)::DATE, category_id, count(*)
FROM placed WHERE a.id IS NOT NULL
GROUP BY ALL;
"""


def rollup(con: duckdb.DuckDBPyConnection) -> None:
    """Incident sources roll up into area_counts (city, neighborhood, ZIP, district by month)."""
    con.execute(ROLLUP)


def relative(path: Path) -> str:
    """A path as shown in the load log: relative to the repo when inside it."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return path.name
