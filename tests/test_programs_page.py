"""The Programs page through AppTest: each view renders the library's numbers, with no None/nan, and the 2026
program's start is editable by editors only."""

from __future__ import annotations

from datetime import date

import pytest
from streamlit.testing.v1 import AppTest

from analytics import calibrate, detect, methods, program, registry
from kcvt.settings import ROOT
from tests.test_page_text import check


@pytest.fixture(autouse=True)
def few_placebos(monkeypatch):
    """Few placebos keep the file fast; the numbers compared below come from the same settings."""
    monkeypatch.setattr(calibrate, "N_WDD", 60)
    monkeypatch.setattr(calibrate, "N_SYNTH", 12)
    monkeypatch.setattr(program, "N_PROGRAM", 6)
    monkeypatch.setattr(detect, "N_PLACEBO", 60)


def page(editing: bool = False) -> AppTest:
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=300)
    at.secrets["editing"] = {"password": "correct horse"}
    if editing:
        at.session_state["editing_unlocked"] = True
    at.switch_page("views/programs.py")
    return at


def test_methods_side_by_side_show_the_librarys_verdicts(built_db, con):
    at = page()
    at.session_state["pg_event"] = "prospect-35th-2023-05-17"
    at.run()
    check(at)
    lib = methods.compare(con, registry.get("prospect-35th-2023-05-17"))
    text = " ".join(m.value for m in at.markdown)
    assert lib["agreement"] in text and lib["synth"]["verdict"] in text
    table = next(d.value for d in at.dataframe if "verdict" in d.value.columns)
    assert list(table["verdict"]) == [m["call"] for m in lib["methods"]]
    weights = next(d.value for d in at.dataframe if "neighborhood" in d.value.columns)
    assert list(weights["neighborhood"]) == [d["neighborhood"] for d in lib["synth"]["donors"]]
    at.selectbox(key="pg_event").set_value("ruskin-heights-undated").run()
    assert any("no date" in w.value for w in at.warning)
    check(at)


def test_when_can_we_tell_for_the_council_program_and_its_editable_start(built_db, con):
    at = page()
    at.session_state["pg_view"] = "When can we tell?"
    at.run()
    check(at)
    assert any("ordinance passed" in i.value for i in at.info)
    assert not [d for d in at.date_input if d.key == "pg_start"]  # readers cannot change it
    lib = detect.track(con, "council-2026")
    assert any(lib["answer"] in m.value for m in at.markdown)
    at = page(editing=True)
    at.session_state["pg_view"] = "When can we tell?"
    at.run()
    at.date_input(key="pg_start").set_value(date(2026, 3, 1))
    at.button[0].click().run()
    assert any("Start set to 2026-03-01 for 5 event(s)" in s.value for s in at.success)
    assert any("Start: 01 March 2026 (confirmed)" in i.value for i in at.info)
    assert all(str(e.start_date) == "2026-03-01" for e in registry.load() if e.program == "council-2026")
    check(at)


@pytest.mark.parametrize("program_id", ["council-2026"])
def test_program_view_renders(built_db, program_id):
    at = page()
    at.session_state["pg_view"] = "Program effect"
    at.session_state["pg_program"] = program_id
    at.run()
    check(at)
    assert at.metric and at.metric[0].label == "Pooled change against donors"
    table = next(d.value for d in at.dataframe if "own change" in d.value.columns)
    assert len(table) == 5
