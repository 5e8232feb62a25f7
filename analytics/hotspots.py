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
from analytics.queries import Filter, missing_months, validate, whole_months

MAX_POINTS = 5000
STORED_RESOLUTION = 9
GI_RESOLUTION = 8

WHERE = """i.source_id = ? AND c.category_id = ? AND i.event_date BETWEEN ? AND ?
           AND i.geo_status = 'in_city' AND (NOT ? OR i.firearm)"""


def _params(f: Filter, firearm_only: bool) -> list:
    return [f.source, f.category, f.start, f.end, firearm_only]


def is_incident_source(con, source: str) -> bool:
    return con.execute("SELECT kind FROM sources WHERE source_id = ?", [source]).fetchall()[0][0] == "incidents"


def points(con: duckdb.DuckDBPyConnection, f: Filter, firearm_only: bool = False) -> pd.DataFrame | None:
    """Individual incidents, only when there are at most MAX_POINTS of them (else None)."""
    validate(con, f)
    frame = con.execute(
        f"""SELECT i.lat, i.lon, strftime(i.event_date, '%Y-%m-%d') AS date, i.neighborhood, i.offenses
            FROM incidents i JOIN incident_categories c USING (incident_id) WHERE {WHERE} LIMIT ?""",  # noqa: S608
        [*_params(f, firearm_only), MAX_POINTS + 1]).df()
    return None if len(frame) > MAX_POINTS else frame


def hex_bins(con: duckdb.DuckDBPyConnection, f: Filter, firearm_only: bool = False,
             resolution: int = STORED_RESOLUTION) -> pd.DataFrame:
    """Counts per H3 cell, aggregated in the database at resolution 9, coarsened here if asked.

    Whole-month ranges read the per-month hex roll-up; other ranges count incidents.
    """
    validate(con, f)
    if whole_months(f):
        bins = con.execute(
            """SELECT h3_cell AS hex, sum(CASE WHEN ? THEN n_firearm ELSE n END)::INTEGER AS n FROM hex_month_counts
               WHERE source_id = ? AND category_id = ? AND month BETWEEN ? AND ? GROUP BY 1 HAVING n > 0""",
            [firearm_only, f.source, f.category, f.start, f.end]).df()
    else:
        bins = con.execute(
            f"""SELECT i.h3_cell AS hex, count(*) AS n FROM incidents i JOIN incident_categories c USING (incident_id)
                WHERE {WHERE} AND i.h3_cell IS NOT NULL GROUP BY 1""", _params(f, firearm_only)).df()  # noqa: S608
    if resolution < STORED_RESOLUTION and len(bins):
        bins["hex"] = [h3.cell_to_parent(h, resolution) for h in bins["hex"]]
        bins = bins.groupby("hex", as_index=False)["n"].sum()
    return bins.sort_values("n", ascending=False, ignore_index=True)


def neighborhood_counts(con: duckdb.DuckDBPyConnection, f: Filter, firearm_only: bool = False) -> pd.DataFrame:
    """Every neighborhood's count and rate per 10,000 residents (2010 Census) for the period."""
    validate(con, f)
    if is_incident_source(con, f.source) and (firearm_only or not whole_months(f)):
        counts = con.execute(
            f"""SELECT i.neighborhood AS area_id, count(*) AS n FROM incidents i
                JOIN incident_categories c USING (incident_id) WHERE {WHERE} AND i.neighborhood IS NOT NULL
                GROUP BY 1""", _params(f, firearm_only)).df()  # noqa: S608
    else:
        counts = con.execute(
            """SELECT area_id, sum(n) AS n FROM area_counts WHERE source_id = ? AND measure = ?
               AND area_type = 'neighborhood' AND grain IN ('day', 'month') AND period_start BETWEEN ? AND ?
               GROUP BY 1""",
            [f.source, f.category, f.start, f.end]).df()
    areas = con.execute("SELECT area_id, name, population FROM areas WHERE area_type = 'neighborhood'").df()
    out = areas.merge(counts, on="area_id", how="left", validate="1:1")
    out["n"] = out["n"].fillna(0).astype(int)
    out["rate_per_10k"] = (out["n"] / out["population"] * 10_000).where(out["population"] >= 100).round(1)
    return out


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
    prev = previous_period(f)
    missing = {"period": missing_months(con, f, True, firearm_only),
               "previous": missing_months(con, prev, True, firearm_only)}
    now, before = neighborhood_counts(con, f, firearm_only), neighborhood_counts(con, prev, firearm_only)
    table = now.merge(before[["area_id", "n"]].rename(columns={"n": "previous"}), on="area_id", validate="1:1")
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
    """Share of all placed incidents in the busiest 5% of the city's hex cells."""
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
