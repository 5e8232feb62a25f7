"""Hotspots: where violence concentrates, the watch areas, and the target-neighborhood ranking."""


import pydeck as pdk
import streamlit as st

from analytics import filters, maps, registry, watch
from app import access, forms, sidebar, web

key = web.db_key()
LAYERS = {"hex": "Hexagons (H3)", "heat": "Heat map", "points": "Individual incidents", "rate": "Neighborhoods: rate",
          "count": "Neighborhoods: count"}

st.title("Hotspots and target neighborhoods")
st.caption("Where violence concentrates, how it is changing, and which neighborhoods stand out once population and "
           "chance are taken into account.")

sel = sidebar.filter_sidebar(key, "h_", filters.PLACE_SOURCES, "gva", firearm=True, recent=True)
source, category, start, end, firearm = sel.source, sel.category, sel.start, sel.end, sel.firearm
incident_source = sel.incident_source
with st.sidebar:
    layer_options = list(LAYERS) if incident_source else ["rate", "count"]
    layer = st.radio("Map layer", layer_options, format_func=LAYERS.get, key=f"h_layer_{incident_source}",
                     index=layer_options.index(filters.pick(st.query_params.get("layer"), layer_options,
                                                            layer_options[0], sel.problems, "layer")))
    res = st.select_slider("Hexagon size", [7, 8, 9], value=8, key="h_res",
                           format_func={7: "large (5 km²)", 8: "medium (0.7 km²)", 9: "small (0.1 km²)"}.get)
sidebar.check(sel, {"layer": layer})

ranking = web.rank(key, source, category, start, end, firearm)
gaps = ranking["missing_months"]["period"]
if gaps:
    st.warning(f"No neighborhood-level data in {len(gaps)} month(s) of this range ({', '.join(gaps[:12])}"
               f"{'…' if len(gaps) > 12 else ''}): counts cover only the months with data.")

watch_json = web.watch_geojson(key)
layers = []
table = None
if layer in ("hex", "heat"):
    bins = web.hex_bins(key, source, category, start, end, firearm, res)
    layers.append(maps.hex_layer(bins, int(bins["n"].max()) if len(bins) else 1) if layer == "hex"
                  else maps.heat_layer(bins))
    table = bins
elif layer == "points":
    pts = web.points(key, source, category, start, end, firearm)
    if pts is None:
        st.info("More than 5,000 incidents: individual points would hide the pattern. Showing hexagons instead.")
        table = web.hex_bins(key, source, category, start, end, firearm, res)
        layers.append(maps.hex_layer(table, int(table["n"].max()) if len(table) else 1))
    else:
        layers.append(maps.point_layer(pts))
        table = pts
else:
    geo = web.choropleth(key, source, category, start, end, firearm)
    prop = "rate" if layer == "rate" else "n"
    top = max((f["properties"][prop] or 0) for f in geo["features"])
    layers = [maps.choropleth_layer(geo, prop, top)]
if layer not in ("rate", "count"):
    layers.append(maps.outline_layer(web.neighborhood_outlines(key)))  # on top: a click opens the profile
layers += maps.watch_layers(watch_json)
deck = pdk.Deck(layers=layers, initial_view_state=maps.KC_VIEW, map_style=None,
                tooltip={"text": "{name}{n}"})
event = st.pydeck_chart(deck, height=560, on_select="rerun", selection_mode="single-object", key="h_map")
picked = [o for objs in (event.selection.get("objects", {}) if event else {}).values() for o in objs]
picked_area = next((o.get("area_id") or o.get("properties", {}).get("area_id") for o in picked
                    if o.get("area_id") or o.get("properties", {}).get("area_id")), None)
if picked_area:
    st.switch_page("pages/neighborhood.py", query_params={"area": picked_area, "source": source,
                                                          "category": category})
st.caption("Blue outlines: watch areas. Click a neighborhood to open its profile. Neighborhood rates use 2010 "
           "Census population. Points on GVA's city-centre placeholder are never mapped.")
if table is not None:
    st.download_button("Download what the map shows (CSV)", web.csv_bytes(table), file_name=f"kc_{source}_{layer}.csv",
                       mime="text/csv", key="h_download_map")

st.subheader("Target-neighborhood ranking")
conc = web.concentration(key, source, category, start, end, firearm) if incident_source else None
c1, c2, c3 = st.columns(3)
c1.metric("Incidents placed in neighborhoods", f"{ranking['total']:,}")
if conc and conc["share_in_top_5pct"] is not None:
    c2.metric("Share in the busiest 5% of hex cells", f"{conc['share_in_top_5pct']}%",
              help=f"{conc['top_cells']} of the city's {conc['cells']} small hexagons")
    if conc["incidents"] < conc["cells"]:
        c2.caption("Fewer incidents than cells: this share overstates concentration.")
top10 = ranking["table"].head(10)["n"].sum()
c3.metric("Share in the top 10 neighborhoods", f"{100 * top10 / ranking['total']:.0f}%" if ranking["total"] else "—")
st.caption(f"Change is against {ranking['previous_start']} to {ranking['previous_end']} (the previous period of equal "
           "length), tested with the Poisson e-test; 'too few to tell' under 10 incidents in the two periods.")
show = ranking["table"][["rank", "name", "n", "rate_per_10k", "previous", "change", "change_pct", "flag",
                         "share_of_city_pct", "population"]]
st.dataframe(show, hide_index=True, width="stretch", height=420,
             column_config={"n": "count", "rate_per_10k": "per 10,000", "change_pct": "change %",
                            "flag": "change larger than chance?", "share_of_city_pct": "share of city %",
                            "population": "population (2010)"})
st.download_button("Download the ranking (CSV)", web.csv_bytes(show), file_name=f"kc_ranking_{source}_{category}.csv",
                   mime="text/csv", key="h_download_rank")

if incident_source:
    st.subheader("Hot and cold spots (Getis-Ord Gi*)")
    gi = web.gi_star(key, source, category, start, end, firearm)
    spots = gi[gi["spot"] != "not significant"]
    st.caption(f"Medium hexagons; neighbours are the six adjacent cells and the cell itself; significant after a "
               f"false-discovery-rate correction (5%). {len(spots)} of {len(gi)} cells are hot or cold spots.")
    st.pydeck_chart(pdk.Deck(layers=[maps.outline_layer(web.neighborhood_outlines(key)),
                                     maps.hex_layer(spots.assign(n=spots["z"].clip(lower=0)), 6)],
                             initial_view_state=maps.KC_VIEW, map_style=None, tooltip={"text": "z {z}"}), height=380)
    st.dataframe(spots[["hex", "n", "z", "p", "spot", "lat", "lon"]].round(4), hide_index=True, width="stretch")

st.subheader("Watch areas")
areas = watch.AREAS.load()
for problem in watch.AREAS.problems():
    st.warning(problem)
st.dataframe(web.watch_summary(key, source, category, start, end, firearm, incident_source), hide_index=True,
             width="stretch")
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
