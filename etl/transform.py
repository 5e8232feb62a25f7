"""Pure parsing helpers shared by the adapters: dates, flags, coordinates, people.

Each parser returns values plus a per-row reason (None when the value is fine or
simply absent), so adapters can reject rows with a message that names the problem.
"""

from __future__ import annotations

import re
from datetime import date

import numpy as np
import pandas as pd

from etl import reference
from kcvt.settings import CITY_BBOX

EARLIEST = pd.Timestamp("1900-01-01")
_POINT_DICT = re.compile(r"coordinates['\"]?\s*:\s*\[\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*\]")  # lon, lat
_POINT_WKT = re.compile(r"POINT\s*\(\s*(-?[\d.]+)\s+(-?[\d.]+)\s*\)", re.I)  # lon lat
_LAT_LON_PAIR = re.compile(r"\(\s*(-?[\d.]+)\s*,\s*(-?[\d.]+)\s*\)")  # (lat, lon)
_LAT_KEY = re.compile(r"latitude['\"]?\s*:\s*['\"]?(-?[\d.]+)")  # Socrata location object, 2017-2020
_LON_KEY = re.compile(r"longitude['\"]?\s*:\s*['\"]?(-?[\d.]+)")


def normalize_header(name: str) -> str:
    """'Firearm Used Flag' / 'Report_No' / 'firearmused_flag' -> lower snake case."""
    return re.sub(r"[^a-z0-9]+", "_", str(name).strip().lower()).strip("_")


def parse_dates(values: pd.Series, today: date | None = None) -> tuple[pd.Series, pd.Series]:
    """ISO (2018-09-02T00:00:00.000) or MM/DD/YYYY dates. Returns (dates, reason per row)."""
    text = values.fillna("").astype(str).str.strip()
    parsed = pd.to_datetime(text.str[:10], format="%Y-%m-%d", errors="coerce")
    for fmt, cut in (("%m/%d/%Y", True), ("%B %d, %Y", False)):  # each format only where the previous failed
        todo = parsed.isna() & (text != "")
        if todo.any():
            part = text[todo].str.split(" ").str[0] if cut else text[todo]
            parsed[todo] = pd.to_datetime(part, format=fmt, errors="coerce")
    parsed = parsed.astype("datetime64[us]")
    limit = pd.Timestamp(today or date.today())
    reason = pd.Series(None, index=values.index, dtype=object)
    reason[(text != "") & parsed.isna()] = "unreadable date " + text.str[:40]
    reason[text == ""] = "date is missing"
    reason[parsed > limit] = "date in the future: " + text.str[:40]
    reason[parsed < EARLIEST] = "date before 1900: " + text.str[:40]
    return parsed.where(reason.isna()), reason


def parse_hour(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """'18:15', '7', '0715' -> hour 0-23; impossible times are reasons, blanks are NULL."""
    text = values.fillna("").astype(str).str.strip()
    hh = text.str.extract(r"^(\d{1,2})(?::?(\d{2}))?(?::\d{2})?(?:\.\d+)?$")
    hour = pd.to_numeric(hh[0], errors="coerce")
    minute = pd.to_numeric(hh[1], errors="coerce").fillna(0)
    midnight = (hour == 24) & (minute == 0)  # KCPD writes end-of-day midnight as 24:00
    hour = hour.where(~midnight, 0)
    bad = (text != "") & (hour.isna() | (hour > 23) | (minute > 59))
    reason = pd.Series(None, index=values.index, dtype=object)
    reason[bad] = "impossible time " + text.str[:20]
    return hour.where(~bad).astype("Int8"), reason


def parse_flag(values: pd.Series) -> pd.Series:
    """Y/N/U, true/false, 1/0 -> True/False/NA."""
    text = values.fillna("").astype(str).str.strip().str.lower()
    out = pd.Series(pd.NA, index=values.index, dtype="boolean")
    out[text.isin(["y", "yes", "true", "t", "1"])] = True
    out[text.isin(["n", "no", "false", "f", "0"])] = False
    return out


def parse_location(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    r"""A KCPD location in any published spelling -> (lon, lat).

    API: "{'type': 'Point', 'coordinates': [-94.55, 39.04]}" (longitude first); 2017-2020 API
    location objects: {"latitude": "39.04", "longitude": "-94.55", ...}; portal: "POINT (-94.55 39.04)";
    older exports: "address\\n(39.04, -94.55)".
    """
    text = values.fillna("").astype(str)
    lon = pd.Series(np.nan, index=values.index)
    lat = pd.Series(np.nan, index=values.index)
    shapes = ((_POINT_DICT, True, "coordinates"), (_POINT_WKT, True, "POINT"), (_LAT_LON_PAIR, False, "("))
    for pattern, lon_first, marker in shapes:  # each pattern only on rows that carry its marker and lack a point
        todo = lon.isna() & text.str.contains(marker, regex=False, case=False)
        if not todo.any():
            continue
        found = text[todo].str.extract(pattern).astype(float)
        a, b = (found[0], found[1]) if lon_first else (found[1], found[0])
        lon[todo], lat[todo] = a, b
    todo = lon.isna() & text.str.contains("latitude", regex=False)
    if todo.any():
        keyed_lat = text[todo].str.extract(_LAT_KEY)[0].astype(float)
        keyed_lon = text[todo].str.extract(_LON_KEY)[0].astype(float)
        both = keyed_lat.notna() & keyed_lon.notna()
        lon[both[both].index], lat[both[both].index] = keyed_lon[both], keyed_lat[both]
    return lon, lat


def check_coordinates(lon: pd.Series, lat: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Impossible or non-numeric coordinates become reasons; (0, 0) and blanks become missing."""
    def present(values: pd.Series) -> pd.Series:
        if pd.api.types.is_numeric_dtype(values):
            return values.notna()
        return values.notna() & values.astype(str).str.strip().ne("")

    given = present(lon) | present(lat)
    raw_lon, raw_lat = lon, lat
    lon = pd.to_numeric(lon, errors="coerce")
    lat = pd.to_numeric(lat, errors="coerce")
    reason = pd.Series(None, index=lon.index, dtype=object)
    non_numeric = given & (lon.isna() | lat.isna())
    swapped = lat.between(CITY_BBOX[0], CITY_BBOX[2]) & lon.between(CITY_BBOX[1], CITY_BBOX[3])
    impossible = ((lat.abs() > 90) | (lon.abs() > 180)) & ~swapped
    non_numeric &= ~(impossible | swapped)
    # reason texts are built only for the flagged rows (millions of good rows stay numbers)
    reason[non_numeric] = ("non-numeric coordinates " + raw_lat[non_numeric].astype(str).str[:20] + ", "
                           + raw_lon[non_numeric].astype(str).str[:20])
    reason[impossible] = ("impossible coordinates lat " + lat[impossible].astype(str) + ", lon "
                          + lon[impossible].astype(str))
    reason[swapped] = ("latitude and longitude swapped (lat " + lat[swapped].astype(str) + ", lon "
                       + lon[swapped].astype(str) + ")")
    zero = (lon == 0) & (lat == 0)
    keep = reason.isna() & ~zero
    return lon.where(keep), lat.where(keep), reason


def age_band(values: pd.Series) -> pd.Series:
    """Numeric ages -> the coarse bands of data/reference/age_bands.csv (each band: above < age <= up_to).

    Ages are kept only as bands, never exact. A blank is 'unknown': KCPD masks juveniles' ages.
    """
    age = pd.to_numeric(values, errors="coerce")
    bands = reference.table("age_bands")
    bins = [int(bands["above"].iloc[0]), *bands["up_to"].astype(int)]
    if bands["above"].astype(int).tolist() != bins[:-1]:
        raise ValueError("data/reference/age_bands.csv: each band must start where the previous one ends")
    out = pd.cut(age, bins=bins, labels=bands["age_band"].tolist()).astype(object)
    return out.where(out.notna(), "unknown")
