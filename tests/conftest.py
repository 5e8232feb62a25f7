"""Shared fixtures: one real database built from the bundled data per test session."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb
import pytest

from analytics.settings import DATA_DIR
from etl.build import build

RAW = DATA_DIR / "raw"


@pytest.fixture(scope="session")
def built_db(tmp_path_factory) -> Path:
    """The real database, built once from data/ (no user files) into a temp folder."""
    path = tmp_path_factory.mktemp("db") / "kc.duckdb"
    build(path, progress=False)
    os.environ["KC_VIOLENCE_DB"] = str(path)  # pages and CLIs read this
    return path


@pytest.fixture(scope="session")
def con(built_db) -> duckdb.DuckDBPyConnection:
    c = duckdb.connect(str(built_db), read_only=True)
    yield c
    c.close()


@pytest.fixture
def db_copy(built_db, tmp_path, monkeypatch) -> Path:
    """A private, writable copy of the real database for tests that load files into it."""
    path = tmp_path / "copy.duckdb"
    shutil.copyfile(built_db, path)
    monkeypatch.setenv("KC_VIOLENCE_DB", str(path))
    monkeypatch.setattr("etl.build.USER_DATA_DIR", tmp_path / "user")
    return path


@pytest.fixture(autouse=True)
def registry_file(tmp_path, monkeypatch) -> Path:
    """Every test gets its own canvass registry, seeded with the real events on first use."""
    path = tmp_path / "registry" / "canvass_events.csv"
    monkeypatch.setenv("KC_VIOLENCE_REGISTRY", str(path))
    return path


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text.strip() + "\n", encoding="utf-8")
    return path
