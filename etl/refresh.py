"""Refresh KCPD crime data from the city's Socrata open-data portal (SODA API).

For each yearly "KCPD Crime Data <year>" dataset (data/reference/kcpd_datasets.csv):
page through `/resource/<id>.json` ($select, $where, $order, $limit, $offset), spooling each
page to disk so an interrupted refresh resumes where it stopped; retry timeouts and 5xx
responses with backoff (urllib3's Retry); after the first full fetch, fetch only rows
updated since the dataset's watermark (Socrata's `:updated_at`), plus every other row of
the reports they belong to. Rows go through the same KCPD adapter as file loads, in the
same atomic swap: a failure, a kill or a suspicious change leaves the last good database.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd
import requests
from requests.adapters import HTTPAdapter
from tqdm import tqdm
from urllib3.util.retry import Retry

from analytics.db import needs_build
from analytics.settings import REFERENCE_DIR, db_path, open_data_token, open_data_url, refresh_dir
from etl import build as build_module
from etl.errors import EtlError
from etl.load import CoverageSpec

DEFAULT_TOLERANCE = 0.10  # a year's incident count may move by 10% before a refresh asks for --force
PAGE_SIZE = 5000
REPORT_FIELDS = ("report_no", "report", "report_number")
BATCH = 100  # report numbers per `IN (...)` query


class RefreshError(EtlError):
    """The portal could not be read (after retries)."""


class SuspiciousChange(EtlError):
    """A refresh would change a year's incident count by more than the tolerance."""


@dataclass
class Dataset:
    year: int
    dataset_id: str


@dataclass
class RefreshResult:
    dataset: Dataset
    rows: int = 0
    pages: int = 0
    incremental: bool = False
    changes: dict = field(default_factory=dict)  # year -> (before, after)
    applied: bool = False
    message: str = ""


def datasets(since: int | None = None) -> list[Dataset]:
    table = pd.read_csv(REFERENCE_DIR / "kcpd_datasets.csv", dtype={"dataset_id": str})
    return [Dataset(int(r.year), r.dataset_id) for r in table.itertuples() if since is None or r.year >= since]


def session(retries: int = 5, backoff: float = 0.5, timeout: float = 60.0) -> requests.Session:
    """An HTTP session that retries connection errors, timeouts and 5xx answers with exponential backoff."""
    s = requests.Session()
    retry = Retry(total=retries, connect=retries, read=retries, status=retries, backoff_factor=backoff,
                  status_forcelist=(500, 502, 503, 504), allowed_methods=frozenset({"GET"}),
                  raise_on_status=False)
    s.mount("http://", HTTPAdapter(max_retries=retry))
    s.mount("https://", HTTPAdapter(max_retries=retry))
    if token := open_data_token():
        s.headers["X-App-Token"] = token
    s.request_timeout = timeout  # type: ignore[attr-defined]
    return s


def _get(s: requests.Session, url: str, params: dict) -> list[dict]:
    try:
        r = s.get(url, params=params, timeout=getattr(s, "request_timeout", 60.0))
    except requests.RequestException as exc:
        raise RefreshError(f"{url}: no answer after retries ({exc.__class__.__name__})") from exc
    if r.status_code != 200:
        raise RefreshError(f"{url}: HTTP {r.status_code} after retries: {r.text[:200]}")
    return r.json()


# --- watermarks and spooled pages ----------------------------------------------------------

def _state_path() -> Path:
    return refresh_dir() / "state.json"


def load_state() -> dict:
    path = _state_path()
    return json.loads(path.read_text()) if path.exists() else {}


def _save_state(state: dict) -> None:
    path = _state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"state.json.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
    os.replace(tmp, path)


def _spool(ds: Dataset, watermark: str | None) -> Path:
    tag = (watermark or "full").replace(":", "").replace("-", "")
    return refresh_dir() / "spool" / f"{ds.dataset_id}-{tag}"


def fetch_pages(s: requests.Session, ds: Dataset, watermark: str | None, page_size: int = PAGE_SIZE,
                progress: bool = False) -> tuple[list[dict], int]:
    """All rows of a dataset (or those updated after `watermark`), one spooled page at a time.

    Pages already on disk from an interrupted run are reused, so a refresh resumes where it stopped.
    """
    url = f"{open_data_url()}/resource/{ds.dataset_id}.json"
    spool = _spool(ds, watermark)
    spool.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    page = 0
    bar = tqdm(desc=f"{ds.year} ({ds.dataset_id})", unit=" rows", disable=not progress)
    while True:
        path = spool / f"page-{page:05d}.json"
        if path.exists():
            batch = json.loads(path.read_text())
        else:
            params = {"$select": ":*, *", "$order": ":id", "$limit": page_size, "$offset": page * page_size}
            if watermark:
                params["$where"] = f":updated_at > '{watermark}'"
            batch = _get(s, url, params)
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(batch))
            os.replace(tmp, path)  # a page is on disk whole or not at all
        rows += batch
        bar.update(len(batch))
        page += 1
        if len(batch) < page_size:
            break
    bar.close()
    return rows, page


def whole_reports(s: requests.Session, ds: Dataset, changed: list[dict]) -> list[dict]:
    """Every person-row of the reports that changed (an incident is rebuilt from all its rows)."""
    field_name = next((f for f in REPORT_FIELDS if changed and f in changed[0]), None)
    if field_name is None:
        return changed
    reports = sorted({str(r[field_name]) for r in changed if r.get(field_name)})
    url = f"{open_data_url()}/resource/{ds.dataset_id}.json"
    out: list[dict] = []
    for i in range(0, len(reports), BATCH):
        quoted = ", ".join("'" + r.replace("'", "''") + "'" for r in reports[i:i + BATCH])
        out += _get(s, url, {"$select": ":*, *", "$where": f"{field_name} IN ({quoted})", "$limit": 50_000})
    return out


def rows_to_csv(rows: list[dict], path: Path) -> None:
    """API rows -> a CSV the KCPD adapter reads (nested location objects kept as JSON text)."""
    frame = pd.DataFrame([{k: (json.dumps(v) if isinstance(v, dict | list) else v) for k, v in r.items()}
                          for r in rows])
    frame = frame[[c for c in frame.columns if not c.startswith(":@computed_region")]]
    frame.to_csv(path, index=False)


# --- applying a refresh ----------------------------------------------------------------------

def year_counts(con: duckdb.DuckDBPyConnection) -> dict[int, int]:
    rows = con.execute("SELECT year(event_date), count(*) FROM incidents WHERE source_id = 'kcpd' GROUP BY 1"
                       ).fetchall()
    return {int(y): int(n) for y, n in rows}


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
            progress: bool = True, http: requests.Session | None = None) -> list[RefreshResult]:
    """Fetch and load each dataset in turn; each one is its own atomic swap."""
    target = Path(target or db_path())
    if needs_build(target):
        build_module.build(target, progress=progress)
    s = http or session()
    state = load_state()
    results = []
    for ds in datasets(since):
        results.append(_refresh_one(s, ds, state, dry_run, force, tolerance, page_size, target, progress))
    return results


def _refresh_one(s, ds: Dataset, state: dict, dry_run: bool, force: bool, tolerance: float, page_size: int,
                 target: Path, progress: bool) -> RefreshResult:
    watermark = state.get(ds.dataset_id, {}).get("watermark")
    rows, pages = fetch_pages(s, ds, watermark, page_size, progress)
    result = RefreshResult(ds, len(rows), pages, incremental=watermark is not None)
    if watermark and rows:
        rows = whole_reports(s, ds, rows)
    if not rows:
        result.message = "nothing new" if watermark else "the dataset returned no rows"
        shutil.rmtree(_spool(ds, watermark), ignore_errors=True)
        return result
    newest = max((r.get(":updated_at", "") for r in rows), default="") or watermark
    stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
    csv_path = _spool(ds, watermark) / f"kcpd-{ds.year}-{ds.dataset_id}-{stamp}.csv"
    rows_to_csv(rows, csv_path)
    spec = _coverage(csv_path, ds, incremental=watermark is not None)
    try:
        with build_module.swapped(target, start_from_current=True) as con:
            before = year_counts(con)
            loaded = build_module._load_one(con, csv_path, "kcpd", None, spec)
            build_module.load.rollup(con)
            after = year_counts(con)
            result.changes = {y: (before.get(y, 0), after.get(y, 0)) for y in sorted(set(before) | set(after))
                              if before.get(y, 0) != after.get(y, 0)}
            jumps = _guard(before, after, tolerance)
            if not loaded.skipped:
                con.execute("UPDATE load_log SET file = ?, message = ? WHERE load_id = ?",
                            [f"{open_data_url()}/resource/{ds.dataset_id}.json",
                             f"refresh {'since ' + watermark if watermark else 'full'}: {len(rows)} rows, "
                             f"{pages} pages", loaded.load_id])
            if jumps and not force:
                detail = "; ".join(f"{y}: {b:,} -> {a:,}" for y, (b, a) in jumps.items())
                raise SuspiciousChange(
                    f"{ds.dataset_id} ({ds.year}) would change incident counts by more than {tolerance:.0%}: "
                    f"{detail}. Nothing was changed. Check the portal, then rerun with --force to accept.")
            if dry_run:
                raise _DryRun
    except _DryRun:
        result.message = "dry run: nothing was changed"
        return result
    build_module.keep_user_file(csv_path, "kcpd", spec, name=csv_path.name)
    state[ds.dataset_id] = {"watermark": newest, "last_success": datetime.now().isoformat(timespec="seconds"),
                            "rows": len(rows), "year": ds.year}
    _save_state(state)
    shutil.rmtree(_spool(ds, watermark), ignore_errors=True)
    result.applied = True
    result.message = f"loaded {len(rows)} rows"
    return result


def _coverage(csv_path: Path, ds: Dataset, incremental: bool) -> CoverageSpec:
    """A yearly dataset covers its own year, up to the last reported date in it; an incremental fetch claims
    nothing new (late reports for earlier years must not mark those years covered)."""
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
