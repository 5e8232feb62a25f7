"""pydeck maps. Layers are built from GeoJSON the analytics functions return.

pydeck draws no legend, so every layer builder here also says what its colours mean (`Legend`), and
`legend_html` renders that beside the map. Every pickable object carries a ready-made `tooltip`
text (deck.gl leaves a `{field}` it cannot fill as literal text, so one template, `TOOLTIP`, serves
every layer). Colour classes are quantiles, so one extreme area cannot wash out all the others.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass, field

import numpy as np
import pydeck as pdk
import shapely
from pydeck.bindings.json_tools import default_serialize

from analytics.hotspots import MIN_POPULATION, MIN_RANK_POPULATION

REGION_COLOURS = {
    "comparison buffer": [127, 140, 141, 50], "comparison": [44, 62, 80, 90], "buffer": [230, 126, 34, 90],
    "footprint": [192, 57, 43, 120], "canvass": [192, 57, 43, 220],
}
#: one tooltip template for every layer: each pickable object carries its own text
#: tooltips wrap at 280 px: a long one ("12 incidents in this hexagon · a click opens ...") near the map's right edge
#: was cut off by the map's frame
TOOLTIP = {"text": "{tooltip}", "style": {"maxWidth": "280px", "whiteSpace": "normal"}}
#: five sequential classes, light yellow to dark red (ColorBrewer YlOrRd)
CLASS_COLOURS = [[255, 255, 178], [254, 204, 92], [253, 141, 60], [240, 59, 32], [189, 0, 38]]
ZERO_COLOUR = [240, 240, 240]
NO_DATA_COLOUR = [160, 160, 160]
#: what a neighborhood without a rate says (legend and tooltip), from the same floor as the ranking's
NO_RATE = f"no rate (under {MIN_POPULATION} residents)"
#: watch areas' outlines, one colour each (watch_layers), on a white casing: dark, and none yellow, orange or red, so
#: they stand apart from the quantile classes and the grey outlines under them
WATCH_COLOURS = [[31, 97, 141], [20, 20, 20], [118, 42, 131], [27, 120, 55], [1, 102, 94], [140, 81, 10]]
OUTLINE_COLOUR = [120, 120, 120]
SPOT_COLOURS = {"hot": [215, 48, 39], "cold": [69, 117, 180]}
#: polygons as maps draw them: simplified to about 30 m and rounded to 5 decimals (about 1 m); at the zoom that shows
#: the whole city a pixel is about 150 m, so they look the same at a third of the bytes
MAP_TOLERANCE = 0.0003
MAP_PRECISION = 1e-5


def light_geometry(shape) -> dict:
    """A shapely polygon as the GeoJSON geometry every map sends (see MAP_TOLERANCE)."""
    return shapely.geometry.mapping(shapely.set_precision(shape.simplify(MAP_TOLERANCE), MAP_PRECISION))


class Deck(pdk.Deck):
    """pdk.Deck with no base map, serialised without indentation.

    No base map: the outlines give orientation, and the app works offline. `map_style=None` would not do it: Streamlit
    then fetches CARTO's style and tiles from the internet (a request to a third party from every reader's browser,
    and a second WebGL map to start; see docs/benchmarks.md). pydeck's `map_provider=None` is its documented switch.
    Compact JSON: pydeck's own indents every coordinate on its own line, which about doubles what a polygon map sends
    to the browser on each rerun."""

    def __init__(self, **kwargs) -> None:
        super().__init__(map_provider=None, **kwargs)

    def to_json(self) -> str:
        """The spec as compact JSON (what st.pydeck_chart sends)."""
        return json.dumps(self, sort_keys=True, default=default_serialize, separators=(",", ":"))


@dataclass
class Legend:
    """What a layer's colours mean: a title and (RGB colour, label) rows, drawn as squares or lines."""

    title: str
    entries: list[tuple[list[int], str]] = field(default_factory=list)
    note: str = ""
    line: bool = False  # entries are outlines, not fills


def legend_row(swatch: str, label_html: str) -> str:
    """One legend row: a 14-pixel swatch (its CSS: `swatch_css`) beside its label. A long label wraps beside the
    swatch, never under it, and never squeezes it (a blind review saw "outline only: ..." wrap away from its box)."""
    return ('<div style="display:flex;align-items:flex-start;gap:6px;margin:2px 0">'
            f'<span style="flex:none;width:14px;height:14px;margin-top:0.15em;{swatch}"></span>'
            f'<span>{label_html}</span></div>')


def swatch_css(colour: str, kind: str = "fill", width: int = 3) -> str:
    """A swatch's CSS for a colour (any CSS colour): a filled square ("fill") or a square outline `width` pixels
    wide ("outline")."""
    if kind == "outline":
        return f"border:{width}px solid {colour};background:transparent;box-sizing:border-box"
    return f"background:{colour};border:1px solid #888;box-sizing:border-box"


def legend_html(legends: list[Legend]) -> str:
    """A small HTML legend (text escaped: watch-area names are user input)."""
    parts = []
    for leg in legends:
        rows = []
        for colour, label in leg.entries:
            rgb = "rgb(" + ",".join(str(int(c)) for c in colour[:3]) + ")"
            rows.append(legend_row(swatch_css(rgb, "outline" if leg.line else "fill"), html.escape(label)))
        note = f'<div style="color:#666">{html.escape(leg.note)}</div>' if leg.note else ""
        parts.append(f'<div style="margin-bottom:0.6rem"><b>{html.escape(leg.title)}</b>{"".join(rows)}{note}</div>')
    return f'<div style="font-size:0.85rem;line-height:1.5">{"".join(parts)}</div>'


#: deck.gl's Web Mercator world is 512 pixels wide at zoom 0 (not the 256 of raster map tiles): a zoom computed from
#: 256-px tiles is one level too close and cuts off the Northland and the south
TILE_PX = 512
#: the width fit_view assumes when the caller cannot know it: the map column is about 744 px at a 1,400 px window
#: (697 px on the outreach page); a narrower assumption only zooms out a little
MAP_WIDTH_PX = 640


def fit_view(bounds: tuple[float, float, float, float], height: int, width: int = MAP_WIDTH_PX,
             padding: float = 0.92) -> pdk.ViewState:
    """The view that shows the whole box (minx, miny, maxx, maxy) in a map of height x width pixels (deck.gl's Web
    Mercator, 512-px tiles): every map's first view goes through here, so the city shows from the Northland to the
    south end, and an evaluation map shows its footprint with all its comparisons."""
    minx, miny, maxx, maxy = bounds

    def merc(lat: float) -> float:
        return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))

    zoom_x = math.log2(width * padding * 360 / (TILE_PX * max(maxx - minx, 1e-6)))
    zoom_y = math.log2(height * padding * 2 * math.pi / (TILE_PX * max(merc(maxy) - merc(miny), 1e-9)))
    centre_lat = math.degrees(2 * math.atan(math.exp((merc(miny) + merc(maxy)) / 2)) - math.pi / 2)
    zoom = math.floor(min(zoom_x, zoom_y, 16) * 100) / 100  # rounded down: rounding up could cut an edge
    return pdk.ViewState(latitude=centre_lat, longitude=(minx + maxx) / 2, zoom=zoom, pitch=0)


def shapes_bounds(shapes: dict) -> tuple[float, float, float, float]:
    """The box around GeoJSON geometries (an evaluation's regions), for `fit_view`."""
    return tuple(float(b) for b in shapely.union_all([shapely.geometry.shape(g) for g in shapes.values()]).bounds)


def edge_rows(geojson: dict, keep: tuple[str, ...] = ()) -> list[dict]:
    """The shapes' edges as line segments ({"s": [lon, lat], "t": [lon, lat]}), for `line_layer`. Each segment
    carries its shape's properties named in `keep`; without any, an edge two shapes share (neighbors' common border)
    is listed once."""
    features = [f for f in geojson["features"] if f.get("geometry")]
    if not features:
        return []
    shapes = np.array([shapely.geometry.shape(f["geometry"]) for f in features], dtype=object)
    lines, owner = shapely.get_parts(shapely.boundary(shapes), return_index=True)
    coords, part = shapely.get_coordinates(lines, return_index=True)
    coords = coords.round(5)  # MAP_PRECISION, written as the shortest text
    same = part[1:] == part[:-1]  # consecutive points of one ring
    seg = np.hstack([coords[:-1][same], coords[1:][same]])
    owner = owner[part[:-1][same]]
    moves = (seg[:, 0] != seg[:, 2]) | (seg[:, 1] != seg[:, 3])
    seg, owner = seg[moves], owner[moves]
    if keep:
        return [{"s": s[:2], "t": s[2:], **{k: features[i]["properties"][k] for k in keep}}
                for s, i in zip(seg.tolist(), owner.tolist(), strict=True)]
    flip = (seg[:, 0] > seg[:, 2]) | ((seg[:, 0] == seg[:, 2]) & (seg[:, 1] > seg[:, 3]))
    seg[flip] = seg[flip][:, [2, 3, 0, 1]]  # each edge one way round, so a shared one is found twice and kept once
    return [{"s": s[:2], "t": s[2:]} for s in np.unique(seg, axis=0).tolist()]


def line_layer(edges: list[dict], colour: list[int] | str, layer_id: str, width: int = 1) -> pdk.Layer:
    """Shapes' outlines, `width` pixels wide, as a deck.gl LineLayer of their edges (`edge_rows`); `colour` is one
    RGBA or the name of a property the edges carry; edges that carry a `tooltip` show it on hover.

    Every outline on every map is drawn this way, never by a GeoJsonLayer's own stroke: that stroke is deck.gl's
    PathLayer, whose shaders cost a browser drawing WebGL in software (no GPU, as on many office and virtual
    desktops) about 0.9 s of every visit to a page with a map, against about 0.3 s for a LineLayer; at these widths
    both look the same (docs/benchmarks.md, seventh session)."""
    return pdk.Layer("LineLayer", edges, id=layer_id, get_source_position="s", get_target_position="t",
                     get_color=colour, get_width=width, pickable=bool(edges) and "tooltip" in edges[0])


def outline_layers(outlines: dict, edges: list[dict]) -> list[pdk.Layer]:
    """Neighborhood outlines for orientation (the app works offline, without a base map): a transparent fill, which
    makes the whole area clickable, so a click anywhere in a neighborhood can open its profile, and the outlines
    (`edges`: edge_rows of every neighborhood, which the app builds once per database version)."""
    return [pdk.Layer("GeoJsonLayer", outlines, id="neighborhoods", filled=True, get_fill_color=[0, 0, 0, 0],
                      stroked=False, pickable=True),
            line_layer(edges, OUTLINE_COLOUR + [120], "neighborhood_outlines")]


def outline_legend(clickable: bool = True) -> Legend:
    """Legend entry for the grey neighborhood outlines drawn under every map; `clickable` for a map whose clicks
    open a neighborhood's profile (the Hotspots page's main map), so no other map promises it."""
    what = "neighborhood outline (click to open its profile)" if clickable else "neighborhood outline"
    return Legend("Neighborhoods", [(OUTLINE_COLOUR, what)], line=True)


def with_tooltips(outlines: dict, counts: dict[str, int] | None = None, unit: str = "incidents") -> dict:
    """The outlines with a `tooltip` per neighborhood: its name, and its count for the period when known
    ("Stratford Estates: 52 incidents")."""
    features = []
    for f in outlines["features"]:
        name = f["properties"]["name"]
        n = None if counts is None else counts.get(f["properties"]["area_id"])
        text = name if n is None else f"{name}: {n:,} {unit if n != 1 else unit.rstrip('s')}"
        features.append({**f, "properties": {**f["properties"], "tooltip": text}})
    return {"type": "FeatureCollection", "features": features}


def _picked(event) -> list[dict]:
    """The objects a map click picked (st.pydeck_chart's selection state, read as a mapping)."""
    objects = ((event or {}).get("selection") or {}).get("objects") or {}
    return [o for objs in objects.values() for o in objs]


def picked_area(event) -> str | None:
    """The neighborhood a map click picked, or None."""
    for o in _picked(event):
        area = o.get("area_id") or (o.get("properties") or {}).get("area_id")
        if area:
            return area
    return None


def regions_map(shapes: dict, outlines: dict | None = None, edges: list[dict] | None = None,
                height: int = 420) -> pdk.Deck:
    """Footprint, buffer and comparison areas of an evaluation, each saying what it is on hover (neighborhoods their
    name, with `outlines` and their `edges`); the first view fits them all (a map `height` pixels high)."""
    layers = outline_layers(with_tooltips(outlines), edges) if outlines else []
    for name, colour in REGION_COLOURS.items():
        if name not in shapes:
            continue
        region = {"type": "FeatureCollection",
                  "features": [{"type": "Feature", "geometry": shapes[name],
                                "properties": {"region": name, "tooltip": f"{name}: {REGION_MEANING[name]}"}}]}
        layers += [pdk.Layer("GeoJsonLayer", region, id=name.replace(" ", "_"), filled=True, stroked=False,
                             get_fill_color=colour, pickable=True),
                   line_layer(edge_rows(region), colour[:3] + [255], f"{name.replace(' ', '_')}_outline")]
    return Deck(layers=layers, initial_view_state=fit_view(shapes_bounds(shapes), height), tooltip=TOOLTIP)


def _number(value: float, integer: bool) -> str:
    return f"{int(round(value)):,}" if integer else f"{value:,.1f}"


def quantile_classes(values, integer: bool = True, k: int = 5, zero_label: str = "0",
                     missing_label: str = "no data", basis=None) -> tuple[list[list[int]], list[tuple[list[int], str]]]:
    """Each value's colour by quantile class of the positive values (at most k classes, breaks at observed values),
    with 0 and missing values in classes of their own; and the legend rows giving the breaks. `basis` (one bool per
    value) picks the values that set the breaks; the others fall in the class they reach, and the top class reads
    "... and above" (so one tiny population's rate in the thousands cannot stretch the top class to itself)."""
    v = np.array([np.nan if x is None else float(x) for x in values], dtype=float)
    positive = v[(v > 0) & (np.ones(len(v), bool) if basis is None else np.asarray(basis, bool))]
    edges = np.unique(np.quantile(positive, np.linspace(0, 1, k + 1), method="inverted_cdf")) if len(positive) else []
    bounds = [(edges[i], edges[i + 1]) for i in range(len(edges) - 1)] or [(e, e) for e in edges]
    palette = ([CLASS_COLOURS[round(i * (len(CLASS_COLOURS) - 1) / (len(bounds) - 1))] for i in range(len(bounds))]
               if len(bounds) > 1 else [CLASS_COLOURS[2]] * len(bounds))
    entries = [(ZERO_COLOUR, zero_label)] if (v == 0).any() else []
    for i, (lo, hi) in enumerate(bounds):
        lo = lo + 1 if integer and i > 0 else lo  # breaks are observed values; the value at a break is in the class below
        if basis is not None and i == len(bounds) - 1:
            entries.append((palette[i], f"{_number(lo, integer)} and above"))
            continue
        entries.append((palette[i], _number(lo, integer) if lo == hi else f"{_number(lo, integer)}–{_number(hi, integer)}"))
    if np.isnan(v).any():
        entries.append((NO_DATA_COLOUR, missing_label))
    colours = []
    for x in v:
        if np.isnan(x):
            colours.append(NO_DATA_COLOUR)
        elif x <= 0 or not len(palette):
            colours.append(ZERO_COLOUR if x <= 0 else NO_DATA_COLOUR)
        else:
            colours.append(palette[min(int(np.searchsorted(edges[1:-1], x, side="left")), len(palette) - 1)])
    return colours, entries


def neighborhood_tooltip(p: dict) -> str:
    """'Stratford Estates: 52 incidents; 81.3 per 10,000 residents (smoothed 74.0)'."""
    n = p["n"]
    if n is None:
        return f"{p['name']}: no data (the source does not report this area)"
    text = f"{p['name']}: {n:,} incident{'s' if n != 1 else ''}"
    if p.get("rate") is not None:
        text += f"; {p['rate']:,.1f} per 10,000 residents"
        if p.get("smoothed_rate") is not None:
            text += f" (smoothed {p['smoothed_rate']:,.1f})"
    elif "rate" in p:
        text += "; no rate (no population figure)" if p.get("population") is None else f"; {NO_RATE}"
    return text


def hex_layer(bins, opens: dict[str, tuple[str, str]] | None = None) -> pdk.Layer:
    """H3 hexagons from server-side bins (hex id + count): the browser draws them, no raw rows are sent. Coloured by
    quantile class of the counts (`hex_legend` gives the breaks). `opens` (hexagon -> area id and name of the
    neighborhood at its centre; a hexagon can straddle several), on a map whose clicks open a profile: each hexagon
    carries that area, which a click opens (picked_area), and its tooltip names it."""
    colours, _ = quantile_classes(bins["n"])

    def click(cell: str) -> str:
        if opens is None:
            return ""
        return f" · a click opens {opens[cell][1]} (at its centre)" if cell in opens else " · its centre is in no neighborhood"

    data = bins.assign(color=[c + [200] for c in colours],
                       tooltip=[f"{n:,} incident{'s' if n != 1 else ''} in this hexagon{click(h)}"
                                for n, h in zip(bins["n"], bins["hex"], strict=True)])
    if opens is not None:
        data = data.assign(area_id=[opens[h][0] if h in opens else None for h in bins["hex"]])
    return pdk.Layer("H3HexagonLayer", data, id="hexes", get_hexagon="hex", get_fill_color="color",
                     extruded=False, pickable=True, stroked=False)


def hex_legend(bins, size: str) -> Legend:
    """Quantile classes of the hexagons with incidents: a few busy cells would flatten a linear scale."""
    return Legend(f"Incidents per {size} hexagon", quantile_classes(bins["n"])[1],
                  "Classes are quantiles of the hexagons with incidents; empty hexagons are not drawn.")


def heat_layer(bins) -> pdk.Layer:
    """A heat map weighted by bin counts at the bins' centres (bounded payload)."""
    return pdk.Layer("HeatmapLayer", bins, id="heat", get_position=["lon", "lat"], get_weight="n", radius_pixels=40,
                     opacity=0.8)


def heat_legend() -> Legend:
    """The heat map has only relative density (no absolute scale), and its legend says so."""
    return Legend("Heat map", [(CLASS_COLOURS[0], "fewer incidents nearby"), (CLASS_COLOURS[-1], "more incidents nearby")],
                  "Relative density of incidents (small hexagons weighted by their counts); no absolute scale.")


def point_layer(points) -> pdk.Layer:
    """One dot per incident (small selections only), at its block-masked location, with date and neighborhood on hover."""
    data = points.assign(tooltip=[f"{d}, {nb if isinstance(nb, str) else 'no neighborhood'}"
                                  for d, nb in zip(points["date"], points["neighborhood"], strict=True)],
                         area_id=points["neighborhood"])  # a click on a dot opens its neighborhood's profile
    return pdk.Layer("ScatterplotLayer", data, id="points", get_position=["lon", "lat"], get_radius=60,
                     radius_min_pixels=2, get_fill_color=[192, 57, 43, 180], pickable=True)


def point_legend() -> Legend:
    """Legend for incident dots: one dot is one incident at its block-masked location."""
    return Legend("Incidents", [([192, 57, 43], "one incident (its masked block location)")])


def _rate_basis(geojson: dict, value: str) -> list[bool] | None:
    """For a rate map, which neighborhoods set the colour breaks: those the ranking ranks by rate (at least
    hotspots.MIN_RANK_POPULATION residents). Hospital Hill (378 residents, the hospital district) would otherwise
    make a top class of its own running to thousands per 10,000."""
    if value == "n":
        return None
    return [(f["properties"].get("population") or 0) >= MIN_RANK_POPULATION for f in geojson["features"]]


def choropleth_layers(geojson: dict, value: str, edges: list[dict]) -> list[pdk.Layer]:
    """Neighborhoods filled by quantile class of `value` (a feature property: n, rate or smoothed_rate), with their
    count and rates on hover, and their outlines (`edges`, as for outline_layers)."""
    features = geojson["features"]
    colours, _ = quantile_classes([f["properties"][value] for f in features], integer=value == "n",
                                  basis=_rate_basis(geojson, value))
    coloured = {"type": "FeatureCollection", "features": [
        {**f, "properties": {**f["properties"], "tooltip": neighborhood_tooltip(f["properties"]), "color": c + [220]}}
        for f, c in zip(features, colours, strict=True)]}
    return [pdk.Layer("GeoJsonLayer", coloured, id="choropleth", filled=True, stroked=False,
                      get_fill_color="properties.color", pickable=True),
            line_layer(edges, [90, 90, 90, 160], "choropleth_outlines")]


def _no_rate(geojson: dict) -> str:
    """What the rate map's grey says: every reason a drawn neighborhood has no rate (under the population floor; no
    population figure, as the six unnamed polygons; no count, where the source does not report it)."""
    props = [f["properties"] for f in geojson["features"] if f["properties"].get("rate") is None]
    reasons = [f"under {MIN_POPULATION} residents"] if any(p.get("population") is not None for p in props) else []
    reasons += ["no population figure"] if any(p.get("population") is None for p in props) else []
    reasons += ["no data"] if any(p.get("n") is None for p in props) else []
    reasons = reasons or [f"under {MIN_POPULATION} residents"]
    return f"no rate ({' or '.join([', '.join(reasons[:-1]), reasons[-1]] if len(reasons) > 1 else reasons)})"


def choropleth_legend(geojson: dict, value: str, title: str, missing_label: str | None = None) -> Legend:
    """The neighborhood map's quantile breaks, so one extreme small-population rate cannot set every colour; a rate
    map says which neighborhoods set the breaks (the ranking's population floor, hotspots.POPULATION_RULE)."""
    basis = _rate_basis(geojson, value)
    _, entries = quantile_classes([f["properties"][value] for f in geojson["features"]], integer=value == "n",
                                  missing_label=missing_label or ("no data" if basis is None else _no_rate(geojson)),
                                  basis=basis)
    if basis is None:
        return Legend(title, entries, "Classes are quantiles of the neighborhoods above zero, so one extreme "
                                      "neighborhood cannot wash out the rest. Click a neighborhood to open its profile.")
    smoothed = (" Smoothed rates pull each neighborhood toward the city's rate, the more the fewer its residents, "
                "so one with no incidents still shows a small rate (its count is in the tooltip).") \
        if value == "smoothed_rate" else ""
    return Legend(title, entries, f"Classes are quantiles of the neighborhoods with at least {MIN_RANK_POPULATION} "
                                  "residents; a smaller one with a higher rate falls in the top class ('and above')."
                                  f"{smoothed} Click a neighborhood to open its profile.")


def spots_layer(spots) -> pdk.Layer:
    """Gi* hot (red) and cold (blue) spots."""
    data = spots.assign(color=[SPOT_COLOURS[s] + [210] for s in spots["spot"]],
                        tooltip=[f"{s} spot: {n:,} incident{'s' if n != 1 else ''} in the cell, {m:,} with its "
                                 f"neighbours, z-score {z:.1f}"
                                 for s, n, m, z in zip(spots["spot"], spots["n"], spots["n_local"], spots["z"],
                                                       strict=True)])
    return pdk.Layer("H3HexagonLayer", data, id="spots", get_hexagon="hex", get_fill_color="color", extruded=False,
                     pickable=True, stroked=True, get_line_color=[60, 60, 60, 200], line_width_min_pixels=1)


def spots_legend() -> Legend:
    """Gi* colours: hot and cold only after the false-discovery-rate correction; other cells are not significant."""
    return Legend("Getis-Ord Gi*", [(SPOT_COLOURS["hot"], "hot spot: more incidents around it than chance"),
                                    (SPOT_COLOURS["cold"], "cold spot: fewer than chance")],
                  "Other cells: not significant after the false-discovery-rate correction.")


def watch_colours(n: int) -> list[list[int]]:
    """The outline colour of each of n watch areas: one of WATCH_COLOURS each while there are enough, else all blue."""
    return WATCH_COLOURS[:n] if n <= len(WATCH_COLOURS) else [WATCH_COLOURS[0]] * n


def watch_layers(geojson: dict) -> list[pdk.Layer]:
    """Watch areas outlined, each in its own colour, which the legend names (`watch_legend`); hovering an outline
    names it too. Beyond len(WATCH_COLOURS) areas, colour cannot tell them apart: they are all blue and labelled just
    above their northern edge, so a label never covers its own outline.

    Colours, not labels, while they suffice: deck.gl's TextLayer (with its background) cost about 1 s of every visit
    to the page in a browser without a GPU, as much as the rest of the map (docs/benchmarks.md, seventh session)."""
    colours = watch_colours(len(geojson["features"]))
    outlined = {"type": "FeatureCollection", "features": [
        {**f, "properties": {**f["properties"], "tooltip": f"Watch area: {f['properties']['name']}", "color": c + [255]}}
        for f, c in zip(geojson["features"], colours, strict=True)]}
    # a white casing under each outline keeps it visible on the darkest class of the map beneath
    edges = edge_rows(outlined, keep=("tooltip", "color"))
    layers = [line_layer(edges, [255, 255, 255, 255], "watch_areas_casing", width=7),
              line_layer(edges, "color", "watch_areas", width=3)]
    if len(colours) > len(WATCH_COLOURS):
        labels = [{"name": f["properties"]["name"], "position": _label_point(f["geometry"])} for f in geojson["features"]]
        layers.append(pdk.Layer("TextLayer", labels, id="watch_labels", get_position="position", get_text="name",
                                get_size=12, get_color=WATCH_COLOURS[0] + [255], get_text_anchor="'start'",
                                get_alignment_baseline="'bottom'", get_pixel_offset=[0, -6], background=True,
                                get_background_color=[255, 255, 255, 200]))
    return layers


def watch_legend(geojson: dict) -> Legend:
    """Each saved watch area by name, in the outline colour the map draws it with."""
    names = [f["properties"]["name"] for f in geojson["features"]]
    return Legend("Watch areas", list(zip(watch_colours(len(names)), names, strict=True)),
                  "" if names else "No watch area saved.", line=True)


def _label_point(geometry: dict) -> list[float]:
    """The north-west corner of the shape's northern edge: its northernmost vertex (westmost among ties)."""
    coords = shapely.get_coordinates(shapely.geometry.shape(geometry))
    top = coords[np.lexsort((coords[:, 0], -coords[:, 1]))[0]]
    return [float(top[0]), float(top[1])]


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
            swatch = f"background:{rgba};border:2px solid rgb({colour[0]},{colour[1]},{colour[2]});box-sizing:border-box"
            rows.append(legend_row(swatch, f"<b>{name}</b>: {REGION_MEANING[name]}"))
    if outlines:
        rows.append(legend_row(swatch_css("rgb(120,120,120)", "outline", width=1),
                               "grey outlines: every neighborhood"))
    return '<div style="font-size:0.85rem;line-height:1.4">' + "".join(rows) + "</div>"
