"""Footprints, buffer rings and distances for outreach evaluation.

Distances need metres, so shapes are projected to UTM zone 15N (EPSG:26915, which
covers Kansas City) with pyproj, buffered there, and projected back to lon/lat.
"""

from __future__ import annotations

import re
from functools import cache

import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

_TO_M = Transformer.from_crs("EPSG:4326", "EPSG:26915", always_xy=True)
_TO_DEG = Transformer.from_crs("EPSG:26915", "EPSG:4326", always_xy=True)


def to_metres(geom: shapely.Geometry) -> shapely.Geometry:
    return shapely.transform(geom, lambda xy: np.column_stack(_TO_M.transform(xy[:, 0], xy[:, 1])))


def to_degrees(geom: shapely.Geometry) -> shapely.Geometry:
    return shapely.transform(geom, lambda xy: np.column_stack(_TO_DEG.transform(xy[:, 0], xy[:, 1])))


def buffer_m(geom: shapely.Geometry, metres: float) -> shapely.Geometry:
    """Buffer a lon/lat shape by a distance in metres."""
    return to_degrees(to_metres(geom).buffer(metres))


def ring(footprint: shapely.Geometry, metres: float) -> shapely.Geometry:
    """The displacement buffer: the band within `metres` of the footprint, outside it."""
    return buffer_m(footprint, metres).difference(footprint)


def circle(lon: float, lat: float, radius_m: float) -> shapely.Geometry:
    return buffer_m(shapely.Point(lon, lat), radius_m)


@cache
def neighborhood_shapes(wkt_pairs: tuple[tuple[str, str], ...]) -> dict[str, shapely.Geometry]:
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
