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
    monkeypatch.setattr(geo, "WORKER_MIN_POINTS", 10**12)
    here = geo.assign(pts.Longitude, pts.Latitude)
    monkeypatch.setattr(geo, "WORKER_MIN_POINTS", 1)
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
    monkeypatch.setattr(geo, "WORKER_MIN_POINTS", 1)
    monkeypatch.setattr(geo, "_H3_WORKER", "raise SystemExit(3)")
    pd.testing.assert_frame_equal(geo.assign(pts.Longitude, pts.Latitude), expected)
