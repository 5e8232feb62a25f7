"""Where violence concentrates: hex bins, neighborhood counts and rates, the ranking, Gi* hot spots.

Maps get aggregated bins, never raw rows (points only when few), so the payload stays
small however many incidents there are. Hex bins use Uber's H3 grid (`h3`), hot spots
esda's Getis-Ord Gi* with a false-discovery-rate correction.
"""

from __future__ import annotations

import math
from datetime import timedelta

import duckdb
import h3
import libpysal
import numpy as np
import pandas as pd
import shapely
from esda import fdr
from esda.getisord import G_Local
from scipy.stats import norm

from analytics import stats
from analytics.queries import BadQuery, Context, Filter, validate, whole_months

MAX_POINTS = 5000
STORED_RESOLUTION = 9
GI_RESOLUTION = 8
#: H3 resolution -> the column holding each stored cell's cell at that resolution (table h3_parents)
HEX_COLUMN = {9: "p.h3_cell", 8: "p.r8", 7: "p.r7"}

WHERE = """i.source_id = ? AND c.category_id = ? AND i.event_date BETWEEN ? AND ?
           AND i.geo_status = 'in_city' AND (NOT ? OR i.firearm)"""


def _params(f: Filter, firearm_only: bool) -> list:
    return [f.source, f.category, f.start, f.end, firearm_only]


def points(con: duckdb.DuckDBPyConnection, f: Filter, firearm_only: bool = False) -> pd.DataFrame | None:
    """Individual incidents, only when there are at most MAX_POINTS of them (else None): more dots would hide the
    pattern, and each is a row sent to the browser."""
    validate(con, f)
    frame = con.execute(
        f"""SELECT i.lat, i.lon, strftime(i.event_date, '%Y-%m-%d') AS date, i.neighborhood, i.offenses
            FROM incidents i JOIN incident_categories c USING (incident_id) WHERE {WHERE} LIMIT ?""",  # noqa: S608
        [*_params(f, firearm_only), MAX_POINTS + 1]).df()
    return None if len(frame) > MAX_POINTS else frame


def hex_bins(con: duckdb.DuckDBPyConnection, f: Filter, firearm_only: bool = False,
             resolution: int = STORED_RESOLUTION) -> pd.DataFrame:
    """Counts per H3 cell at resolution 9, 8 or 7, aggregated in the database.

    Whole-month ranges read the per-month hex roll-up; other ranges count incidents.
    """
    validate(con, f)
    if resolution not in HEX_COLUMN:
        raise BadQuery(f"hexagon resolution {resolution!r} is not one of {sorted(HEX_COLUMN)}")
    hex_col = HEX_COLUMN[resolution]
    if whole_months(f):
        return con.execute(
            f"""SELECT {hex_col} AS hex, sum(CASE WHEN ? THEN h.n_firearm ELSE h.n END)::INTEGER AS n
                FROM hex_month_counts h JOIN h3_parents p USING (h3_cell)
                WHERE h.source_id = ? AND h.category_id = ? AND h.month BETWEEN ? AND ?
                GROUP BY 1 HAVING n > 0 ORDER BY n DESC, hex""",  # noqa: S608
            [firearm_only, f.source, f.category, f.start, f.end]).df()
    return con.execute(
        f"""SELECT {hex_col} AS hex, count(*)::INTEGER AS n
            FROM incidents i JOIN incident_categories c USING (incident_id) JOIN h3_parents p USING (h3_cell)
            WHERE {WHERE} GROUP BY 1 ORDER BY n DESC, hex""", _params(f, firearm_only)).df()  # noqa: S608


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
    none = (0,) * len(periods)
    for k in range(len(periods)):
        out[f"p{k}"] = np.array([found.get(a, none)[k] for a in out["area_id"]], dtype=np.int64)
    return out


def _with_rate(table: pd.DataFrame) -> pd.DataFrame:
    table["rate_per_10k"] = (table["n"] / table["population"] * 10_000).where(table["population"] >= 100).round(1)
    return table


def neighborhood_counts(con: duckdb.DuckDBPyConnection, f: Filter, firearm_only: bool = False) -> pd.DataFrame:
    """Every neighborhood's count and rate per 10,000 residents for the period. Rates use 2010 Census populations
    (2010-era denominators for every year) and are blank under 100 residents, where a few incidents would explode
    the rate."""
    ctx = validate(con, f)
    return _with_rate(_counts_by_neighborhood(con, ctx, firearm_only, [f]).rename(columns={"p0": "n"}))


def previous_period(f: Filter) -> Filter:
    """The period of equal length just before: whole months when the range is whole months, else days."""
    start, end = pd.Timestamp(f.start), pd.Timestamp(f.end)
    if start.day == 1 and end.is_month_end:
        months = (end.year - start.year) * 12 + end.month - start.month + 1
        prev_start = start - pd.DateOffset(months=months)
        return Filter(f.source, f.category, prev_start.date(), (start - timedelta(days=1)).date(), f.area)
    days = (f.end - f.start).days + 1
    return Filter(f.source, f.category, f.start - timedelta(days=days), f.start - timedelta(days=1), f.area)


def rank(con: duckdb.DuckDBPyConnection, f: Filter, firearm_only: bool = False) -> dict:
    """All neighborhoods for the period: count, rate, change against the previous equal period, and whether that
    change is larger than chance (Poisson e-test; 'too few to tell' for small counts)."""
    ctx = validate(con, f)
    prev = previous_period(f)
    firearm = firearm_only or ctx.needs_firearm
    missing = {"period": ctx.missing_months(f.start, f.end, True, firearm),
               "previous": ctx.missing_months(prev.start, prev.end, True, firearm)}
    table = _with_rate(_counts_by_neighborhood(con, ctx, firearm_only, [f, prev]).rename(
        columns={"p0": "n", "p1": "previous"}))
    table = table[["area_id", "name", "population", "n", "rate_per_10k", "previous"]]
    total = int(table["n"].sum())
    table["share_of_city_pct"] = (100 * table["n"] / total).round(2) if total else 0.0
    if missing["period"] or missing["previous"]:
        table["change"], table["change_pct"], table["p_value"], table["flag"] = None, None, None, "no data"
    else:
        changes = [stats.poisson_change(int(p), int(n)) for p, n in zip(table["previous"], table["n"], strict=True)]
        table["change"] = table["n"] - table["previous"]
        table["change_pct"] = [None if c.pct is None else round(c.pct, 1) for c in changes]
        table["p_value"] = [None if c.p_value is None else round(c.p_value, 4) for c in changes]
        table["flag"] = [c.verdict for c in changes]
    table = table.sort_values(["n", "rate_per_10k"], ascending=False, ignore_index=True)
    table.insert(0, "rank", range(1, len(table) + 1))
    return {"source": f.source, "category": f.category, "start": str(f.start), "end": str(f.end),
            "previous_start": str(prev.start), "previous_end": str(prev.end), "missing_months": missing,
            "total": total, "table": table}


def city_cells(con: duckdb.DuckDBPyConnection, resolution: int) -> list[str]:
    """Every H3 cell whose centre lies in the city (the denominator for concentration and the Gi* grid)."""
    wkt = con.execute("SELECT geometry_wkt FROM areas WHERE area_type = 'city'").fetchall()[0][0]
    return sorted(h3.geo_to_cells(shapely.from_wkt(wkt).__geo_interface__, resolution))


def concentration(con: duckdb.DuckDBPyConnection, f: Filter, firearm_only: bool = False,
                  resolution: int = STORED_RESOLUTION) -> dict:
    """Share of all placed incidents in the busiest 5% of the city's hex cells. Incidents without coordinates
    (18-24% of KCPD's 2019-2021 rows) are not placed, so not counted."""
    bins = hex_bins(con, f, firearm_only, resolution)
    cells = city_cells(con, resolution)
    top = math.ceil(0.05 * len(cells))
    total = int(bins["n"].sum())
    share = float(bins["n"].head(top).sum() / total) if total else None
    return {"cells": len(cells), "top_cells": top, "incidents": total,
            "share_in_top_5pct": None if share is None else round(100 * share, 1)}


def gi_star(con: duckdb.DuckDBPyConnection, f: Filter, firearm_only: bool = False, alpha: float = 0.05,
            resolution: int = GI_RESOLUTION) -> pd.DataFrame:
    """Getis-Ord Gi* on the city's H3 grid (neighbours: the six adjacent cells, plus the cell itself), with the
    false-discovery-rate threshold of Benjamini and Hochberg (esda.fdr) over two-sided p-values."""
    counts = hex_bins(con, f, firearm_only, resolution).set_index("hex")["n"]
    cells = sorted(set(city_cells(con, resolution)) | set(counts.index))  # edge cells holding incidents too
    grid = set(cells)
    neighbours = {c: [n for n in h3.grid_disk(c, 1) if n != c and n in grid] for c in cells}
    islands = [c for c, n in neighbours.items() if not n]
    for c in islands:
        del neighbours[c]
    w = libpysal.weights.W(neighbours, silence_warnings=True)
    y = counts.reindex(w.id_order).fillna(0).to_numpy(dtype=float)
    out = pd.DataFrame({"hex": w.id_order, "n": y.astype(int)})
    if y.sum() == 0:
        return out.assign(z=0.0, p=1.0, spot="not significant")
    g = G_Local(y, w, transform="B", star=True, permutations=0)
    out["z"] = g.Zs
    out["p"] = 2 * norm.sf(np.abs(g.Zs))
    threshold = fdr(out["p"].to_numpy(), alpha)
    out["spot"] = np.where(out["p"] <= threshold, np.where(out["z"] > 0, "hot", "cold"), "not significant")
    return out.sort_values("z", ascending=False, ignore_index=True)


def with_centres(bins: pd.DataFrame) -> pd.DataFrame:
    """Add each hex's centre (for heat maps and CSV downloads)."""
    centres = [h3.cell_to_latlng(h) for h in bins["hex"]]
    return bins.assign(lat=[c[0] for c in centres], lon=[c[1] for c in centres])


def choropleth_geojson(con: duckdb.DuckDBPyConnection, counts: pd.DataFrame) -> dict:
    """Neighborhood polygons (simplified, about 10 m) with their count and rate as properties."""
    rows = con.execute("SELECT area_id, geometry_wkt FROM areas WHERE area_type = 'neighborhood'").fetchall()
    props = counts.set_index("area_id")
    features = []
    for area_id, wkt in rows:
        p = props.loc[area_id]
        features.append({"type": "Feature", "geometry": shapely.geometry.mapping(shapely.from_wkt(wkt).simplify(0.0001)),
                         "properties": {"area_id": area_id, "name": p["name"], "n": int(p["n"]),
                                        "rate": None if pd.isna(p["rate_per_10k"]) else float(p["rate_per_10k"])}})
    return {"type": "FeatureCollection", "features": features}
