"""Count charts read as counts: drawn by plotly.js in Debian's Chromium, a count axis has one label per tick, each a
whole number, never 0, 1, 1, 2, 2 (plotly's own ticks on a small range fall on halves, which ",d" rounds)."""

from __future__ import annotations

import pandas as pd
import pytest
from playwright.sync_api import sync_playwright

from analytics import charts
from tests.browser import ARGS, CHROMIUM

pytestmark = pytest.mark.browser


def _series(counts: list[int | None]) -> pd.DataFrame:
    months = pd.date_range("2024-01-01", periods=len(counts), freq="MS")
    return pd.DataFrame({"month": months, "n": counts, "status": "complete", "note": ""})


@pytest.fixture(scope="module")
def y_labels():
    """The y-axis tick labels of a figure as Chromium draws it (plotly.js bundled with plotly, no network)."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 900, "height": 600})

        def read(fig) -> list[str]:
            page.set_content(fig.to_html(include_plotlyjs=True, full_html=True))
            page.wait_for_selector(".ytick text")
            return page.eval_on_selector_all("g.ytick text", "els => els.map(e => e.textContent)")

        yield read
        browser.close()


@pytest.mark.parametrize("counts", [[0, 1, 0, 2, 1], [0, 1, 3, 4, 2, 4, 1], [1, 1, 1], [0, 0, None, 2],
                                    [5, 9, 7], [120, 250, 90]])
def test_a_count_axis_has_distinct_whole_number_ticks(y_labels, counts):
    labels = y_labels(charts.monthly_lines({"a": _series(counts), "b": _series([0] * len(counts))}, "t"))
    values = [int(label.replace(",", "")) for label in labels]  # a label like "0.5" would raise here
    assert len(values) == len(set(values)) >= 2, labels
    top = max(c for c in counts if c is not None)
    assert min(values) == 0 and max(values) >= min(top, 9) * 0.5, labels  # from zero, reaching the data
    if top < 10:  # small ranges: every whole number from 0 to the top has its tick
        assert set(range(top + 1)) <= set(values), labels


def test_the_canvass_chart_counts_in_whole_numbers(y_labels):
    monthly = [{"month": f"2024-{m:02d}-01", "footprint": m % 3, "buffer": 1, "comparison": 2,
                "comparison buffer": 0} for m in range(1, 13)]
    fig = charts.region_lines({"monthly": monthly, "date": "2024-06-01", "measure": "shooting",
                               "measure_label": "shootings"})
    values = [int(label.replace(",", "")) for label in y_labels(fig)]
    assert values == sorted(set(values)) and {0, 1, 2} <= set(values)
