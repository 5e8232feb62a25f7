"""Outreach evaluation: the published WDD example, real events checked by independent counts, placebos."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import shapely

from analytics import evaluation, registry
from analytics.wdd import Z90, minimum_detectable_drop, wdd
from kcvt.settings import ROOT
from tests.conftest import RAW


def test_wdd_reproduces_the_published_worked_example():
    r = wdd((24, 12), (24, 24))["local"]
    assert r.estimate == -12
    assert round(r.se, 2) == 9.17 and round(r.z, 2) == -1.31
    assert (round(r.ci90[0], 1), round(r.ci90[1], 1)) == (-27.1, 3.1)


def test_wdd_total_adds_displacement_and_weights_unequal_windows():
    r = wdd((24, 12), (24, 24), (10, 14), (10, 10))
    assert r["displacement"].estimate == 4 and r["total"].estimate == -8
    assert r["total"].se == pytest.approx(np.sqrt(84 + 44))
    half = wdd((24, 6), (24, 12), before_len=2, after_len=1)["local"]  # after window half as long
    assert half.estimate == pytest.approx((6 - 12) - (12 - 12))
    assert half.se == pytest.approx(np.sqrt((24 + 24) / 4 + (6 + 12)))


def test_minimum_detectable_drop_is_where_z_crosses_the_threshold():
    x = minimum_detectable_drop(100, 100)
    assert wdd((100, 100 * (1 - x)), (100, 100))["local"].z == pytest.approx(-Z90, abs=1e-6)
    assert minimum_detectable_drop(2, 2) is None  # no drop could be told from noise


def _gva_points() -> pd.DataFrame:
    raw = pd.read_csv(RAW / "gva_kc_2013_2018.csv.gz")
    shot = raw[(raw.n_killed + raw.n_injured) > 0 & raw.address.notna()].dropna(subset=["latitude"])
    return shot.assign(month=pd.to_datetime(shot.date).dt.to_period("M"))


def test_2017_event_counts_gva_shootings_inside_the_footprint(con):
    event = registry.get("pal-center-2017-07-26")
    result = evaluation.evaluate(con, event, with_placebos=False)
    assert (result["unit"], result["source"], result["measure"]) == ("points", "gva", "shooting")
    assert result["windows"]["before"][0] == "2017-01" and result["windows"]["after"][-1] == "2018-01"
    # independently: the 800 m circle in metres, points projected with pyproj, counted here
    from pyproj import Transformer
    to_m = Transformer.from_crs("EPSG:4326", "EPSG:26915", always_xy=True)
    cx, cy = to_m.transform(event.point_lon, event.point_lat)
    pts = _gva_points()
    x, y = to_m.transform(pts.longitude.to_numpy(), pts.latitude.to_numpy())
    inside = pts[np.hypot(x - cx, y - cy) <= event.radius_m]
    before = inside.month.between(pd.Period("2017-01"), pd.Period("2017-06")).sum()
    after = inside.month.between(pd.Period("2017-08"), pd.Period("2018-01")).sum()
    assert result["counts"]["footprint"] == {"before": int(before), "after": int(after)}


def test_2023_event_counts_neighborhood_months(con):
    event = registry.get("independence-ave-2023-11-29")
    result = evaluation.evaluate(con, event, with_placebos=False)
    assert (result["unit"], result["source"], result["measure"]) == ("areas", "kcpd_nbhd", "persons")
    assert set(result["footprint_areas"]) >= {"Lykins", "Scarritt Point", "South Indian Mound"}
    raw = pd.read_csv(RAW / "kcpd_monthly_by_neighborhood_2015_2026.csv.gz")
    mine = raw[raw.neighborhood.isin(result["footprint_areas"])]
    before = mine[mine.month.between("2023-05", "2023-10")].persons.sum()
    after = mine[mine.month.between("2023-12", "2024-05")].persons.sum()
    assert result["counts"]["footprint"] == {"before": int(before), "after": int(after)}
    ctrl = raw[raw.neighborhood.isin(result["comparison_areas"])]
    assert result["counts"]["comparison"]["before"] == ctrl[ctrl.month.between("2023-05", "2023-10")].persons.sum()
    assert not set(result["comparison_areas"]) & set(result["footprint_areas"] + result["buffer_areas"])
    t = result["wdd"]["local"]
    b, a = result["counts"]["footprint"], result["counts"]["comparison"]
    assert t["estimate"] == pytest.approx(((b["after"] - b["before"]) - (a["after"] - a["before"])) / 6)


def test_windows_without_data_are_not_evaluated(con):
    event = registry.get("independence-ave-2023-11-29")
    result = evaluation.evaluate(con, event, evaluation.Design("points", "gva", "shooting"), with_placebos=False)
    assert result["status"] == "missing data"
    assert "2023-05" in result["missing_months"] and "python -m etl load" in result["message"]


def test_an_undated_event_asks_for_its_date(con):
    result = evaluation.evaluate(con, registry.get("ruskin-heights-undated"))
    assert result["status"] == "needs a date"


def test_placebo_false_positive_rate_is_at_most_nominal(con):
    """On real data, the verdict claims a change at fake dates and in untreated places at most 10% of the time."""
    result = evaluation.evaluate(con, registry.get("independence-ave-2023-11-29"))
    plc = result["placebo"]
    z = np.abs(np.array(plc["fake_dates"] + plc["other_areas"]))
    assert len(z) >= 100
    assert (z > plc["critical_z"]).mean() <= 0.10
    assert plc["share_beyond_nominal"] <= 0.10  # on this series the Poisson threshold itself holds


def test_registry_survives_a_rebuild(built_db, tmp_path, registry_file):
    from etl.build import build

    event = registry.parse({"event_id": "test-walk", "name": "Test walk", "start_date": "2016-05-04",
                            "footprint_type": "neighborhoods", "neighborhoods": "Lykins"})
    registry.upsert(event)
    before = registry_file.read_text()
    build(tmp_path / "rebuilt.duckdb", progress=False)
    assert registry_file.read_text() == before
    assert registry.get("test-walk").neighborhoods == ["Lykins"]


@pytest.mark.parametrize("raw, message", [
    ({"event_id": "x", "name": "Walk", "footprint_type": "point"}, "event_id"),
    ({"event_id": "walk-1", "name": "Walk", "footprint_type": "point", "start_date": "2024-02-30"}, "start_date"),
    ({"event_id": "walk-1", "name": "Walk", "footprint_type": "point", "start_date": "2024-02-03",
      "end_date": "2024-01-01", "point_lon": -94.5, "point_lat": 39.0, "radius_m": 300}, "before start date"),
    ({"event_id": "walk-1", "name": "Walk", "footprint_type": "point", "start_date": "2024-02-03"}, "needs point_lon"),
    ({"event_id": "walk-1", "name": "Walk", "footprint_type": "corridor", "line_wkt": "LINESTRING (oops)",
      "corridor_width_m": 100}, "line_wkt"),
    ({"event_id": "walk-1", "name": "=HYPERLINK(\"http://x\")", "footprint_type": "neighborhoods",
      "start_date": "1850-01-01", "neighborhoods": "Lykins"}, "outside the accepted dates, 2000-01-01"),
])
def test_bad_events_are_rejected_with_a_message(raw, message):
    with pytest.raises(registry.RegistryError, match=message):
        registry.parse(raw)


def test_footprints_must_be_in_the_city(con):
    city = shapely.from_wkt(con.execute("SELECT geometry_wkt FROM areas WHERE area_type = 'city'").fetchall()[0][0])
    known = {r[0] for r in con.execute("SELECT area_id FROM areas WHERE area_type = 'neighborhood'").fetchall()}
    with pytest.raises(registry.RegistryError, match="outside the Kansas City area"):  # refused as it enters
        registry.parse({"event_id": "dallas", "name": "Elsewhere", "footprint_type": "point",
                        "point_lon": -96.8, "point_lat": 32.78, "radius_m": 400})
    kck = registry.parse({"event_id": "kck-point", "name": "Elsewhere", "footprint_type": "point",
                          "point_lon": -94.70, "point_lat": 39.11, "radius_m": 400})  # Kansas City, Kansas
    with pytest.raises(registry.RegistryError, match="not inside Kansas City"):
        registry.check_inside_city(kck, city, known)
    typo = registry.parse({"event_id": "typo", "name": "Typo", "footprint_type": "neighborhoods",
                           "neighborhoods": "Lykinz"})
    with pytest.raises(registry.RegistryError, match="unknown neighborhood"):
        registry.check_inside_city(typo, city, known)


def test_import_keeps_good_rows_and_reports_bad_ones():
    existing = pd.read_csv(io.StringIO(registry.export_csv()), dtype=str)
    extra = pd.DataFrame([{"event_id": "new-walk", "name": "New walk", "start_date": "2016-05-04",
                           "footprint_type": "neighborhoods", "neighborhoods": "Lykins"},
                          {"event_id": "BAD ID", "name": "Bad", "footprint_type": "point"}])
    n, problems = registry.import_csv(pd.concat([existing, extra]).to_csv(index=False))
    bad_row = len(existing) + 2
    assert problems == [f"row {bad_row}: BAD ID: event_id: String should match pattern '^[a-z0-9][a-z0-9-]{{2,79}}$'"]
    assert n == len(existing) + 1
    assert {e.event_id for e in registry.load()} >= {"new-walk", "pal-center-2017-07-26"}


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "analytics", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


def test_cli_evaluate_and_wdd_match_the_library(built_db, con):
    out = _cli("evaluate", "--event", "independence-ave-2023-11-29", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    lib = evaluation.evaluate(con, registry.get("independence-ave-2023-11-29"))
    assert data["counts"] == lib["counts"] and data["verdict"] == lib["verdict"]
    w = json.loads(_cli("wdd", "--treated", "24", "12", "--control", "24", "24", "--json").stdout)
    assert round(w["local"]["se"], 2) == 9.17
    events = json.loads(_cli("events", "--json").stdout)
    assert {e["event_id"] for e in events} == set(pd.read_csv(registry.SEED).event_id)


def test_report_is_self_contained_and_escapes_user_text(con):
    event = registry.get("independence-ave-2023-11-29").model_copy(
        update={"organisations": "<script>alert(1)</script>"})
    from analytics import report

    result = evaluation.evaluate(con, event, with_placebos=False)
    page = report.html(result, event)
    assert result["verdict"] in page and "<svg" in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert 'src="https://cdn.plot.ly' not in page  # plotly.js inlined: the report works offline
