"""Where violence concentrates: hex bins, neighborhood counts and rates, the ranking, Gi* hot spots.

Maps get aggregated bins, never raw rows (points only when few), so the payload stays
small however many incidents there are. Hex bins use Uber's H3 grid (`h3`), hot spots
esda's Getis-Ord Gi* with conditional permutation inference and a false-discovery-rate
correction, rates esda's empirical-Bayes smoother.

Nothing here counts a month without data as zero: the ranking, the neighborhood maps and
the smoothed rates refuse a period that is not fully covered (`NotCovered`), naming the months.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Collection
from datetime import timedelta

import duckdb
import h3
import libpysal
import numpy as np
import pandas as pd
import shapely
from esda import fdr
from esda.getisord import G_Local
from esda.smoothing import Empirical_Bayes

from analytics import stats
from analytics.queries import BadQuery, Context, Filter, month_starts, partial_months, unusable, validate, whole_months
from kcvt import status

MAX_POINTS = 5000
STORED_RESOLUTION = 9
GI_RESOLUTION = 8
#: H3 resolution -> the hexagon's size in words: every sentence naming a number of cells names their size too, so
#: the concentration's 7,642 small hexagons and Gi*'s 1,101 medium ones are not read as a contradiction
HEX_SIZES = {7: "large hexagons (5 km²)", 8: "medium hexagons (0.7 km²)", 9: "small hexagons (0.1 km²)"}
#: H3 resolution -> the column holding each stored cell's cell at that resolution (table h3_parents)
HEX_COLUMN = {9: "p.h3_cell", 8: "p.r8", 7: "p.r7"}
#: Gi* refuses periods with fewer placed incidents than this: with a handful of events over ~1,100 cells almost every
#: cell is empty, and the few cells near an incident look "extreme" by construction (a map of where the few
#: incidents were, not a pattern). 30 is the usual rule of thumb for a distribution to be worth testing.
MIN_GI_EVENTS = 30
#: conditional permutations per cell: the smallest two-sided p-value is 2 / (GI_PERMUTATIONS + 1) = 0.0002, small
#: enough for the false-discovery-rate threshold over ~1,100 cells to be reachable; fixed seed, same answer each run
GI_PERMUTATIONS = 9999
GI_SEED = 2014
GI_ALPHA = 0.05
#: the labels of Gi* cells the page calls hot or cold; a significant cell resting on too few incidents is TOO_FEW_SPOT
HOT_COLD = ("hot", "cold")
TOO_FEW_SPOT = "too few to tell"
#: rates (raw and smoothed) are not shown for neighborhoods with fewer residents (2010 Census): the residents are not
#: the population at risk in parks, industrial and downtown areas
MIN_POPULATION = 100
#: ranking by rate leaves out neighborhoods under this many residents (their rates are still shown): there the
#: residents are not the people at risk. Hospital Hill (378 residents, the hospital district) has about 300 reports a
#: year: so many that no smoothing pulls it down, since its rate is not chance but the wrong denominator
MIN_RANK_POPULATION = 500
#: the two floors in one sentence, the same on the ranking, the rate map's legend, the Emerging page and the briefing
POPULATION_RULE = (f"Rates are blank under {MIN_POPULATION} residents (2010 Census); neighborhoods under "
                   f"{MIN_RANK_POPULATION} residents (downtown, hospital and industrial districts, where most people "
                   "present are visitors or workers, not residents) keep their rate but are not ranked by it and do "
                   "not set the rate map's colours.")
#: a ranking whose busiest neighborhood has fewer incidents than this is labelled as one from a handful (single
#: incidents and ties decide its order; the same "too few to tell" line as the e-test's 10)
MIN_RANK_EVENTS = 10

WHERE = """i.source_id = ? AND c.category_id = ? AND i.event_date BETWEEN ? AND ?
           AND i.geo_status = 'in_city' AND (NOT ? OR i.firearm)"""


class NotCovered(BadQuery):
    """The period has months without neighborhood-level data: counting them as zero would invent a ranking."""

    def __init__(self, what: str, f: Filter, missing: dict[str, str], months: int, label: str | None = None):
        """`missing`: month -> why it has no data; `what`: the consequence ('the ranking needs ...'); `label`: the
        source's name as readers know it (`source_label`), never its id."""
        self.missing = list(missing)
        months_text = f"{months} month{'s' if months != 1 else ''}"
        super().__init__(f"no neighborhood-level data for {label or 'this source'} in {len(missing)} of the "
                         f"{months_text} of {f.start} to {f.end} ({reasons_text(missing)}); {what}")


def source_label(con: duckdb.DuckDBPyConnection, source: str) -> str:
    """The source's human label (the sources table), for messages a reader sees."""
    rows = con.execute("SELECT label FROM sources WHERE source_id = ?", [source]).fetchall()
    return rows[0][0] if rows else source


class TooFewEvents(ValueError):
    """Gi* is refused: too few placed incidents for a hot-spot test to mean anything."""


def month_text(months: list[str]) -> str:
    """['2024-07', ..., '2025-12', '2026-02'] -> '2024-07 to 2025-12, 2026-02'."""
    return ", ".join(r.replace("..", " to ") for r in status.ranges(months))


def _params(f: Filter, firearm_only: bool) -> list:
    return [f.source, f.category, f.start, f.end, firearm_only]


def points(con: duckdb.DuckDBPyConnection, f: Filter, firearm_only: bool = False) -> pd.DataFrame | None:
    """Individual incidents of the months with data, only when there are at most MAX_POINTS of them (else None).
    Incidents of months without usable data (a sample, no places) are left off every map: a sample is never a total."""
    gaps = missing_months(con, f, firearm_only)
    frame = con.execute(
        f"""SELECT i.lat, i.lon, strftime(i.event_date, '%Y-%m-%d') AS date, i.neighborhood, i.offenses
            FROM incidents i JOIN incident_categories c USING (incident_id)
            WHERE {WHERE} AND NOT list_contains(?::VARCHAR[], strftime(i.event_date, '%Y-%m'))
            LIMIT ?""",  # noqa: S608
        [*_params(f, firearm_only), gaps, MAX_POINTS + 1]).df()
    return None if len(frame) > MAX_POINTS else frame


def hex_bins(con: duckdb.DuckDBPyConnection, f: Filter, firearm_only: bool = False,
             resolution: int = STORED_RESOLUTION) -> pd.DataFrame:
    """Counts per H3 cell at resolution 9, 8 or 7, aggregated in the database.

    Whole-month ranges read the per-month hex roll-up; other ranges count incidents. Months without usable data
    (`missing_months`) are left out.
    """
    gaps = missing_months(con, f, firearm_only)
    if resolution not in HEX_COLUMN:
        raise BadQuery(f"hexagon resolution {resolution!r} is not one of {sorted(HEX_COLUMN)}")
    hex_col = HEX_COLUMN[resolution]
    if whole_months(f):
        return con.execute(
            f"""SELECT {hex_col} AS hex, sum(CASE WHEN ? THEN h.n_firearm ELSE h.n END)::INTEGER AS n
                FROM hex_month_counts h JOIN h3_parents p USING (h3_cell)
                WHERE h.source_id = ? AND h.category_id = ? AND h.month BETWEEN ? AND ?
                  AND NOT list_contains(?::VARCHAR[], strftime(h.month, '%Y-%m'))
                GROUP BY 1 HAVING n > 0 ORDER BY n DESC, hex""",  # noqa: S608
            [firearm_only, f.source, f.category, f.start, f.end, gaps]).df()
    return con.execute(
        f"""SELECT {hex_col} AS hex, count(*)::INTEGER AS n
            FROM incidents i JOIN incident_categories c USING (incident_id) JOIN h3_parents p USING (h3_cell)
            WHERE {WHERE} AND NOT list_contains(?::VARCHAR[], strftime(i.event_date, '%Y-%m'))
            GROUP BY 1 ORDER BY n DESC, hex""",  # noqa: S608
        [*_params(f, firearm_only), gaps]).df()


#: the rows a neighborhood count adds up: incidents (one each), or the monthly roll-up
NEIGHBORHOOD_ROWS = {
    "incidents": f"""SELECT i.neighborhood AS area_id, i.event_date AS day, 1 AS n FROM incidents i
                     JOIN incident_categories c USING (incident_id) WHERE {WHERE} AND i.neighborhood IS NOT NULL""",  # noqa: S608
    "area_counts": """SELECT area_id, period_start AS day, n FROM area_counts
                      WHERE source_id = ? AND measure = ? AND period_start BETWEEN ? AND ?
                        AND area_type = 'neighborhood' AND grain IN ('day', 'month')""",
}


def _counts_by_neighborhood(con: duckdb.DuckDBPyConnection, ctx: Context, firearm_only: bool,
                            periods: list[Filter]) -> pd.DataFrame:
    """Every neighborhood (area_id, name, population) with its count in each period (columns p0, p1, ...), in one
    query: the monthly roll-up for whole months, incidents for other ranges and firearm-only counts."""
    from_incidents = ctx.kind == "incidents" and (firearm_only or not all(whole_months(p) for p in periods))
    src = NEIGHBORHOOD_ROWS["incidents" if from_incidents else "area_counts"]
    sums = ", ".join(["coalesce(sum(n) FILTER (day BETWEEN ? AND ?), 0)::BIGINT"] * len(periods))
    params = [v for p in periods for v in (p.start, p.end)]
    params += [periods[0].source, periods[0].category, min(p.start for p in periods), max(p.end for p in periods)]
    params += [firearm_only] if from_incidents else []
    found = {r[0]: r[1:] for r in con.execute(f"SELECT area_id, {sums} FROM ({src}) GROUP BY area_id",  # noqa: S608
                                              params).fetchall()}
    out = ctx.neighborhoods.copy()
    if ctx.reported is not None:  # a count source's count is unknown where it reports nothing: left out, never 0
        out = out[out["area_id"].isin(ctx.reported)].reset_index(drop=True)
    none = (0,) * len(periods)
    for k in range(len(periods)):
        out[f"p{k}"] = np.array([found.get(a, none)[k] for a in out["area_id"]], dtype=np.int64)
    return out


def unreported_names(ctx: Context) -> list[str]:
    """The neighborhoods a count source does not report (their counts are no data), by name."""
    hoods = ctx.neighborhoods
    return sorted(hoods.loc[[ctx.unreported(a) for a in hoods["area_id"]], "name"])


#: months in which at least half of a source's incidents have no usable place (GVA's city-centre placeholder, or no
#: coordinates): the coverage table may call them covered, but their neighborhood counts would be false zeros
UNPLACED_MONTHS = """SELECT strftime(date_trunc('month', event_date), '%Y-%m') FROM incidents
                     WHERE source_id = ? AND event_date BETWEEN ? AND ? GROUP BY 1
                     HAVING avg(CASE WHEN geo_status IN ('placeholder', 'no_coords') THEN 1 ELSE 0 END) >= 0.5"""


def missing_reasons(con: duckdb.DuckDBPyConnection, f: Filter, firearm_only: bool = False) -> dict[str, str]:
    """Each month of the period without neighborhood-level data -> why: not covered, a sample, no coordinates, no
    firearm flag where the count needs one, or (incident sources) mostly unplaced incidents."""
    ctx = validate(con, f)
    firearm = firearm_only or ctx.needs_firearm
    found = {f"{m:%Y-%m}": why for m in month_starts(f.start, f.end)
             if (why := unusable(ctx.months.get(m), True, firearm))}
    if ctx.kind == "incidents":
        for (month,) in con.execute(UNPLACED_MONTHS, [f.source, f.start, f.end]).fetchall():
            found.setdefault(month, "most incidents have no usable location")
    return dict(sorted(found.items()))


def missing_months(con: duckdb.DuckDBPyConnection, f: Filter, firearm_only: bool = False) -> list[str]:
    """Months of the period without neighborhood-level data (see `missing_reasons`)."""
    return list(missing_reasons(con, f, firearm_only))


def reasons_text(reasons: dict[str, str]) -> str:
    """{'2020-01': 'no coordinates', '2020-02': 'no coordinates'} -> '2020-01 to 2020-02: no coordinates'."""
    by_reason: dict[str, list[str]] = {}
    for month, why in reasons.items():
        by_reason.setdefault(why, []).append(month)
    return "; ".join(f"{month_text(months)}: {why.rstrip('.')}" for why, months in by_reason.items())


def require_covered(con: duckdb.DuckDBPyConnection, f: Filter, firearm_only: bool, what: str) -> Context:
    """The filter's context, or NotCovered naming the months without neighborhood-level data."""
    ctx = validate(con, f)
    missing = missing_reasons(con, f, firearm_only)
    if missing:
        raise NotCovered(f"{what} needs every month covered, so it is not shown rather than counted as zero", f,
                         missing, len(month_starts(f.start, f.end)), source_label(con, f.source))
    return ctx


def smoothed_rates(n: pd.Series, population: pd.Series) -> tuple[np.ndarray, float | None]:
    """Empirical-Bayes rates per 10,000 (esda.smoothing.Empirical_Bayes, Marshall 1991) for the neighborhoods with at
    least MIN_POPULATION residents (NaN for the others), and the pooled rate they shrink toward (None without any).

    Each rate is pulled toward the pooled rate in proportion to how little its own count says: a small population
    with few incidents moves a lot, a large one barely. When the spread between areas is no larger than chance,
    Marshall's rule applies (every area gets the pooled rate): esda leaves that case to the caller, hence the clip.
    """
    n, population = n.to_numpy(dtype=float), population.to_numpy(dtype=float)
    ok = np.nan_to_num(population) >= MIN_POPULATION
    out = np.full(len(n), np.nan)
    if not ok.any():
        return out, None
    pooled = n[ok].sum() / population[ok].sum()
    raw = n[ok] / population[ok]
    if pooled == 0:
        out[ok] = 0.0
        return out, 0.0
    smoothed = Empirical_Bayes(n[ok], population[ok]).r.ravel()
    out[ok] = np.clip(smoothed, np.minimum(raw, pooled), np.maximum(raw, pooled)) * 10_000
    return out, pooled * 10_000


def _with_rates(table: pd.DataFrame) -> tuple[pd.DataFrame, float | None]:
    table["rate_per_10k"] = (table["n"] / table["population"] * 10_000).where(
        table["population"] >= MIN_POPULATION).round(1)
    smoothed, city = smoothed_rates(table["n"], table["population"])
    table["smoothed_rate_per_10k"] = np.round(smoothed, 1)
    return table, None if city is None else round(float(city), 1)


def neighborhood_counts(con: duckdb.DuckDBPyConnection, f: Filter, firearm_only: bool = False) -> pd.DataFrame:
    """Every neighborhood's count, rate and smoothed rate per 10,000 residents (2010 Census) for a fully covered
    period (else NotCovered). The pooled rate the smoothing shrinks toward is in `.attrs['city_rate_per_10k']`."""
    ctx = require_covered(con, f, firearm_only, "a neighborhood map")
    table, city = _with_rates(_counts_by_neighborhood(con, ctx, firearm_only, [f]).rename(columns={"p0": "n"}))
    table.attrs["city_rate_per_10k"] = city
    return table


def previous_period(f: Filter) -> Filter:
    """The period of equal length just before: whole months when the range is whole months, else days."""
    start, end = pd.Timestamp(f.start), pd.Timestamp(f.end)
    if start.day == 1 and end.is_month_end:
        months = (end.year - start.year) * 12 + end.month - start.month + 1
        prev_start = start - pd.DateOffset(months=months)
        return Filter(f.source, f.category, prev_start.date(), (start - timedelta(days=1)).date(), f.area)
    days = (f.end - f.start).days + 1
    return Filter(f.source, f.category, f.start - timedelta(days=days), f.start - timedelta(days=1), f.area)


#: what a ranking can be ordered by -> the column that orders it
RANK_BY = {"count": "n", "rate": "smoothed_rate_per_10k"}


def _ranked(table: pd.DataFrame, by: str) -> pd.DataFrame:
    """Sorted by `by`; neighborhoods with no incidents (or, ranking by rate, no rate or under MIN_RANK_POPULATION
    residents) get no rank and go last. Ties share the best rank of the tie (1, 1, 3: "min" ranking), so two
    neighborhoods with the same count are never told apart by the order they happen to be listed in."""
    key = RANK_BY[by]
    ranked = (table["n"] > 0) & table[key].notna()
    if by == "rate":
        ranked &= table["population"] >= MIN_RANK_POPULATION
    table = pd.concat([table[ranked].sort_values([key, "n", "name"], ascending=[False, False, True]),
                       table[~ranked].sort_values(["n", "name"], ascending=[False, True])], ignore_index=True)
    order = table[key].where(table.index < int(ranked.sum())).rank(method="min", ascending=False)
    table.insert(0, "rank", pd.array([None if r != r else int(r) for r in order], dtype="Int64"))
    return table


def rank(con: duckdb.DuckDBPyConnection, f: Filter, firearm_only: bool = False, by: str = "count") -> dict:
    """All neighborhoods for a fully covered period (else NotCovered): count, rate, smoothed rate, change against the
    previous equal period, and whether that change is larger than chance (Poisson e-test; 'too few to tell' for
    small counts). The percent change is None under MIN_RANK_EVENTS before (including 0). Without data for every
    month of the previous period, the previous count and change are None."""
    if by not in RANK_BY:
        raise BadQuery(f"rank by {by!r} is not one of {sorted(RANK_BY)}")
    ctx = require_covered(con, f, firearm_only, "the ranking")
    prev = previous_period(f)
    missing = {"period": [], "previous": missing_months(con, prev, firearm_only)}
    table, city = _with_rates(_counts_by_neighborhood(con, ctx, firearm_only, [f, prev]).rename(
        columns={"p0": "n", "p1": "previous"}))
    table = table[["area_id", "name", "population", "n", "rate_per_10k", "smoothed_rate_per_10k", "previous"]]
    total = int(table["n"].sum())
    table["share_of_city_pct"] = (100 * table["n"] / total).round(2) if total else 0.0
    partial, partial_before = (partial_months(con, f.source, p.start, p.end) for p in (f, prev))
    if missing["previous"]:
        table["previous"] = np.nan
        table["change"], table["change_pct"], table["p_value"], table["flag"] = np.nan, np.nan, np.nan, "no data"
    else:
        changes = [stats.poisson_change(int(p), int(n)) for p, n in zip(table["previous"], table["n"], strict=True)]
        table["change"] = table["n"] - table["previous"]
        # a percent change from a small base is noise (4 to 11: +175%): blank, on the page and in the download alike
        table["change_pct"] = [np.nan if c.pct is None or c.before < MIN_RANK_EVENTS else round(c.pct, 1)
                               for c in changes]
        table["p_value"] = [np.nan if c.p_value is None else round(c.p_value, 4) for c in changes]
        table["flag"] = [c.verdict for c in changes]
        table["flag"] = corrected_flags(table["flag"], table["p_value"])
        if partial or partial_before:  # an undercounted stretch in either period: a change there is the data's
            table["p_value"] = np.nan
            table["flag"] = np.where(table["flag"].eq("too few to tell"), "too few to tell", "partly covered")
    table = _ranked(table, by)
    return {"source": f.source, "category": f.category, "start": str(f.start), "end": str(f.end), "by": by,
            "previous_start": str(prev.start), "previous_end": str(prev.end), "missing_months": missing,
            "partial_months": partial, "partial_months_previous": partial_before, "total": total, "city_rate_per_10k": city,
            "unreported": unreported_names(ctx),
            "few_incidents": int(table["n"].max() if len(table) else 0) < MIN_RANK_EVENTS,
            "min_rank_population": MIN_RANK_POPULATION,
            "top10_share_pct": round(100 * float(table["n"].nlargest(10).sum()) / total, 1) if total else None, "table": table}


#: the false-discovery rate the ranking's change flags are held to: with some 200 neighborhoods tested at once, about
#: ten would pass p < 0.05 by chance alone
RANK_FDR = 0.05


def corrected_flags(flags: pd.Series, p_values: pd.Series) -> pd.Series:
    """The e-test flags with 'up' or 'down' kept only where Benjamini-Hochberg at RANK_FDR over every neighborhood
    tested (those with a p-value) rejects no change; the others read 'no clear change'. The p-values stay as tested."""
    tested = p_values.notna()
    if not tested.any():
        return flags
    keep = tested & (p_values <= fdr(p_values[tested].to_numpy(), RANK_FDR))  # esda's Benjamini-Hochberg cut, as Gi*
    return flags.where(keep | ~flags.isin(["up", "down"]), "no clear change")


def city_cells(con: duckdb.DuckDBPyConnection, resolution: int) -> list[str]:
    """Every H3 cell whose centre lies in the city (the denominator for concentration and the Gi* grid)."""
    wkt = con.execute("SELECT geometry_wkt FROM areas WHERE area_type = 'city'").fetchall()[0][0]
    return sorted(h3.geo_to_cells(shapely.from_wkt(wkt).__geo_interface__, resolution))


def concentration(con: duckdb.DuckDBPyConnection, f: Filter, firearm_only: bool = False,
                  resolution: int = STORED_RESOLUTION) -> dict:
    """Share of all placed incidents in the busiest 5% of the city's hex cells. Incidents without coordinates
    (18-24% of KCPD's 2019-2021 rows) are not placed, so not counted. With fewer incidents than cells the share is
    refused (None, with the reason): the busiest 5% then hold nearly every incident whatever the pattern (66 GVA
    shootings fill 66 of 383 "busiest" cells: 100%), the bias Bernasco & Steenbeek (2017) describe."""
    return concentration_of(hex_bins(con, f, firearm_only, resolution)["n"], len(city_cells(con, resolution)),
                            resolution)


def concentration_of(counts: pd.Series, cells: int, resolution: int = STORED_RESOLUTION) -> dict:
    """`concentration` for incidents per occupied cell (any order) among `cells` cells (of `resolution`) in all."""
    top, total = math.ceil(0.05 * cells), int(counts.sum())
    out = {"cells": cells, "top_cells": top, "incidents": total, "share_in_top_5pct": None,
           "cell_size": HEX_SIZES[resolution]}
    if total < cells:
        return out | {"refused": f"too few incidents to measure concentration: {total:,} placed incident"
                                 f"{'s' if total != 1 else ''} for the {cells:,} {HEX_SIZES[resolution]} covering "
                                 "the city (it needs at least one per hexagon, or the busiest 5% of hexagons hold "
                                 "nearly all of them whatever the pattern)"}
    busiest = counts.sort_values(ascending=False).head(top).sum()
    return out | {"share_in_top_5pct": round(100 * float(busiest / total), 1)}


def gi_star(con: duckdb.DuckDBPyConnection, f: Filter, firearm_only: bool = False, alpha: float = GI_ALPHA,
            resolution: int = GI_RESOLUTION) -> pd.DataFrame:
    """Getis-Ord Gi* hot and cold spots on the city's H3 grid for the filter's months with data (see `gi_star_counts`);
    NotCovered when no month has data, TooFewEvents below MIN_GI_EVENTS placed incidents."""
    gaps = missing_reasons(con, f, firearm_only)
    if len(gaps) == len(month_starts(f.start, f.end)):
        raise NotCovered("the hot-spot test has no incidents to test", f, gaps, len(gaps), source_label(con, f.source))
    counts = hex_bins(con, f, firearm_only, resolution).set_index("hex")["n"]
    cells = sorted(set(city_cells(con, resolution)) | set(counts.index))  # edge cells holding incidents too
    return gi_star_counts(counts, cells, alpha, where=" in the months with data" if gaps else " in this period")


def gi_star_counts(counts: pd.Series, cells: list[str], alpha: float = GI_ALPHA, min_events: int = MIN_GI_EVENTS,
                   permutations: int = GI_PERMUTATIONS, seed: int = GI_SEED, where: str = "") -> pd.DataFrame:
    """Gi* (esda's G_Local, star, binary weights: the cell and its six neighbours) over `cells` with the counts given
    (hex -> n; absent cells are 0).

    z is Gi*'s analytical z-score (a measure of size); significance comes from conditional permutation (the cell's
    own count fixed, its neighbours drawn from the other cells, `permutations` times, seeded), two-sided and
    tie-aware (twice the smaller tail; a cell as ordinary as most of its draws gets p near 1), then the
    Benjamini-Hochberg false-discovery-rate threshold at `alpha` (esda.fdr). A cell with no incidents is never a hot
    spot. Small counts: a significant cell is hot only with at least MIN_RANK_EVENTS incidents in it and its
    neighbours, cold only where the city's average would put at least that many there (the ranking's and the
    Emerging page's 'too few to tell' line); otherwise it is TOO_FEW_SPOT. Cells without a neighbour on the grid
    (islands) are left out.
    """
    grid = set(cells)
    neighbours = {c: [n for n in h3.grid_disk(c, 1) if n != c and n in grid] for c in cells}
    neighbours = {c: n for c, n in neighbours.items() if n}
    w = libpysal.weights.W(neighbours, silence_warnings=True)
    y = counts.reindex(w.id_order).fillna(0).to_numpy(dtype=float)
    events = int(y.sum())
    if events < min_events:
        raise TooFewEvents(f"Hot-spot test not run: {events} placed incident{'s' if events != 1 else ''}{where}, fewer than "
                           f"{min_events}. With so few, any cell near an incident looks extreme; choose a longer "
                           "period or a broader category.")
    with warnings.catch_warnings():  # esda warns that its default one-sided p will change; we compute our own
        warnings.simplefilter("ignore", DeprecationWarning)
        g = G_Local(y, w, transform="B", star=True, permutations=permutations, seed=seed, n_jobs=1,
                    keep_simulations=True)
    observed = g.Gs[:, None]
    tail = np.minimum((g.rGs >= observed).sum(axis=1), (g.rGs <= observed).sum(axis=1))
    p = np.minimum(1.0, 2 * (tail + 1) / (permutations + 1))
    significant = p <= fdr(p, alpha)
    local = y + w.sparse @ y  # what Gi* weighs: the cell and its neighbours (binary weights)
    expected = (1 + np.asarray(w.sparse.sum(axis=1)).ravel()) * y.mean()  # the same cells at the city's average
    out = pd.DataFrame({"hex": w.id_order, "n": y.astype(int), "n_local": local.astype(int), "z": g.Zs, "p": p})
    hot = significant & (out["z"] > 0) & (out["n"] > 0)
    cold = significant & (out["z"] < 0)
    out["spot"] = np.select([hot & (local >= MIN_RANK_EVENTS), cold & (expected >= MIN_RANK_EVENTS), hot | cold],
                            ["hot", "cold", TOO_FEW_SPOT], "not significant")
    return out.sort_values("z", ascending=False, ignore_index=True)


def cell_neighborhoods(con: duckdb.DuckDBPyConnection, hexes: list[str]) -> dict[str, str]:
    """Each H3 cell -> the neighborhood holding its centre (cells whose centre is in none are left out)."""
    rows = con.execute("SELECT name, geometry_wkt FROM areas WHERE area_type = 'neighborhood' ORDER BY area_id").fetchall()
    tree = shapely.STRtree([shapely.from_wkt(w) for _, w in rows])
    centres = [h3.cell_to_latlng(h) for h in hexes]
    pts = shapely.points([c[1] for c in centres], [c[0] for c in centres])
    found = {}
    for i, j in zip(*tree.query(pts, predicate="intersects"), strict=True):
        found.setdefault(hexes[i], rows[j][0])
    return found


def city_bounds(con: duckdb.DuckDBPyConnection) -> tuple[float, float, float, float]:
    """The city's bounding box (minx, miny, maxx, maxy), Northland included: the maps' first view."""
    wkt = con.execute("SELECT geometry_wkt FROM areas WHERE area_type = 'city'").fetchall()[0][0]
    return tuple(float(b) for b in shapely.from_wkt(wkt).bounds)


def with_centres(bins: pd.DataFrame) -> pd.DataFrame:
    """Add each hex's centre (for heat maps and CSV downloads)."""
    centres = [h3.cell_to_latlng(h) for h in bins["hex"]]
    return bins.assign(lat=[c[0] for c in centres], lon=[c[1] for c in centres])


def choropleth_geojson(con: duckdb.DuckDBPyConnection, counts: pd.DataFrame, drawn: Collection[str] = ()) -> dict:
    """Neighborhood polygons (simplified, about 10 m) with their count, rate and smoothed rate as properties. A
    neighborhood in `drawn` (area ids whose shapes the caller has already) comes without its geometry: parsing and
    simplifying every polygon took 0.17 s of each new filter on the Hotspots page."""
    rows = con.execute("SELECT area_id, name, population, geometry_wkt FROM areas WHERE area_type = 'neighborhood'"
                       ).fetchall()
    props = counts.set_index("area_id")

    def num(value):
        return None if value is None or pd.isna(value) else float(value)

    features = []
    for area_id, name, population, wkt in rows:
        if area_id not in props.index:  # a count source that does not report it: no data, drawn as such
            properties = {"area_id": area_id, "name": name, "n": None, "rate": None, "smoothed_rate": None,
                          "population": num(population)}
        else:
            p = props.loc[area_id]
            smoothed = num(p["smoothed_rate_per_10k"]) if "smoothed_rate_per_10k" in p else None
            properties = {"area_id": area_id, "name": p["name"], "n": int(p["n"]), "rate": num(p["rate_per_10k"]),
                          "smoothed_rate": smoothed, "population": num(p["population"])}
        feature = {"type": "Feature", "properties": properties}
        if area_id not in drawn:
            feature["geometry"] = shapely.geometry.mapping(shapely.from_wkt(wkt).simplify(0.0001))
        features.append(feature)
    return {"type": "FeatureCollection", "features": features}
