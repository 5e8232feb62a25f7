"""The third-party cleaned KCPD 2017 extract (MarkLikesData/Predicting_Kansas_City_Crime).

It has no report number, so person-rows cannot be folded by report. Rows are folded
into one incident when they share date, hour, offense label and location: person-rows
of one report share all four. This can merge two distinct same-hour, same-block,
same-offense reports (rare) and cannot merge rows of one report listed under different
offense labels. The extract is a biased subset (rows with any missing field were
dropped): only 49 homicide rows against 150 homicides in 2017 (FBI UCR).
"""

from __future__ import annotations

import pandas as pd

from etl import reference
from etl.adapters.kcpd import _incidents, _people
from etl.extract import RawTable, require_columns
from etl.model import Parsed, first_reason, reject_rows
from etl.transform import check_coordinates, parse_dates, parse_flag, parse_hour

COLUMNS = {
    "Date": "date, YYYY-MM-DD", "Hour": "hour 0-23", "Crime": "offense label",
    "Latitude": "latitude", "Longitude": "longitude",
}


def parse(raw: RawTable, file: str, source_id: str = "kcpd17") -> Parsed:
    frame = raw.frame
    require_columns(frame, COLUMNS, file, "KCPD 2017 extract")
    dates, date_reason = parse_dates(frame["Date"])
    hour, hour_reason = parse_hour(frame["Hour"])
    lon, lat, coord_reason = check_coordinates(frame["Longitude"], frame["Latitude"])
    labels = reference.table("kcpd2017_labels").set_index("label")["ibrs"]
    crime = frame["Crime"].fillna("").str.strip()
    ibrs = crime.map(labels)
    label_reason = pd.Series(None, index=frame.index, dtype=object).where(ibrs.notna(), "unknown offense label " + crime)
    reason = first_reason(date_reason, hour_reason, coord_reason, label_reason)
    ok = reason.isna()

    key = (
        dates.dt.strftime("%Y-%m-%d") + "T" + hour.astype(str) + "|" + crime + "|"
        + lat.round(6).astype(str) + "," + lon.round(6).astype(str)
    )
    groups = reference.offense_groups(ibrs)
    rows = pd.DataFrame(
        {
            "incident_id": source_id + ":" + key,
            "source_key": key,
            "event_date": dates,
            "occurred_date": dates,
            "occurred_hour": hour,
            "lat": lat,
            "lon": lon,
            "address": pd.Series(pd.NA, index=frame.index, dtype="string"),
            "label": crime.str.replace("_", " "),
            "firearm": parse_flag(frame.get("Firearm", pd.Series(None, index=frame.index))),
            "offense_group": groups["offense_group"],
            "against": groups["against"],
        }
    )[ok]
    return Parsed(
        source_id=source_id,
        rows_read=len(frame) + len(raw.bad_lines),
        incidents=_incidents(rows, source_id),
        categories=reference.categorize_kcpd_rows(rows),
        people=_people(frame[ok].rename(columns={"Race": "race", "Sex": "sex", "Age": "age"}), rows["incident_id"]),
        rejects=raw.bad_lines + reject_rows(frame, reason),
        notes=raw.notes,
        has_firearm="Firearm" in frame.columns,
    )

