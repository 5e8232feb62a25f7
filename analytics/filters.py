"""Reading and checking filter values that arrive from URLs and widgets.

Every value is checked against what the database knows; anything else is dropped
with a message naming it, and the default is used instead.
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from analytics import queries
from kcvt import status

#: categories shown first for each source when nothing is chosen (violence first: crimes against persons for the
#: NIBRS groups, shootings for GVA)
DEFAULT_CATEGORIES = {
    "gva": ["shooting", "homicide"],
    "gva_mass": ["mass_shooting"],
    "kcpd": ["violent", "aggravated_assault", "homicide", "shooting"],
    "kcpd17": ["shooting", "homicide", "aggravated_assault"],
    "kcpd_nbhd": ["persons"],
    "kcpd_district": ["aggravated_assault_index", "assault_index"],
}

#: Sources with places below the city (incident points or neighborhood counts), in the order pages offer them: the
#: maps and the neighborhood profile need them; district, FBI and annual series have no neighborhoods.
PLACE_SOURCES = ["gva", "kcpd_nbhd", "kcpd17", "kcpd", "gva_mass"]
#: Sources whose every incident involves a gun (GVA lists gun incidents only): "firearm involved only" changes nothing.
ALL_GUN_SOURCES = {"gva", "gva_mass"}


def firearm_choice_applies(source: str, incident_source: bool) -> bool:
    """Whether "firearm involved only" means anything: incident rows with a firearm flag, not GVA (all guns) and not
    counts by area (no flag per incident)."""
    return incident_source and source not in ALL_GUN_SOURCES


def date_bounds() -> tuple[date, date]:
    """The first and last day links and date widgets accept: the query layer's range, so a value a link brings in is
    never one the widget or the query would refuse."""
    return queries.EARLIEST, queries.latest_date()


def parse_date(text: str | None, fallback: date, problems: list[str], name: str) -> date:
    """A link's date, or `fallback` (kept inside `date_bounds`) with a problem naming the value and the range."""
    lo, hi = date_bounds()
    fallback = min(max(fallback, lo), hi)
    if not text:
        return fallback
    try:
        value = date.fromisoformat(str(text)[:10])
    except ValueError:
        problems.append(f"ignored {name}={str(text)[:40]!r}: not a date (YYYY-MM-DD)")
        return fallback
    if not lo <= value <= hi:
        problems.append(f"ignored {name}={value}: outside the accepted dates, {lo} to {hi}")
        return fallback
    return value


#: why a link's map layer or place unit that needs incident points is refused for a source of neighborhood counts
NO_POINTS = "this source has counts by neighborhood, not incident locations"


def pick(value: str | None, allowed: list[str], fallback: str, problems: list[str], name: str,
         known: tuple[list[str], str] = ([], "")) -> str:
    """A link's value if it is one of `allowed`, else `fallback` with a problem naming it: a shared or hand-edited
    link never selects a source, area or category the data does not have. `known`: values that exist but are not
    allowed here, and why (a hexagon map for a source without points), said instead of "not one of the known
    values"."""
    if value is None or value == "":
        return fallback
    if value in allowed:
        return value
    elsewhere, why = known
    reason = why if value in elsewhere else "not one of the known values"
    problems.append(f"ignored {name}={str(value)[:40]!r}: {reason}")
    return fallback


def whole_month_span(start: date, end: date) -> tuple[date, date]:
    """The whole months a period touches: from the first day of `start`'s month to the last day of `end`'s. A source
    that counts by month can answer only whole months, so every page reads its periods this way (a page that took
    June's count for 15-20 June and one that took nothing disagreed)."""
    following = date(end.year + end.month // 12, end.month % 12 + 1, 1)
    return date(start.year, start.month, 1), following - timedelta(days=1)


def widened(incident_source: bool, start: date, end: date) -> tuple[date, date] | None:
    """The whole months a count source reads for [start, end] (`whole_month_span`), or None when the period is read
    as asked (an incident source, whole months already, or start after end). Pages and the CLI say when it widens."""
    if incident_source or start > end or (start, end) == whole_month_span(start, end):
        return None
    return whole_month_span(start, end)


def covered_range(coverage: pd.DataFrame, source: str) -> tuple[date, date]:
    """First and last day a source covers (month grain)."""
    months = pd.to_datetime(coverage.loc[coverage.source_id == source, "period"])
    if months.empty:
        return date(2015, 1, 1), date.today()
    last = months.max() + pd.offsets.MonthEnd(0)
    return months.min().date(), last.date()


def coverage_ranges(coverage: pd.DataFrame, source: str) -> dict[str, list[str]]:
    """A source's covered periods by status ('complete', 'partial', 'sample'), as ranges for a banner."""
    mine = coverage[coverage.source_id == source]
    return {st: status.ranges(mine.loc[mine.status == st, "period"].tolist()) for st in ("complete", "partial", "sample")}


def latest_covered_span(coverage: pd.DataFrame, source: str, months: int) -> tuple[date, date] | None:
    """The latest run of `months` consecutive months that the source covers fully, with coordinates (status
    'complete': no partial month, no sample, places known), as (first day, last day); when no run is that long, the
    latest longest run; None when no month qualifies. Maps and rankings default to it, so a page never opens on a
    period the source mostly does not cover."""
    mine = coverage[(coverage.source_id == source) & (coverage.grain == "month") & (coverage.status == "complete")
                    & coverage.has_coords.astype(bool)]
    periods = sorted(pd.Period(p, freq="M") for p in mine["period"])
    runs: list[list[pd.Period]] = []
    for p in periods:
        if runs and runs[-1][-1] + 1 == p:
            runs[-1].append(p)
        else:
            runs.append([p])
    if not runs:
        return None
    long_enough = [r for r in runs if len(r) >= months]
    run = long_enough[-1] if long_enough else max(reversed(runs), key=len)
    first, last = run[-min(months, len(run))], run[-1]
    return first.start_time.date(), last.end_time.date()
