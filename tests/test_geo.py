"""Placing points: the child process that indexes H3 cells for big loads gives the same answer as this process."""

from __future__ import annotations

import pandas as pd

from etl import geo
from tests.conftest import RAW


def _real_points() -> pd.DataFrame:
    """The geocoded rows of the bundled KCPD 2017 extract (about 28,000 real points) and a row without a point."""
    pts = pd.read_csv(RAW / "kcpd_2017_extract.csv.gz", usecols=["Longitude", "Latitude"]).dropna()
    return pd.concat([pts, pd.DataFrame({"Longitude": [float("nan")], "Latitude": [float("nan")]})], ignore_index=True)


def test_the_h3_child_process_places_points_like_this_process(monkeypatch):
    pts = _real_points()
    monkeypatch.setattr(geo, "BIG_LOAD", 10**12)
    here = geo.assign(pts.Longitude, pts.Latitude)
    monkeypatch.setattr(geo, "BIG_LOAD", 1)
    child = geo.assign(pts.Longitude, pts.Latitude)
    pd.testing.assert_frame_equal(here, child)
    assert here["h3"].iloc[-1] == 0 and pd.isna(here["neighborhood"].iloc[-1])  # no point: no cell, no area
    assert here["in_city"].mean() > 0.95  # the extract is KCPD's, geocoded in the city
    # Kansas City Police headquarters, 1125 Locust St: downtown, council district 4, ZIP 64106
    hq = geo.assign([-94.5786], [39.1004]).iloc[0]
    assert (hq["neighborhood"], hq["zip"], hq["council_district"]) == ("CBD Downtown", "64106", "4")
    assert format(int(hq["h3"]), "x") == geo.h3_cells(pd.Series([-94.5786]), pd.Series([39.1004])).iloc[0]


def test_a_failed_child_process_falls_back_to_this_process(monkeypatch):
    pts = _real_points().head(2000)
    expected = geo.assign(pts.Longitude, pts.Latitude)
    monkeypatch.setattr(geo, "BIG_LOAD", 1)
    monkeypatch.setattr(geo, "_H3_WORKER", "raise SystemExit(3)")
    pd.testing.assert_frame_equal(geo.assign(pts.Longitude, pts.Latitude), expected)


def test_the_grid_gives_the_same_areas_as_testing_every_point(monkeypatch):
    """Real points, points on grid lines and corners, and polygon vertices (on a boundary: in no area, or in the
    area that lists them inside) get the same area with the grid as by testing each against the polygons."""
    import numpy as np
    import shapely

    monkeypatch.setattr(geo, "BIG_LOAD", 1)  # the grid for any number of points
    pts = _real_points()
    x0, y0, grid = geo._grid("neighborhood")
    lines_x = x0 + geo.GRID_STEP * np.arange(100, 300)
    lines_y = y0 + geo.GRID_STEP * np.arange(100, 300)
    for area_type in geo.LAYERS:
        geoms = geo._layer(area_type)["geometry"].to_numpy()
        vertices = shapely.get_coordinates(shapely.boundary(geoms))[::7]
        x = np.concatenate([pts.Longitude, lines_x, lines_x, vertices[:, 0]])
        y = np.concatenate([pts.Latitude, lines_y, lines_y[::-1], vertices[:, 1]])
        np.testing.assert_array_equal(geo.locate(area_type, x, y), geo._locate(geoms, x, y))
    assert (grid == -2).mean() < 0.1  # few cells need the polygons
