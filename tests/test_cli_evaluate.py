"""`analytics evaluate`: a refusal exits 2 with one line (as `rank` does), and `--date` is the page's what-if."""

from __future__ import annotations

import json
from datetime import date

import pandas as pd

from analytics import cli, filters, registry
from tests.conftest import RAW

INDEPENDENCE, RUSKIN = "independence-ave-2023-11-29", "ruskin-heights-undated"


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse refuses a value before the command runs
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_an_evaluation_without_data_is_refused_with_exit_2_and_one_line(built_db, capsys):
    """GVA points have no incidents in the Independence Avenue windows (the bundled GVA file ends in 2018)."""
    gva = pd.read_csv(RAW / "gva_kc_2013_2018.csv.gz")
    assert pd.to_datetime(gva.date).max() < pd.Timestamp("2023-05-01")
    for extra in ([], ["--json"]):
        code, out, err = run(["evaluate", "--event", INDEPENDENCE, "--unit", "points", *extra], capsys)
        assert code == 2 and out == ""
        assert err.count("\n") == 1 and err.startswith("error: ") and "No data for 2023-05" in err


def test_an_undated_event_is_refused_and_points_to_date(built_db, capsys):
    assert registry.get(RUSKIN).start_date is None
    code, out, err = run(["evaluate", "--event", RUSKIN], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1 and "--date YYYY-MM-DD" in err


def test_date_evaluates_a_what_if_labelled_unsaved(built_db, capsys):
    code, out, err = run(["evaluate", "--event", RUSKIN, "--date", "2023-06-14", "--json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    assert data["what_if"] is True and data["saved"] is False and data["stored_date"] is None
    assert data["date"] == "2023-06-14" and data["status"] == "evaluated"
    raw = pd.read_csv(RAW / "kcpd_monthly_by_neighborhood_2015_2026.csv.gz")
    ruskin = raw[raw.neighborhood == "Ruskin Heights"]  # the windows around June 2023, counted here
    assert data["counts"]["footprint"] == {"before": int(ruskin[ruskin.month.between("2022-12", "2023-05")].persons.sum()),
                                           "after": int(ruskin[ruskin.month.between("2023-07", "2023-12")].persons.sum())}
    code, out, _ = run(["evaluate", "--event", RUSKIN, "--date", "2023-06-14"], capsys)
    assert code == 0 and out.startswith("What if the canvass was on 2023-06-14? (what-if date, not saved")
    assert registry.get(RUSKIN).start_date is None  # nothing saved


def test_date_is_parsed_and_range_checked(built_db, capsys):
    lo, _ = filters.date_bounds()
    for bad, says in (("2023-13-01", "not a date"), (str(date(lo.year - 1, 1, 1)), "outside the accepted dates")):
        code, out, err = run(["evaluate", "--event", RUSKIN, "--date", bad], capsys)
        assert code == 2 and out == "" and says in err and err.count("\n") == 1
    code, _, err = run(["evaluate", "--event", INDEPENDENCE, "--method", "synth", "--date", "2023-06-14"], capsys)
    assert code == 2 and "--date applies to --method wdd only" in err


def test_a_synthetic_control_window_too_short_says_what_it_needs(built_db, capsys):
    """Six months were asked for and the data hold them: the message is about the window, not missing data."""
    code, out, err = run(["evaluate", "--event", INDEPENDENCE, "--method", "synth", "--months-before", "6"], capsys)
    assert code == 2 and out == ""
    assert "A before window of 6 months is too short for a synthetic comparison" in err
    assert "at least 24 months" in err and "series starts" not in err and "month(s)" not in err
