"""KC Violence Trends: entry point (`streamlit run dashboard.py`)."""

import streamlit as st

from analytics import web
from analytics.db import ensure_built, needs_build
from analytics.locks import LockHeld

st.set_page_config(page_title="KC Violence Trends", page_icon=":material/monitoring:", layout="wide")

page = st.navigation([
    st.Page("pages/home.py", title="Citywide trends", icon=":material/show_chart:", default=True),
    st.Page("pages/hotspots.py", title="Hotspots and ranking", icon=":material/map:"),
    st.Page("pages/neighborhood.py", title="Neighborhood profile", icon=":material/location_city:"),
    st.Page("pages/outreach.py", title="Outreach outcomes", icon=":material/diversity_3:"),
    st.Page("pages/data.py", title="Data and sources", icon=":material/database:"),
])


@st.cache_resource(show_spinner=False, max_entries=4)
def _current(db_key: str) -> bool:
    """Whether this version of the database file fits the code's data model (checked once per file version)."""
    return not needs_build()


if not _current(web.db_key()):
    with st.status("Building the database from the bundled Kansas City data (first run, or the data model "
                   "changed)…", expanded=True) as box:
        st.write("Reading KCPD, Gun Violence Archive, FBI UCR and neighborhood files (about 15 seconds).")
        try:
            ensure_built()
        except LockHeld as exc:
            box.update(label="Another process is writing the database", state="error")
            st.warning(f"{exc} Reload this page in a minute.")
            st.stop()
        box.update(label="Database built", state="complete", expanded=False)

page.run()
