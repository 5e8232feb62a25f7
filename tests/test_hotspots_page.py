"""The Hotspots page through Streamlit's AppTest on the real database: what a city analyst reads.

No rendered text may hold None, nan, NaT or a raw column name; every map has a legend beside it; the ranking says
what it counts or why it is not shown; the default period is one the source covers; a click on a neighborhood
opens its profile for the same period and source.
"""

from __future__ import annotations

import json
import re
from datetime import date

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from kcvt.settings import ROOT
from tests.conftest import RAW

#: words that mean a missing value leaked into the page
LEAKS = re.compile(r"\b(None|nan|NaN|NaT|<NA>|null)\b")
#: machine column names that must never be shown as a column
RAW_COLUMNS = {"n", "z", "p", "label", "area_id", "name", "hex", "spot", "flag", "rate_per_10k", "previous",
               "smoothed_rate_per_10k", "share_of_city_pct", "change_pct", "p_value", "population", "lat", "lon"}

STATES = {
    "default": {},
    "mass-shootings-2025": {"source": "gva_mass", "category": "mass_shooting", "start": "2025-01-01",
                            "end": "2025-12-31"},
    "kcpd-uncovered": {"source": "kcpd", "category": "persons", "start": "2024-07-01", "end": "2025-12-31"},
    "neighborhood-counts-rate-map": {"source": "kcpd_nbhd", "category": "persons", "layer": "rate"},
    "partly-covered-count-map": {"source": "gva", "start": "2017-07-01", "end": "2020-05-31", "layer": "count"},
    "by-rate-points": {"source": "gva", "start": "2016-01-01", "end": "2016-12-31", "layer": "points", "by": "rate"},
    "no-previous-period": {"source": "kcpd_nbhd", "category": "persons", "start": "2015-01-01", "end": "2015-12-31"},
    "heat": {"source": "gva", "layer": "heat"},
}


def page(**params) -> AppTest:
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=180)
    at.switch_page("views/hotspots.py")
    for k, v in params.items():
        at.query_params[k] = v
    return at.run()


def rendered_text(at: AppTest) -> list[str]:
    """Every text a reader sees: headings, markdown, captions, alerts, metrics, table headers and cells."""
    out = [e.value for kind in ("title", "subheader", "markdown", "caption", "info", "warning", "error", "success")
           for e in getattr(at, kind)]
    out += [f"{m.label} {m.value}" for m in at.metric]
    for d in at.dataframe:
        out += [str(c) for c in d.value.columns] + [str(v) for v in d.value.to_numpy().ravel()]
    return out


def decks(at: AppTest) -> list[dict]:
    return [json.loads(d.proto.json) for d in at.get("deck_gl_json_chart")]


@pytest.mark.parametrize("params", list(STATES.values()), ids=list(STATES))
def test_no_rendered_text_holds_none_nan_or_a_raw_column_name(built_db, params):
    at = page(**params)
    assert not at.exception, [e.value for e in at.exception]
    leaks = [t for t in rendered_text(at) if LEAKS.search(t)]
    assert not leaks, leaks[:5]
    for d in at.dataframe:
        shown = set(map(str, d.value.columns))
        assert not shown & RAW_COLUMNS and not [c for c in shown if "_" in c], shown
    # every map has a legend beside it, and the legend names the watch areas
    legends = [m.value for m in at.markdown if m.value.startswith('<div style="font-size:0.85rem')]
    assert len(legends) == len(decks(at)) >= 1
    # every object a reader can hover carries its own tooltip text
    for spec in decks(at):
        for layer in spec["layers"]:
            if not layer.get("pickable"):
                continue
            data = layer["data"]["features"] if isinstance(layer["data"], dict) else layer["data"]
            tips = [(o.get("properties") or o).get("tooltip") for o in data]
            assert all(tips) and not [t for t in tips if LEAKS.search(t)], layer["id"]



@pytest.mark.parametrize("params", [STATES["default"], {"source": "gva", "layer": "hex"}], ids=["rate-map", "hex-map"])
def test_the_map_outlines_every_neighborhood_edge_once(built_db, params):
    """The map's neighborhood lines are the raw boundary file's polygons' edges (the one self-intersecting polygon
    made valid, keeping its areas; simplified as every map draws them), each border two neighborhoods share listed
    once."""
    import gzip

    import shapely

    from analytics import maps
    from kcvt.settings import DATA_DIR

    with gzip.open(DATA_DIR / "geo/kc_neighborhoods.geojson.gz", "rt") as fh:
        shapes = [shapely.geometry.shape(f["geometry"]) for f in json.load(fh)["features"]]
    shapes = [s if s.is_valid else shapely.union_all([g for g in shapely.get_parts(shapely.make_valid(s))
                                                      if g.geom_type in ("Polygon", "MultiPolygon")]) for s in shapes]
    geometries = [maps.light_geometry(s) for s in shapes]
    want, total = set(), 0
    for g in geometries:
        polygons = g["coordinates"] if g["type"] == "MultiPolygon" else [g["coordinates"]]
        for ring in (r for polygon in polygons for r in polygon):
            for a, b in zip(ring[:-1], ring[1:], strict=True):
                a, b = tuple(round(x, 5) for x in a), tuple(round(x, 5) for x in b)
                if a != b:
                    want.add(frozenset([a, b]))
                    total += 1
    layers = {layer["id"]: layer for layer in decks(page(**params))[0]["layers"]}
    rows = (layers.get("choropleth_outlines") or layers["neighborhood_outlines"])["data"]
    assert len(rows) == len(want) < 0.9 * total  # shared borders once (where both polygons simplified them alike)
    assert {frozenset([tuple(r["s"]), tuple(r["t"])]) for r in rows} == want


def test_the_default_view_is_the_latest_fully_covered_period_and_is_ranked(built_db):
    """The page opens on the newest data: KCPD's neighborhood counts, the last 24 months of the raw file (blind
    review: it opened on GVA's 2016-2018, eight years old, for leaders picking places for the coming year)."""
    nbhd = pd.read_csv(RAW / "kcpd_monthly_by_neighborhood_2015_2026.csv.gz", usecols=["month"])
    last = pd.Period(nbhd.month.max(), freq="M")
    at = page()
    assert at.sidebar.selectbox(key="h_source").value == "kcpd_nbhd"
    assert (at.sidebar.date_input(key="h_start").value, at.sidebar.date_input(key="h_end").value) == (
        (last - 23).start_time.date(), last.end_time.date())
    assert not at.warning  # every month covered: nothing refused
    assert any("Ranked by number of incidents" in m.value and "What is counted:" in m.value for m in at.markdown)
    assert not [c for c in at.caption if "The most recent source is" in c.value]  # it is the most recent

    gva = pd.concat([pd.read_csv(RAW / f, usecols=["date"]).date
                     for f in ("gva_kc_2013_2018.csv.gz", "gva_kc_2020_jan_may.csv.gz")])
    last = pd.Period(max(d for d in gva if d < "2019")[:7], freq="M")  # 2020 has only five months
    at = page(source="gva")
    assert (at.sidebar.date_input(key="h_start").value, at.sidebar.date_input(key="h_end").value) == (
        (last - 23).start_time.date(), last.end_time.date())
    assert any("Coverage of Gun Violence Archive incidents:" in i.value for i in at.info)


def test_an_uncovered_period_shows_a_message_instead_of_the_ranking(built_db):
    at = page(**STATES["kcpd-uncovered"])
    assert any(w.value.startswith("Ranking not shown:") and "2024-07 to 2025-12" in w.value for w in at.warning)
    assert not at.metric and not [d for d in at.dataframe if "incidents" in d.value.columns]


def test_the_hexagon_size_control_shows_only_for_hexagons(built_db):
    assert [s.key for s in page(source="gva", layer="hex").select_slider] == ["h_res"]
    for layer in ("heat", "points", "rate", "count"):
        assert not page(source="gva", layer=layer).select_slider, layer


def test_watch_areas_on_neighborhood_counts_are_counted_or_explained(built_db):
    raw = pd.read_csv(RAW / "kcpd_monthly_by_neighborhood_2015_2026.csv.gz")
    at = page(source="kcpd_nbhd", category="persons", start="2025-01-01", end="2025-12-31")
    table = next(d.value for d in at.dataframe if "watch area" in d.value.columns).set_index("watch area")
    ruskin = raw[raw.month.str.startswith("2025") & (raw.neighborhood == "Ruskin Heights")].persons.sum()
    assert table.loc["Ruskin Heights", "incidents in period"] == f"{ruskin:,}"
    assert (table["incidents in period"] != "").all()


def test_clicking_a_neighborhood_keeps_the_period_and_source(built_db):
    at = page(source="gva", category="shooting", start="2016-01-01", end="2016-12-31")
    # what st.pydeck_chart returns when a reader clicks inside Lykins' outline
    at.session_state["h_map"] = {"selection": {"indices": {"neighborhoods": [0]}, "objects": {
        "neighborhoods": [{"type": "Feature", "properties": {"area_id": "Lykins", "name": "Lykins"}}]}}}
    at.run()
    assert not at.exception and at.title[0].value == "Lykins"
    assert (at.sidebar.date_input(key="p_start").value, at.sidebar.date_input(key="p_end").value) == (
        date(2016, 1, 1), date(2016, 12, 31))
    assert at.sidebar.selectbox(key="p_source").value == "gva"
    assert at.sidebar.selectbox(key="p_category_gva").value == "shooting"
    assert not at.warning  # the profile took every value of the link


def test_hexagons_are_drawn_over_the_outlines_and_a_click_on_one_opens_its_neighborhood(built_db):
    """Hovering a hexagon shows its own count (the outlines were on top and showed the neighborhood's); a click on a
    hexagon opens the profile of the neighborhood at its centre, the one its tooltip names, and a selection without
    an area opens nothing."""
    import gzip

    import h3
    import shapely

    from kcvt.settings import DATA_DIR

    params = {"source": "gva", "category": "shooting", "start": "2016-01-01", "end": "2016-12-31", "layer": "hex"}
    at = page(**params)
    ids = [layer["id"] for layer in decks(at)[0]["layers"]]
    assert ids.index("neighborhoods") < ids.index("hexes")
    hexes = next(layer for layer in decks(at)[0]["layers"] if layer["id"] == "hexes")["data"]
    # each tooltip names the profile a click opens: the raw boundary file's neighborhood at the hexagon's centre
    with gzip.open(DATA_DIR / "geo/kc_neighborhoods.geojson.gz", "rt") as fh:
        features = json.load(fh)["features"]
    named = {f["properties"]["nbhname"]: shapely.geometry.shape(f["geometry"]) for f in features
             if f["properties"]["nbhname"]}
    centres = {}
    for o in hexes:
        lat, lon = h3.cell_to_latlng(o["hex"])
        inside = [name for name, shape in named.items() if shape.contains(shapely.Point(lon, lat))]
        if inside:
            centres[o["hex"]] = inside[0]
            assert o["tooltip"].endswith(f"in this hexagon · a click opens {inside[0]} (at its centre)"), o
    clicked = next(o for o in hexes if o["hex"] in centres)  # st.pydeck_chart hands back the object as drawn
    for picked, title in ((clicked, centres[clicked["hex"]]), ({"hex": "<script>", "n": 3}, "Hotspots and target "
                                                                                              "neighborhoods")):
        at = page(**params)
        at.session_state["h_map"] = {"selection": {"indices": {"hexes": [0]}, "objects": {"hexes": [picked]}}}
        at.run()
        assert not at.exception and at.title[0].value == title


def _ranking_frame(at: AppTest) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if "change larger than chance?" in d.value.columns)


def test_the_ranking_gains_the_emerging_pages_components(built_db, con):
    """kcpd_nbhd: the ranking shows emerging category, early warning and years in the top 10% next to count,
    smoothed rate and change, from the Emerging page's own function; persistence redone from the raw file."""
    import math

    from analytics import backtest, hotspots
    from analytics.queries import Filter

    at = page(source="kcpd_nbhd", category="persons", start="2024-07-01", end="2026-06-30")
    assert not at.exception
    shown = _ranking_frame(at).set_index("neighborhood")
    cols = list(shown.columns)
    assert cols[:6] == ["rank", "incidents", "per 10,000 residents", "smoothed per 10,000", "change %",
                        "change larger than chance?"]
    assert cols[6:9] == ["emerging category", "early warning (2026-06)", "years in top 10% (2015-2025)"]
    f = Filter("kcpd_nbhd", "persons", date(2024, 7, 1), date(2026, 6, 30))
    comp = backtest.components(con, f, "month").set_index("area_id")
    ids = hotspots.rank(con, f)["table"].set_index("name")["area_id"]  # the 6 unnamed polygons have a display name
    comp = comp.reindex(ids.reindex(shown.index).to_numpy()).set_index(shown.index)
    assert (shown["emerging category"] == comp["emerging"].reindex(shown.index)).all()
    assert (shown["early warning (2026-06)"] == comp["early_warning"].reindex(shown.index)).all()
    raw = pd.read_csv(RAW / "kcpd_monthly_by_neighborhood_2015_2026.csv.gz")
    raw["year"] = raw.month.str[:4].astype(int)
    by_year = raw[raw.year <= 2025].groupby(["neighborhood", "year"]).persons.sum().unstack()
    k = math.ceil(0.1 * len(by_year))
    years = sum((by_year[y] >= by_year[y].sort_values(ascending=False).iloc[k - 1]).astype(int) for y in by_year)
    for place, n in years.items():
        if place in shown.index:
            assert shown.loc[place, "years in top 10% (2015-2025)"].strip() == f"{n} of {len(by_year.columns)}"
    assert not LEAKS.search(" ".join(rendered_text(at)))


def test_the_ranking_download_is_made_once_per_choice_with_the_tables_components(built_db):
    """web.ranking_csv (cached per choice, not rebuilt on every run): every neighborhood's count from the raw file,
    the components the page's table shows; with firearm-only, where the page shows none, none."""
    import io

    from app import web

    key = web.db_key()
    got = pd.read_csv(io.BytesIO(web.ranking_csv(key, "kcpd_nbhd", "persons", date(2024, 7, 1), date(2026, 6, 30),
                                                 False, "count")))
    raw = pd.read_csv(RAW / "kcpd_monthly_by_neighborhood_2015_2026.csv.gz")
    raw = raw[(raw.month >= "2024-07") & (raw.month <= "2026-06")].groupby("neighborhood").persons.sum()
    counts = got.set_index("area_id")["n"]
    assert counts.reindex(raw.index).tolist() == raw.tolist() and counts.sum() == raw.sum()
    assert {"emerging", "early_warning", "persistence_years"} <= set(got.columns)
    firearm = pd.read_csv(io.BytesIO(web.ranking_csv(key, "gva", "shooting", date(2016, 1, 1), date(2016, 12, 31),
                                                     True, "count")))
    assert {"emerging", "early_warning", "persistence_years"}.isdisjoint(firearm.columns) and len(firearm) > 200


def test_components_that_cannot_be_computed_say_why_in_one_line(built_db):
    """GVA's default period by month is too sparse for Gi* and has no early warning: no column of blanks or zeros,
    one line each naming why."""
    at = page(source="gva")
    assert not at.exception
    cols = _ranking_frame(at).columns
    assert "emerging category" not in cols and not any(c.startswith("early warning") for c in cols)
    captions = " ".join(c.value for c in at.caption)
    assert "Emerging category not shown: " in captions and "fewer than 30 placed events" in captions
    assert "Early warning not shown: " in captions


def test_the_hot_spot_map_is_drawn_when_asked_and_shows_every_spot_in_the_table(built_db):
    """The Gi* map is a second deck.gl map, drawn on request (a toggle); on, it holds one hexagon per row of the
    spots table, which is there either way."""
    at = page(**STATES["by-rate-points"])
    toggle = next(t for t in at.toggle if t.key == "h_gi_map")
    table = next(d.value for d in at.dataframe if "hot or cold" in d.value.columns)
    assert len(decks(at)) == 1 and not toggle.value and f"{len(table):,} hot and cold spots" in toggle.label
    at = toggle.set_value(True).run()
    gi = [layer for spec in decks(at) for layer in spec["layers"] if layer["id"] == "spots"]
    assert len(decks(at)) == 2 and len(gi) == 1 and len(gi[0]["data"]) == len(table) > 0
    legends = [m.value for m in at.markdown if m.value.startswith('<div style="font-size:0.85rem')]
    assert len(legends) == 2
    # only the main map opens a profile on a click; the Gi* map's legend does not promise it
    assert "click to open its profile" in legends[0] and "click" not in legends[1]


def test_a_layer_the_source_cannot_draw_is_refused_with_the_reason(built_db):
    """Neighborhood counts have no incident points: a link asking for them says so, not "not a known value"."""
    at = page(source="kcpd_nbhd", category="persons", layer="points")
    assert not at.exception
    warned = " ".join(w.value for w in at.warning)
    assert "ignored layer='points': this source has counts by neighborhood, not incident locations" in warned
    assert "not one of the known values" not in warned
    assert at.sidebar.radio(key="h_layer_False").value == "rate"


def test_the_smoothed_rate_map_says_why_a_neighborhood_without_incidents_has_a_rate(built_db):
    """Empirical-Bayes smoothing gives a neighborhood with no incidents a small rate: the legend says so, and the
    Gi* map's tooltips give each hot cell's count with its neighbours (what Gi* weighs)."""
    at = page(**STATES["neighborhood-counts-rate-map"])
    legend = next(m.value for m in at.markdown if m.value.startswith('<div style="font-size:0.85rem'))
    assert "so one with no incidents still shows a small rate" in legend
    at = page(**STATES["by-rate-points"])
    at = next(t for t in at.toggle if t.key == "h_gi_map").set_value(True).run()
    spots = next(layer for spec in decks(at) for layer in spec["layers"] if layer["id"] == "spots")["data"]
    table = next(d.value for d in at.dataframe if "hot or cold" in d.value.columns)
    assert sorted(s["tooltip"].split(", ")[1] for s in spots) == sorted(
        f"{m:,} with its neighbours" for m in table["in cell and its neighbours"])


def test_the_map_says_what_and_when_and_points_to_a_more_recent_source(built_db):
    """Review: the page opens on GVA's 2016-04 to 2018-03 with the period only in the sidebar. The map's heading
    names measure, source and period; an old source's end is set against the newest source's (from the raw files)."""
    gva = pd.read_csv(RAW / "gva_kc_2013_2018.csv.gz")
    nbhd = pd.read_csv(RAW / "kcpd_monthly_by_neighborhood_2015_2026.csv.gz")
    newest = pd.Period(nbhd.month.max(), "M")
    at = page(source="gva")
    assert not at.exception
    start, end = (at.sidebar.date_input(key=k).value for k in ("h_start", "h_end"))
    assert pd.Period(end, "M") == pd.Period(gva.date.max(), "M")  # the extract's last month
    assert any(m.value == f"**Map: shootings from Gun Violence Archive incidents, {start} to {end}**" for m in at.markdown)
    note = next(c.value for c in at.caption if "The most recent source is" in c.value)
    assert f"to {newest.strftime('%B %Y')}" in note
    by_rate = page(by="rate")
    assert any("a rate measures risk to residents, a count where the work is" in m.value for m in by_rate.markdown)
