"""Street geometry for registry footprints from geocoded Gun Violence Archive addresses (north-south streets).

`analytics.geometry.corridor` derives an east-west street (Independence Avenue) between two north-south cross
streets. Prospect Avenue runs north-south, so here the fit is the other way round: longitude on latitude,
through the GVA incidents whose address names Prospect, cut at the latitudes of the east-west cross streets
(the median latitude of the incidents whose address names each). An intersection (39th St & Prospect) is the
median point of the incidents whose address names both streets. The registry's seed stores the results
(data/reference/canvass_events_seed.csv); `seed_geometry` re-derives them, and a test checks the two agree.

Only incidents between the cross streets' latitudes enter the fit: GVA geocodes a few "Prospect" addresses far
from the avenue (a "12200 block of Prospect Avenue" at 39.226 N, in the Northland), which would pull the line.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import shapely

from analytics import geometry
from kcvt.settings import DATA_DIR

GVA_FILE = DATA_DIR / "raw" / "gva_kc_2013_2018.csv.gz"
#: radius of an intersection footprint: about half a mile, "the blocks around" a corner, as for the PAL Center walk
INTERSECTION_RADIUS_M = 800.0
#: half-width of a street corridor: about one block each side, as for the Independence Avenue corridor
CORRIDOR_WIDTH_M = 120.0


def _names(addresses: pd.Series, street: str) -> pd.Series:
    """Addresses naming the street as a word ("39th" does not match "3900 block")."""
    return addresses.fillna("").str.contains(rf"\b{re.escape(street)}\b", flags=re.IGNORECASE, regex=True)


def cross_street_lat(addresses: pd.Series, lat: pd.Series, street: str) -> float:
    """An east-west street's latitude: the median of geocoded incidents whose address names it."""
    on = _names(addresses, street) & lat.notna()
    if not on.any():
        raise ValueError(f"no geocoded incident names {street!r}")
    return float(lat[on].median())


def ns_street_line(addresses: pd.Series, lon: pd.Series, lat: pd.Series, street: str,
                   lat_range: tuple[float, float]) -> tuple[float, float]:
    """Fit a north-south street as lon = a + b * lat through the geocoded incidents on it within lat_range."""
    lo, hi = sorted(lat_range)
    on = _names(addresses, street) & lon.notna() & lat.between(lo, hi)
    if on.sum() < 3:
        raise ValueError(f"fewer than 3 geocoded incidents name {street!r} between {lo:.4f} and {hi:.4f} N")
    b, a = np.polyfit(lat[on], lon[on], 1)
    return float(a), float(b)


def ns_corridor(addresses: pd.Series, lon: pd.Series, lat: pd.Series, street: str, from_street: str,
                to_street: str) -> shapely.LineString:
    """The segment of a north-south street between two east-west cross streets, from incident addresses."""
    ends = sorted(cross_street_lat(addresses, lat, s) for s in (from_street, to_street))
    a, b = ns_street_line(addresses, lon, lat, street, (ends[0], ends[1]))
    return shapely.LineString([(round(a + b * y, 5), round(y, 5)) for y in ends])


def intersection(addresses: pd.Series, lon: pd.Series, lat: pd.Series, street: str, cross: str) -> shapely.Point:
    """A corner: the median point of geocoded incidents whose address names both streets."""
    on = _names(addresses, street) & _names(addresses, cross) & lon.notna() & lat.notna()
    if not on.any():
        raise ValueError(f"no geocoded incident names both {street!r} and {cross!r}")
    return shapely.Point(round(float(lon[on].median()), 5), round(float(lat[on].median()), 5))


def independence_ave_northeast(addresses: pd.Series, lon: pd.Series, lat: pd.Series) -> shapely.LineString:
    """Independence Avenue through the Northeast: the avenue's line (as in geometry.corridor) from The Paseo's
    longitude near the avenue (GVA incidents naming The Paseo north of 39.09 N) east to the avenue's easternmost
    geocoded incident. Used only to name the neighborhoods of a place on the avenue whose address is unknown."""
    a, b = geometry.street_line(addresses, lon, lat, "Independence Ave")
    paseo = _names(addresses, "Paseo") & (lat > 39.09) & lon.notna()
    west = float(lon[paseo].median())
    on = _names(addresses, "Independence Ave") & lon.notna()
    east = float(lon[on].max())
    return shapely.LineString([(round(x, 5), round(a + b * x, 5)) for x in (west, east)])


def gva_addresses() -> pd.DataFrame:
    """The bundled GVA incidents (2014-2018) with an address and a geocode: the points every derivation uses."""
    raw = pd.read_csv(GVA_FILE, usecols=["address", "latitude", "longitude"])
    return raw.dropna(subset=["latitude", "longitude"])


def seed_geometry() -> dict[str, shapely.Geometry]:
    """Each derived seed footprint's base shape (before its radius or width), keyed by what it is."""
    g = gva_addresses()
    args = (g["address"], g["longitude"], g["latitude"])
    return {
        "prospect: lexington to 81st": ns_corridor(*args, "Prospect", "Lexington", "81st"),
        "39th & prospect": intersection(*args, "Prospect", "39th"),
        "35th & prospect": intersection(*args, "Prospect", "35th"),
        "independence ave: paseo to east end": independence_ave_northeast(*args),
    }


def neighborhoods_along(line: shapely.LineString, shapes: dict[str, shapely.Geometry],
                        width_m: float = CORRIDOR_WIDTH_M, share: float = 0.05) -> list[str]:
    """Neighborhoods holding at least `share` of the line buffered `width_m` each side (the evaluation's 5% rule
    for a footprint's neighborhoods), sorted by name."""
    band = geometry.buffer_m(line, width_m)
    return sorted(a for a, s in shapes.items() if s.intersects(band) and s.intersection(band).area >= share * band.area)
