"""pydeck maps. Layers are built from GeoJSON the analytics functions return."""

from __future__ import annotations

import pydeck as pdk

KC_VIEW = pdk.ViewState(latitude=39.07, longitude=-94.55, zoom=10.3, pitch=0)
REGION_COLOURS = {
    "comparison buffer": [127, 140, 141, 50], "comparison": [44, 62, 80, 90], "buffer": [230, 126, 34, 90],
    "footprint": [192, 57, 43, 120], "canvass": [192, 57, 43, 220],
}


def outline_layer(outlines: dict) -> pdk.Layer:
    """Neighborhood outlines for orientation (the app works offline, without a base map)."""
    return pdk.Layer("GeoJsonLayer", outlines, id="neighborhoods", filled=False, stroked=True,
                     get_line_color=[120, 120, 120, 120], line_width_min_pixels=1, pickable=True)


def regions_map(shapes: dict, outlines: dict | None = None) -> pdk.Deck:
    """Footprint, buffer and comparison areas of an evaluation, labelled on hover."""
    layers = [outline_layer(outlines)] if outlines else []
    for name, colour in REGION_COLOURS.items():
        if name not in shapes:
            continue
        feature = {"type": "Feature", "geometry": shapes[name], "properties": {"region": name}}
        layers.append(pdk.Layer("GeoJsonLayer", {"type": "FeatureCollection", "features": [feature]},
                                id=name.replace(" ", "_"), filled=True, stroked=True, get_fill_color=colour,
                                get_line_color=colour[:3] + [255], line_width_min_pixels=1, pickable=True))
    return pdk.Deck(layers=layers, initial_view_state=KC_VIEW, map_style=None, tooltip={"text": "{region}{name}"})
