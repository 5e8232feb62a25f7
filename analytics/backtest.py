"""Ranking components (emerging category, early-warning flag, persistence) and the backtest: did a ranking made at
the end of one year say where the next year's incidents would be?

Each component is its own column, keyed by neighborhood, so the ranking can sit them next to level, smoothed rate
and change; none is folded into a combined score. The backtest compares, for each year Y, the neighborhoods each
signal picked at the end of Y-1 with what happened in Y, against the naive baseline "last year's top 20 by count".
"""

from __future__ import annotations

import math
from datetime import date

import duckdb
import numpy as np
import pandas as pd

from analytics import emerging, queries, warning
from analytics.queries import BadQuery, Filter

TOP = 20
#: rates (raw or smoothed) are not computed under this many residents (2010 Census), as on the Hotspots page
MIN_POPULATION = 100
#: persistence: the share of neighborhoods counted as the top decile each year (ties at the boundary included)
DECILE = 0.10
#: the emerging category at the end of a year is read from the 36 months before its end (fewer at the series' start)
EMERGING_MONTHS = 36
STRATEGIES = {
    "count": f"last year's top {TOP} by count (naive baseline)",
    "smoothed_rate": f"top {TOP} by smoothed rate",
    "signals": "emerging or heating up at year end",
    "count_same_size": "last year's top by count, as many as the signals",
}


def top(counts: pd.Series, n: int) -> list[str]:
    """The n places with the highest values, ties broken by name (alphabetically): a fixed rule, so a test can
    redo it."""
    frame = pd.DataFrame({"place": counts.index, "v": counts.to_numpy()}).dropna()
    return frame.sort_values(["v", "place"], ascending=[False, True])["place"].head(n).tolist()


def smoothed_rates(counts: pd.Series, population: pd.Series) -> pd.Series:
    """Empirical-Bayes rates per 10,000 residents, the Hotspots ranking's own (hotspots.smoothed_rates: Marshall's
    estimator toward the pooled rate; blank under its minimum population), indexed like `counts`."""
    from analytics import hotspots

    pop = population.reindex(counts.index)
    rates, _ = hotspots.smoothed_rates(counts.astype(float), pop.astype(float))
    return pd.Series(rates, index=counts.index)


def yearly(con: duckdb.DuckDBPyConnection, source: str, category: str, first: int, last: int) -> pd.DataFrame:
    """Counts per neighborhood (rows) and whole year (columns) from `first` to `last`; a year with any month
    without data is NaN (no data), never a partial sum."""
    wide, _ = warning.neighborhood_series(con, Filter(source, category, date(first, 1, 1), date(last, 12, 31)), "month")
    return wide.T.groupby([c.year for c in wide.columns]).sum(min_count=12).T


def persistence(counts: pd.DataFrame) -> pd.Series:
    """Years each place was in the top decile of its year (the places whose count reaches the count of the
    ceil(10%)-th busiest; ties at the boundary included), over the whole years with data."""
    years = [y for y in counts.columns if counts[y].notna().all()]
    k = math.ceil(DECILE * len(counts))
    cut = {y: counts[y].sort_values(ascending=False).iloc[k - 1] for y in years}
    return sum((counts[y] >= cut[y]).astype(int) for y in years) if years else pd.Series(0, index=counts.index)


def signals(con: duckdb.DuckDBPyConnection, source: str, category: str, year_end: date) -> dict[str, str]:
    """Neighborhoods flagged at `year_end` (a month's first day): an emerging category (new, consecutive or
    intensifying hot spot) over the EMERGING_MONTHS before, or "heating up" on that month's watch list. Raises
    BadQuery (naming why) when either part cannot be computed: half a signal scored as the whole, or nothing
    computable scored as "nothing flagged", would both read as a finding."""
    window_start = (pd.Timestamp(year_end) - pd.DateOffset(months=EMERGING_MONTHS - 1)).date()
    first = max(window_start, min(queries.catalog(con).months.get(source, {window_start: None})))
    out = {}
    try:
        result = emerging.emerging(con, Filter(source, category, first, emerging.slice_end(year_end, "month")))
    except BadQuery as exc:
        raise BadQuery(f"emerging hot spots not computable for {first:%Y-%m} to {year_end:%Y-%m}: {exc}") from exc
    out |= {p: c for p, c in zip(result["table"]["place"], result["table"]["category"], strict=True)
            if c in emerging.EMERGING}
    try:
        table = warning.watchlist(con, source, category, "month", year_end)["table"]
    except BadQuery as exc:
        raise BadQuery(f"early warning not computable for {year_end:%Y-%m}: {exc}") from exc
    for p in table.loc[table["flag"] == warning.HEATING, "place"]:
        out[p] = f"{out[p]}; heating up" if p in out else "heating up"
    return out


def _score(places: list[str] | None, now: pd.Series, now_top: list[str]) -> dict:
    """Share of the year's incidents and of its top 20 held by `places`; all null when the picks could not be
    made (None), never 0. An empty pick scores null too: a share of nothing is not a measure of the ranking, and a
    0.0% would pull its average down (blind review)."""
    if places is None:
        return {"places": None, "share_pct": None, "caught": None}
    if not places:
        return {"places": 0, "share_pct": None, "caught": None}
    return {"places": len(places), "share_pct": round(100 * float(now.reindex(places).sum()) / float(now.sum()), 1),
            "caught": len(set(places) & set(now_top))}


def backtest(con: duckdb.DuckDBPyConnection, source: str = "kcpd_nbhd", category: str = "persons",
             first: int = 2017, last: int = 2025) -> dict:
    """For each year Y from `first` to `last`: the share of Y's incidents held, and how many of Y's top 20 were
    caught, by each strategy's picks at the end of Y-1 (STRATEGIES), with the picks themselves. A year without a
    whole year of data on either side is skipped (`skipped`: year -> why); a year whose signals cannot be computed
    scores them null (`not_computable`: year -> why), never as an empty pick."""
    if first > last:
        raise BadQuery(f"first year {first} is after last year {last}")
    counts = yearly(con, source, category, first - 1, last)
    population = queries.catalog(con).neighborhoods.set_index("area_id")["population"]
    rows, picks, skipped, not_computable = [], {}, {}, {}
    for y in range(first, last + 1):
        before, now = counts[y - 1], counts[y]
        short = [str(x) for x, c in ((y - 1, before), (y, now)) if c.isna().any()]
        if short:
            skipped[y] = f"no whole year of neighborhood-level data for {' and '.join(short)}"
            continue
        try:
            flagged = signals(con, source, category, date(y - 1, 12, 1))
        except BadQuery as exc:
            flagged, not_computable[y] = None, str(exc)
        chosen = {"count": top(before, TOP), "smoothed_rate": top(smoothed_rates(before, population), TOP),
                  "signals": None if flagged is None else sorted(flagged),
                  "count_same_size": None if flagged is None else top(before, len(flagged))}
        picks[y] = chosen | {"why": flagged}
        now_top = top(now, TOP)
        rows += [{"year": y, "strategy": s, **_score(p, now, now_top)} for s, p in chosen.items()]
    table = pd.DataFrame(rows, columns=["year", "strategy", "places", "share_pct", "caught"])
    table = table.astype({"places": "Int64", "share_pct": "Float64", "caught": "Int64"})  # null stays null
    scored = table[table["share_pct"].notna()]  # the years each ranking picked something: its averages' years
    by = scored.groupby("strategy", sort=False)
    summary = (by[["places", "share_pct", "caught"]].mean().astype(float).round(1)
               .reindex(list(STRATEGIES)).rename_axis("strategy").reset_index())
    summary["years"] = by["share_pct"].count().reindex(list(STRATEGIES)).fillna(0).astype(int).to_numpy()
    return {"source": source, "category": category, "first": first, "last": last, "top": TOP,
            "strategies": STRATEGIES, "table": table, "summary": summary, "picks": picks,
            "skipped_years": sorted(skipped), "skipped": skipped, "not_computable": not_computable}


def components(con: duckdb.DuckDBPyConnection, f: Filter, slice_: str = "month",
               watch: dict | BadQuery | None = None, result: dict | BadQuery | None = None) -> pd.DataFrame:
    """The three ranking components by neighborhood (area_id): the emerging category over f's period, the
    early-warning flag of the latest complete slice ending by f.end, and persistence (years in the top decile of
    the whole years up to f.end, 'of' how many). A component that cannot be computed says why in `df.attrs`.
    When the caller has them already (the app caches each on its own inputs), `watch` is
    warning.watchlist(con, f.source, f.category, slice_, by=f.end) and `result` emerging.emerging(con, f, slice_)
    (neighborhoods, the normal approximation), or the BadQuery either raised: computed again here they were 0.5 s
    and 0.3 s of each new period on the Emerging page."""
    ctx = queries.validate(con, f)
    out = pd.DataFrame(index=pd.Index(ctx.neighborhoods["area_id"], name="area_id"))
    out["emerging"], out["early_warning"], notes = "not available", "not available", {}
    try:
        if result is None:
            result = emerging.emerging(con, f, slice_, every_trend=False)  # the categories alone
        if isinstance(result, BadQuery):
            raise result
        out["emerging"] = result["table"].set_index("place")["category"].reindex(out.index).fillna("no data")
    except BadQuery as exc:
        notes["emerging"] = str(exc)
    try:
        if watch is None:
            watch = warning.watchlist(con, f.source, f.category, slice_, by=f.end)
        if isinstance(watch, BadQuery):
            raise watch
        out["early_warning"] = watch["table"].set_index("place")["flag"].reindex(out.index).fillna(warning.NO_DATA)
        notes["early_warning_for"] = watch["target"]
    except BadQuery as exc:
        notes["early_warning"] = str(exc)
    first = min(ctx.months).year if ctx.months else f.end.year
    last = f.end.year if (f.end.month, f.end.day) == (12, 31) else f.end.year - 1
    counts = yearly(con, f.source, f.category, first, last) if first <= last else pd.DataFrame(index=out.index)
    whole = [y for y in counts.columns if counts[y].notna().all()]
    out["persistence_years"] = persistence(counts[whole]).reindex(out.index) if whole else np.nan
    out["persistence_of"] = len(whole)
    out.attrs = notes | {"persistence_years": f"{whole[0]}-{whole[-1]}" if whole else "none"}
    return out.reset_index()


def ranking(con: duckdb.DuckDBPyConnection, f: Filter, slice_: str = "month", watch: dict | BadQuery | None = None,
            result: dict | BadQuery | None = None) -> pd.DataFrame:
    """The ranking-style table for the Emerging page and the briefing: level (count), rate and smoothed rate, and
    change against the 12 months before, all for the 12 months to f.end (hotspots.rank), next to the three
    components (`components`, over f's period; `watch` and `result` as there). Each column sorts on its own; there
    is no combined score."""
    from analytics import hotspots

    last12 = Filter(f.source, f.category, (pd.Timestamp(f.end.year, f.end.month, 1) - pd.DateOffset(months=11)).date(),
                    f.end)
    ranked = hotspots.rank(con, last12)
    table = ranked["table"][["area_id", "n", "rate_per_10k", "previous", "change_pct", "flag"]].set_index("area_id")
    table["smoothed_rate"] = ranked["table"].set_index("area_id")["smoothed_rate_per_10k"]
    comp = components(con, f, slice_, watch, result)
    out = comp.merge(table.reset_index(), on="area_id", how="left", validate="1:1")
    out = out.sort_values(["n", "area_id"], ascending=[False, True], ignore_index=True)
    out.attrs = comp.attrs | {"level_period": f"{last12.start}..{last12.end}",
                              "previous_period": f"{ranked['previous_start']}..{ranked['previous_end']}",
                              "missing_months": ranked["missing_months"]}
    return out
