"""The Outreach page through AppTest: shareable links, what-if dates, map legends, and no raw ids or missing values
in anything it renders."""

from __future__ import annotations

import json
import re
from datetime import date

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from analytics import maps, registry
from kcvt.settings import ROOT
from tests.conftest import RAW
from tests.page_text import rendered_text

INDEPENDENCE, RUSKIN, PAL = "independence-ave-2023-11-29", "ruskin-heights-undated", "pal-center-2017-07-26"
#: text that means a value leaked through unformatted: Python's None, pandas' NaN and NaT
MISSING = re.compile(r"\bNone\b|\bNaT\b|\bnan\b|\bNaN\b")


def outreach(editing: bool = False, **params) -> AppTest:
    """The Outreach page opened from a link with these parameters."""
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=180)
    at.secrets["editing"] = {"password": "correct horse"}
    if editing:
        at.session_state["editing_unlocked"] = True
    at.switch_page("views/outreach.py")
    for k, v in params.items():
        at.query_params[k] = v
    return at.run()


def link(at: AppTest) -> dict:
    return {k: (v[-1] if isinstance(v, list) else v) for k, v in at.query_params.items()}


def test_the_event_and_design_are_in_the_link_and_a_link_opens_them(built_db):
    at = outreach()
    assert not at.exception
    assert link(at) == {"event": INDEPENDENCE}  # the default design adds nothing to the link
    at.selectbox(key="event").set_value(PAL).run()
    assert link(at)["event"] == PAL
    at.number_input(key=f"ma_{PAL}").set_value(8).run()
    shared = link(at)
    assert shared == {"event": PAL, "after": "8"}
    verdict = next(m.value for m in at.markdown if m.value.startswith("**Footprint:**"))
    opened = outreach(**shared)  # a new reader follows the link
    assert not opened.exception and not opened.warning
    assert opened.selectbox(key="event").value == PAL and opened.number_input(key=f"ma_{PAL}").value == 8
    assert verdict in [m.value for m in opened.markdown]


def test_bad_link_values_are_named_and_ignored(built_db):
    at = outreach(event=INDEPENDENCE, date="2024-99-01", unit="hexagons", before="abc", buffer="5",
                  comparison="Atlantis|Lykins")
    assert not at.exception
    text = " ".join(w.value for w in at.warning)
    for named in ("date='2024-99-01'", "unit='hexagons'", "before='abc'", "buffer='5'", "comparison 'Atlantis'"):
        assert named in text
    assert at.multiselect(key=f"comparison_{INDEPENDENCE}").value == ["Lykins"]  # the good value is kept
    assert at.number_input(key=f"mb_{INDEPENDENCE}").value == 6
    at = outreach(event="no-such-walk", unit="points")
    text = " ".join(w.value for w in at.warning)
    assert "ignored event='no-such-walk'" in text and "ignored unit" in text
    assert at.selectbox(key="event").value == INDEPENDENCE


def _months(first: str, n: int) -> list[str]:
    return [str(p) for p in pd.period_range(first, periods=n, freq="M")]


def test_a_what_if_date_on_ruskin_heights_is_evaluated_and_labelled_unsaved(built_db):
    at = outreach()
    at.selectbox(key="event").set_value(RUSKIN).run()
    assert any("no date" in w.value for w in at.warning) and not at.subheader  # nothing evaluated without a date
    at.date_input(key=f"whatif_{RUSKIN}").set_value(date(2024, 3, 6)).run()
    assert not at.exception
    assert any("not saved" in w.value and "2024-03-06" in w.value for w in at.warning)
    assert at.subheader[0].value == "Result for a canvass on 2024-03-06 (what-if date, not saved)"
    assert link(at) == {"event": RUSKIN, "date": "2024-03-06"}
    assert not [b for b in at.button if b.key == "save_whatif"]  # readers try dates; only editors save them
    # the counts are Ruskin Heights' own, in the 6 months either side of March 2024, from the raw file
    raw = pd.read_csv(RAW / "kcpd_monthly_by_neighborhood_2015_2026.csv.gz")
    mine = raw[raw.neighborhood == "Ruskin Heights"].set_index("month").persons
    counts = next(d.value for d in at.dataframe if "area" in d.value.columns).set_index("area")
    assert counts.loc["footprint", "before"] == mine[_months("2023-09", 6)].sum()
    assert counts.loc["footprint", "after"] == mine[_months("2024-04", 6)].sum()
    assert registry.get(RUSKIN).start_date is None  # nothing was saved


def test_an_editor_can_save_a_tried_date(built_db):
    at = outreach(editing=True, event=RUSKIN, date="2024-03-06")
    assert any("not saved" in w.value for w in at.warning)
    at.button(key="save_whatif").click().run()
    assert registry.get(RUSKIN).start_date == date(2024, 3, 6)
    assert any("Saved 2024-03-06" in s.value for s in at.success)
    assert not at.subheader[0].value.endswith("not saved)")


def test_every_map_has_a_legend_naming_its_regions(built_db):
    at = outreach()
    decks = at.get("deck_gl_json_chart")
    assert len(decks) == 1
    ids = {layer["id"] for layer in json.loads(decks[0].proto.json)["layers"]}
    regions = {i for i in ids - {"neighborhoods", "neighborhood_outlines"} if not i.endswith("_outline")}
    legend = next(m.value for m in at.markdown if "grey outlines" in m.value)
    assert regions and all(f"<b>{region.replace('_', ' ')}</b>" in legend for region in regions)
    assert ids - regions == {"neighborhoods", "neighborhood_outlines"} | {f"{r}_outline" for r in regions}
    # hovering a region says what it is, a neighborhood its name (a blind review saw "footprint{name}": the template
    # named a field the shapes did not all have, which deck.gl shows as written)
    spec = json.loads(decks[0].proto.json)
    tips = {layer["id"]: [(o.get("properties") or o).get("tooltip") for o in layer["data"]["features"]]
            for layer in spec["layers"] if layer.get("pickable")}
    assert tips.keys() == regions | {"neighborhoods"}
    assert all(tips[r] == [f"{r.replace('_', ' ')}: {maps.REGION_MEANING[r.replace('_', ' ')]}"] for r in regions)
    assert all(t and "{" not in t for t in tips["neighborhoods"]) and len(tips["neighborhoods"]) >= 240
    assert json.loads(decks[0].proto.tooltip)["text"] == "{tooltip}"


def test_every_legend_row_keeps_its_swatch_beside_its_label(built_db):
    """A blind review saw a long legend label wrap away from its swatch: every row of the map's legend is a flex row
    whose swatch never shrinks, in the region's map colour."""
    at = outreach(event=INDEPENDENCE)
    legend = next(m.value for m in at.markdown if "grey outlines" in m.value)
    rows = [r for r in legend.split('<div style="display:flex')[1:]]
    assert len(rows) == legend.count("<b>") + 1 and all("flex:none" in r for r in rows)  # regions + grey outlines
    for name, colour in maps.REGION_COLOURS.items():
        if f"<b>{name}</b>" in legend:
            row = next(r for r in rows if f"<b>{name}</b>" in r)
            assert f"solid rgb({colour[0]},{colour[1]},{colour[2]})" in row


def _raw_ids(con) -> tuple[set[str], re.Pattern]:
    """Ids and column names a reader must never see: exactly (a header, cell or option that is only the id) and,
    for the ids no English word is spelled like, anywhere in a text."""
    sources = {r[0] for r in con.execute("SELECT source_id FROM sources").fetchall()}
    categories = {r[0] for r in con.execute("SELECT category_id FROM categories").fetchall()}
    exact = {"n", "z", "p", "label", "area_id", "score", "before_mean", "estimate", "ci90", "se"} | sources | categories
    coded = sorted(i for i in exact if "_" in i or any(ch.isdigit() for ch in i))
    anywhere = re.compile(r"(?<!against )\bpersons\b|" + "|".join(rf"\b{re.escape(i)}\b" for i in coded))
    return exact, anywhere


def _states(at: AppTest):
    yield "default", at
    at.selectbox(key="event").set_value(RUSKIN).run()
    yield "undated", at
    at.date_input(key=f"whatif_{RUSKIN}").set_value(date(2024, 3, 6)).run()
    yield "what-if", at
    at.selectbox(key="event").set_value(INDEPENDENCE).run()
    at.selectbox(key=f"unit_{INDEPENDENCE}").set_value("points").run()
    yield "missing data", at
    yield "bad link", outreach(event="nope", date="x", before="0", comparison="Atlantis")
    registry_tab = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=180)
    registry_tab.session_state["outreach_tab"] = "Canvass registry"  # only the open tab's code runs
    registry_tab.switch_page("views/outreach.py")
    yield "registry tab", registry_tab.run()


def test_the_page_shows_no_raw_ids_or_unformatted_missing_values(built_db, con):
    """In the default state and each state above, every rendered text is free of None/NaN/NaT and of raw ids."""
    exact, anywhere = _raw_ids(con)
    for state, at in _states(outreach()):
        assert not at.exception, state
        texts = rendered_text(at)
        assert len(texts) > (10 if state == "undated" else 50), (state, len(texts))
        leaks = [t for t in texts if t.strip() in exact or MISSING.search(t) or anywhere.search(t)]
        assert not leaks, f"{state}: {leaks[:5]}"


def _page_links(at: AppTest) -> list:
    """The page links rendered (AppTest has no typed accessor for them): their protos."""
    return [e.proto for e in at.main if getattr(e, "type", "") == "page_link"] or [
        node.proto for node in _walk(at._tree) if getattr(node, "type", "") == "page_link"]


def _walk(node):
    yield node
    for child in getattr(node, "children", {}).values():
        yield from _walk(child)


def test_the_programs_link_opens_the_event_being_viewed(built_db):
    """Not the first event: the link carries the viewed event's id as `event` (the Programs page reads it)."""
    viewed = "prospect-35th-2023-05-17"
    assert registry.load()[0].event_id != viewed  # otherwise a link without the event would pass too
    at = outreach(event=viewed)
    at.toggle(key=f"methods_{viewed}").set_value(True).run()
    assert not at.exception
    links = [p for p in _page_links(at) if "programs" in p.page]
    assert links and all(f"event={viewed}" in p.query_string for p in links)
    # beside the methods table: which windows they use and why they can read the other way
    assert any("use 36 months before and 12 after" in c.value for c in at.caption)


def test_a_window_without_data_shows_a_message_not_an_empty_chart(built_db):
    """GVA points do not cover the Independence Avenue windows: every month is unknown, so no chart (a chart of
    nothing reads as zeros), and a sentence instead."""
    at = outreach(event=INDEPENDENCE, unit="points")
    assert not at.exception
    assert any("No data for" in e.value for e in at.error)
    assert not at.get("plotly_chart")
    assert any("No monthly counts to chart" in i.value for i in at.info)


def test_the_result_leads_with_the_short_reading_and_keeps_the_whole_one_a_click_away(built_db):
    """The result led with a paragraph of about 400 words. Now "In short" comes right under the heading, then the
    verdicts; the whole paragraph is in an expander below them."""
    at = outreach(event=INDEPENDENCE)
    assert not at.exception
    texts = [m.value for m in at.main.markdown]
    lead = next(i for i, t in enumerate(texts) if t.startswith("**In short:**"))
    assert texts[lead + 1].startswith("**Footprint:**")
    whole = next(e for e in at.expander if e.label.startswith("The whole reading"))
    paragraph = whole.markdown[0].value
    assert "placebo checks" in paragraph and paragraph not in texts[:lead + 2]
    assert len(texts[lead].split()) < 90 < len(paragraph.split())


def test_the_two_detail_charts_are_drawn_when_their_expander_is_opened(built_db):
    """The cumulative gap and the placebo histogram sit in an expander that runs its content only when open, so a
    visit draws one chart, not three; opened, it shows both and the placebo sentence."""
    at = outreach(event=INDEPENDENCE)
    assert len(at.get("plotly_chart")) == 1
    assert not [c for c in at.caption if c.value.startswith("Placebo checks")]
    at.session_state[f"unusual_{INDEPENDENCE}"] = True
    at.run()
    assert not at.exception and len(at.get("plotly_chart")) == 3
    assert [c for c in at.caption if c.value.startswith("Placebo checks: the same test at")]


def test_an_unconfirmed_date_is_said_wherever_the_date_is_shown(built_db):
    """Review: Parate Por Paz (only "early December" known) was evaluated and charted as "canvass 2024-12-01" with
    no word that the day is not confirmed. The seed's own flag decides."""
    seed = pd.read_csv(registry.SEED)
    unsure = seed[seed.start_date.notna() & ~seed.date_confirmed.astype(bool)].event_id.tolist()
    assert "parate-por-paz-2024-12" in unsure
    at = outreach(event="parate-por-paz-2024-12")
    assert not at.exception
    label = at.selectbox(key="event").format_func("parate-por-paz-2024-12")
    assert label.endswith(", date not confirmed)")
    assert any(i.value.startswith("**Date not confirmed:**") for i in at.info)
    chart = at.get("plotly_chart")[0].proto.spec
    assert "canvass 2024-12-01 (date not confirmed)" in chart
    confirmed = outreach(event=INDEPENDENCE)
    assert not any(i.value.startswith("**Date not confirmed:**") for i in confirmed.info)


def test_a_hand_picked_comparison_that_is_another_canvass_site_is_warned_and_not_listed_as_left_out(built_db):
    """Review: choosing Ivanhoe Northeast (the 2023 Prospect and 35th site) as a comparison gave no warning, and the
    page listed it both as a comparison and as "left out of the comparisons"."""
    site = "Ivanhoe Northeast"
    assert site in registry.get("council-2026-ivanhoe").neighborhoods  # a canvass site in the seed
    at = outreach(event=INDEPENDENCE, comparison=f"{site}|Hospital Hill")
    assert not at.exception
    warned = [w.value for w in at.warning if w.value.startswith("Some comparison neighborhoods chosen")]
    assert warned and site in warned[0]
    regions = next(c.value for c in at.caption if c.value.startswith("Footprint:"))
    left = regions.split("Left out of the comparisons as other canvass sites:")[1].split("Chosen as comparisons")[0]
    assert site not in left and f"Chosen as comparisons although other canvass sites: {site}" in regions


@pytest.mark.parametrize(("picked", "role"), [("Lykins|Scarritt Point", "in the footprint"),
                                              ("Parkview|Pendleton Heights", "in its buffer")])
def test_a_comparison_inside_the_footprint_or_its_buffer_is_refused(built_db, picked, role):
    """Review: the footprint's own neighborhoods (and those of its buffer) could be picked as its comparisons and the
    page gave a verdict; with the buffer's it even flipped to "fell by about 21%". Where they lie is read from the
    default evaluation's own region list on the page."""
    at = outreach(event=INDEPENDENCE, comparison=picked)
    assert not at.exception
    default = outreach(event=INDEPENDENCE)
    regions = next(c.value for c in default.caption if c.value.startswith("Footprint:"))
    where = "Footprint:" if role == "in the footprint" else "Buffer:"
    listed = regions.split(where)[1].split(".")[0]
    assert all(a in listed for a in picked.split("|"))
    refused = [w.value for w in at.warning if w.value.startswith("This design cannot be evaluated")]
    assert refused and role in refused[0] and not [m for m in at.markdown if m.value.startswith("**In short:**")]


def test_the_counts_chart_follows_the_event_and_the_date_tried(built_db):
    """The monthly counts chart is built once per evaluation and shared (web.evaluation_chart): for an event at its
    own date and at a date tried, the chart marks that date and draws the footprint's months, summed here from the
    raw neighborhood file over the neighborhoods the page names as the footprint."""
    import base64

    import numpy as np

    raw = pd.read_csv(RAW / "kcpd_monthly_by_neighborhood_2015_2026.csv.gz")
    for tried in (None, "2024-03-15"):
        at = outreach(event="independence-ave-2023-11-29", **({"date": tried} if tried else {}))
        assert not at.exception
        spec = json.loads(at.get("plotly_chart")[0].proto.spec)
        shown = tried or "2023-11-29"
        assert any(f"canvass {shown}" in a.get("text", "") for a in spec["layout"].get("annotations", [])), shown
        trace = next(t for t in spec["data"] if t["name"] == "footprint")
        ys = trace["y"]
        ys = np.frombuffer(base64.b64decode(ys["bdata"]), dtype=ys["dtype"]).tolist() if isinstance(ys, dict) else ys
        regions = next(c.value for c in at.caption if c.value.startswith("Footprint: "))
        footprint = regions.split(".")[0].removeprefix("Footprint: ").split(", ")
        months = [str(x)[:7] for x in trace["x"]]
        want = raw[raw.neighborhood.isin(footprint)].groupby("month").persons.sum().reindex(months).tolist()
        assert len(footprint) == 4 and ys == want, (shown, footprint)
