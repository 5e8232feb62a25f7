"""Person-rows of a new KCPD file, merged with the rows already loaded for the same reports.

KCPD publishes one row per person and offense; an incident is folded from all the rows of its report. A later
file may hold only some of a report's rows (a partial extract, a subset a user saved) or repeat rows already
loaded. Folding it alone and replacing the incident would shrink the report (fewer people, fewer offenses). So
the parsed rows of every load are kept in the core table `person_rows`, and a file's rows are merged into them:

- a row equal, in every parsed value, to one already stored for that report is an exact duplicate and dropped
  (as many times as it is stored: two equal rows in a file against one stored adds one);
- a row that differs is added;
- with `replace` (a refresh, whose portal is authoritative for the reports it returns, or `etl load --replace`)
  the file's rows replace the stored rows of its reports.

`_rows` and `_people_rows` (the views etl.fold reads) then hold every row of each report the file brings, stored
rows first, so the report is refolded whole. Stored rows keep their order (`seq`); a file's rows follow.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

#: The parsed values that make a row (identity for "exact duplicate"); `seq` orders rows, first loaded first.
VALUES = ["source_key", "event_date", "occurred_date", "occurred_hour", "lat", "lon", "address", "label", "firearm",
          "offense_group", "against", "involvement", "invl_no", "sex", "race", "age"]
_SAME = " AND ".join(f"s.{c} IS NOT DISTINCT FROM n.{c}" for c in VALUES)


@dataclass
class Merged:
    """What the merge did, for the load summary."""

    reports_known: int = 0  # reports of the file already in the database
    rows_duplicate: int = 0  # rows dropped as exact duplicates of stored rows
    rows_replaced: int = 0  # stored rows removed by a replace

    def note(self) -> str | None:
        """The load summary's line about reports already loaded (None when the file brought only new ones)."""
        if not self.reports_known:
            return None
        if self.rows_replaced:
            return (f"{self.reports_known:,} report(s) were already loaded: replaced ({self.rows_replaced:,} stored "
                    "person-rows removed)")
        return (f"{self.reports_known:,} report(s) were already loaded: merged ({self.rows_duplicate:,} exact "
                "duplicate row(s) dropped, the rest added)")


def merge(con: duckdb.DuckDBPyConnection, source_id: str, replace: bool) -> Merged:
    """Merge the file's good rows (`_new`: VALUES and `_row`) with the stored rows of their reports.

    Leaves the views `_rows` and `_people_rows` that etl.fold reads, and `person_rows` updated. Without a
    `person_rows` table (an in-memory parse) the file's rows are taken as they are.
    """
    stored = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'person_rows' AND NOT temporary"
                         ).fetchall()[0][0]
    result = Merged()
    if stored:
        con.execute("""CREATE OR REPLACE TEMP TABLE _known AS
                       SELECT * FROM person_rows WHERE source_id = $s
                         AND source_key IN (SELECT DISTINCT source_key FROM _new)""", {"s": source_id})
        result.reports_known = con.execute("SELECT count(DISTINCT source_key) FROM _known").fetchall()[0][0]
    if not result.reports_known:
        con.execute(f"""CREATE OR REPLACE TEMP VIEW _all AS
                        SELECT {', '.join(VALUES)}, _row::BIGINT AS _row FROM _new""")  # noqa: S608
    elif replace:
        result.rows_replaced = con.execute("SELECT count(*) FROM _known").fetchall()[0][0]
        con.execute(f"""CREATE OR REPLACE TEMP VIEW _all AS
                        SELECT {', '.join(VALUES)}, _row::BIGINT AS _row FROM _new""")  # noqa: S608
    else:
        _union(con)
        result.rows_duplicate = con.execute("SELECT count(*) FROM _new").fetchall()[0][0] - con.execute(
            "SELECT count(*) FROM _all WHERE NOT stored").fetchall()[0][0]
    _views(con)
    if stored:
        _store(con, source_id, bool(result.reports_known))
    return result


def _union(con: duckdb.DuckDBPyConnection) -> None:
    """`_all`: the stored rows of the file's reports, then the file's rows that are not exact duplicates of them.

    Duplicates are counted with multiplicity: the k-th copy of a value is a duplicate only if k copies are stored.
    """
    values = ", ".join(VALUES)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _all AS
        WITH s AS (SELECT *, row_number() OVER (PARTITION BY {values} ORDER BY seq) AS k FROM _known),
             n AS (SELECT *, row_number() OVER (PARTITION BY {values} ORDER BY _row) AS k FROM _new),
             offset_ AS (SELECT coalesce(max(seq), 0) AS o FROM _known)
        SELECT {values}, seq AS _row, true AS stored FROM _known
        UNION ALL
        SELECT {', '.join(f'n.{c}' for c in VALUES)}, (SELECT o FROM offset_) + n._row, false
        FROM n WHERE NOT EXISTS (SELECT 1 FROM s WHERE {_SAME} AND s.k = n.k)""")  # noqa: S608


def _views(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("""CREATE OR REPLACE TEMP VIEW _rows AS
                   SELECT source_key, event_date, occurred_date, occurred_hour, lat, lon, address, label, firearm,
                          offense_group, against, _row FROM _all""")
    con.execute("""CREATE OR REPLACE TEMP VIEW _people_rows AS
                   SELECT source_key, involvement, invl_no, sex, race, age, _row FROM _all""")


def _store(con: duckdb.DuckDBPyConnection, source_id: str, known: bool) -> None:
    """The merged rows become the stored rows of their reports, after the rows stored before.

    `_row` is unique in `_all` and in merge order, so shifting it past the largest stored `seq` keeps every row after
    those stored before.
    """
    if known:
        con.execute("DELETE FROM person_rows WHERE source_id = $s AND source_key IN (SELECT source_key FROM _known)",
                    {"s": source_id})
    base = con.execute("SELECT coalesce(max(seq), 0) FROM person_rows").fetchall()[0][0]
    con.execute(f"""INSERT INTO person_rows (source_id, seq, {', '.join(VALUES)})
                    SELECT $s, $base + _row, {', '.join(VALUES)} FROM _all""",  # noqa: S608
                {"s": source_id, "base": base})
