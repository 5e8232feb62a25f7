"""KCPD crime records in the city's raw format (portal CSV export or Socrata API rows).

One row per person involved (victim, suspect, arrestee...) and offense; incidents are
distinct report numbers. Field names drift between years and between the portal and
the API, so headers are normalised and matched against the known spellings below.
"""

from __future__ import annotations

import pandas as pd

from etl import reference
from etl.extract import ROW, RawTable, require_columns
from etl.model import INCIDENT_COLUMNS, Parsed, first_reason, reject_rows
from etl.transform import (
    age_band,
    check_coordinates,
    normalize_header,
    parse_dates,
    parse_flag,
    parse_hour,
    parse_location,
)

# canonical name -> spellings seen in the portal exports and the API, after normalize_header
ALIASES = {
    "report_no": ["report_no", "report", "report_number", "reportno"],
    "reported_date": ["reported_date", "report_date"],
    "reported_time": ["reported_time", "report_time"],
    "from_date": ["from_date"],
    "from_time": ["from_time"],
    "offense": ["offense", "offense_code"],
    "ibrs": ["ibrs", "nibrs", "nibrs_code"],
    "description": ["description", "offense_description"],
    "firearm": ["firearm_used_flag", "firearmused_flag", "firearmusedflag", "firearm_used", "firearm"],
    "location": ["location", "location_1"],
    "latitude": ["latitude", "lat"],
    "longitude": ["longitude", "lon", "lng"],
    "address": ["address", "location_address"],
    "involvement": ["involvement"],
    "invl_no": ["invl_no"],
    "race": ["race"],
    "sex": ["sex"],
    "age": ["age"],
}
ROLES = {"VIC": "victim", "SUS": "suspect", "ARR": "arrestee"}


def canonical_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Rename published headers to canonical names (first spelling found wins)."""
    normalized = {c: normalize_header(c) for c in frame.columns if c != ROW}
    rename = {}
    for canonical, spellings in ALIASES.items():
        for original, norm in normalized.items():
            if norm in spellings and canonical not in rename.values() and original not in rename:
                rename[original] = canonical
                break
    return frame.rename(columns=rename)


def parse(raw: RawTable, file: str, source_id: str = "kcpd") -> Parsed:
    frame = canonical_columns(raw.frame)
    published = list(raw.frame.columns)
    require_columns(frame, {"report_no": "Report_No / report_no", "reported_date": "Reported_Date / reported_date"},
                    file, "KCPD", published)
    if not {"ibrs", "offense", "description"} & set(frame.columns):
        require_columns(frame, {"ibrs": "IBRS / ibrs (NIBRS offense code)"}, file, "KCPD", published)
    get = lambda col: frame[col] if col in frame.columns else pd.Series(None, index=frame.index, dtype=object)  # noqa: E731

    dates, date_reason = parse_dates(get("reported_date"))
    occurred, _ = parse_dates(get("from_date"))
    hour, hour_reason = parse_hour(get("from_time"))
    if "location" in frame.columns:
        lon, lat = parse_location(get("location"))
    else:
        lon, lat = get("longitude"), get("latitude")
    lon, lat, coord_reason = check_coordinates(lon, lat)
    report = get("report_no").fillna("").astype(str).str.strip()
    report_reason = pd.Series(None, index=frame.index, dtype=object).where(report != "", "report number is missing")
    duplicate = frame.drop(columns=[ROW]).duplicated()
    dup_reason = pd.Series(None, index=frame.index, dtype=object).where(~duplicate, "exact duplicate of an earlier row")
    reason = first_reason(report_reason, date_reason, hour_reason, coord_reason, dup_reason)
    rejects = raw.bad_lines + reject_rows(frame, reason)

    ok = reason.isna()
    groups = reference.offense_groups(get("ibrs"), get("offense") if "offense" in frame.columns else None)
    label = get("description").fillna(get("offense")).fillna(groups["ibrs"]).astype(str).str.strip()
    rows = pd.DataFrame(
        {
            "incident_id": source_id + ":" + report,
            "source_key": report,
            "event_date": dates,
            "occurred_date": occurred,
            "occurred_hour": hour,
            "lat": lat,
            "lon": lon,
            "address": get("address").astype("string").str.replace(r"\s+", " ", regex=True).str.strip(),
            "label": label,
            "firearm": parse_flag(get("firearm")),
            "offense_group": groups["offense_group"],
            "against": groups["against"],
        }
    )[ok]
    incidents = _incidents(rows, source_id)
    people = _people(frame[ok], rows["incident_id"])
    has_coords = "location" in frame.columns or {"latitude", "longitude"} <= set(frame.columns)
    return Parsed(
        source_id=source_id,
        rows_read=len(raw.frame) + len(raw.bad_lines),
        incidents=incidents,
        categories=reference.categorize_kcpd_rows(rows),
        people=people,
        rejects=rejects,
        notes=raw.notes,
        has_coords=has_coords,
        has_firearm="firearm" in frame.columns,
    )


def _incidents(rows: pd.DataFrame, source_id: str) -> pd.DataFrame:
    """Fold person-rows into one row per report number (vectorised: millions of reports in seconds)."""
    g = rows.groupby("incident_id", sort=False)
    out = g.agg(
        source_key=("source_key", "first"),
        event_date=("event_date", "min"),
        occurred_date=("occurred_date", "min"),
        occurred_hour=("occurred_hour", "first"),
        lat=("lat", "first"),
        lon=("lon", "first"),
        address=("address", "first"),
        person_rows=("source_key", "size"),
    )
    labels = rows[["incident_id", "label"]].dropna().drop_duplicates()
    many = labels["incident_id"].duplicated(keep=False)
    joined = labels[many].groupby("incident_id", sort=False)["label"].agg("; ".join)
    out["offenses"] = labels[~many].set_index("incident_id")["label"].reindex(out.index).fillna(joined)
    flag = rows["firearm"].astype("Int8")
    stats = flag.groupby(rows["incident_id"], sort=False).agg(["max", "count", "size"])
    out["firearm"] = pd.Series(pd.NA, index=out.index, dtype="boolean")
    out.loc[stats.index[stats["max"].eq(1)], "firearm"] = True
    out.loc[stats.index[stats["max"].eq(0) & stats["count"].eq(stats["size"])], "firearm"] = False
    out = out.reset_index()
    out["source_id"] = source_id
    out["killed"] = pd.NA
    out["injured"] = pd.NA
    out["city_hint"] = True  # KCPD reports are in KCPD's jurisdiction
    out["placeholder"] = False
    return out[INCIDENT_COLUMNS]


def _people(frame: pd.DataFrame, incident_id: pd.Series) -> pd.DataFrame:
    """Aggregate counts of the people in each report: role, sex, race, age band. No names exist here."""
    people = pd.DataFrame(
        {
            "incident_id": incident_id,
            "involvement": frame.get("involvement", pd.Series(None, index=frame.index)),
            "invl_no": frame.get("invl_no", pd.Series(None, index=frame.index)),
            "sex": frame.get("sex", pd.Series(None, index=frame.index)).fillna("U").str.upper(),
            "race": frame.get("race", pd.Series(None, index=frame.index)).fillna("U").str.upper(),
            "age_band": age_band(frame.get("age", pd.Series(None, index=frame.index))),
        }
    )
    if people["invl_no"].notna().any():
        people = people.drop_duplicates(["incident_id", "involvement", "invl_no"])
    inv = people["involvement"].fillna("").str.upper().str.strip()
    people["role"] = inv.map(ROLES).where(inv != "", "unknown").fillna("other")
    return people.groupby(["incident_id", "role", "sex", "race", "age_band"], as_index=False).size().rename(
        columns={"size": "n"}
    )
