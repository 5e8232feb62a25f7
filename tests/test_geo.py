"""Placing points: areas by grid or polygons, H3 cells by h3ronpy, checked against the slow, plain ways."""

from __future__ import annotations

import h3.api.basic_int
import h3.api.basic_str
import numpy as np
import pandas as pd
import shapely

from etl import geo
from tests.conftest import RAW


def _real_points() -> pd.DataFrame:
    """The geocoded rows of the bundled KCPD 2017 extract (about 28,000 real points) and a row without a point."""
    pts = pd.read_csv(RAW / "kcpd_2017_extract.csv.gz", usecols=["Longitude", "Latitude"]).dropna()
    return pd.concat([pts, pd.DataFrame({"Longitude": [float("nan")], "Latitude": [float("nan")]})], ignore_index=True)


def _hexagon(cell: str) -> shapely.Polygon:
    """A cell's boundary from Uber's h3 ((lat, lng) pairs) as a lon/lat polygon."""
    return shapely.Polygon([(lng, lat) for lat, lng in h3.api.basic_str.cell_to_boundary(cell)])


def test_a_published_cell_id():
    """Snowflake's H3_LATLNG_TO_CELL documentation (another implementation): the Brandenburg Gate, 52.516262 N
    13.377704 E, is cell 613036919424548863 (881F1D4887FFFFF) at resolution 8."""
    assert geo.h3_ints(np.array([13.377704]), np.array([52.516262]), 8).tolist() == [613036919424548863]


def test_every_real_point_lies_in_its_cell():
    """The cell given to a point is the hexagon around it (checked with shapely on the cell's boundary), at
    resolution 9 (about 0.1 km2, the size the maps and Gi* are built on)."""
    pts = _real_points().dropna().iloc[::50]  # about 560 real points
    cells = geo.h3_cells(pts.Longitude, pts.Latitude)
    assert {h3.api.basic_str.get_resolution(c) for c in cells} == {9}
    inside = [_hexagon(c).covers(shapely.Point(x, y)) for c, x, y in zip(cells, pts.Longitude, pts.Latitude,
                                                                         strict=True)]
    assert all(inside)


def _parent_by_bits(cell: str, res: int) -> str:
    """The parent from the H3 index layout (h3geo.org, 'H3 Index'): resolution in bits 52-55, then one 3-bit digit
    per resolution from 1 (bits 42-44) to 15 (bits 0-2); digits finer than the resolution are all 7."""
    n = int(cell, 16) & ~(0xF << 52) | (res << 52)
    for r in range(res + 1, 16):
        n |= 0b111 << (3 * (15 - r))
    return format(n, "x")


def test_parents_follow_the_h3_index_layout():
    pts = _real_points().dropna().iloc[::50]
    cells = geo.h3_cells(pts.Longitude, pts.Latitude).unique().tolist()
    parents = geo.h3_parents(cells)
    assert parents["r8"].tolist() == [_parent_by_bits(c, 8) for c in cells]
    assert parents["r7"].tolist() == [_parent_by_bits(c, 7) for c in cells]


def test_h3ronpy_gives_the_cells_of_ubers_h3():
    pts = _real_points()
    x, y = pts.Longitude.to_numpy(), pts.Latitude.to_numpy()
    plain = [h3.api.basic_int.latlng_to_cell(b, a, 9) if a == a else 0 for a, b in zip(x, y, strict=True)]
    np.testing.assert_array_equal(geo.h3_ints(x, y), np.array(plain, dtype=np.uint64))
    assert geo.h3_ints(np.array([np.inf, -94.5]), np.array([39.1, np.nan])).tolist() == [0, 0]  # no finite point


def test_placing_points(monkeypatch):
    pts = _real_points()
    monkeypatch.setattr(geo, "BIG_LOAD", 10**12)
    here = geo.assign(pts.Longitude, pts.Latitude)
    monkeypatch.setattr(geo, "BIG_LOAD", 1)
    pd.testing.assert_frame_equal(geo.assign(pts.Longitude, pts.Latitude), here)  # with the grids
    assert here["h3"].iloc[-1] == 0 and pd.isna(here["neighborhood"].iloc[-1])  # no point: no cell, no area
    assert here["in_city"].mean() > 0.95  # the extract is KCPD's, geocoded in the city
    # Kansas City Police headquarters, 1125 Locust St: downtown, council district 4, ZIP 64106
    hq = geo.assign([-94.5786], [39.1004]).iloc[0]
    assert (hq["neighborhood"], hq["zip"], hq["council_district"]) == ("CBD Downtown", "64106", "4")
    cell = format(int(hq["h3"]), "x")
    assert cell == h3.api.basic_str.latlng_to_cell(39.1004, -94.5786, 9)  # Uber's h3, called directly
    assert _hexagon(cell).contains(shapely.Point(-94.5786, 39.1004))


def test_the_grid_gives_the_same_areas_as_testing_every_point(monkeypatch):
    """Real points, points on grid lines and corners, and polygon vertices (on a boundary: in no area, or in the
    area that lists them inside) get the same area with the grid as by testing each against the polygons."""
    monkeypatch.setattr(geo, "BIG_LOAD", 1)  # the grid for any number of points
    pts = _real_points()
    x0, y0, grid = geo.area_grid("neighborhood")
    lines_x = x0 + geo.GRID_STEP * np.arange(100, 300)
    lines_y = y0 + geo.GRID_STEP * np.arange(100, 300)
    for area_type in geo.LAYERS:
        geoms = geo.layer(area_type)["geometry"].to_numpy()
        vertices = shapely.get_coordinates(shapely.boundary(geoms))[::7]
        x = np.concatenate([pts.Longitude, lines_x, lines_x, vertices[:, 0]])
        y = np.concatenate([pts.Latitude, lines_y, lines_y[::-1], vertices[:, 1]])
        np.testing.assert_array_equal(geo.locate(area_type, x, y), geo.first_containing(geoms, x, y))
    assert (grid == -2).mean() < 0.1  # few cells need the polygons
