"""When can we tell: tracking against the expected count, and the detectability projection checked against a
brute-force simulation written here from the WDD formula (analytics.wdd)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analytics import detect, registry
from analytics.wdd import wdd
from tests.conftest import RAW, analytics_cli

COUNCIL = ["Ruskin Heights", "Independence Plaza", "North Town Fork Creek", "Marlborough Heights/Marlborough Pride",
           "Ivanhoe Northeast", "Ivanhoe Southeast", "Ivanhoe Southwest"]


@pytest.fixture(scope="module")
def council(built_db, con):
    return detect.track(con, "council-2026", n_placebos=100, draws=2000)


def test_cumulative_difference_is_the_wdd_estimate_times_the_months():
    t_pre, c_pre, t_after, c_after = [10, 12, 9, 11], [20, 18, 22, 20], [8, 7, 9], [21, 19, 20]
    out = detect.cumulative(t_pre, c_pre, t_after, c_after)
    for k in (1, 2, 3):
        r = wdd((sum(t_pre), sum(t_after[:k])), (sum(c_pre), sum(c_after[:k])), before_len=4, after_len=k)["local"]
        row = out.iloc[k - 1]
        assert row["difference"] == pytest.approx(r.estimate * k)
        assert row["z"] == pytest.approx(r.z)


def test_tracking_counts_the_council_neighborhoods_from_the_raw_file(council):
    raw = pd.read_csv(RAW / "kcpd_monthly_by_neighborhood_2015_2026.csv.gz")
    mine = raw[raw.neighborhood.isin(COUNCIL)]
    after = mine[mine.month.between("2026-02", "2026-06")].groupby("month").persons.sum()
    assert council["start"] == "2026-01" and not council["start_confirmed"]
    assert [r["month"] for r in council["tracking"]] == list(after.index)
    assert [r["actual"] for r in council["tracking"]] == list(after.cumsum())
    before = mine[mine.month.between("2024-01", "2025-12")].persons.sum() / 24
    assert council["before_monthly"] == pytest.approx(before, abs=0.05)
    last = council["tracking"][-1]
    assert last["low"] < last["difference"] < last["high"]
    assert last["beyond_chance"] == (not last["low"] <= 0 <= last["high"])
    assert council["answer"].startswith("Counting from January 2026 (a start no source confirms)")
    assert ("yes:" in council["answer"]) == last["beyond_chance"]
    assert council["answer"].count(".") == 1  # one sentence


def brute_force_power(t_pre, c_pre, drop, critical, draws, seed):
    """One simulated future at a time: each month a before-window month drawn at random, the footprints' incidents
    each kept with probability 1 - drop; the WDD z of the months so far from analytics.wdd. A future counts at month
    k once its z has been beyond the threshold at any month up to k (someone watching every month has seen it)."""
    rng = np.random.default_rng(seed)
    nb, h = len(t_pre), len(critical)
    hits = np.zeros(h)
    for _ in range(draws):
        t1 = c1 = 0
        seen = False
        for k in range(1, h + 1):
            j = rng.integers(nb)
            t1 += rng.binomial(int(t_pre[j]), 1 - drop)
            c1 += c_pre[j]
            z = wdd((sum(t_pre), t1), (sum(c_pre), c1), before_len=nb, after_len=k)["local"].z
            seen = seen or (z is not None and z < -critical[k - 1])
            hits[k - 1] += seen
    return hits / draws


def test_the_projection_matches_a_brute_force_simulation(built_db, council):
    raw = pd.read_csv(RAW / "kcpd_monthly_by_neighborhood_2015_2026.csv.gz")
    months = raw[raw.month.between("2024-01", "2025-12")]
    t_pre = months[months.neighborhood.isin(COUNCIL)].groupby("month").persons.sum().to_numpy()
    c_pre = months[months.neighborhood.isin(["Westport", "Hyde Park", "Squier Park"])].groupby(
        "month").persons.sum().to_numpy()
    critical = np.array(council["critical_z"][:18])
    for drop in (0.1, 0.3):
        fast = detect.power_curve(t_pre, c_pre, drop, critical, draws=4000, rng=np.random.default_rng(1))
        slow = brute_force_power(t_pre, c_pre, drop, critical, draws=400, seed=2)
        assert np.abs(fast - slow).max() < 0.08  # Monte Carlo error of 400 draws is at most 0.025 (one SE)
        month_fast, month_slow = detect.first_month(fast), detect.first_month(slow)
        assert (month_fast is None) == (month_slow is None)
        if month_fast:
            assert abs(month_fast - month_slow) <= 2


def test_detectability_is_ordered_and_said_in_words(council):
    months = {d["drop_pct"]: d["month"] for d in council["detectable"]}
    assert set(months) == {10, 20, 30}
    bigger_sooner = [m if m is not None else 10 ** 6 for m in (months[30], months[20], months[10])]
    assert bigger_sooner == sorted(bigger_sooner)
    for d in council["detectable"]:
        said = f"a {d['drop_pct']}% drop would " + (f"show by month {d['month']}" if d["month"] else "not show within")
        assert said in council["answer"]
        assert np.all(np.diff(d["power"]) >= 0)  # by month k: a share of futures that never falls


def test_watching_every_month_holds_the_false_positive_rate(council):
    cal = council["calibration"]
    assert cal["n_held_out"] >= 90 and cal["held_out_rate"] <= cal["tolerance"]


def test_cli_detectable_matches_the_library(built_db, con):
    out = analytics_cli("detectable", "--event", "council-2026-ivanhoe", "--json")
    assert out.returncode == 0, out.stderr
    lib = detect.track(con, None, ["council-2026-ivanhoe"])
    cli = json.loads(out.stdout)
    assert cli["answer"] == lib["answer"] and cli["tracking"] == lib["tracking"]
    assert registry.get("council-2026-ivanhoe").neighborhoods == COUNCIL[4:]


def test_a_staggered_program_counts_months_after_each_start_in_the_past_tense(built_db, con):
    """Issue 16: the Prospect corridor (starts 2019-08, 2021-07, 2023-05) was labelled with calendar months from the
    earliest start and opened "Not yet" for work long over."""
    starts = {e.event_id: e.start_date for e in registry.load() if e.program == "prospect-corridor"}
    r = detect.track(con, "prospect-corridor", n_placebos=60, draws=500)
    assert r["staggered"] and r["complete"] and r["months_so_far"] == detect.HORIZON
    assert {f["event"]: f["start"] for f in r["footprints"]} == {k: f"{v:%Y-%m}" for k, v in starts.items()}
    assert all(row["month"] is None and row["label"] == f"month {row['k']} after each start" for row in r["tracking"])
    assert all(d["by"] is None for d in r["detectable"])
    text = r["answer"]
    assert not text.startswith("Not yet") and " would " not in text and "there were" in text
    assert text.count(".") == 1


def test_the_tracking_calibration_speaks_of_placebo_programs_only(council):
    """Review r2a: the tracking text said "200 placebo programs" where the JSON said "200 placebo footprints"."""
    cal = council["calibration"]
    assert cal["origin"] == f"calibrated on {cal['n_calibration']} placebo programs"
    assert "footprints" not in cal["origin"] + cal["sentence"]


def test_nothing_to_track_is_refused_with_one_line_and_exit_2(built_db, capsys):
    """Review r2a: `detectable --event ruskin-heights-undated` said "nothing to evaluate" and exited 0, while
    `evaluate` refuses the same event with exit 2; `program` on it did the same."""
    from analytics.cli import main

    assert registry.get("ruskin-heights-undated").start_date is None  # the bundled registry has no date for it
    for argv in (["detectable", "--event", "ruskin-heights-undated", "--json"],
                 ["program", "--events", "ruskin-heights-undated", "--json"]):
        assert main(argv) == 2
        out = capsys.readouterr()
        assert out.out == "" and len(out.err.strip().splitlines()) == 1 and "no date" in out.err


def test_placebo_programs_are_capped_with_one_line_and_exit_2(capsys):
    """Review r2a: `program --placebos 100000` ran for minutes; the cap is analytics.program.MAX_PROGRAM (200)."""
    from analytics import program
    from analytics.cli import main, parser

    assert program.MAX_PROGRAM == 200
    assert parser().parse_args(["program", "--program", "x", "--placebos", "200"]).placebos == 200
    with pytest.raises(SystemExit) as stop:
        main(["program", "--program", "council-2026", "--placebos", "100000", "--json"])
    assert stop.value.code == 2
    out = capsys.readouterr()
    assert out.out == "" and len(out.err.strip().splitlines()) == 1 and "at most 200" in out.err
    with pytest.raises(program.ProgramError, match="from 1 to 200"):
        program.evaluate(None, "council-2026", n_placebos=201)
