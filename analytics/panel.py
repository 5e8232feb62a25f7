"""The neighborhood-month panel that synthetic control, program effects and detectability share.

Every method beyond the two-period test counts the same thing: KCPD crimes against persons per neighborhood and
month (`kcpd_nbhd`, the only continuous series, 2015 on; 2019-2021 undercount, see the coverage notes). A footprint
is the neighborhoods the evaluation would count for it (the same 5% rule as analytics.evaluation.regions), its
buffer the neighborhoods within 400 m. Places another registry event touched while it was active are never
used as comparisons or placebos: a comparison that was itself treated would hide an effect or invent one.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import pandas as pd
import shapely

from analytics import evaluation, geometry, queries
from analytics.registry import CanvassEvent

SOURCE, MEASURE = "kcpd_nbhd", "persons"
BUFFER_M = 400.0
#: months an event counts as active after its start (or its end date): a year, the longest after window used here
ACTIVE_MONTHS = 12
#: a neighborhood averaging fewer incidents a month than this in a before window is too noisy to be a donor or a
#: placebo footprint: its month-to-month swings are mostly chance (Poisson SD over half the mean below 4)
MIN_MONTHLY = 4.0


class NotEvaluable(ValueError):
    """A program, a list of events or a design value these methods cannot use; the message says why."""


@dataclass(frozen=True)
class Footprint:
    """One place and start: the neighborhoods counted, the month the work started (left out of both windows, as
    in analytics.evaluation) and the id and name it is shown by."""
    key: str
    name: str
    areas: tuple[str, ...]
    start: pd.Timestamp  # first day of the start month


def matrix(con, source: str = SOURCE, measure: str = MEASURE) -> pd.DataFrame:
    """Month x neighborhood counts over every month the source covers (uncovered months NaN, never 0)."""
    months = sorted(queries.covered_months(con, source, has_coords=True))
    if not months:
        raise evaluation.BadDesign(f"source {source!r} has no neighborhood months")
    span = list(pd.date_range(months[0], months[-1], freq="MS"))
    return evaluation.area_matrix(con, source, measure, span)


def month_of(day) -> pd.Timestamp:
    """The first day of the day's month."""
    return pd.Timestamp(day).to_period("M").start_time


def shifted(month: pd.Timestamp, k: int) -> pd.Timestamp:
    """The month k months after (k < 0: before) `month`."""
    return (pd.Timestamp(month).to_period("M") + k).start_time


def windows(start: pd.Timestamp, before: int, after: int) -> tuple[list[pd.Timestamp], list[pd.Timestamp]]:
    """The `before` whole months before the start month and the `after` months after it (the start month, which
    mixes before and after, is in neither)."""
    return ([shifted(start, -k) for k in range(before, 0, -1)], [shifted(start, k) for k in range(1, after + 1)])


@dataclass
class Geo:
    """The neighborhood borders an evaluation needs, built once per set of borders: the polygons, each one's
    buffer neighbours (within BUFFER_M, the 2% rule of analytics.evaluation.regions) and the places too close to
    be its comparisons (touching twice BUFFER_M around it, the same function's rule)."""
    shapes: dict[str, shapely.Geometry]
    near: dict[str, frozenset]
    wide: dict[str, frozenset]
    _areas: dict = field(default_factory=dict)

    def footprint_areas(self, event: CanvassEvent) -> tuple[str, ...]:
        """The neighborhoods an evaluation counts for the event: those it names, or those holding at least 5% of
        its corridor or circle (analytics.evaluation.regions' rule)."""
        if event.footprint_type == "neighborhoods":
            return tuple(event.neighborhoods)
        key = (event.footprint_type, event.line_wkt, event.corridor_width_m, event.point_lon, event.point_lat,
               event.radius_m)
        if key not in self._areas:
            shape = event.footprint()
            self._areas[key] = tuple(a for a, s in self.shapes.items() if s.intersects(shape)
                                     and s.intersection(shape).area >= 0.05 * shape.area)
        return self._areas[key]

    def around(self, areas, table: str = "near") -> set[str]:
        """The areas with their buffer neighbours (`near`) or with every place too close to compare (`wide`)."""
        found = getattr(self, table)
        return set(areas).union(*(found.get(a, ()) for a in areas))


def geo(con) -> Geo:
    """The borders of this database as a Geo (cached on the borders themselves)."""
    pairs = tuple(con.execute("SELECT area_id, geometry_wkt FROM areas WHERE area_type = 'neighborhood' "
                              "ORDER BY area_id").fetchall())
    return _geo(pairs)


@cache
def _geo(pairs: tuple) -> Geo:
    polys = geometry.neighborhood_shapes(pairs)
    return Geo(polys, _near_table(polys, BUFFER_M, 0.02), _near_table(polys, 2 * BUFFER_M, 0.0))


def _near_table(polys: dict, metres: float, share: float) -> dict[str, frozenset]:
    """For each neighborhood, the others with at least `share` of their area within `metres` of it."""
    names = list(polys)
    tree = shapely.STRtree(list(polys.values()))
    out = {}
    for a, s in polys.items():
        g = geometry.buffer_m(s, metres)
        hits = [names[i] for i in tree.query(g, predicate="intersects")]
        out[a] = frozenset(b for b in hits if b != a and polys[b].intersection(g).area >= share * polys[b].area)
    return out


def event_footprint(g: Geo, event: CanvassEvent) -> Footprint:
    """The event as a footprint: its neighborhoods and start month (it must have a date)."""
    return Footprint(event.event_id, event.name, g.footprint_areas(event), month_of(event.start_date))


def busy(g: Geo, events: list[CanvassEvent], first: pd.Timestamp, last: pd.Timestamp,
         skip: set[str] = frozenset()) -> set[str]:
    """Neighborhoods touched by a registry event (other than those in `skip`) active at some month from `first`
    to `last`: from its start month to ACTIVE_MONTHS after its end (or start). An undated event could have been
    at any time, so its places are always busy."""
    out: set[str] = set()
    for e in events:
        if e.event_id in skip:
            continue
        if e.start_date is not None:
            begin, end = month_of(e.start_date), shifted(month_of(e.end_date or e.start_date), ACTIVE_MONTHS)
            if begin > last or end < first:
                continue
        out |= set(g.footprint_areas(e))
    return out


def eligible(m: pd.DataFrame, pre: list[pd.Timestamp], post: list[pd.Timestamp], exclude: set[str]) -> list[str]:
    """Neighborhoods outside `exclude` with data in every month of both windows and at least MIN_MONTHLY a month
    on average before the start (the before window alone decides): the places fit to be donors or placebos."""
    ok = m.loc[list(pre) + list(post)].notna().all() & (m.loc[pre].mean() >= MIN_MONTHLY)
    return sorted(a for a in m.columns[ok] if a not in exclude)


def placebo_starts(m: pd.DataFrame, before: int, after: int) -> list[pd.Timestamp]:
    """Start months whose before and after windows both lie within the panel's months with data."""
    ok = m.notna().all(axis=1).to_numpy()
    n = len(ok)
    return [m.index[i] for i in range(before, n - after) if ok[i - before:i].all() and ok[i + 1:i + after + 1].all()]


def rng_for(*parts: object) -> np.random.Generator:
    """A random generator seeded from the parts (an event id, a purpose): the page, the command line and a rerun
    draw the same placebos, so they show the same numbers."""
    text = "|".join(map(str, parts)).encode()
    return np.random.default_rng(int.from_bytes(hashlib.sha256(text).digest()[:8], "little"))
