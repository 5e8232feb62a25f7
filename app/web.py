"""Streamlit glue shared by the pages: the cached connection and cached queries.

The connection is cached per database file *and* its modification time, so a rebuild
or refresh (which swaps the file) is picked up on the next rerun. Cached query
functions take every input as an argument: the arguments are the whole cache key.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import streamlit as st

from analytics import queries
from kcvt import status
from kcvt.db import connect, versioned_path
from kcvt.settings import db_path


def db_key() -> str:
    """Identifies the database file's current version: the key of every cached query."""
    path = db_path()
    if not path.exists():
        return str(path)
    info = path.stat()
    return f"{path}:{info.st_ino}:{info.st_mtime_ns}"


def path_of(db_key: str) -> Path:
    """The database file a key names (`path:inode:mtime`, or a bare path when there was no file yet)."""
    parts = db_key.rsplit(":", 2)
    return Path(parts[0] if len(parts) == 3 and parts[1].isdigit() else db_key)


@st.cache_resource(show_spinner=False, max_entries=2)
def _connection(db_key: str) -> duckdb.DuckDBPyConnection:
    """One read-only connection per database version: the key names the file, and its version picks the link
    (see kcvt.db.versioned_path), so a swapped-in file gets a new connection."""
    return connect(versioned_path(path_of(db_key)))


def cursor(db_key: str) -> duckdb.DuckDBPyConnection:
    """A cursor on the shared read-only connection of that database version (cursors are thread-safe)."""
    return _connection(db_key).cursor()


@st.cache_data(show_spinner=False, max_entries=256)
def sources(db_key: str) -> pd.DataFrame:
    with cursor(db_key) as cur:
        return queries.sources(cur)


@st.cache_data(show_spinner=False, max_entries=256)
def categories(db_key: str, source: str | None) -> pd.DataFrame:
    with cursor(db_key) as cur:
        return queries.categories(cur, source)


@st.cache_data(show_spinner=False, max_entries=64)
def neighborhoods(db_key: str) -> pd.DataFrame:
    with cursor(db_key) as cur:
        return queries.neighborhoods(cur)


@st.cache_data(show_spinner=False, max_entries=512)
def monthly(db_key: str, source: str, category: str, start: date, end: date, area: str | None) -> pd.DataFrame:
    with cursor(db_key) as cur:
        return queries.monthly(cur, queries.Filter(source, category, start, end, area))


@st.cache_data(show_spinner=False, max_entries=512)
def total(db_key: str, source: str, category: str, start: date, end: date, area: str | None) -> dict:
    with cursor(db_key) as cur:
        return queries.total(cur, queries.Filter(source, category, start, end, area))


@st.cache_data(show_spinner=False, max_entries=128)
def yearly(db_key: str, source: str, category: str, start: date, end: date) -> pd.DataFrame:
    with cursor(db_key) as cur:
        return queries.yearly(cur, queries.Filter(source, category, start, end))


@st.cache_data(show_spinner=False, max_entries=128)
def latest_two_years(db_key: str, source: str, category: str, area: str | None) -> dict | None:
    with cursor(db_key) as cur:
        return queries.latest_two_years(cur, source, category, area)


@st.cache_data(show_spinner=False, max_entries=8)
def coverage_table(db_key: str) -> pd.DataFrame:
    with cursor(db_key) as cur:
        return status.coverage_table(cur)


@st.cache_data(show_spinner=False, max_entries=8)
def summary(db_key: str) -> dict:
    with cursor(db_key) as cur:
        return status.summary(cur)


@st.cache_data(show_spinner=False, max_entries=8)
def rejects(db_key: str) -> pd.DataFrame:
    with cursor(db_key) as cur:
        return status.rejects(cur)


def monthly_table(series: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Wide table of monthly series for display and download: one column per label, plus status."""
    frames = []
    for label, frame in series.items():
        frames.append(frame.set_index("month")["n"].rename(label))
    table = pd.concat(frames, axis=1).reset_index()
    first = next(iter(series.values()))
    table.insert(0, "month", table.pop("month").dt.strftime("%Y-%m"))
    table["coverage"] = first["status"].to_numpy()
    table["note"] = first["note"].to_numpy()
    return table


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """CSV for download, with cells a spreadsheet would run as formulas neutralised."""
    safe = frame.copy()
    for col in safe.columns:
        if safe[col].dtype == object or pd.api.types.is_string_dtype(safe[col]):
            text = safe[col].astype("string")
            risky = text.str.match(r"^[=+\-@\t\r]", na=False)
            safe[col] = text.where(~risky, "'" + text)
    return safe.to_csv(index=False).encode("utf-8")


@st.cache_data(show_spinner=False, max_entries=4)
def city_shape(db_key: str):
    import shapely

    with cursor(db_key) as cur:
        wkt = cur.execute("SELECT geometry_wkt FROM areas WHERE area_type = 'city'").fetchall()[0][0]
    return shapely.from_wkt(wkt)


def event_at(event_id: str, start_date: date | None):
    """The stored event with `start_date` in place of its own (validated again: a date a reader tries)."""
    from analytics import registry

    return registry.parse({**registry.get(event_id).row(), "start_date": start_date})


@st.cache_data(show_spinner=False, max_entries=8)
def usable_sources(db_key: str, unit: str) -> list[str]:
    from analytics import evaluation

    with cursor(db_key) as cur:
        return evaluation.usable_sources(cur, unit)


@st.cache_data(show_spinner=False, max_entries=64)
def default_design(db_key: str, event_id: str, start_date: date | None):
    from analytics import evaluation

    with cursor(db_key) as cur:
        return evaluation.default_design(cur, event_at(event_id, start_date))


def evaluate(db_key: str, event_id: str, start_date: date | None, design) -> dict:
    """Evaluate the event as stored, at `start_date` (its own, or a date a reader tries without saving it), with a
    cache keyed on the database, that event and every design choice."""
    event = event_at(event_id, start_date)
    d = design
    return _evaluate(db_key, tuple(sorted(event.row().items(), key=lambda kv: kv[0])),
                     (d.unit, d.source, d.measure, d.months_before, d.months_after, d.buffer_m,
                      tuple(d.comparison or ())))


@st.cache_data(show_spinner=False, max_entries=64)
def _evaluate(db_key: str, event_items: tuple, design_items: tuple) -> dict:
    from analytics import evaluation, registry

    event = registry.parse({k: ("|".join(v) if isinstance(v, list) else v) for k, v in event_items})
    unit, source, measure, mb, ma, buf, comparison = design_items
    design = evaluation.Design(unit, source, measure, mb, ma, buf, list(comparison) or None)
    with cursor(db_key) as cur:
        return evaluation.evaluate(cur, event, design)


@st.cache_data(show_spinner=False, max_entries=4)
def neighborhood_outlines(db_key: str) -> dict:
    """All neighborhoods as simplified GeoJSON (about 20 m), for map context."""
    import shapely

    with cursor(db_key) as cur:
        rows = cur.execute("SELECT area_id, name, geometry_wkt FROM areas WHERE area_type = 'neighborhood'").fetchall()
    features = [{"type": "Feature", "properties": {"name": name, "area_id": area_id},
                 "geometry": shapely.geometry.mapping(shapely.from_wkt(wkt).simplify(0.0002))}
                for area_id, name, wkt in rows]
    return {"type": "FeatureCollection", "features": features}


def _f(source: str, category: str, start: date, end: date, area: str | None = None):
    return queries.Filter(source, category, start, end, area)


@st.cache_data(show_spinner=False, max_entries=256)
def hex_bins(db_key: str, source: str, category: str, start: date, end: date, firearm: bool, res: int) -> pd.DataFrame:
    from analytics import hotspots

    with cursor(db_key) as cur:
        return hotspots.with_centres(hotspots.hex_bins(cur, _f(source, category, start, end), firearm, res))


@st.cache_data(show_spinner=False, max_entries=128)
def points(db_key: str, source: str, category: str, start: date, end: date, firearm: bool):
    from analytics import hotspots

    with cursor(db_key) as cur:
        return hotspots.points(cur, _f(source, category, start, end), firearm)


@st.cache_data(show_spinner=False, max_entries=128)
def rank(db_key: str, source: str, category: str, start: date, end: date, firearm: bool) -> dict:
    from analytics import hotspots

    with cursor(db_key) as cur:
        return hotspots.rank(cur, _f(source, category, start, end), firearm)


@st.cache_data(show_spinner=False, max_entries=128)
def choropleth(db_key: str, source: str, category: str, start: date, end: date, firearm: bool) -> dict:
    from analytics import hotspots

    with cursor(db_key) as cur:
        counts = hotspots.neighborhood_counts(cur, _f(source, category, start, end), firearm)
        return hotspots.choropleth_geojson(cur, counts)


@st.cache_data(show_spinner=False, max_entries=128)
def concentration(db_key: str, source: str, category: str, start: date, end: date, firearm: bool) -> dict:
    from analytics import hotspots

    with cursor(db_key) as cur:
        return hotspots.concentration(cur, _f(source, category, start, end), firearm)


@st.cache_data(show_spinner=False, max_entries=128)
def gi_star(db_key: str, source: str, category: str, start: date, end: date, firearm: bool) -> pd.DataFrame:
    from analytics import hotspots

    with cursor(db_key) as cur:
        return hotspots.with_centres(hotspots.gi_star(cur, _f(source, category, start, end), firearm))


def watch_summary(db_key: str, source: str, category: str, start: date, end: date, firearm: bool,
                  incident_source: bool) -> pd.DataFrame:
    """Watch areas and their incident counts (read fresh: users add areas)."""
    from analytics import watch

    with cursor(db_key) as cur:
        f = _f(source, category, start, end) if incident_source else None
        return watch.summary(cur, watch.AREAS.load(), f, firearm)


def events_touching(db_key: str, area: str) -> list:
    """Canvass events whose footprint touches a neighborhood (read fresh: the registry changes)."""
    from analytics import profile

    with cursor(db_key) as cur:
        return profile.events_touching(cur, area)


def watch_geojson(db_key: str) -> dict:
    from analytics import watch

    with cursor(db_key) as cur:
        return watch.geojson(cur, watch.AREAS.load())


@st.cache_data(show_spinner=False, max_entries=128)
def profile(db_key: str, source: str, category: str, start: date, end: date, area: str) -> dict:
    from analytics import profile as prof

    with cursor(db_key) as cur:
        return prof.summary(cur, _f(source, category, start, end, area))


def refresh_state() -> dict:
    """Watermarks and last successful refresh per portal dataset (data/user/refresh/state.json)."""
    import json

    from kcvt.settings import refresh_dir

    path = refresh_dir() / "state.json"
    return json.loads(path.read_text()) if path.exists() else {}


@st.cache_data(show_spinner=False)
def provenance() -> str:
    """data/PROVENANCE.md: publisher, origin and caveats of every bundled file."""
    from kcvt.settings import DATA_DIR

    return (DATA_DIR / "PROVENANCE.md").read_text(encoding="utf-8")


# --- Hotspots page (ranking by count or rate, neighborhood maps, Gi* cells, watch-area counts, map view) ---


@st.cache_data(show_spinner=False, max_entries=128)
def ranking(db_key: str, source: str, category: str, start: date, end: date, firearm: bool, by: str) -> dict:
    """hotspots.rank; raises hotspots.NotCovered (not cached) for a period without data in every month."""
    from analytics import hotspots

    with cursor(db_key) as cur:
        return hotspots.rank(cur, _f(source, category, start, end), firearm, by)


@st.cache_data(show_spinner=False, max_entries=128)
def neighborhood_map(db_key: str, source: str, category: str, start: date, end: date, firearm: bool) -> dict:
    """Neighborhood polygons with count, rate and smoothed rate; raises hotspots.NotCovered like the ranking."""
    from analytics import hotspots

    with cursor(db_key) as cur:
        return hotspots.choropleth_geojson(cur, hotspots.neighborhood_counts(cur, _f(source, category, start, end),
                                                                             firearm))


@st.cache_data(show_spinner=False, max_entries=128)
def missing_placed_months(db_key: str, source: str, category: str, start: date, end: date,
                          firearm: bool) -> dict[str, str]:
    """Months of the period without neighborhood-level data -> why (hotspots.missing_reasons)."""
    from analytics import hotspots

    with cursor(db_key) as cur:
        return hotspots.missing_reasons(cur, _f(source, category, start, end), firearm)


@st.cache_data(show_spinner=False, max_entries=64)
def cell_neighborhoods(db_key: str, hexes: tuple[str, ...]) -> dict[str, str]:
    from analytics import hotspots

    with cursor(db_key) as cur:
        return hotspots.cell_neighborhoods(cur, list(hexes))


@st.cache_data(show_spinner=False, max_entries=4)
def city_bounds(db_key: str) -> tuple[float, float, float, float]:
    from analytics import hotspots

    with cursor(db_key) as cur:
        return hotspots.city_bounds(cur)


def watch_counts(db_key: str, source: str, category: str, start: date, end: date, firearm: bool) -> pd.DataFrame:
    """Every watch area's count for the period in words, for incident and neighborhood-count sources alike (read
    fresh: users add areas)."""
    from analytics import watch

    with cursor(db_key) as cur:
        return watch.summary(cur, watch.AREAS.load(), _f(source, category, start, end), firearm)
