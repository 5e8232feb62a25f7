"""Shared fixtures: one real database built from the bundled data per test session."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb
import pytest

from etl.build import build
from kcvt.settings import DATA_DIR

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
    return path


def pytest_configure(config):
    """Never read or write the developer's own data/user or registry: the session gets empty ones."""
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="kc-tests-"))
    os.environ["KC_VIOLENCE_USER_DIR"] = str(base / "user")
    os.environ["KC_VIOLENCE_REGISTRY"] = str(base / "registry" / "events.csv")
    os.environ["KC_VIOLENCE_WATCH"] = str(base / "registry" / "watch.csv")


@pytest.fixture(autouse=True)
def user_files(tmp_path, monkeypatch) -> Path:
    """Every test (and every process it starts) keeps loaded and refreshed files in its own folder."""
    monkeypatch.setenv("KC_VIOLENCE_USER_DIR", str(tmp_path / "user"))
    return tmp_path / "user"


@pytest.fixture(autouse=True)
def registry_file(tmp_path, monkeypatch) -> Path:
    """Every test gets its own canvass registry, seeded with the real events on first use."""
    path = tmp_path / "registry" / "canvass_events.csv"
    monkeypatch.setenv("KC_VIOLENCE_REGISTRY", str(path))
    return path


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text.strip() + "\n", encoding="utf-8")
    return path
