"""What the database holds: coverage by source and month, counts, loads and rejects.

Shared by `python -m etl status --json` and the Data page.
"""

from __future__ import annotations

import duckdb
import pandas as pd


def ranges(periods: list[str]) -> list[str]:
    """['2014-01', '2014-02', '2014-04'] -> ['2014-01..2014-02', '2014-04']; years likewise."""
    out: list[list[str]] = []
    for p in periods:
        if out and _next(out[-1][1]) == p:
            out[-1][1] = p
        else:
            out.append([p, p])
    return [a if a == b else f"{a}..{b}" for a, b in out]


def _next(period: str) -> str:
    if len(period) == 4:
        return str(int(period) + 1)
    ts = pd.Period(period, freq="M") + 1
    return str(ts)


def coverage_table(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """One row per source and covered period (a year for annual sources, else a month), with its status and note.
    A period with no row is not covered: pages show it as no data, never as zero."""
    return con.execute(
        """SELECT source_id, grain,
                  CASE grain WHEN 'year' THEN strftime(period_start, '%Y') ELSE strftime(period_start, '%Y-%m') END
                      AS period,
                  status, has_coords, has_firearm, note
           FROM coverage ORDER BY source_id, period_start"""
    ).df()


def summary(con: duckdb.DuckDBPyConnection) -> dict:
    """Everything `etl status --json` prints and the Data page shows: per source its caveat, incidents and covered
    periods by status (complete, partial, sample), the loads, and the rejected rows by reason."""
    cov = coverage_table(con)
    counts = dict(con.execute("SELECT source_id, count(*) FROM incidents GROUP BY 1").fetchall())
    area_rows = dict(con.execute("SELECT source_id, count(*) FROM area_counts GROUP BY 1").fetchall())
    sources = []
    for s in con.execute("SELECT source_id, label, kind, unit, caveat FROM sources ORDER BY source_id").fetchall():
        mine = cov[cov.source_id == s[0]]
        sources.append({
            "source": s[0], "label": s[1], "kind": s[2], "unit": s[3], "caveat": s[4],
            # a count source has no incidents to count: null, never 0 (blind review: "kcpd_nbhd 0 incidents")
            "incidents": int(counts.get(s[0], 0)) if s[2] == "incidents" else None,
            "area_count_rows": int(area_rows.get(s[0], 0)),
            "coverage": {st: ranges(mine.loc[mine.status == st, "period"].tolist())
                         for st in ("complete", "partial", "sample")},
        })
    loads = con.execute(
        "SELECT load_id, file, source_id, sha256, rows_read, rows_loaded, rows_rejected, incidents, "
        "strftime(loaded_at, '%Y-%m-%dT%H:%M:%S') AS loaded_at, message FROM load_log ORDER BY load_id"
    ).df()
    return {
        "sources": sources,
        "loads": loads.to_dict(orient="records"),
        "last_load": loads.iloc[-1].to_dict() if len(loads) else None,
        "rejected_rows": int(con.execute("SELECT count(*) FROM rejects").fetchall()[0][0]),
        "rejects_by_reason": dict(con.execute(
            "SELECT regexp_replace(reason, '[:(].*$', ''), count(*) FROM rejects GROUP BY 1 ORDER BY 2 DESC"
        ).fetchall()),
    }


def rejects(con: duckdb.DuckDBPyConnection, limit: int | None = None) -> pd.DataFrame:
    """Rows the loader refused, each with its reason and the row as published (all of them unless `limit`): bad
    rows are kept and shown on the Data page, never silently dropped, and every one can be downloaded."""
    return con.execute(
        "SELECT load_id, file, row_number, reason, raw FROM rejects ORDER BY load_id, row_number LIMIT ?",
        [limit if limit is not None else 2**62]).df()
