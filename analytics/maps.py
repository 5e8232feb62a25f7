"""pydeck maps. Layers are built from GeoJSON the analytics functions return."""

from __future__ import annotations

import pydeck as pdk

KC_VIEW = pdk.ViewState(latitude=39.03, longitude=-94.55, zoom=9.8, pitch=0)
REGION_COLOURS = {
    "comparison buffer": [127, 140, 141, 50], "comparison": [44, 62, 80, 90], "buffer": [230, 126, 34, 90],
    "footprint": [192, 57, 43, 120], "canvass": [192, 57, 43, 220],
}


def outline_layer(outlines: dict) -> pdk.Layer:
    """Neighborhood outlines for orientation (the app works offline, without a base map). The transparent fill
    makes the whole area clickable, so a click anywhere in a neighborhood can open its profile."""
    return pdk.Layer("GeoJsonLayer", outlines, id="neighborhoods", filled=True, get_fill_color=[0, 0, 0, 0],
                     stroked=True, get_line_color=[120, 120, 120, 120], line_width_min_pixels=1, pickable=True)


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


def ramp(values, top: float, alpha: int = 200) -> list[list[int]]:
    """Light yellow to dark red, computed here (deck.gl JSON allows no function calls)."""
    scale = max(float(top or 0), 1e-9)
    out = []
    for v in values:
        t = 0.0 if v is None or v != v else min(float(v) / scale, 1.0)  # v != v: NaN
        out.append([255, int(240 - 200 * t), int(200 - 200 * t), int(alpha * (0.35 + 0.65 * t))])
    return out


def hex_layer(bins, max_n: int) -> pdk.Layer:
    """H3 hexagons from server-side bins (hex id + count): the browser draws them, no raw rows are sent."""
    data = bins.assign(color=ramp(bins["n"], max_n))
    return pdk.Layer("H3HexagonLayer", data, id="hexes", get_hexagon="hex", get_fill_color="color",
                     extruded=False, pickable=True, stroked=False)


def heat_layer(bins) -> pdk.Layer:
    """A heat map weighted by bin counts at the bins' centres (bounded payload)."""
    return pdk.Layer("HeatmapLayer", bins, id="heat", get_position=["lon", "lat"], get_weight="n", radius_pixels=40,
                     opacity=0.8)


def point_layer(points) -> pdk.Layer:
    """One dot per incident, for small selections only (hotspots.points gives None above MAX_POINTS): each dot is a
    row sent to the browser, and thousands would hide the pattern."""
    return pdk.Layer("ScatterplotLayer", points, id="points", get_position=["lon", "lat"], get_radius=60,
                     radius_min_pixels=2, get_fill_color=[192, 57, 43, 180], pickable=True)


def choropleth_layer(geojson: dict, value: str, max_value: float) -> pdk.Layer:
    """Neighborhoods filled by a property (`n` or `rate`) on the ramp up to `max_value`, colours computed here since
    deck.gl JSON allows no function calls. A blank rate (under 100 residents in 2010) is drawn like 0."""
    features = geojson["features"]
    colours = ramp([f["properties"][value] for f in features], max_value, alpha=220)
    coloured = {"type": "FeatureCollection", "features": [
        {**f, "properties": {**f["properties"], "color": c}} for f, c in zip(features, colours, strict=True)]}
    return pdk.Layer("GeoJsonLayer", coloured, id="choropleth", filled=True, stroked=True,
                     get_fill_color="properties.color",
                     get_line_color=[90, 90, 90, 160], line_width_min_pixels=1, pickable=True)


def watch_layers(geojson: dict) -> list[pdk.Layer]:
    """Watch areas outlined in blue and labelled."""
    labels = [{"name": f["properties"]["name"], "position": _label_point(f["geometry"])} for f in geojson["features"]]
    return [
        pdk.Layer("GeoJsonLayer", geojson, id="watch_areas", filled=False, stroked=True,
                  get_line_color=[31, 97, 141, 255], line_width_min_pixels=3, pickable=True),
        pdk.Layer("TextLayer", labels, id="watch_labels", get_position="position", get_text="name", get_size=14,
                  get_color=[31, 97, 141, 255], get_alignment_baseline="'bottom'", background=True),
    ]


def _label_point(geometry: dict) -> list[float]:
    import shapely

    p = shapely.geometry.shape(geometry).representative_point()
    return [p.x, p.y]


#: what each region of an evaluation map is, for its legend
REGION_MEANING = {
    "canvass": "where the canvass went", "footprint": "counted as canvassed",
    "buffer": "next door, watched for displacement", "comparison": "matched comparison neighborhoods",
    "comparison buffer": "matched to the buffer neighborhoods",
}


def regions_legend(shapes: dict, outlines: bool = True) -> str:
    """A small HTML legend for `regions_map` (deck.gl draws none): each region drawn, in its map colour and name,
    with what it is; then the grey neighborhood outlines when the map has them. Text comes from this module only."""
    rows = []
    for name, colour in REGION_COLOURS.items():
        if name in shapes:
            rgba = f"rgba({colour[0]},{colour[1]},{colour[2]},{max(colour[3], 90) / 255:.2f})"
            rows.append(f'<div style="margin:2px 0"><span style="display:inline-block;width:14px;height:14px;'
                        f'background:{rgba};border:2px solid rgb({colour[0]},{colour[1]},{colour[2]});'
                        f'vertical-align:middle;margin-right:6px"></span><b>{name}</b>: {REGION_MEANING[name]}</div>')
    if outlines:
        rows.append('<div style="margin:2px 0"><span style="display:inline-block;width:14px;height:14px;'
                    'border:1px solid rgb(120,120,120);vertical-align:middle;margin-right:6px"></span>'
                    'grey outlines: every neighborhood</div>')
    return '<div style="font-size:0.85rem;line-height:1.4">' + "".join(rows) + "</div>"
