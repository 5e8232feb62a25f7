"""Streamlit glue shared by the pages: the cached connection and cached queries.

The connection is cached per database file *and* its modification time, so a rebuild
or refresh (which swaps the file) is picked up on the next rerun. Cached query
functions take every input as an argument: the arguments are the whole cache key.
"""

from __future__ import annotations

import threading
from collections import deque
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import streamlit as st

from analytics import filters, queries
from kcvt import status
from kcvt.db import connect, versioned_path
from kcvt.settings import db_path

#: page scripts that run at once in this server; a session's run waits its turn, in order (dashboard.py).
#: Streamlit gives every session a thread, and twenty sessions rerunning made twenty threads share one interpreter
#: lock with the event loop that sends pages and greets new visitors (docs/benchmarks.md, "Twenty sessions"). Two:
#: one turn measured a little faster, but one long computation (the backtest, about ten seconds) would stop
#: everyone; queries release the lock, so a turn is not idle while DuckDB works.
PAGE_TURNS = 2


class _Turns:
    """At most `n` holders at once, served in the order they came (a plain semaphore let one run wait 14 s while
    later ones went ahead)."""

    def __init__(self, n: int) -> None:
        self._free, self._queue, self._cond = n, deque(), threading.Condition()

    def __enter__(self) -> None:
        me = object()
        with self._cond:
            self._queue.append(me)
            self._cond.wait_for(lambda: self._queue[0] is me and self._free > 0)
            self._queue.popleft()
            self._free -= 1
            self._cond.notify_all()  # the next in line may have a free turn too

    def __exit__(self, *exc) -> None:
        with self._cond:
            self._free += 1
            self._cond.notify_all()

    def __len__(self) -> int:
        """How many wait for a turn."""
        with self._cond:
            return len(self._queue)


_turns = _Turns(PAGE_TURNS)


def page_turn() -> _Turns:
    """The page-run gate: `with web.page_turn(): page.run()`."""
    return _turns


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
    """Sources with their labels, units and caveats (queries.sources), cached per database version: every sidebar
    and the home page read them."""
    with cursor(db_key) as cur:
        return queries.sources(cur)


@st.cache_data(show_spinner=False, max_entries=256)
def categories(db_key: str, source: str | None) -> pd.DataFrame:
    """The categories a source has counts for (queries.categories), cached per database version: the sidebar offers
    only these, so no page asks a source for a measure it does not publish."""
    with cursor(db_key) as cur:
        return queries.categories(cur, source)


@st.cache_data(show_spinner=False, max_entries=64)
def neighborhoods(db_key: str) -> pd.DataFrame:
    """Named neighborhoods with their 2010 population (queries.neighborhoods), cached per database version: area
    pickers and link checks read them on every rerun."""
    with cursor(db_key) as cur:
        return queries.neighborhoods(cur)


@st.cache_data(show_spinner=False, max_entries=512)
def monthly(db_key: str, source: str, category: str, start: date, end: date, area: str | None) -> pd.DataFrame:
    """queries.monthly, cached on every argument: months without data stay NaN (gaps in the charts), never 0."""
    with cursor(db_key) as cur:
        return queries.monthly(cur, queries.Filter(source, category, start, end, area))


@st.cache_data(show_spinner=False, max_entries=512)
def total(db_key: str, source: str, category: str, start: date, end: date, area: str | None) -> dict:
    """queries.total, cached on every argument: the total comes with its missing and partial months, so a page can
    say what it leaves out."""
    with cursor(db_key) as cur:
        return queries.total(cur, queries.Filter(source, category, start, end, area))


@st.cache_data(show_spinner=False, max_entries=128)
def yearly(db_key: str, source: str, category: str, start: date, end: date) -> pd.DataFrame:
    """queries.yearly for annual sources (FBI UCR, KCPD annual), cached on every argument: uncovered years (FBI's
    2007) stay NULL and are drawn as gaps."""
    with cursor(db_key) as cur:
        return queries.yearly(cur, queries.Filter(source, category, start, end))


@st.cache_data(show_spinner=False, max_entries=128)
def latest_two_years(db_key: str, source: str, category: str, area: str | None) -> dict | None:
    """queries.latest_two_years, cached on every argument: the headline compares whole covered years only, or
    nothing (None)."""
    with cursor(db_key) as cur:
        return queries.latest_two_years(cur, source, category, area)


@st.cache_data(show_spinner=False, max_entries=8)
def coverage_table(db_key: str) -> pd.DataFrame:
    """status.coverage_table, cached per database version: the sidebar's default period and every coverage banner
    come from it."""
    with cursor(db_key) as cur:
        return status.coverage_table(cur)


# The coverage table's derived periods, per database version: pages and the sidebar asked them several times a run,
# about a fifth of a warm run of the hotspots page (pandas date parsing over the whole table each time)
@st.cache_data(show_spinner=False, max_entries=64)
def covered_range(db_key: str, source: str) -> tuple[date, date]:
    """filters.covered_range of the cached coverage table."""
    return filters.covered_range(coverage_table(db_key), source)


@st.cache_data(show_spinner=False, max_entries=64)
def coverage_ranges(db_key: str, source: str) -> dict[str, list[str]]:
    """filters.coverage_ranges of the cached coverage table."""
    return filters.coverage_ranges(coverage_table(db_key), source)


@st.cache_data(show_spinner=False, max_entries=64)
def latest_covered_span(db_key: str, source: str, months: int) -> tuple[date, date] | None:
    """filters.latest_covered_span of the cached coverage table."""
    return filters.latest_covered_span(coverage_table(db_key), source, months)


@st.cache_data(show_spinner=False, max_entries=64)
def partial_months(db_key: str, source: str, start: date, end: date) -> list[str]:
    """queries.partial_months, cached on every argument."""
    with cursor(db_key) as cur:
        return queries.partial_months(cur, source, start, end)


@st.cache_resource(show_spinner=False, max_entries=8)
def coverage_chart(db_key: str):
    """The data page's source x month coverage grid (charts.coverage_heatmap), built once per database version and
    shared (unpickling a plotly figure validates it again; st.plotly_chart only reads it)."""
    from analytics import charts

    return charts.coverage_heatmap(coverage_table(db_key), sources(db_key).set_index("source_id")["label"].to_dict())


# Plotly figures of cached data, built once per choice and shared like coverage_chart: building one costs a page run
# 20-30 ms of validation (the home page's two charts were half of its warm run)
@st.cache_resource(show_spinner=False, max_entries=128)
def monthly_chart(db_key: str, source: str, series: tuple[tuple[str, str], ...], start: date, end: date,
                  area: str | None, title: str):
    """charts.monthly_lines of a source's monthly counts, (category, label) pairs (the home page)."""
    from analytics import charts

    return charts.monthly_lines({label: monthly(db_key, source, cat, start, end, area) for cat, label in series}, title)


@st.cache_resource(show_spinner=False, max_entries=8)
def ucr_chart(db_key: str, series: tuple[tuple[str, str], ...], start: date, end: date, title: str):
    """charts.yearly_rates of FBI UCR categories, (category, label) pairs."""
    from analytics import charts

    return charts.yearly_rates({label: yearly(db_key, "fbi_ucr", cat, start, end) for cat, label in series}, title)


@st.cache_data(show_spinner=False, max_entries=8)
def summary(db_key: str) -> dict:
    """status.summary for the Data page, cached per database version: it changes only with a build, load or
    refresh."""
    with cursor(db_key) as cur:
        return status.summary(cur)


#: what the Data page calls the load log's and the rejects' columns
LOG_COLUMNS = {"load_id": "load", "file": "file", "source_id": "source", "rows_read": "rows read",
               "rows_loaded": "rows loaded", "rows_rejected": "rows rejected", "incidents": "incidents",
               "loaded_at": "loaded at", "message": "notes", "sha256": "SHA-256"}
#: what the load log's incident column says for a source of counts by area (an incident count does not apply)
NOT_INCIDENTS = "counts by area"
REJECT_COLUMNS = {"load_id": "load", "file": "file", "row_number": "row in file", "reason": "reason",
                  "raw": "row as read"}


@st.cache_data(show_spinner=False, max_entries=8)
def rejects(db_key: str, limit: int | None = None) -> pd.DataFrame:
    """Rejected rows with readable column names, the first `limit` or all of them (for the download)."""
    with cursor(db_key) as cur:
        return status.rejects(cur, limit).rename(columns=REJECT_COLUMNS)


@st.cache_data(show_spinner=False, max_entries=8)
def load_log(db_key: str) -> pd.DataFrame:
    """Every load, newest last, with readable column names (notes blank rather than missing). Sources that publish
    counts by area have no incidents to count: their column says so instead of a false 0; sources by their label."""
    with cursor(db_key) as cur:
        loads = pd.DataFrame(status.summary(cur)["loads"])
    src = sources(db_key).set_index("source_id")
    by_area = loads["source_id"].map(src["kind"]).ne("incidents")
    loads["incidents"] = [NOT_INCIDENTS if area else ("no data" if n is None or n != n else f"{int(n):,}")
                          for n, area in zip(loads["incidents"], by_area, strict=True)]
    loads["source_id"] = loads["source_id"].map(src["label"]).fillna(loads["source_id"])
    loads["file"] = loads["file"].astype(str).str.rsplit("/", n=1).str[-1]  # the folder is in the provenance
    return loads[list(LOG_COLUMNS)].rename(columns=LOG_COLUMNS).fillna({"notes": ""})


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


def download(label: str, data, *, file_name: str, mime: str, key: str, where=None) -> None:
    """Every download button of the app: a click does not rerun the page (on_click="ignore").

    With a rerun, the page's run dropped the files it had registered when it started, and any other session's run
    ending meanwhile deleted them: with a few sessions busy, 8 downloads in 12 failed (nothing happened on the click).
    CSVs come as bytes (`csv_bytes`, a few milliseconds a run), held for the page until its next run. A callable (the
    HTML reports, too heavy to build on every run) is run on the click; Streamlit removes the file it makes as soon
    as any session's run ends, so under heavy load a click can still fail now and then (docs/benchmarks.md).
    """
    (where or st).download_button(label, data, file_name=file_name, mime=mime, key=key, on_click="ignore")


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """CSV for download, with cells a spreadsheet would run as formulas neutralised, and whole numbers written as
    whole numbers (a count or rank column with an empty cell is float in pandas: "725.0" read as a measurement)."""
    safe = frame.copy()
    for col in safe.columns:
        values = safe[col]
        if pd.api.types.is_float_dtype(values) and values.notna().any():
            known = values.dropna()
            if ((known - known.round()).abs() < 1e-6).all() and known.abs().max() < 2**53:  # float noise: 298.9999999
                safe[col] = values.round().astype("Int64")
    for col in safe.columns:
        if safe[col].dtype == object or pd.api.types.is_string_dtype(safe[col]):
            text = safe[col].astype("string")
            risky = text.str.match(r"^[=+\-@\t\r]", na=False)
            safe[col] = text.where(~risky, "'" + text)
    return safe.to_csv(index=False).encode("utf-8")


@st.cache_data(show_spinner=False, max_entries=4)
def city_shape(db_key: str):
    """The city limit (the union of the 2023 council districts) as a shape, cached per database version: the
    registry and watch-area forms check footprints against it (registry.check_inside_city)."""
    import shapely

    with cursor(db_key) as cur:
        wkt = cur.execute("SELECT geometry_wkt FROM areas WHERE area_type = 'city'").fetchall()[0][0]
    return shapely.from_wkt(wkt)


def event_at(event_id: str, start_date: date | None):
    """The stored event with `start_date` in place of its own (validated again: a date a reader tries)."""
    from analytics import registry

    stored = registry.get(event_id)
    if stored.start_date == start_date:
        return stored
    return registry.parse({**stored.row(), "start_date": start_date})


@st.cache_data(show_spinner=False, max_entries=8)
def usable_sources(db_key: str, unit: str) -> list[str]:
    """evaluation.usable_sources, cached per database version: the sources the Outreach page offers for a unit,
    its default first."""
    from analytics import evaluation

    with cursor(db_key) as cur:
        return evaluation.usable_sources(cur, unit)


@st.cache_data(show_spinner=False, max_entries=64)
def default_design(db_key: str, event_id: str, start_date: date | None):
    """evaluation.default_design for the event at `start_date`, cached on the event and that date: the choice
    depends on whether GVA covers both windows around the date, so each date a reader tries has its own."""
    from analytics import evaluation

    with cursor(db_key) as cur:
        return evaluation.default_design(cur, event_at(event_id, start_date))


def evaluation_key(event_id: str, start_date: date | None, design) -> tuple:
    """What an evaluation depends on besides the database, as one hashable cache key: the event as stored at
    `start_date` (its own, or a date a reader tries without saving it), every design choice, and the other events
    (left out of the comparisons). A page reads the registry for it once a run and passes it to evaluate,
    evaluation_chart and evaluation_csv."""
    from analytics import registry

    d = design
    others = tuple(_items(e) for e in registry.load() if e.event_id != event_id)
    return (_items(event_at(event_id, start_date)),
            (d.unit, d.source, d.measure, d.months_before, d.months_after, d.buffer_m, tuple(d.comparison or ())),
            others)


def evaluate(db_key: str, key: tuple) -> dict:
    """The evaluation an evaluation_key names, cached on the database and that key."""
    return _evaluate(db_key, *key)


@st.cache_resource(show_spinner=False, max_entries=64)
def evaluation_chart(db_key: str, key: tuple):
    """charts.region_lines of the evaluation, built once per evaluation and shared (about a fifth of a warm run of
    the Outreach page)."""
    from analytics import charts

    return charts.region_lines(evaluate(db_key, key))


@st.cache_data(show_spinner=False, max_entries=64)
def evaluation_csv(db_key: str, key: tuple) -> bytes:
    """The evaluation's monthly counts as the page's CSV download, made once per evaluation."""
    return csv_bytes(pd.DataFrame(evaluate(db_key, key)["monthly"]))


def _items(event) -> tuple:
    """An event as a hashable cache key."""
    return tuple(sorted(event.row().items(), key=lambda kv: kv[0]))


def _event(items: tuple):
    from analytics import registry

    return registry.parse({k: ("|".join(v) if isinstance(v, list) else v) for k, v in items})


@st.cache_data(show_spinner=False, max_entries=64)
def _evaluate(db_key: str, event_items: tuple, design_items: tuple, others: tuple = ()) -> dict:
    from analytics import evaluation

    unit, source, measure, mb, ma, buf, comparison = design_items
    design = evaluation.Design(unit, source, measure, mb, ma, buf, list(comparison) or None)
    with cursor(db_key) as cur:
        return evaluation.evaluate(cur, _event(event_items), design, others=[_event(o) for o in others])


# The polygons every map draws are shared, not copied: st.cache_resource hands each run the same object, where
# st.cache_data would unpickle about 120 KB on every run of every map page (7% of the server's time with 20
# sessions). Readers build new dicts around them (maps.with_tooltips, neighborhood_map) and never change them.
@st.cache_resource(show_spinner=False, max_entries=4)
def neighborhood_outlines(db_key: str) -> dict:
    """All neighborhoods as light GeoJSON (maps.light_geometry), for map context, built once per database version."""
    import shapely

    from analytics import maps

    with cursor(db_key) as cur:
        rows = cur.execute("SELECT area_id, name, geometry_wkt FROM areas WHERE area_type = 'neighborhood'").fetchall()
    features = [{"type": "Feature", "properties": {"name": name, "area_id": area_id},
                 "geometry": maps.light_geometry(shapely.from_wkt(wkt))} for area_id, name, wkt in rows]
    return {"type": "FeatureCollection", "features": features}


@st.cache_resource(show_spinner=False, max_entries=4)
def neighborhood_edges(db_key: str) -> list[dict]:
    """maps.edge_rows of every neighborhood outline, the lines every map draws them with, built once per database
    version (about 27 ms a run otherwise)."""
    from analytics import maps

    return maps.edge_rows(neighborhood_outlines(db_key))


@st.cache_resource(show_spinner=False, max_entries=4)
def _light_polygons(db_key: str) -> dict[str, dict]:
    """area_id -> the light map geometry of every neighborhood, built once per database version."""
    return {f["properties"]["area_id"]: f["geometry"] for f in neighborhood_outlines(db_key)["features"]}


@st.cache_data(show_spinner=False, persist="disk", max_entries=4096)
def change_sentence(before: int, after: int) -> str:
    """stats.poisson_change(before, after).sentence, kept on disk: the answer depends only on the two counts, and a
    fresh server whose home page finds it there never imports statsmodels (about a second)."""
    from analytics import stats

    return stats.poisson_change(before, after).sentence


def _f(source: str, category: str, start: date, end: date, area: str | None = None):
    return queries.Filter(source, category, start, end, area)


@st.cache_data(show_spinner=False, max_entries=256)
def hex_bins(db_key: str, source: str, category: str, start: date, end: date, firearm: bool, res: int) -> pd.DataFrame:
    """hotspots.hex_bins with each cell's centre, cached on every argument: maps get aggregated bins, never raw
    rows."""
    from analytics import hotspots

    with cursor(db_key) as cur:
        return hotspots.with_centres(hotspots.hex_bins(cur, _f(source, category, start, end), firearm, res))


@st.cache_data(show_spinner=False, max_entries=128)
def points(db_key: str, source: str, category: str, start: date, end: date, firearm: bool):
    """hotspots.points, cached on every argument: individual incidents, or None above MAX_POINTS (the page falls back
    to hexagons)."""
    from analytics import hotspots

    with cursor(db_key) as cur:
        return hotspots.points(cur, _f(source, category, start, end), firearm)


@st.cache_data(show_spinner=False, max_entries=128)
def rank(db_key: str, source: str, category: str, start: date, end: date, firearm: bool) -> dict:
    """hotspots.rank, cached on every argument: the neighborhood ranking, each change flagged against Poisson noise
    ('too few to tell' for small counts)."""
    from analytics import hotspots

    with cursor(db_key) as cur:
        return hotspots.rank(cur, _f(source, category, start, end), firearm)


@st.cache_data(show_spinner=False, max_entries=128)
def choropleth(db_key: str, source: str, category: str, start: date, end: date, firearm: bool) -> dict:
    """Neighborhood counts and rates as GeoJSON, cached on every argument. Rates use 2010 populations and are blank
    under 100 residents (see hotspots.neighborhood_counts)."""
    from analytics import hotspots

    with cursor(db_key) as cur:
        counts = hotspots.neighborhood_counts(cur, _f(source, category, start, end), firearm)
        return hotspots.choropleth_geojson(cur, counts)


@st.cache_data(show_spinner=False, max_entries=128)
def concentration(db_key: str, source: str, category: str, start: date, end: date, firearm: bool) -> dict:
    """hotspots.concentration, cached on every argument: the share of placed incidents in the busiest 5% of cells
    (incidents without coordinates are not placed, so not counted)."""
    from analytics import hotspots

    with cursor(db_key) as cur:
        return hotspots.concentration(cur, _f(source, category, start, end), firearm)


@st.cache_data(show_spinner=False, max_entries=128)
def gi_star(db_key: str, source: str, category: str, start: date, end: date, firearm: bool) -> pd.DataFrame:
    """hotspots.gi_star with each cell's centre, cached on every argument: hot and cold spots after the
    false-discovery-rate correction, not raw z-scores."""
    from analytics import hotspots

    with cursor(db_key) as cur:
        return hotspots.with_centres(hotspots.gi_star(cur, _f(source, category, start, end), firearm))


# Results from the user's files (watch areas, canvass events): cached on the database and the file's version
# (Store.version: the file's inode, time and size), so an edit shows on the next run and an unchanged file costs
# a few stat calls instead of a parse and the geometry on every run.
def events_touching(db_key: str, area: str) -> list:
    """Canvass events whose footprint touches a neighborhood."""
    from analytics import registry

    return _events_touching(db_key, registry.EVENTS.version(), area)


@st.cache_data(show_spinner=False, max_entries=64)
def _events_touching(db_key: str, events_version: tuple, area: str) -> list:
    from analytics import profile

    with cursor(db_key) as cur:
        return profile.events_touching(cur, area)


def watch_geojson(db_key: str) -> dict:
    """Watch areas as GeoJSON for the maps."""
    from analytics import watch

    return _watch_geojson(db_key, watch.AREAS.version())


@st.cache_data(show_spinner=False, max_entries=4)
def _watch_geojson(db_key: str, areas_version: tuple) -> dict:
    from analytics import watch

    with cursor(db_key) as cur:
        return watch.geojson(cur, watch.AREAS.load())


def watch_counts(db_key: str, source: str, category: str, start: date, end: date, firearm: bool) -> pd.DataFrame:
    """Every watch area's count for the period in words, for incident and neighborhood-count sources alike (cached
    on the areas file's version)."""
    from analytics import watch

    return _watch_counts(db_key, watch.AREAS.version(), source, category, start, end, firearm)


@st.cache_data(show_spinner=False, max_entries=64)
def _watch_counts(db_key: str, areas_version: tuple, source: str, category: str, start: date, end: date,
                  firearm: bool) -> pd.DataFrame:
    from analytics import watch

    with cursor(db_key) as cur:
        return watch.summary(cur, watch.AREAS.load(), _f(source, category, start, end), firearm)


@st.cache_data(show_spinner=False, max_entries=128)
def profile(db_key: str, source: str, category: str, start: date, end: date, area: str) -> dict:
    """profile.summary for one neighborhood, cached on every argument; victim groups under profile.SMALL_CELL
    people are already hidden."""
    from analytics import profile as prof

    with cursor(db_key) as cur:
        return prof.summary(cur, _f(source, category, start, end, area))


@st.cache_data(show_spinner=False, max_entries=8)
def area_labels(db_key: str) -> dict[str, str]:
    """profile.area_labels, cached per database version: readable names for the unnamed polygons."""
    from analytics import profile as prof

    with cursor(db_key) as cur:
        return prof.area_labels(cur)


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


#: the widgets' ranges for an evaluation's design (the evaluation itself accepts the same or wider)
BUFFER_RANGE = (100.0, 2000.0)
#: link parameter -> Design field, for the design values a link may carry
DESIGN_PARAMS = {"unit": "unit", "source": "source", "measure": "measure", "before": "months_before",
                 "after": "months_after", "buffer": "buffer_m", "comparison": "comparison"}


def event_from_link(params: dict, event_ids: list[str], problems: list[str]) -> tuple[str | None, date | None]:
    """The event and the date a reader tried ("what if the canvass was on ...") that a link names; a bad value is
    named in `problems` and ignored."""
    from analytics import filters

    event = params.get("event") or None
    if event is not None and event not in event_ids:
        problems.append(f"ignored event={str(event)[:40]!r}: no such canvass in the registry")
        event = None
    tried, text = None, params.get("date")
    if text:
        lo, hi = filters.date_bounds()
        try:
            tried = date.fromisoformat(str(text))
        except ValueError:
            problems.append(f"ignored date={str(text)[:40]!r}: not a date (YYYY-MM-DD)")
        if tried is not None and not lo <= tried <= hi:
            problems.append(f"ignored date={tried}: outside the accepted dates, {lo} to {hi}")
            tried = None
    stray = [k for k in DESIGN_PARAMS if params.get(k)] + ["date"] * (tried is not None)
    if event is None and stray:  # a design or date belongs to the canvass it was made for
        problems.append(f"ignored {', '.join(stray)}: they apply to the canvass a link names, and this link names "
                        "none in the registry")
        tried = None
    return event, tried


def _link_number(params: dict, name: str, lo: float, hi: float, whole: bool, problems: list[str]):
    text = params.get(name)
    if text in (None, ""):
        return None
    try:
        value = int(text) if whole else float(text)
        if lo <= value <= hi:
            return value
    except ValueError:
        pass
    kind = "a whole number" if whole else "a number"
    problems.append(f"ignored {name}={str(text)[:40]!r}: not {kind} from {lo:g} to {hi:g}")
    return None


def design_from_link(db_key: str, params: dict, default, problems: list[str]):
    """The design a link asks for, starting from `default` (the event's default design): each value is checked
    against the database and the widgets' ranges; a bad one is named in `problems` and the default kept."""
    from dataclasses import replace

    from analytics import evaluation, filters

    names = set(neighborhoods(db_key)["area_id"])
    unit = filters.pick(params.get("unit"), list(evaluation.UNIT_DEFAULTS), default.unit, problems, "unit")
    base = default if unit == default.unit else evaluation.Design(unit, *evaluation.UNIT_DEFAULTS[unit])
    source = filters.pick(params.get("source"), usable_sources(db_key, unit), base.source, problems, "source")
    measures = categories(db_key, source)["category_id"].tolist()
    fallback = base.measure if base.measure in measures else measures[0]
    measure = filters.pick(params.get("measure"), measures, fallback, problems, "measure")
    lo, hi = evaluation.MONTHS
    before = _link_number(params, "before", lo, hi, True, problems) or default.months_before
    after = _link_number(params, "after", lo, hi, True, problems) or default.months_after
    buffer_m = _link_number(params, "buffer", *BUFFER_RANGE, False, problems) or default.buffer_m
    asked = [a for a in str(params.get("comparison") or "").split("|") if a]
    unknown = [a for a in asked if a not in names]
    if unknown:
        problems.append(f"ignored comparison {', '.join(repr(a[:40]) for a in unknown[:3])}: no such neighborhood")
    comparison = [a for a in asked if a in names] or None
    return replace(default, unit=unit, source=source, measure=measure, months_before=before, months_after=after,
                   buffer_m=float(buffer_m), comparison=comparison)


def outreach_link(event_id: str, tried: date | None, design=None, default=None) -> dict:
    """The query parameters that reproduce an evaluation: the event, a date tried (unsaved), and the design values
    that differ from the event's default design."""
    params = {"event": event_id, **({"date": str(tried)} if tried else {})}
    if design is not None and default is not None:
        for name, field in DESIGN_PARAMS.items():
            value = getattr(design, field)
            if value != getattr(default, field) and value not in (None, []):
                params[name] = "|".join(value) if isinstance(value, list) else f"{value:g}" if isinstance(
                    value, float) else str(value)
    return params


def filters_bounds() -> tuple[date, date]:
    """The first and last day a date widget or link accepts (analytics.filters.date_bounds)."""
    from analytics import filters

    return filters.date_bounds()


def source_labels(db_key: str) -> dict[str, str]:
    """Source id -> the name readers see (the sources table)."""
    frame = sources(db_key)
    return dict(zip(frame.source_id, frame.label, strict=True))


def first_index(options: list, *candidates) -> int:
    """The index of the first candidate among the options (0 when none is): a widget's default."""
    return next((options.index(c) for c in candidates if c in options), 0)


# --- Hotspots page (ranking by count or rate, neighborhood maps, Gi* cells, watch-area counts, map view) ---


@st.cache_data(show_spinner=False, max_entries=128)
def ranking(db_key: str, source: str, category: str, start: date, end: date, firearm: bool, by: str) -> dict:
    """hotspots.rank; raises hotspots.NotCovered (not cached) for a period without data in every month."""
    from analytics import hotspots

    with cursor(db_key) as cur:
        return hotspots.rank(cur, _f(source, category, start, end), firearm, by)


def neighborhood_map(db_key: str, source: str, category: str, start: date, end: date, firearm: bool) -> dict:
    """Neighborhood polygons with count, rate and smoothed rate; raises hotspots.NotCovered like the ranking. The
    map's polygons (lighter than the analytics', same look at city zoom) are the shared ones of _light_polygons."""
    light = _light_polygons(db_key)
    geo = _neighborhood_values(db_key, source, category, start, end, firearm)
    return {**geo, "features": [{**f, "geometry": f.get("geometry") or light[f["properties"]["area_id"]]}
                                for f in geo["features"]]}


@st.cache_data(show_spinner=False, max_entries=128)
def _neighborhood_values(db_key: str, source: str, category: str, start: date, end: date, firearm: bool) -> dict:
    """hotspots.choropleth_geojson for the filter, each feature without its geometry when _light_polygons has it."""
    from analytics import hotspots

    with cursor(db_key) as cur:
        counts = hotspots.neighborhood_counts(cur, _f(source, category, start, end), firearm)
        return hotspots.choropleth_geojson(cur, counts, drawn=_light_polygons(db_key).keys())


@st.cache_data(show_spinner=False, max_entries=128)
def missing_placed_months(db_key: str, source: str, category: str, start: date, end: date,
                          firearm: bool) -> dict[str, str]:
    """Months of the period without neighborhood-level data -> why (hotspots.missing_reasons)."""
    from analytics import hotspots

    with cursor(db_key) as cur:
        return hotspots.missing_reasons(cur, _f(source, category, start, end), firearm)


@st.cache_data(show_spinner=False, max_entries=64)
def cell_neighborhoods(db_key: str, hexes: tuple[str, ...]) -> dict[str, str]:
    """Each hexagon's neighborhood, for tooltips and the click-through to a profile (cached per database)."""
    from analytics import hotspots

    with cursor(db_key) as cur:
        return hotspots.cell_neighborhoods(cur, list(hexes))


def hex_destinations(db_key: str, hexes: tuple[str, ...]) -> dict[str, tuple[str, str]]:
    """Each hexagon -> (area id, name) of the neighborhood holding its centre: where a click on it leads, named in
    its tooltip (maps.hex_layer). Hexagons whose centre is in no neighborhood are left out."""
    ids = {f["properties"]["name"]: f["properties"]["area_id"] for f in neighborhood_outlines(db_key)["features"]}
    return {h: (ids[name], name) for h, name in cell_neighborhoods(db_key, hexes).items() if name in ids}


@st.cache_data(show_spinner=False, max_entries=4)
def city_bounds(db_key: str) -> tuple[float, float, float, float]:
    """The city's bounding box, so the first map view shows all of Kansas City, the Northland included."""
    from analytics import hotspots

    with cursor(db_key) as cur:
        return hotspots.city_bounds(cur)


# Emerging hot spots, early warning, ranking components and the backtest (analytics.emerging, warning, backtest,
# briefing): each cached on every argument, as the queries above.
@st.cache_data(show_spinner=False, max_entries=64)
def emerging_slice(db_key: str, source: str, category: str) -> tuple[str, str | None]:
    """emerging.default_slice: months, or quarters with the line saying why when months are too sparse for Gi*."""
    from analytics import emerging

    with cursor(db_key) as cur:
        return emerging.default_slice(cur, source, category)


@st.cache_data(show_spinner=False, max_entries=64)
def emerging_range(db_key: str, source: str, category: str, slice_: str) -> tuple[date, date]:
    """emerging.default_range: the longest run of slices with data dense enough for Gi*, the page's default period."""
    from analytics import emerging

    with cursor(db_key) as cur:
        return emerging.default_range(cur, source, category, slice_)


@st.cache_data(show_spinner=False, max_entries=32)
def emerging(db_key: str, source: str, category: str, start: date, end: date, slice_: str, unit: str,
             permutations: int) -> dict:
    """emerging.emerging, cached on every argument (about a second for 240 neighborhoods x 138 months)."""
    from analytics import emerging as em

    with cursor(db_key) as cur:
        return em.emerging(cur, _f(source, category, start, end), slice_, unit, permutations)


@st.cache_data(show_spinner=False, max_entries=32)
def emerging_geojson(db_key: str, source: str, category: str, start: date, end: date, slice_: str, unit: str,
                     permutations: int) -> dict:
    """The places of an emerging result as GeoJSON with their category's colour (map and briefing)."""
    from analytics import briefing as br

    result = emerging(db_key, source, category, start, end, slice_, unit, permutations)
    with cursor(db_key) as cur:
        return br.geojson(cur, result, _light_polygons(db_key))


@st.cache_data(show_spinner=False, max_entries=64)
def watchlist(db_key: str, source: str, category: str, slice_: str, month: date | None,
              by: date | None = None) -> dict:
    """warning.watchlist, cached on every argument: the early warning of the latest complete month or quarter
    ending by `by` (a page's period end), or of `month`."""
    from analytics import warning

    with cursor(db_key) as cur:
        return warning.watchlist(cur, source, category, slice_, month, by)


@st.cache_data(show_spinner=False, max_entries=32)
def emerging_ranking(db_key: str, source: str, category: str, start: date, end: date, slice_: str) -> tuple[pd.DataFrame, dict]:
    """backtest.ranking (level, rates and change for the 12 months to `end`, next to the emerging category,
    early-warning flag and persistence), with its notes apart: a cached frame may lose its attrs."""
    from analytics import backtest

    watch = _or_bad_query(watchlist, db_key, source, category, slice_, None, end)
    result = _or_bad_query(emerging, db_key, source, category, start, end, slice_, "neighborhood", 0)
    with cursor(db_key) as cur:
        table = backtest.ranking(cur, _f(source, category, start, end), slice_, watch, result)
    return table, dict(table.attrs)


def _or_bad_query(fn, *args):
    """fn(*args) (a cached function: its result is shared with the page), or the BadQuery it raised, for a ranking
    to report as the component it could not compute."""
    try:
        return fn(*args)
    except queries.BadQuery as exc:
        return exc


@st.cache_data(show_spinner=False, max_entries=64)
def components(db_key: str, source: str, category: str, start: date, end: date) -> tuple[pd.DataFrame, dict]:
    """backtest.components by month for the Hotspots ranking's period (the Emerging page's own functions, so both
    pages compute them one way), with its notes apart: a cached frame may lose its attrs."""
    from analytics import backtest as bt

    # each cached on its own inputs: a new start reuses the watchlist (0.7 s of a cold change), and the Emerging page
    # shares the emerging result
    watch = _or_bad_query(watchlist, db_key, source, category, "month", None, end)
    result = _or_bad_query(emerging, db_key, source, category, start, end, "month", "neighborhood", 0)
    with cursor(db_key) as cur:
        table = bt.components(cur, _f(source, category, start, end), "month", watch, result)
    return table, dict(table.attrs)


@st.cache_data(show_spinner=False, max_entries=32)
def emerging_bounds(db_key: str, source: str, category: str, start: date, end: date, slice_: str, unit: str,
                    permutations: int) -> tuple[float, float, float, float]:
    """briefing.bounds of emerging_geojson: the emerging map's first view (a shapely pass over every place)."""
    from analytics import briefing as br

    return br.bounds(emerging_geojson(db_key, source, category, start, end, slice_, unit, permutations))


@st.cache_resource(show_spinner=False, max_entries=64)
def z_chart(db_key: str, source: str, category: str, start: date, end: date, slice_: str, unit: str,
            permutations: int, place: str):
    """briefing.z_chart of one place of the emerging result, shared like the other figures."""
    from analytics import briefing as br

    return br.z_chart(emerging(db_key, source, category, start, end, slice_, unit, permutations), place)


@st.cache_data(show_spinner=False, max_entries=64)
def ranking_csv(db_key: str, source: str, category: str, start: date, end: date, firearm: bool, by: str) -> bytes:
    """The Hotspots ranking's download: every neighborhood's counts, rates and change with the components the table
    shows (none with firearm-only, as on the page), made once per choice instead of on every run of the page."""
    table = ranking(db_key, source, category, start, end, firearm, by)["table"]
    if not firearm:
        table = table.merge(components(db_key, source, category, start, end)[0], on="area_id", how="left")
    return csv_bytes(table)


@st.cache_data(show_spinner=False, max_entries=8)
def backtest(db_key: str, source: str, category: str) -> dict:
    """backtest.backtest for 2017-2025, cached per database version (about ten seconds: nine years of emerging hot
    spots and watch lists)."""
    from analytics import backtest as bt

    with cursor(db_key) as cur:
        return bt.backtest(cur, source, category)


def briefing_bytes(*args) -> bytes:
    """briefing(...) as UTF-8, for the Emerging page's download (made when clicked)."""
    return briefing(*args).encode("utf-8")


def briefing(db_key: str, source: str, category: str, start: date, end: date, slice_: str, unit: str,
             permutations: int) -> str:
    """The one-page briefing (HTML) for the page's choices, from the cached pieces above."""
    from analytics import briefing as br
    from analytics.queries import BadQuery

    result = emerging(db_key, source, category, start, end, slice_, unit, permutations)
    geo = emerging_geojson(db_key, source, category, start, end, slice_, unit, permutations)
    table, _notes = emerging_ranking(db_key, source, category, start, end, slice_)
    try:
        watch, note = watchlist(db_key, source, category, slice_, None, end), None
    except BadQuery as exc:
        watch, note = None, f"No early warning: {exc}"
    with cursor(db_key) as cur:
        labels, coverage = br.labels_and_coverage(cur, source, category)
    return br.html(result, geo, watch, table, labels, coverage, note)


def registry_key() -> str:
    """A fingerprint of the canvass registry's good records: part of the cache key of every evaluation below, so an
    edited date or footprint (an editor setting a program's start) is never answered from an older cache entry."""
    import hashlib

    from analytics import registry

    return hashlib.sha256(registry.export_csv().encode()).hexdigest()[:16]


@st.cache_data(show_spinner=False, max_entries=32)
def compare_methods(db_key: str, registry_key: str, event_id: str) -> dict:
    """methods.compare: the WDD, the e-test and the synthetic control for one event, with their calibrations
    (a few seconds: cached on the database, the registry and the event)."""
    from analytics import methods, registry

    with cursor(db_key) as cur:
        return methods.compare(cur, registry.get(event_id))


@st.cache_data(show_spinner=False, max_entries=32)
def synth_event(db_key: str, registry_key: str, event_id: str) -> dict:
    """methods.synth_event: the synthetic control alone (what the Outreach page can add beside its WDD)."""
    from analytics import methods, registry

    with cursor(db_key) as cur:
        return methods.synth_event(cur, registry.get(event_id))


@st.cache_data(show_spinner=False, max_entries=16)
def program_effect(db_key: str, registry_key: str, program_id: str | None, event_ids: tuple[str, ...]) -> dict:
    """program.evaluate for a program or the events chosen, with its placebo programs (tens of seconds: cached)."""
    from analytics import program

    with cursor(db_key) as cur:
        return program.evaluate(cur, program_id, list(event_ids) or None)


@st.cache_data(show_spinner=False, max_entries=16)
def tracking(db_key: str, registry_key: str, program_id: str | None, event_ids: tuple[str, ...]) -> dict:
    """detect.track: tracking since the start and when drops would show, for a program or events."""
    from analytics import detect

    with cursor(db_key) as cur:
        return detect.track(cur, program_id, list(event_ids) or None)


def programs() -> pd.DataFrame:
    """The named programs and any program id the registry uses (read fresh: editors add events)."""
    from analytics import program

    return program.programs()
