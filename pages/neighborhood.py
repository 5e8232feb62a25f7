"""Neighborhood profile: trend against the city, timing, mix, people involved (aggregates), neighbours, canvasses."""

import plotly.graph_objects as go
import streamlit as st

from analytics import charts, filters, profile
from app import sidebar, web

key = web.db_key()
sel = sidebar.filter_sidebar(key, "p_", [s for s in filters.PLACE_SOURCES if s != "gva_mass"], "kcpd_nbhd",
                             area="neighborhood")
sidebar.check(sel)
area, source, category, start, end, labels = sel.area, sel.source, sel.category, sel.start, sel.end, sel.labels
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
