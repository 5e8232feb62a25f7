"""The Data page: no false zero in the load log for sources that count by area, and sources named by their labels
in the coverage chart."""

from __future__ import annotations

import pandas as pd
import plotly.io as pio
from streamlit.testing.v1 import AppTest

from kcvt.settings import DATA_DIR, ROOT

#: the sources that publish counts by area, not incidents (README "Source ids")
AREA_COUNT_SOURCES = {"kcpd_nbhd", "kcpd_district", "fbi_ucr", "kcpd_annual"}


def test_the_load_log_says_not_applicable_for_area_counts_and_the_chart_uses_labels(built_db, con):
    manifest = pd.read_csv(DATA_DIR / "manifest.csv")
    assert AREA_COUNT_SOURCES <= set(manifest["source_id"])
    labels = dict(con.execute("SELECT source_id, label FROM sources").fetchall())
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=180)
    at.switch_page("views/data.py")
    at.run()
    assert not at.exception
    log = next(d.value for d in at.dataframe if "SHA-256" in d.value.columns)
    area_rows = log[log["source"].isin([labels[s] for s in AREA_COUNT_SOURCES])]
    assert len(area_rows) >= len(AREA_COUNT_SOURCES)
    assert (area_rows["incidents"] == "counts by area").all()
    assert not set(log["source"]) & set(labels)  # labels, never ids
    incident_rows = log[~log.index.isin(area_rows.index)]
    assert incident_rows["incidents"].str.fullmatch(r"[\d,]+").all()
    coverage = next(f for f in (pio.from_json(c.proto.spec) for c in at.get("plotly_chart"))
                    if f.data and f.data[0].type == "heatmap")
    assert set(coverage.data[0].y) <= set(labels.values()) and not set(coverage.data[0].y) & set(labels)


def test_the_load_log_and_rejected_rows_fit_a_1400_px_window(built_db):
    """The content column is 938 px wide at a 1,400-px window: the load log's columns up to its incident count, and
    the rejected rows' columns before the raw row, fit it; the short cells are not cut (about 7 px a character)."""
    import json

    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=180)
    at.switch_page("views/data.py")
    at.run()
    frames = {("SHA-256" in d.value.columns): d for d in at.dataframe if "file" in d.value.columns}
    for is_log, last in ((True, "incidents"), (False, "reason")):
        frame = frames[is_log]
        config = json.loads(frame.proto.columns)
        cols = list(frame.value.columns)
        key = cols[: cols.index(last) + 1]
        assert all(isinstance(config[c].get("width"), int) for c in key), config
        assert sum(config[c]["width"] for c in key) <= 938
        for name in ("incidents", "reason"):
            if name in key:
                assert frame.value[name].astype(str).str.len().max() * 7 <= config[name]["width"], name
