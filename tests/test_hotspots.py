"""Hotspots: ranking, Gi*, watch areas and map payloads, checked against independent computations."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
from datetime import date

import duckdb
import h3
import numpy as np
import pandas as pd
import pytest
import shapely
from statsmodels.stats.rates import test_poisson_2indep as poisson_etest

from analytics import hotspots, profile, watch
from analytics.queries import Filter
from kcvt.settings import DATA_DIR, ROOT
from tests.conftest import RAW

GVA_2016 = Filter("gva", "shooting", date(2016, 1, 1), date(2016, 12, 31))


@pytest.fixture(scope="module")
def gva_shootings():
    raw = pd.read_csv(RAW / "gva_kc_2013_2018.csv.gz")
    shot = raw[((raw.n_killed + raw.n_injured) > 0) & raw.address.notna() & raw.latitude.notna()]
    return shot[shot.date.str.startswith("2016")]


@pytest.fixture(scope="module")
def neighborhood_polygons():
    with gzip.open(DATA_DIR / "geo/kc_neighborhoods.geojson.gz", "rt") as fh:
        feats = json.load(fh)["features"]
    return {(f["properties"]["nbhname"] or f"unnamed-{f['properties']['objectid']}"):
            shapely.make_valid(shapely.geometry.shape(f["geometry"])) for f in feats}


def test_ranking_of_neighborhood_months_matches_the_raw_file(con):
    raw = pd.read_csv(RAW / "kcpd_monthly_by_neighborhood_2015_2026.csv.gz")
    now = raw[raw.month.str.startswith("2025")].groupby("neighborhood").persons.sum()
    prev = raw[raw.month.str.startswith("2024")].groupby("neighborhood").persons.sum()
    result = hotspots.rank(con, Filter("kcpd_nbhd", "persons", date(2025, 1, 1), date(2025, 12, 31)))
    table = result["table"].set_index("area_id")
    assert result["previous_start"] == "2024-01-01" and result["previous_end"] == "2024-12-31"
    assert table.iloc[0].name == now.idxmax() == "CBD Downtown"
    for area in ["Ruskin Heights", "Independence Plaza", "Lykins"]:
        assert table.loc[area, "n"] == now[area] and table.loc[area, "previous"] == prev[area]
        p = poisson_etest(now[area], 1, prev[area], 1, method="etest").pvalue
        assert table.loc[area, "p_value"] == pytest.approx(p, abs=1e-4)
    assert result["total"] == now.sum()


def test_small_counts_are_too_few_to_tell(con):
    table = hotspots.rank(con, GVA_2016)["table"]
    small = table[(table["n"] + table["previous"]) < 10]
    assert len(small) and (small["flag"] == "too few to tell").all()


def test_gva_ranking_matches_an_independent_point_in_polygon(con, gva_shootings, neighborhood_polygons):
    tree = shapely.STRtree(list(neighborhood_polygons.values()))
    names = list(neighborhood_polygons)
    pts = shapely.points(gva_shootings.longitude, gva_shootings.latitude)
    pi, ai = tree.query(pts, predicate="intersects")
    first = pd.Series(ai).groupby(pi).min()
    expected = pd.Series([names[a] for a in first]).value_counts()
    table = hotspots.rank(con, GVA_2016)["table"].set_index("area_id")["n"]
    for area, n in expected.head(10).items():
        assert table[area] == n


def test_gi_star_matches_the_textbook_formula_on_real_rows(con, gva_shootings):
    gi = hotspots.gi_star(con, GVA_2016).set_index("hex")
    cells = list(gi.index)
    districts = pd.read_csv(DATA_DIR / "geo/kc_council_districts_2023.csv.gz")
    city = shapely.union_all(shapely.make_valid(shapely.from_wkt(districts["the_geom"])))
    in_city = gva_shootings[shapely.contains_xy(city, gva_shootings.longitude, gva_shootings.latitude)]
    # bins are stored at resolution 9 and coarsened to their parent cells (H3 parents do not tile exactly)
    counts = pd.Series([h3.cell_to_parent(h3.latlng_to_cell(y, x, 9), 8)
                        for x, y in zip(in_city.longitude, in_city.latitude, strict=True)]).value_counts()
    y = np.array([counts.get(c, 0) for c in cells], dtype=float)
    assert y.sum() == gi["n"].sum() == len(in_city)  # every in-city shooting of 2016 is on the grid
    pos = {c: i for i, c in enumerate(cells)}
    n, xbar = len(y), y.mean()
    s = np.sqrt((y**2).mean() - xbar**2)
    for c in gi.index[:25]:
        idx = [pos[c]] + [pos[m] for m in h3.grid_disk(c, 1) if m != c and m in pos]
        w = len(idx)
        z = (y[idx].sum() - xbar * w) / (s * np.sqrt((n * w - w**2) / (n - 1)))
        assert gi.loc[c, "z"] == pytest.approx(z)
    assert (gi["spot"] == "hot").sum() > 0 and set(gi["spot"]) <= {"hot", "cold", "not significant"}


def test_watch_areas_contain_the_incidents_they_should(con):
    areas = {a.area_id: a for a in watch.AREAS.load()}
    raw = pd.read_csv(RAW / "gva_kc_2013_2018.csv.gz")
    block = raw.address.fillna("").str.extract(r"^(\d{4})\s+(?:block of\s+)?Independence Ave", expand=False)
    on_blocks = raw[block.astype(float).between(3100, 4999)]  # between Benton Blvd and Hardesty Ave
    # one row ("4800 block") carries coordinates 5 km west of its block, downtown: a GVA geocoding error
    misplaced = on_blocks[on_blocks.longitude < -94.56]
    placed = on_blocks.drop(misplaced.index)
    assert len(misplaced) == 1 and sorted(placed.address) == ["3407 Independence Ave", "3801 Independence Avenue",
                                                              "4815 Independence Avenue"]
    corridor = watch.shape(con, areas["independence-ave-corridor"])
    assert shapely.contains_xy(corridor, placed.longitude, placed.latitude).all()
    assert not shapely.contains_xy(corridor, -94.5523, 39.1066)  # 2500 block: west of Benton
    inside = watch.incidents_in(con, areas["ruskin-heights"], Filter("gva", "gun_incident", date(2014, 1, 1),
                                                                     date(2020, 12, 31)))
    assert len(inside) == 12  # the GVA incidents placed in Ruskin Heights


def _synthetic_db(n: int, seed: int = 0) -> duckdb.DuckDBPyConnection:
    """SYNTHETIC incidents (never shown in the app): n points jittered across the city, for payload bounds."""
    from etl import geo, load
    from etl.rollup import rollup

    con = duckdb.connect()
    load.init_schema(con)
    rng = np.random.default_rng(seed)
    lon, lat = rng.uniform(-94.65, -94.45, n), rng.uniform(38.95, 39.15, n)
    frame = pd.DataFrame({"incident_id": [f"synthetic:{i}" for i in range(n)], "lon": lon, "lat": lat})
    frame["h3_cell"] = geo.h3_cells(frame["lon"], frame["lat"])
    con.register("f", frame)
    con.execute("""INSERT INTO incidents (incident_id, source_id, source_key, event_date, lat, lon, geo_status,
                   h3_cell, person_rows, load_id)
                   SELECT incident_id, 'gva', incident_id, DATE '2016-06-01', lat, lon, 'in_city', h3_cell, 1, 0
                   FROM f""")
    con.execute("INSERT INTO incident_categories SELECT incident_id, 'shooting' FROM f")
    rollup(con)
    return con


@pytest.mark.parametrize("n", [1_000, 200_000])
def test_map_payload_stays_bounded_as_incidents_grow(n):
    con = _synthetic_db(n)
    for res in (7, 8, 9):
        bins = hotspots.hex_bins(con, GVA_2016, resolution=res)
        assert bins["n"].sum() == n
        assert len(bins.to_json(orient="records").encode()) < 1_000_000
    assert hotspots.points(con, GVA_2016) is None if n > hotspots.MAX_POINTS else len(hotspots.points(con, GVA_2016))


def _gva_victims_by_group(raw: pd.DataFrame) -> pd.Series:
    """Victims per (sex, age band), read straight from GVA's participant columns ('0::Victim||1::Subject-Suspect')."""
    sex = {"Male": "M", "Female": "F"}
    band = {"Adult 18+": "18+", "Teen 12-17": "12-17", "Child 0-11": "0-11"}
    groups = []
    for types, genders, ages in zip(raw.participant_type.fillna(""), raw.participant_gender.fillna(""),
                                    raw.participant_age_group.fillna(""), strict=True):
        g, a = (dict(re.findall(r"(\d+)::?([^|]+)", cell)) for cell in (genders, ages))
        for idx, kind in re.findall(r"(\d+)::?([^|]+)", types):
            if kind == "Victim":
                groups.append((sex.get(g.get(idx), "U"), band.get(a.get(idx), "unknown")))
    return pd.Series(groups, dtype=object).value_counts()


@pytest.mark.parametrize("area", ["Ivanhoe Southeast", "East Community Team South", "Manheim Park"])
def test_victim_groups_of_one_or_two_people_are_hidden(con, neighborhood_polygons, area):
    """GVA shooting victims 2013-2018 by sex and age band in a neighborhood: groups of 1 or 2 people are hidden,
    groups of 3 or more are shown with their real count (counted here from the raw participant columns)."""
    raw = pd.read_csv(RAW / "gva_kc_2013_2018.csv.gz")
    shot = raw[((raw.n_killed + raw.n_injured) > 0) & raw.address.notna() & raw.latitude.notna()]
    mine = shot[shapely.contains_xy(neighborhood_polygons[area], shot.longitude, shot.latitude)]
    expected = _gva_victims_by_group(mine)
    assert (expected <= 2).any() and (expected >= 3).any()  # both kinds of group are really there
    vic = profile.victims(con, Filter("gva", "shooting", date(2013, 1, 1), date(2018, 12, 31), area))
    vic = vic.set_index(["sex", "age_band"])
    assert sorted(vic.index) == sorted(expected.index)
    for group, people in expected.items():
        if people <= 2:
            assert pd.isna(vic.loc[group, "people"]) and vic.loc[group, "shown"] == "fewer than 3", group
        else:
            assert vic.loc[group, "people"] == people and vic.loc[group, "shown"] == str(people), group


def test_rank_cli_gives_the_page_table(built_db, con):
    out = subprocess.run([sys.executable, "-m", "analytics", "rank", "--category", "shooting", "--source", "gva",
                          "--start", "2016-01-01", "--end", "2016-12-31", "--json"], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    lib = hotspots.rank(con, GVA_2016)["table"]
    assert [r["area_id"] for r in data["table"][:10]] == lib["area_id"].head(10).tolist()
    assert data["total"] == int(lib["n"].sum())


def test_concentration_share_matches_an_independent_count(con):
    raw = pd.read_csv(RAW / "gva_kc_2013_2018.csv.gz")
    rows = raw[raw.date.between("2014-01-01", "2018-03-31") & raw.address.notna() & raw.latitude.notna()]
    districts = pd.read_csv(DATA_DIR / "geo/kc_council_districts_2023.csv.gz")
    city = shapely.union_all(shapely.make_valid(shapely.from_wkt(districts["the_geom"])))
    in_city = rows[shapely.contains_xy(city, rows.longitude, rows.latitude)]
    per_cell = pd.Series([h3.latlng_to_cell(y, x, 9) for x, y in zip(in_city.longitude, in_city.latitude,
                                                                     strict=True)]).value_counts()
    cells = len(h3.geo_to_cells(city.__geo_interface__, 9))
    top = int(np.ceil(0.05 * cells))
    expected = round(100 * per_cell.head(top).sum() / per_cell.sum(), 1)
    got = hotspots.concentration(con, Filter("gva", "gun_incident", date(2014, 1, 1), date(2018, 3, 31)))
    assert (got["cells"], got["top_cells"], got["incidents"]) == (cells, top, len(in_city))
    assert got["share_in_top_5pct"] == expected < 100  # more busy cells than the top 5%: a real share
