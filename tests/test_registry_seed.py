"""The real events of the issue in the registry: derived footprints, stated uncertainty, programs, and new seed
events reaching registries seeded before they were bundled without overwriting users' edits."""

from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd
import pytest
import shapely

from analytics import geometry, program, registry, streets
from tests.conftest import RAW

NEW = ["prospect-peace-walk-2019-08-08", "prospect-prayer-2021-07-03", "prospect-35th-2023-05-17",
       "parate-por-paz-2024-12", "council-2026-ruskin-heights", "council-2026-independence-plaza",
       "council-2026-north-town-fork-creek", "council-2026-marlborough-heights", "council-2026-ivanhoe"]


def seed() -> pd.DataFrame:
    return pd.read_csv(registry.SEED, dtype=str, keep_default_na=False).set_index("event_id")


def test_prospect_footprints_are_derived_from_geocoded_gva_addresses():
    """Recomputed here from the raw GVA file: corners are medians of incidents naming both streets; the corridor
    is a least-squares line of longitude on latitude through incidents on Prospect between the cross streets."""
    raw = pd.read_csv(RAW / "gva_kc_2013_2018.csv.gz").dropna(subset=["latitude", "longitude"])
    s = seed()
    on = raw.address.str.contains(r"\bProspect\b")
    for event, cross in (("prospect-peace-walk-2019-08-08", r"\b39th\b"), ("prospect-35th-2023-05-17", r"\b35th\b")):
        corner = raw[on & raw.address.str.contains(cross)]
        assert float(s.loc[event, "point_lon"]) == pytest.approx(corner.longitude.median(), abs=1e-4)
        assert float(s.loc[event, "point_lat"]) == pytest.approx(corner.latitude.median(), abs=1e-4)
        assert s.loc[event, "radius_m"] == "800"
    north = raw[raw.address.str.contains(r"\bLexington\b")].latitude.median()
    south = raw[raw.address.str.contains(r"\b81st\b")].latitude.median()
    line = shapely.from_wkt(s.loc["prospect-prayer-2021-07-03", "line_wkt"])
    assert sorted(y for _, y in line.coords) == pytest.approx([south, north], abs=1e-4)
    fit = raw[on & raw.latitude.between(south, north)]
    b, a = np.polyfit(fit.latitude, fit.longitude, 1)
    for x, y in line.coords:
        assert x == pytest.approx(a + b * y, abs=1e-4)
    assert geometry.to_metres(line).length > 14_000  # Lexington Ave to 81st St is about 14.5 km


def test_parate_por_paz_names_the_neighborhoods_along_independence_avenue(con):
    from analytics import evaluation

    line = streets.seed_geometry()["independence ave: paseo to east end"]
    named = streets.neighborhoods_along(line, evaluation.neighborhood_shapes(con))
    assert registry.get("parate-por-paz-2024-12").neighborhoods == named


def test_new_events_carry_sources_and_say_what_is_unconfirmed():
    s = seed()
    for event in NEW:
        row = s.loc[event]
        assert row["source"] and row["notes"]
        if row["date_confirmed"] == "False":
            assert "not published" in row["notes"] and "unconfirmed" in row["notes"]
    assert "FOX4, 2019-08-08" in s.loc[NEW[0], "source"] and "Martin City Telegraph, 2021-07-19" in s.loc[NEW[1], "source"]
    assert "KSHB, 2023-05-17" in s.loc[NEW[2], "source"]
    assert s.loc["parate-por-paz-2024-12", "start_date"] == "2024-12-01"
    council = s[s.program == "council-2026"]
    assert len(council) == 5 and set(council.start_date) == {"2026-01-01"} and set(council.date_confirmed) == {"False"}
    assert all("ordinance month" in n for n in council.notes)
    assert "Marlborough Heights/Marlborough Pride" in s.loc["council-2026-marlborough-heights", "notes"]
    assert all(n in s.loc["council-2026-ivanhoe", "notes"] for n in ("Ivanhoe Northeast", "Ivanhoe Southeast",
                                                                       "Ivanhoe Southwest"))
    assert "2022-08-16" in s.loc["ruskin-heights-undated", "notes"] and "January 2025" in s.loc[
        "ruskin-heights-undated", "notes"]
    assert "June 2017" in s.loc["pal-center-2017-07-26", "notes"]
    assert set(s[s.program == "prospect-corridor"].index) == set(NEW[:3])


def test_new_seed_events_reach_an_older_registry_without_overwriting_edits(registry_file):
    old = seed().reset_index().head(3).drop(columns=["program"])
    old.loc[0, "notes"] = "edited by a user"
    old = old.drop(index=2)  # the PAL Center walk, deleted by a user
    registry_file.parent.mkdir(parents=True, exist_ok=True)
    old.to_csv(registry_file, index=False)
    ids = [e.event_id for e in registry.load()]
    assert ids == [*old.event_id, *NEW]
    assert registry.get("independence-ave-2023-11-29").notes == "edited by a user"
    registry.delete("council-2026-ivanhoe")
    assert "council-2026-ivanhoe" not in {e.event_id for e in registry.load()}  # a deletion stays
    assert "pal-center-2017-07-26" not in {e.event_id for e in registry.load()}


def test_an_editor_sets_a_programs_start_for_every_event():
    changed = program.set_start("council-2026", pd.Timestamp("2026-03-02").date(), True)
    assert len(changed) == 5
    for e in registry.load():
        if e.program == "council-2026":
            assert str(e.start_date) == "2026-03-02" and e.date_confirmed and "by an editor" in e.notes
    program.set_start("council-2026", pd.Timestamp("2026-04-01").date(), False)
    notes = registry.get("council-2026-ivanhoe").notes
    assert notes.count("by an editor") == 1 and "2026-04-01" in notes
    with pytest.raises(program.ProgramError):
        program.set_start("nope", pd.Timestamp("2026-04-01").date())


def test_a_read_after_another_writer_edits_the_file_sees_the_edit(registry_file):
    """Pages read the registry on every run, and a parse is kept while the file is unchanged (registry.Store.read):
    an edit made outside this process, in place and of the same length, must show on the next read, whether the
    file was last written long ago or just now."""
    def names() -> dict[str, str]:
        return {e.event_id: e.name for e in registry.load()}

    def edit_in_place(old: str, new: str) -> None:  # same inode, same size
        text = registry_file.read_text()
        assert len(new) == len(old) and text.count(old) == 1
        with registry_file.open("r+") as f:
            f.write(text.replace(old, new))

    old_name = names()["independence-ave-2023-11-29"]
    long_ago = time.time() - 3600
    os.utime(registry_file, (long_ago, long_ago))
    assert names() == names()  # a file an hour old: its parse is kept
    edit_in_place(old_name, old_name.replace("Independence", "Independenze"))
    os.utime(registry_file, (long_ago + 1, long_ago + 1))  # only the time tells the edit
    assert names()["independence-ave-2023-11-29"] == old_name.replace("Independence", "Independenze")
    edit_in_place("Independenze", "Independenzo")  # just now: the time may not have moved past the last stamp
    assert names()["independence-ave-2023-11-29"] == old_name.replace("Independence", "Independenzo")
    registry.EVENTS.delete("ruskin-heights-undated")  # through the store: a new file
    assert "ruskin-heights-undated" not in names()
