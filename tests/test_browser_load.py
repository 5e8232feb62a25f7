"""Twenty sessions at once, against an app server of their own: every page they complete shows no error.

Runs last in the suite (it is both `browser` and `slow`; tests/conftest.py orders the tiers), so the CPU it leaves
busy slows no other test, and no test uses the server it loads. Its figures go to tests/_artifacts/load.json;
latency is recorded, never asserted (timing is the bench's work: python -m bench --browser)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.browser import load_test, served_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LOAD_JSON = Path(__file__).parent / "_artifacts" / "load.json"
PATHS = ["/?source=gva&category=shooting&start=YEAR-01-01&end=YEAR-12-31",
         "/hotspots?source=gva&category=shooting&start=YEAR-01-01&end=YEAR-12-31"]


@pytest.fixture(scope="module")
def load_server(built_db, chromium, tmp_path_factory):
    with served_app(tmp_path_factory.mktemp("load_server"), built_db) as served:
        yield served


def test_twenty_concurrent_sessions_keep_working(load_server):
    """A bounded load test: 20 sessions (one Chromium tab, 19 light clients) drive filters for 15 s, every page
    started before the end is waited for; each session completes pages, and none shows an error. The figures under
    load are the bench's (python -m bench --browser), not this test's."""
    result = load_test(load_server.url, PATHS, sessions=20, seconds=15)
    LOAD_JSON.parent.mkdir(parents=True, exist_ok=True)
    LOAD_JSON.write_text(json.dumps(result, indent=2) + "\n")
    assert min(result["actions_per_session"]) >= 1 and result["errors"] == [], result
