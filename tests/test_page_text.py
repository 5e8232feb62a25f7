"""What a reader sees holds no "None", "nan" or "NaT" and no raw column names, on every page (AppTest).

Each page is rendered in its default state and in the states the issue named (a source with gaps, a neighborhood
with few data), and every text element, metric, table header and table cell is scanned.
"""

from __future__ import annotations

import re
from datetime import date

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from kcvt.settings import ROOT

FORBIDDEN = re.compile(r"(?<![\w-])(None(?! of\b)|nan|NaN|NaT)(?![\w-])")  # "None of the" is English
#: column names that are the code's, not a reader's
RAW_COLUMNS = {"n", "z", "p", "label", "area_id", "source_id", "category_id", "age_band", "load_id", "row_number"}


def texts(at: AppTest) -> list[str]:
    """Every piece of text a page shows (markdown, captions, titles, alerts, metrics, table headers and cells)."""
    out = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "info", "warning", "error", "success",
                 "text"):
        out += [str(e.value) for e in getattr(at, kind)]
    for m in at.metric:
        out += [str(m.label), str(m.value)]
    for element in list(at.dataframe) + list(at.table):
        frame = element.value
        if isinstance(frame, pd.DataFrame):
            out += [str(c) for c in frame.columns]
            out += [str(v) for v in frame.astype(object).to_numpy().ravel() if isinstance(v, str)]
            out += ["None" for v in frame.astype(object).to_numpy().ravel() if v is None and _shown_as_none(frame)]
    return out


def _shown_as_none(frame: pd.DataFrame) -> bool:
    """Streamlit shows a missing value in an object column of strings as "None"."""
    return any(frame[c].dtype == object and frame[c].isna().any() and frame[c].map(type).eq(str).any()
               for c in frame.columns)


def headers(at: AppTest) -> set[str]:
    cols = set()
    for element in list(at.dataframe) + list(at.table):
        if isinstance(element.value, pd.DataFrame):
            cols |= {str(c) for c in element.value.columns}
    return cols


def check(at: AppTest) -> None:
    assert not at.exception, at.exception
    bad = [t[:120] for t in texts(at) if FORBIDDEN.search(t)]
    assert not bad, bad
    raw = headers(at) & RAW_COLUMNS
    assert not raw, raw


def app() -> AppTest:
    return AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=120)


def test_home_default_and_a_source_with_gaps(built_db):
    at = app().run()
    check(at)
    at.sidebar.selectbox(key="source").set_value("gva").run()
    at.sidebar.date_input(key="start").set_value(date(2017, 1, 1)).run()
    at.sidebar.date_input(key="end").set_value(date(2020, 12, 31)).run()
    check(at)


@pytest.mark.parametrize("area", ["Ruskin Heights", "Hospital Hill"])
def test_neighborhood_profile(built_db, area):
    at = app()
    at.switch_page("views/neighborhood.py")
    at.query_params["area"] = area
    at.run()
    check(at)
    at.sidebar.selectbox(key="p_source").set_value("kcpd").run()
    check(at)


def test_data_page(built_db):
    at = app()
    at.switch_page("views/data.py").run()
    check(at)
    assert any("download holds all of them" in c.value for c in at.caption)
