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
        return duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise DataUnavailable(f"cannot open {path}: {exc}") from exc


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


def ensure_built(path: Path | None = None, progress: bool = False) -> bool:
    """Build the database from data/ if it is missing. Returns True when it built one."""
    path = Path(path or db_path())
    if path.exists():
        return False
    from etl.build import build  # the loader is only needed on first run

    build(path, progress=progress)
    return True
