"""ETL for KC Violence Trends: public incident and count files into one DuckDB model.

Stages: `extract` reads files as published (strings, row numbers kept), `adapters/`
turn each source format into the canonical model (pure functions over data frames),
`geo` assigns places, `load` writes to DuckDB with a load log and rejected rows,
`rollup` computes the aggregates pages read, and `build` makes a whole database and
swaps it in atomically.
"""
