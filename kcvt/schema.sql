-- Canonical model of KC Violence Trends. Layers: reference (sources, categories,
-- offense codes), core (incidents, people counts, areas), aggregates the app reads
-- (area_counts, coverage), and bookkeeping (load_log, rejects).

CREATE TABLE IF NOT EXISTS sources (
    source_id VARCHAR PRIMARY KEY,
    label VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,            -- 'incidents' or 'area_counts'
    publisher VARCHAR,
    unit VARCHAR,
    caveat VARCHAR
);

CREATE TABLE IF NOT EXISTS categories (
    category_id VARCHAR PRIMARY KEY,
    label VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    needs_firearm BOOLEAN NOT NULL,   -- counts need a firearm flag in the source
    definition VARCHAR
);

CREATE TABLE IF NOT EXISTS nibrs_codes (
    code VARCHAR PRIMARY KEY,
    label VARCHAR,
    offense_group VARCHAR NOT NULL,
    against VARCHAR NOT NULL
);

-- One row per incident (KCPD: per report number; GVA: per incident id), never per person.
-- event_date is the date counted: KCPD's reported date (the yearly datasets and their
-- coverage are by reported date), GVA's incident date.
-- incident_id is unique by construction (each load folds its rows by key and first deletes the keys it
-- brings); no PRIMARY KEY index, which tripled the time to load millions of incidents (docs/benchmarks.md).
CREATE TABLE IF NOT EXISTS incidents (
    incident_id VARCHAR NOT NULL,     -- '<source>:<key>'
    source_id VARCHAR NOT NULL,
    source_key VARCHAR NOT NULL,
    event_date DATE NOT NULL,
    occurred_date DATE,
    occurred_hour TINYINT,
    lat DOUBLE,
    lon DOUBLE,
    geo_status VARCHAR NOT NULL,      -- in_city | outside_city | no_coords | placeholder
    neighborhood VARCHAR,
    zip VARCHAR,
    council_district VARCHAR,
    h3_cell VARCHAR,                  -- H3 cell at resolution 9 (about 0.1 km2), for hex bins
    address VARCHAR,                  -- block-masked as published
    offenses VARCHAR,                 -- offense labels, '; '-joined
    firearm BOOLEAN,                  -- NULL when the source does not say
    killed INTEGER,
    injured INTEGER,
    person_rows INTEGER NOT NULL,     -- published rows folded into this incident
    load_id INTEGER NOT NULL
);

-- KCPD's published person-rows, parsed (one per person and offense, as the city publishes them): the core rows
-- that KCPD incidents are folded from. Kept so that a later file repeating some of a report's rows adds only the
-- rows that differ instead of replacing the report with a part of it, and a richer file fills in what a poorer one
-- lacked instead of doubling its rows (etl/merge.py). No names: people are sex,
-- race and age as published. seq orders the rows, first loaded first.
CREATE TABLE IF NOT EXISTS person_rows (
    source_id VARCHAR NOT NULL,
    seq BIGINT NOT NULL,
    source_key VARCHAR NOT NULL,      -- report number
    event_date TIMESTAMP,
    occurred_date TIMESTAMP,
    occurred_hour TINYINT,
    lat DOUBLE,
    lon DOUBLE,
    address VARCHAR,
    label VARCHAR,
    firearm BOOLEAN,
    offense_group VARCHAR,
    against VARCHAR,
    involvement VARCHAR,
    invl_no VARCHAR,
    sex VARCHAR,
    race VARCHAR,
    age VARCHAR,
    carried VARCHAR NOT NULL          -- the values above its file had columns for (sorted, joined by commas): the
                                      -- others are unknown
);

-- Distinct (incident, category) pairs, unique by construction like incidents.
CREATE TABLE IF NOT EXISTS incident_categories (
    incident_id VARCHAR NOT NULL,
    category_id VARCHAR NOT NULL
);

-- People involved, as counts only (no names are ever stored).
CREATE TABLE IF NOT EXISTS people_counts (
    incident_id VARCHAR NOT NULL,
    role VARCHAR NOT NULL,            -- victim | suspect | arrestee | other | unknown
    sex VARCHAR NOT NULL,
    race VARCHAR NOT NULL,
    age_band VARCHAR NOT NULL,
    n INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS areas (
    area_type VARCHAR NOT NULL,       -- city | neighborhood | zip | council_district
    area_id VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    population DOUBLE,
    population_source VARCHAR,
    geometry_wkt VARCHAR,
    PRIMARY KEY (area_type, area_id)
);

CREATE TABLE IF NOT EXISTS city_population (
    year INTEGER PRIMARY KEY,
    population INTEGER NOT NULL,
    source_id VARCHAR NOT NULL
);

-- Counts per area and period, of two origins, so trends and evaluations read one table whatever the source:
-- 'published': counts as their publisher aggregated them, loaded from count files (sources of kind
--     'area_counts': kcpd_nbhd, kcpd_district, fbi_ucr, kcpd_annual; etl.load.replace_counts);
-- 'rollup': our own counts of incidents (sources of kind 'incidents'), rebuilt after every load (etl/rollup.py).
-- A source's rows all have one origin. One row per (source_id, area_type, area_id, grain, period_start, measure),
-- by construction: the roll-up groups by them and a count file replaces the keys it brings. No PRIMARY KEY
-- index: keeping it cost a second per roll-up of 5M incidents.
CREATE TABLE IF NOT EXISTS area_counts (
    source_id VARCHAR NOT NULL,
    area_type VARCHAR NOT NULL,
    area_id VARCHAR NOT NULL,
    grain VARCHAR NOT NULL,           -- day | month | year
    period_start DATE NOT NULL,
    measure VARCHAR NOT NULL,         -- a category_id
    n DOUBLE NOT NULL,
    origin VARCHAR NOT NULL           -- 'published' (an upstream count file) | 'rollup' (counted from incidents)
);

-- Incidents per H3 cell (resolution 9) and month, for maps over whole months without scanning incidents.
CREATE TABLE IF NOT EXISTS hex_month_counts (
    source_id VARCHAR NOT NULL,
    category_id VARCHAR NOT NULL,
    month DATE NOT NULL,
    h3_cell VARCHAR NOT NULL,
    n INTEGER NOT NULL,
    n_firearm INTEGER NOT NULL
);

-- What each source has counts for, and which rows of area_counts make its city-wide count (filled by the
-- roll-up), so checking a filter reads a few hundred rows instead of scanning area_counts.
CREATE TABLE IF NOT EXISTS source_measures (
    source_id VARCHAR NOT NULL,
    measure VARCHAR NOT NULL,         -- a category_id
    scope_type VARCHAR NOT NULL,      -- 'city', or the area type whose rows add up to the city
    scope_id VARCHAR,                 -- 'Kansas City', or NULL: the sum of every area of scope_type
    PRIMARY KEY (source_id, measure)
);

-- Each H3 cell holding incidents with its parents at the coarser map resolutions (filled by the roll-up).
CREATE TABLE IF NOT EXISTS h3_parents (
    h3_cell VARCHAR PRIMARY KEY,      -- resolution 9
    r8 VARCHAR NOT NULL,
    r7 VARCHAR NOT NULL
);

-- Which source covers which period, as each load declared it; the view `coverage`
-- (below) merges loads. A period with no coverage row is "no data", never zero.
CREATE TABLE IF NOT EXISTS load_coverage (
    load_id INTEGER NOT NULL,
    source_id VARCHAR NOT NULL,
    grain VARCHAR NOT NULL,           -- month | year
    period_start DATE NOT NULL,
    status VARCHAR NOT NULL,          -- complete | partial | sample
    has_coords BOOLEAN NOT NULL,      -- area-level counts need coordinates
    has_firearm BOOLEAN NOT NULL,     -- firearm categories need the firearm flag
    note VARCHAR
);

CREATE OR REPLACE VIEW coverage AS
SELECT
    source_id, grain, period_start,
    arg_max(status, CASE status WHEN 'complete' THEN 3 WHEN 'partial' THEN 2 ELSE 1 END) AS status,
    bool_or(has_coords) AS has_coords,
    bool_or(has_firearm) AS has_firearm,
    arg_max(note, CASE status WHEN 'complete' THEN 3 WHEN 'partial' THEN 2 ELSE 1 END) AS note
FROM load_coverage
GROUP BY source_id, grain, period_start;

CREATE TABLE IF NOT EXISTS load_log (
    load_id INTEGER PRIMARY KEY,
    file VARCHAR NOT NULL,
    source_id VARCHAR NOT NULL,
    sha256 VARCHAR NOT NULL,
    rows_read INTEGER NOT NULL,
    rows_loaded INTEGER NOT NULL,
    rows_rejected INTEGER NOT NULL,
    incidents INTEGER,
    loaded_at TIMESTAMP NOT NULL,
    message VARCHAR
);

CREATE TABLE IF NOT EXISTS rejects (
    load_id INTEGER NOT NULL,
    file VARCHAR NOT NULL,
    row_number INTEGER NOT NULL,      -- 1-based data row (header excluded)
    reason VARCHAR NOT NULL,
    raw VARCHAR
);

-- Which data model built this file: the SHA-256 of this schema. The app and the loaders rebuild a file whose model
-- differs (a database built by an older version), instead of failing on a table it lacks.
CREATE TABLE IF NOT EXISTS build_info (
    schema_sha256 VARCHAR NOT NULL
);
