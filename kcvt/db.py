"""Opening the database read-only, and telling whether it fits this version of the data model (else it is rebuilt:
the app starts that build at first run, `etl` before a load or refresh)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import duckdb

from kcvt.settings import db_path

#: The data model (tables, views) both the loader and the readers rely on, and its version: a database whose
#: build_info holds another hash was built by another version and is rebuilt rather than read.
SCHEMA_SQL = (Path(__file__).with_name("schema.sql")).read_text()
SCHEMA_SHA256 = hashlib.sha256(SCHEMA_SQL.encode()).hexdigest()


class DataUnavailable(Exception):
    """The database does not exist (yet) or cannot be opened."""


def connect(path: Path | None = None) -> duckdb.DuckDBPyConnection:
    """A read-only connection (readers never write). Raises DataUnavailable when there is no database, or when it was
    built by another version of the data model: a stale model is rebuilt, never read."""
    path = Path(path or db_path())
    if not path.exists():
        raise DataUnavailable(f"no database at {path}: run `python -m etl build`")
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise DataUnavailable(f"cannot open {path}: {exc}") from exc
    if not _current_model(con):
        con.close()
        raise DataUnavailable(f"{path} was built by another version of the data model: run `python -m etl build`")
    return con


def _current_model(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the database was built with this code's data model: its build_info holds SCHEMA_SHA256."""
    try:
        return con.execute("SELECT schema_sha256 FROM build_info").fetchall() == [(SCHEMA_SHA256,)]
    except duckdb.Error:  # no build_info table: built before the model was versioned
        return False


def versioned_path(path: Path) -> Path:
    """A hard link named after the file's current version (inode and modification time).

    DuckDB keeps one database instance per path in a process, so after a build or refresh swaps a
    new file in, connecting to the same path again would still read the replaced file. Connecting
    through a per-version link reads the new one, while sessions that still hold the old connection
    keep working on the old file until they let go. Older links are removed (open files stay readable).
    """
    path = Path(path)
    info = path.stat()
    link = path.with_name(f".{path.name}.v{info.st_ino}-{info.st_mtime_ns}")
    if not link.exists():
        try:
            os.link(path, link)
        except OSError:
            return path  # a file system without hard links: fall back to the path itself
        for old in path.parent.glob(f".{path.name}.v*"):
            if old != link:
                old.unlink(missing_ok=True)
    return link


def needs_build(path: Path | None = None) -> bool:
    """True when there is no database, or when it was built by another version of the data model (schema)."""
    path = Path(path or db_path())
    if not path.exists():
        return True
    try:
        with duckdb.connect(str(versioned_path(path)), read_only=True) as con:
            return not _current_model(con)
    except duckdb.Error:
        return True
