"""Neighborhood profile: trend against the city, timing, mix, people involved (aggregates), neighbours, canvasses."""

import streamlit as st

from analytics import charts, filters, profile
from analytics.hotspots_text import month_list
from app import sidebar, web

key = web.db_key()
sel = sidebar.filter_sidebar(key, "p_", filters.PLACE_SOURCES, "kcpd_nbhd",
                             area="neighborhood")
sidebar.check(sel)
area, source, category, start, end, labels = sel.area, sel.source, sel.category, sel.start, sel.end, sel.labels
name = web.area_labels(key).get(area, area)  # the unnamed polygons by their neighbours, as on every page
st.title(name)
pop = web.neighborhoods(key).set_index("area_id").loc[area, "population"]
st.caption(f"Population {pop:,.0f} (2010 Census). Source: {labels[source]}." if pop == pop else
           f"No population figure for this area. Source: {labels[source]}.")

data = web.profile(key, source, category, start, end, area)
trend = data["trend"]
has_data = bool(trend["area"].notna().any())
too_few = profile.index_refusal(trend, name)
if not has_data:  # no chart: an empty one with an index axis says nothing
    st.info("This source has no data for this neighborhood in the period: nothing to count (not zero).")
elif too_few:
    st.info(too_few)
    st.plotly_chart(charts.monthly_lines({name: trend.rename(columns={"area": "n"})}, f"{name}: monthly counts"),
                    width="stretch")
else:
    st.plotly_chart(charts.indexed_trend(trend, name), width="stretch")
if has_data:
    st.caption(profile.trend_caption(trend))
partial = web.partial_months(key, source, start.replace(day=1), end)
if partial:
    st.warning(f"{labels[source]} undercounts or stops early in {len(partial)} month{'s' * (len(partial) != 1)} of "
               f"this period ({month_list(partial)}): a dip there can be the data's, not the streets' (the Data "
               "page has the notes).")

c1, c2 = st.columns(2)
with c1:
    st.subheader("When")
    hours = data["hours"]
    if not has_data:
        st.info("This source has no data for this neighborhood in the period (not zero).")
    elif hours is None:
        st.info("This source publishes no time of day (it counts incidents by month).")
    elif hours.empty:
        st.info("No incident here in this period, so no time of day to show.")
    else:
        st.plotly_chart(charts.hour_weekday(hours, profile.WEEKDAYS), width="stretch")
with c2:
    st.subheader("What")
    if data["mix"].empty:
        st.info("No incident of any category here in this period." if has_data else
                "This source has no data for this neighborhood in the period (not zero).")
    else:
        st.dataframe(data["mix"][["label", "n"]].rename(columns={"label": "category", "n": "incidents"}),
                     hide_index=True, width="stretch")

st.subheader("Who (victims, aggregated)")
vic = data["victims"]
if vic.empty:
    if not data["publishes_victims"]:
        st.info("This source publishes no victim details.")
    elif has_data:
        st.info(f"No victim recorded here in this category and period ({labels[source]} records victims; none fall "
                "here).")
    else:
        st.info("This source has no data for this neighborhood in the period (not zero).")
else:
    st.dataframe(vic[["sex", "age_band", "shown"]].rename(columns={"age_band": "age", "shown": "victims"}),
                 hide_index=True, width="stretch")
    st.caption(f"Groups of fewer than {profile.SMALL_CELL} people are not shown. No names are stored.")

st.subheader("Neighbouring neighborhoods")
if data["neighbours"]:
    names = web.area_labels(key)
    st.plotly_chart(charts.neighbour_band(profile.neighbour_band(trend.rename(columns={"area": "n"}),
                                                                 data["neighbours"]), name, len(data["neighbours"])),
                    width="stretch")
    st.caption(f"Neighbours: {', '.join(profile.neighbour_names(names, area, list(data['neighbours'])))}. The band "
               "runs from the lowest to the highest neighbour each month; months without data are gaps.")

st.subheader("Canvasses that touched it")
events = web.events_touching(key, area)
if events:
    for e in events:
        when = "date not published" if not e.start_date else (
            f"{e.start_date}{'' if e.date_confirmed else ', date not confirmed'}")
        st.markdown(f"- **{e.name}** ({when}): {e.organisations}")
    st.page_link("views/outreach.py", label="Evaluate on the Outreach page", icon=":material/diversity_3:")
else:
    st.write("No canvass in the registry touched this neighborhood.")
