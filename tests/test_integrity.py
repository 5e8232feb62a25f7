"""Loading never loses or invents data, one writer at a time, and files built to hurt are refused (issue 13).

Expected values are derived here from the raw bundled files, not from the loader's own output.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from etl.build import build, load_file
from etl.errors import SchemaError
from etl.extract import holds_names
from kcvt.locks import writer_lock
from kcvt.settings import ROOT
from tests.conftest import RAW

EXTRACT_2020 = RAW / "kcpd_2020_jan_jul_extract.csv.gz"


def _raw_2020() -> pd.DataFrame:
    return pd.read_csv(EXTRACT_2020, dtype=str, keep_default_na=False)


def _state(path: Path) -> dict:
    """What a partial reload must not reduce: person-rows and people of KCPD reports, and 2020's violent count."""
    with duckdb.connect(str(path), read_only=True) as c:
        return {
            "person_rows": c.execute("SELECT sum(person_rows) FROM incidents WHERE source_id = 'kcpd'").fetchall()[0][0],
            "people": c.execute("""SELECT sum(n) FROM people_counts WHERE incident_id LIKE 'kcpd:%'""").fetchall()[0][0],
            "violent_2020": c.execute("""SELECT sum(n) FROM area_counts WHERE source_id = 'kcpd' AND area_type = 'city'
                                         AND measure = 'violent' AND year(period_start) = 2020""").fetchall()[0][0],
            "incidents": c.execute("SELECT count(*) FROM incidents WHERE source_id = 'kcpd'").fetchall()[0][0],
        }


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "etl", "--quiet", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})})


# --- partial reloads: merge, never shrink ------------------------------------------------------------------------

def test_a_partial_reload_never_shrinks_a_report(db_copy, tmp_path):
    """A 200-row subset of the 2020 extract (cut inside multi-row reports) changes nothing already loaded."""
    raw = _raw_2020()
    subset = raw.head(200)
    # the subset must cut reports: some of its reports have more rows in the whole file than in the subset
    whole = raw.groupby("Report_No").size()
    assert (subset.groupby("Report_No").size() < whole[subset.Report_No.unique()]).any()
    before = _state(db_copy)
    assert before["person_rows"] > 0
    path = tmp_path / "subset.csv"
    subset.to_csv(path, index=False)
    result = load_file(path, "kcpd", db_copy, progress=False)
    assert "already loaded: merged" in result.message
    assert _state(db_copy) == before


def test_rows_that_differ_are_added_and_exact_duplicates_dropped(db_copy, tmp_path):
    """One report repeated whole plus one SYNTHETIC extra person-row: the report gains exactly that row."""
    raw = _raw_2020()
    sizes = raw.groupby("Report_No").size()
    report = sizes[sizes >= 2].index[0]
    rows = raw[raw.Report_No == report]
    extra = rows.head(1).assign(Age="99", Sex="F")  # SYNTHETIC test row: a person who differs
    path = tmp_path / "one_report.csv"
    pd.concat([rows, extra]).to_csv(path, index=False)
    with duckdb.connect(str(db_copy), read_only=True) as c:
        n_before = c.execute("SELECT person_rows FROM incidents WHERE incident_id = ?", [f"kcpd:{report}"]).fetchall()
    assert n_before == [(len(rows),)]  # the extract's rows of this report, all good
    load_file(path, "kcpd", db_copy, progress=False)
    with duckdb.connect(str(db_copy), read_only=True) as c:
        after = c.execute("SELECT person_rows FROM incidents WHERE incident_id = ?", [f"kcpd:{report}"]).fetchall()
        people = c.execute("SELECT sum(n) FROM people_counts WHERE incident_id = ? AND age_band <> 'unknown'",
                           [f"kcpd:{report}"]).fetchall()[0][0]
    assert after == [(len(rows) + 1,)]
    assert people >= 1


def _report_people(path: Path, reports) -> dict:
    """Person-rows, people by sex and age band, filled addresses, and incident addresses of these KCPD reports."""
    with duckdb.connect(str(path), read_only=True) as c:
        c.register("wanted", pd.DataFrame({"source_key": list(reports), "incident_id": [f"kcpd:{r}" for r in reports]}))
        return {
            "person_rows": c.execute("SELECT sum(person_rows) FROM incidents JOIN wanted USING (incident_id)"
                                     ).fetchall()[0][0],
            "by_sex": dict(c.execute("SELECT sex, sum(n) FROM people_counts JOIN wanted USING (incident_id) "
                                     "GROUP BY 1").fetchall()),
            "by_sex_age": dict(c.execute("SELECT sex || '/' || age_band, sum(n) FROM people_counts "
                                         "JOIN wanted USING (incident_id) GROUP BY 1").fetchall()),
            "rows_with_address": c.execute("SELECT count(address) FROM person_rows JOIN wanted USING (source_key) "
                                           "WHERE source_id = 'kcpd'").fetchall()[0][0],
            "incident_address": dict(c.execute("SELECT i.source_key, i.address FROM incidents i "
                                               "JOIN wanted USING (incident_id)").fetchall()),
        }


def test_a_file_with_more_columns_fills_in_and_never_doubles(db_copy, tmp_path):
    """The reviewer's case: 300 rows of the bundled 2020 extract with a SYNTHETIC Address column (one per report, as
    the city's export has). Every row agrees with a stored one on every column both files have: nothing is added,
    counts by sex and age stay, and the addresses are filled in. One SYNTHETIC row that differs on a shared column
    (Age) is still added."""
    raw = _raw_2020()
    subset = raw.head(300).copy()
    reports = subset.Report_No.unique()
    address = {r: f"{100 * (i + 1)} SYNTHETIC TEST AV" for i, r in enumerate(reports)}  # SYNTHETIC addresses
    subset["Address"] = subset.Report_No.map(address)
    whole = raw[raw.Report_No.isin(reports)].drop_duplicates()  # what the build stored (exact duplicates rejected)
    sex = whole.Sex.replace("", "U").str.upper().value_counts().to_dict()
    before, state = _report_people(db_copy, reports), _state(db_copy)
    assert before["person_rows"] == len(whole) and before["by_sex"] == sex  # the extract has no Address column:
    assert before["rows_with_address"] == 0  # no stored row has one
    path = tmp_path / "with_address.csv"
    subset.to_csv(path, index=False)
    result = load_file(path, "kcpd", db_copy, progress=False)
    distinct = len(subset.drop_duplicates())
    assert f"{distinct:,} row(s) matched stored ones" in result.message
    assert f"{distinct:,} of them filled in fields" in result.message
    after = _report_people(db_copy, reports)
    assert after["person_rows"] == len(whole) and after["by_sex"] == sex
    assert after["by_sex_age"] == before["by_sex_age"]
    assert after["rows_with_address"] == distinct
    assert after["incident_address"] == address
    assert _state(db_copy) == state  # person-rows, people, incidents and the 2020 violent count citywide

    extra = subset.head(1).assign(Age="99")  # SYNTHETIC: a person who differs on a column both files have
    extra_path = tmp_path / "one_more.csv"
    pd.concat([subset, extra]).to_csv(extra_path, index=False)
    load_file(extra_path, "kcpd", db_copy, progress=False)
    assert _report_people(db_copy, reports)["person_rows"] == len(whole) + 1


def test_replace_is_explicit_and_previewed(db_copy, tmp_path):
    """`--replace` alone shows the effect and changes nothing; with --yes the subset replaces its reports."""
    raw = _raw_2020()
    subset = raw.head(200)
    path = tmp_path / "subset.csv"
    subset.to_csv(path, index=False)
    before = _state(db_copy)
    preview = _cli("load", str(path), "--source", "kcpd", "--replace", env={"KC_VIOLENCE_DB": str(db_copy)})
    assert preview.returncode == 0, preview.stderr
    assert "preview" in preview.stdout and "nothing changed" in preview.stdout
    assert _state(db_copy) == before
    applied = _cli("load", str(path), "--source", "kcpd", "--replace", "--yes", env={"KC_VIOLENCE_DB": str(db_copy)})
    assert applied.returncode == 0, applied.stderr
    after = _state(db_copy)
    # good rows of the cut reports that the subset lacks (exact duplicate rows are rejected at load)
    lost = len(raw[raw.Report_No.isin(subset.Report_No)].drop_duplicates()) - len(subset.drop_duplicates())
    assert lost > 0 and after["person_rows"] == before["person_rows"] - lost


def test_a_rebuild_repeats_the_merge(db_copy, tmp_path):
    """Kept user files load in the same mode at the next build: the subset still shrinks nothing."""
    subset = _raw_2020().head(200)
    path = tmp_path / "subset.csv"
    subset.to_csv(path, index=False)
    before = _state(db_copy)
    load_file(path, "kcpd", db_copy, progress=False)
    build(db_copy, progress=False)
    assert _state(db_copy) == before


# --- coverage comes from rows, not from a span ----------------------------------------------------------------------

def test_a_file_covers_only_the_months_it_has_rows_in(db_copy, tmp_path):
    """200 real 2020 rows, 14 of them with the date moved to 2019-06: 2019-07..2019-12 stay uncovered."""
    rows = _raw_2020().head(200).copy()
    rows.loc[rows.index[:14], "Reported_Date"] = "06/15/2019"  # format as in the extract
    assert pd.to_datetime(_raw_2020().Reported_Date.head(3), format="%m/%d/%Y").notna().all()
    months_with_rows = set(pd.to_datetime(rows.Reported_Date, format="%m/%d/%Y").dt.strftime("%Y-%m"))
    path = tmp_path / "moved.csv"
    rows.to_csv(path, index=False)
    result = load_file(path, "kcpd", db_copy, progress=False)
    with duckdb.connect(str(db_copy), read_only=True) as c:
        covered = {r[0] for r in c.execute("""SELECT strftime(period_start, '%Y-%m') FROM load_coverage
                                              WHERE load_id = ?""", [result.load_id]).fetchall()}
    assert covered == months_with_rows
    assert "2019-07" not in covered and "no rows in" in result.message and "2019-07" in result.message


def test_declared_coverage_is_kept(db_copy, tmp_path):
    rows = _raw_2020().head(50)
    path = tmp_path / "declared.csv"
    rows.to_csv(path, index=False)
    result = load_file(path, "kcpd", db_copy, progress=False, covers=("2020-01", "2020-03"))
    with duckdb.connect(str(db_copy), read_only=True) as c:
        covered = [r[0] for r in c.execute("""SELECT strftime(period_start, '%Y-%m') FROM load_coverage
                                              WHERE load_id = ? ORDER BY 1""", [result.load_id]).fetchall()]
    assert covered == ["2020-01", "2020-02", "2020-03"]


# --- one writer at a time -----------------------------------------------------------------------------------------

def test_a_second_writer_refuses_naming_the_holder(db_copy, tmp_path):
    path = tmp_path / "some.csv"
    _raw_2020().head(20).to_csv(path, index=False)
    before = _state(db_copy)
    with writer_lock(db_copy, "test holding the lock"):
        done = _cli("load", str(path), "--source", "kcpd",
                    env={"KC_VIOLENCE_DB": str(db_copy), "KC_VIOLENCE_LOCK_WAIT": "0"})
    assert done.returncode == 2
    assert f"process {os.getpid()}" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert "loaded" not in done.stdout
    assert _state(db_copy) == before


def test_two_loads_at_once_both_land(db_copy, tmp_path):
    """Two `etl load` processes started together: each one that says it loaded rows has them in the final file."""
    raw = pd.read_csv(RAW / "kcpd_2018_api_sample.csv.gz", dtype=str, keep_default_na=False)
    raw = raw[[c for c in raw.columns if c and not c.startswith(":@") and not c.startswith("Unnamed")]]
    # two disjoint sets of real 2018 reports, with their report numbers marked SYNTHETIC so they are new reports
    reports = raw.report_no.unique()
    files = []
    for k, part in enumerate((reports[:300], reports[300:600])):
        f = tmp_path / f"part{k}.csv"
        raw[raw.report_no.isin(part)].assign(report_no=lambda d, k=k: f"SYN{k}-" + d.report_no).to_csv(f, index=False)
        files.append((f, len(part)))
    env = {**os.environ, "KC_VIOLENCE_DB": str(db_copy), "KC_VIOLENCE_LOCK_WAIT": "300"}
    procs = [subprocess.Popen([sys.executable, "-m", "etl", "--quiet", "load", str(f), "--source", "kcpd"], cwd=ROOT,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for f, _ in files]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    with duckdb.connect(str(db_copy), read_only=True) as c:
        for k, (_, n) in enumerate(files):
            assert c.execute("SELECT count(*) FROM incidents WHERE source_key LIKE ?", [f"SYN{k}-%"]).fetchall() == [(n,)]


# --- files built to hurt --------------------------------------------------------------------------------------------

def test_a_compression_bomb_is_refused_without_reading_it_into_memory(db_copy, tmp_path, monkeypatch):
    """A gzip file that expands far beyond the limit (here 5 MB, set for the test) is refused with a message."""
    monkeypatch.setenv("KC_VIOLENCE_MAX_UNCOMPRESSED", str(5_000_000))
    bomb = tmp_path / "bomb.csv.gz"
    header = _raw_2020().head(1).to_csv(index=False)
    with gzip.open(bomb, "wb", compresslevel=9) as fh:
        fh.write(header.encode())
        line = header.splitlines()[1].encode() + b"\n"
        for _ in range(200):
            fh.write(line * 1000)  # SYNTHETIC: one real row repeated
    assert bomb.stat().st_size < 1_000_000
    before = _state(db_copy)
    done = _cli("load", str(bomb), "--source", "kcpd", env={"KC_VIOLENCE_DB": str(db_copy),
                                                            "KC_VIOLENCE_MAX_UNCOMPRESSED": "5000000"})
    assert done.returncode == 2 and "decompresses to more than" in done.stderr
    assert _state(db_copy) == before


@pytest.mark.parametrize("shape", ["columns", "long_line"])
def test_an_absurd_header_is_refused_at_once(db_copy, tmp_path, shape):
    path = tmp_path / f"{shape}.csv"
    if shape == "columns":
        path.write_text(",".join(f"c{k}" for k in range(1_000_000)) + "\n" + "1," * 999_999 + "1\n")
    else:
        path.write_text("x" * 3_000_000 + "\n1\n")
    done = _cli("load", str(path), "--source", "kcpd", env={"KC_VIOLENCE_DB": str(db_copy)})
    assert done.returncode == 2 and "refused" in done.stderr
    assert len(done.stderr) < 400


def test_a_message_never_echoes_a_file(db_copy, tmp_path):
    """A link to a system file is refused as a link; the same content as a file is refused without echoing it."""
    target = Path("/etc/passwd")
    if not target.exists():
        pytest.skip("no /etc/passwd here")
    first = target.read_text().splitlines()[0]
    link = tmp_path / "innocent.csv"
    link.symlink_to(target)
    copy = tmp_path / "copy.csv"
    copy.write_text(target.read_text())
    for path in (link, copy):
        done = _cli("load", str(path), "--source", "kcpd", env={"KC_VIOLENCE_DB": str(db_copy)})
        assert done.returncode == 2
        assert first not in done.stderr and first[:12] not in done.stderr and len(done.stderr) < 600


# --- names never stored ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("header", ["participant_name", "Victim Name", "VICTIM_NAME", "suspectName", "Suspect",
                                    "victims", "Participant", "first_name", "LastName", "arrestee 2", "Full Name",
                                    # a role with a name beside a place or type word: the column may still hold names
                                    "Victim Name/Type", "VICTIM NAME - CITY", "Victim Name and Zip", "Vic First",
                                    "SuspLast", "Reporting Party Name", "Offender First/Zip",
                                    "Complainant Name (City)", "witness_last_name_type"])
def test_name_like_columns_are_recognised(header):
    assert holds_names(header)


@pytest.mark.parametrize("header", ["participant_age", "participant_type", "Victims Killed", "Suspects Arrested",
                                    "street_name", "Neighborhood Name", "persons", "Report_No", "involvement",
                                    # generic place names without a role, and roles without a name
                                    "city name", "beat name", "division name", "Vic Age", "Victim City",
                                    "Reporting Party Type", "vicinity"])
def test_other_columns_are_kept(header):
    assert not holds_names(header)


def test_names_never_reach_the_database_rejects_or_kept_files(db_copy, tmp_path, user_files):
    """A real extract with SYNTHETIC name columns (and one rejected row): no name anywhere it is kept."""
    rows = _raw_2020().head(30).copy()
    marker = "Zyxwvut Synthetic"
    rows["Victim Name"] = marker
    rows["suspect"] = marker + " Two"
    rows.loc[rows.index[0], "Reported_Date"] = "not a date"  # this row is rejected, its raw text kept
    path = tmp_path / "with_names.csv"
    rows.to_csv(path, index=False)
    result = load_file(path, "kcpd", db_copy, progress=False)
    assert result.rows_rejected == 1 and "personal names are never stored" in result.message
    with duckdb.connect(str(db_copy), read_only=True) as c:
        tables = [r[0] for r in c.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        for table in tables:
            text = c.execute(f'SELECT count(*) FROM "{table}" t WHERE t::VARCHAR LIKE ?', [f"%{marker}%"]).fetchall()  # noqa: S608
            assert text == [(0,)], table
    kept = list((user_files / "kcpd").iterdir())
    assert kept and all(marker not in k.read_text() for k in kept)


def test_a_bad_user_manifest_path_is_refused(db_copy, user_files):
    user_files.mkdir(parents=True, exist_ok=True)
    (user_files / "manifest.csv").write_text("file,source_id,coverage_start,coverage_end,declare\n"
                                              "../../../../etc/passwd,kcpd,,,false\n")
    with pytest.raises(SchemaError, match="outside"):
        build(db_copy, progress=False)
