"""Person-rows of a new KCPD file, merged with the rows already loaded for the same reports.

KCPD publishes one row per person and offense; an incident is folded from all the rows of its report. A later
file may hold only some of a report's rows (a partial extract, a subset a user saved), repeat rows already loaded,
or repeat them with more columns (the city's full export has Address, coordinates and involvement; the bundled
2020 extract has none of them). Folding it alone and replacing the incident would shrink the report (fewer people,
fewer offenses); adding its rows would double them. So the parsed rows of every load are kept in the core table
`person_rows`, each with the fields its file carried (`carried`: their names, sorted, joined by commas; a file's rows
share one value, which DuckDB stores once per block, where a list per row cost 1.5 s of a 5M-row load), and a file's
rows are merged into them:

- a row that agrees with a stored row of its report on every field both files carry is that stored row (a field
  one file did not have is unknown, not different): it is not added again. Rows pair one to one: two such rows in
  a file against one stored adds one;
- a matched row fills in the fields the stored row's file lacked (its address, say), so later folds, counts and
  maps gain what the richer file knows, and the stored row then carries those fields too. Filling in is better
  for analysts than keeping the poorer row: no count changes (the person-row was already counted), and places,
  firearm flags and roles become known. A value the stored row carries is never overwritten;
- a row that differs on a field both carry is another person-row and is added;
- with `replace` (a refresh, whose portal is authoritative for the reports it returns, or `etl load --replace`)
  the file's rows replace the stored rows of its reports.

`_rows` and `_people_rows` (the views etl.fold reads) then hold every row of each report the file brings, stored
rows first, so the report is refolded whole. Stored rows keep their order (`seq`); a file's rows follow.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import duckdb

#: The parsed values that make a row (what "agrees" compares); `seq` orders rows, first loaded first.
VALUES = ["source_key", "event_date", "occurred_date", "occurred_hour", "lat", "lon", "address", "label", "firearm",
          "offense_group", "against", "involvement", "invl_no", "sex", "race", "age"]
#: Fields every KCPD file carries (the loader requires their columns).
ALWAYS = {"source_key", "event_date"}


def _compared(field: str, side: str) -> str:
    """A field as compared between files: ages as numbers, since one export writes '31.0' and another '31'."""
    if field == "age":
        return f"coalesce(try_cast({side}.age AS DOUBLE)::VARCHAR, {side}.age)"
    return f"{side}.{field}"


@dataclass
class Merged:
    """What the merge did, for the load summary."""

    reports_known: int = 0  # reports of the file already in the database
    rows_matched: int = 0  # rows that are stored rows already (not added again)
    rows_filled: int = 0  # of those, rows that filled in a value the stored row lacked
    rows_replaced: int = 0  # stored rows removed by a replace

    def note(self) -> str | None:
        """The load summary's line about reports already loaded (None when the file brought only new ones)."""
        if not self.reports_known:
            return None
        if self.rows_replaced:
            return (f"{self.reports_known:,} report(s) were already loaded: replaced ({self.rows_replaced:,} stored "
                    "person-rows removed)")
        return (f"{self.reports_known:,} report(s) were already loaded: merged ({self.rows_matched:,} row(s) matched "
                f"stored ones and were not added again, {self.rows_filled:,} of them filled in fields the stored rows "
                "lacked; the rest added)")


def merge(con: duckdb.DuckDBPyConnection, source_id: str, replace: bool,
          carried: Iterable[str] | None = None) -> Merged:
    """Merge the file's good rows (`_new`: VALUES and `_row`) with the stored rows of their reports.

    `carried`: the VALUES the file has columns for (default: all); the others are unknown for its rows, never
    "different". Leaves the views `_rows` and `_people_rows` that etl.fold reads, and `person_rows` updated.
    Without a `person_rows` table (an in-memory parse) the file's rows are taken as they are.
    """
    fields = sorted(set(VALUES if carried is None else carried) | ALWAYS)
    if unknown := set(fields) - set(VALUES):
        raise ValueError(f"not person-row fields: {sorted(unknown)}")
    stored = con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'person_rows' AND NOT temporary"
                         ).fetchall()[0][0]
    result = Merged()
    if stored:
        con.execute("""CREATE OR REPLACE TEMP TABLE _known AS
                       SELECT * REPLACE (string_split(carried, ',') AS carried) FROM person_rows WHERE source_id = $s
                         AND source_key IN (SELECT DISTINCT source_key FROM _new)""", {"s": source_id})
        result.reports_known = con.execute("SELECT count(DISTINCT source_key) FROM _known").fetchall()[0][0]
    if not result.reports_known or replace:
        if result.reports_known:
            result.rows_replaced = con.execute("SELECT count(*) FROM _known").fetchall()[0][0]
        listed = ",".join(fields)  # names from VALUES (checked above); a view takes no parameters
        con.execute(f"""CREATE OR REPLACE TEMP VIEW _all AS
                        SELECT {', '.join(VALUES)}, _row::BIGINT AS _row, '{listed}' AS carried
                        FROM _new""")  # noqa: S608
    else:
        _pair(con, fields)
        _union(con, fields)
        result.rows_matched, result.rows_filled = con.execute(
            "SELECT count(*) FILTER (stored AND matched), count(*) FILTER (filled) FROM _all").fetchall()[0]
    _views(con)
    if stored:
        _store(con, source_id, bool(result.reports_known))
    return result


def _pair(con: duckdb.DuckDBPyConnection, fields: list[str]) -> None:
    """`_pairs`: each stored row (`seq`) that a file row (`_row`) is, one to one.

    Stored rows are taken in groups of the same carried fields (first loaded first); within a group a row and a
    stored row agree when they are equal on the fields both carry, which is an equivalence: the k-th file row of
    each set of equal values pairs with the k-th stored one.
    """
    con.execute("CREATE OR REPLACE TEMP TABLE _pairs (seq BIGINT, _row BIGINT)")
    groups = con.execute("SELECT carried FROM _known GROUP BY carried ORDER BY min(seq)").fetchall()
    for (group,) in groups:
        shared = [f for f in VALUES if f in fields and f in group]
        keys = [f"{_compared(f, 'x')} AS k_{f}" for f in shared]
        same = " AND ".join(f"s.k_{f} IS NOT DISTINCT FROM n.k_{f}" for f in shared)
        partition = ", ".join(f"k_{f}" for f in shared)
        con.execute(f"""
            INSERT INTO _pairs
            WITH st AS (SELECT seq, {', '.join(keys)} FROM _known x
                        WHERE carried = $g AND seq NOT IN (SELECT seq FROM _pairs)),
                 nw AS (SELECT _row, {', '.join(keys)} FROM _new x WHERE _row NOT IN (SELECT _row FROM _pairs))
            SELECT s.seq, n._row
            FROM (SELECT *, row_number() OVER (PARTITION BY {partition} ORDER BY seq) AS k FROM st) s
            JOIN (SELECT *, row_number() OVER (PARTITION BY {partition} ORDER BY _row) AS k FROM nw) n
              ON {same} AND s.k = n.k""",  # noqa: S608 (field names)
                    {"g": group})


def _union(con: duckdb.DuckDBPyConnection, fields: list[str]) -> None:
    """`_all`: the stored rows of the file's reports, then the file's rows that matched none.

    A stored row that a file row matched takes the file's values for the fields its own file lacked.
    """
    def filled(f: str) -> str:
        if f not in fields:
            return f"k.{f}"
        return f"CASE WHEN p._row IS NOT NULL AND NOT list_contains(k.carried, '{f}') THEN n.{f} ELSE k.{f} END"

    gains = " OR ".join(f"(NOT list_contains(k.carried, '{f}') AND n.{f} IS NOT NULL)" for f in fields)
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _all AS
        SELECT {', '.join(f'{filled(f)} AS {f}' for f in VALUES)}, k.seq AS _row,
               array_to_string(CASE WHEN p._row IS NULL THEN k.carried
                    ELSE list_sort(list_distinct(list_concat(k.carried, $f::VARCHAR[]))) END, ',') AS carried,
               true AS stored, p._row IS NOT NULL AS matched, coalesce(p._row IS NOT NULL AND ({gains}), false) AS filled
        FROM _known k LEFT JOIN _pairs p USING (seq) LEFT JOIN _new n ON n._row = p._row
        UNION ALL
        SELECT {', '.join(f'n.{c}' for c in VALUES)}, (SELECT coalesce(max(seq), 0) FROM _known) + n._row,
               array_to_string($f::VARCHAR[], ','), false, false, false
        FROM _new n WHERE n._row NOT IN (SELECT _row FROM _pairs)""", {"f": fields})  # noqa: S608


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
    con.execute(f"""INSERT INTO person_rows (source_id, seq, {', '.join(VALUES)}, carried)
                    SELECT $s, $base + _row, {', '.join(VALUES)}, carried FROM _all""",  # noqa: S608
                {"s": source_id, "base": base})


def release(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the merge's temporary tables and views once folded.

    They hold a file's rows, and the next file's merge may make `_all` a view where it was a table.
    """
    con.execute("DROP VIEW IF EXISTS _rows; DROP VIEW IF EXISTS _people_rows")
    if con.execute("SELECT count(*) FROM duckdb_views() WHERE view_name = '_all' AND temporary").fetchall()[0][0]:
        con.execute("DROP VIEW _all")
    con.execute("DROP TABLE IF EXISTS _all; DROP TABLE IF EXISTS _pairs; DROP TABLE IF EXISTS _known")
