"""Hotspots: where violence concentrates, the watch areas, and the target-neighborhood ranking."""


import streamlit as st

from analytics import filters, hotspots, maps, registry, watch
from analytics import hotspots_text as text
from app import access, forms, sidebar, web

key = web.db_key()
LAYERS = {"hex": "Hexagons (H3)", "heat": "Heat map", "points": "Individual incidents", "rate": "Neighborhoods: rate",
          "count": "Neighborhoods: count"}
SIZES = {7: "large (5 km²)", 8: "medium (0.7 km²)", 9: "small (0.1 km²)"}
SIZE_WORDS = {7: "large", 8: "medium", 9: "small"}
RANK_BY = {"count": "Number of incidents", "rate": "Smoothed rate per 10,000 residents"}

st.title("Hotspots and target neighborhoods")
st.caption("Where violence concentrates, how it is changing, and which neighborhoods stand out once population and "
           "chance are taken into account.")

# the default is the newest data (KCPD's neighborhood counts, to 2026): leaders pick places for the coming year, and
# GVA's points end in 2020 (blind review: an 8-year-old default); the hot-spot grid asks for a point source
sel = sidebar.filter_sidebar(key, "h_", filters.PLACE_SOURCES, "kcpd_nbhd", firearm=True, recent=True)
source, category, start, end, firearm = sel.source, sel.category, sel.start, sel.end, sel.firearm
incident_source = sel.incident_source
with st.sidebar:
    layer_options = list(LAYERS) if incident_source else ["rate", "count"]
    layer = st.radio("Map layer", layer_options, format_func=LAYERS.get, key=f"h_layer_{incident_source}",
                     index=layer_options.index(filters.pick(st.query_params.get("layer"), layer_options,
                                                            layer_options[0], sel.problems, "layer",
                                                            known=(list(LAYERS), filters.NO_POINTS))))
    res = st.select_slider("Hexagon size", list(SIZES), value=8, key="h_res",
                           format_func=SIZES.get) if layer == "hex" else 8
    by = st.radio("Rank neighborhoods by", list(RANK_BY), format_func=RANK_BY.get, key="h_by",
                  index=list(RANK_BY).index(filters.pick(st.query_params.get("by"), list(RANK_BY), "count",
                                                         sel.problems, "by")))
sidebar.check(sel, {"layer": layer, "by": by})

src = web.sources(key).set_index("source_id").loc[source]
cat = web.categories(key, source).set_index("category_id").loc[category]
st.info(text.coverage_banner(src.label, web.coverage_ranges(key, source)) +
        f"  \nUnit: {src.unit}.", icon=":material/calendar_month:")
gaps_text = text.gaps_warning(web.missing_placed_months(key, source, category, start, end, firearm), start, end)
if gaps_text:
    st.warning(gaps_text)

# --- the map, with its legend beside it ---
st.markdown(f"**Map: {cat.label.lower()} from {src.label}, {start} to {end}**")
coverage = web.coverage_table(key)
ends = {s: web.covered_range(key, s)[1] for s in filters.PLACE_SOURCES if (coverage.source_id == s).any()}
newest = max((s for s in ends if s != "gva_mass"), key=ends.get, default=source)  # mass shootings: no general pick
# a page for picking places today says how old its data are
if source in ends and ends[source].year < ends.get(newest, ends[source]).year - 1:
    st.caption(f"{src.label} ends in {ends[source]:%B %Y}. The most recent source is "
               f"{web.source_labels(key).get(newest, newest)}, to {ends[newest]:%B %Y}: choose it in the sidebar for "
               "recent years (it may not split the same categories).")
try:
    nbhd_geo = web.neighborhood_map(key, source, category, start, end, firearm)
    nbhd_counts = {f["properties"]["area_id"]: f["properties"]["n"] for f in nbhd_geo["features"]}
except hotspots.NotCovered as exc:
    nbhd_geo, nbhd_counts, nbhd_refusal = None, None, str(exc)
watch_json = web.watch_geojson(key)
layers, legends, table = [], [], None
if layer in ("hex", "heat"):
    bins = web.hex_bins(key, source, category, start, end, firearm, res if layer == "hex" else 9)
    layers.append(maps.hex_layer(bins, web.hex_destinations(key, tuple(bins["hex"]))) if layer == "hex"
                  else maps.heat_layer(bins))
    legends.append(maps.hex_legend(bins, SIZE_WORDS[res]) if layer == "hex" else maps.heat_legend())
    table = bins
elif layer == "points":
    pts = web.points(key, source, category, start, end, firearm)
    if pts is None:
        st.info("More than 5,000 incidents: individual points would hide the pattern. Showing hexagons instead.")
        table = web.hex_bins(key, source, category, start, end, firearm, res)
        layers.append(maps.hex_layer(table, web.hex_destinations(key, tuple(table["hex"]))))
        legends.append(maps.hex_legend(table, SIZE_WORDS[res]))
    else:
        layers.append(maps.point_layer(pts))
        legends.append(maps.point_legend())
        table = pts
elif nbhd_geo is None:
    st.warning(f"Neighborhood map not shown: {nbhd_refusal}.")
else:
    value, title = ("smoothed_rate", "Smoothed rate per 10,000 residents") if layer == "rate" else ("n", "Incidents")
    layers += maps.choropleth_layers(nbhd_geo, value, web.neighborhood_edges(key))
    legends.append(maps.choropleth_legend(nbhd_geo, value, title))
if layer not in ("rate", "count") or nbhd_geo is None:
    # under the hexagons or dots, so hovering one shows its own count; a click on the outlines' transparent fill, a
    # hexagon or a dot opens the neighborhood's profile
    layers[:0] = maps.outline_layers(maps.with_tooltips(web.neighborhood_outlines(key), nbhd_counts),
                                     web.neighborhood_edges(key))
    legends.append(maps.outline_legend())
layers += maps.watch_layers(watch_json)
legends.append(maps.watch_legend(watch_json))
if table is not None and table.empty and not gaps_text:
    st.info("No placed incidents for this choice: nothing to draw.")
map_col, legend_col = st.columns([4, 1])
deck = maps.Deck(layers=layers, initial_view_state=maps.fit_view(web.city_bounds(key), 560), tooltip=maps.TOOLTIP)
event = map_col.pydeck_chart(deck, height=560, on_select="rerun", selection_mode="single-object", key="h_map")
legend_col.markdown(maps.legend_html(legends), unsafe_allow_html=True)
picked_area = maps.picked_area(event)
if picked_area:
    st.switch_page("views/neighborhood.py", query_params={"area": picked_area, "source": source, "category": category,
                                                          "start": str(start), "end": str(end)})
st.caption("Click a neighborhood to open its profile for the same period and source. Neighborhood rates use 2010 "
           "Census population. Points on GVA's city-centre placeholder are never mapped.")
if table is not None:
    web.download("Download what the map shows (CSV)", web.csv_bytes(table), file_name=f"kc_{source}_{layer}_{start}_{end}.csv",
                 mime="text/csv", key="h_download_map")
elif nbhd_geo is not None:
    st.caption("The map's numbers (every neighborhood's count, rate and smoothed rate) are in the ranking's download "
               "below.")

# --- the ranking ---
st.subheader("Target-neighborhood ranking")
try:
    ranking = web.ranking(key, source, category, start, end, firearm, by)
except hotspots.NotCovered as exc:
    ranking = None
    st.warning(f"Ranking not shown: {exc}.")
if ranking:
    st.markdown(text.ranking_caption(ranking, src.label, cat.label, cat.definition, src.caveat))
    conc = web.concentration(key, source, category, start, end, firearm) if incident_source else None
    c1, c2, c3 = st.columns(3)
    c1.metric("Incidents placed in neighborhoods", f"{ranking['total']:,}")
    if conc and conc.get("refused"):
        c2.caption(f"Concentration not measured: {conc['refused']}.")
    elif conc and conc["share_in_top_5pct"] is not None:
        c2.metric("Share in the busiest 5% of hex cells", f"{conc['share_in_top_5pct']}%",
                  help=f"{conc['top_cells']:,} of the {conc['cells']:,} {conc['cell_size']} covering the city")
    c3.metric("Share in the top 10 neighborhoods", "no incidents" if ranking["top10_share_pct"] is None
              else f"{ranking['top10_share_pct']:.0f}%")
    st.caption(text.smoothing_sentence(ranking) + " " + text.change_caption(ranking))
    if firearm:
        comp, comp_notes = None, {}
        st.caption("Emerging category, early warning and years in the top 10% are not shown with firearm-only: they "
                   "are computed on the whole category (Emerging page).")
    else:
        with st.spinner("Computing the emerging category, early warning and persistence…"):
            comp, comp_notes = web.components(key, source, category, start, end)
        st.caption(text.components_caption(comp_notes) + " ".join(text.component_columns(comp, comp_notes)[1]))
    shown = text.ranking_table(ranking, comp, comp_notes)
    st.dataframe(shown, hide_index=True, width="stretch", height=420, column_config=text.column_config(shown.columns))
    # the components the table shows travel with it, and the period names the file (blind review: two downloads of
    # different periods could not be told apart, and the emerging and early-warning columns were missing)
    web.download("Download the ranking (CSV)", web.ranking_csv(key, source, category, start, end, firearm, by),
                 file_name=f"kc_ranking_{source}_{category}_{start}_{end}.csv", mime="text/csv", key="h_download_rank")

# --- Gi* ---
st.subheader("Hot and cold spots (Getis-Ord Gi*)")
if not incident_source:
    st.info("The hot-spot test needs incident locations; this source has counts by neighborhood only. For hot spots "
            "on a grid, choose a source with locations in the sidebar (Gun Violence Archive incidents or KCPD crime "
            "records, both older; the coverage line above each says how old).")
else:
    try:
        gi = web.gi_star(key, source, category, start, end, firearm)
    except hotspots.TooFewEvents as exc:
        gi = None
        st.info(str(exc))
    except hotspots.NotCovered as exc:
        gi = None
        st.info(f"Hot-spot test not run: {exc}.")
    if gi is not None:
        spots = gi[gi["spot"].isin(hotspots.HOT_COLD)]
        st.caption(text.gi_caption(gi, hotspots.GI_PERMUTATIONS, hotspots.GI_ALPHA))
        if spots.empty:
            st.info("No hot or cold spot: the incidents of this period are not more clustered than chance would give.")
        else:
            # a second map costs the browser as much as the first on every filter change (docs/benchmarks.md), so
            # it is drawn when asked for; the table below names every spot either way
            if st.toggle(f"Show the {len(spots):,} hot and cold spots on a map", key="h_gi_map"):
                gi_map, gi_legend = st.columns([4, 1])
                gi_map.pydeck_chart(maps.Deck(
                    layers=[*maps.outline_layers(maps.with_tooltips(web.neighborhood_outlines(key), nbhd_counts),
                                                 web.neighborhood_edges(key)), maps.spots_layer(spots)],
                    initial_view_state=maps.fit_view(web.city_bounds(key), 380),
                    tooltip=maps.TOOLTIP), height=380)
                gi_legend.markdown(maps.legend_html([maps.spots_legend(), maps.outline_legend(clickable=False)]),
                                   unsafe_allow_html=True)
            names = web.cell_neighborhoods(key, tuple(spots["hex"]))
            st.dataframe(text.spots_table(spots, names), hide_index=True, width="stretch")

# --- watch areas ---
st.subheader("Watch areas")
areas = watch.AREAS.load()
for problem in watch.AREAS.problems():
    st.warning(problem)
st.dataframe(web.watch_counts(key, source, category, start, end, firearm), hide_index=True, width="stretch")
if access.unlock_form("watch"):
    with st.expander("Add a watch area"):
        with st.form("watch_form"):
            c1, c2 = st.columns(2)
            wid = c1.text_input("Id (lower case, digits, dashes)", key="w_id")
            wname = c2.text_input("Name", key="w_name")
            where = forms.footprint_fields("w", sorted(web.neighborhoods(key)["area_id"]))
            if st.form_submit_button("Save watch area"):
                raw = {"area_id": wid, "name": wname, **where}
                try:
                    area = watch.AREAS.parse(raw)
                    registry.check_inside_city(area, web.city_shape(key), set(web.neighborhoods(key)["area_id"]))
                    watch.AREAS.upsert(area)
                    st.success(f"Saved watch area {area.name}.")
                except registry.RegistryError as exc:
                    st.error(f"Not saved: {exc}")
    drop = st.selectbox("Remove a watch area", ["—", *[a.area_id for a in areas]], key="w_delete")
    if drop != "—" and st.button(f"Remove {drop}", key="w_delete_button"):
        try:
            watch.AREAS.delete(drop)
            st.rerun()
        except registry.RegistryError as exc:
            st.error(f"Not removed: {exc}")
