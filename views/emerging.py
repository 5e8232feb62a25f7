"""Emerging hot spots and early warning: which neighborhoods are heating up, and what the ranking's components say."""

import functools
from datetime import date

import pydeck as pdk
import streamlit as st

from analytics import briefing, emerging, filters, maps, warning
from analytics.queries import BadQuery
from app import web

key = web.db_key()
# a shared link sets the first view; after that the widgets own the state (a link's old values would fight them)
params, problems = (st.query_params.to_dict() if "e_seen" not in st.session_state else {}), []
st.session_state["e_seen"] = True
st.title("Emerging hot spots and early warning")
st.caption("Which places are heating up or cooling down: Getis-Ord Gi* for every month or quarter, a Mann-Kendall "
           "trend on each place's z-scores and Esri's emerging hot spot categories; and, for the latest complete "
           "month, each neighborhood's count against what its own history predicts.")

all_sources = web.sources(key)
labels = dict(zip(all_sources.source_id, all_sources.label, strict=True))
kinds = dict(zip(all_sources.source_id, all_sources.kind, strict=True))
with st.sidebar:
    options = [s for s in filters.PLACE_SOURCES if s in labels]
    source = st.selectbox("Source", options, format_func=labels.get, key="e_source", index=options.index(
        filters.pick(params.get("source"), options, "kcpd_nbhd", problems, "source")))
    cats = web.categories(key, source)
    cat_labels = dict(zip(cats.category_id, cats.label, strict=True))
    ids = list(cat_labels)
    default_cat = next((c for c in filters.DEFAULT_CATEGORIES.get(source, []) if c in cat_labels), ids[0])
    category = st.selectbox("Category", ids, format_func=cat_labels.get, key=f"e_category_{source}",
                            index=ids.index(filters.pick(params.get("category"), ids, default_cat, problems,
                                                         "category")))
    # the slice follows the source's default (quarters where months are too sparse) until a link or the user picks
    auto_slice, slice_note = web.emerging_slice(key, source, category)
    linked = filters.pick(params.get("slice"), list(emerging.SLICES), "", problems, "slice")
    if linked:
        st.session_state["e_slice"], st.session_state["e_slice_chosen"] = linked, True
    elif not st.session_state.get("e_slice_chosen"):
        st.session_state["e_slice"] = auto_slice
    slice_ = st.radio("Time slice", list(emerging.SLICES), key="e_slice", horizontal=True,
                      on_change=lambda: st.session_state.update(e_slice_chosen=True))
    units = list(emerging.UNITS) if kinds[source] == "incidents" else ["neighborhood"]
    unit = st.radio("Places", units, key=f"e_unit_{source}", format_func={
        "neighborhood": "neighborhoods", "hex": "hexagons (0.7 km²)"}.get, index=units.index(
        filters.pick(params.get("unit"), units, "neighborhood", problems, "unit",
                     known=(list(emerging.UNITS), filters.NO_POINTS))))
    try:
        first, last = web.emerging_range(key, source, category, slice_)
    except BadQuery:
        first, last = web.covered_range(key, source)
    lo, hi = filters.date_bounds()
    start = st.date_input("From", filters.parse_date(params.get("start"), first, problems, "start"), min_value=lo,
                          max_value=hi, key=f"e_start_{source}_{category}_{slice_}")
    end = st.date_input("To", filters.parse_date(params.get("end"), last, problems, "end"), min_value=lo,
                        max_value=hi, key=f"e_end_{source}_{category}_{slice_}")
    inference = {0: "normal approximation (Esri's)", 99: "99 permutations", 999: "999 permutations"}
    linked = int(filters.pick(params.get("permutations"), [str(k) for k in inference], "0", problems, "permutations"))
    permutations = st.selectbox("Gi* p-values", list(inference), key="e_permutations", format_func=inference.get,
                                index=list(inference).index(linked), help=emerging.INFERENCE_HELP)
for p in problems:
    st.warning(f"Link parameter {p}.")
if slice_note and slice_ == auto_slice and not st.session_state.get("e_slice_chosen"):
    st.info(slice_note)
st.query_params.from_dict({"source": source, "category": category, "slice": slice_, "unit": unit,
                           "start": str(start), "end": str(end), "permutations": str(permutations)})
if start > end:
    st.error(f"'From' ({start}) is after 'To' ({end}): pick a start before the end.")
    st.stop()

try:
    with st.spinner("Computing Gi* for every slice…"):
        result = web.emerging(key, source, category, start, end, slice_, unit, permutations)
except BadQuery as exc:
    result = None
    st.warning(f"Emerging hot spots not computed: {exc}.")
    st.caption(f"Gi* needs at least {emerging.MIN_EVENTS_PER_SLICE} placed events in every slice and at least "
               f"{emerging.MIN_SLICES} slices with data. The early warning and the ranking components below do not "
               "need it.")
    if slice_ == "month" and auto_slice == "quarter":
        st.button("Use quarters instead", key="e_use_quarters",
                  on_click=lambda: st.session_state.update(e_slice="quarter", e_slice_chosen=True))

if result is not None:
    counts = result["counts_by_category"]
    hot = sum(v for k, v in counts.items() if "hot spot" in k)
    cold = sum(v for k, v in counts.items() if "cold spot" in k)
    c1, c2, c3 = st.columns(3)
    c1.metric("Places analysed", f"{result['places']:,}")
    c2.metric(f"{slice_.capitalize()}s", f"{len(result['slices'])}", help=f"{result['start']} to {result['end']}")
    c3.metric("Hot / cold spot places", f"{hot} / {cold}")
    if result["partial_slices"]:
        st.warning(f"{len(result['partial_slices'])} {slice_}{'' if len(result['partial_slices']) == 1 else 's'} "
                   f"undercount ({', '.join(result['partial_slices'][:8])}"
                   f"{'…' if len(result['partial_slices']) > 8 else ''}): Gi* compares places within a slice, so a "
                   "citywide undercount moves no z-score, but an uneven one does.")
    if result["left_out"]:
        left_out = [web.area_labels(key).get(a, a) for a in result["left_out"]]
        st.caption(f"Left out (no data or no neighbours, never counted as 0): {', '.join(left_out[:10])}"
                   f"{'…' if len(result['left_out']) > 10 else ''}.")

    st.subheader("Map of categories")
    geo = web.emerging_geojson(key, source, category, start, end, slice_, unit, permutations)
    # the neighborhoods the categories do not draw (a hexagon map: all of them) get a transparent fill, for their
    # tooltips; every neighborhood its outline
    drawn = {f["properties"]["place"] for f in geo["features"]} if unit == "neighborhood" else set()
    outlines = web.neighborhood_outlines(key)
    outlines = {**outlines, "features": [f for f in outlines["features"] if f["properties"]["area_id"] not in drawn]}
    fill, lines = maps.outline_layers(maps.with_tooltips(outlines), web.neighborhood_edges(key))
    if unit == "hex":  # hexagons by their cell ids, drawn and outlined in the browser (fewer bytes than their polygons),
        # over the neighborhoods' fill, so they keep their tooltips, and under their outlines (not pickable), which a
        # blind review found hidden under the hexagons
        cells = [{k: f["properties"][k] for k in ("place", "rgba", "tooltip")} for f in geo["features"]]
        layers = [fill, pdk.Layer("H3HexagonLayer", cells, id="emerging", get_hexagon="place",
                                  get_fill_color="rgba", extruded=False, stroked=True,
                                  get_line_color=[90, 90, 90, 160], line_width_min_pixels=1, pickable=True), lines]
    else:
        layers = [fill, pdk.Layer("GeoJsonLayer", geo, id="emerging", filled=True, stroked=False,
                                  get_fill_color="properties.rgba", pickable=True), lines]
    watch_json = web.watch_geojson(key)  # the task forces' own areas, as on the Hotspots map
    layers += maps.watch_layers(watch_json)
    left, right = st.columns([4, 1])
    with left:
        st.pydeck_chart(maps.Deck(layers=layers,
                                  initial_view_state=maps.fit_view(web.emerging_bounds(key, source, category, start, end,
                                                                                    slice_, unit, permutations), 520),
                                  tooltip=maps.TOOLTIP), height=520)
    with right:
        st.markdown("**Legend**")
        st.html(briefing.legend_html(counts, len(result["left_out"]) if unit == "neighborhood" else 0))
        st.html(maps.legend_html([maps.watch_legend(watch_json)]))

    st.subheader("Every place: category, trend and last significant slice")
    th = result["thresholds"]
    st.caption(f"A slice's Gi* is significant at {th['gi_confidence']:.0%} confidence after a false-discovery-rate "
               f"correction over that slice's places; the trend is Mann-Kendall on the z-scores at "
               f"{th['trend_confidence']:.0%}; persistent, intensifying, diminishing and historical need a significant "
               f"spot in {th['share_of_slices']:.0%} of slices. Definitions: README, 'Emerging hot spots'.")
    rows = briefing.emerging_rows(result)
    st.dataframe(rows, hide_index=True, width="stretch", height=360)
    web.download("Download the table (CSV)", web.csv_bytes(rows), file_name=f"kc_emerging_{source}_{category}.csv",
                 mime="text/csv", key="e_download")

    ranked = result["table"].sort_values("events", ascending=False)
    shown = ranked[ranked["category"] != emerging.NO_PATTERN]["place"].tolist() + ranked["place"].tolist()
    names = dict(zip(result["table"]["place"], result["table"]["neighborhood"], strict=True))
    place = st.selectbox("Gi* over time for", list(dict.fromkeys(shown)), key=f"e_place_{source}_{unit}",
                         format_func=lambda p: p if unit == "neighborhood" else f"{p} ({names[p] or 'outside'})")
    st.plotly_chart(web.z_chart(key, source, category, start, end, slice_, unit, permutations, place), width="stretch")
    st.caption("Dashed lines: ±1.64, the 90% level before the false-discovery-rate correction (for scale).")

try:
    watch = web.watchlist(key, source, category, slice_, None, end)
except BadQuery as exc:
    watch = None
    st.subheader(f"Early warning: the latest complete {slice_} ending by {end}")
    st.info(f"No early warning for this source and category: {exc}.")
if watch:
    st.subheader(f"Early warning: {watch['target']}, the latest complete {slice_} of the period")
if watch:
    st.markdown(f"**{watch['target']}**: {briefing.watch_sentence(watch)}")
    for line in watch["watch"] or ["No neighborhood is beyond its expected range."]:
        st.markdown(f"- {line}")
    st.caption(briefing.caveats(source, slice_)["early warning"])

st.subheader("Ranking components")
try:
    table, notes = web.emerging_ranking(key, source, category, start, end, slice_)
except BadQuery as exc:  # the level and change need the period's place-level counts (NotCovered says which)
    table, notes = None, {}
    st.warning(f"Ranking components not shown: {exc}.")
if table is not None:
    st.caption(f"Level, rates and change: {notes['level_period'].replace('..', ' to ')}, against "
               f"{notes['previous_period'].replace('..', ' to ')}. Emerging category: the analysis above, by "
               f"neighborhood. Early warning: {notes.get('early_warning_for', 'not available')}. Years in the top "
               f"10%: {notes['persistence_years']}. Each column sorts on its own; there is no combined score.")
    st.dataframe(briefing.ranking_rows(table, None), hide_index=True, width="stretch", height=420,
                 column_config=briefing.RANKING_CONFIG)
    for measure, text in briefing.caveats(source, slice_).items():
        if measure not in ("early warning",):
            st.caption(f"**{measure.capitalize()}**: {text}")

st.subheader("One-page briefing")
if result is None:
    st.info(f"No briefing: it leads with the emerging hot spots, not computed for these {slice_}s (above).")
else:
    web.download("Download the briefing (HTML, print to PDF from the browser)",
                 functools.partial(web.briefing_bytes, key, source, category, start, end, slice_, unit, permutations),
                 file_name=f"kc_briefing_{source}_{category}_{date.today():%Y%m%d}.html", mime="text/html",
                 key="e_briefing")
st.caption(f"Watch-list flags: {warning.HEATING} / {warning.COOLING}. A flag is a reason to look, not a finding.")
