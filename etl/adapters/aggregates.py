"""Area-period count files: already aggregated upstream, loaded as area_counts rows.

- nbhd_monthly: KCPD incidents (distinct reports) per neighborhood-month, by NIBRS
  "crimes against" group (hadi-nayebi/crime-cartography).
- district_daily: KCPD rows per council district-day for ten offense clusters
  (Sangeeths11/KCPD): per person-row, so an index, not incidents.
- ucr_annual: FBI UCR Table 8, Kansas City, per year.
- kcpd_annual: distinct KCPD reports citywide per year.
"""

from __future__ import annotations

import pandas as pd

from etl import geo
from etl.extract import RawTable, require_columns
from etl.model import AREA_COUNT_COLUMNS, Parsed, first_reason, reject_rows
from etl.transform import normalize_header, parse_dates

NBHD_GROUPS = ["persons", "property", "society", "other"]
UCR_MEASURES = {
    "murder": "homicide", "rape": "rape", "robbery": "robbery", "aggravated_assault": "aggravated_assault",
    "violent_crime": "violent", "property_crime": "property_crime",
}


def _counts(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    n = pd.to_numeric(values.astype(str).str.replace(",", "").str.strip(), errors="coerce")
    reason = pd.Series(None, index=values.index, dtype=object)
    reason[n.isna()] = "non-numeric count " + values.astype(str).str[:30]
    reason[n < 0] = "negative count " + values.astype(str).str[:30]
    return n, reason


def _long(frame: pd.DataFrame, id_cols: dict[str, pd.Series], measures: dict[str, str], ok: pd.Series) -> pd.DataFrame:
    parts = []
    for column, measure in measures.items():
        part = pd.DataFrame({**{k: v[ok] for k, v in id_cols.items()}, "measure": measure})
        part["n"] = pd.to_numeric(frame.loc[ok, column].astype(str).str.replace(",", ""))
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def parse_nbhd_monthly(raw: RawTable, file: str, source_id: str = "kcpd_nbhd") -> Parsed:
    """KCPD incidents per neighborhood and month by NIBRS "crimes against" group (a text adapter).

    Counts are distinct reports placed by their coordinates upstream, so reports without coordinates are missing
    (see the source's caveat); each group becomes a measure of its own name.
    """
    frame = raw.frame
    require_columns(frame, {"neighborhood": "name", "month": "YYYY-MM", **{g: "count" for g in NBHD_GROUPS}}, file,
                    "neighborhood-month")
    month, month_reason = parse_dates(frame["month"].astype(str) + "-01")
    name = frame["neighborhood"].fillna("").str.strip()
    reasons = [month_reason, pd.Series(None, index=frame.index, dtype=object).where(name != "", "neighborhood missing")]
    reasons += [_counts(frame[g])[1] for g in NBHD_GROUPS]
    reason = first_reason(*reasons)
    ok = reason.isna()
    ids = {"area_type": pd.Series("neighborhood", index=frame.index), "area_id": name, "period_start": month}
    out = _long(frame, ids, {g: g for g in NBHD_GROUPS}, ok)
    out["source_id"], out["grain"] = source_id, "month"
    return Parsed(source_id, len(frame) + len(raw.bad_lines), area_counts=out[AREA_COUNT_COLUMNS],
                  rejects=raw.bad_lines + reject_rows(frame, reason), notes=raw.notes, has_firearm=False)


def parse_district_daily(raw: RawTable, file: str, source_id: str = "kcpd_district") -> Parsed:
    """KCPD rows per council district and day for each offense cluster (a text adapter).

    The upstream counts are of person-rows, not reports, so each cluster is loaded as an index measure
    ('<cluster>_index'), never as incidents. A district must be one of data/geo's council districts.
    """
    frame = raw.frame
    require_columns(frame, {"reported_date": "date", "council_district": "district number", "crime_cluster": "label",
                            "count": "rows"}, file, "council-district daily")
    day, day_reason = parse_dates(frame["reported_date"])
    n, n_reason = _counts(frame["count"])
    district = frame["council_district"].fillna("").str.strip()
    known = sorted(geo.layer("council_district")["area_id"], key=lambda d: (len(d), d))  # data/geo's districts
    bad_district = pd.Series(None, index=frame.index, dtype=object).where(
        district.isin(known), f"council district not one of {', '.join(known)}: " + district)
    reason = first_reason(day_reason, n_reason, bad_district)
    ok = reason.isna()
    out = pd.DataFrame({
        "source_id": source_id, "area_type": "council_district", "area_id": district[ok], "grain": "day",
        "period_start": day[ok], "measure": frame.loc[ok, "crime_cluster"].map(lambda c: normalize_header(c) + "_index"),
        "n": n[ok],
    })
    return Parsed(source_id, len(frame) + len(raw.bad_lines), area_counts=out[AREA_COUNT_COLUMNS],
                  rejects=raw.bad_lines + reject_rows(frame, reason), notes=raw.notes, has_firearm=False)


def _annual(raw: RawTable, file: str, source_id: str, measures: dict[str, str], what: str) -> Parsed:
    frame = raw.frame
    require_columns(frame, {"year": "YYYY", **{c: "count" for c in measures}}, file, what)
    year, year_reason = parse_dates(frame["year"].astype(str) + "-01-01")
    reason = first_reason(year_reason, *[_counts(frame[c])[1] for c in measures])
    ok = reason.isna()
    ids = {"area_type": pd.Series("city", index=frame.index), "area_id": pd.Series(geo.CITY_NAME, index=frame.index),
           "period_start": year}
    out = _long(frame, ids, measures, ok)
    out["source_id"], out["grain"] = source_id, "year"
    parsed = Parsed(source_id, len(frame) + len(raw.bad_lines), area_counts=out[AREA_COUNT_COLUMNS],
                    rejects=raw.bad_lines + reject_rows(frame, reason), notes=raw.notes, has_coords=False,
                    has_firearm=False, grain="year")
    if "population" in frame.columns:
        parsed.population = pd.DataFrame(
            {"year": year[ok].dt.year, "population": pd.to_numeric(frame.loc[ok, "population"])}
        )
    return parsed


def parse_ucr_annual(raw: RawTable, file: str, source_id: str = "fbi_ucr") -> Parsed:
    """FBI UCR Table 8 for Kansas City, one row per year (a text adapter), with the city's population.

    UCR's hierarchy rule counts one offense per incident, so these totals differ from KCPD's own counts.
    """
    return _annual(raw, file, source_id, UCR_MEASURES, "FBI UCR annual")


def parse_kcpd_annual(raw: RawTable, file: str, source_id: str = "kcpd_annual") -> Parsed:
    """Distinct KCPD reports citywide per year (a text adapter), including reports without coordinates."""
    return _annual(raw, file, source_id, {"reports": "all_reports"}, "KCPD annual reports")

