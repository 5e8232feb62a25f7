"""Read published files as text: every value a string, every row numbered.

Nothing is interpreted here; adapters validate. Bad lines (wrong field count) are
returned as rejects rather than dropped.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from etl.errors import SchemaError
from etl.model import register
from etl.names import holds_names, name_columns
from kcvt.settings import MAX_COLUMNS, MAX_HEADER_BYTES, max_uncompressed

GZIP_MAGIC = b"\x1f\x8b"
ROW = "_row"  # 1-based data record number (header excluded)
__all__ = ["holds_names", "name_columns"]  # the one rule (etl.names), also imported from here

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
    gz = _is_gzip(path)
    if not gz and Path(path).suffix.lower() == ".gz":  # else its bytes are read as text: "missing columns"
        raise SchemaError(f"{excerpt(Path(path).name)}: not a gzip file, though its name ends in .gz")
    opener = gzip.open if gz else open
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


MAX_FIELD = 10_000  # characters; no published field comes close (block addresses, 20-character offense labels)
MAX_LINE = 32 * 1024 * 1024  # characters of one physical line the careful reader holds; a longer line is rejected
OVERLONG = "\0overlong line\0"  # what _bounded_lines puts in place of a longer line
csv.field_size_limit(MAX_LINE)  # the csv module's own limit (128 KiB) would refuse what MAX_FIELD explains


@dataclass
class CleanCopy:
    """What clean_copy wrote: the kept headers (names dropped, repeats numbered), rows written, rows rejected."""

    columns: list[str]
    rows: int
    bad_lines: list[tuple[int, str, str]] = field(default_factory=list)  # (record, reason, raw)
    notes: list[str] = field(default_factory=list)


def clean_copy(path: Path, out: Path, row_numbers: bool = True) -> CleanCopy:
    """The careful reader: a file DuckDB's strict reader refused, rewritten as plain UTF-8 CSV one line at a time.

    It keeps the good rows and explains the rest, in memory that does not grow with the file: a 99 MB file of
    3.45 million short rows with one bad line once took the loader to 3.4 GB when the whole file was read at once
    (docs/benchmarks.md). Another encoding is read as Windows-1252; another delimiter is followed; short rows are
    padded; blank lines are skipped; a row with more fields than the header, a line over MAX_LINE or a
    field over MAX_FIELD characters is rejected with its record and line number. Name columns never reach `out`
    nor a rejected row's text. With `row_numbers`, the first column `_row` is each row's record number (1-based,
    header excluded, rejected records counted), so rejects and loaded rows are numbered alike. Raises SchemaError
    when there is no header or no row.
    """
    path = Path(path)
    check_header(path)
    notes: list[str] = []
    bad_byte = _first_non_utf8(path)
    if bad_byte is not None:
        notes.append(f"file is not UTF-8 (byte {bad_byte}); read as Windows-1252")
    encoding = "utf-8-sig" if bad_byte is None else "cp1252"
    gz = _is_gzip(path)
    try:
        with (gzip.open(path, "rt", encoding=encoding, errors="replace", newline="") if gz else
              path.open(encoding=encoding, errors="replace", newline="")) as fh, out.open("w", newline="") as dest:
            first = fh.readline(MAX_HEADER_BYTES + 1)
            while first and not first.strip():  # blank lines before the header
                first = fh.readline(MAX_HEADER_BYTES + 1)
            if not first:
                raise SchemaError(f"{excerpt(path.name)}: the file is empty")
            return _copy_rows(path, first, fh, csv.writer(dest, lineterminator="\n"), notes, row_numbers)
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise SchemaError(f"{excerpt(path.name)}: cannot read the file ({excerpt(exc)})") from exc


def _copy_rows(path: Path, first: str, fh, writer, notes: list[str], row_numbers: bool) -> CleanCopy:
    sep = _delimiter(first, notes)
    lines: list[str] = []  # why an overlong line was cut (_bounded_lines), read back at its OVERLONG row
    reader = csv.reader(_bounded_lines(first, fh, lines), delimiter=sep)
    header = _header(next(reader, []))
    if not header:
        raise SchemaError(f"{excerpt(path.name)}: the file is empty")
    names = set(name_columns(header))
    if names:
        notes.append(f"dropped column(s) {', '.join(c for c in header if c in names)}: personal names are never stored")
    keep = [k for k, c in enumerate(header) if c not in names]
    writer.writerow((["_row"] if row_numbers else []) + [header[k] for k in keep])
    bad: list[tuple[int, str, str]] = []
    record = written = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            record += 1
            bad.append((record, f"line {reader.line_num}: unreadable ({excerpt(exc)})", ""))
            continue
        if not row or (len(row) == 1 and not row[0]):
            continue  # a blank line is no record
        record += 1
        if row == [OVERLONG]:
            bad.append((record, f"line {reader.line_num}: {lines.pop()}", ""))
            continue
        kept = [row[k] if k < len(row) else "" for k in keep]
        extra = [] if names else row[len(header):]  # beside a name column, a field out of place may be a name
        raw = ",".join((v[:200] if v else "nan") for v in kept + extra)[:2000]
        longest = max((len(v) for v in kept), default=0)
        if len(row) > len(header):
            bad.append((record, f"line {reader.line_num}: row has {len(row)} fields, the header has {len(header)}", raw))
        elif longest > MAX_FIELD:
            bad.append((record, f"a field is {longest:,} characters long (limit {MAX_FIELD:,})", raw))
        else:
            writer.writerow(([record] if row_numbers else []) + kept)
            written += 1
    if not written:
        raise SchemaError(f"{excerpt(path.name)}: the file has a header but no data rows")
    return CleanCopy([header[k] for k in keep], written, bad, notes)


def _header(fields: list[str]) -> list[str]:
    """Header names stripped; blank ones named by position and repeated ones numbered, as pandas names them."""
    out: list[str] = []
    for k, name in enumerate(c.strip().replace("\n", " ") for c in fields):
        name = name or f"Unnamed: {k}"
        base, n = name, 0
        while name in out:
            n += 1
            name = f"{base}.{n}"
        out.append(name)
    return out


def _bounded_lines(first: str, fh, reasons: list[str]):
    """The file's lines, none longer than MAX_LINE characters, so one line never fills memory.

    A longer one is read through in pieces and replaced by the line OVERLONG, so its record is rejected (with the
    reason left in `reasons`).
    """
    yield first
    while line := fh.readline(MAX_LINE):
        if len(line) == MAX_LINE and not line.endswith("\n"):
            n = len(line)
            while (more := fh.readline(MAX_LINE)) and n < 1 << 40:
                n += len(more)
                if more.endswith("\n"):
                    break
            reasons.append(f"a line of {n:,} characters (limit {MAX_LINE:,})")
            line = OVERLONG + "\n"
        yield line


def _first_non_utf8(path: Path) -> int | None:
    """The offset of the first byte that is not UTF-8, read as a stream (a gzip file under its size cap)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    gz, n = _is_gzip(path), 0
    try:
        with gzip.open(path, "rb") if gz else path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                try:
                    decoder.decode(block)
                except UnicodeDecodeError as exc:
                    return n + exc.start
                n += len(block)
                if gz:
                    _check_size(n, path)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        return n + exc.start
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        raise SchemaError(f"{excerpt(path.name)}: cannot read the file ({excerpt(exc)})") from exc
    return None


def read_csv_text(path: Path) -> RawTable:
    """A file read by the careful reader (clean_copy) into a data frame of strings, for the text adapters.

    Raises SchemaError when nothing usable is there.
    """
    with tempfile.TemporaryDirectory(prefix="kcvt-read-") as tmp:
        clean = clean_copy(path, Path(tmp) / "clean.csv")
        frame = pd.read_csv(Path(tmp) / "clean.csv", dtype=str, keep_default_na=False, na_values=[""])
    frame[ROW] = frame[ROW].astype(int)
    return RawTable(frame=frame, bad_lines=clean.bad_lines, notes=clean.notes)


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
    """Stage a CSV in DuckDB: DuckDB's own reader for well-formed files, the careful reader (clean_copy) for others.

    DuckDB's reader takes millions of rows in seconds; a file it refuses (malformed lines, another encoding, empty,
    odd headers) is rewritten by clean_copy, a line at a time, which keeps the good rows and explains the rest, and
    its clean copy staged by the same reader. Either way name columns are dropped and rows with an oversize field
    rejected.
    """
    path = Path(path)
    notes: list[str] = []
    check_header(path)
    if _is_gzip(path):
        check_gzip_size(path)
    try:
        header = _fast_stage(con, path, notes)
    except (duckdb.Error, UnicodeDecodeError, OSError, EOFError, gzip.BadGzipFile, csv.Error, ValueError):
        return _careful_stage(con, path)  # raises SchemaError when nothing is usable
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


def _careful_stage(con: duckdb.DuckDBPyConnection, path: Path) -> Staged:
    """A refused file's clean copy (clean_copy: first column its record numbers) staged by DuckDB's reader."""
    with tempfile.TemporaryDirectory(prefix="kcvt-stage-") as tmp:
        clean = clean_copy(path, Path(tmp) / "clean.csv")
        _read_raw(con, Path(tmp) / "clean.csv", ",", len(clean.columns) + 1, gz=False)
    renamed = ", ".join(f"c{k + 1} AS c{k}" for k in range(len(clean.columns)))
    con.execute(f"CREATE OR REPLACE TEMP VIEW _staged AS SELECT CAST(c0 AS BIGINT) AS _row, {renamed} "  # noqa: S608
                "FROM _raw")
    return Staged(clean.columns, clean.rows + len(clean.bad_lines), clean.bad_lines, clean.notes)


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
    _read_raw(con, path, sep, len(header), gz)
    return header


def _read_raw(con: duckdb.DuckDBPyConnection, path: Path, sep: str, width: int, gz: bool) -> None:
    """The temporary table _raw (c0, c1, ...: strings) from a CSV, strictly: any malformed line raises.

    A line may be as long as a clean copy's can (MAX_COLUMNS fields of MAX_FIELD characters).
    """
    names = [f"c{k}" for k in range(width)]
    con.execute("DROP VIEW IF EXISTS _staged")
    con.execute("DROP TABLE IF EXISTS _raw")
    con.execute(
        """CREATE TEMP TABLE _raw AS SELECT * FROM read_csv(?, delim = ?, quote = '"', escape = '"', header = true,
           auto_detect = false, columns = ?, strict_mode = true, null_padding = false, encoding = 'utf-8',
           compression = ?, max_line_size = ?)""",
        [str(path), sep, {n: "VARCHAR" for n in names}, "gzip" if gz else "none", MAX_COLUMNS * MAX_FIELD * 3])


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
