"""What every adapter returns: the canonical model's rows for one file."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import duckdb
import pandas as pd

INCIDENT_COLUMNS = [
    "incident_id", "source_id", "source_key", "event_date", "occurred_date", "occurred_hour",
    "lat", "lon", "city_hint", "placeholder", "address", "offenses", "firearm", "killed", "injured",
    "person_rows",
]
PEOPLE_COLUMNS = ["incident_id", "role", "sex", "race", "age_band", "n"]
AREA_COUNT_COLUMNS = ["source_id", "area_type", "area_id", "grain", "period_start", "measure", "n"]


@dataclass
class Parsed:
    """Rows for the canonical model from one file, plus what was rejected and why.

    incidents, categories and people are data frames, or, from staged adapters, the names of temporary tables
    in the loading connection (millions of rows never pass through pandas); `materialize` turns them into frames.
    """

    source_id: str
    rows_read: int
    incidents: pd.DataFrame | str = field(default_factory=lambda: pd.DataFrame(columns=INCIDENT_COLUMNS))
    categories: pd.DataFrame | str = field(default_factory=lambda: pd.DataFrame(columns=["incident_id", "category_id"]))
    people: pd.DataFrame | str = field(default_factory=lambda: pd.DataFrame(columns=PEOPLE_COLUMNS))
    area_counts: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=AREA_COUNT_COLUMNS))
    rejects: list[tuple[int, str, str]] = field(default_factory=list)  # (row, reason, raw)
    notes: list[str] = field(default_factory=list)
    has_coords: bool = True
    has_firearm: bool = True
    grain: str = "month"  # coverage grain
    population: pd.DataFrame | None = None  # (year, population) for the city, where a file has it

    @property
    def rows_loaded(self) -> int:
        """Rows read minus rows rejected: every row read is either loaded or rejected with a reason."""
        return self.rows_read - len(self.rejects)


def reject_rows(frame: pd.DataFrame, reason: pd.Series, row_col: str = "_row") -> list[tuple[int, str, str]]:
    """Rows with a reason -> reject tuples, keeping the raw row text for the Data page."""
    bad = frame[reason.notna()]
    if bad.empty:
        return []
    raw = bad.drop(columns=[row_col]).astype(object).fillna("").astype(str).agg(",".join, axis=1).str[:2000]
    return list(zip(bad[row_col].astype(int), reason[reason.notna()].astype(str), raw, strict=True))


def first_reason(*reasons: pd.Series) -> pd.Series:
    """The first non-null reason per row across several checks."""
    out = reasons[0].copy()
    for r in reasons[1:]:
        out = out.where(out.notna(), r)
    return out


def materialize(con, parsed: Parsed) -> Parsed:
    """The same Parsed with its temporary tables read into data frames (for small files, the refresh and tests)."""
    def frame(part, columns):
        if not isinstance(part, str):
            return part
        return con.execute(f"SELECT {', '.join(columns)} FROM {part} ORDER BY ALL").df()  # noqa: S608
    return replace(parsed, incidents=frame(parsed.incidents, INCIDENT_COLUMNS),
                   categories=frame(parsed.categories, ["incident_id", "category_id"]),
                   people=frame(parsed.people, PEOPLE_COLUMNS))


def register(con: duckdb.DuckDBPyConnection, name: str, frame: pd.DataFrame) -> None:
    """A data frame as the temporary table `name` (a code constant), in the frame's row order."""
    con.register("_lookup", frame)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM _lookup")  # noqa: S608
    finally:
        con.unregister("_lookup")
