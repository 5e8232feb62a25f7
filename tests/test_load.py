"""`etl load`: idempotent, atomic, and honest about bad rows."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from etl import load as load_module
from etl.build import build, load_file
from etl.errors import SchemaError
from kcvt.settings import ROOT
from tests.conftest import RAW, write_csv


def _counts(path: Path) -> tuple:
    with duckdb.connect(str(path), read_only=True) as c:
        return c.execute("SELECT (SELECT count(*) FROM incidents), (SELECT count(*) FROM area_counts), "
                         "(SELECT count(*) FROM load_log)").fetchall()[0]


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_loading_the_same_file_twice_changes_nothing(db_copy, tmp_path):
    raw = pd.read_csv(RAW / "kcpd_2018_api_sample.csv.gz", dtype=str).head(100)
    path = write_csv(tmp_path / "kcpd_extra.csv", raw.to_csv(index=False))
    first = load_file(path, "kcpd", db_copy, progress=False)
    assert not first.skipped and first.incidents == raw.report_no.nunique()
    before = _counts(db_copy)
    second = load_file(path, "kcpd", db_copy, progress=False)
    assert second.skipped and "already loaded" in second.message
    assert _counts(db_copy) == before


def _kcpd_reports(path: Path, reports: pd.Series) -> tuple[int, int, int]:
    """(incidents, their person-rows) of these KCPD report numbers, and all incidents."""
    with duckdb.connect(str(path), read_only=True) as c:
        c.register("wanted", pd.DataFrame({"key": reports.unique()}))
        mine = c.execute("""SELECT count(*), coalesce(sum(person_rows), 0) FROM incidents
                            WHERE source_id = 'kcpd' AND source_key IN (SELECT key FROM wanted)""").fetchall()[0]
        return int(mine[0]), int(mine[1]), c.execute("SELECT count(*) FROM incidents").fetchall()[0][0]


def test_the_same_reports_from_another_file_merge_and_never_add(db_copy, tmp_path):
    """The first 100 rows of the bundled 2018 sample, in another file with its rows and columns in another order:
    loaded (another checksum), its reports already known, every row a stored one, nothing added or filled in.
    A file of new reports then adds exactly its reports and rows."""
    sample = pd.read_csv(RAW / "kcpd_2018_api_sample.csv.gz", dtype=str)
    raw = sample.head(100)
    stored_rows = int(sample.report_no.isin(raw.report_no).sum())  # the bundled build holds every row of a report
    assert _kcpd_reports(db_copy, raw.report_no)[:2] == (raw.report_no.nunique(), stored_rows)
    before = _kcpd_reports(db_copy, raw.report_no)
    other = raw.iloc[::-1][list(raw.columns[::-1])]
    result = load_file(write_csv(tmp_path / "kcpd_reordered.csv", other.to_csv(index=False)), "kcpd", db_copy,
                       progress=False)
    assert not result.skipped and result.rows_loaded == len(raw)
    assert f"{raw.report_no.nunique()} report(s) were already loaded: merged ({len(raw)} row(s) matched stored " \
        "ones and were not added again, 0 of them filled in" in result.message
    assert _kcpd_reports(db_copy, raw.report_no) == before
    fresh = raw.assign(report_no=raw.report_no + "5")  # SYNTHETIC report numbers: real rows under new reports
    load_file(write_csv(tmp_path / "kcpd_new_reports.csv", fresh.to_csv(index=False)), "kcpd", db_copy,
              progress=False)
    assert _kcpd_reports(db_copy, fresh.report_no) == (raw.report_no.nunique(), len(raw),
                                                       before[2] + raw.report_no.nunique())
    with duckdb.connect(str(db_copy), read_only=True) as c:
        assert c.execute("SELECT count(*) - count(DISTINCT incident_id) FROM incidents").fetchall()[0][0] == 0


def test_a_file_lacking_columns_matches_the_richer_rows_it_repeats(db_copy, tmp_path):
    """The first 100 rows of the bundled 2018 sample without its address and location columns: what the file lacks
    is unknown, not different, so every row is a stored one; nothing is added and the stored addresses stay."""
    sample = pd.read_csv(RAW / "kcpd_2018_api_sample.csv.gz", dtype=str)
    raw = sample.head(100)
    poorer = raw.drop(columns=["address", "location_address", "location"])
    before = _kcpd_reports(db_copy, raw.report_no)
    with duckdb.connect(str(db_copy), read_only=True) as c:
        c.register("wanted", pd.DataFrame({"key": raw.report_no.unique()}))
        places = c.execute("SELECT source_key, address, lat, lon FROM incidents WHERE source_id = 'kcpd' AND "
                           "source_key IN (SELECT key FROM wanted) ORDER BY 1").fetchall()
    result = load_file(write_csv(tmp_path / "kcpd_poorer.csv", poorer.to_csv(index=False)), "kcpd", db_copy,
                       progress=False)
    assert f"({len(raw)} row(s) matched stored ones" in result.message
    assert _kcpd_reports(db_copy, raw.report_no) == before
    with duckdb.connect(str(db_copy), read_only=True) as c:
        c.register("wanted", pd.DataFrame({"key": raw.report_no.unique()}))
        assert c.execute("SELECT source_key, address, lat, lon FROM incidents WHERE source_id = 'kcpd' AND "
                         "source_key IN (SELECT key FROM wanted) ORDER BY 1").fetchall() == places


def test_a_count_file_replaces_the_counts_it_brings(db_copy):
    """area_counts has no key index: a count file's rows replace the same keys, and a file's first row of a key wins."""
    with duckdb.connect(str(db_copy)) as c:
        rows = c.execute("""SELECT * FROM area_counts WHERE source_id = 'fbi_ucr' AND measure = 'homicide'
                            ORDER BY period_start""").df()
        total = c.execute("SELECT count(*) FROM area_counts").fetchall()[0][0]
        again = pd.concat([rows.assign(n=rows.n + 1000), rows.head(1).assign(n=-1)], ignore_index=True)
        load_module.replace_counts(c, again)
        after = c.execute("""SELECT * FROM area_counts WHERE source_id = 'fbi_ucr' AND measure = 'homicide'
                             ORDER BY period_start""").df()
        assert c.execute("SELECT count(*) FROM area_counts").fetchall()[0][0] == total
        assert c.execute("""SELECT count(*) FROM (SELECT DISTINCT source_id, area_type, area_id, grain, period_start,
                            measure FROM area_counts)""").fetchall()[0][0] == total
    assert len(rows) == 12  # UCR Table 8, 2006-2018 without 2007 (Kansas City is absent from it)
    assert after.n.tolist() == (rows.n + 1000).tolist()


def test_a_user_file_is_kept_for_later_builds(db_copy, tmp_path):
    raw = pd.read_csv(RAW / "gva_kc_2020_jan_may.csv.gz", dtype=str).head(5)
    path = write_csv(tmp_path / "gva_export.csv", raw.to_csv(index=False))
    load_file(path, "gva", db_copy, progress=False)
    assert len(list((tmp_path / "user" / "gva").glob("*gva_export.csv"))) == 1
    from etl.build import bundled_files

    assert any(p.name.endswith("gva_export.csv") and s == "gva" for p, s, _a, _c, _r in bundled_files())


def test_bad_rows_are_rejected_with_reasons_and_good_rows_load(db_copy, tmp_path):
    path = write_csv(tmp_path / "bad.csv", """
Report_No,Reported_Date,From_Time,IBRS,Firearm Used Flag,Location
KC99000001,03/04/2019,10:00,13A,Y,POINT (-94.55 39.05)
KC99000002,13/45/2019,10:00,13A,Y,POINT (-94.55 39.05)
KC99000003,03/04/2099,10:00,13A,Y,POINT (-94.55 39.05)
KC99000004,03/04/2019,27:61,13A,Y,POINT (-94.55 39.05)
KC99000005,03/04/2019,10:00,13A,Y,POINT (39.05 -94.55)
KC99000006,03/04/2019,10:00,13A,Y,POINT (-194.55 99.05)
,03/04/2019,10:00,13A,Y,POINT (-94.55 39.05)
KC99000008,03/04/1850,10:00,13A,Y,POINT (-94.55 39.05)
KC99000009,03/04/2019,10:00,09A,N,POINT (-96.80 32.78)
""")
    before = _counts(db_copy)
    result = load_file(path, "kcpd", db_copy, progress=False)
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (9, 2, 7)
    with duckdb.connect(str(db_copy), read_only=True) as c:
        reasons = dict(c.execute("SELECT row_number, reason FROM rejects WHERE load_id = ?", [result.load_id]).fetchall())
        status = c.execute("SELECT geo_status FROM incidents WHERE source_key = 'KC99000009'").fetchall()[0][0]
    assert reasons[2].startswith("unreadable date")
    assert reasons[3].startswith("date in the future")
    assert reasons[4].startswith("impossible time")
    assert reasons[5].startswith("latitude and longitude swapped")
    assert reasons[6].startswith("impossible coordinates")
    assert reasons[7] == "report number is missing"
    assert reasons[8].startswith("date before 1900")
    assert status == "outside_city"  # Dallas: kept, flagged
    assert _counts(db_copy)[0] == before[0] + 2


def test_a_file_with_the_wrong_columns_is_refused_whole(db_copy, tmp_path):
    path = write_csv(tmp_path / "wrong.csv", "report,when,what\n1,2019-01-01,x\n")
    sha = _sha(db_copy)
    with pytest.raises(SchemaError, match=r"missing column\(s\) reported_date"):
        load_file(path, "kcpd", db_copy, progress=False)
    assert _sha(db_copy) == sha


def test_a_failed_build_leaves_the_previous_database(built_db, tmp_path, monkeypatch):
    target = tmp_path / "kc.duckdb"
    target.write_bytes(built_db.read_bytes())
    sha = _sha(target)
    calls = {"n": 0}
    real = load_module.write

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("disk full (simulated)")
        return real(*args, **kwargs)

    monkeypatch.setattr(load_module, "write", failing)
    with pytest.raises(RuntimeError):
        build(target, progress=False)
    assert _sha(target) == sha
    assert [p.name for p in tmp_path.iterdir() if p.suffix != ".lock"] == ["kc.duckdb"]  # no half-written copy left


def test_a_killed_build_leaves_the_previous_database(built_db, tmp_path):
    """The kill comes at a point the build itself marks: once it has created its private copy of the database
    (`<db>.tmp-<pid>`, etl.build.swapped), i.e. while it is writing, never after a guessed delay."""
    target = tmp_path / "kc.duckdb"
    target.write_bytes(built_db.read_bytes())
    before = _counts(target)
    env = {**os.environ, "KC_VIOLENCE_DB": str(target)}
    proc = subprocess.Popen([sys.executable, "-m", "etl", "--quiet", "build"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    copy = target.with_name(f"{target.name}.tmp-{proc.pid}")
    deadline = time.monotonic() + 120
    while not copy.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)  # how often to look for the copy, not a guess at when to kill
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"the build finished (exit {proc.returncode}) before it was killed"
    assert copy.exists(), f"the build made no copy {copy.name} within 120 s"
    assert _counts(target) == before
