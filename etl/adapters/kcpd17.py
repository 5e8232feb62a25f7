"""The third-party cleaned KCPD 2017 extract (MarkLikesData/Predicting_Kansas_City_Crime).

It has no report number, so person-rows cannot be folded by report. Rows are folded
into one incident when they share date, hour, offense label and location: person-rows
of one report share all four. This can merge two distinct same-hour, same-block,
same-offense reports (rare) and cannot merge rows of one report listed under different
offense labels. The extract is a biased subset (rows with any missing field were
dropped): its caveat in data/reference/sources.csv and its coverage note in
data/reference/coverage_notes.csv give the undercount against FBI UCR.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from etl import reference
from etl.extract import ROW, RawTable, require_columns
from etl.fold import fold
from etl.model import Parsed, first_reason, materialize, register, reject_rows
from etl.transform import check_coordinates, parse_dates, parse_flag, parse_hour

COLUMNS = {
    "Date": "date, YYYY-MM-DD", "Hour": "hour 0-23", "Crime": "offense label",
    "Latitude": "latitude", "Longitude": "longitude",
}


def parse(raw: RawTable, file: str, source_id: str = "kcpd17") -> Parsed:
    """The third-party 2017 extract (a text adapter): rows folded by date, hour, offense and place.

    Offense labels map to NIBRS codes through data/reference/kcpd2017_labels.csv; a label not listed is a reject,
    never a guess.
    """
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
            ROW: frame[ROW],
        }
    )[ok]
    people = pd.DataFrame({"source_key": rows["source_key"], "involvement": None, "invl_no": None,
                           "sex": frame["Sex"][ok] if "Sex" in frame else None,
                           "race": frame["Race"][ok] if "Race" in frame else None,
                           "age": frame["Age"][ok] if "Age" in frame else None, ROW: rows[ROW]})
    parsed = Parsed(
        source_id=source_id,
        rows_read=len(frame) + len(raw.bad_lines),
        incidents="_incidents",
        categories="_categories",
        people="_people",
        rejects=raw.bad_lines + reject_rows(frame, reason),
        notes=raw.notes,
        has_firearm="Firearm" in frame.columns,
    )
    with duckdb.connect() as con:
        register(con, "_rows", rows)
        register(con, "_people_rows", people.astype({"involvement": object, "invl_no": object}))
        fold(con, source_id)
        return materialize(con, parsed)
