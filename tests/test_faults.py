"""Kill the build, a refresh and registry writes at random moments: the last good state always survives."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd

from analytics import registry
from etl.build import load_file
from kcvt.settings import ROOT
from tests.soda_server import Portal, api_rows

TRIALS = 6


def _moments(rng: random.Random, low: float, high: float, n: int = TRIALS) -> list[float]:
    """n kill moments spread over [low, high]: one drawn at random in each of n equal slices, so few kills still
    reach every stage of the run (twenty uniform draws cluster and leave gaps as often as not)."""
    width = (high - low) / n
    moments = [low + width * (i + rng.random()) for i in range(n)]
    rng.shuffle(moments)
    return moments


def _counts(path: Path) -> tuple:
    """Incidents, the rows and the total of the roll-up (new incidents in counted months change the total, not always
    the rows), and coverage rows."""
    with duckdb.connect(str(path), read_only=True) as c:
        return c.execute("SELECT (SELECT count(*) FROM incidents), (SELECT count(*) FROM area_counts), "
                         "(SELECT sum(n::DECIMAL(38, 6)) FROM area_counts), (SELECT count(*) FROM coverage)").fetchall()[0]


def _kill_after(cmd: list[str], env: dict, seconds: float) -> int:
    """Run cmd, kill it after `seconds`; its process id."""
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    time.sleep(seconds)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return proc.pid


def _kill_when(cmd: list[str], env: dict, ready, limit: float = 120.0) -> int:
    """Run cmd, kill it once ready() (or after `limit` seconds); its process id."""
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + limit
    while not ready() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return proc.pid


def _copies(folder: Path) -> dict[Path, int]:
    """Half-written database copies (`<db>.tmp-<pid>`, and their .wal) with the process id that wrote each."""
    return {p: int(p.name.split(".tmp-")[1].split(".")[0]) for p in folder.iterdir() if ".tmp-" in p.name}


def test_killing_the_build_at_random_moments_never_breaks_the_database(built_db, tmp_path, registry_file):
    target = tmp_path / "kc.duckdb"
    target.write_bytes(built_db.read_bytes())
    expected = _counts(target)
    registry.load()  # seed the registry
    before = registry_file.read_text()
    rng = random.Random(7)
    cmd = [sys.executable, "-m", "etl", "--quiet", "build"]
    env = {"KC_VIOLENCE_DB": str(target), "KC_VIOLENCE_REGISTRY": str(registry_file)}
    killed = set()
    for moment in _moments(rng, 0.3, 7.0):
        killed.add(_kill_after(cmd, env, moment))
        assert _counts(target) == expected  # opens, and holds the same counts
        assert registry_file.read_text() == before
    # the last build is killed once its own copy is on disk, whatever the machine's speed: a leftover is certain
    killed.add(_kill_when(cmd, env, lambda: set(_copies(tmp_path).values()) - killed))
    assert _counts(target) == expected and registry_file.read_text() == before
    leftovers = _copies(tmp_path)
    assert leftovers and set(leftovers.values()) <= killed  # copies of killed builds only
    load_file(Path(ROOT / "tests/data/bad/kcpd_semicolon.csv"), "kcpd", target, progress=False)
    assert _copies(tmp_path) == {}  # the next run cleans up after killed ones


def test_killing_a_refresh_leaves_the_last_good_database_and_it_resumes(db_copy, user_files):
    """11 kills: 6 during the paged fetch (the database must be untouched), one just after the database file is
    first replaced, 4 during loading and the swap (the database must be the old one or the complete new one, and
    always open). The complete one is what a run that finishes leaves: every report of the 2018 sample once more,
    under its SYNTHETIC number."""
    import shutil

    rows = api_rows()
    rows += [{**r, "report_no": r["report_no"] + "5", ":id": r[":id"] + "b"} for r in rows]  # 1,852 reports
    old = _counts(db_copy)
    script = (
        "import sys; from pathlib import Path; from etl import refresh as r; from etl.refresh import Dataset;"
        "r.datasets = lambda since=None: [Dataset(2018, 'dmjw-d28i')];"
        "r.refresh(page_size=100, target=Path(sys.argv[1]), progress=False, force=True,"
        " http=r.session(retries=2, backoff=0.01, timeout=5))"
    )
    spool = user_files / "refresh" / "spool"
    rng = random.Random(11)
    with Portal({"dmjw-d28i": rows}) as portal:
        env = {"KC_OPEN_DATA_URL": portal.url}
        portal.slow_seconds = 1.0  # 20 pages of 1 s each: kills land mid-fetch
        for moment in [*_moments(rng, 2.0, 4.0, 5), None]:
            shutil.rmtree(spool, ignore_errors=True)  # each kill at a different point from the start
            portal.slow_next = 10 ** 6
            if moment is not None:
                _kill_after([sys.executable, "-c", script, str(db_copy)], env, moment)
            else:  # the last one is killed once two pages are on disk, whatever the machine's speed
                _kill_when([sys.executable, "-c", script, str(db_copy)], env,
                           lambda: len(list(spool.glob("*/page-*.json"))) >= 2)
            assert _counts(db_copy) == old
        assert len(list(spool.glob("*/page-*.json"))) >= 2  # the killed run's pages are kept
        portal.slow_next = 0
        portal.log.clear()
        inode = db_copy.stat().st_ino  # a swap renames a new file over the database
        _kill_when([sys.executable, "-c", script, str(db_copy)], env, lambda: db_copy.stat().st_ino != inode)
        seen = [_counts(db_copy)]  # the first file swapped in must already be the complete one
        for moment in _moments(rng, 1.5, 5.0, 4):  # fast pages: kills land while loading, rolling up or swapping
            _kill_after([sys.executable, "-c", script, str(db_copy)], env, moment)
            seen.append(_counts(db_copy))  # opens after every kill
        resumed_from = int(portal.log[0]["$offset"])  # where the first fast run started
        done = subprocess.run([sys.executable, "-c", script, str(db_copy)], cwd=ROOT, env={**os.environ, **env},
                              capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert resumed_from > 0  # the first fast run resumed from the spooled pages
    reports = pd.read_csv(ROOT / "data/raw/kcpd_2018_api_sample.csv.gz", dtype=str).report_no.nunique()
    complete = _counts(db_copy)
    assert complete[0] == old[0] + reports  # the sample's reports were loaded already; their copies are new
    assert set(seen) <= {old, complete}, seen  # after every kill: the old database, or the complete new one
    with duckdb.connect(str(db_copy), read_only=True) as c:
        n = c.execute("SELECT count(*) FROM incidents WHERE source_id = 'kcpd' AND year(event_date) = 2018"
                      ).fetchall()[0][0]
    assert n == 2 * reports


def test_killing_registry_writes_never_damages_it(registry_file):
    registry.load()
    script = (
        "from analytics import registry as r\n"
        "e = r.get('pal-center-2017-07-26')\n"
        "for i in range(100000):\n"
        "    r.upsert(e.model_copy(update={'notes': 'write %d' % i}))\n"
    )
    rng = random.Random(5)
    for moment in _moments(rng, 0.3, 1.5):
        _kill_after([sys.executable, "-c", script], {"KC_VIOLENCE_REGISTRY": str(registry_file)}, moment)
        events = registry.load()  # parses whole every time
        assert {e.event_id for e in events} == set(pd.read_csv(registry.SEED).event_id)


def test_the_app_keeps_serving_during_a_refresh_and_shows_new_data_after(db_copy, tmp_path, monkeypatch):
    import copy
    import threading

    from streamlit.testing.v1 import AppTest

    from etl import refresh as refresh_module
    from etl.refresh import Dataset

    def kcpd_incidents(at) -> int:
        table = next(pd.DataFrame(t.value) for t in at.table if "caveat" in pd.DataFrame(t.value).columns)
        row = table[table["source (its id in links and the CLI)"].str.endswith("(kcpd)")].iloc[0]
        return int(str(row["incidents"]).replace(",", ""))

    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=120)
    at.switch_page("views/data.py").run()
    before = kcpd_incidents(at)
    rows = api_rows()
    extra = [{**copy.deepcopy(r), "report_no": r["report_no"] + "7", ":id": r[":id"] + "x"} for r in rows]
    monkeypatch.setattr(refresh_module, "datasets", lambda since=None: [Dataset(2018, "dmjw-d28i")])
    with Portal({"dmjw-d28i": rows + extra}) as portal:
        monkeypatch.setenv("KC_OPEN_DATA_URL", portal.url)
        portal.slow_next, portal.slow_seconds = 10 ** 6, 0.2
        outcome = {}

        def run_refresh():
            try:
                outcome["result"] = refresh_module.refresh(
                    page_size=200, target=db_copy, progress=False, force=True,
                    http=refresh_module.session(retries=2, backoff=0.01, timeout=5))
            except Exception as exc:  # noqa: BLE001 (reported by the assertion below)
                outcome["error"] = exc

        worker = threading.Thread(target=run_refresh)
        worker.start()
        time.sleep(0.5)
        at.run()  # while the refresh runs, the app still answers from the last good database
        assert not at.exception and kcpd_incidents(at) == before
        portal.slow_next = 0
        worker.join(timeout=120)
    assert "error" not in outcome, outcome
    assert outcome["result"][0].applied, outcome
    at.run()
    assert kcpd_incidents(at) == before + len({r["report_no"] for r in extra})
