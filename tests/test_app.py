"""Pages driven through Streamlit's AppTest, on the real database."""

from __future__ import annotations

import json
from datetime import date

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from analytics import evaluation, hotspots, queries, registry
from kcvt.settings import ROOT
from tests.conftest import RAW

pytestmark = pytest.mark.app

PAGES = ["views/home.py", "views/hotspots.py", "views/neighborhood.py", "views/outreach.py", "views/data.py",
         "views/emerging.py", "views/programs.py"]


def app() -> AppTest:
    return AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=120)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_without_error(built_db, page):
    at = app().run()
    if page != "views/home.py":
        at.switch_page(page).run()
    assert not at.exception
    assert at.title
    # a download never reruns the page: a rerun dropped the page's files, and another session's run ending then
    # deleted them (under load most downloads failed; tests/test_browser.py clicks them under load)
    assert all(b.proto.ignore_rerun for b in at.get("download_button"))
    # no map draws an outline with deck.gl's PathLayer (a GeoJsonLayer's stroke, on unless turned off) or a label with
    # its TextLayer: each cost about 0.5-1 s of every visit in a browser without a GPU (analytics.maps.line_layer)
    for deck in at.get("deck_gl_json_chart"):
        for layer in json.loads(deck.proto.json)["layers"]:
            assert layer["@@type"] not in ("PathLayer", "TextLayer"), layer["id"]
            assert layer["@@type"] != "GeoJsonLayer" or layer.get("stroked") is False, layer["id"]


def test_the_home_chart_follows_the_chosen_category_and_period(built_db):
    """The monthly chart is built once per choice and shared (web.monthly_chart): each choice draws its own months,
    summed here from the raw neighborhood file."""
    import json

    raw = pd.read_csv(RAW / "kcpd_monthly_by_neighborhood_2015_2026.csv.gz")
    for category, start, end in [("persons", "2024-01-01", "2024-12-31"), ("property", "2024-01-01", "2024-12-31"),
                                 ("property", "2023-01-01", "2023-06-30")]:
        at = app()
        at.query_params.update(source="kcpd_nbhd", category=category, start=start, end=end)
        at.run()
        assert not at.exception
        lines = [t for t in json.loads(at.get("plotly_chart")[0].proto.spec)["data"] if t.get("mode") == "lines+markers"]
        assert len(lines) == 1, [t.get("name") for t in lines]
        want = raw[(raw.month >= start[:7]) & (raw.month <= end[:7])].groupby("month")[category].sum()
        assert _values(lines[0]["y"]) == want.tolist(), (category, start)


def _values(array) -> list:
    """A plotly JSON array: a list, or numpy's bytes as plotly writes them ({"dtype", "bdata"})."""
    import base64

    import numpy as np

    if isinstance(array, dict):
        return np.frombuffer(base64.b64decode(array["bdata"]), dtype=array["dtype"]).tolist()
    return list(array)


def test_home_shows_real_numbers_for_the_default_view(built_db, con):
    at = app().run()
    metrics = {m.label: m.value for m in at.metric}
    expected = queries.total(con, queries.Filter("kcpd_nbhd", "persons", date(2015, 1, 1), date(2026, 6, 30)))
    assert metrics["Crimes against persons"] == f"{expected['n']:,}"
    raw = pd.read_csv(RAW / "kcpd_monthly_by_neighborhood_2015_2026.csv.gz")
    y2024, y2025 = (raw[raw.month.str.startswith(y)].persons.sum() for y in ("2024", "2025"))
    assert any(f"2025 against 2024** (the latest fully covered year): {y2024:,} → {y2025:,}" in m.value
               for m in at.markdown)


def test_switching_to_gva_shows_gva_shootings_with_gaps(built_db, con):
    at = app().run()
    at.sidebar.selectbox(key="source").set_value("gva").run()
    # the link still named KCPD's category when the source changed: that is the page's own value, not a bad link
    assert not [w.value for w in at.warning if w.value.startswith("Link parameter")]
    at.sidebar.date_input(key="start").set_value(date(2016, 1, 1)).run()
    at.sidebar.date_input(key="end").set_value(date(2016, 12, 31)).run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Shootings"] == "246"
    at.sidebar.date_input(key="end").set_value(date(2019, 12, 31)).run()
    assert any("Excludes 21 months with no data" in c.value for c in at.caption)


def test_every_chosen_category_has_its_total(built_db, con):
    """Five categories chosen: five totals, never the first four (blind review), each the library's count."""
    at = app().run()
    at.sidebar.selectbox(key="source").set_value("kcpd").run()
    ids = list(queries.categories(con, "kcpd")["category_id"])[:5]
    at.sidebar.multiselect(key="categories_kcpd").set_value(ids).run()
    assert not at.exception
    start, end = at.sidebar.date_input(key="start").value, at.sidebar.date_input(key="end").value
    shown = {m.label: m.value for m in at.metric}
    labels = dict(queries.categories(con, "kcpd")[["category_id", "label"]].itertuples(index=False))
    for c in ids:
        t = queries.total(con, queries.Filter("kcpd", c, start, end))
        assert shown[labels[c]] == ("no data" if t["n"] is None else f"{t['n']:,}")
    assert any(m.value.startswith(f"**Totals, {start:%d %b %Y} to {end:%d %b %Y}**") for m in at.markdown)


def test_a_bad_link_parameter_is_named_and_ignored(built_db):
    at = app()
    at.query_params["source"] = "'; DROP TABLE incidents; --"
    at.query_params["start"] = "not-a-date"
    at.run()
    assert not at.exception
    text = " ".join(w.value for w in at.warning)
    assert "ignored source=" in text and "ignored start=" in text


def test_data_page_lists_rejects_and_coverage(built_db):
    at = app().run()
    at.switch_page("views/data.py").run()
    assert any(s.value == "Rejected rows (1,109)" for s in at.subheader)
    assert any("49 homicide rows" in w.value for w in at.warning)


def _outreach(editing: bool = False, tab: str | None = None) -> AppTest:
    """The Outreach page; `tab` opens that tab (only the open tab's code runs)."""
    at = app()
    at.secrets["editing"] = {"password": "correct horse"}
    if editing:
        at.session_state["editing_unlocked"] = True
    if tab:
        at.session_state["outreach_tab"] = tab
    at.switch_page("views/outreach.py")
    return at.run()


REGISTRY_TAB = "Canvass registry"


def test_registry_editing_is_off_unless_the_deployment_turns_it_on(built_db):
    at = app()
    at.switch_page("views/outreach.py").run()
    assert not [d for d in at.dataframe if "Event id" in d.value.columns]  # the registry tab is closed: not built
    at.session_state["outreach_tab"] = REGISTRY_TAB
    at.run()
    assert any("Editing is off" in i.value for i in at.info)
    assert not [t for t in at.text_input if t.key == "f_event_id"]
    seeded = len(pd.read_csv(registry.SEED))
    assert next(d.value for d in at.dataframe if "Event id" in d.value.columns).shape[0] == seeded  # reading stays open
    at = _outreach(tab=REGISTRY_TAB)
    assert not [m for m in at.markdown if m.value.startswith("**In short:**")]  # nor the evaluation, then
    at.text_input(key="registry_password").input("guess").run()
    assert any("Wrong password" in e.value for e in at.error)
    assert not [t for t in at.text_input if t.key == "f_event_id"]
    at.text_input(key="registry_password").input("correct horse").run()
    assert at.text_input(key="f_event_id") is not None


def test_outreach_page_shows_the_same_verdict_as_the_library(built_db, con):
    at = _outreach()
    assert not at.exception
    expected = evaluation.evaluate(con, registry.get("independence-ave-2023-11-29"))
    text = " ".join(m.value for m in at.markdown)
    assert expected["verdict"] in text and expected["displacement"] in text
    counts = next(d.value for d in at.dataframe if "area" in d.value.columns).set_index("area")
    assert counts.loc["footprint", "before"] == expected["counts"]["footprint"]["before"]


def test_outreach_page_asks_for_a_date_and_names_missing_months(built_db):
    at = _outreach()
    at.selectbox(key="event").set_value("ruskin-heights-undated").run()
    assert any("no date" in w.value for w in at.warning)
    at.selectbox(key="event").set_value("independence-ave-2023-11-29").run()
    at.selectbox(key="unit_independence-ave-2023-11-29").set_value("points").run()
    assert any("No data for 2023-05" in e.value for e in at.error)


def test_adding_a_bad_then_a_good_event_through_the_form_and_deleting_it(built_db):
    at = _outreach(editing=True, tab=REGISTRY_TAB)
    at.text_input(key="f_event_id").input("test-walk-2016")
    at.text_input(key="f_name").input("=cmd|' /C calc'!A0")
    at.text_input(key="f_start").input("2016-13-45")
    at.multiselect(key="f_nbhds").set_value(["Lykins"])
    at.button[0].click().run()  # the form's submit button
    assert any("Not saved" in e.value and "start_date" in e.value for e in at.error)
    at.text_input(key="f_start").input("2016-05-04")
    at.text_input(key="f_name").input("Test walk in Lykins")
    at.button[0].click().run()
    assert any("Saved test-walk-2016" in s.value for s in at.success)
    assert registry.get("test-walk-2016").neighborhoods == ["Lykins"]
    at.selectbox(key="delete_choice").set_value("test-walk-2016").run()
    at.button(key="delete_button").click().run()
    assert "test-walk-2016" not in {e.event_id for e in registry.load()}


def test_editing_an_existing_event_prefills_the_form(built_db):
    at = _outreach(editing=True, tab=REGISTRY_TAB)
    at.selectbox(key="edit_choice").set_value("pal-center-2017-07-26").run()
    assert at.text_input(key="f_start").value == "2017-07-26"
    assert at.selectbox(key="f_type").value == "point"


def _hotspots(**params) -> AppTest:
    at = app()
    at.switch_page("views/hotspots.py")  # open the page straight from a shared link
    for k, v in params.items():
        at.query_params[k] = v
    return at.run()


def test_hotspots_ranking_shows_the_library_numbers_and_follows_filters(built_db, con):
    at = _hotspots(source="gva", category="shooting", start="2016-01-01", end="2016-12-31")
    assert not at.exception
    expected = hotspots.rank(con, queries.Filter("gva", "shooting", date(2016, 1, 1), date(2016, 12, 31)))
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Incidents placed in neighborhoods"] == f"{expected['total']:,}"
    shown = next(d.value for d in at.dataframe if "change larger than chance?" in d.value.columns)
    assert shown["neighborhood"].head(5).tolist() == expected["table"]["name"].head(5).tolist()
    at.sidebar.date_input(key="h_end").set_value(date(2016, 6, 30)).run()
    half = hotspots.rank(con, queries.Filter("gva", "shooting", date(2016, 1, 1), date(2016, 6, 30)))
    assert {m.label: m.value for m in at.metric}["Incidents placed in neighborhoods"] == f"{half['total']:,}"
    assert at.query_params["end"] in ("2016-06-30", ["2016-06-30"])


def test_hotspots_bad_link_values_are_named(built_db):
    at = _hotspots(source="gva", layer="<script>", start="2016-99-01")
    assert not at.exception
    text = " ".join(w.value for w in at.warning)
    assert "ignored layer=" in text and "ignored start=" in text


def test_neighborhood_profile_shows_the_areas_counts(built_db, con):
    at = app()
    at.switch_page("views/neighborhood.py")
    at.query_params["area"] = "Ruskin Heights"
    at.query_params["source"] = "kcpd_nbhd"
    at.query_params["category"] = "persons"
    at.run()
    assert not at.exception and at.title[0].value == "Ruskin Heights"
    total = queries.total(con, queries.Filter("kcpd_nbhd", "persons", date(2015, 1, 1), date(2026, 6, 30),
                                              "Ruskin Heights"))["n"]
    assert any(f"{total:,} incidents" in c.value for c in at.caption)


def test_adding_a_watch_area_needs_editing_and_persists(built_db):
    from analytics import watch

    at = app()
    at.secrets["editing"] = {"password": "correct horse"}
    at.switch_page("views/hotspots.py")
    at.query_params["source"] = "gva"
    at.run()
    assert not [t for t in at.text_input if t.key == "w_id"]  # locked until the password is given
    at.session_state["editing_unlocked"] = True
    at.run()
    at.text_input(key="w_id").input("prospect-and-35th")
    at.text_input(key="w_name").input("Prospect Ave and 35th St")
    at.selectbox(key="w_type").set_value("point")
    at.text_input(key="w_lon").input("-94.5555")
    at.text_input(key="w_lat").input("39.0640")
    next(b for b in at.button if b.label == "Save watch area").click().run()
    assert any("Saved watch area" in s.value for s in at.success), [e.value for e in at.error]
    saved = watch.AREAS.get("prospect-and-35th")
    assert (saved.radius_m, saved.footprint_type) == (400, "point")


def test_the_app_builds_its_database_on_first_run(tmp_path, monkeypatch):
    target = tmp_path / "first.duckdb"
    monkeypatch.setenv("KC_VIOLENCE_DB", str(target))
    at = app().run()
    assert not at.exception and target.exists()
    assert not at.status  # the build notice goes once the database is built: the page shows its data
    assert {m.label for m in at.metric} >= {"Crimes against persons"}


def test_a_database_built_by_an_older_data_model_is_rebuilt_not_crashed_on(built_db, tmp_path, monkeypatch):
    """An install upgraded in place keeps its old database file: the app rebuilds it (tables it lacks, e.g. the
    source_measures the query layer reads) instead of failing on the first query."""
    import duckdb

    from kcvt.db import needs_build

    old = tmp_path / "old.duckdb"
    old.write_bytes(built_db.read_bytes())
    assert not needs_build(old)
    with duckdb.connect(str(old)) as c:
        c.execute("DROP TABLE build_info; DROP TABLE source_measures")
    assert needs_build(old)
    monkeypatch.setenv("KC_VIOLENCE_DB", str(old))
    at = app().run()
    assert not at.exception and not at.status
    assert not needs_build(old)
    assert {m.label for m in at.metric} >= {"Crimes against persons"}
