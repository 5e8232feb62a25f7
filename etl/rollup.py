"""Roll-ups: the aggregates pages read, computed from the core tables after every load.

Incident sources roll up into `area_counts` (city, neighborhood, ZIP and council district by month; origin
'rollup') and into `hex_month_counts` (H3 cells by month), so pages over whole months read small aggregates
instead of every incident. `source_measures` and `h3_parents` are the small lookups pages check filters and
coarsen hex bins with. Published count files are not touched here: etl.load writes them (origin 'published').
"""

from __future__ import annotations

import duckdb

from etl import geo
from etl.load import insert

ROLLUP = """
CREATE OR REPLACE TEMP TABLE _rollup AS  -- one pass over incidents x categories: by every area at once, and by hex
SELECT i.source_id, c.category_id, date_trunc('month', i.event_date)::DATE AS month,
       i.geo_status <> 'outside_city' AS in_city, i.neighborhood, i.zip, i.council_district,
       CASE WHEN i.geo_status = 'in_city' THEN i.h3_cell END AS hex, grouping(hex) = 1 AS by_areas,
       count(*) AS n, count(*) FILTER (i.firearm) AS n_firearm
FROM incidents i JOIN incident_categories c USING (incident_id)
GROUP BY GROUPING SETS ((i.source_id, c.category_id, month, in_city, i.neighborhood, i.zip, i.council_district),
                        (i.source_id, c.category_id, month, hex));
DELETE FROM area_counts WHERE origin = 'rollup';
INSERT INTO area_counts (source_id, area_type, area_id, grain, period_start, measure, n, origin)
WITH rolled AS (  -- each area type from the rows by every area (a tenth as many rows as incidents)
    SELECT source_id, category_id, month, sum(n) AS n,
           grouping(in_city, neighborhood, zip, council_district) AS unit,  -- which of the four is kept
           CASE unit WHEN 7 THEN 'city' WHEN 11 THEN 'neighborhood' WHEN 13 THEN 'zip' ELSE 'council_district' END AS t,
           CASE unit WHEN 7 THEN CASE WHEN in_city THEN 'Kansas City' END WHEN 11 THEN neighborhood
                     WHEN 13 THEN zip ELSE council_district END AS id
    FROM _rollup WHERE by_areas
    GROUP BY GROUPING SETS ((source_id, category_id, month, in_city), (source_id, category_id, month, neighborhood),
                            (source_id, category_id, month, zip), (source_id, category_id, month, council_district))
)
SELECT source_id, t, id, 'month', month, category_id, n, 'rollup' FROM rolled WHERE id IS NOT NULL
ORDER BY source_id, category_id, t, month;  -- clustered as pages filter, so scans skip most row groups
DELETE FROM hex_month_counts;
INSERT INTO hex_month_counts
SELECT source_id, category_id, month, hex, n, n_firearm FROM _rollup WHERE NOT by_areas AND hex IS NOT NULL
ORDER BY source_id, category_id, month;
DROP TABLE _rollup;
DELETE FROM source_measures;
INSERT INTO source_measures
WITH scope AS (
    SELECT source_id, bool_or(area_type = 'city' AND grain <> 'year') AS has_city,
           any_value(area_type) FILTER (grain <> 'year') AS area_type
    FROM area_counts GROUP BY source_id
)
SELECT DISTINCT a.source_id, a.measure, CASE WHEN s.has_city THEN 'city' ELSE coalesce(s.area_type, 'city') END,
       CASE WHEN s.has_city THEN 'Kansas City' END
FROM area_counts a JOIN scope s USING (source_id);
"""


def rollup(con: duckdb.DuckDBPyConnection) -> None:
    """Rebuild the roll-ups of incidents: area_counts (origin 'rollup'), hex_month_counts and their lookups.

    Incident sources roll up into area_counts (city, neighborhood, ZIP, district by month) and into hex cells by
    month, so pages over whole months read small aggregates instead of every incident; source_measures and
    h3_parents are the small lookups the pages check filters and coarsen hex bins with.
    """
    con.execute(ROLLUP)
    new_cells = [r[0] for r in con.execute(
        """SELECT DISTINCT h3_cell FROM hex_month_counts
           WHERE h3_cell NOT IN (SELECT h3_cell FROM h3_parents)""").fetchall()]
    if new_cells:
        insert(con, "h3_parents", geo.h3_parents(new_cells), ["h3_cell", "r8", "r7"])
