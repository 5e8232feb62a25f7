"""`etl refresh` against a portal that lies: every value it sends is parsed into its type before use.

One test per class of attack (a path in the watermark, a quote in a query, a redirect to another host, a trickled
answer, a malformed answer, a bad page in the spool, a second writer), then the parsers they rest on. The portal
is tests/soda_server.py's local stand-in, serving the real 2018 dataset id; no test touches the internet.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time

import pytest

from etl import refresh as refresh_module
from etl import soda
from etl.cli import main
from etl.refresh import Dataset, RefreshError, refresh, session
from kcvt.locks import writer_lock
from tests.soda_server import Portal, api_rows, parse_where

ID, YEAR = "dmjw-d28i", 2018
PAGE = 200
TOKEN = "SECRET-APP-TOKEN"  # noqa: S105 (SYNTHETIC: a test value, not a credential)


@pytest.fixture
def portal(db_copy, monkeypatch):
    """Start a local portal serving `rows` as the 2018 dataset, and restrict the refresh to that dataset."""

    def start(rows: list[dict] | None = None) -> Portal:
        served = Portal({ID: api_rows() if rows is None else rows})
        monkeypatch.setenv("KC_OPEN_DATA_URL", served.url)
        monkeypatch.setattr(refresh_module, "datasets", lambda since=None: [Dataset(YEAR, ID)])
        return served

    return start


def _run(target, http=None):
    return refresh(page_size=PAGE, target=target, progress=False,
                   http=http or session(retries=2, backoff=0.01, timeout=5))


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _pages(user_files) -> list:
    return sorted((user_files / "refresh" / "spool").glob("*/page-*"))


# --- paths --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("source", ["portal", "state.json", "symlinked spool"])
def test_a_path_in_the_watermark_never_touches_anything_outside_the_data_folder(portal, db_copy, tmp_path,
                                                                                user_files, source):
    """A portal once answered `:updated_at = "9999/../../../../victim"`; the next refresh used it as a folder
    name and deleted that folder. The same path can come from state.json, or a link planted in the spool."""
    victim = tmp_path / "victim"  # beside the user folder (tmp_path/user), where the traversal lands
    victim.mkdir()
    (victim / "keep.txt").write_text("not the refresh's to delete")
    rows = api_rows()
    if source == "portal":
        for r in rows:
            r[":updated_at"] = "9999/../../../../victim"
    elif source == "state.json":
        (user_files / "refresh").mkdir(parents=True)
        (user_files / "refresh" / "state.json").write_text(json.dumps({ID: {"watermark": "9999/../../../../victim"}}))
    else:
        (user_files / "refresh" / "spool").mkdir(parents=True)
        (user_files / "refresh" / "spool" / f"{ID}-full").symlink_to(victim, target_is_directory=True)
    sha = _sha(db_copy)
    with portal(rows):
        for _ in range(2):  # the old code stored the path on the first run and used it on the second
            with pytest.raises(RefreshError, match="is not a timestamp|is not inside"):
                _run(db_copy)
    assert [p.name for p in victim.iterdir()] == ["keep.txt"]
    assert _sha(db_copy) == sha


@pytest.mark.parametrize("dataset_id", ["../../../victim", f"{ID}/../..", "abcd-efgh", ID.upper(), f"{ID}\n"])
def test_only_listed_socrata_ids_name_a_url_or_a_folder(portal, user_files, dataset_id):
    with portal():  # lists only dmjw-d28i
        with pytest.raises(RefreshError, match="refusing dataset id"):
            refresh_module.fetch_pages(session(retries=0), Dataset(YEAR, dataset_id), None, PAGE)
    assert not (user_files / "refresh").exists()


# --- SoQL -----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("field, value", [
    (":updated_at", "2019-01-05T00:00:00.000' OR '1'='1"),
    ("report_no", "180067842' OR '1'='1"),
])
def test_a_quote_from_the_portal_never_reaches_a_query(portal, db_copy, field, value):
    rows = api_rows()
    with portal(rows) as served:
        _run(db_copy)  # a good first fetch, so the next one is incremental
        rows[2][":updated_at"] = "2019-01-05T00:00:00.000"
        rows[2][field] = value
        for _ in range(2):  # the old code stored a bad watermark on the first run and sent it on the second
            with pytest.raises(RefreshError, match="is not a timestamp|is not a plain report number"):
                _run(db_copy)
    wheres = [e["$where"] for e in served.log if "$where" in e]
    assert wheres and not [e for e in served.log if e.get("malformed")]
    assert [parse_where(w)[:2] for w in wheres] == [("updated", ":updated_at")] * len(wheres)
    assert refresh_module.load_state()[ID]["watermark"] == "2018-11-01T00:00:00.000"


# --- HTTP -------------------------------------------------------------------------------------------------------------

def test_a_redirect_to_another_host_is_refused_and_the_token_never_leaves(portal, db_copy, monkeypatch):
    monkeypatch.setenv("KC_OPEN_DATA_APP_TOKEN", TOKEN)
    sha = _sha(db_copy)
    with Portal({ID: api_rows()}) as elsewhere, portal() as served:  # elsewhere: same address, another port
        served.redirect_to, served.redirect_next = elsewhere.url, 10**6
        with pytest.raises(RefreshError, match=r"dmjw-d28i \(2018\) page 1 .*redirected to another host"):
            _run(db_copy)
    assert elsewhere.log == []  # neither the request nor the token reached it
    assert served.log and all(e["token"] == TOKEN for e in served.log)
    assert _sha(db_copy) == sha


def test_a_redirect_within_the_portal_is_followed_with_the_token(portal, db_copy, monkeypatch):
    monkeypatch.setenv("KC_OPEN_DATA_APP_TOKEN", TOKEN)
    with portal() as served:
        served.redirect_to, served.redirect_next = served.url, 1
        [result] = _run(db_copy)
    assert result.applied and "redirected" in served.log[0]
    assert all(e["token"] == TOKEN for e in served.log)


def test_a_trickling_portal_fails_within_the_deadline(portal, db_copy):
    """A byte every 2 s never trips a read timeout; only a deadline on the whole answer stops it."""
    with portal() as served:
        served.trickle_next = 10**6
        began = time.monotonic()
        with pytest.raises(RefreshError, match=r"dmjw-d28i \(2018\) page 1 \(offset 0\): no complete answer within 3 s"):
            _run(db_copy, http=session(retries=0, backoff=0.01, timeout=5, deadline=3))
        took = time.monotonic() - began
    assert took < 3 + 7  # the requirement is a deadline; the margin is for a busy machine


def test_an_oversized_answer_is_refused(portal, db_copy, monkeypatch):
    monkeypatch.setattr(soda, "MAX_PAGE_BYTES", 10_000)  # a page of 200 rows is about 300 kB
    with portal():
        with pytest.raises(RefreshError, match=r"dmjw-d28i \(2018\) page 1 .*larger than 10,000 bytes"):
            _run(db_copy)


@pytest.mark.parametrize("body, says", [
    (b"{not json", "is not JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "is not JSON"),  # nested too deep to parse
    (b'{"error": "an object, not rows"}', "expected a JSON list of rows, got an object"),
    (b'"rows"', "expected a JSON list of rows, got a string"),
    (b"[1, 2, 3]", "row 1 is a number, not an object"),
    (b'[{"report_no": "180067842"}]', "row 1: :updated_at 'None' is not a timestamp"),
    (b'[{":updated_at": "\\u001b[2J2018"}]', r"row 1: :updated_at '\x1b[2J2018' is not a timestamp"),
])
def test_a_bad_answer_is_one_line_naming_dataset_and_page_and_exits_2(portal, db_copy, capsys, body, says):
    sha = _sha(db_copy)
    with portal() as served:
        served.bodies = [body]
        code = main(["--quiet", "refresh", "--since", str(YEAR)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and "\x1b" not in err
    assert "dmjw-d28i (2018) page 1 (offset 0)" in err and says in err
    assert _sha(db_copy) == sha


# --- spool ----------------------------------------------------------------------------------------------------------

def test_a_bad_page_is_never_spooled_nor_replayed(portal, db_copy, user_files):
    with portal() as served:
        served.bodies = [b'{"error": "not rows"}']
        with pytest.raises(RefreshError, match="page 1"):
            _run(db_copy)
        assert _pages(user_files) == []  # refused before it was written
        # a bad page already on disk (an older version's, or damaged) is deleted and fetched again
        planted = user_files / "refresh" / "spool" / f"{ID}-full" / "page-00000.json"
        planted.parent.mkdir(parents=True, exist_ok=True)
        poisoned = [{**r, ":updated_at": "2019-01-01T00:00:00.000' OR '1'='1"} for r in api_rows()[:PAGE]]
        planted.write_text(json.dumps(poisoned))
        served.log.clear()
        [result] = _run(db_copy)
    assert result.applied and int(served.log[0]["$offset"]) == 0
    assert refresh_module.load_state()[ID]["watermark"] == "2018-11-01T00:00:00.000"
    assert _pages(user_files) == []


# --- one writer -----------------------------------------------------------------------------------------------------

def test_a_refresh_holds_the_writer_lock_from_the_first_request(portal, db_copy, capsys, monkeypatch):
    monkeypatch.setenv("KC_VIOLENCE_LOCK_WAIT", "0")
    holding, release = threading.Event(), threading.Event()

    def other_writer():
        with writer_lock(db_copy, "another writer"):
            holding.set()
            release.wait(120)

    thread = threading.Thread(target=other_writer)
    thread.start()
    try:
        assert holding.wait(30)
        with portal() as served:
            code = main(["--quiet", "refresh", "--since", str(YEAR)])
    finally:
        release.set()
        thread.join()
    assert code == 2 and "another writer" in capsys.readouterr().err
    assert served.log == []  # nothing fetched, nothing spooled


# --- the parsers ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, canonical", [
    ("2018-11-01T00:00:00.000", "2018-11-01T00:00:00.000"),
    ("2018-11-01T00:00:00", "2018-11-01T00:00:00.000"),
    ("2018-11-01T12:34:56.789Z", "2018-11-01T12:34:56.789"),
    ("2018-11-01T12:34:56.7899999", "2018-11-01T12:34:56.789"),  # cut, never rounded up past a row
    ("2018-11-01T01:00:00-05:00", "2018-11-01T06:00:00.000"),
])
def test_a_timestamp_is_parsed_and_written_one_way(text, canonical):
    assert soda.format_timestamp(soda.parse_timestamp(text)) == canonical


@pytest.mark.parametrize("value", [
    "9999/../../../../victim", "2018-11-01T00:00:00.000' OR '1'='1", "2018-13-01T00:00:00", "2018-11-01",
    "2018-11-01T00:00:00.000\n", "\uff12\uff10\uff11\uff18-11-01T00:00:00", 20181101, None, ["2018-11-01T00:00:00"],
])
def test_anything_else_is_not_a_timestamp(value):
    with pytest.raises(ValueError, match="not a"):
        soda.parse_timestamp(value)


@pytest.mark.parametrize("value", ["9999-01-01T00:00:00.000", "1970-01-01T00:00:00.000"])
def test_a_watermark_is_not_in_the_future_nor_before_the_portal(value):
    with pytest.raises(ValueError, match="not a plausible update time"):
        soda.parse_watermark(value)


@pytest.mark.parametrize("value, literal", [
    ("180067842", "'180067842'"), ("O'Brien", "'O''Brien'"), ("'", "''''"), ("", "''"),
])
def test_soql_literal_doubles_quotes(value, literal):
    assert soda.soql_literal(value) == literal


@pytest.mark.parametrize("value", ["a\x00b", "line\nbreak", "\x1b[31m", "a\u2028b", 180067842, None])
def test_soql_literal_refuses_what_is_not_plain_text(value):
    with pytest.raises(RefreshError, match="into a SoQL query"):
        soda.soql_literal(value)


@pytest.mark.parametrize("value", ["", "1' OR '1'='1", "18006\n7842", "x" * 41, 1.5, True, {"a": 1}])
def test_a_report_number_must_be_short_plain_text(value):
    with pytest.raises(RefreshError, match="not a plain report number"):
        soda.report_number(value, ID)


# --- a portal that never stops paging -----------------------------------------------------------------------------

def _many_rows(copies: int) -> list[dict]:
    """SYNTHETIC: the real 2018 sample repeated `copies` times, each copy with its own :id and report numbers."""
    rows = []
    for c in range(copies):
        for r in api_rows():
            rows.append({**r, ":id": f"{r[':id']}-{c}", "report_no": f"{r['report_no']}{c}"})
    return rows


def test_a_portal_that_ignores_the_offset_is_refused_at_the_second_page(portal, db_copy, capsys, user_files):
    """A portal that always sends its first full page once made a refresh climb to 3.2 GB and 790 MB of spool."""
    rows = _many_rows(6)  # more than one page of 5,000 rows, the command line's page size
    sha = _sha(db_copy)
    with portal(rows) as served:
        served.ignore_offset = True
        code = main(["--quiet", "refresh", "--since", str(YEAR)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert f"{ID} ({YEAR}) page 2 (offset 5,000)" in err and "same rows as page 1" in err
    assert len([e for e in served.log if "$offset" in e]) == 2  # refused at once, not after millions of rows
    assert _pages(user_files) == []  # the refused dataset's spool is deleted
    assert _sha(db_copy) == sha


def test_more_rows_than_the_ceiling_are_refused_and_not_spooled(portal, db_copy, user_files, monkeypatch):
    ceiling = 300  # KC_OPEN_DATA_MAX_ROWS; the portal pages properly through 1,000 rows, 200 a page
    monkeypatch.setenv("KC_OPEN_DATA_MAX_ROWS", str(ceiling))
    sha = _sha(db_copy)
    with portal() as served:
        with pytest.raises(refresh_module.NotPaging, match=rf"{ID} \({YEAR}\) page 2: more than {ceiling:,} rows"):
            _run(db_copy)
    assert [int(e["$offset"]) for e in served.log] == [0, PAGE]  # stopped at the first page past the ceiling
    assert _pages(user_files) == [] and _sha(db_copy) == sha


def test_a_refresh_stopped_by_a_stalled_portal_keeps_its_spool_for_the_next_run(portal, db_copy, user_files):
    """Only a refused dataset's spool is deleted; pages fetched before a failure are the next run's head start."""
    with portal() as served:
        served.dead_after = 2 * PAGE
        with pytest.raises(RefreshError, match="HTTP 503"):
            _run(db_copy)
    assert len(_pages(user_files)) == 2


# --- settings -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["KC_OPEN_DATA_DEADLINE", "--deadline"])
def test_the_deadline_is_a_setting(portal, db_copy, capsys, monkeypatch, how):
    seconds = 2
    monkeypatch.setattr(refresh_module, "session", lambda deadline=None: session(retries=0, timeout=30,
                                                                                    deadline=deadline))
    args = ["--quiet", "refresh", "--since", str(YEAR)]
    if how == "--deadline":
        args += ["--deadline", str(seconds)]
    else:
        monkeypatch.setenv("KC_OPEN_DATA_DEADLINE", str(seconds))
    with portal() as served:
        served.trickle_next = 10**6
        code = main(args)
    err = capsys.readouterr().err
    assert code == 2 and f"no complete answer within {seconds} s" in err, err


@pytest.mark.parametrize("args, env, says", [
    (["--deadline", "0"], {}, "--deadline"), (["--deadline", "nan"], {}, "--deadline"),
    (["--deadline", "inf"], {}, "--deadline"), (["--deadline", "-5"], {}, "--deadline"),
    (["--tolerance", "nan"], {}, "--tolerance"), (["--tolerance", "-0.1"], {}, "--tolerance"),
    (["--tolerance", "inf"], {}, "--tolerance"),
    ([], {"KC_OPEN_DATA_DEADLINE": "nan"}, "KC_OPEN_DATA_DEADLINE"),
    ([], {"KC_OPEN_DATA_DEADLINE": "0"}, "KC_OPEN_DATA_DEADLINE"),
    ([], {"KC_OPEN_DATA_MAX_ROWS": "lots"}, "KC_OPEN_DATA_MAX_ROWS"),
])
def test_bad_refresh_settings_are_one_line_and_exit_2(portal, db_copy, capsys, monkeypatch, args, env, says):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with portal() as served:
        with pytest.raises(SystemExit) if args else _no_exit() as done:
            code = main(["--quiet", "refresh", "--since", str(YEAR), *args])
    code = done.value.code if args else code
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and says in err, err
    assert served.log == []  # refused before anything was fetched


@pytest.mark.parametrize("text", ["0.5", "0.001", "1", "120", "86400", "0", "-0.5", "nan", "inf", "86400.5", "1e9",
                                  "soon"])
def test_the_deadline_has_one_rule_for_the_setting_and_the_option(monkeypatch, text):
    """`KC_OPEN_DATA_DEADLINE=0.5` was refused while `--deadline 0.5` was accepted: a value is accepted, as the same
    number, by both or by neither (above 0, at most a day)."""
    from etl.cli import parser
    from kcvt.settings import open_data_deadline

    expected = float(text) if text != "soon" and 0 < float(text) <= 86_400 else None  # the documented rule
    monkeypatch.setenv("KC_OPEN_DATA_DEADLINE", text)
    try:
        from_env = open_data_deadline()
    except ValueError as exc:
        from_env = None
        assert "KC_OPEN_DATA_DEADLINE" in str(exc)
    try:
        from_option = parser().parse_args(["refresh", "--deadline", text]).deadline
    except SystemExit:
        from_option = None
    assert from_env == from_option == expected


class _no_exit:  # noqa: N801 (a stand-in for pytest.raises when the command returns its code)
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
