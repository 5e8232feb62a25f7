"""KC Violence Trends: entry point (`streamlit run dashboard.py`)."""

# PIL.Image before any page: plotly's JSON encoder looks it up in sys.modules without importing it, and met it
# half-imported by another session's thread in the server's first seconds ("partially initialized module 'PIL.Image'
# has no attribute 'Image'" on a chart); this import completes before any page runs.
import PIL.Image  # noqa: F401
import streamlit as st

from app import warm, web
from kcvt.db import needs_build
from kcvt.locks import LockHeld, writer_lock

st.set_page_config(page_title="KC Violence Trends", page_icon=":material/monitoring:", layout="wide")

page = st.navigation([
    st.Page("views/home.py", title="Citywide trends", icon=":material/show_chart:", default=True),
    st.Page("views/hotspots.py", title="Hotspots and ranking", icon=":material/map:"),
    st.Page("views/emerging.py", title="Emerging hot spots", icon=":material/trending_up:"),
    st.Page("views/neighborhood.py", title="Neighborhood profile", icon=":material/location_city:"),
    st.Page("views/outreach.py", title="Outreach outcomes", icon=":material/diversity_3:"),
    st.Page("views/programs.py", title="Programs and synthetic control", icon=":material/compare_arrows:"),
    st.Page("views/data.py", title="Data and sources", icon=":material/database:"),
])


@st.cache_resource(show_spinner=False, max_entries=4)
def _current(db_key: str) -> bool:
    """Whether the database version the key names fits the code's data model (checked once per file version)."""
    return not needs_build(web.path_of(db_key))


def _first_run_build() -> None:
    """Build the database from the bundled data (first run, or a database of an older data model). One session
    builds; others wait for it on the writer lock and then find the database current."""
    from etl.build import build

    path = web.path_of(web.db_key())
    with writer_lock(path, "first-run build (app)", wait=180):
        if needs_build(path):
            build(path, progress=False)


if not _current(web.db_key()):
    box_slot = st.empty()
    with box_slot.status("Building the database from the bundled Kansas City data (first run, or the data model "
                         "changed)…", expanded=True) as box:
        st.write("Reading KCPD, Gun Violence Archive, FBI UCR and neighborhood files (about 15 seconds).")
        try:
            _first_run_build()
        except LockHeld as exc:
            box.update(label="Another process is writing the database", state="error")
            st.warning(f"{exc} Reload this page in a minute.")
            st.stop()
    box_slot.empty()  # built: the page shows its data, not a leftover notice

with web.page_turn():  # a few page scripts at a time (web.PAGE_TURNS)
    page.run()
warm.start(web.db_key())  # once per database version: every page's default view, in the background (app.warm)
