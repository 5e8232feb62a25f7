"""The backtest, 2017-2025, redone from the bundled raw file with pandas alone and compared with what the CLI and the
Data page show; the ranking components by neighborhood."""

from __future__ import annotations

import gzip
import json
import math
from datetime import date

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from analytics import backtest, emerging, warning
from analytics.queries import Filter
from kcvt.settings import DATA_DIR, ROOT
from tests.conftest import RAW, analytics_cli

YEARS = range(2017, 2026)


#: a backtest run (nine years of emerging hot spots and watch lists, about 10 s) is heavy computation, the slow tier's
#: like the calibration's placebos: `make test-fast` stays a quick loop
BACKTEST = pytest.mark.slow


@pytest.fixture(scope="module")
def cli(built_db) -> dict:
    out = analytics_cli("backtest", "--source", "kcpd_nbhd", "--category", "persons", "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def by_year() -> pd.DataFrame:
    """Crimes against persons per neighborhood (rows) and year (columns), by a pandas groupby on the raw file."""
    raw = pd.read_csv(RAW / "kcpd_monthly_by_neighborhood_2015_2026.csv.gz")
    raw["year"] = raw.month.str[:4].astype(int)
    return raw.groupby(["neighborhood", "year"]).persons.sum().unstack()


@pytest.fixture(scope="module")
def population() -> pd.Series:
    """2010 population by neighborhood name from the census file (by number where the name differs)."""
    census = pd.read_csv(DATA_DIR / "geo/kc_neighborhood_population_2010.csv.gz").dropna(subset=["Name"])
    with gzip.open(DATA_DIR / "geo/kc_neighborhoods.geojson.gz", "rt") as fh:
        feats = [f["properties"] for f in json.load(fh)["features"] if f["properties"]["nbhname"]]
    by_name = census.set_index("Name")["Population"]
    by_no = census.set_index(census["No."].astype(int).astype(str))["Population"]
    return pd.Series({p["nbhname"]: by_name.get(p["nbhname"], by_no.get(p["nbhid"])) for p in feats}, dtype=float)


def top(values: pd.Series, n: int) -> list[str]:
    frame = values.dropna().rename("v").rename_axis("place").reset_index()
    return frame.sort_values(["v", "place"], ascending=[False, True]).place.head(n).tolist()


def marshall(events: pd.Series, pop: pd.Series) -> pd.Series:
    """Global empirical-Bayes rates (Marshall 1991), written out: shrink each rate toward the city rate by the share
    of its variance that is not Poisson noise."""
    keep = pop[pop >= 100].index.intersection(events.index)
    e, b = events[keep].astype(float), pop[keep]
    m = e.sum() / b.sum()
    rate = e / b
    s2 = (b * (rate - m) ** 2).sum() / b.sum() - m / b.mean()
    weight = s2 / (s2 + m / b)
    return (weight * rate + (1 - weight) * m) * 10_000


def _row(cli: dict, year: int, strategy: str) -> dict:
    return next(r for r in cli["table"] if r["year"] == year and r["strategy"] == strategy)


@BACKTEST
def test_naive_baseline_matches_a_groupby_on_the_raw_file(cli, by_year):
    for y in YEARS:
        picks, now = top(by_year[y - 1], 20), by_year[y]
        row = _row(cli, y, "count")
        assert cli["picks"][str(y)]["count"] == picks
        assert row["share_pct"] == round(100 * now[picks].sum() / now.sum(), 1)
        assert row["caught"] == len(set(picks) & set(top(now, 20))) and row["places"] == 20


@BACKTEST
def test_smoothed_rate_ranking_matches_marshalls_formula(cli, by_year, population):
    for y in YEARS:
        picks, now = top(marshall(by_year[y - 1], population), 20), by_year[y]
        row = _row(cli, y, "smoothed_rate")
        assert cli["picks"][str(y)]["smoothed_rate"] == picks
        assert row["share_pct"] == round(100 * now[picks].sum() / now.sum(), 1)
        assert row["caught"] == len(set(picks) & set(top(now, 20)))


@BACKTEST
def test_signal_picks_are_scored_against_the_raw_file_and_a_baseline_of_equal_size(cli, by_year):
    for y in YEARS:
        picks, now = cli["picks"][str(y)]["signals"], by_year[y]
        assert set(picks) == set(cli["picks"][str(y)]["why"])
        assert all(any(r in why for r in (*emerging.EMERGING, warning.HEATING))
                   for why in cli["picks"][str(y)]["why"].values())
        row, same = _row(cli, y, "signals"), _row(cli, y, "count_same_size")
        assert row["places"] == len(picks) == same["places"]
        assert cli["picks"][str(y)]["count_same_size"] == top(by_year[y - 1], len(picks))
        if not picks:  # nothing to score (test_the_summary_is_the_mean_over_the_years_with_picks)
            continue
        assert row["share_pct"] == round(100 * now.reindex(picks).sum() / now.sum(), 1)
        assert row["caught"] == len(set(picks) & set(top(now, 20)))


@BACKTEST
def test_the_summary_is_the_mean_over_the_years_with_picks(cli):
    """A year whose signals picked no neighborhood is not scored: its share and catch are null, never 0.0 and 0, and
    the averages leave it out (blind review: 0.0% pulled the signals' average down)."""
    table = pd.DataFrame(cli["table"])
    empty = [y for y in YEARS if not cli["picks"][str(y)]["signals"]]
    assert empty  # on the raw file, some years flag nothing (see docs/backtest.md)
    for y in empty:
        for strategy in ("signals", "count_same_size"):
            row = _row(cli, y, strategy)
            assert row["places"] == 0 and row["share_pct"] is None and row["caught"] is None
    for row in cli["summary"]:
        mine = table[(table.strategy == row["strategy"]) & (table.places > 0)]
        skipped = len(empty) if row["strategy"] in ("signals", "count_same_size") else 0
        assert row["years"] == len(mine) == len(YEARS) - skipped
        assert row["share_pct"] == round(mine.share_pct.mean(), 1) and row["caught"] == round(mine.caught.mean(), 1)
        assert row["places"] == round(mine.places.mean(), 1)


def test_the_data_page_shows_the_cli_figures(built_db, cli):
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=300)
    at.switch_page("views/data.py").run()
    assert not at.exception
    shown = next(t.value for t in at.table if "year" in t.value.columns and "share of the year's incidents (%)"
                 in t.value.columns)
    for _, r in shown.iterrows():
        strategy = next(k for k, v in backtest.STRATEGIES.items() if v == r["ranking made at the end of the year before"])
        row = _row(cli, int(r["year"]), strategy)
        if row["places"] == 0:  # an empty pick is not scored: never 0.0 and 0
            assert r["share of the year's incidents (%)"] == r[f"of the year's top {backtest.TOP} caught"] == "nothing picked"
            continue
        assert r["share of the year's incidents (%)"] == f"{row['share_pct']:.1f}"  # one decimal, not 28.9000
        assert int(r[f"of the year's top {backtest.TOP} caught"]) == row["caught"]
    assert len(shown) == len(cli["table"])


def test_persistence_counts_years_in_the_top_decile(con, by_year):
    comp = backtest.components(con, Filter("kcpd_nbhd", "persons", date(2024, 1, 1), date(2025, 12, 31)))
    comp = comp.set_index("area_id")
    years = list(range(2015, 2026))
    k = math.ceil(0.1 * len(by_year))
    expected = sum((by_year[y] >= by_year[y].sort_values(ascending=False).iloc[k - 1]).astype(int) for y in years)
    assert (comp.loc[expected.index, "persistence_years"] == expected).all()
    assert (comp["persistence_of"] == len(years)).all()
    assert comp.loc["unnamed-1", "emerging"] == "no data" and np.isnan(comp.loc["unnamed-1", "persistence_years"])
    assert set(comp["early_warning"]) <= {warning.HEATING, warning.COOLING, warning.WITHIN, warning.TOO_FEW,
                                          warning.NO_DATA, warning.ABOVE, warning.BELOW}
    assert comp.attrs["early_warning_for"] == "2025-12" and set(comp["emerging"]) <= {*emerging.CATEGORIES, "no data"}


def test_a_year_with_months_missing_is_no_data_not_a_smaller_count(con, by_year):
    counts = backtest.yearly(con, "kcpd_nbhd", "persons", 2025, 2026)
    assert counts[2026].isna().all()  # the raw file stops in 2026-06: half a year is not a year's count
    assert (counts[2025] == by_year[2025].reindex(counts.index)).all()
    comp = backtest.components(con, Filter("kcpd_nbhd", "persons", date(2025, 1, 1), date(2026, 6, 30)))
    assert (comp["persistence_of"] == 11).all() and comp.attrs["persistence_years"] == "2015-2025"


@BACKTEST
def test_docs_backtest_shows_the_cli_figures(cli):
    doc = (ROOT / "docs/backtest.md").read_text()
    for y in YEARS:
        line = next(x for x in doc.splitlines() if x.startswith(f"| {y} |"))
        cells = [c.strip() for c in line.strip("|").split("|")][1:]
        def scored(strategy: str, y: int = y) -> str:
            row = _row(cli, y, strategy)
            return "nothing picked" if row["places"] == 0 else f"{row['share_pct']:.1f}, {row['caught']}"

        expected = [scored("count"), scored("smoothed_rate"), f"{_row(cli, y, 'signals')['places']}, {scored('signals')}",
                    scored("count_same_size")]
        assert cells == expected, y


def _gva_months() -> pd.Series:
    """GVA shootings (someone killed or injured) per month, from both raw GVA files."""
    raw = pd.concat([pd.read_csv(RAW / name) for name in ("gva_kc_2013_2018.csv.gz", "gva_kc_2020_jan_may.csv.gz")])
    shot = raw[(raw.n_killed + raw.n_injured) > 0]
    return shot.groupby(shot.date.str[:7]).size()


@BACKTEST
def test_signals_that_cannot_be_computed_are_null_not_zero(built_db):
    """GVA has months with fewer than 30 shootings in every year (the raw files; placed ones are fewer still), so
    monthly Gi* is refused: the signals are null in JSON and 'not computable' in the text, never 0; years without
    a whole year of data on either side are named with why (GVA's whole years, from the raw months: 12 with rows)."""
    months = _gva_months()
    assert all((months[months.index.str.startswith(y)] < emerging.MIN_EVENTS_PER_SLICE).any()
               for y in ("2014", "2015", "2016", "2017"))
    whole = {int(y) for y in {m[:4] for m in months.index} if sum(m.startswith(y) for m in months.index) == 12}
    out = analytics_cli("backtest", "--source", "gva", "--category", "shooting", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    scored = [y for y in YEARS if {y - 1, y} <= whole]
    assert scored and sorted(int(y) for y in data["skipped"]) == [y for y in YEARS if y not in scored]
    assert sorted(int(y) for y in data["not_computable"]) == scored
    for y in scored:
        for strategy in ("signals", "count_same_size"):
            row = _row(data, y, strategy)
            assert row["places"] is None and row["share_pct"] is None and row["caught"] is None
        assert _row(data, y, "count")["places"] == 20
    text = analytics_cli("backtest", "--source", "gva", "--category", "shooting").stdout
    assert "not computable" in text and " 0.0 " not in text
    for y in data["skipped"]:
        assert f"{y} skipped: no whole year of neighborhood-level data" in text


@BACKTEST
def test_a_last_year_without_whole_data_is_said_to_be_skipped(built_db):
    """The raw neighborhood file stops in 2026-06: --last 2026 says 2026 is skipped and why."""
    raw = pd.read_csv(RAW / "kcpd_monthly_by_neighborhood_2015_2026.csv.gz")
    assert raw.month.max() < "2026-12"
    out = analytics_cli("backtest", "--first", "2025", "--last", "2026")
    assert out.returncode == 0, out.stderr
    assert "2026 skipped: no whole year of neighborhood-level data for 2026" in out.stdout


@BACKTEST
def test_the_cli_text_reads_as_words_with_whole_counts(built_db, cli):
    """Without --json, the summary has headings in words (no machine ids) and counts as counts: the naive
    baseline picks 20 a year, so its average is "20", never "20.0"; the years scored are whole."""
    out = analytics_cli("backtest", "--source", "kcpd_nbhd", "--category", "persons")
    assert out.returncode == 0, out.stderr
    for raw in ("strategy", "share_pct", "smoothed_rate", "count_same_size"):
        assert raw not in out.stdout, raw
    summary = out.stdout[out.stdout.index("Averages over the years scored"):]
    naive = next(line for line in summary.splitlines() if line.strip().startswith(backtest.STRATEGIES["count"]))
    naive_rows = pd.DataFrame(cli["table"]).query("strategy == 'count'")
    share, caught = naive_rows.share_pct.mean(), naive_rows.caught.mean()
    assert naive.split()[-4:] == ["20", f"{share:.1f}", f"{caught:.0f}" if caught == int(caught) else f"{caught:.1f}",
                                  str(len(YEARS))]


def test_the_data_page_chart_title_fits_its_axis():
    """The y-axis title is drawn along the plot's height: at about 7 px a character it must be shorter than the plot
    area (height less the top and bottom margins), or the browser cuts it at the top."""
    from analytics import briefing

    result = {"strategies": backtest.STRATEGIES,
              "table": pd.DataFrame({"year": [2017], "strategy": ["count"], "share_pct": [30.0]})}
    layout = briefing.backtest_chart(result).layout
    assert len(layout.yaxis.title.text) * 7 <= layout.height - layout.margin.t - layout.margin.b


def test_a_new_start_reuses_the_early_warning_of_the_same_end(built_db, con, monkeypatch):
    """The early warning depends on the period's end only (its last fully covered month): the app computes it once
    for two periods that share an end, and the components are those the library gives for each period. The emerging
    analysis of a period is computed once for the Hotspots ranking, the Emerging page's ranking and its map."""
    import streamlit as st

    from analytics import emerging, warning
    from app import web

    end, starts = date(2026, 6, 30), (date(2024, 7, 1), date(2024, 9, 1))
    direct = [backtest.components(con, Filter("kcpd_nbhd", "persons", s, end)) for s in starts]
    calls, analyses = [], []
    real, real_emerging = warning.watchlist, emerging.emerging
    monkeypatch.setattr(warning, "watchlist", lambda *a, **k: calls.append(a[1:]) or real(*a, **k))
    monkeypatch.setattr(emerging, "emerging", lambda *a, **k: analyses.append(a[1]) or real_emerging(*a, **k))
    st.cache_data.clear()
    for start, expected in zip(starts, direct, strict=True):
        table, notes = web.components(web.db_key(), "kcpd_nbhd", "persons", start, end)
        assert table.set_index("area_id").equals(expected.set_index("area_id")) and notes == expected.attrs
        ranking, _ = web.emerging_ranking(web.db_key(), "kcpd_nbhd", "persons", start, end, "month")
        web.emerging(web.db_key(), "kcpd_nbhd", "persons", start, end, "month", "neighborhood", 0)
        assert ranking.set_index("area_id")[expected.columns[1:]].sort_index().equals(
            expected.set_index("area_id").sort_index())
    assert len(calls) == 1
    assert [f.start for f in analyses] == list(starts)
