"""The Emerging page's time slice: a source too sparse by month (GVA shootings) opens on quarters and says so in one
line; months chosen on purpose keep their refusal, but the rest of the page (early warning, ranking components, the
quarter choice) is still shown."""

from __future__ import annotations

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from analytics import emerging
from kcvt.settings import ROOT
from tests.test_page_text import check

PLACED = """SELECT date_trunc('month', period_start) AS month, sum(n) AS n FROM area_counts
            WHERE source_id = 'gva' AND measure = 'shooting' AND area_type = 'neighborhood' GROUP BY 1 ORDER BY 1"""


def page(**params: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=300)
    at.switch_page("views/emerging.py")
    for name, value in params.items():
        at.query_params[name] = value
    return at.run()


def _longest_dense_run(counts: pd.Series, months: int) -> int:
    """Consecutive slices of `months` months (calendar-aligned, all months present) with at least 30 placed events."""
    by_slice = counts.groupby(counts.index.to_period("Q" if months == 3 else "M")).agg(["sum", "count"])
    best = run = 0
    previous = None
    for period, row in by_slice.iterrows():
        dense = row["sum"] >= 30 and row["count"] == months
        run = (run + 1 if previous is not None and period == previous + 1 else 1) if dense else 0
        previous, best = period, max(best, run)
    return best


@pytest.fixture(scope="module")
def gva_monthly(con) -> pd.Series:
    frame = con.execute(PLACED).df()
    return frame.set_index(pd.to_datetime(frame["month"]))["n"]


def test_gva_shootings_are_too_sparse_by_month_but_not_by_quarter(con, gva_monthly):
    assert _longest_dense_run(gva_monthly, 1) < emerging.MIN_SLICES <= _longest_dense_run(gva_monthly, 3)
    slice_, note = emerging.default_slice(con, "gva", "shooting")
    assert slice_ == "quarter" and note.startswith("Quarters, not months")
    assert emerging.default_slice(con, "kcpd_nbhd", "persons") == ("month", None)


def test_a_gva_link_opens_on_quarters_and_says_why(built_db):
    at = page(source="gva")
    check(at)
    assert at.sidebar.radio(key="e_slice").value == "quarter"
    notes = [i.value for i in at.info if i.value.startswith("Quarters, not months")]
    assert len(notes) == 1 and "\n" not in notes[0]
    metrics = {m.label: m.value for m in at.metric}
    assert "Quarters" in metrics and int(metrics["Quarters"]) >= emerging.MIN_SLICES
    assert any(b.label.startswith("Download the briefing") for b in at.get("download_button"))


def test_the_default_follows_the_source_until_the_user_picks(built_db):
    at = page()
    assert at.sidebar.radio(key="e_slice").value == "month"
    at.sidebar.selectbox(key="e_source").set_value("gva").run()
    assert at.sidebar.radio(key="e_slice").value == "quarter"
    at.sidebar.selectbox(key="e_source").set_value("kcpd_nbhd").run()
    assert at.sidebar.radio(key="e_slice").value == "month"
    assert not [i for i in at.info if i.value.startswith("Quarters")]


def test_months_chosen_by_link_keep_the_refusal_and_the_rest_of_the_page(built_db):
    at = page(source="gva", category="shooting", slice="month")
    check(at)
    assert at.sidebar.radio(key="e_slice").value == "month"
    assert "too few for Gi*" in " ".join(w.value for w in at.warning)
    assert not any(i.value.startswith("Quarters, not months") for i in at.info)
    heads = [h.value for h in at.subheader]
    assert "Ranking components" in heads and any(h.startswith("Early warning") for h in heads)
    assert any("emerging category" in d.value.columns for d in at.dataframe)
    button = next(b for b in at.button if b.label == "Use quarters instead")
    button.click().run()
    check(at)
    assert at.sidebar.radio(key="e_slice").value == "quarter" and "Quarters" in {m.label for m in at.metric}


def test_the_ranking_components_table_fits_a_1400_px_window(built_db):
    """The content column is 938 px wide at a 1,400-px window: every column of the ranking components has a short
    heading (its full wording in the help) and they fit together, the categories' longest name included."""
    import json

    at = page()
    frame = next(d for d in at.dataframe if "emerging category" in d.value.columns)
    config = json.loads(frame.proto.columns)
    cols = list(frame.value.columns)
    assert sum(config[c]["width"] for c in cols) <= 938
    for name in cols:
        heading = config[name].get("label") or name
        assert len(heading) * 7 <= config[name]["width"] + 10, name
    for name in ("early warning", "years in the top 10%", "change larger than chance?"):
        assert frame.value[name].astype(str).str.len().max() * 7 <= config[name]["width"], name


def test_a_quarterly_briefing_words_its_caveats_by_quarter(con):
    """The GVA quarterly briefing (hexagons) trains the early warning on 36 months = 12 quarters: its caveats and
    footer say quarters, never "36 months" or "month-to-month"."""

    from analytics import briefing
    from analytics.queries import Filter

    start, end = emerging.default_range(con, "gva", "shooting", "quarter")
    html = briefing.build(con, Filter("gva", "shooting", start, end), "quarter", "hex")
    assert "36 months" not in html and "month-to-month" not in html
    assert f"{36 // 3} quarters before" in html and "quarter-to-quarter persistence" in html
    monthly = briefing.caveats("kcpd_nbhd")
    assert "36 months before" in monthly["early warning"] and "month-to-month" in monthly["emerging"]
