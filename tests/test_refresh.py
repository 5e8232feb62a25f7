"""`etl refresh` against a local server that replays the portal's format (no test touches the internet)."""

from __future__ import annotations

import copy
import hashlib

import duckdb
import pandas as pd
import pytest

from etl import refresh as refresh_module
from etl.refresh import Dataset, RefreshError, SuspiciousChange, refresh, session
from tests.conftest import RAW
from tests.soda_server import Portal, api_rows

PAGE = 200


@pytest.fixture
def portal_env(db_copy, tmp_path, monkeypatch):

    def start(datasets: dict[str, list[dict]], listed: list[Dataset]):
        portal = Portal(datasets)
        monkeypatch.setenv("KC_OPEN_DATA_URL", portal.url)
        monkeypatch.setattr(refresh_module, "datasets", lambda since=None: listed)
        return portal

    return start


def _fast():
    return session(retries=4, backoff=0.01, timeout=1.0)


def _incidents(path) -> pd.DataFrame:
    with duckdb.connect(str(path), read_only=True) as c:
        return c.execute("SELECT source_key, event_date, lat, lon, firearm, offenses FROM incidents "
                         "WHERE source_id = 'kcpd' AND year(event_date) = 2018 ORDER BY 1").df()


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_full_fetch_pages_through_and_loads_every_report(portal_env, db_copy):
    rows = api_rows()
    with portal_env({"dmjw-d28i": rows}, [Dataset(2018, "dmjw-d28i")]) as portal:
        [result] = refresh(page_size=PAGE, target=db_copy, progress=False, http=_fast())
    assert result.applied and result.rows == 1000 and result.pages == 6
    assert [int(r["$offset"]) for r in portal.log] == [0, 200, 400, 600, 800, 1000]
    assert all(r["$order"] == ":id" and r["$limit"] == str(PAGE) for r in portal.log)
    got = _incidents(db_copy)
    raw = pd.read_csv(RAW / "kcpd_2018_api_sample.csv.gz", dtype=str)
    assert len(got) == raw.report_no.nunique() == 926
    with duckdb.connect(str(db_copy), read_only=True) as c:
        status = c.execute("SELECT status FROM coverage WHERE source_id = 'kcpd' AND period_start = '2018-05-01'"
                           ).fetchall()[0][0]
        log = c.execute("SELECT file, message FROM load_log ORDER BY load_id DESC LIMIT 1").fetchall()[0]
    assert status == "complete"  # a refreshed year is real coverage, no longer a sample
    assert log[0].endswith("/resource/dmjw-d28i.json") and "full" in log[1]


def test_drifted_field_names_give_the_same_incidents(portal_env, db_copy, tmp_path):
    with portal_env({"dmjw-d28i": api_rows("drifted")}, [Dataset(2018, "dmjw-d28i")]):
        refresh(page_size=PAGE, target=db_copy, progress=False, http=_fast())
    drifted = _incidents(db_copy)
    raw = pd.read_csv(RAW / "kcpd_2018_api_sample.csv.gz", dtype=str)
    from etl.adapters import kcpd
    from etl.extract import read_csv_text

    direct = kcpd.parse(read_csv_text(RAW / "kcpd_2018_api_sample.csv.gz"), "x").incidents
    merged = drifted.merge(direct, on="source_key", suffixes=("", "_file"), validate="1:1")
    assert len(merged) == raw.report_no.nunique()
    assert (merged.lat.fillna(0) == merged.lat_file.fillna(0)).all()
    assert (merged.firearm.astype(bool) == merged.firearm_file.astype(bool)).all()


def test_incremental_fetch_takes_only_updated_rows_and_their_reports(portal_env, db_copy):
    rows = api_rows()
    with portal_env({"dmjw-d28i": rows}, [Dataset(2018, "dmjw-d28i")]) as portal:
        refresh(page_size=PAGE, target=db_copy, progress=False, http=_fast())
        target_report = rows[2]["report_no"]
        for r in rows:
            if r["report_no"] == target_report:
                r["firearm_used_flag"] = "Y"
                r[":updated_at"] = "2019-01-05T00:00:00.000"
                break
        portal.log.clear()
        [result] = refresh(page_size=PAGE, target=db_copy, progress=False, http=_fast())
    assert result.incremental and result.rows == 1
    assert portal.log[0]["$where"] == ":updated_at > '2018-11-01T00:00:00.000'"
    assert portal.log[1]["$where"].startswith("report_no IN (")
    got = _incidents(db_copy).set_index("source_key")
    assert bool(got.loc[target_report, "firearm"]) is True
    assert len(got) == 926
    assert refresh_module.load_state()["dmjw-d28i"]["watermark"] == "2019-01-05T00:00:00.000"


def test_retries_after_server_errors_and_timeouts(portal_env, db_copy):
    with portal_env({"dmjw-d28i": api_rows()}, [Dataset(2018, "dmjw-d28i")]) as portal:
        portal.fail_next = 2
        portal.slow_next, portal.slow_seconds = 1, 2.5  # longer than the 1 s timeout
        [result] = refresh(page_size=PAGE, target=db_copy, progress=False, http=_fast())
    assert result.applied and len(_incidents(db_copy)) == 926
    assert len(portal.log) > result.pages  # the failed and slow requests were retried


def test_an_interrupted_refresh_changes_nothing_and_resumes(portal_env, db_copy, tmp_path):
    sha = _sha(db_copy)
    with portal_env({"dmjw-d28i": api_rows()}, [Dataset(2018, "dmjw-d28i")]) as portal:
        portal.dead_after = 2 * PAGE  # the portal goes down after two pages
        with pytest.raises(RefreshError, match="HTTP 503"):
            refresh(page_size=PAGE, target=db_copy, progress=False, http=_fast())
        assert _sha(db_copy) == sha
        assert len(list((tmp_path / "user" / "refresh" / "spool").glob("*/page-*.json"))) == 2
        portal.dead_after = None
        portal.log.clear()
        [result] = refresh(page_size=PAGE, target=db_copy, progress=False, http=_fast())
    assert result.applied and result.pages == 6
    assert min(int(r["$offset"]) for r in portal.log) == 2 * PAGE  # resumed, not restarted
    assert len(_incidents(db_copy)) == 926


def test_a_suspicious_jump_is_refused_unless_forced(portal_env, db_copy):
    rows = api_rows()
    doubled = rows + [{**copy.deepcopy(r), "report_no": r["report_no"] + "9", ":id": r[":id"] + "b"} for r in rows]
    sha = _sha(db_copy)
    with portal_env({"dmjw-d28i": doubled}, [Dataset(2018, "dmjw-d28i")]):
        with pytest.raises(SuspiciousChange, match=r"2018: 926 -> 1,852"):
            refresh(page_size=PAGE, target=db_copy, progress=False, http=_fast())
        assert _sha(db_copy) == sha
        [result] = refresh(page_size=PAGE, target=db_copy, progress=False, http=_fast(), force=True)
    assert result.applied and len(_incidents(db_copy)) == 1852


def test_dry_run_changes_nothing(portal_env, db_copy):
    sha = _sha(db_copy)
    with portal_env({"dmjw-d28i": api_rows()}, [Dataset(2018, "dmjw-d28i")]):
        [result] = refresh(page_size=PAGE, target=db_copy, progress=False, http=_fast(), dry_run=True)
    assert not result.applied and "dry run" in result.message and _sha(db_copy) == sha
    assert refresh_module.load_state() == {}


def test_dataset_ids_are_data_not_code():
    listed = {d.year: d.dataset_id for d in refresh_module.datasets()}
    assert listed[2023] == "bfyq-5nh6" and listed[2026] == "f7wj-ckmw" and len(listed) == 12
