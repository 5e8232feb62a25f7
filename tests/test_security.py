"""Hostile input everywhere: values are bound, identifiers come from code, downloads are defused, no names."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from analytics import queries, registry
from app import web
from kcvt.settings import ROOT
from tests.conftest import analytics_cli

HOSTILE = ["'; DROP TABLE incidents; --", "\" OR 1=1 --", "=HYPERLINK(\"http://x.invalid\")", "<script>alert(1)</script>",
           "Robert'); DELETE FROM areas; --", "../../etc/passwd", "\x00\x1b[2J", "🙂" * 50]
#: the only names the query layer (which receives users' filter values) ever puts into SQL text, each a code constant
ALLOWED_SQL_FORMATTING = {"WHERE", "hex_col", "src", "sums"}


def _formatted_names(paths) -> set[str]:
    found = set()
    for path in paths:
        for m in re.finditer(r'execute\(\s*f"""(.*?)"""|execute\(\s*f"(.*?)"', path.read_text(), re.S):
            text = m.group(1) or m.group(2)
            found |= set(re.findall(r"\{([^}]+)\}", text))
    return found


def test_no_sql_text_is_built_from_values():
    """Every f-string the query layer passes to execute() interpolates only identifiers defined in code."""
    found = _formatted_names((ROOT / "analytics").glob("*.py"))
    assert found and found <= ALLOWED_SQL_FORMATTING, found - ALLOWED_SQL_FORMATTING


def test_file_headers_never_reach_sql_text(tmp_path):
    """The loader builds SQL from column positions (c0, c1, ...), never from a file's own headers: a header that is
    SQL text is just a column the KCPD adapter does not know, and a row that is SQL text is data."""
    from etl.adapters import kcpd
    from etl.extract import stage

    hostile = tmp_path / "hostile.csv"
    header = ["Report_No", "Reported_Date", "IBRS", 'x"; DROP TABLE incidents; --', "Location"]
    rows = [["1", "01/05/2020", "13A", "1", "POINT (-94.55 39.05)"],
            ["2'); DROP TABLE t; --", "01/06/2020", "13A", "2", HOSTILE[0]]]
    pd.DataFrame(rows, columns=header).to_csv(hostile, index=False)
    assert set(kcpd.column_map(header).values()) <= {f"c{k}" for k in range(len(header))}
    with duckdb.connect() as db:
        db.execute("CREATE TABLE t AS SELECT 1 AS x")
        staged = stage(db, hostile)
        assert staged.columns == header
        parsed = kcpd.materialize(db, kcpd.parse_staged(db, staged, "hostile.csv"))
        assert sorted(parsed.incidents["source_key"]) == ["1", "2'); DROP TABLE t; --"]
        assert db.execute("SELECT x FROM t").fetchall() == [(1,)]


def _intact(con) -> tuple:
    return con.execute("SELECT (SELECT count(*) FROM incidents), (SELECT count(*) FROM areas)").fetchall()[0]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_filter_values_are_refused_not_run(con, text):
    before = _intact(con)
    for f in (queries.Filter(text, "shooting", date(2016, 1, 1), date(2016, 12, 31)),
              queries.Filter("gva", text, date(2016, 1, 1), date(2016, 12, 31)),
              queries.Filter("gva", "shooting", date(2016, 1, 1), date(2016, 12, 31), text)):
        with pytest.raises(queries.BadQuery):
            queries.total(con, f)
    assert _intact(con) == before


def test_hostile_cli_arguments_are_refused(built_db, con):
    before = _intact(con)
    out = analytics_cli("counts", "--category", "shooting", "--source", "gva", "--start", "2016-01-01", "--end",
                        "2016-12-31", "--area", HOSTILE[0])
    assert out.returncode == 2 and "unknown neighborhood" in out.stderr
    assert _intact(con) == before


@pytest.mark.parametrize("page", ["views/home.py", "views/hotspots.py", "views/neighborhood.py"])
def test_hostile_url_parameters_are_named_and_ignored(built_db, page):
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=120)
    at.switch_page(page)
    for key in ("source", "category", "start", "end", "area", "layer"):
        at.query_params[key] = HOSTILE[0]
    at.run()
    assert not at.exception
    assert any("ignored source=" in w.value for w in at.warning)


def test_hostile_form_text_is_stored_as_text_and_defused_in_downloads(registry_file):
    event = registry.parse({"event_id": "hostile-text", "name": HOSTILE[2], "footprint_type": "neighborhoods",
                            "neighborhoods": "Lykins", "notes": HOSTILE[0] + HOSTILE[3] + HOSTILE[6]})
    registry.upsert(event)
    stored = registry.get("hostile-text")
    assert stored.name == HOSTILE[2] and "\x00" not in stored.notes and "\x1b" not in stored.notes
    table = pd.DataFrame([e.row() for e in registry.load()])
    download = web.csv_bytes(table).decode()
    assert "'=HYPERLINK" in download  # defused: a spreadsheet shows it as text
    assert ",=HYPERLINK" not in download and ',"=HYPERLINK' not in download


@pytest.mark.parametrize("cell, safe", [("=1+1", "'=1+1"), ("+SUM(A1)", "'+SUM(A1)"), ("-2+3", "'-2+3"),
                                        ("@cmd", "'@cmd"), ("plain", "plain"), ("3400 NORTON AV", "3400 NORTON AV")])
def test_csv_downloads_neutralise_formulas(cell, safe):
    out = web.csv_bytes(pd.DataFrame({"a": [cell]})).decode().splitlines()[1]
    assert out == safe


def test_no_names_in_the_bundled_database(con):
    """Neither KCPD nor GVA names reach a table: no name column exists and no stored text holds the GVA names."""
    cols = [r[0] for r in con.execute("SELECT column_name FROM information_schema.columns "
                                      "WHERE column_name ILIKE '%name%' AND table_name <> 'areas'").fetchall()]
    assert cols == []
    rejects = " ".join(r[0] for r in con.execute("SELECT raw FROM rejects").fetchall())
    assert "participant_name" not in rejects
    source = Path(ROOT / "data/raw/gva_kc_2013_2018.csv.gz")
    assert "participant_name" not in pd.read_csv(source, nrows=1).columns  # the bundled copy has none either


#: SYNTHETIC names, invented for this test: no real person's. Each is put in a name column of a fixture file.
SYNTHETIC_NAMES = ["Zorblat Quennifer", "Yusvane Trottelbeck", "Maxifrond Oolagreve", "Pellwick Snorradottir"]
#: a rejected row's key, to show that the scan does see the fixture's rows where the Data page lists them
REJECTED_KEY = "SYNTHETIC-REJECT-1"


def _fixtures_with_names(folder: Path) -> list[Path]:
    """Real rows (GVA's 2016 incidents on Prospect Avenue; the first rows of the KCPD 2018 API sample) with a
    SYNTHETIC name column each, and two rows of each made unreadable (a bad date, SYNTHETIC) so they are rejected
    and listed, raw, on the Data page."""
    gva = pd.read_csv(ROOT / "data/raw/gva_kc_2013_2018.csv.gz", dtype=str)
    gva = gva[gva.date.str.startswith("2016") & gva.address.fillna("").str.contains("Prospect")].head(12).copy()
    gva["participant_name"] = [f"0::{SYNTHETIC_NAMES[i % 2]}" for i in range(len(gva))]
    gva.iloc[:2, gva.columns.get_loc("date")] = "2016-13-45"  # rejected: unreadable date
    gva.iloc[0, gva.columns.get_loc("incident_id")] = REJECTED_KEY
    kcpd = pd.read_csv(ROOT / "data/raw/kcpd_2018_api_sample.csv.gz", dtype=str).head(12).copy()
    kcpd["Victim_Name"] = [SYNTHETIC_NAMES[2 + i % 2] for i in range(len(kcpd))]
    kcpd.iloc[:2, kcpd.columns.get_loc("reported_date")] = "13/45/2018"
    out = [folder / "gva_with_names.csv", folder / "kcpd_with_names.csv"]
    gva.to_csv(out[0], index=False)
    kcpd.to_csv(out[1], index=False)
    return out


def _rendered_bytes(at: AppTest) -> bytes:
    """Everything a page sent to the browser: every element's message (text, widget options, dataframes as Arrow,
    charts as JSON), serialized as it goes over the wire."""
    return b"\n".join(node.proto.SerializeToString() for node in at._tree
                       if getattr(node, "proto", None) is not None)


def test_no_names_on_any_page_after_loading_files_that_carry_them(tmp_path, monkeypatch):
    """Files with a name column (GVA's participant_name; a KCPD 'Victim_Name') are loaded, some of their rows rejected;
    no page shows a name: not in text, tables, charts, widgets or the rejected rows. The fixtures are loaded first
    in the build so their rejected rows are among those the Data page lists (it lists the first 500)."""
    from etl import build as build_module
    from etl.load import CoverageSpec

    gva, kcpd = _fixtures_with_names(tmp_path)
    real = build_module.bundled_files
    monkeypatch.setattr(build_module, "bundled_files", lambda: [
        (gva, "gva", None, CoverageSpec(declare=False), False),
        (kcpd, "kcpd", None, CoverageSpec(declare=False), False), *real()])
    db = tmp_path / "names.duckdb"
    results = build_module.build(db, progress=False)
    assert [r.rows_rejected for r in results[:2]] == [2, 2]
    monkeypatch.setenv("KC_VIOLENCE_DB", str(db))
    with duckdb.connect(str(db), read_only=True) as c:
        stored = " ".join(str(v) for t, in c.execute("SHOW TABLES").fetchall()
                          for row in c.execute(f'SELECT * FROM "{t}"').fetchall() for v in row)  # noqa: S608
    assert REJECTED_KEY in stored  # the rejected rows are stored, raw
    assert [n for n in SYNTHETIC_NAMES if n in stored] == []  # but without the name column
    views = [("views/home.py", {"source": "gva", "start": "2016-01-01", "end": "2016-12-31"}),
             ("views/hotspots.py", {"source": "gva", "category": "shooting", "start": "2016-01-01",
                                    "end": "2016-12-31"}),
             ("views/neighborhood.py", {"area": "Ivanhoe Southeast", "source": "gva", "start": "2016-01-01",
                                        "end": "2016-12-31"}),
             ("views/neighborhood.py", {"area": "Ruskin Heights", "source": "kcpd", "start": "2018-01-01",
                                        "end": "2018-12-31"}),
             ("views/outreach.py", {}), ("views/data.py", {})]
    for page, params in views:
        at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=120)
        at.switch_page(page)
        for k, v in params.items():
            at.query_params[k] = v
        at.run()
        assert not at.exception, page
        shown = _rendered_bytes(at)
        assert [n for n in SYNTHETIC_NAMES if n.encode() in shown] == [], page
        if page == "views/data.py":  # the scan sees the fixtures' rejected rows, raw, as the page lists them
            assert REJECTED_KEY.encode() in shown and b"gva_with_names.csv" in shown


# --- names, in any spelling or case ------------------------------------------------------------------------------------

NAME_HEADERS = ["VICTIMNAME", "victimname", "SUSPECTNAME", "participantname", "Victim_First", "victim_last",
                "SuspectLast", "victimFirst", "Victim(s)", "Victim Name", "suspect_name", "OffenderSurname",
                "witness_middle", "First", "last_name", "ArresteeGivenName", "Victim Name/Type", "VICTIM NAME - CITY",
                "Victim Name and Zip", "Vic First"]
KEPT_HEADERS = ["Offense", "Firearm Used Flag", "Address", "Zip Code", "Involvement", "Last_Updated", "last_updated",
                "first_seen", "street name", "neighborhood name", "location name", "Victims Killed", "victim_age",
                "Suspect Race", "Report_No", "Reported_Date", "FirstReported", "lastupdated"]


@pytest.mark.parametrize("header", NAME_HEADERS)
def test_a_name_column_in_any_spelling_is_recognised(header):
    from etl.extract import holds_names

    assert holds_names(header)


@pytest.mark.parametrize("header", KEPT_HEADERS)
def test_columns_that_only_look_like_names_are_kept(header):
    from etl.extract import holds_names

    assert not holds_names(header)


@pytest.mark.parametrize("strict", [True, False], ids=["duckdb reader", "careful reader"])
def test_names_in_any_spelling_reach_neither_the_database_nor_rejects_nor_the_kept_copy(db_copy, tmp_path,
                                                                                       user_files, strict):
    """SYNTHETIC rows with a column of every spelling above, each holding a marker; one row is rejected (a bad date)
    and, for the careful reader, one has an extra field: no marker may be kept anywhere, every other column is."""
    from etl.build import load_file

    header = ["Report_No", "Reported_Date", "IBRS", *KEPT_HEADERS[:5], *NAME_HEADERS]
    rows = [[f"SYN{k}", f"01/0{k + 1}/2020" if k else "not a date", "13A", "Assault", "N", "1 Synthetic St",
             "64106", "VIC", *[f"Zyxw Synthetic{j}" for j in range(len(NAME_HEADERS))]] for k in range(4)]
    lines = [",".join(header)] + [",".join(r) for r in rows]
    if not strict:
        lines.append(",".join(rows[-1]).replace("SYN3", "SYN9") + ",Zyxw Synthetic extra")
    path = tmp_path / "names.csv"
    path.write_text("\n".join(lines) + "\n")
    result = load_file(path, "kcpd", db_copy, progress=False)
    assert result.rows_rejected == (1 if strict else 2) and result.rows_loaded == 3
    with duckdb.connect(str(db_copy), read_only=True) as c:
        for (table,) in c.execute("SELECT table_name FROM duckdb_tables()").fetchall():
            hits = c.execute(f'SELECT count(*) FROM "{table}" t WHERE t::VARCHAR LIKE ?',  # noqa: S608
                             ["%Zyxw%"]).fetchall()
            assert hits == [(0,)], table
    [kept] = list((user_files / "kcpd").iterdir())
    text = kept.read_text()
    assert "Zyxw" not in text
    assert text.splitlines()[0].split(",")[:8] == header[:8]
