"""Shared fixtures (one real database built from the bundled data per test session; one app server and one Chromium
for the browser tests, per pytest-xdist worker: `make test` spreads the browser tests over both) and the test tiers.

Tiers (markers registered in pyproject.toml; `make test` runs them all, `make test-fast` only `unit`):

- unit: in one process, on inline inputs, in-memory DuckDB or the shared (read-only) fixture database;
- app: pages driven through Streamlit's AppTest;
- browser: the real app in Debian's Chromium through Playwright;
- slow: child processes, kills at random moments, loads that write a database file (the loader's lock, private copy
  and swap, into `db_copy` or a fresh build), and the load test.

A module that is one tier says so with `pytestmark`. In a module without one, each test gets its tier from what it
uses (its code, the module's helpers it calls, its fixtures other than the session's shared ones): a child process,
the loader or `db_copy` make it `slow`, AppTest makes it `app`, anything else is `unit`. A test marked `unit` that
uses any of those is a collection error, so the fast tier stays fast. Tests run tier by tier in that order; the load
test (browser and slow) runs last.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import os
import shutil
import subprocess
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from etl.build import build
from kcvt.settings import DATA_DIR

RAW = DATA_DIR / "raw"
TIERS = ("unit", "app", "browser", "slow")
_APP_NAMES = {"AppTest"}
_SLOW_NAMES = {"subprocess", "Popen", "executable",  # a child process (subprocess.run/Popen, sys.executable)
               "build", "load_file"}  # the loader writing a database file
_SLOW_FIXTURES = {"db_copy"}  # a private database file the test loads into
# The shared app server's registry-editing password (in a secrets file, as a deployment sets it)
EDIT_PASSWORD = "correct horse"  # noqa: S105 (a test secret)


def analytics_cli(*args: str) -> subprocess.CompletedProcess:
    """`python -m analytics ARGS` run in this process, its exit code and output as a child's would be. A child Python
    spent 2-4 s importing pandas, DuckDB, statsmodels and esda again on every call (a minute of the suite in all);
    the real entry point keeps its own tests (test_cli.py)."""
    from analytics import cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(list(args))
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code if isinstance(exc.code, int) else 1
    return subprocess.CompletedProcess(["python", "-m", "analytics", *args], code, out.getvalue(), err.getvalue())


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


# ---- the database ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def built_db(tmp_path_factory) -> Path:
    """The real database, built once per session from data/ (no user files) into a temp folder; every module, and
    the app servers of the browser tests, read this one file."""
    path = tmp_path_factory.mktemp("db") / "kc.duckdb"
    build(path, progress=False)
    os.environ["KC_VIOLENCE_DB"] = str(path)  # pages and CLIs read this
    return path


@pytest.fixture(scope="session")
def con(built_db) -> duckdb.DuckDBPyConnection:
    c = duckdb.connect(str(built_db), read_only=True)
    yield c
    c.close()


@pytest.fixture
def db_copy(built_db, tmp_path, monkeypatch) -> Path:
    """A private, writable copy of the real database for tests that load files into it."""
    path = tmp_path / "copy.duckdb"
    shutil.copyfile(built_db, path)
    monkeypatch.setenv("KC_VIOLENCE_DB", str(path))
    return path


def pytest_configure(config):
    """Never read or write the developer's own data/user or registry: the session gets empty ones."""
    import tempfile

    base = Path(tempfile.mkdtemp(prefix="kc-tests-"))
    os.environ["KC_VIOLENCE_USER_DIR"] = str(base / "user")
    os.environ["KC_VIOLENCE_REGISTRY"] = str(base / "registry" / "events.csv")
    os.environ["KC_VIOLENCE_WATCH"] = str(base / "registry" / "watch.csv")


@pytest.fixture(autouse=True)
def user_files(tmp_path, monkeypatch) -> Path:
    """Every test (and every process it starts) keeps loaded and refreshed files in its own folder."""
    monkeypatch.setenv("KC_VIOLENCE_USER_DIR", str(tmp_path / "user"))
    return tmp_path / "user"


@pytest.fixture(autouse=True)
def registry_file(tmp_path, monkeypatch) -> Path:
    """Every test gets its own canvass registry, seeded with the real events on first use."""
    path = tmp_path / "registry" / "canvass_events.csv"
    monkeypatch.setenv("KC_VIOLENCE_REGISTRY", str(path))
    return path


@pytest.fixture(autouse=True)
def _one_component_scan(request) -> None:
    """Each new AppTest scans every installed package's metadata for Streamlit components (0.7 s of each page test on
    2 cores, about 470 packages; the app has none). The installed packages do not change during a run, so in an `app`
    test the first scan's result serves every later AppTest of this process."""
    if request.node.get_closest_marker("app") is None:
        return
    from streamlit.components.v2 import manifest_scanner

    if not hasattr(manifest_scanner, "_kc_first_scan"):
        found = manifest_scanner.scan_component_manifests()
        manifest_scanner._kc_first_scan = found
        manifest_scanner.scan_component_manifests = lambda max_workers=None: list(found)


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text.strip() + "\n", encoding="utf-8")
    return path


# ---- fewer placebos -------------------------------------------------------------------------------------------

_FEW = {"cached": False}  # whether st.cache_data may hold results computed with few placebos


@pytest.fixture
def few_placebos(monkeypatch):
    """Few placebos keep a test fast that compares two readings of one evaluation (a page or the CLI against the
    library) at the same settings; the calibrations' own statistics are test_calibration's, at full counts. The pages'
    st.cache_data results are keyed on their arguments, not on these constants, so the cache is cleared on the way
    in, and again after the last of a run of such tests (pytest_runtest_teardown): a result cached with the full
    counts is never shown here, nor one of these elsewhere. Consecutive tests share their results."""
    import streamlit as st

    from analytics import calibrate, detect, program

    monkeypatch.setattr(calibrate, "N_WDD", 60)
    monkeypatch.setattr(calibrate, "N_SYNTH", 12)
    monkeypatch.setattr(program, "N_PROGRAM", 6)
    monkeypatch.setattr(detect, "N_PLACEBO", 60)
    if not _FEW["cached"]:
        st.cache_data.clear()
        _FEW["cached"] = True


def pytest_runtest_teardown(item, nextitem):
    """After the last of a run of `few_placebos` tests, clear what they cached."""
    if _FEW["cached"] and (nextitem is None or "few_placebos" not in getattr(nextitem, "fixturenames", ())):
        import streamlit as st

        st.cache_data.clear()
        _FEW["cached"] = False


# ---- the browser ----------------------------------------------------------------------------------------------

def _browser_missing(message: str) -> None:
    """In CI a browser test cannot skip: what it needs missing is an error. Elsewhere it skips, saying why."""
    if in_ci():
        pytest.fail(f"{message}; CI runs every browser test (.ci/run installs Debian's chromium)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def chromium() -> str:
    """The path of Debian's Chromium, after checking that it and the playwright package are installed."""
    from tests.browser import CHROMIUM

    if not Path(CHROMIUM).exists():
        _browser_missing(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _browser_missing("the playwright package is missing (pip install -r requirements-dev.txt)")
    return CHROMIUM


@pytest.fixture(scope="module")
def browser(chromium):
    """One headless Chromium per browser module; each test opens its own pages (each its own Streamlit session)."""
    from playwright.sync_api import sync_playwright

    from tests.browser import ARGS

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="session")
def app_server(built_db, chromium, tmp_path_factory) -> Iterator:
    """One `streamlit run` shared by the browser tests, on the session's database, with registry editing turned on
    by a password in a secrets file (viewers who do not enter it see the public app). The load test has its own."""
    from tests.browser import served_app

    with served_app(tmp_path_factory.mktemp("app_server"), built_db, password=EDIT_PASSWORD) as served:
        yield served


# ---- tiers ----------------------------------------------------------------------------------------------------

def _code_names(func, seen: set) -> set[str]:
    """Global and attribute names used by `func` and by the functions of its own module that it calls."""
    func = inspect.unwrap(getattr(func, "__func__", func))
    code = getattr(func, "__code__", None)
    if code is None or code in seen:
        return set()
    seen.add(code)
    names: set[str] = set()
    stack = [code]
    while stack:  # nested functions and lambdas too
        c = stack.pop()
        names |= set(c.co_names)
        stack += [k for k in c.co_consts if isinstance(k, types.CodeType)]
    module = sys.modules.get(func.__module__)
    for name in list(names):
        helper = getattr(module, name, None)
        if inspect.isfunction(helper) and helper.__module__ == func.__module__:
            names |= _code_names(helper, seen)
    return names


def _inferred_tier(item) -> str:
    seen: set = set()
    names = _code_names(item.function, seen)
    for defs in item._fixtureinfo.name2fixturedefs.values():
        for fixturedef in defs:
            if fixturedef.scope != "session":  # the shared database and servers are paid for once
                names |= _code_names(fixturedef.func, seen)
    if names & _SLOW_NAMES or _SLOW_FIXTURES & set(item.fixturenames):
        return "slow"
    return "app" if names & _APP_NAMES else "unit"


def _rank(item) -> int:
    tiers = {m.name for m in item.iter_markers() if m.name in TIERS}
    if {"browser", "slow"} <= tiers:
        return len(TIERS)  # the load test, after everything else
    return max((TIERS.index(t) for t in tiers), default=0)


def pytest_itemcollected(item):
    """Give every test its tier (before `-m` selects), and refuse a `unit` test that is not one."""
    if not isinstance(item, pytest.Function):
        return
    marked = {m.name for m in item.iter_markers() if m.name in TIERS}
    inferred = _inferred_tier(item)
    if not marked:
        item.add_marker(inferred)
    elif marked == {"unit"} and inferred != "unit":
        what = "a child process, the loader or db_copy" if inferred == "slow" else "AppTest"
        raise pytest.UsageError(f"{item.nodeid} is marked unit but uses {what}: mark it {inferred}, or drop its "
                                "module's pytestmark so each test gets its own tier")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """Run tier by tier: unit, app, browser, slow, then the load test."""
    items.sort(key=_rank)  # stable: file order within a tier


# ---- CI: browser tests ran, none skipped ---------------------------------------------------------------------

_BROWSER = {"ran": 0, "skipped": []}


def pytest_runtest_logreport(report):
    if "browser" not in report.keywords:
        return
    if report.skipped:
        _BROWSER["skipped"].append(report.nodeid)
    elif report.when == "call":
        _BROWSER["ran"] += 1


def _browser_problem() -> str | None:
    if not in_ci():
        return None
    if _BROWSER["skipped"]:
        return f"{len(_BROWSER['skipped'])} browser test(s) skipped in CI: {', '.join(_BROWSER['skipped'][:5])}"
    if not _BROWSER["ran"]:
        return "no browser test ran in CI (CI=1): the run must include the browser tier"
    return None


def _worker(config) -> bool:
    """A pytest-xdist worker: the controller, which sees every worker's reports, makes the browser check."""
    return hasattr(config, "workerinput")


def pytest_terminal_summary(terminalreporter):
    problem = None if _worker(terminalreporter.config) else _browser_problem()
    if problem:
        terminalreporter.section("browser tests", sep="=", red=True, bold=True)
        terminalreporter.line(problem, red=True)


def pytest_sessionfinish(session, exitstatus):
    if _worker(session.config):
        return
    if _browser_problem() and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
