"""The Programs page through AppTest: each view renders the library's numbers, with no None/nan, and the 2026
program's start is editable by editors only."""

from __future__ import annotations

from datetime import date

import pytest
from streamlit.testing.v1 import AppTest

from analytics import detect, methods, programs_text, registry
from kcvt.settings import ROOT
from tests.test_page_text import check

pytestmark = pytest.mark.usefixtures("few_placebos")


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
    assert lib["agreement"] in text
    for m in lib["methods"]:
        assert programs_text.sentence(lib, m) in text
    table = next(d.value for d in at.dataframe if "verdict" in d.value.columns)
    assert list(table["verdict"]) == [m["call"] for m in lib["methods"]]
    assert list(table["a change is claimed at"]) == [programs_text.short_threshold(lib, m) for m in lib["methods"]]
    weights = next(d.value for d in at.dataframe if "neighborhood" in d.value.columns)
    assert list(weights["neighborhood"]) == [d["neighborhood"] for d in lib["synth"]["donors"]]
    at.selectbox(key="pg_event").set_value("ruskin-heights-undated").run()
    assert any("no date in its source" in i.value for i in at.info)
    check(at)


def tracking_page(editing: bool = False, program_id: str | None = None) -> AppTest:
    at = page(editing)
    at.query_params["view"] = "tracking"
    if program_id:
        at.query_params["program"] = program_id
    return at.run()


def test_when_can_we_tell_for_the_council_program(built_db, con):
    at = tracking_page()
    check(at)
    assert any("Start: January 2026 (ordinance month, start not published)" in i.value for i in at.info)
    assert not at.date_input  # readers cannot change it
    lib = detect.track(con, "council-2026")
    (headline,) = [m.value for m in at.markdown if m.value.startswith("### ")]
    assert headline == f"### {lib['answer']}" and headline.count(". ") == 0
    assert dict(at.query_params) == {"view": "tracking", "program": "council-2026"}


def test_switching_program_shows_that_programs_dates_and_saves_nothing(built_db, registry_file):
    """The reviewer's repro: council program, then Prospect Avenue, then Save. The widgets must hold Prospect's own
    sourced date and flag, and Save must stay off until something differs."""
    at = tracking_page(editing=True)
    registry.load()
    stored = registry_file.read_bytes()
    (day,) = at.date_input
    assert day.value == date(2026, 1, 1) and not at.checkbox(key=day.key.replace("pg_start_", "pg_confirmed_")).value
    assert at.button(key=day.key.replace("pg_start_", "pg_save_")).disabled  # no change: nothing to save
    at.selectbox(key="pg_track_program").set_value("prospect-corridor").run()
    check(at)
    assert any("08 August 2019 (confirmed)" in i.value for i in at.info)
    (day,) = at.date_input
    assert day.key == "pg_start_prospect-peace-walk-2019-08-08" and day.value == date(2019, 8, 8)
    assert at.checkbox(key="pg_confirmed_prospect-peace-walk-2019-08-08").value
    assert at.button(key="pg_save_prospect-peace-walk-2019-08-08").disabled
    assert registry_file.read_bytes() == stored  # the page wrote nothing


def test_an_edit_changes_one_event_after_a_confirmation(built_db, registry_file):
    at = tracking_page(editing=True)
    eid = "council-2026-ruskin-heights"
    at.date_input(key=f"pg_start_{eid}").set_value(date(2026, 3, 2)).run()
    stored = registry_file.read_bytes()
    at.button(key=f"pg_save_{eid}").click().run()
    assert any("2026-01-01 (unconfirmed) → 2026-03-02 (unconfirmed)" in w.value for w in at.warning)
    assert registry_file.read_bytes() == stored  # not yet: it waits for the confirmation
    at.button(key="pg_confirm").click().run()
    check(at)
    assert any("Saved:" in s.value and "2026-03-02 (unconfirmed)" in s.value for s in at.success)
    starts = {e.event_id: e.start_date for e in registry.load() if e.program == "council-2026"}
    assert starts.pop(eid) == date(2026, 3, 2)
    assert set(starts.values()) == {date(2026, 1, 1)}  # the other four footprints keep their start
    assert any("Starts (each footprint from its own)" in i.value for i in at.info)


def test_the_other_footprints_change_only_when_asked_and_a_sourced_date_is_flagged(built_db, registry_file):
    at = tracking_page(editing=True)
    eid = "council-2026-ruskin-heights"
    at.date_input(key=f"pg_start_{eid}").set_value(date(2026, 2, 1)).run()
    at.checkbox(key=f"pg_also_{eid}").check().run()
    at.button(key=f"pg_save_{eid}").click().run()
    at.button(key="pg_confirm").click().run()
    assert {e.start_date for e in registry.load() if e.program == "council-2026"} == {date(2026, 2, 1)}
    at = tracking_page(editing=True, program_id="prospect-corridor")
    eid = "prospect-prayer-2021-07-03"
    at.selectbox(key="pg_edit_event_prospect-corridor").set_value(eid).run()
    at.date_input(key=f"pg_start_{eid}").set_value(date(2021, 7, 4)).run()
    at.button(key=f"pg_save_{eid}").click().run()
    assert any("A source confirms the date it replaces" in w.value for w in at.warning)
    at.button(key="pg_cancel").click().run()
    assert registry.get(eid).start_date == date(2021, 7, 3)


def test_a_start_after_the_data_is_refused(built_db, registry_file):
    at = tracking_page(editing=True)
    eid = "council-2026-ruskin-heights"
    at.date_input(key=f"pg_start_{eid}").set_value(date(2027, 3, 1)).run()
    assert any("after the data's last covered month (June 2026)" in w.value for w in at.warning)
    assert at.button(key=f"pg_save_{eid}").disabled
    registry.upsert(registry.parse({**registry.get(eid).row(), "start_date": "2027-03-01"}))  # saved elsewhere
    at = tracking_page()
    assert any("Outreach in Ruskin Heights" in w.value or "starts 01 March 2027" in w.value for w in at.warning)
    assert not any(f"{eid}: fewer than" in w.value for w in at.warning)
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
    names = {e.event_id: e.name for e in registry.load() if e.program == program_id}
    assert set(table["footprint"]) == set(names.values())  # the events' names, never their ids


def test_a_link_from_the_outreach_page_selects_the_event(built_db):
    at = page()
    at.query_params["event"] = "prospect-35th-2023-05-17"
    at.run()
    check(at)
    assert at.radio(key="pg_view").value == "Methods side by side"
    assert at.selectbox(key="pg_event").value == "prospect-35th-2023-05-17"
    assert dict(at.query_params) == {"view": "methods", "event": "prospect-35th-2023-05-17"}
    assert any("Outreach page compares 6 and 6" in m.value for m in at.markdown)  # the windows differ, said once


@pytest.mark.parametrize("params", [{"event": "no-such-event"}, {"event": "x" * 500, "view": "nope"},
                                    {"program": "<script>"}])
def test_a_bad_link_is_named_and_the_default_shown(built_db, params):
    at = page()
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    check(at)
    named = [w.value for w in at.warning if w.value.startswith("Link parameter ignored")]
    assert len(named) == len(params) and all(len(w) < 200 for w in named)
    assert at.radio(key="pg_view").value == "Methods side by side"


def seed_events() -> list[str]:
    import pandas as pd

    return list(pd.read_csv(ROOT / "data" / "reference" / "canvass_events_seed.csv", dtype=str)["event_id"])


@pytest.mark.parametrize("event_id", seed_events())
def test_every_registry_event_opens_by_link(built_db, event_id):
    """The Outreach page links every event here: dated ones get the method panel (or a plain reason), undated ones a
    plain message, none an error."""
    at = page()
    at.query_params["event"] = event_id
    at.run()
    check(at)
    assert at.selectbox(key="pg_event").value == event_id
    event = registry.get(event_id)
    if not event.evaluable:
        assert any("no date in its source" in i.value for i in at.info)
        return
    texts = [m.value for m in at.markdown] + [i.value for i in at.info]
    assert any(t.startswith("**Do the methods agree?**") for t in texts) or at.info, texts
    if any(t.startswith("**Do the methods agree?**") for t in texts):
        assert any("Synthetic comparison" in h.value for h in at.subheader) or any(
            i.value.startswith("Synthetic comparison:") for i in at.info)


def test_an_event_on_the_tracking_view_opens_its_program_or_is_named(built_db):
    """Review r2a: /programs?view=tracking&event=X ignored `event` silently. The tracking view is per program: an
    event of a program opens that program, with a note; an event of none is named in a warning."""
    at = page()
    at.query_params["view"] = "tracking"
    at.query_params["event"] = "prospect-peace-walk-2019-08-08"
    at.run()
    check(at)
    corridor = registry.get("prospect-peace-walk-2019-08-08").program
    assert at.selectbox(key="pg_track_program").value == corridor
    assert any(i.value.startswith("The tracking view is per program: showing") for i in at.info)
    at = page()
    at.query_params["view"] = "tracking"
    at.query_params["event"] = "independence-ave-2023-11-29"
    at.run()
    assert any("the tracking view is per program" in w.value and "belongs to none" in w.value for w in at.warning)
