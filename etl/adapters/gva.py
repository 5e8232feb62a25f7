"""Gun Violence Archive incidents, in the three layouts that exist.

- research scrape (jamesqo/gun-violence-data): incident_id, date, n_killed, n_injured,
  latitude, longitude, incident_characteristics, participant_* lists;
- GVA's own CSV export of a query (and its mass-shooting report): "Incident ID",
  "Incident Date" ("June 25, 2023"), "City Or County", "Victims Killed" or "# Killed", ...;
- a simple scrape (jasonjklim/GVA): id, date, city, killed, injured, lat, lng.

`participant_name` holds real names: etl.extract drops it on read, so it is never stored.
"""

from __future__ import annotations

import re

import pandas as pd

from etl import reference
from etl.extract import ROW, RawTable, require_columns
from etl.model import INCIDENT_COLUMNS, Parsed, first_reason, reject_rows
from etl.transform import check_coordinates, normalize_header, parse_dates
from kcvt.settings import PLACEHOLDER_POINTS

ALIASES = {
    "incident_id": ["incident_id", "id"],
    "date": ["date", "incident_date"],
    "city": ["city_or_county", "city"],
    "address": ["address"],
    "killed": ["n_killed", "killed", "victims_killed"],
    "injured": ["n_injured", "injured", "victims_injured"],
    "latitude": ["latitude", "lat"],
    "longitude": ["longitude", "lng", "lon"],
    "characteristics": ["incident_characteristics"],
}
ROLE = {"Victim": "victim", "Subject-Suspect": "suspect"}
_PART = re.compile(r"(\d+)::?([^|]+)")
AGE = {"Adult 18+": "18+", "Teen 12-17": "12-17", "Child 0-11": "0-11"}


def canonical_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """The GVA layouts' columns under one set of names (ALIASES; the first spelling found wins).

    GVA's own export, the research scrape and the simple scrape name the same fields differently.
    """
    normalized = {c: normalize_header(c).lstrip("_") for c in frame.columns if c != ROW}
    rename = {}
    for canonical, spellings in ALIASES.items():
        for original, norm in normalized.items():
            if original in frame.columns and norm in spellings and canonical not in rename.values():
                rename[original] = canonical
                break
    return frame.rename(columns=rename)


def _count(values: pd.Series, what: str) -> tuple[pd.Series, pd.Series]:
    n = pd.to_numeric(values.fillna("0").astype(str).str.strip(), errors="coerce")
    reason = pd.Series(None, index=values.index, dtype=object)
    reason[n.isna()] = f"non-numeric {what} count " + values.astype(str).str[:30]
    reason[n < 0] = f"negative {what} count"
    return n.fillna(0).clip(lower=0).astype(int), reason


def parse(raw: RawTable, file: str, source_id: str = "gva") -> Parsed:
    """Gun Violence Archive incidents in any of its three layouts (a text adapter).

    Every incident involves a gun (firearm is true). A point GVA publishes as a stand-in (PLACEHOLDER_POINTS, or a
    point with no address: the city's centre) is not a place, so it is kept without coordinates. Participants
    become counts by role, sex and age group; names are dropped as the file is read (etl.extract).
    """
    frame = canonical_columns(raw.frame)
    require_columns(
        frame,
        {"incident_id": "Incident ID", "date": "Incident Date", "killed": "killed count", "injured": "injured count"},
        file,
        "Gun Violence Archive",
        list(raw.frame.columns),
    )
    dates, date_reason = parse_dates(frame["date"])
    killed, killed_reason = _count(frame["killed"], "killed")
    injured, injured_reason = _count(frame["injured"], "injured")
    has_coords = {"latitude", "longitude"} <= set(frame.columns)
    nothing = pd.Series(None, index=frame.index, dtype=object)
    lon, lat, coord_reason = check_coordinates(
        frame["longitude"] if has_coords else nothing, frame["latitude"] if has_coords else nothing
    )
    key = frame["incident_id"].fillna("").astype(str).str.strip()
    key_reason = nothing.where(key != "", "incident id is missing")
    dup_reason = nothing.where(~key.duplicated(), "incident id repeated in this file")
    reason = first_reason(key_reason, date_reason, killed_reason, injured_reason, coord_reason, dup_reason)
    ok = reason.isna()

    address = frame.get("address", nothing).astype("string").str.strip()
    placeholder = pd.Series(
        [(round(a, 6), round(b, 6)) in PLACEHOLDER_POINTS for a, b in zip(lat.fillna(0), lon.fillna(0), strict=True)],
        index=frame.index,
    )
    # A blank address geocodes to the city's centre point: not a place either.
    placeholder |= lat.notna() & address.fillna("").eq("")
    characteristics = frame.get("characteristics", nothing).fillna("")
    incidents = pd.DataFrame(
        {
            "incident_id": source_id + ":" + key,
            "source_id": source_id,
            "source_key": key,
            "event_date": dates,
            "occurred_date": dates,
            "occurred_hour": pd.NA,
            "lat": lat.where(~placeholder),
            "lon": lon.where(~placeholder),
            "city_hint": frame.get("city", nothing).fillna("Kansas City").str.strip().eq("Kansas City"),
            "placeholder": placeholder,
            "address": address,
            "offenses": characteristics.str.replace("||", "; ", regex=False).str[:500],
            "firearm": True,
            "killed": killed,
            "injured": injured,
            "person_rows": 1,
        }
    )[ok]
    incidents["mass"] = characteristics[ok].str.contains("Mass Shooting", regex=False)
    return Parsed(
        source_id=source_id,
        rows_read=len(raw.frame) + len(raw.bad_lines),
        incidents=incidents[INCIDENT_COLUMNS],
        categories=reference.categorize_gva(incidents),
        people=_participants(frame[ok], incidents["incident_id"]),
        rejects=raw.bad_lines + reject_rows(frame, reason),
        notes=raw.notes,
        has_coords=has_coords,
        has_firearm=True,
    )


def _split(cell: str) -> dict[str, str]:
    """'0::Victim||1::Subject-Suspect' -> {'0': 'Victim', '1': 'Subject-Suspect'}.

    Some rows use single separators ('0:Victim', '|'), so both are accepted.
    """
    return {idx: value.strip() for idx, value in _PART.findall(str(cell or ""))}


def _participants(frame: pd.DataFrame, incident_id: pd.Series) -> pd.DataFrame:
    """Counts of participants by role, sex and age group (research layout only)."""
    if "participant_type" not in frame.columns:
        return pd.DataFrame(columns=["incident_id", "role", "sex", "race", "age_band", "n"])
    records = []
    for iid, types, genders, ages in zip(
        incident_id,
        frame["participant_type"].fillna(""),
        frame.get("participant_gender", pd.Series("", index=frame.index)).fillna(""),
        frame.get("participant_age_group", pd.Series("", index=frame.index)).fillna(""),
        strict=True,
    ):
        g, a = _split(genders), _split(ages)
        for idx, kind in _split(types).items():
            sex = {"Male": "M", "Female": "F"}.get(g.get(idx, ""), "U")
            records.append((iid, ROLE.get(kind, "other"), sex, "U", AGE.get(a.get(idx, ""), "unknown")))
    people = pd.DataFrame(records, columns=["incident_id", "role", "sex", "race", "age_band"])
    return people.groupby(list(people.columns), as_index=False).size().rename(columns={"size": "n"})
