"""Footprints from users are hostile: checked as numbers before GEOS sees them, and a bad row is set aside with its
reason instead of stopping every event.

GEOS crashes the whole process (a segmentation fault) on `LINESTRING (0 0, 1e308 1e308)`, so anything that could
reach it runs in a subprocess: a crash then shows as a negative return code instead of killing pytest. Every row
written here is synthetic (made up for the test, ids starting "synthetic-"); the only real events are the seed.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pandas as pd
import pytest
import shapely
from streamlit.testing.v1 import AppTest

from analytics import geometry, registry, watch
from kcvt.settings import ROOT

SEEDED = set(pd.read_csv(registry.SEED, dtype=str)["event_id"])  # the real events the registry is seeded with


def _corridor(wkt: str) -> dict:
    return {"footprint_type": "corridor", "line_wkt": wkt, "corridor_width_m": "120"}


#: GEOS's segmentation fault: buffering this line in metres (projected, it is infinite) kills the process.
CRASHER = "LINESTRING (0 0, 1e308 1e308)"

HOSTILE = [
    pytest.param(_corridor(CRASHER), "line_wkt: coordinate 0 is outside the Kansas City area", id="segfault-line"),
    pytest.param(_corridor("LINESTRING (-94.55 39.1, 1e308 1e308)"),
                 "line_wkt: coordinate 1e308 is outside the Kansas City area", id="1e308"),
    pytest.param(_corridor("LINESTRING (-94.55 39.1, inf nan)"), "line_wkt: coordinate 'inf' is not a number",
                 id="inf-nan"),
    pytest.param(_corridor("LINESTRING (-96.80 32.78, -96.79 32.78)"),
                 "line_wkt: coordinate -96.80 is outside the Kansas City area", id="far-outside"),
    pytest.param(_corridor("LINESTRING (" + ", ".join(["-94.55 39.1", "-94.54 39.1"] * 50_000) + ")"),
                 "line_wkt: the line has 100,000 points; at most 1,000", id="100k-vertices"),
    pytest.param(_corridor("LINESTRING (-94.55" + "0" * 1_000_000 + " 39.1, -94.54 39.1)"),
                 "characters long; at most 20,000 are accepted", id="1MB-wkt"),
    pytest.param({"footprint_type": "point", "point_lon": "1e308", "point_lat": "39.1", "radius_m": "1e12"},
                 "point_lon: 1e308 is outside the Kansas City area", id="point-1e308-huge-radius"),
]


def _event(event_id: str, **fields) -> dict:
    return {"event_id": event_id, "name": "Synthetic event (test data)", "start_date": "2020-01-01",
            "footprint_type": "neighborhoods", "neighborhoods": "Lykins", **fields}


def _csv(*rows: dict) -> str:
    return pd.DataFrame(list(rows), columns=registry.COLUMNS).to_csv(index=False)


def _append(path, *rows: dict) -> None:
    """A hand edit: rows added to the end of the registry file."""
    pd.DataFrame(list(rows), columns=registry.COLUMNS).to_csv(path, mode="a", header=False, index=False)


def _run(*code_or_args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *code_or_args], cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("fields, message", HOSTILE)
def test_hostile_geometry_is_refused_in_a_watch_area(fields, message):
    with pytest.raises(registry.RegistryError, match=re.escape(message)):
        watch.AREAS.parse({"area_id": "synthetic-area", "name": "Synthetic area (test data)", **fields})


@pytest.mark.parametrize("fields, message", HOSTILE)
def test_hostile_geometry_in_an_import_is_reported_and_the_good_row_kept(fields, message):
    n, problems = registry.import_csv(_csv(_event("synthetic-walk"), _event("synthetic-hostile", **fields)))
    assert n == 1
    assert len(problems) == 1 and problems[0].startswith("row 2: synthetic-hostile: ") and message in problems[0]
    assert {e.event_id for e in registry.load()} == SEEDED | {"synthetic-walk"}


@pytest.mark.parametrize("fields, message", HOSTILE)
def test_a_hostile_hand_edited_row_does_not_stop_the_command_line(registry_file, fields, message):
    registry.load()  # seed
    _append(registry_file, _event("synthetic-hostile", **fields))
    out = _run("-m", "analytics", "events", "--json")
    assert out.returncode == 0, (out.returncode, out.stderr[-2000:])
    assert {e["event_id"] for e in json.loads(out.stdout)} == SEEDED
    warnings = [line for line in out.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, out.stderr[-2000:]
    assert f"row {len(SEEDED) + 1}: synthetic-hostile: " in warnings[0] and message in warnings[0] and len(warnings[0]) < 400


def test_a_footprint_changed_without_validation_is_checked_again_before_geos(registry_file):
    registry.load()
    code = ("from analytics import registry\n"
            "e = registry.get('independence-ave-2023-11-29')\n"
            f"e = e.model_copy(update={{'line_wkt': {CRASHER!r}}})\n"
            "try:\n"
            "    e.footprint()\n"
            "except registry.RegistryError as exc:\n"
            "    print('refused:', exc)\n")
    out = _run("-c", code)
    assert out.returncode == 0, (out.returncode, out.stderr[-2000:])
    assert "refused: line_wkt: coordinate 0 is outside the Kansas City area" in out.stdout
    with pytest.raises(geometry.GeometryRejected, match="buffer distance"):
        geometry.buffer_m(shapely.Point(-94.55, 39.1), 1e308)


def test_set_aside_rows_stay_in_the_file_through_saves_until_deleted(registry_file):
    registry.load()
    hostile = _event("synthetic-hostile", **_corridor("LINESTRING (-94.55 39.1, inf nan)"))
    repeat = pd.read_csv(registry_file, dtype=str, keep_default_na=False).iloc[0].to_dict()
    _append(registry_file, hostile, repeat)
    assert {e.event_id for e in registry.load()} == SEEDED
    assert registry.problems() == [
        f"canvass_events.csv row {len(SEEDED) + 1}: synthetic-hostile: line_wkt: coordinate 'inf' is not a number",
        f"canvass_events.csv row {len(SEEDED) + 2}: event_id independence-ave-2023-11-29 repeats row 1"]
    with pytest.raises(registry.RegistryError, match="set aside"):
        registry.get("synthetic-hostile")
    registry.upsert(registry.parse(_event("synthetic-walk")))
    assert "LINESTRING (-94.55 39.1, inf nan)" in registry_file.read_text()
    assert [p.split(": ", 1)[1] for p in registry.problems()] == [
        "synthetic-hostile: line_wkt: coordinate 'inf' is not a number",
        "event_id independence-ave-2023-11-29 repeats row 1"]
    registry.delete("synthetic-hostile")
    assert "synthetic-hostile" not in registry_file.read_text()
    assert {e.event_id for e in registry.load()} == SEEDED | {"synthetic-walk"}


def test_repeated_ids_in_an_import_are_reported_row_by_row():
    text = _csv(_event("synthetic-walk-a", name="Synthetic walk A"), _event("synthetic-walk-b"),
                _event("synthetic-walk-a", name="Synthetic walk A again"), _event("synthetic-walk-a"))
    n, problems = registry.import_csv(text)
    assert n == 2
    assert problems == ["row 3: event_id synthetic-walk-a repeats row 1", "row 4: event_id synthetic-walk-a repeats row 1"]
    assert registry.get("synthetic-walk-a").name == "Synthetic walk A"


def test_a_second_writer_is_refused_naming_the_first(registry_file, monkeypatch):
    registry.load()
    before = registry_file.read_text()
    monkeypatch.setenv("KC_VIOLENCE_LOCK_WAIT", "0")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys\nfrom kcvt.locks import writer_lock\n"
         f"with writer_lock({str(registry_file)!r}, 'synthetic holder'):\n"
         "    print('held', flush=True)\n    sys.stdin.read()\n"],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"  # returns at once if the holder died
        who = re.escape(f"process {holder.pid} (synthetic holder")
        with pytest.raises(registry.RegistryError, match=who):
            registry.upsert(registry.parse(_event("synthetic-walk")))
        with pytest.raises(registry.RegistryError, match=who):
            registry.import_csv(_csv(_event("synthetic-walk")))
        with pytest.raises(registry.RegistryError, match=who):
            registry.delete("pal-center-2017-07-26")
        assert registry_file.read_text() == before
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    registry.upsert(registry.parse(_event("synthetic-walk")))  # free again once the holder is gone
    assert "synthetic-walk" in {e.event_id for e in registry.load()}


def test_the_outreach_page_warns_about_a_set_aside_row_and_shows_the_rest(built_db, registry_file):
    registry.load()
    _append(registry_file, _event("synthetic-hostile", **_corridor("LINESTRING (-94.55 39.1, 1e308 1e308)")))
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=120)
    at.session_state["outreach_tab"] = "Canvass registry"  # the registry's table is built when its tab is open
    at.switch_page("views/outreach.py").run()
    assert not at.exception
    assert any(f"row {len(SEEDED) + 1}: synthetic-hostile: line_wkt: coordinate 1e308" in w.value for w in at.warning)
    table = next(pd.DataFrame(d.value) for d in at.dataframe if "Event id" in pd.DataFrame(d.value).columns)
    assert set(table["Event id"]) == SEEDED
