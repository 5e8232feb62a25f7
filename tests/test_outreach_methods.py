"""The Outreach page shows the methods side by side for the chosen event, on request (AppTest)."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from analytics import methods, registry
from kcvt.settings import ROOT


def test_the_outreach_page_compares_the_methods_for_the_event(built_db, con):
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=180)
    at.switch_page("views/outreach.py").run()
    event_id = at.selectbox(key="event").value
    assert not any("Do the methods agree?" in m.value for m in at.markdown)  # on request only: it costs seconds
    at.toggle(key=f"methods_{event_id}").set_value(True).run()
    assert not at.exception
    expected = methods.compare(con, registry.get(event_id))
    assert any(f"**Do the methods agree?** {expected['agreement']}" == m.value for m in at.markdown)
    shown = next(d.value for d in at.dataframe if "a change is claimed at" in d.value.columns)
    assert shown.to_dict("records") == methods.table(expected).to_dict("records")
    assert len(shown) == 3  # the WDD, the e-test and the synthetic control
