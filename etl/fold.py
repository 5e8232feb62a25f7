"""Fold person-rows into incidents, categories and people counts, in DuckDB (millions of rows in seconds).

The KCPD adapters put their parsed rows in the temporary table or view `_rows` (source_key, event_date,
occurred_date, occurred_hour, lat, lon, address, label, firearm, offense_group, against, _row) and, for people,
`_people_rows` (source_key, involvement, invl_no, sex, race, age, _row): the same rows, their people columns.
`fold` leaves `_incidents`, `_categories` and `_people` for load.write, keyed '<source>:<source_key>'. `_row` is
the published row's number: "first" means first in the file.

Most reports have one row, and a report of one row is its own incident, with its categories and one person: only
the rows of keys that repeat (`_repeated`, found once from `_rows`) are grouped.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from etl import reference
from etl.model import register
from etl.transform import age_band

#: KCPD's involvement codes -> roles (a blank is 'unknown', any other code 'other')
ROLES = {"VIC": "victim", "SUS": "suspect", "ARR": "arrestee"}

INCIDENTS = """
CREATE OR REPLACE TEMP TABLE _incidents AS
WITH g AS (
    SELECT source_key,
           min(event_date) AS event_date,
           min(occurred_date) AS occurred_date,
           arg_min(occurred_hour, _row) FILTER (occurred_hour IS NOT NULL) AS occurred_hour,
           arg_min(lat, _row) FILTER (lat IS NOT NULL) AS lat,
           arg_min(lon, _row) FILTER (lon IS NOT NULL) AS lon,
           arg_min(address, _row) FILTER (address IS NOT NULL) AS address,
           arg_min(label, _row) FILTER (label IS NOT NULL) AS offenses,  -- right for reports of one row
           CASE WHEN bool_or(firearm) THEN true WHEN count(firearm) = count(*) THEN false END AS firearm,
           count(*)::INTEGER AS person_rows
    FROM _rows WHERE hash(source_key) IN (SELECT h FROM _repeated) GROUP BY source_key
), labels AS (  -- reports of several rows: each offense label once, in file order ('; '-joined)
    SELECT source_key, string_agg(label, '; ' ORDER BY first_row) AS offenses
    FROM (SELECT source_key, label, min(_row) AS first_row FROM _rows
          WHERE label IS NOT NULL AND source_key IN (SELECT source_key FROM g WHERE person_rows > 1)
          GROUP BY source_key, label)
    GROUP BY source_key
), folded AS (  -- a report of one row is its own incident: no aggregates, no label list (5M rows: 2.4 s -> 0.6 s)
    SELECT source_key, event_date, occurred_date, occurred_hour, lat, lon, address, label AS offenses, firearm,
           1::INTEGER AS person_rows
    FROM _rows WHERE hash(source_key) NOT IN (SELECT h FROM _repeated)
    UNION ALL
    SELECT g.* REPLACE (CASE WHEN g.person_rows > 1 THEN l.offenses ELSE g.offenses END AS offenses)
    FROM g LEFT JOIN labels l USING (source_key)
)
SELECT $source || ':' || source_key AS incident_id, $source AS source_id, source_key, event_date, occurred_date,
       occurred_hour, lat, lon, true AS city_hint, false AS placeholder, address, offenses, firearm,
       NULL::INTEGER AS killed, NULL::INTEGER AS injured, person_rows
FROM folded
"""

CATEGORIES = """
CREATE OR REPLACE TEMP TABLE _categories AS
WITH pairs AS (
    SELECT r.source_key, m.category_id, hash(r.source_key) IN (SELECT h FROM _repeated) AS several
    FROM _rows r JOIN _category_map m
      ON r.offense_group = m.offense_group AND r.against = m.against AND r.firearm IS NOT DISTINCT FROM m.firearm
)
SELECT $source || ':' || source_key AS incident_id, category_id FROM (
    SELECT source_key, category_id FROM pairs WHERE NOT several  -- one row: its categories are distinct already
    UNION ALL
    SELECT DISTINCT source_key, category_id FROM pairs WHERE several
)
"""

PEOPLE = """
CREATE OR REPLACE TEMP TABLE _people AS
WITH p AS (
    SELECT source_key, involvement, invl_no, upper(coalesce(sex, 'U')) AS sex, upper(coalesce(race, 'U')) AS race,
           coalesce(b.age_band, 'unknown') AS age_band, _row,
           hash(source_key) IN (SELECT h FROM _repeated) AS several
    FROM _people_rows r LEFT JOIN _age_bands b ON b.age IS NOT DISTINCT FROM r.age
), kept AS (
    SELECT * FROM p WHERE NOT several
    UNION ALL
    SELECT * FROM p WHERE several
    -- with person numbers, a person listed under several offenses is counted once
    QUALIFY NOT $numbered OR row_number() OVER (PARTITION BY source_key, involvement, invl_no ORDER BY _row) = 1
), roles AS (
    SELECT $source || ':' || source_key AS incident_id, several, sex, race, age_band,
           coalesce(k.role, CASE WHEN inv = '' THEN 'unknown' ELSE 'other' END) AS role
    FROM (SELECT *, upper(kc_strip(coalesce(involvement, ''))) AS inv FROM kept) LEFT JOIN _roles k ON k.code = inv
)
SELECT incident_id, role, sex, race, age_band, 1::INTEGER AS n FROM roles WHERE NOT several  -- one row: one person
UNION ALL
SELECT incident_id, role, sex, race, age_band, count(*)::INTEGER AS n FROM roles WHERE several
GROUP BY incident_id, role, sex, race, age_band
"""


def define_macros(con: duckdb.DuckDBPyConnection) -> None:
    """kc_strip: Python's str.strip() for ASCII whitespace (DuckDB's trim() removes only spaces).

    Most values have none to strip; a regular expression finds those that do (trimming every value took 2.5x as
    long).
    """
    con.execute(r"""CREATE OR REPLACE TEMP MACRO kc_strip(s) AS
                    CASE WHEN regexp_matches(s, '^[\t\n\v\f\r ]|[\t\n\v\f\r ]$')
                         THEN trim(s, ' ' || chr(9) || chr(10) || chr(11) || chr(12) || chr(13)) ELSE s END""")


def fold(con: duckdb.DuckDBPyConnection, source_id: str) -> None:
    """`_rows` and `_people_rows` -> `_incidents`, `_categories`, `_people`."""
    define_macros(con)
    # keys of several rows, by hash: only their rows are grouped (a hash collision only sends a report the long way)
    con.execute("CREATE OR REPLACE TEMP TABLE _repeated AS SELECT hash(source_key) AS h FROM _rows GROUP BY h "
                "HAVING count(*) > 1")
    con.execute(INCIDENTS, {"source": source_id})
    combos = con.execute("SELECT DISTINCT offense_group, against, firearm FROM _rows").df()
    combos["incident_id"] = range(len(combos))  # categories are decided per combination, by reference's rules
    found = reference.categorize_kcpd_rows(combos.astype({"firearm": "boolean"}))
    register(con, "_category_map", combos.merge(found, on="incident_id")[
        ["offense_group", "against", "firearm", "category_id"]])
    con.execute(CATEGORIES, {"source": source_id})
    ages = con.execute("SELECT DISTINCT age FROM _people_rows").df()["age"]
    register(con, "_age_bands", pd.DataFrame({"age": ages, "age_band": age_band(ages)}))
    register(con, "_roles", pd.DataFrame({"code": list(ROLES), "role": list(ROLES.values())}))
    has_numbers = con.execute("SELECT count(invl_no) > 0 FROM _people_rows").fetchall()[0][0]
    con.execute(PEOPLE, {"source": source_id, "numbered": bool(has_numbers)})
