"""Whole-database operations, each atomic: work on a copy, swap it in only when complete.

A failure or a kill at any point leaves the previous database file untouched and
serving; the half-written copy is removed (or, after a kill, ignored and replaced
by the next run).
"""

from __future__ import annotations

import gzip
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd
from tqdm import tqdm

from etl import adapters, load, reference
from etl.errors import SchemaError
from etl.extract import clean_copy, excerpt, header_names, name_columns, read_csv_text, sha256, stage, unstage
from etl.load import CoverageSpec, LoadResult
from etl.rollup import rollup
from kcvt.db import needs_build
from kcvt.locks import writer_lock
from kcvt.settings import DATA_DIR, MANIFEST, db_path, user_dir

#: DuckDB's memory limit while a build or load writes (its default is 80% of RAM). Past it, DuckDB spills temporary
#: tables and operators to a directory beside the copy (removed when it closes): a 5M-row load peaked at 3.3 GB
#: resident without it. Pandas frames (points being placed, the coordinate check) come on top. An environment
#: variable, KC_VIOLENCE_LOAD_MEMORY, overrides it (a DuckDB size such as '4GB').
LOAD_MEMORY_LIMIT = "1GB"


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
    con.execute("SET memory_limit = ?", [os.environ.get("KC_VIOLENCE_LOAD_MEMORY", LOAD_MEMORY_LIMIT)])
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


def load_one(con, path: Path, source_id: str, adapter: str | None, spec: CoverageSpec,
             replace: bool = False) -> LoadResult:
    """Load one file into the open database copy (skipped when its checksum is in the load log, unless `replace`).

    KCPD person-rows merge with the rows already loaded for their reports; `replace` makes the file's rows replace
    them, which is worth doing to a file already loaded too: its reports may have merged with another file's rows
    since (`etl load --replace` is how a user says so).
    """
    file = load.relative(path)
    sha = sha256(path)
    done = None if replace else load.already_loaded(con, sha, source_id)
    if done:
        return LoadResult(done[0], file, source_id, 0, 0, 0, 0, skipped=True,
                          message=f"already loaded as load #{done[0]} ({done[1]}, {done[2]:%Y-%m-%d %H:%M}); nothing changed")
    name = adapter or adapters.DEFAULT_ADAPTER[source_id]
    try:
        if name in adapters.STAGED:
            parsed = adapters.STAGED[name](con, stage(con, path), file, source_id, replace=replace)
        else:
            parsed = adapters.TEXT[name](read_csv_text(path), file, source_id)
        return load.write(con, parsed, file, sha, spec)
    finally:
        unstage(con)


def bundled_files() -> list[tuple[Path, str, str | None, CoverageSpec, bool]]:
    """The files a build loads: the manifest's bundled files, then files users loaded (data/user/<source>/).

    Each as (path, source, adapter, coverage, replace), replace saying whether the file's reports replace those
    already loaded (refreshes, --replace), so a build repeats every load exactly.
    """
    manifest = pd.read_csv(MANIFEST, dtype=str, keep_default_na=False)
    out = [
        (DATA_DIR / r.file, r.source_id, r.adapter,
         CoverageSpec(r.coverage_start or None, r.coverage_end or None, r.status, True), False)
        for r in manifest.itertuples()
    ]
    manifest = user_dir() / "manifest.csv"
    if manifest.exists():
        for r in pd.read_csv(manifest, dtype=str, keep_default_na=False).to_dict("records"):
            spec = CoverageSpec(r.get("coverage_start") or None, r.get("coverage_end") or None,
                                declare=r.get("declare") == "true")
            out.append((_under_user_dir(r["file"]), r["source_id"], None, spec, r.get("replace") == "true"))
    return out


def _under_user_dir(name: str) -> Path:
    """A kept file's path from the user manifest (a file users can edit: a path must stay under data/user)."""
    base = user_dir().resolve()
    path = (base / name).resolve()
    if not path.is_relative_to(base):
        raise SchemaError(f"{user_dir() / 'manifest.csv'}: file {excerpt(name)} is outside {base}; fix the manifest")
    return path


def keep_user_file(path: Path, source_id: str, spec: CoverageSpec, name: str | None = None,
                   replace: bool = False) -> Path:
    """Keep a loaded file under data/user/<source>/ and record how it was loaded, so builds repeat it exactly.

    Columns that hold people's names are dropped from the kept copy.
    """
    keep = user_dir() / source_id / (name or f"{sha256(path)[:12]}-{Path(path).name}")
    keep.parent.mkdir(parents=True, exist_ok=True)
    if not keep.exists():
        copy_without_names(path, keep)
    manifest = user_dir() / "manifest.csv"
    row = pd.DataFrame([{"file": str(keep.relative_to(user_dir())), "source_id": source_id,
                         "coverage_start": spec.start or "", "coverage_end": spec.end or "",
                         "declare": "true" if spec.declare else "false", "replace": "true" if replace else "false"}])
    old = pd.read_csv(manifest, dtype=str, keep_default_na=False) if manifest.exists() else row.iloc[0:0]
    merged = pd.concat([old[old.file != row.file.iloc[0]], row], ignore_index=True).fillna("")
    tmp = manifest.with_name(f"manifest.csv.tmp-{os.getpid()}")
    merged.to_csv(tmp, index=False)
    os.replace(tmp, manifest)
    return keep


def copy_without_names(path: Path, keep: Path) -> None:
    """Copy a file as it is, or, when its header has columns that hold names, rewritten without them.

    The rewrite is the careful reader's clean copy (a line at a time, so a large file never sits in memory); rows it
    cannot read are left out, as a load rejects them.
    """
    if not name_columns(header_names(path)):
        shutil.copyfile(path, keep)
        return
    tmp = keep.with_name(keep.name + f".tmp-{os.getpid()}")
    try:
        clean_copy(path, tmp, row_numbers=False)
        if keep.suffix == ".gz":
            with tmp.open("rb") as plain, gzip.open(f"{tmp}.gz", "wb") as packed:
                shutil.copyfileobj(plain, packed)
            os.replace(f"{tmp}.gz", keep)
        else:
            os.replace(tmp, keep)
    finally:
        tmp.unlink(missing_ok=True)
        Path(f"{tmp}.gz").unlink(missing_ok=True)


def build(target: Path | None = None, progress: bool = True) -> list[LoadResult]:
    """Rebuild the whole database from data/ (bundled files, then user-loaded files)."""
    target = Path(target or db_path())
    results = []
    files = bundled_files()
    with writer_lock(target, "etl build"), swapped(target, start_from_current=False) as con:
        load.init_schema(con)
        for path, source_id, adapter, spec, replace in tqdm(files, desc="Loading files", unit="file",
                                                            disable=not progress):
            results.append(load_one(con, path, source_id, adapter, spec, replace))
        rollup(con)
    return results


class _Preview(Exception):
    """Raised inside the swap to discard a load that was only previewed."""


def load_file(path: Path, source_id: str, target: Path | None = None, progress: bool = True, replace: bool = False,
              preview: bool = False, covers: tuple[str, str] | None = None) -> LoadResult:
    """Add a user's file (city portal CSV, GVA export) to the database, atomically.

    KCPD person-rows merge with the rows already loaded for their reports, so a partial file never shrinks a
    report; `replace` makes the file's reports replace the loaded ones. `preview` loads into the private copy,
    measures the effect (LoadResult.changes: incidents by year before and after) and discards it. `covers`
    (first month, last month or day) declares the span the file covers; without it, a file covers the months it
    has rows in. The file is kept under data/user/<source>/ so later builds include it.
    """
    path = Path(path)
    if source_id not in adapters.DEFAULT_ADAPTER:
        reference.source_kind(source_id)  # raises UnknownSource for a typo
        raise ValueError(f"files for source {source_id!r} are bundled, not loaded by users")
    spec = CoverageSpec(*covers) if covers else CoverageSpec()
    target = Path(target or db_path())
    with writer_lock(target, f"etl load {path.name[:40]}"):
        if needs_build(target):
            build(target, progress=progress)
        try:
            with swapped(target, start_from_current=True) as con:
                before = year_counts(con, source_id)
                result = load_one(con, path, source_id, None, spec, replace)
                if not result.skipped:
                    rollup(con)
                after = year_counts(con, source_id)
                result.changes = {y: (before.get(y, 0), after.get(y, 0)) for y in sorted(set(before) | set(after))
                                  if before.get(y, 0) != after.get(y, 0)}
                if preview:
                    raise _Preview
        except _Preview:
            result.message = "; ".join(m for m in (result.message, "preview: nothing was changed") if m)
            return result
        if not result.skipped:
            keep_user_file(path, source_id, spec, replace=replace)
    return result


def year_counts(con: duckdb.DuckDBPyConnection, source_id: str) -> dict[int, int]:
    """Incidents of a source by year of their counted date (what a load or refresh is judged by)."""
    rows = con.execute("SELECT year(event_date), count(*) FROM incidents WHERE source_id = ? GROUP BY 1",
                       [source_id]).fetchall()
    return {int(y): int(n) for y, n in rows}
