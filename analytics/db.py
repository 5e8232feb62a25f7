"""Opening the database: read-only for queries, built on first use when missing."""

from __future__ import annotations

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


def ensure_built(path: Path | None = None, progress: bool = False) -> bool:
    """Build the database from data/ if it is missing. Returns True when it built one."""
    path = Path(path or db_path())
    if path.exists():
        return False
    from etl.build import build  # the loader is only needed on first run

    build(path, progress=progress)
    return True
