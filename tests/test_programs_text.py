"""The Programs page's words and start-date rules without a page: one named threshold per verdict, a rank test that
cannot reach its cut-off said in words, one-sentence headline, and start-date plans that never change a date
silently (old -> new, nothing-to-save refused, starts outside the data refused, stale plans refused)."""

from __future__ import annotations

from datetime import date

import pytest

from analytics import program_charts, programs_text, registry, start_dates

SPAN = start_dates.Span(date(2015, 1, 1), date(2026, 6, 1))


def compared(own_z: float = 4.33, cal_z: float = 2.82, p_cut: float = 0.0, donors: int = 17) -> dict:
    """A methods.compare result reduced to what the words read (the Independence Ave and Peace Walk cases)."""
    wdd_cal = {"method": "WDD local test", "threshold": cal_z, "n_calibration": 200,
               "sentence": f"A change is claimed at |z| above {cal_z:.2f}, set on 200 placebo footprints."}
    syn_cal = {"method": "synthetic control rank test", "threshold": p_cut, "n_calibration": 200,
               "sentence": f"A change is claimed at p at or below {p_cut:.3f}, set on 200 placebo footprints."}
    return {
        "windows_months": {"before": 36, "after": 12},
        "wdd": {"placebo": {"critical_z": own_z, "fake_dates": [0.1] * 30, "other_areas": [0.2] * 170}},
        "synth": {"test": {"placebos": donors}, "calibration": syn_cal},
        "methods": [
            {"method": "Weighted displacement difference, footprint against matched comparisons", "estimate_pct": 5.0,
             "statistic": "z = +1.00", "threshold": f"|z| > {max(own_z, cal_z):.2f}", "call": "no change",
             "sentence": "No detectable change.", "calibration": wdd_cal},
            {"method": "Synthetic control, placebo-in-space rank test", "estimate_pct": -3.0, "statistic": "p = 0.500",
             "threshold": f"p ≤ {p_cut:.3f}", "call": "no change", "calibration": syn_cal,
             "sentence": f"No change beyond chance (p = 0.500; a change is claimed at p ≤ {p_cut:.3f})."},
        ],
    }


def test_one_named_threshold_per_verdict():
    r = compared()
    table = programs_text.methods_table(r)
    assert table["a change is claimed at"].iloc[0] == "|z| > 4.33, from this evaluation's 200 placebo checks"
    wdd = programs_text.threshold(r, r["methods"][0])
    assert wdd.startswith("|z| > 4.33, from this evaluation's 200 placebo checks")
    assert "stricter than the 2.82 calibrated on 200 placebo footprints" in wdd
    note = programs_text.calibration(r, r["methods"][0])
    assert "2.82" in note and "The verdict above uses the stricter |z| > 4.33" in note
    r = compared(own_z=1.9)
    assert programs_text.threshold(r, r["methods"][0]).startswith("|z| > 2.82, calibrated on 200 placebo footprints")
    assert "stricter" not in programs_text.calibration(r, r["methods"][0])


def test_a_rank_test_that_cannot_reach_its_cut_off_says_so():
    r = compared(p_cut=0.0, donors=17)
    syn = r["methods"][1]
    for text in (programs_text.threshold(r, syn), programs_text.sentence(r, syn), programs_text.calibration(r, syn)):
        assert "cannot claim a change with 17 donors" in text and "1/18 = 0.056" in text, text
        assert "p ≤ 0.000" not in text
    assert programs_text.methods_table(r)["a change is claimed at"].iloc[1] == "cannot claim a change with 17 donors"
    r = compared(p_cut=0.095, donors=20)
    assert programs_text.threshold(r, r["methods"][1]) == "p ≤ 0.095, calibrated on 200 placebo footprints"
    assert "cannot" not in programs_text.sentence(r, r["methods"][1])


def test_windows_note_names_both_pages_windows():
    note = programs_text.windows_note(compared())
    assert "36 months before" in note and "12 after" in note and "Outreach page compares 6 and 6" in note
    assert note.count(". ") == 0 and note.endswith(".")


def tracked(rows: list[dict], months: list[int | None]) -> dict:
    by = {2: "March 2026", 5: "June 2026", 9: "October 2026"}
    return {"horizon": 36, "tracking": rows,
            "detectable": [{"drop_pct": p, "month": m, "by": by.get(m)} for p, m in zip((10, 20, 30), months,
                                                                                        strict=True)]}


@pytest.mark.parametrize(("rows", "months", "expected"), [
    ([], [None, 9, 5], "Not yet: no month after the start has data; if the work cut violence, a 30% drop would show "
                       "by June 2026, a 20% drop by October 2026 and a 10% drop not within 36 months."),
    ([{"k": 5, "difference": 30.0, "beyond_chance": False}], [None, None, 5],
     "Not yet: after 5 months there are 30 more incidents than expected, within chance; if the work cut violence, a "
     "30% drop would already show by June 2026, a 20% drop not within 36 months and a 10% drop not within 36 months."),
    ([{"k": 9, "difference": -80.4, "beyond_chance": True}], [None, 9, 5],
     "Yes: after 9 months there are 80 fewer incidents than expected, beyond chance."),
])
def test_headline_is_one_sentence(rows, months, expected):
    text = programs_text.headline(tracked(rows, months))
    assert text == expected
    assert text.count(". ") == 0 and text.count(".") == 1


def test_charts_name_their_axes_and_keep_legends_clear():
    r = {"detectable": [{"drop_pct": p, "power": [0.1 * k for k in range(1, 8)]} for p in (10, 20, 30)],
         "tracking": [{"month": f"2026-0{k + 1}", "difference": k, "low": -5, "high": 5} for k in range(1, 6)]}
    fig = program_charts.detectability(r)
    assert "share of simulated futures in which" in fig.layout.yaxis.title.text
    assert "detectable by this month (%)" in fig.layout.yaxis.title.text
    assert fig.layout.yaxis.ticksuffix == "%" and fig.layout.showlegend and fig.layout.legend.title.text
    fig = program_charts.tracking(r)
    assert fig.layout.xaxis.tickformat == "%b %Y" and fig.layout.xaxis.dtick == "M1"
    assert fig.layout.legend.y > 1  # above the plot, clear of the x-axis title


def council(**change) -> registry.CanvassEvent:
    return registry.parse({"event_id": "council-2026-ivanhoe", "name": "Outreach in Ivanhoe", "start_date": "2026-01-01",
                           "date_confirmed": False, "footprint_type": "neighborhoods", "neighborhoods": "Ivanhoe",
                           "program": "council-2026", **change})


def test_describe_labels_the_ordinance_month_until_an_editor_sets_it():
    assert start_dates.describe(council()) == "January 2026 (ordinance month, start not published)"
    edited = council(notes="Start set to 2026-01-01 by an editor on 2026-07-01.")
    assert start_dates.describe(edited) == "01 January 2026 (set by an editor, unconfirmed)"
    assert start_dates.describe(council(date_confirmed=True)) == "01 January 2026 (confirmed)"
    assert start_dates.describe(council(start_date=None)) == "no date"


def test_plan_refuses_nothing_to_save_and_dates_outside_the_data():
    events = [council()]
    with pytest.raises(start_dates.NothingToSave):
        start_dates.plan(events, ["council-2026-ivanhoe"], date(2026, 1, 1), False, SPAN)
    with pytest.raises(start_dates.StartRefused, match="after the data's last covered month"):
        start_dates.plan(events, ["council-2026-ivanhoe"], date(2027, 3, 1), False, SPAN)
    with pytest.raises(start_dates.StartRefused, match="before the data begin"):
        start_dates.plan(events, ["council-2026-ivanhoe"], date(2014, 6, 1), False, SPAN)
    (c,) = start_dates.plan(events, ["council-2026-ivanhoe"], date(2026, 3, 2), True, SPAN)
    assert c.sentence() == "Outreach in Ivanhoe: 2026-01-01 (unconfirmed) → 2026-03-02 (confirmed)"
    assert not c.overwrites_sourced
    assert start_dates.after_data(council(start_date="2027-03-01"), SPAN).endswith(
        "after the data's last covered month (June 2026): no month after its start can be counted yet.")
    assert start_dates.after_data(council(start_date="2026-06-15"), SPAN) is None


def test_apply_changes_only_the_planned_event_and_refuses_a_stale_plan():
    events = registry.load()
    before = {e.event_id: (e.start_date, e.date_confirmed) for e in events}
    plan = start_dates.plan(events, ["prospect-prayer-2021-07-03"], date(2021, 7, 10), True, SPAN)
    assert plan[0].overwrites_sourced
    assert start_dates.apply(plan, today=date(2026, 7, 1)) == ["prospect-prayer-2021-07-03"]
    after = {e.event_id: (e.start_date, e.date_confirmed) for e in registry.load()}
    assert after.pop("prospect-prayer-2021-07-03") == (date(2021, 7, 10), True)
    before.pop("prospect-prayer-2021-07-03")
    assert after == before
    with pytest.raises(registry.RegistryError, match="changed since the change was shown"):
        start_dates.apply(plan)
