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
from kcvt.settings import MAX_COLUMNS, MAX_HEADER_BYTES, max_uncompressed

GZIP_MAGIC = b"\x1f\x8b"
ROW = "_row"  # 1-based data record number (header excluded)
#: Words that make a column hold people's names. Such columns are dropped as a file is read, for every source, so
#: no name reaches the database, the rejected-rows table, a kept copy of the file or a page (GVA's research scrape
#: has participant_name). A header is split into words (camelCase, punctuation); it holds names when a word is a
#: name word and no word says it names a place or thing (street_name, neighborhood name), or when it is nothing but
#: a role (a column "Victim" or "suspects_2" holds who they were: "Victims Killed" and "participant_age" do not).
NAME_WORDS = {"name", "names", "nm", "firstname", "lastname", "fullname", "surname", "fname", "lname", "givenname",
              "middlename", "nickname", "alias", "aka"}
ROLE_WORDS = {"victim", "suspect", "participant", "arrestee", "offender", "decedent", "deceased", "shooter",
              "witness", "complainant", "defendant"}
NOT_PEOPLE = {"street", "city", "county", "neighborhood", "neighbourhood", "place", "location", "offense", "crime",
              "file", "dataset", "agency", "beat", "division", "district", "area", "zone", "state", "park",
              "business", "premise", "premises", "school", "company", "organization", "organisation", "event",
              "source", "category", "column", "field", "road", "avenue", "block", "venue", "facility"}


def _words(header: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", str(header))
    return [w for w in re.split(r"[^a-z0-9]+", spaced.lower()) if w]


def holds_names(header: str) -> bool:
    """Whether a column's header says it holds people's names (see NAME_WORDS)."""
    words = _words(header)
    if any(w in NAME_WORDS for w in words) or any(w.endswith(("firstname", "lastname")) for w in words):
        return not any(w in NOT_PEOPLE for w in words)
    bare = [re.sub(r"s?\d*$", "", w) for w in words if not w.isdigit()]
    return bool(bare) and all(w in ROLE_WORDS for w in bare)


def excerpt(text: object, limit: int = 80) -> str:
    """A short, escaped excerpt of a value from a file, for a message.

    Control characters are escaped and the text cut to `limit` characters, so a message never echoes a file's
    content (loading /etc/passwd through a link shows no line).
    """
    cut = str(text)[:limit]
    cut = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in cut)
    return cut + ("..." if len(str(text)) > limit else "")


@dataclass
class RawTable:
    """A file read as strings, with the lines that could not be parsed."""

    frame: pd.DataFrame
    bad_lines: list[tuple[int, str, str]] = field(default_factory=list)  # (row, reason, raw)
    notes: list[str] = field(default_factory=list)


def sha256(path: Path) -> str:
    """A file's SHA-256, read in blocks: the load log's identity of a file, so a file loaded twice is skipped."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_bytes(path: Path) -> bytes:
    with Path(path).open("rb") as fh:
        magic = fh.read(2)
    if magic != GZIP_MAGIC:
        return Path(path).read_bytes()
    out = bytearray()
    with gzip.open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            out += block
            _check_size(len(out), path)
    return bytes(out)


def _check_size(n: int, path: Path) -> None:
    cap = max_uncompressed()
    if n > cap:
        raise SchemaError(f"{excerpt(Path(path).name)}: refused: it decompresses to more than {cap / 1e6:,.0f} MB "
                          "(the limit, KC_VIOLENCE_MAX_UNCOMPRESSED)")


def check_gzip_size(path: Path) -> None:
    """Refuse a gzip file whose content is larger than the limit, counted by decompressing it as a stream.

    A compression bomb never reaches memory, and the size in the gzip trailer, which could lie, is not trusted.
    """
    n = 0
    with gzip.open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            n += len(block)
            _check_size(n, path)


def header_names(path: Path) -> list[str]:
    """The column names of a file's first line (after check_header)."""
    check_header(path)
    opener = gzip.open if _is_gzip(path) else open
    with opener(path, "rb") as fh:
        first = fh.readline(MAX_HEADER_BYTES + 1).decode("utf-8-sig", errors="replace")
    return [c.strip() for c in next(csv.reader([first], delimiter=_delimiter(first, [])), [])]


def check_header(path: Path) -> None:
    """Refuse a file whose first line is not a plausible CSV header, before any parser sees it.

    A line longer than MAX_HEADER_BYTES, or with more than MAX_COLUMNS fields, is refused: a million-column header
    took minutes to reject.
    """
    opener = gzip.open if _is_gzip(path) else open
    try:
        with opener(path, "rb") as fh:
            first = fh.readline(MAX_HEADER_BYTES + 1)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise SchemaError(f"{excerpt(Path(path).name)}: cannot read the file ({excerpt(exc)})") from exc
    name = excerpt(Path(path).name)
    if len(first) > MAX_HEADER_BYTES:
        raise SchemaError(f"{name}: refused: the first line is longer than {MAX_HEADER_BYTES:,} bytes, not a header")
    text = first.decode("utf-8", errors="replace")
    fields = max(text.count(d) for d in (",", ";", "\t", "|")) + 1
    if fields > MAX_COLUMNS:
        raise SchemaError(f"{name}: refused: the header has {fields:,} columns (the limit is {MAX_COLUMNS:,})")


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
    check_header(path)
    try:
        text = _decode(_read_bytes(path), notes)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise SchemaError(f"{excerpt(Path(path).name)}: cannot read the file ({excerpt(exc)})") from exc
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
        raise SchemaError(f"{excerpt(Path(path).name)}: not a readable CSV file ({excerpt(exc, 160)})") from exc
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
    """The columns that hold people's names (see holds_names)."""
    return [c for c in columns if holds_names(c)]


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
    """Refuse a file whose columns do not fit: `needed` maps canonical name -> what it is.

    The message lists the file's own headers (`published`, before any renaming).
    """
    missing = [f"{name} ({what})" for name, what in needed.items() if name not in frame.columns]
    if missing:
        found = _shown_columns([c for c in (published or frame.columns) if c != ROW])
        raise SchemaError(
            f"{file}: not a {source} file: missing column(s) {', '.join(missing)}. Columns found: {found}"
        )


def _shown_columns(columns: list[str]) -> str:
    """The columns of a refused file, for its message: at most 20, and only names that look like column names.

    A line of another kind of file, such as a system file behind a link, is never echoed.
    """
    plausible = [c for c in columns if re.fullmatch(r"[\w .()#/-]{1,40}", str(c))]
    shown = ", ".join(plausible[:20]) + (" ..." if len(plausible) > 20 else "")
    hidden = len(columns) - len(plausible)
    return (shown or "none that look like column names") + (f" (and {hidden} not shown)" if hidden and shown else "")


@dataclass
class Staged:
    """A file staged in DuckDB for staged adapters: the temporary view `_staged` (_row, c0, c1, ...).

    Every value is a string and `_row` the 1-based data record number; `columns` are the file's own headers for c0,
    c1, ...
    """

    columns: list[str]
    rows_read: int
    bad_lines: list[tuple[int, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def stage(con: duckdb.DuckDBPyConnection, path: Path) -> Staged:
    """Stage a CSV in DuckDB: DuckDB's own reader for well-formed files, read_csv_text for the others.

    DuckDB's reader takes millions of rows in seconds; a file it refuses (malformed lines, another encoding, empty,
    odd headers) goes through read_csv_text, which keeps the good rows and explains the rest. Either way name columns
    are dropped and rows with an oversize field rejected.
    """
    path = Path(path)
    notes: list[str] = []
    check_header(path)
    if _is_gzip(path):
        check_gzip_size(path)
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
