"""Early warning: which neighborhoods' latest month (or quarter) is beyond what their own history predicts.

Each neighborhood's expected count comes from a GLM fitted on its own prior 36 months (12 quarters): log link, a
linear trend and the time of year as one annual harmonic (sine and cosine of the month), Poisson, or negative
binomial when the counts vary more than Poisson (dispersion by the method of moments, Cameron & Trivedi's auxiliary
regression). Eleven month dummies were tried and dropped: with 36 months each rests on 3 counts, a month with three
zeros predicts zero, and on the bundled data they flagged many more neighborhoods with nothing injected than the
harmonic did (docs/backtest.md, reproduced by scripts/backtest_report.py with `season="months"`).

The expected range is the 95% prediction interval of a negative binomial whose variance adds the fitted dispersion
and the uncertainty of the fitted mean (delta method), and whether the observed count is beyond it is tested over
all neighborhoods at once with the Benjamini-Hochberg false-discovery rate (statsmodels `multipletests`, `fdr_bh`)
at 5%.

Months without data are left out of a fit, never read as 0; a neighborhood with fewer than MIN_EVENTS in its
training window is "too few to tell".
"""

from __future__ import annotations

import warnings
from datetime import date

import duckdb
import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats
from statsmodels.stats.multitest import multipletests

from analytics import emerging, queries
from analytics.queries import BadQuery, Filter

#: slices in the training window, and the fewest with data for a fit
TRAINING = {"month": 36, "quarter": 12}
MIN_HISTORY = {"month": 18, "quarter": 6}
#: fewer events than this in the training window: "too few to tell"
MIN_EVENTS = 30
FDR = 0.05
INTERVAL = 0.95
HEATING, COOLING, WITHIN, TOO_FEW, NO_DATA = "heating up", "cooling down", "within range", "too few to tell", "no data"
#: beyond the 95% range but not flagged by the false-discovery-rate control: with 240 neighborhoods tested, about 12
#: land outside a 95% range by chance alone, so these are named as such, never as "within range"
ABOVE, BELOW = "above range, not flagged", "below range, not flagged"


SEASONS = ("harmonic", "months")


def design(slices: list[date], season: str = "harmonic") -> np.ndarray:
    """Intercept, trend (years from the first slice) and the time of year: one annual harmonic of the month (the
    model), or eleven month dummies ("months": kept to reproduce the comparison in docs/backtest.md)."""
    first = slices[0]
    months = np.array([(s.year - first.year) * 12 + s.month - first.month for s in slices], dtype=float)
    month_of_year = np.array([s.month for s in slices])
    if season == "months":
        dummies = [(month_of_year == m).astype(float) for m in range(2, 13)]
        return np.column_stack([np.ones(len(slices)), months / 12, *dummies])
    angle = 2 * np.pi * (month_of_year - 1) / 12
    return np.column_stack([np.ones(len(slices)), months / 12, np.sin(angle), np.cos(angle)])


def predictive(y: np.ndarray, x: np.ndarray, x_new: np.ndarray) -> tuple[float, float, float, str]:
    """Mean and variance of the next count under the fitted model, the dispersion alpha and the family's name."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = sm.GLM(y, x, family=sm.families.Poisson()).fit()
        mu = fit.fittedvalues
        alpha = max(0.0, float(((y - mu) ** 2 - y).sum() / (mu ** 2).sum()))
        if alpha > 0:
            fit = sm.GLM(y, x, family=sm.families.NegativeBinomial(alpha=alpha)).fit()
    eta = float(x_new @ fit.params)
    se2 = float(x_new @ fit.cov_params() @ x_new)
    mean = float(np.exp(eta))
    return mean, mean + alpha * mean ** 2 + mean ** 2 * se2, alpha, "negative binomial" if alpha > 0 else "Poisson"


def _nb(mean: float, var: float) -> tuple:
    """scipy's distribution and its arguments for a count with this mean and variance: Poisson when the variance
    is no larger than the mean, else the negative binomial with that mean and variance (unfrozen: freezing costs
    more than the fit)."""
    if var <= mean * (1 + 1e-9):
        return stats.poisson, (mean,)
    size = mean ** 2 / (var - mean)
    return stats.nbinom, (size, size / (size + mean))


def expected(y: np.ndarray, slices: list[date], target: date, observed: float, season: str = "harmonic") -> dict:
    """The expected count for `target` from counts `y` in `slices` (no NaN), its range (INTERVAL prediction
    interval), and the two-sided p-value of `observed`."""
    x = design([*slices, target], season)
    mean, var, _alpha, family = predictive(y, x[:-1], x[-1])
    dist, args = _nb(mean, var)
    low, high = dist.ppf([(1 - INTERVAL) / 2, 1 - (1 - INTERVAL) / 2], *args)
    upper, lower = dist.sf(observed - 1, *args), dist.cdf(observed, *args)
    return {"expected": mean, "low": int(low), "high": int(high), "family": family,
            "p": float(min(1.0, 2 * min(upper, lower)))}


def watch(wide: pd.DataFrame, target: date, slice_: str = "month", fdr: float = FDR,
          season: str = "harmonic") -> pd.DataFrame:
    """Every place (rows of `wide`: places x slice starts, NaN = no data) tested at `target` against the prior
    TRAINING slices: observed, expected, range, p, Benjamini-Hochberg q and the flag. Pure: tests inject into
    `wide`."""
    cols = list(wide.columns)
    if target not in cols:
        raise BadQuery(f"{target} is not a slice of the series")
    k = cols.index(target)
    window = cols[max(0, k - TRAINING[slice_]):k]
    train = wide[window].to_numpy(dtype=float)
    observed = wide[target].to_numpy(dtype=float)
    rows = []
    for i, place in enumerate(wide.index):
        have = ~np.isnan(train[i])
        row = {"place": place, "observed": observed[i], "months_used": int(have.sum()), "expected": np.nan,
               "low": np.nan, "high": np.nan, "p": np.nan, "family": ""}
        if np.isnan(observed[i]) or have.sum() < MIN_HISTORY[slice_]:
            row["flag"] = NO_DATA
        elif train[i][have].sum() < MIN_EVENTS:
            row["flag"] = TOO_FEW
        else:
            used = [s for s, h in zip(window, have, strict=True) if h]
            row.update(expected(train[i][have], used, target, observed[i], season), flag=WITHIN)
        rows.append(row)
    out = pd.DataFrame(rows)
    tested = out["p"].notna()
    out["q"] = np.nan
    if tested.any():
        reject, q, _, _ = multipletests(out.loc[tested, "p"], alpha=fdr, method="fdr_bh")
        out.loc[tested, "q"] = q
        out.loc[tested & (out["observed"] > out["high"]), "flag"] = ABOVE
        out.loc[tested & (out["observed"] < out["low"]), "flag"] = BELOW
        hit = out.index[tested][reject]
        out.loc[hit, "flag"] = np.where(out.loc[hit, "observed"] > out.loc[hit, "expected"], HEATING, COOLING)
    return out


def sentence(row: pd.Series, what: str, when: str, tested: int) -> str:
    """The watch-list line in plain words, true to where the count sits, e.g. 'Lykins is heating up: 31 recorded in
    2026-06 (crimes against persons), about 15 expected, usual range 8 to 24.' A count outside the range that the
    false-discovery-rate control did not flag says so, and why (`tested`: the neighborhoods tested)."""
    if row["flag"] in (NO_DATA, TOO_FEW):
        return f"{row['place']}: {row['flag']} for {when}."
    span = f"{int(row['low'])} to {int(row['high'])}"
    facts = f"{int(row['observed']):,} recorded in {when} ({what}), about {row['expected']:.0f} expected"
    if row["flag"] in (ABOVE, BELOW):
        side = "above" if row["flag"] == ABOVE else "below"
        return (f"{row['place']} is {side} its usual range ({span}) but not flagged: {facts}; across {tested:,} "
                "neighborhoods tested, one this far out is expected by chance.")
    verb = {HEATING: "is heating up", COOLING: "is cooling down"}.get(row["flag"], "is within its usual range")
    return f"{row['place']} {verb}: {facts}, usual range {span}."


def neighborhood_series(con: duckdb.DuckDBPyConnection, f: Filter, slice_: str) -> tuple[pd.DataFrame, list[str]]:
    """Counts per neighborhood (rows) and slice (columns, first days) from f.start to f.end; a slice without usable
    data is NaN for every place. Also the partial slices' names."""
    ctx = queries.validate(con, f)
    firsts = emerging.slice_starts(f.start, f.end, slice_)
    if not firsts:
        raise BadQuery(f"no whole {slice_} in {f.start}..{f.end}")
    rows = con.execute(emerging.AREA_COUNTS, [slice_, f.source, f.category, firsts[0],
                                              emerging.slice_end(firsts[-1], slice_)]).df()
    places = ([r[0] for r in con.execute(emerging.PUBLISHED, [f.source]).fetchall()] if ctx.kind == "area_counts"
              else ctx.neighborhoods["area_id"].tolist())
    wide = rows.pivot_table(index="place", columns="slice", values="n", aggfunc="sum")
    wide = wide.reindex(index=sorted(places), columns=pd.to_datetime(firsts)).fillna(0)
    wide.columns = firsts
    status = {s: emerging.slice_status(ctx, s, slice_) for s in firsts}
    for s, st in status.items():
        if st is None:
            wide[s] = np.nan
    return wide, [emerging.label(s, slice_) for s, st in status.items() if st == "partial"]


def latest_complete(con: duckdb.DuckDBPyConnection, source: str, category: str, slice_: str,
                    by: date | None = None) -> date:
    """The latest slice whose every month is covered in full with neighborhood-level data (not partial, not a
    sample, with coordinates) and that ends by `by` (default: the source's last month): the month a ranking period
    ending on `by` reads its early warning from."""
    ctx = queries.validate(con, Filter(source, category, date(2000, 1, 1), date(2000, 1, 1)))
    if not ctx.months:
        raise BadQuery(f"source {source!r} has no monthly data")
    for first in reversed(emerging.slice_starts(min(ctx.months), emerging.slice_end(max(ctx.months), "month"),
                                                slice_)):
        if (by is None or emerging.slice_end(first, slice_) <= by) and \
                emerging.slice_status(ctx, first, slice_) == "ok":
            return first
    from analytics.hotspots import reasons_text

    why = {f"{m:%Y-%m}": ("partly covered" if c.status == "partial" else "")
           or queries.unusable(c, True, ctx.needs_firearm) or "" for m, c in sorted(ctx.months.items())
           if by is None or m <= by}
    why = {m: r for m, r in why.items() if r}
    until = "" if by is None else f" ending by {by}"
    raise BadQuery(f"source {source!r} has no {slice_}{until} fully covered with neighborhood-level data"
                   + (f" ({reasons_text(why)})" if why else ""))


def earliest_target(con: duckdb.DuckDBPyConnection, source: str, category: str, slice_: str) -> date:
    """The first slice with MIN_HISTORY slices of neighborhood-level data before it: the earliest a watch list can
    test."""
    runs = emerging.usable_runs(con, source, category, slice_)
    if not runs:
        raise BadQuery(f"source {source!r} has no neighborhood-level data for {category!r}")
    return (pd.Timestamp(runs[0][0]) + pd.DateOffset(months=emerging.SLICES[slice_] * MIN_HISTORY[slice_])).date()


def watchlist(con: duckdb.DuckDBPyConnection, source: str, category: str, slice_: str = "month",
              month: date | None = None, by: date | None = None) -> dict:
    """The early-warning table for the latest complete month or quarter ending by `by` (default: the latest there
    is), or the one holding `month`: every neighborhood with observed, expected, range, p, q and flag, and the watch
    list (flagged places) in words."""
    if slice_ not in emerging.SLICES:
        raise BadQuery(f"slice {slice_!r} is not one of: {', '.join(emerging.SLICES)}")
    step = emerging.SLICES[slice_]
    target = latest_complete(con, source, category, slice_, by) if month is None else date(
        month.year, (month.month - 1) // step * step + 1, 1)
    if month is not None:
        earliest = earliest_target(con, source, category, slice_)
        if target < earliest:
            raise BadQuery(f"{slice_} {month:%Y-%m} is too early for {source!r}: the early warning needs "
                           f"{MIN_HISTORY[slice_]} {slice_}s of neighborhood-level data before it, so the earliest "
                           f"{slice_} it can test is {emerging.label(earliest, slice_)}")
        if problem := queries.date_problem(month, slice_):  # else a far-off month's training start is named
            raise BadQuery(problem)
    start = (pd.Timestamp(target) - pd.DateOffset(months=step * TRAINING[slice_])).date()
    wide, partial = neighborhood_series(con, Filter(source, category, start, emerging.slice_end(target, slice_)),
                                        slice_)
    if wide[target].isna().all():
        raise BadQuery(f"no neighborhood data for {emerging.label(target, slice_)}")
    table = watch(wide, target, slice_)
    if not table["p"].notna().any():
        why = (f"fewer than {MIN_HISTORY[slice_]} {slice_}s with data in the {TRAINING[slice_]} before"
               if table["flag"].eq(NO_DATA).all() else f"fewer than {MIN_EVENTS} events in the {TRAINING[slice_]} "
               f"{slice_}s before")
        raise BadQuery(f"no neighborhood can be tested for {emerging.label(target, slice_)}: {why}")
    what = queries.categories(con).set_index("category_id").loc[category, "label"].lower()
    when = emerging.label(target, slice_)
    tested = int(table["p"].notna().sum())
    table["sentence"] = [sentence(r, what, when, tested) for _, r in table.iterrows()]
    used = [s for s in wide.columns[:-1] if wide[s].notna().any()]
    flagged = table[table["flag"].isin([HEATING, COOLING])].sort_values(["flag", "p"], ascending=[False, True])
    return {"source": source, "category": category, "slice": slice_, "target": when,
            "training": f"{emerging.label(used[0], slice_)}..{emerging.label(used[-1], slice_)}",
            "fdr": FDR, "interval": INTERVAL, "tested": tested, "places": len(table),
            "partial_slices": partial, "flagged": int(len(flagged)), "watch": flagged["sentence"].tolist(),
            "outside_not_flagged": int(table["flag"].isin([ABOVE, BELOW]).sum()),
            "table": table}
