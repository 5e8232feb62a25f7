"""KCPD crime records in the city's raw format (portal CSV export or Socrata API rows).

One row per person involved (victim, suspect, arrestee...) and offense; incidents are
distinct report numbers. Field names drift between years and between the portal and
the API, so headers are normalised and matched against the known spellings below.

Parsing runs in DuckDB over the staged file: each column's values go through the rules in etl.transform and
etl.reference once per distinct value, and the rows are folded into incidents by etl.fold, so a file of millions
of rows never passes through pandas row by row.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from etl import reference
from etl.extract import RawTable, Staged, require_columns, stage_frame
from etl.fold import define_macros, fold
from etl.merge import merge, release
from etl.model import Parsed, materialize, register
from etl.transform import check_coordinates, normalize_header, parse_dates, parse_flag, parse_hour, parse_location

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


#: Person-row values (etl.merge.VALUES) -> the columns they come from: a file without any of them does not carry the
#: value, so its rows' blanks there are unknown, not different, when they merge with rows of a richer file.
CARRIED_BY = {
    "source_key": ["report_no"], "event_date": ["reported_date"], "occurred_date": ["from_date"],
    "occurred_hour": ["from_time"], "lat": ["location", "latitude"], "lon": ["location", "longitude"],
    "address": ["address"], "label": ["description", "offense", "ibrs"], "firearm": ["firearm"],
    "offense_group": ["ibrs", "offense"], "against": ["ibrs", "offense"], "involvement": ["involvement"],
    "invl_no": ["invl_no"], "sex": ["sex"], "race": ["race"], "age": ["age"],
}


def carried(cols: dict[str, str]) -> list[str]:
    """The person-row values a file carries, from its column map."""
    return [value for value, sources in CARRIED_BY.items() if set(sources) & set(cols)]


def column_map(headers: list[str]) -> dict[str, str]:
    """Canonical name -> staged column (c0, c1, ...) for a file's headers.

    The first spelling in ALIASES that the file has wins, wherever its column is: the API's `address` and
    `location_address` differ (spacing, street types), so choosing by column order would make the same rows, columns
    reordered, new rows (added twice, not merged).
    """
    normalized = [normalize_header(h) for h in headers]
    found: dict[str, str] = {}
    for canonical, spellings in ALIASES.items():
        for spelling in spellings:
            k = next((k for k, norm in enumerate(normalized) if norm == spelling and f"c{k}" not in found.values()),
                     None)
            if k is not None:
                found[canonical] = f"c{k}"
                break
    return found


def parse(raw: RawTable, file: str, source_id: str = "kcpd") -> Parsed:
    """The text adapter: a file already read as text, through the staged adapter's SQL.

    It runs in a private in-memory database, so both forms parse a file alike. Nothing is stored there, so reports
    merge only within the file.
    """
    with duckdb.connect() as con:
        parsed = parse_staged(con, stage_frame(con, raw), file, source_id)
        return materialize(con, parsed)


# The canonical WKT point the portal writes, parsed in SQL; other spellings go through transform.parse_location.
_WKT = r"POINT \((-?[0-9]+(\.[0-9]+)?) (-?[0-9]+(\.[0-9]+)?)\)"


def parse_staged(con: duckdb.DuckDBPyConnection, staged: Staged, file: str, source_id: str = "kcpd", *,
                 replace: bool = False) -> Parsed:
    """Parse the staged file (view `_staged`) into `_incidents`, `_categories` and `_people` (see etl.fold).

    Dates, times, flags and codes: the rules of etl.transform / etl.reference on each distinct value (a few
    thousand), joined back. Points: the portal's canonical 'POINT (lon lat)' split in SQL, other spellings through
    transform.parse_location. Coordinates are checked by transform.check_coordinates on the column arrays. The good
    rows are merged with the rows already stored for their reports (etl.merge; `replace`: they replace them).
    """
    cols = column_map(staged.columns)
    have = pd.DataFrame(columns=list(cols))
    require_columns(have, {"report_no": "Report_No / report_no", "reported_date": "Reported_Date / reported_date"},
                    file, "KCPD", staged.columns)
    if not {"ibrs", "offense", "description"} & set(cols):
        require_columns(have, {"ibrs": "IBRS / ibrs (NIBRS offense code)"}, file, "KCPD", staged.columns)
    define_macros(con)
    col = {name: cols.get(name, "NULL::VARCHAR") for name in ALIASES}

    _lookup(con, "_m_date", col["reported_date"], lambda v: dict(zip(("date", "reason"), parse_dates(v), strict=True)))
    _lookup(con, "_m_from", col["from_date"], lambda v: {"date": parse_dates(v)[0]})
    _lookup(con, "_m_hour", col["from_time"], lambda v: dict(zip(("hour", "reason"), parse_hour(v), strict=True)))
    _lookup(con, "_m_flag", col["firearm"], lambda v: {"flag": parse_flag(v)})
    codes = con.execute(f"SELECT DISTINCT {col['ibrs']} AS ibrs, {col['offense']} AS offense FROM _staged").df()  # noqa: S608
    groups = reference.offense_groups(codes["ibrs"], codes["offense"] if "offense" in cols else None)
    register(con, "_m_code", pd.concat([codes.rename(columns={"ibrs": "k_ibrs", "offense": "k_offense"}), groups], axis=1))

    if "location" in cols:
        loc = cols["location"]
        odd = con.execute(f"SELECT DISTINCT {loc} AS v FROM _staged WHERE {loc} IS NOT NULL "  # noqa: S608
                          f"AND NOT regexp_full_match({loc}, ?)", [_WKT]).df()["v"]
        lon, lat = parse_location(odd)
        register(con, "_m_loc", pd.DataFrame({"k": odd, "lon": lon, "lat": lat}))
        point = f"regexp_extract({loc}, '^{_WKT}$', ['lon', 'lon_decimals', 'lat', 'lat_decimals'])"  # '' if no match
        lon_sql = "coalesce(CASE WHEN pt.lon <> '' THEN pt.lon::DOUBLE END, ml.lon)"
        lat_sql = "coalesce(CASE WHEN pt.lat <> '' THEN pt.lat::DOUBLE END, ml.lat)"
        loc_join = f"LEFT JOIN _m_loc ml ON ml.k = {loc}"
    else:
        point, lon_sql, lat_sql, loc_join = "NULL", col["longitude"], col["latitude"], ""  # checked later

    staged_cols = [f"c{k}" for k in range(len(staged.columns))]
    row_hash = f"hash({', '.join(staged_cols)})"
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE _kc AS
        WITH reports AS (  -- only rows whose report number repeats can be exact duplicates of each other
            SELECT hash({cols['report_no']}) AS h FROM _staged GROUP BY h HAVING count(*) > 1
        ), repeated AS (
            SELECT {row_hash} AS h FROM _staged WHERE hash({cols['report_no']}) IN (SELECT h FROM reports)
            GROUP BY h HAVING count(*) > 1
        ), dups AS (
            SELECT _row FROM _staged WHERE {row_hash} IN (SELECT h FROM repeated)
            QUALIFY row_number() OVER (PARTITION BY {', '.join(staged_cols)} ORDER BY _row) > 1
        )
        SELECT s._row, coalesce(kc_strip({cols['report_no']}), '') AS report,
               md.date AS event_date, md.reason AS date_reason, mf.date AS occurred_date,
               mh.hour AS occurred_hour, mh.reason AS hour_reason, mg.flag AS firearm,
               mc.offense_group, mc.against,
               kc_strip(coalesce({col['description']}, {col['offense']}, mc.ibrs)) AS label,
               kc_strip(regexp_replace({col['address']}, '\\s+', ' ', 'g')) AS address,
               {lon_sql} AS lon_raw, {lat_sql} AS lat_raw,
               {col['involvement']} AS involvement, {col['invl_no']} AS invl_no, {col['sex']} AS sex,
               {col['race']} AS race, {col['age']} AS age,
               d._row IS NOT NULL AS duplicate
        FROM (SELECT *, {point} AS pt FROM _staged) s
        LEFT JOIN _m_date md ON md.k = coalesce({cols['reported_date']}, '')
        LEFT JOIN _m_from mf ON mf.k = coalesce({col['from_date']}, '')
        LEFT JOIN _m_hour mh ON mh.k = coalesce({col['from_time']}, '')
        LEFT JOIN _m_flag mg ON mg.k = coalesce({col['firearm']}, '')
        LEFT JOIN _m_code mc ON mc.k_ibrs IS NOT DISTINCT FROM {col['ibrs']}
                            AND mc.k_offense IS NOT DISTINCT FROM {col['offense']}
        {loc_join}
        LEFT JOIN dups d ON d._row = s._row""")  # noqa: S608 (column names are c0, c1, ... built here, never input)

    _check_coordinates(con)
    raw_text = "concat_ws(',', " + ", ".join(f"coalesce(s.{c}, '')" for c in staged_cols) + ")"
    rejects = staged.bad_lines + [(int(r), reason, text) for r, reason, text in con.execute(
        f"""SELECT k._row, k.reason, left({raw_text}, 2000) FROM _kc_checked k JOIN _staged s USING (_row)
            WHERE k.reason IS NOT NULL ORDER BY k._row""").fetchall()]  # noqa: S608
    con.execute("DROP VIEW _staged; DROP TABLE _raw")  # free memory early
    con.execute("""
        CREATE OR REPLACE TEMP TABLE _new AS
        SELECT report AS source_key, event_date, occurred_date, occurred_hour, lat, lon, address, label, firearm,
               offense_group, against, involvement, invl_no, sex, race, age, _row
        FROM _kc_checked WHERE reason IS NULL""")
    con.execute("DROP VIEW _kc_checked; DROP TABLE _kc")
    merged = merge(con, source_id, replace, carried(cols))
    fold(con, source_id)
    release(con)  # folded: free them
    con.execute("DROP TABLE _new")
    return Parsed(
        source_id=source_id,
        rows_read=staged.rows_read,
        incidents="_incidents",
        categories="_categories",
        people="_people",
        rejects=rejects,
        notes=staged.notes + [n for n in [merged.note()] if n],
        has_coords="location" in cols or {"latitude", "longitude"} <= set(cols),
        has_firearm="firearm" in cols,
    )


def _check_coordinates(con: duckdb.DuckDBPyConnection) -> None:
    """The view `_kc_checked`: `_kc` with coordinates as transform.check_coordinates keeps them, and a reason.

    The reason is the first one to reject the row. The rule runs on the column arrays; only the rows where it decides
    something other than reading the value as a number (a reason, (0, 0) made missing, a spelling SQL reads
    otherwise) come back to SQL, in `_coords`, so millions of good rows are never copied again.
    """
    types = [str(c[1]) for c in con.execute("SELECT lon_raw, lat_raw FROM _kc LIMIT 0").description]
    if types == ["DOUBLE", "DOUBLE"]:  # points split in SQL: SQL reads them as they are (fetched once, not twice)
        raw = con.execute("SELECT _row, lon_raw, lat_raw FROM _kc").df()
        raw["lon_sql"], raw["lat_sql"] = raw["lon_raw"], raw["lat_raw"]
    else:
        raw = con.execute("""SELECT _row, lon_raw, lat_raw, TRY_CAST(lon_raw AS DOUBLE) AS lon_sql,
                                    TRY_CAST(lat_raw AS DOUBLE) AS lat_sql FROM _kc""").df()
    lon, lat, reason = check_coordinates(raw["lon_raw"], raw["lat_raw"])

    def differs(kept: pd.Series, sql: pd.Series) -> pd.Series:
        return ~((kept == sql) | (kept.isna() & sql.isna()))

    other = reason.notna() | differs(lon, raw["lon_sql"]) | differs(lat, raw["lat_sql"])
    register(con, "_coords", pd.DataFrame({"_row": raw["_row"][other], "lon": lon[other].astype(float),
                                           "lat": lat[other].astype(float), "coord_reason": reason[other]}))
    con.execute("""
        CREATE OR REPLACE TEMP VIEW _kc_checked AS
        SELECT k.* EXCLUDE (lon_raw, lat_raw),
               CASE WHEN c._row IS NULL THEN TRY_CAST(k.lon_raw AS DOUBLE) ELSE c.lon END AS lon,
               CASE WHEN c._row IS NULL THEN TRY_CAST(k.lat_raw AS DOUBLE) ELSE c.lat END AS lat,
               coalesce(CASE WHEN k.report = '' THEN 'report number is missing' END, k.date_reason, k.hour_reason,
                        c.coord_reason, CASE WHEN k.duplicate THEN 'exact duplicate of an earlier row' END) AS reason
        FROM _kc k LEFT JOIN _coords c USING (_row)""")


def _lookup(con: duckdb.DuckDBPyConnection, name: str, column: str, rule) -> None:
    """Apply a parsing rule once to each distinct value of a staged column: temp table `name` (k, ...).

    Join it on coalesce(value, ''): the rules read a blank and a missing value alike.
    """
    values = con.execute(f"SELECT DISTINCT coalesce({column}, '') AS k FROM _staged").df()["k"]  # noqa: S608
    register(con, name, pd.DataFrame({"k": values, **{c: v.astype(object) if v.dtype == object else v
                                                    for c, v in rule(values).items()}}))
