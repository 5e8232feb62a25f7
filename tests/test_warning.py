"""Early warning on the real neighborhood series: an injected doubling is flagged, the untouched data flags at most
the false-discovery share, months without data are left out (never 0), and the page/CLI numbers are the raw file's."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest

from analytics import warning
from analytics.queries import BadQuery
from kcvt.settings import DATA_DIR
from tests.conftest import RAW, analytics_cli


@pytest.fixture(scope="module")
def wide() -> pd.DataFrame:
    """The raw file's crimes against persons, neighborhoods x months (first days), read with pandas alone."""
    raw = pd.read_csv(RAW / "kcpd_monthly_by_neighborhood_2015_2026.csv.gz")
    out = raw.pivot(index="neighborhood", columns="month", values="persons").astype(float)
    out.columns = [date(int(m[:4]), int(m[5:]), 1) for m in out.columns]
    return out


@pytest.fixture(scope="module")
def latest(wide) -> date:
    """The raw file's last month, which the coverage notes do not call partial."""
    notes = pd.read_csv(DATA_DIR / "reference/coverage_notes.csv")
    last = max(wide.columns)
    partial = notes[(notes.source_id == "kcpd_nbhd") & (notes.status == "partial")]
    assert not ((partial.start <= f"{last:%Y-%m}") & (partial.end >= f"{last:%Y-%m}")).any()
    return last


def _busiest(wide: pd.DataFrame, month: date) -> str:
    window = [c for c in wide.columns if c < month][-warning.TRAINING["month"]:]
    return wide[window].sum(axis=1).idxmax()


def test_a_doubling_injected_into_the_last_month_is_flagged_heating_up(wide, latest):
    place = _busiest(wide, latest)
    injected = wide.copy()
    injected.loc[place, latest] *= 2
    table = warning.watch(injected, latest).set_index("place")
    assert table.loc[place, "flag"] == warning.HEATING
    assert table.loc[place, "observed"] == 2 * wide.loc[place, latest] > table.loc[place, "high"]
    assert table.loc[place, "q"] < warning.FDR


def test_a_month_with_nothing_recorded_in_a_busy_place_is_cooling_down(wide, latest):
    place = _busiest(wide, latest)
    injected = wide.copy()
    injected.loc[place, latest] = 0
    table = warning.watch(injected, latest).set_index("place")
    assert table.loc[place, "flag"] == warning.COOLING and table.loc[place, "low"] > 0


def test_untouched_months_flag_at_most_the_false_discovery_share(wide, latest):
    """Over the latest six months, none flags more than FDR (5%) of the neighborhoods it tests."""
    for k in range(6):
        month = [c for c in wide.columns if c <= latest][-1 - k]
        table = warning.watch(wide, month)
        tested = int(table["p"].notna().sum())
        flagged = int(table["flag"].isin([warning.HEATING, warning.COOLING]).sum())
        assert tested > 150 and flagged <= warning.FDR * tested, (month, flagged, tested)


def test_months_without_data_are_left_out_of_the_fit_not_read_as_zero(wide, latest):
    place = _busiest(wide, latest)
    window = [c for c in wide.columns if c < latest][-warning.TRAINING["month"]:]
    gaps = wide.copy()
    gaps.loc[:, window[:10]] = np.nan  # ten months no source covers
    got = warning.watch(gaps, latest).set_index("place").loc[place]
    kept = window[10:]
    alone = warning.expected(wide.loc[place, kept].to_numpy(), kept, latest, wide.loc[place, latest])
    assert got["months_used"] == 26 and got["expected"] == pytest.approx(alone["expected"])
    zeros = wide.copy()
    zeros.loc[:, window[:10]] = 0
    assert warning.watch(zeros, latest).set_index("place").loc[place, "expected"] != pytest.approx(got["expected"])


def test_few_events_are_too_few_to_tell_and_never_tested(wide, latest):
    table = warning.watch(wide, latest)
    window = [c for c in wide.columns if c < latest][-warning.TRAINING["month"]:]
    few = wide[window].sum(axis=1) < warning.MIN_EVENTS
    assert few.sum() > 0
    assert (table.set_index("place").loc[few[few].index, "flag"] == warning.TOO_FEW).all()
    assert table.set_index("place").loc[few[few].index, "p"].isna().all()


def test_the_watch_list_from_the_database_is_the_raw_files(con, wide, latest):
    result = warning.watchlist(con, "kcpd_nbhd", "persons")
    assert result["target"] == f"{latest:%Y-%m}" and result["training"] == "2023-06..2026-05"
    table = result["table"].set_index("place")
    assert (table["observed"] == wide[latest].reindex(table.index)).all()
    expected = warning.watch(wide, latest).set_index("place")
    assert (table["flag"] == expected["flag"].reindex(table.index)).all()
    assert table["expected"].dropna().to_numpy() == pytest.approx(expected["expected"].reindex(table.index).dropna())
    assert result["flagged"] == len(result["watch"]) == int(table["flag"].isin([warning.HEATING, warning.COOLING]).sum())
    for place, row in table[table["flag"].isin([warning.HEATING, warning.COOLING])].iterrows():
        line = row["sentence"]
        assert line.startswith(f"{place} is {row['flag']}") and f"{int(row['observed']):,} recorded" in line
        assert f"about {row['expected']:.0f} expected, usual range {int(row['low'])} to {int(row['high'])}" in line


@pytest.mark.parametrize(("source", "category", "month", "message"), [
    ("gva", "shooting", None, "fewer than 18 months with data in the 36 before"),
    ("kcpd17", "persons", None, "has no month fully covered with neighborhood-level data"),
    ("kcpd", "persons", None, "2020-01 to 2020-06: this period has no coordinates"),
    ("kcpd_nbhd", "persons", date(2014, 6, 1), "month 2014-06 is too early for 'kcpd_nbhd'"),
    ("kcpd_nbhd", "shooting", None, "has no category 'shooting'"),
])
def test_what_cannot_be_tested_is_refused_with_the_reason(con, source, category, month, message):
    with pytest.raises(BadQuery, match=message):
        warning.watchlist(con, source, category, "month", month)


def test_watchlist_cli_prints_the_same_table(built_db, con):
    out = analytics_cli("watchlist", "--source", "kcpd_nbhd", "--category", "persons", "--month", "2025-12", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    lib = warning.watchlist(con, "kcpd_nbhd", "persons", "month", date(2025, 12, 1))
    assert data["target"] == "2025-12" and data["watch"] == lib["watch"]
    rows = {r["place"]: r for r in data["table"]}
    for place, row in lib["table"].set_index("place").iterrows():
        assert rows[place]["flag"] == row["flag"] and rows[place]["observed"] == row["observed"]


def test_the_usual_range_holds_at_least_95_percent_of_real_months(wide, latest):
    """Calibration: over the latest twelve months, the counts of the tested neighborhoods fall outside their 95%
    range at most 5% of the time (a range that ignored over-dispersion or the fit's own uncertainty would not)."""
    outside, tested = 0, 0
    for month in [c for c in wide.columns if c <= latest][-12:]:
        table = warning.watch(wide, month)
        table = table[table["p"].notna()]
        outside += int(((table["observed"] < table["low"]) | (table["observed"] > table["high"])).sum())
        tested += len(table)
    assert outside / tested <= 1 - warning.INTERVAL, (outside, tested)


def test_quarters_train_on_the_twelve_before(con, wide):
    result = warning.watchlist(con, "kcpd_nbhd", "persons", "quarter")
    assert (result["target"], result["training"]) == ("2026 Q2", "2023 Q2..2026 Q1")
    table = result["table"].set_index("place")
    q2 = wide[[date(2026, 4, 1), date(2026, 5, 1), date(2026, 6, 1)]].sum(axis=1)
    assert (table["observed"] == q2.reindex(table.index)).all()
    assert table["flag"].isin([warning.HEATING, warning.COOLING]).sum() <= warning.FDR * table["p"].notna().sum()


def test_every_line_is_true_to_where_the_count_sits(con, wide, latest):
    """A count outside its 95% range that the false-discovery control did not flag is named 'above' or 'below its
    usual range ... but not flagged', never 'within' (the review found 'Country Club Plaza is within its usual
    range: 5 recorded ... usual range 0 to 3')."""
    table = warning.watchlist(con, "kcpd_nbhd", "persons")["table"]
    tested = table[table["p"].notna()].set_index("place")
    observed = wide[latest].reindex(tested.index)
    above = observed > tested["high"]
    below = observed < tested["low"]
    assert above.any()  # 2026-06 has counts over their range that were not flagged
    for place, row in tested.iterrows():
        line = row["sentence"]
        if row["flag"] in (warning.HEATING, warning.COOLING):
            assert line.startswith(f"{place} is {row['flag']}")
        elif above[place]:
            assert row["flag"] == warning.ABOVE and "is above its usual range" in line and "not flagged" in line
            assert f"across {len(tested)} neighborhoods tested" in line
        elif below[place]:
            assert row["flag"] == warning.BELOW and "is below its usual range" in line
        else:
            assert row["flag"] == warning.WITHIN and "is within its usual range" in line


def test_the_watch_list_follows_the_period_end(con, wide):
    """The watch list of a period reads its last fully covered month: from the raw file's months and the coverage
    notes' partial ones (2018-12 stops on the 30th, 2019-2021 undercount), not the source's latest month."""
    notes = pd.read_csv(DATA_DIR / "reference/coverage_notes.csv")
    partial = notes[(notes.source_id == "kcpd_nbhd") & (notes.status == "partial")]

    def last_complete(by: date) -> date:
        return max(c for c in wide.columns if pd.Timestamp(c) + pd.offsets.MonthEnd(0) <= pd.Timestamp(by)
                   and not ((partial.start <= f"{c:%Y-%m}") & (partial.end >= f"{c:%Y-%m}")).any())

    for by in (date(2018, 12, 31), date(2018, 11, 29), date(2020, 12, 31), date(2023, 6, 30)):
        result = warning.watchlist(con, "kcpd_nbhd", "persons", by=by)
        month = last_complete(by)
        assert result["target"] == f"{month:%Y-%m}", by
        table = result["table"].set_index("place")
        assert (table["observed"] == wide[month].reindex(table.index)).all()


def test_a_month_too_early_names_the_month_and_the_earliest_allowed(con, wide):
    first = min(wide.columns)
    earliest = (pd.Timestamp(first) + pd.DateOffset(months=warning.MIN_HISTORY["month"])).strftime("%Y-%m")
    with pytest.raises(BadQuery, match=f"month 1999-01 is too early.*earliest month it can test is {earliest}"):
        warning.watchlist(con, "kcpd_nbhd", "persons", "month", date(1999, 1, 1))
