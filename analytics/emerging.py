"""Emerging hot spots: Esri's Emerging Hot Spot Analysis on neighborhoods or H3 cells.

Getis-Ord Gi* is computed for every time slice (month or quarter) with esda, each place's series of Gi* z-scores
gets a Mann-Kendall trend test (`mann_kendall`: pymannkendall's `original_test`, all places at once), and every
place falls in exactly one of Esri's categories (new, consecutive, intensifying, persistent, diminishing, sporadic,
oscillating, historical hot or cold spot, or no pattern). Esri's definitions: https://pro.arcgis.com/en/pro-app/latest/tool-reference/space-time-pattern-mining/
learnmoreemerging.htm. The thresholds are the constants below and README's "Emerging hot spots".

Gi* z-scores do not change when every count of a slice is scaled alike, so a citywide undercount (KCPD 2019-2021
lost 18-24% of rows without coordinates) moves no z-score; an undercount uneven across places does.
"""

from __future__ import annotations

import os
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date

import duckdb
import h3
import libpysal
import numpy as np
import pandas as pd
import shapely
from esda import fdr
from esda.getisord import G_Local
from scipy.stats import norm

from analytics import queries
from analytics.queries import BadQuery, Filter

#: slice -> months in it
SLICES = {"month": 1, "quarter": 3}
UNITS = ("neighborhood", "hex")
HEX_RESOLUTION = 8  # about 0.7 km², as the Hotspots page's Gi*
#: a slice with fewer placed events is too sparse for Gi*: most places would hold 0 and the normal approximation of
#: the z-score fails; the analysis is refused, naming the slices, rather than run on noise
MIN_EVENTS_PER_SLICE = 30
#: Esri asks for at least 10 time slices before a trend means anything
MIN_SLICES = 10
#: a slice's Gi* is significant at 90% confidence after a Benjamini-Hochberg false-discovery-rate correction over the
#: places of that slice (Esri's lowest significant bin level, with its FDR option)
GI_ALPHA = 0.10
#: the Mann-Kendall trend of a place's z-scores counts at 95% confidence (two-sided)
TREND_ALPHA = 0.05
#: "persistent", "intensifying", "diminishing" and "historical" need a significant spot in at least 90% of slices
SHARE = 0.90
#: the fewest events behind a category, over the whole period (the Hotspots ranking's "too few to tell" line): a hot
#: spot needs this many in the place itself, a cold spot this many expected in the place and its neighbours at the
#: city's average (an empty place among empty ones, where nothing was expected anyway, tells nothing). Below it the
#: place's category is TOO_FEW: with sparse counts (GVA on hexagons) one or two incidents made most "hot spots"
MIN_PLACE_EVENTS = 10

#: what the page's inference choice says: the two can give different categories, and why the default is the default
INFERENCE_HELP = (
    "The two choices can give different categories: on KCPD crimes against persons by neighborhood and month, the "
    "normal approximation finds 23 hot and 0 cold spot places, 999 permutations 5 hot and 19 cold. The normal "
    "approximation is the default: it is Esri's, and it computes 240 neighborhoods x 138 months within the 5-second "
    "target (999 permutations took about 8 s, over it). Permutations make no assumption about the counts' distribution, so they "
    "suit sparse or skewed counts better; their smallest p-value is 2 / (permutations + 1), so with 99 few places "
    "pass the false-discovery-rate correction.")
_PATTERNS = ("new", "consecutive", "intensifying", "persistent", "diminishing", "sporadic", "oscillating",
             "historical")
#: each category's map colour, in _PATTERNS' order: any two categories (and "no pattern") at least 15 apart in CIE76
#: colour difference (a blind review could not tell pale "sporadic" from "no pattern"; new and sporadic cold spots
#: were 7 apart); tests/test_emerging_page.py measures it
HOT_COLOURS = ["#fee08b", "#fdae61", "#d73027", "#a50026", "#f46d43", "#f781bf", "#c51b7d", "#8c6d31"]
COLD_COLOURS = ["#b3e2f5", "#7fb8da", "#08519c", "#08306b", "#4292c6", "#9e9ac8", "#6a51a3", "#35978f"]
NO_PATTERN = "no pattern"
TOO_FEW = "too few to tell"
#: the trend of a place whose category does not depend on it, when only categories were asked for
NOT_TESTED = "not tested"
#: every category, in legend order, with its colour (hex) for maps and the briefing
CATEGORIES: dict[str, str] = {
    **{f"{p} hot spot": c for p, c in zip(_PATTERNS, HOT_COLOURS, strict=True)},
    **{f"{p} cold spot": c for p, c in zip(_PATTERNS, COLD_COLOURS, strict=True)},
    NO_PATTERN: "#e0e0e0",
    TOO_FEW: "#ffffff",
}
#: the categories that say a place is heating up (the backtest's "emerging" signal)
EMERGING = ("new hot spot", "consecutive hot spot", "intensifying hot spot")


class TooSparse(BadQuery):
    """Slices too sparse (or too few) for Gi*: refused with the reason, never computed on noise."""


def _final_run(flags: np.ndarray) -> int:
    """Length of the run of True at the end of `flags`."""
    rev = flags[::-1]
    return int(np.argmin(rev)) if not rev.all() else len(rev)


def _ending(kind: str, mine: np.ndarray, other: np.ndarray, tau_toward: float, trending: bool,
            share: float) -> str:
    """The category of a place that is a `kind` spot in the final slice. `tau_toward` is the trend's Kendall tau
    signed so that positive means more intense (hotter for hot spots, colder for cold spots)."""
    if mine.mean() >= share:
        if trending and tau_toward > 0:
            return f"intensifying {kind} spot"
        if trending and tau_toward < 0:
            return f"diminishing {kind} spot"
        return f"persistent {kind} spot"
    if other.any():  # a history of the opposite spot comes first: cold-then-hot is oscillating, not new
        return f"oscillating {kind} spot"
    run = _final_run(mine)
    if not mine[: len(mine) - run].any():
        return f"new {kind} spot" if run == 1 else f"consecutive {kind} spot"
    return f"sporadic {kind} spot"


def classify(z: np.ndarray, sig: np.ndarray, tau: float, p_trend: float, trend_alpha: float = TREND_ALPHA,
             share: float = SHARE) -> str:
    """Esri's category of one place from its Gi* z-scores, which slices are significant, and the Mann-Kendall tau
    and p of the z-scores. Every place gets exactly one category."""
    hot, cold = sig & (z > 0), sig & (z < 0)
    trending = bool(p_trend < trend_alpha)  # a NaN p (constant series) is no trend
    if hot[-1]:
        return _ending("hot", hot, cold, tau, trending, share)
    if cold[-1]:
        return _ending("cold", cold, hot, -tau, trending, share)
    if hot.mean() >= share:
        return "historical hot spot"
    if cold.mean() >= share:
        return "historical cold spot"
    return NO_PATTERN


@dataclass(frozen=True)
class Analysis:
    """Gi* per place and slice (z, p, significance) and each place's trend and category (`table`, by place)."""

    z: np.ndarray  # places x slices
    p: np.ndarray
    sig: np.ndarray
    table: pd.DataFrame  # category, tau, trend_p, trend, hot_slices, cold_slices, last_significant (slice index or -1)


def gi_per_slice(counts: np.ndarray, w: libpysal.weights.W, permutations: int = 0,
                 seed: int = 12345) -> tuple[np.ndarray, np.ndarray]:
    """Gi* z-scores and two-sided p-values for every column (slice) of `counts` (rows in w.id_order): binary
    weights, the place itself included (star). p is from the normal approximation, or with `permutations` from
    esda's conditional permutations (its folded one-sided p_sim, doubled). The normal approximation computes every
    slice at once with esda's own formula (`G_Local.calc`; a test holds it to esda slice by slice): esda, one slice
    at a time, rebuilt the weights' sparse matrix for each (0.2 s of a new period's 126 months)."""
    z = np.zeros(counts.shape)
    p = np.ones(counts.shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        w = libpysal.weights.fill_diagonal(w, 1)  # the place itself, once: esda would rebuild w for every slice
    if not permutations:
        return _gi_normal(counts, w)
    for t in range(counts.shape[1]):
        y = counts[:, t].astype(float)
        if y.sum() == 0 or np.ptp(y) == 0:
            continue  # nothing to cluster: z 0, p 1
        with warnings.catch_warnings():  # esda rebuilds w with the diagonal: libpysal repeats its graph warnings
            warnings.simplefilter("ignore", UserWarning)
            g = G_Local(y, w, transform="B", star=True, permutations=permutations, n_jobs=1, seed=seed,
                        keep_simulations=False)
        z[:, t] = np.nan_to_num(g.Zs)
        p[:, t] = np.minimum(1.0, 2 * g.p_sim) if permutations else 2 * norm.sf(np.abs(z[:, t]))
    return z, p


def _gi_normal(counts: np.ndarray, w: libpysal.weights.W) -> tuple[np.ndarray, np.ndarray]:
    """gi_per_slice's normal approximation for all slices at once: esda's G_Local.calc (star, binary weights with the
    diagonal `w` has) on each column, in the same order of operations."""
    w.transform = "B"
    a = w.sparse
    y = counts.astype(float)
    n = w.n
    cardinality = np.asarray(a.sum(axis=1)).reshape(-1, 1)
    expected_value = cardinality / n
    base_variance = cardinality * (n - cardinality) / (n - 1) * (1 / n**2)
    z, p = np.zeros(y.shape), np.ones(y.shape)
    cols = (y.sum(axis=0) != 0) & (np.ptp(y, axis=0) != 0)  # nothing to cluster elsewhere: z 0, p 1
    if cols.any():
        yc = y[:, cols]
        total = yc.sum(axis=0)
        mean = total / n
        variance = (yc**2).sum(axis=0) / n - mean**2
        with np.errstate(divide="ignore", invalid="ignore"):
            zc = ((a @ yc) / total - expected_value) / np.sqrt(base_variance * (variance / mean**2))
        z[:, cols] = np.nan_to_num(zc)
        p[:, cols] = 2 * norm.sf(np.abs(z[:, cols]))
    return z, p


def mann_kendall(series: np.ndarray, alpha: float = TREND_ALPHA) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mann-Kendall's trend test on every row of a places x slices matrix at once: Kendall's tau, the two-sided
    p-value and the trend ("increasing", "decreasing" or "no trend" at `alpha`). The same statistic, tie-corrected
    variance, continuity correction and p-value as pymannkendall's `original_test` (Mann 1945, Kendall 1975, Gilbert
    1987), which the tests hold it to place by place; that function also computes Sen's slope, which nothing here
    reads, and loops in Python, 3.7 ms a place: 0.9 s of the 1.0 s of a 240-neighborhood analysis of a new period."""
    x = np.asarray(series, dtype=float)
    if x.ndim != 2 or not np.isfinite(x).all():
        raise ValueError("mann_kendall needs a 2-D matrix of finite values")
    m, n = x.shape
    s = np.zeros(m)
    for k in range(n - 1):  # sign of every later value against the k-th, all rows at once
        s += np.sign(x[:, k + 1:] - x[:, k:k + 1]).sum(axis=1)
    ties = np.zeros(m)
    for i, row in enumerate(x):
        t = np.unique(row, return_counts=True)[1].astype(float)
        ties[i] = np.sum(t * (t - 1) * (2 * t + 5))
    var_s = (n * (n - 1) * (2 * n + 5) - ties) / 18
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(s > 0, (s - 1) / np.sqrt(var_s), np.where(s < 0, (s + 1) / np.sqrt(var_s), 0.0))
    p = 2 * (1 - norm.cdf(np.abs(z)))
    h = np.abs(z) > norm.ppf(1 - alpha / 2)
    trend = np.where(h & (z > 0), "increasing", np.where(h & (z < 0), "decreasing", "no trend"))
    return s / (0.5 * n * (n - 1)), p, trend


def analyse(counts: np.ndarray, w: libpysal.weights.W, permutations: int = 0, gi_alpha: float = GI_ALPHA,
            trend_alpha: float = TREND_ALPHA, share: float = SHARE, seed: int = 12345,
            every_trend: bool = True) -> Analysis:
    """Emerging hot spots on a places x slices count matrix whose rows follow w.id_order (pure: no database). A
    slice with no event in a place is never its hot spot, and a category resting on fewer than MIN_PLACE_EVENTS
    events reads TOO_FEW: Gi* of a place is mostly its neighbours, so a sparse grid would otherwise call empty cells
    next to one busy cell "new hot spots". `every_trend=False` (a caller that reads only the categories, as the
    Hotspots ranking does) tests the trend only where the category depends on it, the places significant in the
    last slice; the others' tau, p and trend are null ("not tested"). Same categories, a fraction of the tests."""
    if counts.shape[1] < MIN_SLICES:
        raise TooSparse(f"{counts.shape[1]} time slices: a trend needs at least {MIN_SLICES}")
    z, p = gi_per_slice(counts, w, permutations, seed)
    sig = np.zeros(z.shape, dtype=bool)
    for t in range(z.shape[1]):
        sig[:, t] = p[:, t] <= fdr(p[:, t], gi_alpha)
    sig &= (z < 0) | (counts > 0)  # a place with no event in a slice is never that slice's hot spot
    events = counts.sum(axis=1)
    k = np.array([w.cardinalities[i] + 1 for i in w.id_order], dtype=float)  # the place and its neighbours
    expected_near = k * counts.mean(axis=0).sum()
    # classify reads the trend only of a place significant in the last slice
    tested = np.ones(z.shape[0], dtype=bool) if every_trend else sig[:, -1]
    taus, trend_ps = np.full(z.shape[0], np.nan), np.full(z.shape[0], np.nan)
    trends = np.full(z.shape[0], NOT_TESTED, dtype=object)
    if tested.any():
        taus[tested], trend_ps[tested], trends[tested] = mann_kendall(z[tested], trend_alpha)
    rows = []
    for i in range(z.shape[0]):
        tau, tp, trend = float(taus[i]), float(trend_ps[i]), str(trends[i])
        hot, cold = sig[i] & (z[i] > 0), sig[i] & (z[i] < 0)
        either = np.flatnonzero(sig[i])
        category = classify(z[i], sig[i], tau, tp, trend_alpha, share)
        if ("hot spot" in category and events[i] < MIN_PLACE_EVENTS) or (
                "cold spot" in category and expected_near[i] < MIN_PLACE_EVENTS):
            category = TOO_FEW
        rows.append({"category": category, "tau": tau, "trend_p": tp,
                     "trend": trend, "hot_slices": int(hot.sum()), "cold_slices": int(cold.sum()),
                     "last_significant": int(either[-1]) if len(either) else -1})
    return Analysis(z, p, sig, pd.DataFrame(rows, index=list(w.id_order)))


def slice_starts(start: date, end: date, slice_: str) -> list[date]:
    """The first days of the whole slices inside [start, end]: a slice that starts before `start` or ends after
    `end` is left out, so every slice counts its full length."""
    step = SLICES[slice_]
    months = queries.month_starts(start, end)
    out = []
    for m in months:
        if (m.month - 1) % step == 0 and m >= start:
            last = months.index(m) + step - 1
            if last < len(months) and (last < len(months) - 1 or _month_end(months[last]) <= end):
                out.append(m)
    return out


def _month_end(m: date) -> date:
    return (pd.Timestamp(m) + pd.offsets.MonthEnd(0)).date()


def slice_end(first: date, slice_: str) -> date:
    """The last day of the slice starting on `first`."""
    return _month_end(date(first.year, first.month + SLICES[slice_] - 1, 1))


def label(d: date, slice_: str) -> str:
    """A slice's name: '2025-03' or '2025 Q1'."""
    return f"{d:%Y-%m}" if slice_ == "month" else f"{d.year} Q{(d.month - 1) // 3 + 1}"


def slice_status(ctx: queries.Context, first: date, slice_: str) -> str | None:
    """'ok', 'partial' (some month partial), or None when some month of the slice has no usable data."""
    months = [date(first.year, first.month + k, 1) for k in range(SLICES[slice_])]
    covs = [ctx.months.get(m) for m in months]
    if any(queries.unusable(c, True, ctx.needs_firearm) for c in covs):
        return None
    return "partial" if any(c.status == "partial" for c in covs) else "ok"


SLICE_TOTALS = """SELECT date_trunc(?, period_start)::DATE AS slice, sum(n) AS n FROM area_counts
                  WHERE source_id = ? AND measure = ? AND area_type = 'neighborhood' AND grain IN ('day', 'month')
                  GROUP BY 1"""


def usable_runs(con: duckdb.DuckDBPyConnection, source: str, category: str, slice_: str,
                dense: bool = False) -> list[tuple[date, date]]:
    """The runs of consecutive slices with usable place-level data (first day, last day), oldest first; `dense`
    also asks for at least MIN_EVENTS_PER_SLICE events placed in neighborhoods in each slice."""
    ctx = queries.validate(con, Filter(source, category, date(2000, 1, 1), date(2000, 1, 1)))
    if not ctx.months:
        return []
    totals = dict(con.execute(SLICE_TOTALS, [slice_, source, category]).fetchall()) if dense else {}
    firsts = slice_starts(min(ctx.months), _month_end(max(ctx.months)), slice_)
    runs: list[list[date]] = []
    for first in firsts:
        if slice_status(ctx, first, slice_) is None or (dense and totals.get(first, 0) < MIN_EVENTS_PER_SLICE):
            continue
        if runs and pd.Timestamp(runs[-1][1]) + pd.DateOffset(months=SLICES[slice_]) == pd.Timestamp(first):
            runs[-1][1] = first
        else:
            runs.append([first, first])
    return [(a, slice_end(b, slice_)) for a, b in runs]


def default_range(con: duckdb.DuckDBPyConnection, source: str, category: str, slice_: str) -> tuple[date, date]:
    """The longest run of usable slices dense enough for Gi* (the latest of equal runs), else the longest usable
    run (which `cube` will refuse, saying why): the default period of the page and the CLI."""
    if slice_ not in SLICES:
        raise BadQuery(f"slice {slice_!r} is not one of: {', '.join(SLICES)}")
    runs = usable_runs(con, source, category, slice_, dense=True) or usable_runs(con, source, category, slice_)
    if not runs:
        raise TooSparse(f"source {source!r} has no place-level data for {category!r}")
    return max(runs, key=lambda r: (r[1] - r[0], r[1]))


def default_slice(con: duckdb.DuckDBPyConnection, source: str, category: str) -> tuple[str, str | None]:
    """The slice a page opens with, and the one line saying why when it is not months: months unless no run of
    MIN_SLICES months is dense enough for Gi* while a run of quarters is (GVA shootings: every month holds fewer
    than 30 placed shootings, so a month default would refuse the whole page for a choice the user never made)."""
    def dense_run(slice_: str) -> bool:
        return any(len(slice_starts(a, b, slice_)) >= MIN_SLICES
                   for a, b in usable_runs(con, source, category, slice_, dense=True))

    if dense_run("month") or not dense_run("quarter"):
        return "month", None
    return "quarter", (f"Quarters, not months: no run of {MIN_SLICES} months has at least {MIN_EVENTS_PER_SLICE} "
                       "placed events in each month, too few for Gi*; quarters have enough. Months stay one click "
                       "away in the sidebar.")


AREA_COUNTS = """SELECT area_id AS place, date_trunc(?, period_start)::DATE AS slice, sum(n) AS n FROM area_counts
                 WHERE source_id = ? AND measure = ? AND area_type = 'neighborhood' AND grain IN ('day', 'month')
                   AND period_start BETWEEN ? AND ? GROUP BY ALL"""
HEX_COUNTS = """SELECT p.r8 AS place, date_trunc(?, h.month)::DATE AS slice, sum(h.n) AS n
                FROM hex_month_counts h JOIN h3_parents p USING (h3_cell)
                WHERE h.source_id = ? AND h.category_id = ? AND h.month BETWEEN ? AND ? GROUP BY ALL"""
#: the neighborhoods a count source publishes (kcpd_nbhd: 240; the 6 unnamed polygons are no data, not 0)
PUBLISHED = "SELECT DISTINCT area_id FROM area_counts WHERE source_id = ? AND area_type = 'neighborhood'"
POLYGONS = "SELECT area_id, geometry_wkt FROM areas WHERE area_type = 'neighborhood' ORDER BY area_id"
CITY = "SELECT geometry_wkt FROM areas WHERE area_type = 'city'"


_WEIGHTS: OrderedDict[tuple, libpysal.weights.W] = OrderedDict()


def _version(con: duckdb.DuckDBPyConnection) -> tuple | None:
    """The database file's version for a read-only connection (None otherwise: its polygons may change)."""
    path, readonly = con.execute(
        "SELECT path, readonly FROM duckdb_databases() WHERE database_name = current_database()").fetchall()[0]
    if not (readonly and path):
        return None
    try:
        info = os.stat(path)
    except OSError:
        return None
    return path, info.st_ino, info.st_mtime_ns


def neighborhood_weights(con: duckdb.DuckDBPyConnection, places: list[str]) -> libpysal.weights.W:
    """Contiguity among `places` from the `areas` polygons (see `_contiguity`), kept per database version."""
    version = _version(con)
    key = (version, tuple(sorted(places)))
    if version and key in _WEIGHTS:
        return _WEIGHTS[key]
    w = _contiguity(con, places)
    if version:
        _WEIGHTS[key] = w
        while len(_WEIGHTS) > 8:
            _WEIGHTS.popitem(last=False)
    return w


def _contiguity(con: duckdb.DuckDBPyConnection, places: list[str]) -> libpysal.weights.W:
    """Polygons that touch or overlap are neighbours: libpysal's fuzzy contiguity (its `fuzzy_contiguity` with the
    'intersects' predicate, done here with shapely's tree to spare geopandas). Strict queen contiguity needs a
    shared vertex and misses one touching pair here (The Coves and Park Plaza) whose borders were digitised apart."""
    wanted = set(places)
    rows = [(a, shapely.from_wkt(wkt)) for a, wkt in con.execute(POLYGONS).fetchall() if a in wanted]
    ids, geoms = [a for a, _ in rows], [g for _, g in rows]
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    neighbours = {a: [] for a in ids}
    for i, j in zip(left, right, strict=True):
        if i != j:
            neighbours[ids[i]].append(ids[j])
    with warnings.catch_warnings():  # "not fully connected": Gi* needs no connected graph, only neighbours
        warnings.simplefilter("ignore", UserWarning)
        return libpysal.weights.W({a: sorted(n) for a, n in neighbours.items() if n}, silence_warnings=True)


def city_cells(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Every H3 cell (resolution 8) whose centre is in the city: the grid, cells without incidents included."""
    wkt = con.execute(CITY).fetchall()[0][0]
    return sorted(h3.geo_to_cells(shapely.from_wkt(wkt).__geo_interface__, HEX_RESOLUTION))


def hex_weights(cells: list[str]) -> libpysal.weights.W:
    """Each cell's neighbours: the six adjacent cells of the grid (H3 grid disk of radius 1), islands left out."""
    grid = set(cells)
    neighbours = {c: [n for n in h3.grid_disk(c, 1) if n != c and n in grid] for c in sorted(grid)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return libpysal.weights.W({c: n for c, n in neighbours.items() if n}, silence_warnings=True)


@dataclass(frozen=True)
class Cube:
    """Counts per place (rows, in w.id_order) and slice (columns), with the slices' names and status."""

    counts: np.ndarray
    w: libpysal.weights.W
    slices: list[date]
    labels: list[str]
    partial: list[str]  # slices with a partial month (undercounts)
    left_out: list[str]  # places without data or neighbours


def cube(con: duckdb.DuckDBPyConnection, f: Filter, slice_: str, unit: str) -> Cube:
    """The count cube for a filter, refusing (TooSparse / BadQuery, with the reason) slices without data, fewer than
    MIN_SLICES slices or a slice with fewer than MIN_EVENTS_PER_SLICE placed events."""
    if slice_ not in SLICES:
        raise BadQuery(f"slice {slice_!r} is not one of: {', '.join(SLICES)}")
    if unit not in UNITS:
        raise BadQuery(f"unit {unit!r} is not one of: {', '.join(UNITS)}")
    ctx = queries.validate(con, f)
    if unit == "hex" and ctx.kind != "incidents":
        raise BadQuery(f"hexagons need incident points; source {f.source!r} has neighborhood counts only")
    firsts = slice_starts(f.start, f.end, slice_)
    labels = [label(s, slice_) for s in firsts]
    status = [slice_status(ctx, s, slice_) for s in firsts]
    missing = [lab for lab, s in zip(labels, status, strict=True) if s is None]
    if missing:
        runs = usable_runs(con, f.source, f.category, slice_)
        where = (f"choose a period inside {', '.join(f'{a}..{b}' for a, b in runs)}" if runs else
                 f"this source has no whole {slice_} with place-level data")
        raise TooSparse(f"no place-level data for {', '.join(missing[:6])}{'…' if len(missing) > 6 else ''}: {where}")
    if len(firsts) < MIN_SLICES:
        raise TooSparse(f"{len(firsts)} whole {slice_}s in {f.start}..{f.end}: a trend needs at least {MIN_SLICES}")
    end = slice_end(firsts[-1], slice_)
    rows = con.execute(HEX_COUNTS if unit == "hex" else AREA_COUNTS,
                       [slice_, f.source, f.category, firsts[0], end]).df()
    if unit == "hex":
        places = sorted(set(city_cells(con)) | set(rows["place"]))  # edge cells holding incidents too
        w = hex_weights(places)
    else:
        places = ([r[0] for r in con.execute(PUBLISHED, [f.source]).fetchall()] if ctx.kind == "area_counts"
                  else ctx.neighborhoods["area_id"].tolist())
        w = neighborhood_weights(con, places)
    wide = rows.pivot_table(index="place", columns="slice", values="n", aggfunc="sum")
    wide = wide.reindex(index=w.id_order, columns=pd.to_datetime(firsts)).fillna(0)
    per_slice = wide.sum(axis=0).to_numpy()
    sparse = [f"{lab} ({int(n)})" for lab, n in zip(labels, per_slice, strict=True) if n < MIN_EVENTS_PER_SLICE]
    if sparse:
        raise TooSparse(f"{len(sparse)} of {len(labels)} {slice_}s have fewer than {MIN_EVENTS_PER_SLICE} placed "
                        f"events, too few for Gi* ({', '.join(sparse[:4])}{'…' if len(sparse) > 4 else ''}): try "
                        f"{'quarters, ' if slice_ == 'month' else ''}a busier category or another period")
    partial = [lab for lab, s in zip(labels, status, strict=True) if s == "partial"]
    left_out = sorted(set(ctx.neighborhoods["area_id"]) - set(w.id_order)) if unit == "neighborhood" else sorted(
        set(places) - set(w.id_order))
    return Cube(wide.to_numpy(dtype=float), w, firsts, labels, partial, left_out)


def _hex_neighborhoods(con: duckdb.DuckDBPyConnection, cells: list[str]) -> list[str]:
    """The neighborhood holding each cell's centre ('' outside every neighborhood): hexagon ids mean nothing to a
    reader, a neighborhood name does."""
    rows = con.execute(POLYGONS).fetchall()
    names, polys = [r[0] for r in rows], [shapely.from_wkt(r[1]) for r in rows]
    tree = shapely.STRtree(polys)
    centres = [h3.cell_to_latlng(c) for c in cells]
    pts = shapely.points([c[1] for c in centres], [c[0] for c in centres])
    pi, ai = tree.query(pts, predicate="within")
    found = pd.Series(ai).groupby(pi).min()
    return [names[found[i]] if i in found.index else "" for i in range(len(cells))]


def emerging(con: duckdb.DuckDBPyConnection, f: Filter, slice_: str = "month", unit: str = "neighborhood",
             permutations: int = 0, every_trend: bool = True) -> dict:
    """Emerging hot spots for a source, category and period: every place's category, trend (Kendall tau, p), count
    of hot and cold slices and last significant slice, with the Gi* z-scores by slice (`z`, places x slices)."""
    if permutations < 0 or permutations > 9999:
        raise BadQuery(f"permutations {permutations} is not between 0 and 9999")
    c = cube(con, f, slice_, unit)
    result = analyse(c.counts, c.w, permutations, every_trend=every_trend)
    table = result.table.copy()
    places = list(c.w.id_order)
    table.insert(0, "place", places)
    table.insert(1, "neighborhood", _hex_neighborhoods(con, places) if unit == "hex" else places)
    table["events"] = c.counts.sum(axis=1).astype(int)
    table["latest_z"] = result.z[:, -1]
    table["last_significant"] = [
        "never" if k < 0 else f"{c.labels[k]} ({'hot' if result.z[i, k] > 0 else 'cold'})"
        for i, k in enumerate(table["last_significant"])]
    table = table.reset_index(drop=True)
    return {"source": f.source, "category": f.category, "slice": slice_, "unit": unit, "permutations": permutations,
            "start": str(c.slices[0]), "end": str(slice_end(c.slices[-1], slice_)),
            "slices": c.labels, "partial_slices": c.partial, "left_out": c.left_out, "places": len(places),
            "thresholds": {"gi_confidence": 1 - GI_ALPHA, "gi_correction": "Benjamini-Hochberg FDR per slice",
                           "trend_confidence": 1 - TREND_ALPHA, "share_of_slices": SHARE,
                           "min_events_per_slice": MIN_EVENTS_PER_SLICE, "min_slices": MIN_SLICES,
                           "min_place_events": MIN_PLACE_EVENTS},
            "counts_by_category": {k: int(v) for k, v in table["category"].value_counts().items()},
            "table": table, "z": pd.DataFrame(result.z, index=places, columns=c.labels),
            "counts": pd.DataFrame(c.counts, index=places, columns=c.labels)}

