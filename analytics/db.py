"""Opening the database: read-only for queries, built on first use when missing."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from analytics.settings import db_path


class DataUnavailable(Exception):
    """The database does not exist (yet) or cannot be opened."""


def connect(path: Path | None = None) -> duckdb.DuckDBPyConnection:
    """A read-only connection. Raises DataUnavailable if there is no database."""
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
    """Whether the database was built with this code's schema (etl/schema.sql)."""
    from etl.load import SCHEMA_SHA256

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


def ensure_built(path: Path | None = None, progress: bool = False) -> bool:
    """Build the database from data/ (bundled and user-loaded files) if it is missing or was built by another version
    of the data model. Returns True when it built one."""
    path = Path(path or db_path())
    if not needs_build(path):
        return False
    from etl.build import build  # the loader is only needed on first run

    build(path, progress=progress)
    return True
