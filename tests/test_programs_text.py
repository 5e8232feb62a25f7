"""The Programs page's words and start-date rules without a page: one named threshold per verdict, a rank test that
cannot reach its cut-off said in words, chart axes, and start-date plans that never change a date
silently (old -> new, nothing-to-save refused, starts outside the data refused, stale plans refused)."""

from __future__ import annotations

from datetime import date

import pytest

from analytics import program_charts, programs_text, registry, start_dates

SPAN = start_dates.Span(date(2015, 1, 1), date(2026, 6, 1))


def compared(rule: str = "|z| > 4.33", origin: str = "the Outreach evaluation's own placebo threshold",
             p_cut: float | None = 0.0, donors: int = 17) -> dict:
    """A methods.compare result reduced to what the words read (the Independence Ave and Peace Walk cases)."""
    wdd_cal = {"method": "WDD local test", "threshold": 4.33, "rule": rule, "origin": origin, "n_calibration": 200,
               "sentence": f"A change is claimed at {rule} ({origin}), set on 200 placebo footprints."}
    syn_rule = "none: this test cannot claim a change here" if p_cut is None else f"p ≤ {p_cut:.3f}"
    syn_cal = {"method": "synthetic control rank test", "threshold": p_cut, "rule": syn_rule,
               "origin": "calibrated on 150 placebo footprints", "n_calibration": 150,
               "sentence": f"A change is claimed at {syn_rule}, set on 150 placebo footprints."}
    return {
        "windows_months": {"before": 36, "after": 12},
        "synth": {"test": {"placebos": donors}, "calibration": syn_cal},
        "methods": [
            {"method": "Weighted displacement difference, footprint against matched comparisons", "estimate_pct": 5.0,
             "statistic": "z = +1.00", "threshold": rule, "call": "no change",
             "sentence": "No detectable change.", "calibration": wdd_cal},
            {"method": "Synthetic control, placebo-in-space rank test", "estimate_pct": -3.0, "statistic": "p = 0.500",
             "threshold": syn_rule, "call": "no change", "calibration": syn_cal,
             "sentence": f"No change beyond chance (p = 0.500; a change is claimed at {syn_rule})."},
        ],
    }


def test_one_named_threshold_per_verdict():
    """The table cell is the calibration's rule, the full text names its origin, and the held-out note is the
    calibration's own sentence: one number per verdict, never a second one beside it."""
    r = compared()
    assert programs_text.methods_table(r)["a change is claimed at"].iloc[0] == "|z| > 4.33"
    assert programs_text.threshold(r, r["methods"][0]) == "|z| > 4.33, the Outreach evaluation's own placebo threshold"
    assert programs_text.calibration(r, r["methods"][0]) == r["methods"][0]["calibration"]["sentence"]
    r = compared(p_cut=None)  # too few placebos to set any threshold
    assert programs_text.threshold(r, r["methods"][1]) == "none: this test cannot claim a change here"


def test_a_rank_test_that_cannot_reach_its_cut_off_says_so():
    r = compared(p_cut=0.03, donors=17)  # 1/18 = 0.056: even the footprint ranked first cannot reach 0.03
    syn = r["methods"][1]
    for text in (programs_text.threshold(r, syn), programs_text.calibration(r, syn)):
        assert "cannot claim a change with 17 donors" in text and "1/18 = 0.056" in text, text
    assert programs_text.methods_table(r)["a change is claimed at"].iloc[1] == "cannot claim a change with 17 donors"
    r = compared(p_cut=0.095, donors=20)
    assert programs_text.threshold(r, r["methods"][1]) == "p ≤ 0.095, calibrated on 150 placebo footprints"
    assert "cannot" not in programs_text.calibration(r, r["methods"][1])


def test_windows_note_names_both_pages_windows():
    note = programs_text.windows_note(compared())
    assert "36 months before" in note and "12 after" in note and "Outreach page compares 6 and 6" in note
    assert note.count(". ") == 0 and note.endswith(".")


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
    staggered = {"tracking": [{"k": k, "month": None, "difference": k, "low": -5, "high": 5} for k in range(1, 6)]}
    fig = program_charts.tracking(staggered)  # footprints with their own starts: months after each start
    assert fig.layout.xaxis.title.text == "months after each footprint's start"
    assert list(fig.data[2].x) == [1, 2, 3, 4, 5]


def test_contributions_name_footprints_and_draw_no_bar_for_an_unknown_change():
    r = {"pooled": {"pct": -5.0}, "footprints": [
        {"event": "council-2026-ivanhoe", "name": "Outreach in Ivanhoe", "share_pct": 60.0, "own_pct": -8.0},
        {"event": "council-2026-ruskin-heights", "name": "Outreach in Ruskin Heights", "share_pct": 40.0,
         "own_pct": None}]}
    bar = program_charts.contributions(r).data[0]
    assert list(bar.y) == ["Outreach in Ivanhoe (60% of counts)", "Outreach in Ruskin Heights (40% of counts)"]
    assert bar.x[0] == -8.0 and bar.x[1] != bar.x[1]  # NaN: no change known, no bar (never a bar at 0)


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


def test_the_placebo_ratio_chart_has_room_for_twenty_donors():
    """Review r2a: twenty rotated donor names ate the chart's height (a plot about 60 px tall) and its y title
    ("RMSPE ratio (after / before)") ran into the title, cut. Inline result: 20 long names."""
    names = [f"Central Blue Valley And Park Tower Gardens {i}" for i in range(20)]
    result = {"test": {"ratio": 1.4, "placebo_ratios": [{"neighborhood": n, "ratio": 0.5 + i / 10}
                                                        for i, n in enumerate(names)]}}
    fig = program_charts.placebo_ratios(result)
    bars = fig.data[0]
    assert bars.orientation == "h" and list(bars.y)[-1] == names[-1]  # names on their own rows, largest on top
    plot = fig.layout.height - fig.layout.margin.t - fig.layout.margin.b
    assert plot >= 20 * len(names)  # at least 20 px a bar
    assert not fig.layout.yaxis.title.text and "×" in fig.layout.xaxis.title.text
    assert len(fig.layout.xaxis.title.text) <= 12
