"""One adapter per published format. Each takes a RawTable and returns a Parsed."""

from __future__ import annotations

from collections.abc import Callable

from etl.adapters import aggregates, gva, kcpd, kcpd17
from etl.extract import RawTable
from etl.model import Parsed

ADAPTERS: dict[str, Callable[..., Parsed]] = {
    "kcpd": kcpd.parse,
    "kcpd17": kcpd17.parse,
    "gva": gva.parse,
    "nbhd_monthly": aggregates.parse_nbhd_monthly,
    "district_daily": aggregates.parse_district_daily,
    "ucr_annual": aggregates.parse_ucr_annual,
    "kcpd_annual": aggregates.parse_kcpd_annual,
}
#: Adapters that parse a file staged in DuckDB (etl.extract.stage) in SQL: big files never pass through pandas.
STAGED: dict[str, Callable[..., Parsed]] = {"kcpd": kcpd.parse_staged}
#: The adapter a user file for each source goes through (`etl load FILE --source S`).
DEFAULT_ADAPTER = {"kcpd": "kcpd", "gva": "gva", "gva_mass": "gva", "kcpd17": "kcpd17"}


def parse(raw: RawTable, file: str, source_id: str, adapter: str | None = None) -> Parsed:
    return ADAPTERS[adapter or DEFAULT_ADAPTER[source_id]](raw, file, source_id)
