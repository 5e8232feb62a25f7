"""Every file in the bad-input corpus: a clear message, good rows loaded, rejects kept, nothing lost."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from etl.build import load_file
from etl.errors import SchemaError

BAD = Path(__file__).parent / "data" / "bad"

# file -> (source, refused whole with this message | (rows loaded, rows rejected, reason fragment or None))
CASES = {
    "empty.csv": ("kcpd", "the file is empty"),
    "kcpd_header_only.csv": ("kcpd", "header but no data rows"),
    "kcpd_missing_report_column.csv": ("kcpd", r"missing column\(s\) report_no"),
    "kcpd_renamed_date_column.csv": ("kcpd", r"missing column\(s\) reported_date"),
    "kcpd_given_a_gva_file.csv": ("kcpd", r"not a KCPD file: missing column\(s\) report_no"),
    "gva_given_a_kcpd_file.csv": ("gva", r"not a Gun Violence Archive file: missing column\(s\) incident_id"),
    "kcpd_truncated.csv": ("kcpd", (5, 1, "unreadable date 2018-08-")),  # cut mid-date
    "kcpd_semicolon.csv": ("kcpd", (6, 0, None)),
    "kcpd_windows1252.csv": ("kcpd", (6, 0, None)),
    "kcpd_future_date.csv": ("kcpd", (5, 1, "date in the future")),
    "kcpd_date_before_1900.csv": ("kcpd", (5, 1, "date before 1900")),
    "kcpd_impossible_time.csv": ("kcpd", (5, 1, "impossible time 25:61")),
    "kcpd_outside_city.csv": ("kcpd", (6, 0, None)),
    "kcpd_swapped_lat_lon.csv": ("kcpd", (5, 1, "latitude and longitude swapped")),
    "kcpd_duplicate_rows.csv": ("kcpd", (6, 2, "exact duplicate")),
    "kcpd_1mb_field.csv.gz": ("kcpd", (5, 1, "characters long")),
    "kcpd_random_bytes_named_gz.csv.gz": ("kcpd", "not a gzip file, though its name ends in .gz"),
    "kcpd_embedded_newline.csv": ("kcpd", (6, 0, None)),
    "kcpd_formula_text.csv": ("kcpd", (6, 0, None)),
    "kcpd_sql_text.csv": ("kcpd", (6, 0, None)),
    "kcpd_unreadable_location.csv": ("kcpd", (6, 0, None)),
    "kcpd_non_numeric_coordinates.csv": ("kcpd", (4, 2, "non-numeric coordinates")),
    "kcpd_zero_coordinates.csv": ("kcpd", (6, 0, None)),
    "kcpd_mixed_date_formats.csv": ("kcpd", (6, 0, None)),
    "kcpd_utf8_bom.csv": ("kcpd", (6, 0, None)),
    "kcpd_blank_lines.csv": ("kcpd", (6, 0, None)),
    "kcpd_extra_columns_with_names.csv": ("kcpd", (6, 0, None)),
    "kcpd_unknown_codes_and_flags.csv": ("kcpd", (6, 0, None)),
    "gva_non_numeric_count.csv": ("gva", (5, 1, "non-numeric killed count")),
    "gva_negative_count.csv": ("gva", (5, 1, "negative injured count")),
    "gva_missing_id.csv": ("gva", (5, 1, "incident id is missing")),
    "gva_repeated_id.csv": ("gva", (6, 1, "incident id repeated")),
    "gva_with_participant_names.csv": ("gva", (6, 0, None)),
    "gva_impossible_date.csv": ("gva", (5, 1, "unreadable date")),
    "gva_tab_separated.tsv": ("gva", (6, 0, None)),
    "gva_impossible_latitude.csv": ("gva", (5, 1, "impossible coordinates")),
}


def test_the_corpus_has_at_least_30_files_and_every_one_is_covered():
    files = {p.name for p in BAD.iterdir() if p.name != "README.md"}
    assert len(files) >= 30 and files == set(CASES)


def _state(path: Path) -> tuple:
    with duckdb.connect(str(path), read_only=True) as c:
        return c.execute("SELECT (SELECT count(*) FROM incidents WHERE source_id NOT IN ('kcpd', 'gva')), "
                         "(SELECT count(*) FROM incidents), (SELECT count(*) FROM area_counts WHERE "
                         "source_id = 'kcpd_nbhd'), (SELECT count(*) FROM sources)").fetchall()[0]


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_file(db_copy, name):
    source, expected = CASES[name]
    before = _state(db_copy)
    if isinstance(expected, str):
        with pytest.raises(SchemaError, match=expected) as err:
            load_file(BAD / name, source, db_copy, progress=False)
        assert name in str(err.value)  # the message names the file
        if "missing column" in expected:  # and lists the file's own headers, not our renamed ones
            assert "firearm_used_flag" in str(err.value) or "n_killed" in str(err.value)
        assert _state(db_copy) == before
        return
    loaded, rejected, reason = expected
    result = load_file(BAD / name, source, db_copy, progress=False)
    assert (result.rows_loaded, result.rows_rejected) == (loaded, rejected), result
    after = _state(db_copy)
    assert after[0] == before[0] and after[2:] == before[2:]  # nothing already loaded is lost
    assert after[1] >= before[1]
    with duckdb.connect(str(db_copy), read_only=True) as c:
        reasons = [r[0] for r in c.execute("SELECT reason FROM rejects WHERE load_id = ?", [result.load_id]).fetchall()]
        everything = " ".join(str(v) for row in c.execute("SELECT * FROM rejects").fetchall() for v in row)
        everything += " ".join(str(v) for row in c.execute("SELECT * FROM incidents WHERE load_id = ?",
                                                           [result.load_id]).fetchall() for v in row)
    assert len(reasons) == rejected
    if reason:
        assert any(reason in r for r in reasons), reasons
    assert "Jane Roe" not in everything and "John Doe" not in everything  # names never stored


# --- the careful reader streams -------------------------------------------------------------------------------------

def _short_rows_file(path: Path, good: int) -> Path:
    """SYNTHETIC: `good` short KCPD rows (fewer fields than the header: the strict reader refuses the file), then one
    line with an extra field and an emoji, the shape of the 99 MB file that once took the loader to 3.4 GB."""
    header = "Report_No,Reported_Date,zip,Offense,Description,IBRS,Race,Sex,Age"
    lines = [header] + [f"SYN{k},06/12/2014,,,,23G,," for k in range(good)] + ["SYNBAD,06/12/2014,,,,23G,,,,x \U0001F600"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_file_the_strict_reader_refuses_is_read_a_line_at_a_time(db_copy, tmp_path, monkeypatch):
    """The careful reader never holds the whole file: reading a file whole (Path.read_bytes / read_text) is refused
    here, as a file of 100 MB read whole, then parsed by pandas' Python parser, peaked at 3.4 GB."""
    import pathlib

    path = _short_rows_file(tmp_path / "short.csv", good=7)
    header_width, bad_fields = 9, 10

    def whole(self, *args, **kwargs):
        raise AssertionError(f"{self} read whole")

    monkeypatch.setattr(pathlib.Path, "read_bytes", whole)
    result = load_file(path, "kcpd", db_copy, progress=False)
    monkeypatch.undo()
    assert (result.rows_read, result.rows_loaded, result.rows_rejected) == (7 + 1, 7, 1)
    with duckdb.connect(str(db_copy), read_only=True) as c:
        [(row, reason, raw)] = c.execute("SELECT row_number, reason, raw FROM rejects WHERE load_id = ?",
                                         [result.load_id]).fetchall()
        keys = [k for (k,) in c.execute("SELECT source_key FROM incidents WHERE load_id = ? ORDER BY 1",
                                        [result.load_id]).fetchall()]
    assert row == 7 + 1  # its record number, counted like the loaded rows'
    assert reason == f"line {7 + 2}: row has {bad_fields} fields, the header has {header_width}"  # header is line 1
    assert raw.startswith("SYNBAD,") and "\U0001F600" in raw
    assert keys == sorted(f"SYN{k}" for k in range(7))


# --- command-line values --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("comparison", ["|", "", " | ", "Lykins||Ruskin Heights"])
def test_an_empty_comparison_list_is_refused(capsys, comparison):
    """It used to mean "the suggested neighborhoods", silently."""
    from analytics.cli import main as analytics_main

    with pytest.raises(SystemExit) as done:
        analytics_main(["evaluate", "--event", "any", "--comparison", comparison, "--json"])
    err = capsys.readouterr().err
    assert done.value.code == 2 and len(err.strip().splitlines()) == 1 and "--comparison" in err, err


def test_yes_without_replace_is_refused(db_copy, capsys, tmp_path):
    from etl.cli import main as etl_main

    path = _short_rows_file(tmp_path / "short.csv", good=2)
    with duckdb.connect(str(db_copy), read_only=True) as c:
        loads = c.execute("SELECT count(*) FROM load_log").fetchall()
    assert etl_main(["--quiet", "load", str(path), "--source", "kcpd", "--yes"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--yes only applies with --replace" in err
    with duckdb.connect(str(db_copy), read_only=True) as c:
        assert c.execute("SELECT count(*) FROM load_log").fetchall() == loads


def test_replace_applies_to_a_file_already_loaded(db_copy, tmp_path):
    """A file loaded (merged), then a second file adds a person-row to one of its reports: --replace on the first
    file, although its checksum is in the load log, previews and applies its reports in place of the merged ones."""
    header = "Report_No,Reported_Date,IBRS,Offense,Sex"
    first = tmp_path / "first.csv"
    first.write_text(f"{header}\nSYNR1,01/05/2020,13A,Assault,F\nSYNR2,01/06/2020,13A,Assault,M\n")
    second = tmp_path / "second.csv"
    second.write_text(f"{header}\nSYNR1,01/05/2020,13B,Assault,M\n")
    load_file(first, "kcpd", db_copy, progress=False)
    load_file(second, "kcpd", db_copy, progress=False)

    def person_rows() -> int:
        with duckdb.connect(str(db_copy), read_only=True) as c:
            return c.execute("SELECT person_rows FROM incidents WHERE source_key = 'SYNR1'").fetchall()[0][0]

    assert person_rows() == 2  # merged: the first file's row and the second's
    preview = load_file(first, "kcpd", db_copy, progress=False, replace=True, preview=True)
    assert not preview.skipped and "already loaded as load" not in preview.message
    assert person_rows() == 2  # a preview changes nothing
    done = load_file(first, "kcpd", db_copy, progress=False, replace=True)
    assert not done.skipped and person_rows() == 1  # the first file's report, as it has it
