"""Read published files as text: every value a string, every row numbered.

Nothing is interpreted here; adapters validate. Bad lines (wrong field count) are
returned as rejects rather than dropped.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from etl.errors import SchemaError
from etl.model import register

GZIP_MAGIC = b"\x1f\x8b"
ROW = "_row"  # 1-based data record number (header excluded)
#: Columns that hold people's names. They are dropped as a file is read, for every source, so no name
#: reaches the database, the rejected-rows table or a page (GVA's research scrape has participant_name).
NAME_COLUMNS = {"participant_name", "participant_names", "name", "names", "victim_name", "suspect_name",
                "first_name", "last_name", "full_name", "person_name", "arrestee_name"}


@dataclass
class RawTable:
    """A file read as strings, with the lines that could not be parsed."""

    frame: pd.DataFrame
    bad_lines: list[tuple[int, str, str]] = field(default_factory=list)  # (row, reason, raw)
    notes: list[str] = field(default_factory=list)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_bytes(path: Path) -> bytes:
    raw = Path(path).read_bytes()
    return gzip.decompress(raw) if raw[:2] == GZIP_MAGIC else raw


def _decode(data: bytes, notes: list[str]) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        notes.append(f"file is not UTF-8 (byte {exc.start}); read as Windows-1252")
        return data.decode("cp1252", errors="replace")


def _delimiter(text: str, notes: list[str]) -> str:
    header = text.split("\n", 1)[0]
    counts = {d: header.count(d) for d in [",", ";", "\t", "|"]}
    best = max(counts, key=counts.get)
    if counts[best] == 0 or best == ",":
        return ","
    if counts[","] == 0:
        notes.append(f"fields are separated by {best!r}, not commas")
        return best
    return ","


def read_csv_text(path: Path) -> RawTable:
    """Read a CSV (plain or gzip) as strings. Raises SchemaError when nothing usable is there."""
    notes: list[str] = []
    try:
        text = _decode(_read_bytes(path), notes)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise SchemaError(f"{Path(path).name}: cannot read the file ({exc})") from exc
    if not text.strip():
        raise SchemaError(f"{Path(path).name}: the file is empty")
    sep = _delimiter(text, notes)
    bad: list[tuple[int, str, str]] = []
    width = len(next(csv.reader(io.StringIO(text.split("\n", 1)[0]), delimiter=sep)))

    def on_bad(line: list[str]) -> None:
        bad.append((-1, f"row has {len(line)} fields, the header has {width}", sep.join(line)[:2000]))

    options = {"sep": sep, "dtype": str, "keep_default_na": False, "na_values": [""]}
    try:
        try:  # the C parser is fast; it stops at the first malformed line
            frame = pd.read_csv(io.StringIO(text), engine="c", **options)
        except pd.errors.ParserError:  # the Python parser keeps the good lines and hands us the bad ones
            frame = pd.read_csv(io.StringIO(text), engine="python", on_bad_lines=on_bad, **options)
    except (pd.errors.ParserError, csv.Error) as exc:
        raise SchemaError(f"{Path(path).name}: not a readable CSV file ({exc})") from exc
    except pd.errors.EmptyDataError as exc:
        raise SchemaError(f"{Path(path).name}: the file is empty") from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.empty:
        raise SchemaError(f"{Path(path).name}: the file has a header but no data rows")
    names = name_columns(frame.columns)
    if names:
        frame = frame.drop(columns=names)
        notes.append(f"dropped column(s) {', '.join(names)}: personal names are never stored")
    frame.insert(0, ROW, range(1, len(frame) + 1))
    frame, oversize = _drop_oversize(frame)
    return RawTable(frame=frame, bad_lines=bad + oversize, notes=notes)


def name_columns(columns) -> list[str]:
    """The columns that hold people's names (see NAME_COLUMNS)."""
    return [c for c in columns if re.sub(r"[^a-z0-9]+", "_", str(c).lower()).strip("_") in NAME_COLUMNS]


MAX_FIELD = 10_000  # characters; no published field comes close (block addresses, 20-character offense labels)


def _drop_oversize(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[tuple[int, str, str]]]:
    """Rows with a field longer than MAX_FIELD are rejected (their text kept, cut to 2,000 characters)."""
    lengths = frame.drop(columns=[ROW]).apply(lambda col: col.str.len()).max(axis=1).fillna(0)
    bad = frame[lengths > MAX_FIELD]
    rejects = [(int(r), f"a field is {int(n):,} characters long (limit {MAX_FIELD:,})",
                ",".join(str(v)[:200] for v in row)[:2000])
               for r, n, row in zip(bad[ROW], lengths[lengths > MAX_FIELD], bad.drop(columns=[ROW]).itertuples(
                   index=False), strict=True)]
    return frame[lengths <= MAX_FIELD], rejects


def require_columns(frame: pd.DataFrame, needed: dict[str, str], file: str, source: str,
                    published: list[str] | None = None) -> None:
    """Refuse a file whose columns do not fit: `needed` maps canonical name -> what it is. The message lists the
    file's own headers (`published`, before any renaming)."""
    missing = [f"{name} ({what})" for name, what in needed.items() if name not in frame.columns]
    if missing:
        found = ", ".join(c for c in (published or frame.columns) if c != ROW)[:400]
        raise SchemaError(
            f"{file}: not a {source} file: missing column(s) {', '.join(missing)}. Columns found: {found}"
        )


@dataclass
class Staged:
    """A file staged in DuckDB for SQL adapters: the temporary view `_staged` (_row, c0, c1, ...: every value a
    string, `_row` the 1-based data record number); `columns` are the file's own headers for c0, c1, ..."""

    columns: list[str]
    rows_read: int
    bad_lines: list[tuple[int, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def stage(con: duckdb.DuckDBPyConnection, path: Path) -> Staged:
    """Stage a CSV: DuckDB's own reader for well-formed files (millions of rows in seconds); a file it refuses
    (malformed lines, another encoding, empty, odd headers) goes through read_csv_text, which keeps the good rows
    and explains the rest. Either way name columns are dropped and rows with an oversize field rejected."""
    path = Path(path)
    notes: list[str] = []
    try:
        header = _fast_stage(con, path, notes)
    except (duckdb.Error, UnicodeDecodeError, OSError, EOFError, gzip.BadGzipFile, csv.Error, ValueError):
        return stage_frame(con, read_csv_text(path))  # raises SchemaError when nothing is usable
    n = con.execute("SELECT count(*) FROM _raw").fetchall()[0][0]
    if n == 0:
        raise SchemaError(f"{path.name}: the file has a header but no data rows")
    names = set(name_columns(header))
    if names:
        notes.append(f"dropped column(s) {', '.join(c for c in header if c in names)}: personal names are never stored")
    keep = [f"c{k}" for k, c in enumerate(header) if c not in names]
    longest = "greatest(" + ", ".join(f"coalesce(length({c}), 0)" for c in keep) + ")"
    raw_text = "concat_ws(',', " + ", ".join(f"left(coalesce({c}, 'nan'), 200)" for c in keep) + ")"
    oversize = con.execute(
        f"SELECT rowid + 1, {longest}, left({raw_text}, 2000) FROM _raw WHERE {longest} > ? ORDER BY 1",  # noqa: S608
        [MAX_FIELD]).fetchall()
    renamed = ", ".join(f"{c} AS c{j}" for j, c in enumerate(keep))  # c0, c1, ... as in Staged.columns
    rejects = [(int(r), f"a field is {int(m):,} characters long (limit {MAX_FIELD:,})", t) for r, m, t in oversize]
    con.execute(f"""CREATE OR REPLACE TEMP VIEW _staged AS
                    SELECT rowid + 1 AS _row, {renamed} FROM _raw WHERE {longest} <= {MAX_FIELD}""")  # noqa: S608
    return Staged([c for c in header if c not in names], n, rejects, notes)


def _fast_stage(con: duckdb.DuckDBPyConnection, path: Path, notes: list[str]) -> list[str]:
    """DuckDB's reader, strict: any malformed line, encoding error or odd header raises. Returns the headers."""
    gz = _is_gzip(path)
    with gzip.open(path, "rt", encoding="utf-8-sig") if gz else path.open(encoding="utf-8-sig") as fh:
        first = fh.readline()
    if not first.strip():
        raise ValueError("no header line")
    sep = _delimiter(first, notes)
    header = [c.strip() for c in next(csv.reader([first], delimiter=sep))]
    if len(set(header)) != len(header) or "" in header or first.count('"') % 2:
        raise ValueError("repeated or blank headers, or a header over several lines: the careful reader handles them")
    names = [f"c{k}" for k in range(len(header))]
    con.execute("DROP VIEW IF EXISTS _staged")
    con.execute("DROP TABLE IF EXISTS _raw")
    con.execute(
        """CREATE TEMP TABLE _raw AS SELECT * FROM read_csv(?, delim = ?, quote = '"', escape = '"', header = true,
           auto_detect = false, columns = ?, strict_mode = true, null_padding = false, encoding = 'utf-8',
           compression = ?)""",
        [str(path), sep, {n: "VARCHAR" for n in names}, "gzip" if gz else "none"])
    return header


def _is_gzip(path: Path) -> bool:
    with Path(path).open("rb") as fh:
        return fh.read(2) == GZIP_MAGIC


def stage_frame(con: duckdb.DuckDBPyConnection, raw: RawTable) -> Staged:
    """Stage a file read by read_csv_text (names already dropped, oversize rows already rejected)."""
    header = [c for c in raw.frame.columns if c != ROW]
    frame = raw.frame.rename(columns={c: f"c{k}" for k, c in enumerate(header)})
    con.execute("DROP VIEW IF EXISTS _staged")
    register(con, "_raw", frame)
    con.execute("CREATE OR REPLACE TEMP VIEW _staged AS SELECT * FROM _raw")
    return Staged(header, len(raw.frame) + len(raw.bad_lines), list(raw.bad_lines), list(raw.notes))


def unstage(con: duckdb.DuckDBPyConnection) -> None:
    """Drop the temporary tables and views a load made (staged file, parsed rows, lookups)."""
    for name, kind in con.execute(
            """SELECT view_name, 'VIEW' FROM duckdb_views() WHERE temporary AND NOT internal
               UNION ALL SELECT table_name, 'TABLE' FROM duckdb_tables() WHERE temporary""").fetchall():
        con.execute(f'DROP {kind} IF EXISTS "{name}"')
