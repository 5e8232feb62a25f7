"""Write one parsed file into DuckDB: incidents (with places), counts, coverage, log, rejects.

Incidents are keyed '<source>:<key>', so loading a file again replaces the same
incidents instead of adding them twice, and a file whose checksum is already in the
load log is skipped whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd

from etl import geo, reference
from etl.model import AREA_COUNT_COLUMNS, INCIDENT_COLUMNS, PEOPLE_COLUMNS, Parsed, register
from kcvt.db import SCHEMA_SHA256, SCHEMA_SQL
from kcvt.settings import ROOT

INCIDENT_TABLE_COLUMNS = [
    "incident_id", "source_id", "source_key", "event_date", "occurred_date", "occurred_hour", "lat", "lon", "geo_status",
    "neighborhood", "zip", "council_district", "h3_cell", "address", "offenses", "firearm", "killed", "injured", "person_rows",
    "load_id",
]


@dataclass
class CoverageSpec:
    """Which periods a file covers. Without start/end they are inferred from its dates."""

    start: str | None = None
    end: str | None = None
    status: str = "complete"
    apply_notes: bool = False  # bundled files take the notes in data/reference/coverage_notes.csv
    declare: bool = True  # False: the file adds rows but claims no coverage (incremental refreshes)


@dataclass
class LoadResult:
    """What loading one file did, for the CLI, the app and the load log (`changes`: incidents by year)."""

    load_id: int | None
    file: str
    source_id: str
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    incidents: int
    skipped: bool = False
    message: str = ""
    changes: dict = field(default_factory=dict)  # year -> (incidents before, after), filled by load_file


def insert(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame, columns: list[str],
           replace: bool = False) -> None:
    """Insert a data frame's columns into a table (table and columns are code constants, never input)."""
    con.register("_frame", frame[columns])
    try:
        verb = "INSERT OR REPLACE" if replace else "INSERT"
        con.execute(f"{verb} INTO {table} SELECT {', '.join(columns)} FROM _frame")  # noqa: S608
    finally:
        con.unregister("_frame")


def init_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Tables, reference data and areas: everything a build starts from."""
    con.execute(SCHEMA_SQL)
    con.execute("DELETE FROM build_info")
    con.execute("INSERT INTO build_info VALUES (?)", [SCHEMA_SHA256])
    insert(con, "sources", reference.sources(), ["source_id", "label", "kind", "publisher", "unit", "caveat"], True)
    insert(con, "categories", reference.categories(), ["category_id", "label", "kind", "needs_firearm", "definition"], True)
    insert(con, "nibrs_codes", reference.table("nibrs_codes"), ["code", "label", "offense_group", "against"], True)
    areas = geo.areas().assign(geometry_wkt=lambda f: f["geometry"].map(lambda g: g.wkt))
    insert(con, "areas", areas, ["area_type", "area_id", "name", "population", "population_source", "geometry_wkt"], True)


def already_loaded(con: duckdb.DuckDBPyConnection, sha: str, source_id: str) -> tuple | None:
    """The load (id, file, time) that already loaded a file with this checksum for this source, if any."""
    rows = con.execute(
        "SELECT load_id, file, loaded_at FROM load_log WHERE sha256 = ? AND source_id = ?", [sha, source_id]
    ).fetchall()
    return rows[0] if rows else None


PLACED = """
SELECT i.incident_id, i.source_id, i.source_key, i.event_date, i.occurred_date, i.occurred_hour, i.lat, i.lon,
       CASE WHEN i.placeholder THEN 'placeholder'
            WHEN i.lat IS NOT NULL THEN CASE WHEN p.in_city THEN 'in_city' ELSE 'outside_city' END
            WHEN NOT i.city_hint THEN 'outside_city'
            ELSE 'no_coords' END AS geo_status,
       p.neighborhood::VARCHAR, p.zip::VARCHAR, p.council_district::VARCHAR,
       CASE WHEN p.h3 <> 0 THEN lower(hex(p.h3)) END AS h3_cell,  -- the cell's usual name; twice as fast as printf
       i.address, i.offenses, i.firearm, i.killed, i.injured, i.person_rows, ? AS load_id
FROM _inc i JOIN _places p USING (rid)
"""


def _as_table(con: duckdb.DuckDBPyConnection, part: pd.DataFrame | str, name: str, columns: list[str]) -> str:
    """A parsed part as a table name: staged adapters hand over temporary tables, text adapters data frames."""
    if isinstance(part, str):
        return part
    register(con, name, part[columns])
    return name


def _insert_incidents(con: duckdb.DuckDBPyConnection, table: str, load_id: int) -> None:
    """Place each incident (areas and H3 cell, etl.geo) and insert it, replacing earlier loads of the same ids.

    The places join back on the temporary table's rowid. A hash join lets DuckDB write with every core; a
    POSITIONAL JOIN with the frame runs on one thread (5M incidents: 5.4 s instead of 3.0 s).
    """
    con.execute(f"CREATE OR REPLACE TEMP VIEW _inc AS SELECT rowid AS rid, * FROM {table}")  # noqa: S608
    xy = con.execute("SELECT rid, lon, lat FROM _inc").df()
    places = geo.assign(xy["lon"].to_numpy(dtype=float), xy["lat"].to_numpy(dtype=float))
    con.register("_places", places.assign(rid=xy["rid"].to_numpy()))
    try:
        con.execute("DELETE FROM incidents WHERE incident_id IN (SELECT incident_id FROM _inc)")
        for part in ("incident_categories", "people_counts"):
            con.execute(f"DELETE FROM {part} WHERE incident_id IN (SELECT incident_id FROM _inc)")  # noqa: S608
        con.execute(f"INSERT INTO incidents ({', '.join(INCIDENT_TABLE_COLUMNS)}) {PLACED}", [load_id])  # noqa: S608
    finally:
        con.unregister("_places")


def replace_counts(con: duckdb.DuckDBPyConnection, counts: pd.DataFrame) -> None:
    """Store a count file's rows as published counts (origin 'published'), replacing those of the same key.

    So a corrected file never doubles a count; of a file's own rows with one key, the first wins (area_counts has no
    key index to do this, see schema.sql).
    """
    key = [c for c in AREA_COUNT_COLUMNS if c != "n"]
    register(con, "_counts", counts[AREA_COUNT_COLUMNS].drop_duplicates(key))
    columns = ", ".join(AREA_COUNT_COLUMNS)
    try:
        con.execute(f"DELETE FROM area_counts a USING _counts c WHERE {' AND '.join(f'a.{k} = c.{k}' for k in key)}")  # noqa: S608
        con.execute(f"INSERT INTO area_counts ({columns}, origin) SELECT {columns}, 'published' FROM _counts")  # noqa: S608
    finally:
        con.execute("DROP TABLE _counts")


def _periods(parsed: Parsed, spec: CoverageSpec, dates: pd.Series) -> tuple[pd.DataFrame, str | None]:
    """Coverage rows (period_start, status, note) for a file, and a note naming its span's months without rows.

    Periods come from the file's incidents' dates (or its count periods). A declared span (start/end: the manifest, a
    refresh, `etl load --covers`) covers every period in it. Without one, a file covers only the months it has rows
    in, from its 1st-percentile date (so a handful of late-entered reports from earlier years never claims those
    years) to its last date: a month with no rows is no data, never a zero, and the load summary names it. An end
    given to the day (YYYY-MM-DD) that is not a month's last day makes that month partial.
    """
    empty = pd.DataFrame(columns=["period_start", "status", "note"])
    freq = "YS" if parsed.grain == "year" else "MS"
    from_counts = dates.empty
    dates = pd.to_datetime(parsed.area_counts["period_start"] if from_counts else dates)
    if not spec.declare or (dates.empty and not spec.start):
        return empty, None
    if not spec.start and from_counts:  # count files cover the periods they list, no more
        periods = pd.DatetimeIndex(sorted(dates.dt.to_period(freq[0]).dt.start_time.unique()))
        return pd.DataFrame({"period_start": periods, "status": spec.status, "note": None}), None
    first = pd.Timestamp(spec.start) if spec.start else dates.quantile(0.01, interpolation="lower").normalize()
    last = pd.Timestamp(spec.end) if spec.end else dates.max()
    periods = pd.date_range(first.to_period(freq[0]).start_time, last.to_period(freq[0]).start_time, freq=freq)
    gaps = None
    if not spec.start:
        with_rows = set(dates.dt.to_period(freq[0]).dt.start_time.unique())
        empty_months = [p for p in periods if p not in with_rows]
        periods = pd.DatetimeIndex([p for p in periods if p in with_rows])
        if empty_months:
            shown = ", ".join(f"{p:%Y-%m}" for p in empty_months[:12]) + (" ..." if len(empty_months) > 12 else "")
            gaps = (f"no rows in {len(empty_months)} month(s) of the file's span ({shown}): not marked covered; "
                    "declare them with --covers if the file really covers them")
    out = pd.DataFrame({"period_start": periods, "status": spec.status, "note": None})
    if out.empty:
        return out, gaps
    if not spec.start and first.day != 1:
        out.loc[0, ["status", "note"]] = ["partial", f"this file starts on {first:%Y-%m-%d}"]
    if (not spec.end or len(spec.end) == 10) and freq == "MS" and not last.is_month_end:
        out.loc[len(out) - 1, ["status", "note"]] = ["partial", f"the data stop on {last:%Y-%m-%d}"]
    if spec.apply_notes:
        notes = reference.table("coverage_notes")
        for n in notes[notes.source_id == parsed.source_id].itertuples():
            hit = out["period_start"].between(pd.Timestamp(n.start), pd.Timestamp(n.end))
            out.loc[hit, ["status", "note"]] = [n.status, n.note]
    return out, gaps


def write(con: duckdb.DuckDBPyConnection, parsed: Parsed, file: str, sha: str, spec: CoverageSpec) -> LoadResult:
    """Insert a parsed file. Runs in the caller's transaction."""
    load_id = con.execute("SELECT coalesce(max(load_id), 0) + 1 FROM load_log").fetchall()[0][0]
    incidents = _as_table(con, parsed.incidents, "_incidents_frame", INCIDENT_COLUMNS)
    dates = con.execute(f"SELECT event_date FROM {incidents}").df()["event_date"]  # noqa: S608
    n_incidents = len(dates)
    if n_incidents:
        _insert_incidents(con, incidents, load_id)
        categories = _as_table(con, parsed.categories if isinstance(parsed.categories, str)
                               else parsed.categories.drop_duplicates(), "_categories_frame",
                               ["incident_id", "category_id"])
        people = _as_table(con, parsed.people, "_people_frame", PEOPLE_COLUMNS)
        con.execute(f"INSERT INTO incident_categories SELECT incident_id, category_id FROM {categories}")  # noqa: S608
        con.execute(f"INSERT INTO people_counts SELECT {', '.join(PEOPLE_COLUMNS)} FROM {people}")  # noqa: S608
    if not parsed.area_counts.empty:
        replace_counts(con, parsed.area_counts)
    if parsed.population is not None:
        insert(con, "city_population", parsed.population.assign(source_id=parsed.source_id),
               ["year", "population", "source_id"], replace=True)
    periods, gaps = _periods(parsed, spec, dates)
    cov = periods.assign(
        load_id=load_id, source_id=parsed.source_id, grain=parsed.grain,
        has_coords=parsed.has_coords, has_firearm=parsed.has_firearm,
    )
    insert(con, "load_coverage", cov,
           ["load_id", "source_id", "grain", "period_start", "status", "has_coords", "has_firearm", "note"])
    rejected = pd.DataFrame(parsed.rejects, columns=["row_number", "reason", "raw"]).assign(load_id=load_id, file=file)
    insert(con, "rejects", rejected, ["load_id", "file", "row_number", "reason", "raw"])
    message = "; ".join([*parsed.notes, *([gaps] if gaps else [])])
    con.execute(
        "INSERT INTO load_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [load_id, file, parsed.source_id, sha, parsed.rows_read, parsed.rows_loaded, len(parsed.rejects),
         n_incidents, datetime.now(), message],
    )
    return LoadResult(load_id, file, parsed.source_id, parsed.rows_read, parsed.rows_loaded, len(parsed.rejects),
                      n_incidents, message=message)


def relative(path: Path) -> str:
    """A path as shown in the load log: relative to the repo when inside it."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return path.name
