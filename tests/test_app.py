"""Pages driven through Streamlit's AppTest, on the real database."""

from __future__ import annotations

from datetime import date

import pytest
from streamlit.testing.v1 import AppTest

from analytics import queries
from analytics.settings import ROOT

PAGES = ["pages/home.py", "pages/data.py"]


def app() -> AppTest:
    return AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=120)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_without_error(built_db, page):
    at = app().run()
    if page != "pages/home.py":
        at.switch_page(page).run()
    assert not at.exception
    assert at.title


def test_home_shows_real_numbers_for_the_default_view(built_db, con):
    at = app().run()
    metrics = {m.label: m.value for m in at.metric}
    expected = queries.total(con, queries.Filter("kcpd_nbhd", "persons", date(2015, 1, 1), date(2026, 6, 30)))
    assert metrics["Crimes against persons"] == f"{expected['n']:,}"
    assert any("2025 against 2024" in m.value for m in at.markdown)


def test_switching_to_gva_shows_gva_shootings_with_gaps(built_db, con):
    at = app().run()
    at.sidebar.selectbox(key="source").set_value("gva").run()
    at.sidebar.date_input(key="start").set_value(date(2016, 1, 1)).run()
    at.sidebar.date_input(key="end").set_value(date(2016, 12, 31)).run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Shootings"] == "246"
    at.sidebar.date_input(key="end").set_value(date(2019, 12, 31)).run()
    assert any("Excludes 21 month(s) with no data" in c.value for c in at.caption)


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
    at.switch_page("pages/data.py").run()
    assert any(s.value == "Rejected rows (1,109)" for s in at.subheader)
    assert any("49 homicide rows" in w.value for w in at.warning)
