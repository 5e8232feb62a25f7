"""Form pieces shared by pages: the footprint fields used by canvass events and watch areas alike."""

from __future__ import annotations

import streamlit as st

from analytics import geometry

FOOTPRINT_TYPES = ["neighborhoods", "point", "corridor"]
_ONLY_FOR = {"point": ("point_lon", "point_lat", "radius_m"), "corridor": ("line_wkt", "corridor_width_m")}


def footprint_fields(prefix: str, neighborhoods: list[str]) -> dict:
    """Footprint inputs in two columns (keys f"{prefix}_type", _nbhds, _lon, _lat, _radius, _line, _width).

    Returns the raw values for registry.Footprint, keeping only the fields of the chosen kind; they are checked
    there (geometry.guard), so these inputs only help: the line's text is capped at geometry.MAX_WKT_CHARS.
    """
    st.session_state.setdefault(f"{prefix}_radius", "400")
    st.session_state.setdefault(f"{prefix}_width", "120")
    c1, c2 = st.columns(2)
    kind = c1.selectbox("Footprint", FOOTPRINT_TYPES, key=f"{prefix}_type")
    raw = {
        "footprint_type": kind,
        "neighborhoods": "|".join(c2.multiselect("Neighborhoods (neighborhood footprint)", neighborhoods,
                                                 key=f"{prefix}_nbhds")),
        "point_lon": c1.text_input("Point longitude (point footprint)", key=f"{prefix}_lon"),
        "point_lat": c2.text_input("Point latitude", key=f"{prefix}_lat"),
        "radius_m": c1.text_input("Radius, metres", key=f"{prefix}_radius"),
        "line_wkt": c2.text_input("Corridor line (WKT LINESTRING, lon lat)", key=f"{prefix}_line",
                                  max_chars=geometry.MAX_WKT_CHARS,
                                  help=f"At most {geometry.MAX_VERTICES:,} points and "
                                       f"{geometry.MAX_LINE_M / 1000:,.0f} km, inside Kansas City, e.g. "
                                       "LINESTRING (-94.547 39.106, -94.520 39.105)"),
        "corridor_width_m": c1.text_input("Corridor half-width, metres", key=f"{prefix}_width"),
    }
    return {k: v for k, v in raw.items() if not any(k in fields and kind != own for own, fields in _ONLY_FOR.items())}
