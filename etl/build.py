"""Whole-database operations, each atomic: work on a copy, swap it in only when complete.

A failure or a kill at any point leaves the previous database file untouched and
serving; the half-written copy is removed (or, after a kill, ignored and replaced
by the next run).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd
from tqdm import tqdm

from analytics.db import needs_build
from analytics.settings import DATA_DIR, MANIFEST, db_path, user_dir
from etl import adapters, load, reference
from etl.extract import read_csv_text, sha256, stage, unstage
from etl.load import CoverageSpec, LoadResult


@contextmanager
def swapped(target: Path, start_from_current: bool) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to a private copy of `target`, renamed over it only if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_copies(target)
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    if start_from_current and target.exists():
        shutil.copyfile(target, tmp)
    con = duckdb.connect(str(tmp))
    con.execute("SET enable_progress_bar = false")  # loads report their own progress
    try:
        yield con
        con.execute("CHECKPOINT")
        con.close()
        os.replace(tmp, target)
    except BaseException:
        con.close()
        tmp.unlink(missing_ok=True)
        Path(f"{tmp}.wal").unlink(missing_ok=True)
        raise


def _remove_stale_copies(target: Path) -> None:
    """Delete half-written copies left by runs that were killed (their process is gone)."""
    for stale in target.parent.glob(f"{target.name}.tmp-*"):
        pid = stale.name.split(".tmp-")[1].split(".")[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            stale.unlink(missing_ok=True)


def _load_one(con, path: Path, source_id: str, adapter: str | None, spec: CoverageSpec) -> LoadResult:
    file = load.relative(path)
    sha = sha256(path)
    done = load.already_loaded(con, sha, source_id)
    if done:
        return LoadResult(done[0], file, source_id, 0, 0, 0, 0, skipped=True,
                          message=f"already loaded as load #{done[0]} ({done[1]}, {done[2]:%Y-%m-%d %H:%M}); nothing changed")
    name = adapter or adapters.DEFAULT_ADAPTER[source_id]
    try:
        if name in adapters.STAGED:
            parsed = adapters.STAGED[name](con, stage(con, path), file, source_id)
        else:
            parsed = adapters.ADAPTERS[name](read_csv_text(path), file, source_id)
        return load.write(con, parsed, file, sha, spec)
    finally:
        unstage(con)


def bundled_files() -> list[tuple[Path, str, str, CoverageSpec]]:
    """The manifest's bundled files, then files users loaded (kept under data/user/<source>/)."""
    manifest = pd.read_csv(MANIFEST, dtype=str, keep_default_na=False)
    out = [
        (DATA_DIR / r.file, r.source_id, r.adapter, CoverageSpec(r.coverage_start or None, r.coverage_end or None, r.status, True))
        for r in manifest.itertuples()
    ]
    manifest = user_dir() / "manifest.csv"
    if manifest.exists():
        for r in pd.read_csv(manifest, dtype=str, keep_default_na=False).itertuples():
            spec = CoverageSpec(r.coverage_start or None, r.coverage_end or None, declare=r.declare == "true")
            out.append((user_dir() / r.file, r.source_id, None, spec))
    return out


def keep_user_file(path: Path, source_id: str, spec: CoverageSpec, name: str | None = None) -> Path:
    """Keep a loaded file under data/user/<source>/ and record how it was loaded, so builds repeat it exactly."""
    keep = user_dir() / source_id / (name or f"{sha256(path)[:12]}-{Path(path).name}")
    keep.parent.mkdir(parents=True, exist_ok=True)
    if not keep.exists():
        shutil.copyfile(path, keep)
    manifest = user_dir() / "manifest.csv"
    row = pd.DataFrame([{"file": str(keep.relative_to(user_dir())), "source_id": source_id,
                         "coverage_start": spec.start or "", "coverage_end": spec.end or "",
                         "declare": "true" if spec.declare else "false"}])
    old = pd.read_csv(manifest, dtype=str, keep_default_na=False) if manifest.exists() else row.iloc[0:0]
    merged = pd.concat([old[old.file != row.file.iloc[0]], row], ignore_index=True)
    tmp = manifest.with_name(f"manifest.csv.tmp-{os.getpid()}")
    merged.to_csv(tmp, index=False)
    os.replace(tmp, manifest)
    return keep


def build(target: Path | None = None, progress: bool = True) -> list[LoadResult]:
    """Rebuild the whole database from data/ (bundled files, then user-loaded files)."""
    target = Path(target or db_path())
    results = []
    files = bundled_files()
    with swapped(target, start_from_current=False) as con:
        load.init_schema(con)
        for path, source_id, adapter, spec in tqdm(files, desc="Loading files", unit="file", disable=not progress):
            results.append(_load_one(con, path, source_id, adapter, spec))
        load.rollup(con)
    return results


def load_file(path: Path, source_id: str, target: Path | None = None, progress: bool = True) -> LoadResult:
    """Add a user's file (city portal CSV, GVA export) to the database, atomically.

    The file is kept under data/user/<source>/ so later builds include it.
    """
    path = Path(path)
    if source_id not in adapters.DEFAULT_ADAPTER:
        reference.source_kind(source_id)  # raises UnknownSource for a typo
        raise ValueError(f"files for source {source_id!r} are bundled, not loaded by users")
    target = Path(target or db_path())
    if needs_build(target):
        build(target, progress=progress)
    with swapped(target, start_from_current=True) as con:
        result = _load_one(con, path, source_id, None, CoverageSpec())
        if not result.skipped:
            load.rollup(con)
    if not result.skipped:
        keep_user_file(path, source_id, CoverageSpec())
    return result
