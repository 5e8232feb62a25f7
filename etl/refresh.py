"""Refresh KCPD crime data from the city's Socrata open-data portal: the orchestration.

For each yearly "KCPD Crime Data <year>" dataset (data/reference/kcpd_datasets.csv):
page through `/resource/<id>.json` ($select, $where, $order, $limit, $offset), spooling each
page to disk so an interrupted refresh resumes where it stopped; after the first full fetch,
fetch only rows updated since the dataset's watermark (Socrata's `:updated_at`), plus every
other row of the reports they belong to. Rows go through the same KCPD adapter as file loads,
in the same atomic swap: a failure, a kill or a suspicious change leaves the last good database.

What the portal sends is parsed, and every request made, by etl.soda (timestamps, SoQL literals, report numbers,
pages; retries, same-origin redirects, the token, deadlines and size caps). Here, state.json (a file anyone can
edit) is read as warily: its watermarks are parsed like the portal's; paths are built only from allow-listed
dataset ids and a timestamp's digits, and checked to stay under refresh_dir().
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd
import requests
from tqdm import tqdm

from etl import build as build_module
from etl.errors import RefreshError, SuspiciousChange
from etl.extract import excerpt
from etl.load import CoverageSpec
from etl.rollup import rollup
from etl.soda import format_timestamp, get_rows, parse_watermark, report_number, session, soql_literal, validate_page
from kcvt.db import needs_build
from kcvt.locks import writer_lock
from kcvt.settings import REFERENCE_DIR, db_path, open_data_max_rows, open_data_url, refresh_dir

DEFAULT_TOLERANCE = 0.10  # a year's incident count may move by 10% before a refresh asks for --force
PAGE_SIZE = 5000
REPORT_FIELDS = ("report_no", "report", "report_number")
BATCH = 100  # report numbers per `IN (...)` query
DATASET_ID = re.compile(r"[a-z0-9]{4}-[a-z0-9]{4}", re.ASCII)  # Socrata's "4x4"


@dataclass
class Dataset:
    """One yearly "KCPD Crime Data <year>" dataset on the portal (data/reference/kcpd_datasets.csv)."""

    year: int
    dataset_id: str


@dataclass
class RefreshResult:
    """What refreshing one dataset did (`changes`: incidents by year, before and after)."""

    dataset: Dataset
    rows: int = 0
    pages: int = 0
    incremental: bool = False
    changes: dict = field(default_factory=dict)  # year -> (before, after)
    applied: bool = False
    message: str = ""


def datasets(since: int | None = None) -> list[Dataset]:
    """The yearly datasets listed in data/reference/kcpd_datasets.csv (from year `since`): the allow-list."""
    table = pd.read_csv(REFERENCE_DIR / "kcpd_datasets.csv", dtype={"dataset_id": str})
    return [Dataset(int(r.year), r.dataset_id) for r in table.itertuples() if since is None or r.year >= since]


# --- paths: only from allow-listed identifiers, always under refresh_dir() ------------------------------------------

def checked_id(ds: Dataset) -> str:
    """The dataset id, if it may name a URL path and a folder: a Socrata 4x4 listed in kcpd_datasets.csv."""
    ds_id = ds.dataset_id
    if not (isinstance(ds_id, str) and DATASET_ID.fullmatch(ds_id) and ds_id in {d.dataset_id for d in datasets()}):
        raise RefreshError(f"refusing dataset id '{excerpt(ds_id)}': not a Socrata id listed in "
                           "data/reference/kcpd_datasets.csv")
    return ds_id


def _inside(path: Path) -> Path:
    """`path` resolved, if it stays under refresh_dir(): checked before any mkdir, write or rmtree.

    The check holds whatever built the name and whatever links lie on the way.
    """
    root = refresh_dir().resolve()
    resolved = path.resolve()
    if resolved == root or not resolved.is_relative_to(root):
        raise RefreshError(f"refusing to touch {excerpt(path, 200)}: it is not inside {root}")
    return resolved


def _label(ds: Dataset) -> str:
    return f"{checked_id(ds)} ({int(ds.year)})"


def _resource_url(ds: Dataset) -> str:
    return f"{open_data_url()}/resource/{checked_id(ds)}.json"


# --- watermarks and spooled pages ----------------------------------------------------------

def _state_path() -> Path:
    return _inside(refresh_dir() / "state.json")


def load_state() -> dict:
    """Watermarks by dataset id, from state.json.

    state.json is a file anyone can edit, read as warily as the network: it must be a JSON object, and each
    watermark is parsed where it is used (`_watermark`).
    """
    path = _state_path()
    if not path.exists():
        return {}
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError, OSError) as exc:
        raise RefreshError(f"{path}: not readable as JSON ({exc.__class__.__name__}); fix or delete it (then every "
                           "dataset is fetched whole)") from None
    if not isinstance(state, dict):
        raise RefreshError(f"{path}: expected a JSON object of datasets; fix or delete it")
    return state


def _watermark(state: dict, ds: Dataset) -> datetime | None:
    """The dataset's stored watermark, parsed like one from the network (None: fetch the dataset whole)."""
    entry = state.get(ds.dataset_id)
    stored = entry.get("watermark") if isinstance(entry, dict) else entry
    if stored is None:
        return None
    try:
        return parse_watermark(stored)
    except ValueError as exc:
        raise RefreshError(f"{_state_path()}: the watermark of {ds.dataset_id}: {exc}. Delete that entry to fetch "
                           "the dataset whole; nothing was changed") from None


def _save_state(state: dict) -> None:
    path = _state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"state.json.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
    os.replace(tmp, path)


def _spool(ds: Dataset, watermark: datetime | None) -> Path:
    """The folder of one fetch's pages, named only from the listed dataset id and the watermark's digits."""
    tag = re.sub(r"[^0-9]", "", format_timestamp(watermark)) if watermark else "full"
    return _inside(refresh_dir() / "spool" / f"{checked_id(ds)}-{tag}")


class NotPaging(RefreshError):
    """The portal sends the same rows for a new offset, or more rows than any year has: it is not paging as asked."""


def fetch_pages(s: requests.Session, ds: Dataset, watermark: datetime | None, page_size: int = PAGE_SIZE,
                progress: bool = False, max_rows: int | None = None) -> tuple[int, int]:
    """Spool every row of a dataset (or those updated after `watermark`), a page at a time; returns (rows, pages).

    Pages already on disk from an interrupted run are reused, so a refresh resumes where it stopped; rows stay on
    disk (spooled_pages reads them back). A portal that ignores `$offset` would send the same full page for ever: a
    page whose first and last rows are the previous page's is refused, as is a dataset beyond `max_rows` rows
    (KC_OPEN_DATA_MAX_ROWS), each with NotPaging.
    """
    ceiling = open_data_max_rows() if max_rows is None else max_rows
    spool = _spool(ds, watermark)
    spool.mkdir(parents=True, exist_ok=True)
    rows = page = 0
    previous: tuple | None = None
    with tqdm(desc=f"{ds.year} ({ds.dataset_id})", unit=" rows", disable=not progress) as bar:
        while True:
            batch = _page(s, ds, spool, watermark, page, page_size)
            ends = (_identity(batch[0]), _identity(batch[-1])) if batch else None
            if ends is not None and ends == previous:
                raise NotPaging(f"{_label(ds)} page {page + 1} (offset {page * page_size:,}): the portal sent the same "
                                f"rows as page {page} (it ignores $offset); refused, nothing was changed")
            previous = ends
            rows += len(batch)
            bar.update(len(batch))
            page += 1
            if len(batch) < page_size:
                return rows, page
            if rows > ceiling:
                raise NotPaging(f"{_label(ds)} page {page}: more than {ceiling:,} rows, more than any year has; the "
                                "portal is not paging as asked. Refused, nothing was changed (KC_OPEN_DATA_MAX_ROWS "
                                "sets the limit)")


def _identity(row: dict) -> str:
    """A row's Socrata `:id`, or the whole row when it has none: what tells one page from the next."""
    ident = row.get(":id")
    return ident if isinstance(ident, str) else json.dumps(row, sort_keys=True, default=str)


def spooled_pages(ds: Dataset, watermark: datetime | None) -> Iterator[list[dict]]:
    """The spooled pages of a fetch, in order, each validated again as it is read back (one page in memory)."""
    spool = _spool(ds, watermark)
    for k, path in enumerate(sorted(spool.glob("page-*.json"))):
        yield validate_page(json.loads(_inside(path).read_bytes()), f"{_label(ds)} spooled page {k + 1}")


def _page(s: requests.Session, ds: Dataset, spool: Path, watermark: datetime | None, page: int,
          page_size: int) -> list[dict]:
    """One page: the spooled copy if it is still valid (a resumed run), else fetched, validated, then spooled.

    A spooled page that fails validation is deleted and fetched again, never replayed.
    """
    what = f"{_label(ds)} page {page + 1} (offset {page * page_size:,})"
    path = _inside(spool / f"page-{page:05d}.json")
    if path.exists():
        try:
            return validate_page(json.loads(path.read_bytes()), what, page_size)
        except (ValueError, RecursionError, RefreshError):
            path.unlink()
    params = {"$select": ":*, *", "$order": ":id", "$limit": page_size, "$offset": page * page_size}
    if watermark:
        params["$where"] = f":updated_at > {soql_literal(format_timestamp(watermark))}"
    batch = get_rows(s, _resource_url(ds), params, what, limit=page_size)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(batch))
    os.replace(tmp, path)  # a page is on disk whole or not at all
    return batch


def whole_reports(s: requests.Session, ds: Dataset, changed: list[dict]) -> list[dict]:
    """Every person-row of the reports that changed (an incident is rebuilt from all its rows)."""
    field_name = next((f for f in REPORT_FIELDS if changed and f in changed[0]), None)  # from the allow-list
    if field_name is None:
        return changed
    label = _label(ds)
    reports = sorted({report_number(r[field_name], label) for r in changed if r.get(field_name)})
    out: list[dict] = []
    for i in range(0, len(reports), BATCH):
        listed = ", ".join(soql_literal(r) for r in reports[i:i + BATCH])
        out += get_rows(s, _resource_url(ds), {"$select": ":*, *", "$where": f"{field_name} IN ({listed})", "$limit": 50_000},
                    f"{label} reports {i + 1}-{min(i + BATCH, len(reports))} of {len(reports)}", limit=50_000)
    return out


def rows_to_csv(pages: Callable[[], Iterable[list[dict]]], path: Path) -> tuple[int, datetime | None]:
    """API rows -> a CSV the KCPD adapter reads (nested location objects kept as JSON text).

    Returns the rows written and their newest `:updated_at`. `pages` gives the rows a page at a time, twice (once
    for the columns, once to write), so a whole dataset is never held in memory.
    """
    columns: dict[str, None] = {}
    for page in pages():
        for r in page:
            columns.update((k, None) for k in r if not k.startswith(":@computed_region"))
    n, newest = 0, None
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for page in pages():
            for r in page:
                writer.writerow({k: (json.dumps(v) if isinstance(v, dict | list) else v) for k, v in r.items()})
                stamp = parse_watermark(r[":updated_at"])  # every row was validated, so each parses
                newest = stamp if newest is None or stamp > newest else newest
            n += len(page)
    return n, newest


# --- applying a refresh ----------------------------------------------------------------------

def _guard(before: dict, after: dict, tolerance: float) -> dict:
    """Years whose incident count moved by more than the tolerance (only years that had at least 100)."""
    jumps = {}
    for year in sorted(set(before) | set(after)):
        b, a = before.get(year, 0), after.get(year, 0)
        if b >= 100 and abs(a - b) / b > tolerance:
            jumps[year] = (b, a)
    return jumps


class _DryRun(Exception):
    pass


def refresh(since: int | None = None, dry_run: bool = False, force: bool = False,
            tolerance: float = DEFAULT_TOLERANCE, page_size: int = PAGE_SIZE, target: Path | None = None,
            progress: bool = True, http: requests.Session | None = None, deadline: float | None = None,
            max_rows: int | None = None) -> list[RefreshResult]:
    """Fetch and load each dataset in turn; each one is its own atomic swap.

    The whole run (fetch, spool, apply, state) holds the database's writer lock: another writer's swap in between
    would silently undo ours or theirs. `deadline` (seconds for one whole answer) and `max_rows` (rows of one
    dataset) default to their settings, KC_OPEN_DATA_DEADLINE and KC_OPEN_DATA_MAX_ROWS.
    """
    target = Path(target or db_path())
    with writer_lock(target, "etl refresh"):
        if needs_build(target):
            build_module.build(target, progress=progress)
        s = http or session(deadline=deadline)
        state = load_state()
        return [_refresh_one(s, ds, state, dry_run, force, tolerance, page_size, target, progress, max_rows)
                for ds in datasets(since)]


def _refresh_one(s, ds: Dataset, state: dict, dry_run: bool, force: bool, tolerance: float, page_size: int,
                 target: Path, progress: bool, max_rows: int | None) -> RefreshResult:
    watermark = _watermark(state, ds)
    spool = _spool(ds, watermark)
    try:
        n, pages = fetch_pages(s, ds, watermark, page_size, progress, max_rows)
    except NotPaging:  # its pages are no use to a later run: hundreds of MB of the same page, or too many rows
        shutil.rmtree(spool, ignore_errors=True)
        raise
    result = RefreshResult(ds, n, pages, incremental=watermark is not None)
    if not n:
        result.message = "nothing new" if watermark else "the dataset returned no rows"
        shutil.rmtree(spool, ignore_errors=True)
        return result
    if watermark:  # an incremental fetch is small: the changed rows, then every row of their reports
        changed = [r for page in spooled_pages(ds, watermark) for r in page]
        reports = whole_reports(s, ds, changed)
        rows = lambda: [reports]  # noqa: E731
    else:
        rows = lambda: spooled_pages(ds, watermark)  # noqa: E731
    csv_path = spool / f"kcpd-{int(ds.year)}-{checked_id(ds)}-{datetime.now():%Y%m%dT%H%M%S}.csv"
    written, newest = rows_to_csv(rows, csv_path)
    newest = max(newest, watermark) if watermark else newest  # the watermark never moves back
    spec = _coverage(csv_path, ds, incremental=watermark is not None)
    what = f"refresh {'since ' + format_timestamp(watermark) if watermark else 'full'}: {written} rows, {pages} pages"
    try:
        _apply(ds, csv_path, spec, target, what, result, tolerance, force, dry_run)
    except _DryRun:
        result.message = "dry run: nothing was changed"
        return result
    build_module.keep_user_file(csv_path, "kcpd", spec, name=csv_path.name, replace=True)
    state[ds.dataset_id] = {"watermark": format_timestamp(newest), "rows": written, "year": int(ds.year),
                            "last_success": datetime.now().isoformat(timespec="seconds")}
    _save_state(state)
    shutil.rmtree(spool, ignore_errors=True)
    result.applied = True
    result.message = f"loaded {written} rows"
    return result


def _apply(ds: Dataset, csv_path: Path, spec: CoverageSpec, target: Path, what: str, result: RefreshResult,
           tolerance: float, force: bool, dry_run: bool) -> None:
    """Load the fetched rows in one atomic swap, stopping on a suspicious change unless forced.

    The portal is authoritative for the reports it returned, so their rows replace the loaded ones (`replace=True`)
    rather than merging with them.
    """
    with build_module.swapped(target, start_from_current=True) as con:
        before = build_module.year_counts(con, "kcpd")
        loaded = build_module.load_one(con, csv_path, "kcpd", None, spec, replace=True)
        rollup(con)
        after = build_module.year_counts(con, "kcpd")
        result.changes = {y: (before.get(y, 0), after.get(y, 0)) for y in sorted(set(before) | set(after))
                          if before.get(y, 0) != after.get(y, 0)}
        jumps = _guard(before, after, tolerance)
        if not loaded.skipped:
            con.execute("UPDATE load_log SET file = ?, message = ? WHERE load_id = ?",
                        [_resource_url(ds), what, loaded.load_id])
        if jumps and not force:
            detail = "; ".join(f"{y}: {b:,} -> {a:,}" for y, (b, a) in jumps.items())
            raise SuspiciousChange(
                f"{ds.dataset_id} ({ds.year}) would change incident counts by more than {tolerance:.0%}: "
                f"{detail}. Nothing was changed. Check the portal, then rerun with --force to accept.")
        if dry_run:
            raise _DryRun


def _coverage(csv_path: Path, ds: Dataset, incremental: bool) -> CoverageSpec:
    """A yearly dataset covers its own year, up to the last reported date in it.

    An incremental fetch claims nothing new: late reports for earlier years must not mark those years covered.
    """
    if incremental:
        return CoverageSpec(declare=False)
    frame = pd.read_csv(csv_path, dtype=str)
    column = next((c for c in ("reported_date", "report_date", "Reported_Date") if c in frame.columns), None)
    dates = pd.to_datetime(frame[column].str[:10], errors="coerce") if column else pd.Series(dtype="datetime64[ns]")
    in_year = dates[dates.dt.year == ds.year]
    end = in_year.max()
    if pd.isna(end):
        return CoverageSpec(declare=False)
    last_day = pd.Timestamp(ds.year, 12, 31)
    return CoverageSpec(f"{ds.year}-01", f"{ds.year}-12-31" if end >= last_day else f"{end:%Y-%m-%d}")
