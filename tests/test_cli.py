"""The command lines: documented, and giving the same numbers as the library."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date

import pytest

from analytics import cli as analytics_cli
from analytics import queries
from etl import cli as etl_cli
from kcvt.settings import ROOT


def run(*args: str, env_db=None) -> subprocess.CompletedProcess:
    import os

    env = {**os.environ, **({"KC_VIOLENCE_DB": str(env_db)} if env_db else {})}
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("parser", [etl_cli.parser(), analytics_cli.parser()])
def test_every_command_has_help_text_and_is_in_the_readme(parser):
    readme = (ROOT / "README.md").read_text()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, action in sub.choices.items():
        assert action.format_help()
        assert sub._choices_actions and all(c.help for c in sub._choices_actions)
        assert f"{parser.prog} {name}" in readme, f"`{parser.prog} {name}` is not documented in README.md"


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
    assert gva["coverage"]["complete"] == ["2014-01..2018-03", "2020-01..2020-04"]
    assert gva["coverage"]["partial"] == ["2020-05"]
    assert info["rejected_rows"] == 1109
    assert info["last_load"]["file"] == "data/raw/kcpd_annual_reports_2015_2025.csv"


def test_load_of_a_missing_file_is_a_clear_error(built_db):
    out = run("etl", "load", "nope.csv", "--source", "kcpd", env_db=built_db)
    assert out.returncode == 2 and "no such file" in out.stderr
