"""Watch areas: places users keep an eye on (a neighborhood, a corridor, or a point and radius).

Kept, like the canvass registry, as user data outside the incident database
(data/registry/watch_areas.csv, or `KC_VIOLENCE_WATCH`). Seeded with Ruskin Heights and the
Independence Avenue corridor between Benton Blvd and Hardesty Ave (its ends derived from GVA
incident addresses: see analytics/geometry.corridor).

Areas are registry.Footprint records, so their geometry passes geometry.guard before GEOS sees it, a bad row of
the file is set aside with its reason (`AREAS.read()`, `AREAS.problems()`) instead of hiding every area, and
saves hold the file's writer lock; see analytics/registry.py.
"""

from __future__ import annotations

import duckdb
import pandas as pd
import shapely
from pydantic import Field, field_validator

from analytics.queries import Filter, validate
from analytics.registry import Footprint, Store, clean_text
from kcvt.settings import DATA_DIR, REFERENCE_DIR

COLUMNS = ["area_id", "name", "footprint_type", "neighborhoods", "line_wkt", "corridor_width_m", "point_lon",
           "point_lat", "radius_m"]


class WatchArea(Footprint):
    """A place users keep an eye on: a registry.Footprint (so the same geometry checks) with an id and a name. The
    id is a lower-case slug, safe in links and file rows."""
    area_id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{2,79}$")
    name: str = Field(min_length=3, max_length=200)

    @field_validator("name", mode="before")
    @classmethod
    def _text(cls, value):
        return clean_text(value)


AREAS = Store(WatchArea, "area_id", COLUMNS, "KC_VIOLENCE_WATCH", DATA_DIR / "registry" / "watch_areas.csv",
              REFERENCE_DIR / "watch_areas_seed.csv")


def shape(con: duckdb.DuckDBPyConnection, area: Footprint) -> shapely.Geometry:
    """The area as a lon/lat polygon (neighborhood footprints: the union of their polygons)."""
    own = area.footprint()
    if own is not None:
        return own
    wkts = con.execute("SELECT geometry_wkt FROM areas WHERE area_type = 'neighborhood' AND area_id IN "
                       "(SELECT unnest(?::VARCHAR[]))", [area.neighborhoods]).fetchall()
    return shapely.union_all([shapely.from_wkt(w[0]) for w in wkts])


def geojson(con: duckdb.DuckDBPyConnection, areas: list[WatchArea]) -> dict:
    """Watch areas as GeoJSON simplified to about 10 m for the map outlines: enough for orientation, and a small
    payload."""
    features = [{"type": "Feature", "properties": {"name": a.name, "area_id": a.area_id},
                 "geometry": shapely.geometry.mapping(shape(con, a).simplify(0.0001))} for a in areas]
    return {"type": "FeatureCollection", "features": features}


def incidents_in(con: duckdb.DuckDBPyConnection, area: WatchArea, f: Filter, firearm_only: bool = False) -> pd.DataFrame:
    """The incidents of a filter that fall inside a watch area."""
    geom = shape(con, area)
    minx, miny, maxx, maxy = geom.bounds
    frame = con.execute(
        """SELECT i.incident_id, i.event_date, i.lat, i.lon, i.address FROM incidents i
           JOIN incident_categories c USING (incident_id)
           WHERE i.source_id = ? AND c.category_id = ? AND i.event_date BETWEEN ? AND ? AND (NOT ? OR i.firearm)
             AND i.lon BETWEEN ? AND ? AND i.lat BETWEEN ? AND ?""",
        [f.source, f.category, f.start, f.end, firearm_only, minx, maxx, miny, maxy]).df()
    inside = shapely.contains_xy(geom, frame["lon"].to_numpy(), frame["lat"].to_numpy())
    return frame[inside].reset_index(drop=True)


#: footprint types as the table names them
TYPE_TEXT = {"neighborhoods": "neighborhood(s)", "corridor": "corridor", "point": "point and radius"}


def count(con: duckdb.DuckDBPyConnection, area: WatchArea, f: Filter, firearm_only: bool = False) -> tuple[str, str]:
    """An area's count for the filter, as text, and how it was counted (or why it cannot be).

    Incident sources: the incidents inside the area's outline. Neighborhood-month counts: the sum of its
    neighborhoods' counts, the same numbers as the ranking; a corridor or circle cuts across neighborhoods, so those
    counts cannot give it. A period with months without data gives no count (never a zero for the missing months).
    """
    from analytics import hotspots

    ctx = validate(con, f)
    gaps = hotspots.missing_reasons(con, f, firearm_only)
    if gaps:
        return "no data", f"no data for {hotspots.reasons_text(gaps)}"
    if ctx.kind == "incidents":
        return f"{len(incidents_in(con, area, f, firearm_only)):,}", "incidents inside the outline"
    if area.footprint_type != "neighborhoods":
        return ("cannot be counted", f"this source counts whole neighborhoods by month, and a "
                                     f"{TYPE_TEXT[area.footprint_type]} cuts across neighborhoods")
    counts = hotspots.neighborhood_counts(con, f, firearm_only).set_index("area_id")["n"]
    return (f"{int(counts.reindex(area.neighborhoods).fillna(0).sum()):,}",
            f"sum of the monthly counts of {', '.join(area.neighborhoods)}")


def summary(con: duckdb.DuckDBPyConnection, areas: list[WatchArea], f: Filter | None,
            firearm_only: bool = False) -> pd.DataFrame:
    """One row per watch area with its count for the filter, in words (see `count`); every cell is text."""
    rows = []
    for a in areas:
        n, how = ("not counted", "no period chosen") if f is None else count(con, a, f, firearm_only)
        rows.append({"watch area": a.name, "type": TYPE_TEXT.get(a.footprint_type, a.footprint_type),
                     "incidents in period": n, "how counted": how})
    return pd.DataFrame(rows, columns=["watch area", "type", "incidents in period", "how counted"])
