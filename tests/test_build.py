"""Counts after `etl build`, checked against counts computed here straight from the raw files."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
import shapely

from analytics import queries
from analytics.queries import Filter
from kcvt.settings import DATA_DIR
from tests.conftest import RAW

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def city_limits():
    raw = pd.read_csv(DATA_DIR / "geo/kc_council_districts_2023.csv.gz")
    return shapely.union_all(shapely.make_valid(shapely.from_wkt(raw["the_geom"])))


def test_gva_shootings_in_2016_match_the_raw_file(con, city_limits):
    raw = pd.read_csv(RAW / "gva_kc_2013_2018.csv.gz")
    year = raw[raw.date.str.startswith("2016") & ((raw.n_killed + raw.n_injured) > 0)]
    pts = shapely.points(year.longitude.fillna(0), year.latitude.fillna(0))
    inside = shapely.contains_xy(city_limits, year.longitude.fillna(0), year.latitude.fillna(0))
    no_coords_in_kc = year.latitude.isna() & year.city_or_county.eq("Kansas City")
    expected = int((inside | no_coords_in_kc).sum())
    assert len(pts) == 252 and expected == 246
    got = queries.total(con, Filter("gva", "shooting", date(2016, 1, 1), date(2016, 12, 31)))
    assert got["n"] == expected and got["missing_months"] == []


def test_a_year_a_source_does_not_cover_is_no_data_not_zero(con):
    got = queries.total(con, Filter("gva", "shooting", date(2019, 1, 1), date(2019, 12, 31)))
    assert got["n"] is None and len(got["missing_months"]) == 12
    series = queries.monthly(con, Filter("gva", "shooting", date(2018, 1, 1), date(2018, 6, 30)))
    assert series["n"].isna().tolist() == [False, False, False, True, True, True]
    assert (series["status"] == "no data").sum() == 3


def test_gva_2013_is_not_covered(con):
    assert queries.total(con, Filter("gva", "shooting", date(2013, 1, 1), date(2013, 12, 31)))["n"] is None


def test_neighborhood_month_series_matches_the_raw_file(con):
    raw = pd.read_csv(RAW / "kcpd_monthly_by_neighborhood_2015_2026.csv.gz")
    ip = raw[raw.neighborhood.eq("Independence Plaza") & raw.month.str.startswith("2023")].persons.sum()
    city = raw[raw.month.str.startswith("2017")].persons.sum()
    assert (ip, city) == (137, 8233)
    assert queries.total(con, Filter("kcpd_nbhd", "persons", date(2023, 1, 1), date(2023, 12, 31),
                                     "Independence Plaza"))["n"] == ip
    assert queries.total(con, Filter("kcpd_nbhd", "persons", date(2017, 1, 1), date(2017, 12, 31)))["n"] == city


def test_kcpd_2020_homicides_are_distinct_reports(con):
    raw = pd.read_csv(RAW / "kcpd_2020_jan_jul_extract.csv.gz", dtype=str)
    dates = pd.to_datetime(raw.Reported_Date, format="%m/%d/%Y")
    expected = raw[raw.IBRS.eq("09A") & (dates < "2020-07-01")].Report_No.nunique()
    rows = (raw.IBRS.eq("09A") & (dates < "2020-07-01")).sum()
    assert rows > expected  # several person-rows per homicide: counting rows would overcount
    got = queries.total(con, Filter("kcpd", "homicide", date(2020, 1, 1), date(2020, 6, 30)))
    assert got["n"] == expected


def test_kcpd_2020_has_no_shooting_counts_because_it_has_no_firearm_flag(con):
    got = queries.total(con, Filter("kcpd", "shooting", date(2020, 1, 1), date(2020, 6, 30)))
    assert got["n"] is None


def test_the_2018_sample_is_never_a_total(con):
    series = queries.monthly(con, Filter("kcpd", "violent", date(2018, 1, 1), date(2018, 12, 31)))
    assert series["n"].isna().all()
    assert series["status"].iloc[0] == "sample"


def test_council_district_index_and_fbi_series(con):
    raw = pd.read_csv(RAW / "kcpd_daily_by_council_district_2015_2024.csv.gz")
    agg = raw[raw.crime_cluster.eq("Aggravated Assault") & raw.reported_date.str.startswith("2019")]["count"].sum()
    got = queries.total(con, Filter("kcpd_district", "aggravated_assault_index", date(2019, 1, 1), date(2019, 12, 31)))
    assert got["n"] == agg
    ucr = queries.yearly(con, Filter("fbi_ucr", "homicide", date(2006, 1, 1), date(2018, 12, 31))).set_index("year")
    table8 = pd.read_csv(RAW / "fbi_ucr_kansas_city_2006_2018.csv").set_index("year")
    assert (ucr.loc[2018, "n"], ucr.loc[2018, "population"]) == tuple(table8.loc[2018, ["murder", "population"]])
    assert 2007 not in table8.index  # Kansas City is absent from UCR Table 8 for 2007
    assert pd.isna(ucr.loc[2007, "n"]) and ucr.loc[2007, "status"] == "no data"


def test_every_incident_is_one_row_and_outside_points_are_kept_flagged(con):
    dup = con.execute("SELECT count(*) - count(DISTINCT incident_id) FROM incidents").fetchall()[0][0]
    assert dup == 0
    outside = con.execute("SELECT count(*) FROM incidents WHERE source_id = 'kcpd17' AND geo_status = 'outside_city'"
                          ).fetchall()[0][0]
    raw = pd.read_csv(RAW / "kcpd_2017_extract.csv.gz")
    assert outside > 0 and raw.Latitude.min() < 30  # geocodes far from KC are kept, flagged


def test_ruskin_heights_is_assigned_by_polygon(con):
    """GVA incidents (both bundled GVA files) with an address whose point is inside the Ruskin Heights polygon."""
    import gzip
    import json

    with gzip.open(DATA_DIR / "geo/kc_neighborhoods.geojson.gz", "rt") as fh:
        ruskin = next(shapely.make_valid(shapely.geometry.shape(f["geometry"])) for f in json.load(fh)["features"]
                      if f["properties"]["nbhname"] == "Ruskin Heights")
    expected = 0
    for file, lon, lat in (("gva_kc_2013_2018.csv.gz", "longitude", "latitude"), ("gva_kc_2020_jan_may.csv.gz", "lng",
                                                                                  "lat")):
        raw = pd.read_csv(RAW / file)
        placed = raw[raw.address.notna() & raw[lat].notna()]
        expected += int(shapely.contains_xy(ruskin, placed[lon], placed[lat]).sum())
    n = con.execute("SELECT count(*) FROM incidents WHERE source_id = 'gva' AND neighborhood = 'Ruskin Heights'"
                    ).fetchall()[0][0]
    assert n == expected > 0


def test_no_names_anywhere_in_the_database(con):
    tables = [r[0] for r in con.execute("SELECT table_name FROM information_schema.columns "
                                        "WHERE column_name ILIKE '%name%' AND table_name NOT IN ('areas')").fetchall()]
    assert tables == []


def test_catalog_is_read_once_per_database_version_and_survives_a_removed_link(built_db, tmp_path):
    """Read-only connections share one catalog per file version; a writable one reads it afresh (its data may
    change); a session whose version link was removed by a newer build keeps working."""
    import os

    import duckdb

    link = tmp_path / ".kc.duckdb.v1"
    os.link(built_db, link)
    with duckdb.connect(str(link), read_only=True) as ro:
        first = queries.catalog(ro)
        assert queries.catalog(ro.cursor()) is first
        assert first.kinds["gva"] == "incidents" and ("gva", "shooting") in first.scopes
        link.unlink()  # what kcvt.db.versioned_path does to older versions
        assert queries.total(ro, Filter("gva", "shooting", date(2016, 1, 1), date(2016, 12, 31)))["n"] == 246
    copy = tmp_path / "rw.duckdb"
    copy.write_bytes(built_db.read_bytes())
    with duckdb.connect(str(copy)) as rw:
        before = queries.catalog(rw)
        rw.execute("DELETE FROM source_measures WHERE source_id = 'gva' AND measure = 'shooting'")
        assert ("gva", "shooting") in before.scopes and ("gva", "shooting") not in queries.catalog(rw).scopes
