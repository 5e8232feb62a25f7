"""A source that counts by month answers whole months only: every page reads a period that cuts a month as the whole
months it touches, says so, and gives the same count (a blind review found Home counting all of June for 15-20 June
and Hotspots counting nothing, shown as zeros)."""

from __future__ import annotations

from datetime import date

import pandas as pd
from streamlit.testing.v1 import AppTest

from analytics import filters
from kcvt.settings import ROOT
from tests.conftest import RAW

LINK = {"source": "kcpd_nbhd", "category": "persons", "start": "2026-06-15", "end": "2026-06-20"}


def page(path: str | None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=180)
    if path:
        at.switch_page(path)
    for k, v in LINK.items():
        at.query_params[k] = v
    return at.run()


def test_whole_month_span():
    assert filters.whole_month_span(date(2026, 6, 15), date(2026, 6, 20)) == (date(2026, 6, 1), date(2026, 6, 30))
    assert filters.whole_month_span(date(2025, 12, 31), date(2026, 2, 1)) == (date(2025, 12, 1), date(2026, 2, 28))


def test_home_and_hotspots_read_a_cut_month_as_the_whole_month_and_agree(built_db):
    raw = pd.read_csv(RAW / "kcpd_monthly_by_neighborhood_2015_2026.csv.gz")
    june = int(raw[raw.month.str.startswith("2026-06")].persons.sum())
    note = "counts whole months: the period is read as 2026-06-01 to 2026-06-30."
    home, hot = page(None), page("views/hotspots.py")
    for at in (home, hot):
        assert not at.exception and any(note in i.value for i in at.info), [i.value for i in at.info]
        assert (at.query_params["start"], at.query_params["end"]) == ("2026-06-01", "2026-06-30")
    assert {m.label: m.value for m in home.metric}["Crimes against persons"] == f"{june:,}"
    assert {m.label: m.value for m in hot.metric}["Incidents placed in neighborhoods"] == f"{june:,}"
