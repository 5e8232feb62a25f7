"""Footprints, buffer rings and distances for outreach evaluation, and the gate users' geometry passes first.

Distances need metres, so shapes are projected to UTM zone 15N (EPSG:26915, which
covers Kansas City) with pyproj, buffered there, and projected back to lon/lat.

Geometry typed or uploaded by users is hostile until checked: GEOS (under shapely) crashes the whole process
with a segmentation fault when asked to buffer `LINESTRING (0 0, 1e308 1e308)`, and spends minutes on a
million-vertex line. `guard` is the one check every footprint passes before any shapely object is made from
it; it reads the WKT text itself, with a regular expression and Python floats, so not even GEOS's WKT reader
sees an unchecked number.
"""

from __future__ import annotations

import math
import re
from functools import cache

import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from kcvt.settings import CITY_BBOX

_TO_M = Transformer.from_crs("EPSG:4326", "EPSG:26915", always_xy=True)
_TO_DEG = Transformer.from_crs("EPSG:26915", "EPSG:4326", always_xy=True)

#: Degrees added on every side of the city's box (settings.CITY_BBOX) for users' footprints: about 5 km.
MARGIN_DEG = 0.05
#: Where users' footprints may lie (lon_min, lat_min, lon_max, lat_max).
AREA_BBOX = (CITY_BBOX[0] - MARGIN_DEG, CITY_BBOX[1] - MARGIN_DEG, CITY_BBOX[2] + MARGIN_DEG, CITY_BBOX[3] + MARGIN_DEG)
#: Where any shape handed to buffer_m may lie: the city's box and a degree (about 100 km) around it.
_SANE_BBOX = (CITY_BBOX[0] - 1, CITY_BBOX[1] - 1, CITY_BBOX[2] + 1, CITY_BBOX[3] + 1)
MAX_WKT_CHARS = 20_000
MAX_VERTICES = 1_000
MAX_LINE_M = 40_000.0
#: Largest radius or corridor half-width a footprint may have (the registry's own limits are tighter).
MAX_FOOTPRINT_M = 5_000.0
#: Largest distance buffer_m accepts (evaluation buffers footprints by at most twice a 2 km ring).
MAX_BUFFER_M = 50_000.0
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_LINESTRING = re.compile(r"\s*LINESTRING\s*\((.*)\)\s*", re.IGNORECASE | re.DOTALL)
_AXES = {"longitude": (AREA_BBOX[0], AREA_BBOX[2]), "latitude": (AREA_BBOX[1], AREA_BBOX[3])}


class GeometryRejected(ValueError):
    """A footprint that was not handed to GEOS; the message names each field and what is wrong with it."""


def guard(line_wkt: object = None, lon: object = None, lat: object = None,
          **distances: object) -> shapely.LineString | shapely.Point | None:
    """The one check between users' geometry and GEOS; every entry point (registry and watch-area rows from forms,
    imports and hand-edited files, and each footprint before it is buffered) calls it.

    Blank values (None, "") are skipped: whether a footprint is complete is the caller's question. Checks a corridor
    line's WKT text (at most MAX_VERTICES points and MAX_WKT_CHARS characters, plain numbers only, every point inside
    AREA_BBOX, at most MAX_LINE_M long), a point's lon and lat (finite, inside AREA_BBOX) and each named distance in
    metres (e.g. radius_m=400: finite, above 0, at most MAX_FOOTPRINT_M). Raises GeometryRejected naming every
    problem ("line_wkt: coordinate 1e308 is outside the Kansas City area ..."). Returns the line when line_wkt is
    given, else the point when lon and lat are, built from the checked numbers; else None.
    """
    shape, problems = _line(line_wkt) if not _blank(line_wkt) else (None, [])
    point = [_number(value, f"{name}:", axis, problems) for value, name, axis in
             ((lon, "point_lon", "longitude"), (lat, "point_lat", "latitude")) if not _blank(value)]
    if shape is None and len(point) == 2 and None not in point:
        shape = shapely.Point(*point)
    for name, value in distances.items():
        problems += _distance_problems(name, value)
    if problems:
        raise GeometryRejected("; ".join(problems))
    return shape


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _short(text: object, limit: int = 30) -> str:
    text = str(text).strip()
    return text if len(text) <= limit else text[:limit] + "…"


def _as_float(value: object) -> float | None:
    """A plain decimal number from text (no inf, nan, hex or underscores) or a real number; None otherwise."""
    if isinstance(value, str):
        return float(value) if _NUMBER.fullmatch(value.strip()) else None
    if isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool):
        return float(value)
    return None


def _number(value: object, label: str, axis: str, problems: list[str]) -> float | None:
    """A coordinate checked numerically, or None with the reason added to `problems`."""
    x = _as_float(value)
    if x is None:
        problems.append(f"{label} {_short(value)!r} is not a number")
        return None
    lo, hi = _AXES[axis]
    if not (math.isfinite(x) and lo <= x <= hi):
        shown = _short(value) if isinstance(value, str) else f"{x:g}"
        problems.append(f"{label} {shown} is outside the Kansas City area ({axis} {lo:.2f} to {hi:.2f})")
        return None
    return x


def _distance_problems(name: str, value: object) -> list[str]:
    if _blank(value):
        return []
    x = _as_float(value)
    if x is None:
        return [f"{name}: {_short(value)!r} is not a number"]
    if not (math.isfinite(x) and 0 < x <= MAX_FOOTPRINT_M):
        shown = _short(value) if isinstance(value, str) else f"{x:g}"
        return [f"{name}: {shown} m is out of range (above 0, at most {MAX_FOOTPRINT_M:,.0f} m)"]
    return []


def _line(text: object) -> tuple[shapely.LineString | None, list[str]]:
    """A corridor line read from its WKT text by hand: sizes first, then each number, then the length."""
    if not isinstance(text, str):
        return None, ["line_wkt: must be WKT text"]
    points = text.count(",") + 1
    if points > MAX_VERTICES:
        return None, [f"line_wkt: the line has {points:,} points; at most {MAX_VERTICES:,} are accepted"]
    if len(text) > MAX_WKT_CHARS:
        return None, [f"line_wkt: the text is {len(text):,} characters long; at most {MAX_WKT_CHARS:,} are accepted"]
    body = _LINESTRING.fullmatch(text)
    if body is None:
        return None, ["line_wkt: must be a WKT LINESTRING of lon lat points, e.g. "
                      "LINESTRING (-94.547 39.106, -94.520 39.105)"]
    coords = []
    for pair in body.group(1).split(","):
        tokens = pair.split()
        if len(tokens) != 2:
            return None, [f"line_wkt: each point needs a longitude and a latitude, not {_short(pair)!r}"]
        problems: list[str] = []
        xy = [_number(t, "line_wkt: coordinate", axis, problems) for t, axis in zip(tokens, _AXES, strict=True)]
        if problems:
            return None, [problems[0] + _swapped_hint(tokens)]
        coords.append(xy)
    if len(coords) < 2:
        return None, ["line_wkt: a line needs at least two points"]
    xs, ys = _TO_M.transform(*np.array(coords).T)
    length = float(np.hypot(np.diff(xs), np.diff(ys)).sum())
    if length > MAX_LINE_M:
        return None, [f"line_wkt: the line is {length / 1000:,.1f} km long; at most {MAX_LINE_M / 1000:,.0f} km is "
                      "accepted"]
    return shapely.LineString(coords), []


def _swapped_hint(tokens: list[str]) -> str:
    """' (WKT puts longitude first ...)' when the pair reads as lat lon inside the area, else ''."""
    y, x = (_as_float(t) for t in tokens)
    inside = x is not None and y is not None and all(
        lo <= v <= hi for v, (lo, hi) in zip((x, y), _AXES.values(), strict=True))
    return " (WKT puts longitude first: lon lat)" if inside else ""


def _sane(geom: shapely.Geometry) -> bool:
    """Every coordinate finite and within a degree of the city's box."""
    xy = shapely.get_coordinates(geom)
    if not len(xy):
        return True
    x, y = xy[:, 0], xy[:, 1]
    return bool(np.isfinite(xy).all() and x.min() >= _SANE_BBOX[0] and y.min() >= _SANE_BBOX[1]
                and x.max() <= _SANE_BBOX[2] and y.max() <= _SANE_BBOX[3])


def to_metres(geom: shapely.Geometry) -> shapely.Geometry:
    """Lon/lat to metres in UTM zone 15N (EPSG:26915), where buffers and lengths are true distances: at Kansas
    City's latitude a degree of longitude is about a fifth shorter than a degree of latitude."""
    return shapely.transform(geom, lambda xy: np.column_stack(_TO_M.transform(xy[:, 0], xy[:, 1])))


def to_degrees(geom: shapely.Geometry) -> shapely.Geometry:
    """UTM zone 15N metres back to lon/lat, the frame of the database, the maps and GeoJSON."""
    return shapely.transform(geom, lambda xy: np.column_stack(_TO_DEG.transform(xy[:, 0], xy[:, 1])))


def buffer_m(geom: shapely.Geometry, metres: float) -> shapely.Geometry:
    """Buffer a lon/lat shape by a distance in metres.

    The last line of defence for GEOS: refuses (GeometryRejected) a distance that is not finite or not between 0 and
    MAX_BUFFER_M, and a shape with a point that is not finite or more than a degree outside the city's box.
    """
    distance = _as_float(metres)
    if distance is None or not (math.isfinite(distance) and 0 <= distance <= MAX_BUFFER_M):
        raise GeometryRejected(f"buffer distance {_short(metres)} m is not between 0 and {MAX_BUFFER_M:,.0f} m")
    if not _sane(geom):
        raise GeometryRejected("the shape to buffer lies outside the Kansas City area")
    return to_degrees(to_metres(geom).buffer(distance))


def ring(footprint: shapely.Geometry, metres: float) -> shapely.Geometry:
    """The displacement buffer: the band within `metres` of the footprint, outside it."""
    return buffer_m(footprint, metres).difference(footprint)


def circle(lon: float, lat: float, radius_m: float) -> shapely.Geometry:
    """A point footprint: a circle of `radius_m` metres, buffered in metres (round on the ground, not an ellipse in
    degrees) and through buffer_m's checks."""
    return buffer_m(shapely.Point(lon, lat), radius_m)


@cache
def neighborhood_shapes(wkt_pairs: tuple[tuple[str, str], ...]) -> dict[str, shapely.Geometry]:
    """Shapes by area_id from (area_id, WKT) pairs, cached on the pairs: a rebuild brings new pairs, so a new
    entry. These are the city's published borders from the database (repaired on load), not users' geometry, so
    they do not pass `guard`."""
    return {area_id: shapely.from_wkt(wkt) for area_id, wkt in wkt_pairs}


def street_line(addresses: pd.Series, lon: pd.Series, lat: pd.Series, street: str) -> tuple[float, float]:
    """Fit an east-west street as lat = a + b * lon through geocoded incidents on it."""
    on = addresses.fillna("").str.contains(street, flags=re.IGNORECASE) & lon.notna() & lat.notna()
    b, a = np.polyfit(lon[on], lat[on], 1)
    return float(a), float(b)


def cross_street_lon(addresses: pd.Series, lon: pd.Series, street: str) -> float:
    """A north-south street's longitude: the median of geocoded incidents whose address names it."""
    on = addresses.fillna("").str.contains(street, flags=re.IGNORECASE) & lon.notna()
    if not on.any():
        raise ValueError(f"no geocoded incident names {street!r}")
    return float(lon[on].median())


def corridor(addresses: pd.Series, lon: pd.Series, lat: pd.Series, street: str, from_street: str,
             to_street: str) -> shapely.LineString:
    """The segment of an east-west street between two north-south cross streets, from incident addresses.

    Used for the Independence Avenue corridor (Benton Blvd to Hardesty Ave): the avenue's
    line is fitted through GVA incidents on Independence Ave, and each end is where the
    line meets the median longitude of incidents on the cross street.
    """
    a, b = street_line(addresses, lon, lat, street)
    ends = [cross_street_lon(addresses, lon, s) for s in (from_street, to_street)]
    return shapely.LineString([(x, a + b * x) for x in sorted(ends)])
