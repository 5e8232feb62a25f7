"""Each adapter on real rows from the bundled files, in every spelling the city publishes."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd
import pytest

from etl.adapters import aggregates, gva, kcpd, kcpd17
from etl.errors import SchemaError
from etl.extract import read_csv_text, stage, stage_frame
from etl.model import materialize
from tests.conftest import RAW, write_csv

pytestmark = pytest.mark.unit


def test_kcpd_api_sample_folds_person_rows_into_reports():
    raw = pd.read_csv(RAW / "kcpd_2018_api_sample.csv.gz", dtype=str)
    parsed = kcpd.parse(read_csv_text(RAW / "kcpd_2018_api_sample.csv.gz"), "sample")
    assert parsed.rows_read == 1000
    assert len(parsed.incidents) == raw["report_no"].nunique() == 926
    assert parsed.rejects == []  # '24:00' is KCPD's midnight, not an error
    row = parsed.incidents.set_index("source_key").loc["180007431"]
    assert (row.lon, row.lat) == (-94.55397, 39.048209)  # API point: longitude first
    assert row.firearm is False or row.firearm == False  # noqa: E712
    assert parsed.has_coords and parsed.has_firearm


def test_kcpd_categories_match_an_independent_count():
    raw = pd.read_csv(RAW / "kcpd_2018_api_sample.csv.gz", dtype=str)
    parsed = kcpd.parse(read_csv_text(RAW / "kcpd_2018_api_sample.csv.gz"), "sample")
    cats = parsed.categories.groupby("category_id").size()
    shootings = raw[raw.ibrs.isin(["09A", "13A"]) & raw.firearm_used_flag.eq("Y")].report_no.nunique()
    assert cats["shooting"] == shootings
    assert cats["aggravated_assault"] == raw[raw.ibrs.eq("13A")].report_no.nunique()
    assert cats["homicide"] == raw[raw.ibrs.eq("09A")].report_no.nunique()


def test_kcpd_portal_spelling_gives_the_same_incidents_as_the_api(tmp_path):
    """The portal CSV export: Report_No, MM/DD/YYYY dates, 'Firearm Used Flag', Location as POINT."""
    raw = pd.read_csv(RAW / "kcpd_2018_api_sample.csv.gz", dtype=str).head(60)
    pts = raw["location"].str.extract(r"\[(-?[\d.]+), (-?[\d.]+)\]")
    portal = pd.DataFrame({
        "Report_No": raw.report_no,
        "Reported_Date": pd.to_datetime(raw.reported_date.str[:10]).dt.strftime("%m/%d/%Y"),
        "Reported_Time": raw.reported_time, "From_Date": raw.from_date, "From_Time": raw.from_time,
        "Offense": raw.offense, "IBRS": raw.ibrs, "Description": raw.description,
        "Firearm Used Flag": raw.firearm_used_flag.map({"Y": "true", "N": "false"}),
        "Location": ("POINT (" + pts[0] + " " + pts[1] + ")").where(pts[0].notna()),
        "Involvement": raw.involvement, "Invl_No": raw.invl_no, "Race": raw.race, "Sex": raw.sex, "Age": raw.age,
    })
    path = tmp_path / "portal.csv"
    portal.to_csv(path, index=False)
    api = write_csv(tmp_path / "api.csv", raw.to_csv(index=False))
    a = kcpd.parse(read_csv_text(api), "api").incidents.set_index("incident_id").sort_index()
    p = kcpd.parse(read_csv_text(path), "portal").incidents.set_index("incident_id").sort_index()
    cols = ["event_date", "lat", "lon", "firearm", "person_rows"]
    pd.testing.assert_frame_equal(a[cols], p[cols])


def test_kcpd_2020_export_has_no_coordinates_and_rejects_exact_duplicates():
    raw = pd.read_csv(RAW / "kcpd_2020_jan_jul_extract.csv.gz", dtype=str)
    parsed = kcpd.parse(read_csv_text(RAW / "kcpd_2020_jan_jul_extract.csv.gz"), "2020")
    assert len(parsed.incidents) == raw.Report_No.nunique() == 24535
    assert len(parsed.rejects) == raw.duplicated().sum() == 1109
    assert {r[1] for r in parsed.rejects} == {"exact duplicate of an earlier row"}
    assert not parsed.has_coords and not parsed.has_firearm


def test_kcpd17_folds_rows_by_date_hour_offense_and_place():
    raw = pd.read_csv(RAW / "kcpd_2017_extract.csv.gz", dtype=str)
    parsed = kcpd17.parse(read_csv_text(RAW / "kcpd_2017_extract.csv.gz"), "2017")
    keys = raw[["Date", "Hour", "Crime", "Latitude", "Longitude"]].drop_duplicates()
    assert len(parsed.incidents) == len(keys) == 28246
    homicides = keys[keys.Crime.eq("Homicide_Non_Negl")]
    assert (parsed.categories.category_id == "homicide").sum() == len(homicides)


def test_gva_research_layout_keeps_shootings_and_counts_people():
    raw = pd.read_csv(RAW / "gva_kc_2013_2018.csv.gz", dtype=str)
    parsed = gva.parse(read_csv_text(RAW / "gva_kc_2013_2018.csv.gz"), "gva")
    shot = (raw.n_killed.astype(int) + raw.n_injured.astype(int)) > 0
    cats = parsed.categories.groupby("category_id").size()
    assert cats["shooting"] == shot.sum()
    assert cats["gun_incident"] == len(raw)
    assert cats["homicide"] == (raw.n_killed.astype(int) > 0).sum()
    victims = parsed.people.loc[parsed.people.role == "victim", "n"].sum()
    assert victims == raw.participant_type.fillna("").str.count("Victim").sum()


def test_gva_export_layout_and_placeholder_points():
    raw = pd.read_csv(RAW / "gva_mass_shootings_kc_2013_2026.csv.gz", dtype=str)
    parsed = gva.parse(read_csv_text(RAW / "gva_mass_shootings_kc_2013_2026.csv.gz"), "mass", "gva_mass")
    assert len(parsed.incidents) == raw["Incident ID"].nunique() == len(raw)
    # from 2025-09 on, GVA's export gives every row one stand-in point (the city's centre), not a place
    late_raw = raw[pd.to_datetime(raw["Incident Date"], format="%B %d, %Y") >= "2025-09-01"]
    stand_in = late_raw[["latitude", "longitude"]].drop_duplicates()
    assert len(late_raw) > 0 and len(stand_in) == 1
    at_stand_in = raw[(raw.latitude == stand_in.latitude.iloc[0]) & (raw.longitude == stand_in.longitude.iloc[0])]
    flagged = parsed.incidents[parsed.incidents.placeholder]
    assert sorted(flagged.source_key) == sorted(at_stand_in["Incident ID"]) and flagged.lat.isna().all()
    late = parsed.incidents[parsed.incidents.event_date >= "2025-09-01"]
    assert len(late) == len(late_raw) and late.placeholder.all() and late.lat.isna().all()
    assert set(parsed.categories.loc[parsed.categories.category_id == "mass_shooting", "incident_id"]) == set(
        parsed.incidents.incident_id)


def test_gva_names_are_dropped_on_read(tmp_path):
    path = write_csv(tmp_path / "gva.csv", """
incident_id,date,city_or_county,address,n_killed,n_injured,latitude,longitude,participant_name,participant_type
1,2016-05-01,Kansas City,4800 Independence Ave,0,1,39.1058,-94.5290,0::Jane Doe,0::Victim
""")
    parsed = gva.parse(read_csv_text(path), "gva.csv")
    assert len(parsed.incidents) == 1
    assert "Jane Doe" not in parsed.incidents.to_csv() + parsed.people.to_csv()
    assert "Jane Doe" not in str(parsed.rejects)


def test_neighborhood_month_counts_are_loaded_long():
    parsed = aggregates.parse_nbhd_monthly(read_csv_text(RAW / "kcpd_monthly_by_neighborhood_2015_2026.csv.gz"), "n")
    assert parsed.rows_read == 33120 and len(parsed.area_counts) == 33120 * 4


@pytest.mark.parametrize("header", ["report_no", "Report_No", "REPORT", "report"])
def test_kcpd_report_number_spellings(header, tmp_path):
    path = write_csv(tmp_path / "k.csv", f"{header},reported_date,ibrs\n190000001,2019-03-04,13A\n")
    assert kcpd.parse(read_csv_text(path), "k.csv").incidents.source_key.tolist() == ["190000001"]


def test_gva_query_export_layout(tmp_path):
    """GVA's own CSV export: '# Killed', '# Injured', 'Incident Date' spelled out, no coordinates."""
    raw = pd.read_csv(RAW / "gva_kc_2013_2018.csv.gz", dtype=str).head(40)
    export = pd.DataFrame({
        "Incident ID": raw.incident_id,
        "Incident Date": pd.to_datetime(raw.date).dt.strftime("%B %-d, %Y"),
        "State": raw.state, "City Or County": raw.city_or_county, "Address": raw.address,
        "# Killed": raw.n_killed, "# Injured": raw.n_injured, "Operations": "N/A",
    })
    path = tmp_path / "export.csv"
    export.to_csv(path, index=False)
    parsed = gva.parse(read_csv_text(path), "export.csv")
    assert len(parsed.incidents) == 40 and not parsed.has_coords
    assert parsed.incidents.event_date.dt.strftime("%Y-%m-%d").tolist() == raw.date.tolist()
    shot = (raw.n_killed.astype(int) + raw.n_injured.astype(int)) > 0
    assert (parsed.categories.category_id == "shooting").sum() == shot.sum()


KCPD_FILES = [RAW / "kcpd_2018_api_sample.csv.gz", RAW / "kcpd_2020_jan_jul_extract.csv.gz",
              *sorted((Path(__file__).parent / "data" / "bad").glob("kcpd_*.csv*"))]


@pytest.mark.parametrize("path", KCPD_FILES, ids=lambda p: p.name)
def test_duckdb_reader_and_careful_reader_give_the_same_load(path):
    """Files DuckDB's reader takes (fast) load exactly as through the careful reader it falls back to."""
    def load(fast: bool):
        with duckdb.connect() as con:
            try:
                staged = stage(con, path) if fast else stage_frame(con, read_csv_text(path))
                parsed = materialize(con, kcpd.parse_staged(con, staged, path.name))
            except SchemaError as exc:
                return str(exc)
            return (parsed.incidents.sort_values("incident_id").astype(str).values.tolist(),
                    sorted(map(tuple, parsed.categories.values.tolist())), sorted(map(tuple, parsed.people.astype(
                        str).values.tolist())), sorted(parsed.rejects), parsed.rows_read, parsed.notes)

    assert load(fast=True) == load(fast=False)


def test_kcpd_coordinates_are_kept_as_the_transform_rule_decides(tmp_path):
    """Latitude/Longitude columns in odd spellings: SQL keeps exactly what transform.check_coordinates keeps."""
    from etl.transform import check_coordinates

    lat = [" 39.1 ", "0", "", "abc", "-94.55", "1e1", "39.05", "nan", "39.0"]
    lon = ["-94.5", "0", "", "-94.5", "39.10", "-94.5", "-94.56", "-94.5", "+-94.5"]
    rows = pd.DataFrame({"Report_No": [f"R{i}" for i in range(len(lat))], "Reported_Date": "01/02/2024",
                         "IBRS": "13A", "Latitude": lat, "Longitude": lon})
    parsed = kcpd.parse(read_csv_text(write_csv(tmp_path / "odd.csv", rows.to_csv(index=False))), "odd")
    keep_lon, keep_lat, reason = check_coordinates(pd.Series(lon).str.strip().replace("", None),
                                                   pd.Series(lat).str.strip().replace("", None))
    expected = pd.DataFrame({"lon": keep_lon, "lat": keep_lat}, dtype=float)[reason.isna().to_numpy()]
    got = parsed.incidents.set_index("source_key").loc[[f"R{i}" for i in expected.index], ["lon", "lat"]]
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected.reset_index(drop=True), check_dtype=False)
    assert got.loc["R0"].tolist() == [-94.5, 39.1] and got.loc["R1"].isna().all() and got.loc["R2"].isna().all()
    assert {r[0] for r in parsed.rejects} == {i + 1 for i in reason[reason.notna()].index}


def test_kc_strip_removes_ascii_whitespace_at_both_ends_only():
    from etl.fold import define_macros

    con = duckdb.connect()
    define_macros(con)
    values = ["a", " a", "a ", "\ta\n", "\x0ba\x0c", "\ra", "a b", "", " ", None, "\xa0a", "x\r"]
    got = [r[0] for r in con.execute("SELECT kc_strip(v) FROM unnest(?) t(v)", [values]).fetchall()]
    assert got == ["a", "a", "a", "a", "a", "a", "a b", "", "", None, "\xa0a", "x"]
