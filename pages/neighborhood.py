"""Neighborhood profile: trend against the city, timing, mix, people involved (aggregates), neighbours, canvasses."""

import plotly.graph_objects as go
import streamlit as st

from analytics import charts, filters, profile, web

key = web.db_key()
coverage = web.coverage_table(key)
all_sources = web.sources(key)
labels = dict(zip(all_sources.source_id, all_sources.label, strict=True))
choices = [s for s in ["kcpd_nbhd", "gva", "kcpd17", "kcpd"] if s in labels]
params, problems = st.query_params, []
areas = web.neighborhoods(key)["area_id"].tolist()

with st.sidebar:
    area = st.selectbox("Neighborhood", areas, key="p_area",
                        index=areas.index(filters.pick(params.get("area"), areas, "Ruskin Heights", problems, "area")))
    source = st.selectbox("Source", choices, format_func=labels.get, key="p_source",
                          index=choices.index(filters.pick(params.get("source"), choices, "kcpd_nbhd", problems,
                                                           "source")))
    cats = web.categories(key, source)
    cat_ids = cats.category_id.tolist()
    category = st.selectbox("Category", cat_ids, format_func=dict(zip(cats.category_id, cats.label, strict=True)).get,
                            index=cat_ids.index(filters.pick(params.get("category"), cat_ids,
                                                             filters.DEFAULT_CATEGORIES.get(source, cat_ids)[0],
                                                             problems, "category")), key=f"p_category_{source}")
    first, last = filters.covered_range(coverage, source)
    lo, hi = filters.date_bounds()
    start = st.date_input("From", filters.parse_date(params.get("start"), first, problems, "start"), min_value=lo,
                          max_value=hi, key="p_start")
    end = st.date_input("To", filters.parse_date(params.get("end"), last, problems, "end"), min_value=lo,
                        max_value=hi, key="p_end")

for p in problems:
    st.warning(f"Link parameter {p}.")
if start > end:
    st.error(f"'From' ({start}) is after 'To' ({end}).")
    st.stop()
st.query_params.from_dict({"area": area, "source": source, "category": category, "start": str(start),
                           "end": str(end)})
st.title(area)
pop = web.neighborhoods(key).set_index("area_id").loc[area, "population"]
st.caption(f"Population {pop:,.0f} (2010 Census). Source: {labels[source]}." if pop == pop else
           f"No population figure for this area. Source: {labels[source]}.")

data = web.profile(key, source, category, start, end, area)
trend = data["trend"]
fig = go.Figure([go.Scatter(x=trend["month"], y=trend["area_index"], name=area, connectgaps=False),
                 go.Scatter(x=trend["month"], y=trend["city_index"], name="Kansas City", connectgaps=False,
                            line={"dash": "dot"})])
fig.update_layout(title="Monthly trend against the city (each as % of its own average)", height=360,
                  yaxis_title="index (average = 100)", legend={"orientation": "h", "y": -0.2})
st.plotly_chart(fig, width="stretch")
total = trend["area"].sum()
st.caption(f"{int(total):,} incidents in the months with data; gaps are months without data for this area.")

c1, c2 = st.columns(2)
with c1:
    st.subheader("When")
    hours = data["hours"]
    if hours is None or hours.empty:
        st.info("This source publishes no time of day for incidents here.")
    else:
        grid = hours.pivot_table(index="weekday", columns="hour", values="n", fill_value=0).reindex(
            index=range(7), columns=range(24), fill_value=0)
        st.plotly_chart(go.Figure(go.Heatmap(z=grid.to_numpy(), x=list(range(24)), y=profile.WEEKDAYS,
                                             colorscale="Reds")).update_layout(height=300, xaxis_title="hour"),
                        width="stretch")
with c2:
    st.subheader("What")
    st.dataframe(data["mix"][["label", "n"]], hide_index=True, width="stretch")

st.subheader("Who (victims, aggregated)")
vic = data["victims"]
if vic.empty:
    st.info("This source publishes no victim details here.")
else:
    st.dataframe(vic[["sex", "age_band", "shown"]].rename(columns={"shown": "victims"}), hide_index=True,
                 width="stretch")
    st.caption(f"Groups of fewer than {profile.SMALL_CELL} people are not shown. No names are stored.")

st.subheader("Neighbouring neighborhoods")
if data["neighbours"]:
    st.plotly_chart(charts.monthly_lines(data["neighbours"], "Monthly counts next door"), width="stretch")

st.subheader("Canvasses that touched it")
events = web.events_touching(key, area)
if events:
    for e in events:
        st.markdown(f"- **{e.name}** ({e.start_date or 'date not published'}): {e.organisations}")
    st.page_link("pages/outreach.py", label="Evaluate on the Outreach page", icon=":material/diversity_3:")
else:
    st.write("No canvass in the registry touched this neighborhood.")
