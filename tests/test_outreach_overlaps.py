"""Other registry events in an evaluation: never the footprint itself among the "other canvass sites", and an event
working inside the footprint while its windows ran is named in the caveats (issue 16: contaminated before-windows)."""

from __future__ import annotations

from datetime import date

import pandas as pd

from analytics import evaluation, registry
from kcvt.settings import REFERENCE_DIR

INDEPENDENCE = "independence-ave-2023-11-29"


def _seed() -> pd.DataFrame:
    return pd.read_csv(REFERENCE_DIR / "canvass_events_seed.csv").set_index("event_id")


def test_the_footprint_s_own_neighborhoods_are_not_listed_as_other_canvass_sites(con):
    """Parate Por Paz and the 2026 Independence Plaza team share neighborhoods with the Independence Avenue footprint:
    those are what is evaluated, not comparisons left out."""
    result = evaluation.evaluate(con, registry.get(INDEPENDENCE), with_placebos=False)
    own = set(result["footprint_areas"])
    parate = _seed().loc["parate-por-paz-2024-12"]
    shared = own & set(parate.neighborhoods.split("|"))
    assert shared  # the case in question: the registry row names footprint neighborhoods
    for name, areas in result["left_out"].items():
        assert not own & set(areas), f"{name} lists the footprint's own {sorted(own & set(areas))}"
    assert set(result["left_out"][parate["name"]]) == set(parate.neighborhoods.split("|")) - own


def test_an_event_inside_the_footprint_during_its_windows_is_named_in_the_caveats(con):
    """Inline: one other event in a footprint neighborhood dated inside the before window, one dated years earlier
    (over before the windows start, even counted active for a year), one undated."""
    event = registry.get(INDEPENDENCE)
    base = registry.get("parate-por-paz-2024-12")
    inside = base.model_copy(update={"event_id": "inside-x", "name": "Inside test", "neighborhoods": ["Lykins"],
                                     "start_date": date(2023, 7, 15), "date_confirmed": True})
    early = inside.model_copy(update={"event_id": "early-x", "name": "Early test", "start_date": date(2019, 1, 5)})
    undated = inside.model_copy(update={"event_id": "undated-x", "name": "Undated test", "start_date": None,
                                        "date_confirmed": False})
    elsewhere = inside.model_copy(update={"event_id": "far-x", "name": "Elsewhere test",
                                          "neighborhoods": ["Ruskin Heights"]})
    result = evaluation.evaluate(con, event, with_placebos=False, others=[inside, early, undated, elsewhere])
    named = {o["name"]: o for o in result["overlapping_events"]}
    assert set(named) == {"Inside test", "Undated test"}
    # dated in the before window and counted as working for a year after, into the after window (2023-12 on)
    assert named["Inside test"]["windows"] == ["before", "after"] and named["Inside test"]["neighborhoods"] == ["Lykins"]
    text = " ".join(result["caveats"])
    assert "Inside test (2023-07)" in text and "during the before and after windows" in text
    assert "Undated test" in text and "not published" in text
    assert "Early test" not in text and "Elsewhere test" not in text


def test_the_registry_s_contaminated_before_windows_are_named(con):
    """Independence Plaza's 2026 team: Parate Por Paz opened in Independence Plaza in December 2024, inside a
    36-month before window; Ivanhoe's: the May 2023 effort at 35th & Prospect worked in Ivanhoe Northeast."""
    seed = _seed()
    for team, other in (("council-2026-independence-plaza", "parate-por-paz-2024-12"),
                        ("council-2026-ivanhoe", "prospect-35th-2023-05-17")):
        start = pd.Period(seed.loc[team].start_date, "M")
        other_start = pd.Period(seed.loc[other].start_date, "M")
        assert start - 36 <= other_start < start  # inside the 36 months before, from the seed file itself
        result = evaluation.evaluate(con, registry.get(team), evaluation.Design(months_before=36, months_after=3),
                                     with_placebos=False)
        assert seed.loc[other]["name"] in " ".join(result["caveats"])
        assert other in [o["event"] for o in result["overlapping_events"]]


def test_another_event_in_the_buffer_during_the_windows_is_named_beside_the_displacement_verdict(con):
    """Review: North Town Fork Creek's 2026 team started the month Ivanhoe's did and lies in Ivanhoe's buffer, which
    rose; the page read "Displacement: a rise … the buffer changed on its own" with no word of it. Which neighborhoods
    each event counts comes from the evaluation; the buffer's overlap is named as such, not as the footprint's."""
    ivanhoe, fork = registry.get("council-2026-ivanhoe"), registry.get("council-2026-north-town-fork-creek")
    design, _ = evaluation.default_design(con, ivanhoe)
    result = evaluation.evaluate(con, ivanhoe, design, with_placebos=False)
    assert set(fork.neighborhoods) <= set(result["buffer_areas"])
    assert not set(fork.neighborhoods) & set(result["footprint_areas"])
    row = next(o for o in result["overlapping_events"] if o["event"] == fork.event_id)
    assert row["where"] == "buffer"
    caveat = result["caveats"][result["overlapping_events"].index(row)]
    assert "in this event's buffer, watched for displacement" in caveat and "not displacement" in caveat
