"""Areas (neighborhoods, ZIP codes, council districts, the city) and point-in-polygon.

Geometry work uses shapely 2 (vectorised, GEOS underneath): validity repair with `make_valid`; a grid over each
layer whose cells no boundary crosses answer for their points (`locate`); the other points go to prepared polygons
tested with `contains_xy` against the points in their bounding box (`first_containing`). H3 cells of points come from
h3ronpy (H3 in Rust over whole arrays), the rest of H3 from Uber's h3 library. Both release the GIL, so the layers
and the H3 cells run in threads on every core: 5 million points take about 2 s on two cores.
"""

from __future__ import annotations

import gzip
import json
import os
from concurrent.futures import ThreadPoolExecutor
from functools import cache, lru_cache

import h3
import numpy as np
import pandas as pd
import shapely
from h3ronpy.vector import coordinates_to_cells

from etl import reference
from kcvt.settings import DATA_DIR

GEO = DATA_DIR / "geo"
CITY_NAME = "Kansas City"


def _layer_file(area_type: str, column: str = "file") -> str:
    """A layer's file under data/geo, as data/reference/area_layers.csv names it (the files carry their vintage)."""
    return reference.table("area_layers").set_index("area_type").loc[area_type, column]


def _features(name: str) -> list[dict]:
    with gzip.open(GEO / name, "rt", encoding="utf-8") as fh:
        return json.load(fh)["features"]


def _repair(geom: shapely.Geometry) -> shapely.Geometry:
    """Invalid polygons (one neighborhood self-intersects) are repaired, keeping only their areas."""
    if shapely.is_valid(geom):
        return geom
    fixed = shapely.make_valid(geom)
    polys = [g for g in getattr(fixed, "geoms", [fixed]) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.unary_union(polys)


def _neighborhoods() -> pd.DataFrame:
    census = pd.read_csv(GEO / _layer_file("neighborhood", "population_file")).dropna(subset=["Name"])
    by_name = census.set_index("Name")["Population"]
    by_no = census.set_index(census["No."].astype(int).astype(str))["Population"]
    rows = []
    for f in _features(_layer_file("neighborhood")):
        p = f["properties"]
        area_id = p["nbhname"] or f"unnamed-{p['objectid']}"
        pop = by_name.get(p["nbhname"], by_no.get(p["nbhid"])) if p["nbhname"] else None
        rows.append((area_id, p["nbhname"], pop, shapely.geometry.shape(f["geometry"])))
    out = pd.DataFrame(rows, columns=["area_id", "name", "population", "geometry"])
    out["name"] = _unnamed_labels(out)
    out["area_type"] = "neighborhood"
    return out


def _unnamed_labels(areas: pd.DataFrame) -> list[str]:
    """Each neighborhood's one readable name, stored so that maps, rankings and profiles agree.

    Its own, or for the six polygons the city's file leaves unnamed ("unnamed-3") "Unnamed area 3 (next to X)", X the
    named neighborhood it shares the longest border with (its edge widened by about 50 m), else the nearest.
    """
    named = {a: g for a, n, g in zip(areas["area_id"], areas["name"], areas["geometry"], strict=True) if isinstance(n, str)}
    out = []
    for a, n, g in zip(areas["area_id"], areas["name"], areas["geometry"], strict=True):
        if isinstance(n, str):
            out.append(n)
            continue
        edge = g.buffer(0.0005)
        touching = {b: s.intersection(edge).area for b, s in named.items() if s.intersects(edge)}
        near = max(touching, key=touching.get) if touching else min(named, key=lambda b: named[b].distance(g))
        out.append(f"Unnamed area {a.removeprefix('unnamed-')} (next to {near})")
    return out


def _zips() -> pd.DataFrame:
    rows = [(f["properties"]["postalcode"], f["properties"]["postalcode"], None, shapely.geometry.shape(f["geometry"]))
            for f in _features(_layer_file("zip"))]
    out = pd.DataFrame(rows, columns=["area_id", "name", "population", "geometry"])
    out["area_type"] = "zip"
    return out


def _districts() -> pd.DataFrame:
    raw = pd.read_csv(GEO / _layer_file("council_district"), dtype=str)
    out = pd.DataFrame({
        "area_id": raw["DIST_ID"].str.strip(),
        "name": "Council district " + raw["DIST_ID"].str.strip(),
        "population": None,
        "geometry": shapely.from_wkt(raw["the_geom"]),
    })
    out["area_type"] = "council_district"
    return out


@lru_cache(maxsize=1)
def areas() -> pd.DataFrame:
    """Every area with a repaired geometry; the city is the union of the council districts.

    Populations (neighborhoods only) come with their source as area_layers.csv states it, so rates per resident
    always say which census they rest on.
    """
    parts = [_neighborhoods(), _zips(), _districts()]
    frame = pd.concat(parts, ignore_index=True)
    frame["geometry"] = [_repair(g) for g in frame["geometry"]]
    city = shapely.unary_union(list(frame.loc[frame.area_type == "council_district", "geometry"]))
    frame.loc[len(frame)] = {"area_id": CITY_NAME, "name": CITY_NAME, "population": None, "geometry": city,
                             "area_type": "city"}
    stated = reference.table("area_layers").set_index("area_type")["population_source"].to_dict()
    frame["population_source"] = np.where(frame["population"].notna(), frame["area_type"].map(stated), None)
    return frame


def first_containing(geoms: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Index of the first geometry containing each point (-1 if none).

    Each polygon is prepared once and tested only against the points inside its bounding box, found by binary
    search in the points sorted by x: about 2 s for 5 million points and the 246 neighborhoods on this machine,
    where an STRtree `intersects` query over the unprepared city polygon took 30 s per million. `locate` sends it
    only the points a grid cannot answer for.
    """
    by_x = np.argsort(x, kind="stable")  # NaN sort last and match no box
    xs, ys = x[by_x], y[by_x]  # sorted copies: each polygon reads one contiguous slice
    found = np.full(len(x), -1, dtype=np.int64)
    for i, geom in enumerate(geoms):
        shapely.prepare(geom)
        minx, miny, maxx, maxy = geom.bounds
        lo, hi = np.searchsorted(xs, minx, side="left"), np.searchsorted(xs, maxx, side="right")
        window = slice(lo, hi)
        candidates = lo + np.flatnonzero((ys[window] >= miny) & (ys[window] <= maxy) & (found[window] < 0))
        if candidates.size:
            found[candidates[shapely.contains_xy(geom, xs[candidates], ys[candidates])]] = i
    out = np.empty_like(found)
    out[by_x] = found
    return out


GRID_STEP = 0.001  # degrees: cells of about 110 m by 85 m
#: From this many points, placing them uses the grids (see locate); below it, building them costs more than it saves.
BIG_LOAD = 500_000


@cache
def layer(area_type: str) -> pd.DataFrame:
    """The areas of one type, in the order whose indexes `locate` and `first_containing` answer with."""
    return areas()[lambda a: a.area_type == area_type].reset_index(drop=True)


@cache
def area_grid(area_type: str) -> tuple[float, float, np.ndarray]:
    """A grid of GRID_STEP cells over a layer's extent, so most points are placed without testing polygons.

    Each cell holds the index of the first area containing all of it (-1: none), or -2 where an area's boundary
    crosses it. Built with shapely in about 0.3 s.
    """
    geoms = layer(area_type)["geometry"].to_numpy()
    minx, miny, maxx, maxy = shapely.total_bounds(geoms)
    x0, y0 = minx - GRID_STEP, miny - GRID_STEP
    nx, ny = int((maxx - x0) / GRID_STEP) + 2, int((maxy - y0) / GRID_STEP) + 2
    gx, gy = (g.ravel() for g in np.meshgrid(x0 + GRID_STEP * np.arange(nx), y0 + GRID_STEP * np.arange(ny)))
    cells = first_containing(geoms, gx + GRID_STEP / 2, gy + GRID_STEP / 2)  # a cell no boundary crosses is all on one side
    pad = GRID_STEP * 1e-3  # cells tested a little larger: a point rounded into the next cell is still covered
    boxes = shapely.box(gx - pad, gy - pad, gx + GRID_STEP + pad, gy + GRID_STEP + pad)
    cells[shapely.STRtree(boxes).query(shapely.boundary(geoms), predicate="intersects")[1]] = -2
    return x0, y0, cells.reshape(ny, nx)


def locate(area_type: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Index (in the layer's rows) of the first area of `area_type` containing each point, -1 if none.

    From BIG_LOAD points, a point in a grid cell that no boundary crosses takes the cell's answer; only points in
    crossed cells (about a tenth in the city) are tested against the polygons (`first_containing`). Same answers as testing
    every point; fewer points are all tested (building the grids takes longer than that).
    """
    if len(x) < BIG_LOAD:
        return first_containing(layer(area_type)["geometry"].to_numpy(), x, y)
    x0, y0, grid = area_grid(area_type)
    ix, iy = np.floor((x - x0) / GRID_STEP), np.floor((y - y0) / GRID_STEP)
    on_grid = (ix >= 0) & (ix < grid.shape[1]) & (iy >= 0) & (iy < grid.shape[0])  # NaN: off the grid
    found = np.full(len(x), -1, dtype=np.int64)  # off the grid is outside every area
    found[on_grid] = grid[iy[on_grid].astype(np.int64), ix[on_grid].astype(np.int64)]
    crossed = np.flatnonzero(found == -2)
    found[crossed] = first_containing(layer(area_type)["geometry"].to_numpy(), x[crossed], y[crossed])
    return found


#: area type -> the incidents column it fills. Inside the city = inside a council district (the city polygon is
#: their union; only a point exactly on a line between two districts could tell the two apart).
LAYERS = {"neighborhood": "neighborhood", "zip": "zip", "council_district": "council_district"}


def assign(lon: np.ndarray, lat: np.ndarray) -> pd.DataFrame:
    """Neighborhood, ZIP, council district, whether inside the city, and H3 cell of each point.

    Areas are categoricals (compact for millions of points); the H3 cell is a 64-bit integer, 0 where there is no
    point. The three layers and the H3 cells (in one slice per core) run in threads: shapely and h3ronpy release the
    GIL.
    """
    x, y = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    bounds = np.linspace(0, len(x), (os.cpu_count() or 1) + 1, dtype=int)
    with ThreadPoolExecutor(len(LAYERS) + len(bounds) - 1) as pool:
        layers = [pool.submit(locate, t, x, y) for t in LAYERS]
        slices = [pool.submit(h3_ints, x[a:b], y[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        found = [f.result() for f in layers]
        cells = np.concatenate([f.result() for f in slices])
    frame = pd.DataFrame({column: pd.Categorical.from_codes(idx, categories=layer(t)["area_id"].to_numpy(dtype=object))
                          for (t, column), idx in zip(LAYERS.items(), found, strict=True)})
    frame["in_city"] = frame["council_district"].notna()
    frame["h3"] = cells
    return frame


H3_RESOLUTION = 9  # about 0.1 km2 a cell: a few blocks


def h3_ints(x: np.ndarray, y: np.ndarray, resolution: int = H3_RESOLUTION) -> np.ndarray:
    """The H3 cell of each point as an integer (0 where there is no finite point).

    Its usual name is its hexadecimal form (SQL: lower(hex(cell))). h3ronpy does whole arrays in Rust, 1.6x as fast as
    Uber's h3 point by point and without the GIL; tests check both give the same cells.
    """
    cells = np.zeros(len(x), dtype=np.uint64)
    point = np.isfinite(x) & np.isfinite(y)
    if point.any():
        cells[point] = np.asarray(coordinates_to_cells(y[point], x[point], resolution))
    return cells


def h3_cells(lon: pd.Series, lat: pd.Series) -> pd.Series:
    """The H3 cell name of each point (None where there is no point)."""
    cells = h3_ints(lon.to_numpy(dtype=float), lat.to_numpy(dtype=float))
    return pd.Series([format(int(c), "x") if c else None for c in cells], index=lon.index, dtype=object)


def h3_parents(cells: list[str]) -> pd.DataFrame:
    """Resolution-9 cells with their parents at resolutions 8 and 7 (the map's coarser hexagon sizes)."""
    return pd.DataFrame({"h3_cell": cells, "r8": [h3.cell_to_parent(c, 8) for c in cells],
                         "r7": [h3.cell_to_parent(c, 7) for c in cells]})
