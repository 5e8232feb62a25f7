"""Placing points: areas by grid or polygons, H3 cells by h3ronpy, checked against the slow, plain ways."""

from __future__ import annotations

import h3.api.basic_int
import numpy as np
import pandas as pd

from etl import geo
from tests.conftest import RAW


def _real_points() -> pd.DataFrame:
    """The geocoded rows of the bundled KCPD 2017 extract (about 28,000 real points) and a row without a point."""
    pts = pd.read_csv(RAW / "kcpd_2017_extract.csv.gz", usecols=["Longitude", "Latitude"]).dropna()
    return pd.concat([pts, pd.DataFrame({"Longitude": [float("nan")], "Latitude": [float("nan")]})], ignore_index=True)


def test_h3ronpy_gives_the_cells_of_ubers_h3():
    pts = _real_points()
    x, y = pts.Longitude.to_numpy(), pts.Latitude.to_numpy()
    plain = [h3.api.basic_int.latlng_to_cell(b, a, geo.H3_RESOLUTION) if a == a else 0 for a, b in zip(x, y, strict=True)]
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
    assert format(int(hq["h3"]), "x") == geo.h3_cells(pd.Series([-94.5786]), pd.Series([39.1004])).iloc[0]
    assert format(int(hq["h3"]), "x") == h3.latlng_to_cell(39.1004, -94.5786, geo.H3_RESOLUTION)


def test_the_grid_gives_the_same_areas_as_testing_every_point(monkeypatch):
    """Real points, points on grid lines and corners, and polygon vertices (on a boundary: in no area, or in the
    area that lists them inside) get the same area with the grid as by testing each against the polygons."""
    import shapely

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
