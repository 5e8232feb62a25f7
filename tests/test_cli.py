"""The command lines: documented, and giving the same numbers as the library."""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from analytics import cli as analytics_cli
from analytics import queries
from etl import cli as etl_cli
from kcvt.settings import MANIFEST, ROOT
from tests.conftest import RAW


def run(*args: str, env_db=None) -> subprocess.CompletedProcess:
    import os

    env = {**os.environ, **({"KC_VIOLENCE_DB": str(env_db)} if env_db else {})}
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


PARSERS = [etl_cli.parser(), analytics_cli.parser()]


def _readme_rows(prog: str, command: str = "") -> str:
    """The README command table's rows for `prog command` (all of prog's rows when no command is given)."""
    start = f"| `{prog} {command}".rstrip() + ("" if command else " ")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return "\n".join(line for line in readme.splitlines() if line.startswith(start))


def _mentions(text: str, option: str) -> bool:
    """`--buffer` is mentioned only as itself, not inside `--buffer-m` or `--buffer-control`."""
    return re.search(re.escape(option) + r"(?![\w-])", text) is not None


def _options(parser: argparse.ArgumentParser) -> list[str]:
    return [o for a in parser._actions for o in a.option_strings if o not in ("-h", "--help")]


@pytest.mark.parametrize("parser", PARSERS, ids=lambda p: p.prog)
def test_every_command_has_help_text_and_a_row_in_the_readme(parser):
    sub = next(a for a in parser._actions if a.dest == "command")
    helps = {c.dest: c.help for c in sub._choices_actions}
    assert set(helps) == set(sub.choices)
    assert not [name for name, text in helps.items() if not text], "commands without help text"
    for name in sub.choices:
        assert _readme_rows(parser.prog, name), f"`{parser.prog} {name}` has no row in README.md's command table"


@pytest.mark.parametrize("parser, command", [(p, name) for p in PARSERS for name in
                                             next(a for a in p._actions if a.dest == "command").choices],
                         ids=lambda v: getattr(v, "prog", v))
def test_every_option_of_every_command_is_in_its_readme_row(parser, command):
    """Like sqlite-utils' documentation tests: an option added to a command fails here until README.md shows it."""
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    rows = _readme_rows(parser.prog, command)
    missing = [o for o in _options(sub) if not _mentions(rows, o)]
    assert not missing, f"README.md's row for `{parser.prog} {command}` does not mention {missing}"


@pytest.mark.parametrize("parser", PARSERS, ids=lambda p: p.prog)
def test_every_global_option_is_in_the_readme_table(parser):
    rows = _readme_rows(parser.prog)
    missing = [o for o in _options(parser) if not _mentions(rows, o)]
    assert not missing, f"README.md's command table does not mention {parser.prog}'s {missing}"


def test_counts_json_matches_the_library(built_db, con):
    out = run("analytics", "counts", "--category", "shooting", "--source", "gva", "--start", "2016-01-01", "--end",
              "2016-12-31", "--json", env_db=built_db)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    expected = queries.total(con, queries.Filter("gva", "shooting", date(2016, 1, 1), date(2016, 12, 31)))
    assert data["n"] == expected["n"] == 246
    assert sum(m["n"] for m in data["monthly"]) == 246


def test_counts_for_an_unknown_category_says_what_exists(built_db):
    out = run("analytics", "counts", "--category", "shootings", "--source", "gva", "--start", "2016-01-01", "--end",
              "2016-12-31", env_db=built_db)
    assert out.returncode == 2
    assert "has no category 'shootings'" in out.stderr and "shooting" in out.stderr


def test_status_json_reports_coverage_rejects_and_last_load(built_db):
    out = run("etl", "status", "--json", env_db=built_db)
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    gva = next(s for s in info["sources"] if s["source"] == "gva")
    # data/manifest.csv: GVA covers 2014-01..2018-03 and 2020-01..2020-05; data/reference/coverage_notes.csv marks
    # 2020-05 partial (the 2020 extract was scraped on 2020-05-21)
    assert gva["coverage"]["complete"] == ["2014-01..2018-03", "2020-01..2020-04"]
    assert gva["coverage"]["partial"] == ["2020-05"]
    # the only rejected rows of the bundled files are the 2020 KCPD extract's exact duplicates (data/PROVENANCE.md)
    kcpd_2020 = pd.read_csv(RAW / "kcpd_2020_jan_jul_extract.csv.gz", dtype=str, keep_default_na=False)
    duplicates = int(kcpd_2020.duplicated().sum())
    assert info["rejected_rows"] == duplicates
    manifest = pd.read_csv(MANIFEST, dtype=str)
    assert info["last_load"]["file"] == f"data/{manifest.file.iloc[-1]}"  # a build loads the manifest in order


def test_status_says_counts_not_incidents_for_a_count_source(built_db):
    """kcpd_nbhd counts by neighborhood and month: its number of incidents is unknown, null in JSON, never 0."""
    info = json.loads(run("etl", "status", "--json", env_db=built_db).stdout)
    kinds = {s["source"]: s for s in info["sources"]}
    assert kinds["kcpd_nbhd"]["incidents"] is None and kinds["gva"]["incidents"] > 0
    text = run("etl", "status", env_db=built_db).stdout
    line = next(x for x in text.splitlines() if x.startswith("kcpd_nbhd "))
    assert "counts, not incidents" in line and " 0 incidents" not in line


def test_a_file_whose_every_row_is_rejected_exits_2_and_keeps_them(db_copy, tmp_path):
    """The bad-input corpus's future-date row alone: nothing loads, so the load is bad input (exit 2, one line), and
    the row is kept with its reason."""
    lines = (Path(__file__).parent / "data/bad/kcpd_future_date.csv").read_text().splitlines()
    bad = tmp_path / "only_bad.csv"
    bad.write_text("\n".join([lines[0]] + [x for x in lines[1:] if "2099-" in x]) + "\n")
    out = run("etl", "--quiet", "load", str(bad), "--source", "kcpd", env_db=db_copy)
    assert out.returncode == 2 and out.stderr.strip() == f"error: {bad}: no row loaded, all 1 rejected"
    with duckdb.connect(str(db_copy), read_only=True) as c:
        assert c.execute("SELECT count(*) FROM rejects WHERE reason LIKE '%future%'").fetchone()[0] == 1
    folder = run("etl", "load", str(tmp_path), "--source", "kcpd", env_db=db_copy)
    assert folder.returncode == 2 and folder.stderr.strip().endswith("is a folder: give one file")


def test_counts_of_part_of_a_month_from_a_monthly_source_says_it_reads_the_whole_month(built_db):
    """Blind review: 1-15 January from KCPD's monthly counts printed "2024-01-01 to 2024-01-15: 838", January's
    whole count (from the raw file) under the wrong period."""
    raw = pd.read_csv(RAW / "kcpd_monthly_by_neighborhood_2015_2026.csv.gz")
    january = int(raw[raw.month == "2024-01"].persons.sum())
    out = run("analytics", "counts", "--source", "kcpd_nbhd", "--category", "persons", "--start", "2024-01-01",
              "--end", "2024-01-15", env_db=built_db)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["kcpd_nbhd counts whole months: the period is read as 2024-01-01 to 2024-01-31",
                                       f"persons (kcpd_nbhd) in Kansas City, 2024-01-01 to 2024-01-31: {january}"]
    data = json.loads(run("analytics", "counts", "--source", "kcpd_nbhd", "--category", "persons", "--start",
                          "2024-01-01", "--end", "2024-01-15", "--json", env_db=built_db).stdout)
    assert data["period_read_as"] == ["2024-01-01", "2024-01-31"] and data["n"] == january


def test_load_of_a_missing_file_is_a_clear_error(built_db):
    out = run("etl", "load", "nope.csv", "--source", "kcpd", env_db=built_db)
    assert out.returncode == 2 and "no such file" in out.stderr
