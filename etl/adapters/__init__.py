"""One adapter per published format: a file's rows in, the canonical model's rows (a Parsed) out.

Adapters come in two kinds, with one signature each:

- a text adapter (`TextAdapter`) takes a RawTable (etl.extract.read_csv_text: every value a string, rows
  numbered) and returns a Parsed of data frames. Every format has one, so any file can be parsed in memory.
- a staged adapter (`StagedAdapter`) takes a connection and a file staged in it (etl.extract.stage: the view
  `_staged`) and returns a Parsed naming temporary tables of that connection. Formats whose files run to millions
  of rows (KCPD's) have one as well, so big files never pass through pandas; a build uses it when there is one.

Both take the file's name (for messages) and its source id, reject bad rows with a reason instead of dropping
them, and raise etl.errors.SchemaError when the file as a whole is not of their format.
"""

from __future__ import annotations

from typing import Protocol

import duckdb

from etl.adapters import aggregates, gva, kcpd, kcpd17
from etl.extract import RawTable, Staged
from etl.model import Parsed


class TextAdapter(Protocol):
    """Parse a file read as text: `raw` -> a Parsed of data frames."""

    def __call__(self, raw: RawTable, file: str, source_id: str) -> Parsed:
        """Parse `raw`, the file `file` of source `source_id`."""


class StagedAdapter(Protocol):
    """Parse a file staged in `con` -> a Parsed naming temporary tables of `con`.

    `replace`: the file's rows replace the rows already stored for the same keys instead of merging with them
    (KCPD person-rows, etl.merge).
    """

    def __call__(self, con: duckdb.DuckDBPyConnection, staged: Staged, file: str, source_id: str, *,
                 replace: bool = False) -> Parsed:
        """Parse the file staged in `con` (view `_staged`), the file `file` of source `source_id`."""


#: Every adapter, by the name data/manifest.csv gives it.
TEXT: dict[str, TextAdapter] = {
    "kcpd": kcpd.parse,
    "kcpd17": kcpd17.parse,
    "gva": gva.parse,
    "nbhd_monthly": aggregates.parse_nbhd_monthly,
    "district_daily": aggregates.parse_district_daily,
    "ucr_annual": aggregates.parse_ucr_annual,
    "kcpd_annual": aggregates.parse_kcpd_annual,
}
#: The adapters that also parse a staged file in SQL (etl.extract.stage), used for every file of their format.
STAGED: dict[str, StagedAdapter] = {"kcpd": kcpd.parse_staged}
#: The adapter a user file for each source goes through (`etl load FILE --source S`).
DEFAULT_ADAPTER = {"kcpd": "kcpd", "gva": "gva", "gva_mass": "gva", "kcpd17": "kcpd17"}
