"""The filter sidebar every page with filters shares: source, category, period and (optionally) area and firearm,
read from the link first, checked, and written back to the link so a view can be shared."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import streamlit as st

from analytics import filters
from app import web


@dataclass
class Selection:
    """What the reader chose, after checking; `problems` are link values that were named and ignored."""

    source: str
    categories: list[str]
    start: date
    end: date
    labels: dict[str, str]  # source id -> label
    category_labels: dict[str, str]  # category id -> label, for this source
    incident_source: bool
    area: str | None = None
    firearm: bool = False
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # how the choice was read (a count source's whole months)

    @property
    def category(self) -> str:
        """The first chosen category: single-category pages read this; the home page draws one line per entry of
        `categories`."""
        return self.categories[0]

    def link(self) -> dict:
        """The query parameters that reproduce this selection."""
        one = len(self.categories) == 1
        return {"source": self.source, "category": self.category if one else self.categories,
                "start": str(self.start), "end": str(self.end), **({"area": self.area} if self.area else {}),
                **({"firearm": "1"} if self.firearm else {})}


def filter_sidebar(key: str, prefix: str, sources: list[str], default_source: str, *, multi_category: bool = False,
                   area: str | None = None, firearm: bool = False, recent: bool = False) -> Selection:
    """Draw the shared filters in the sidebar and return the checked selection.

    `prefix` keeps each page's widget keys apart; `area` is None (no area), "city" (the city or one neighborhood)
    or "neighborhood" (one neighborhood, asked first); `recent` defaults the period to the latest 24 fully covered
    months (filters.latest_covered_span) instead of all of them.
    """
    params, problems = st.query_params, []
    all_sources = web.sources(key)
    labels = dict(zip(all_sources.source_id, all_sources.label, strict=True))
    sources = [s for s in sources if s in labels]
    chosen_area = None
    with st.sidebar:
        if area == "neighborhood":
            names = web.neighborhoods(key)["area_id"].tolist()
            chosen_area = st.selectbox("Neighborhood", names, key=f"{prefix}area", index=names.index(
                filters.pick(params.get("area"), names, "Ruskin Heights", problems, "area")),
                format_func=web.area_labels(key).get)  # the unnamed polygons by their neighbours, as on every page
        source = st.selectbox("Source", sources, format_func=labels.get, key=f"{prefix}source", index=sources.index(
            filters.pick(params.get("source"), sources, default_source, problems, "source")))
        cats = web.categories(key, source)
        cat_labels = dict(zip(cats.category_id, cats.label, strict=True))
        defaults = [c for c in filters.DEFAULT_CATEGORIES.get(source, []) if c in cat_labels] or list(cat_labels)[:1]
        asked = list(dict.fromkeys(params.get_all("category")))  # a category named twice is chosen once
        bad = [c for c in asked if c not in cat_labels]
        if bad and _link_state(params) != st.session_state.get(WROTE):  # a link's; not ours from before a switch
            problems.append(f"ignored category {', '.join(repr(b[:40]) for b in bad)}: not available for this source")
        wanted = [c for c in asked if c in cat_labels] or defaults
        if multi_category:
            categories = st.multiselect("Categories", list(cat_labels), default=wanted, format_func=cat_labels.get,
                                        key=f"{prefix}categories_{source}")
        else:
            ids = list(cat_labels)
            categories = [st.selectbox("Category", ids, format_func=cat_labels.get, index=ids.index(wanted[0]),
                                       key=f"{prefix}category_{source}")]
        first, last = web.covered_range(key, source)
        if recent:  # the latest 24 fully covered months, else the last two covered years
            first, last = web.latest_covered_span(key, source, 24) or (max(first, date(last.year - 1, 1, 1)), last)
        lo, hi = filters.date_bounds()
        span = f"Any day from {lo} to {hi}; a date typed outside that is not taken (the field shows a red mark)."
        start = st.date_input("From", filters.parse_date(params.get("start"), first, problems, "start"),
                              min_value=lo, max_value=hi, key=f"{prefix}start", help=span)
        end = st.date_input("To", filters.parse_date(params.get("end"), last, problems, "end"),
                            min_value=lo, max_value=hi, key=f"{prefix}end", help=span)
        if area == "city":
            options = ["Whole city", *web.neighborhoods(key)["area_id"]]
            choice = st.selectbox("Area", options, key=f"{prefix}area", index=options.index(
                filters.pick(params.get("area"), options, "Whole city", problems, "area")))
            chosen_area = None if choice == "Whole city" else choice
        incident_source = bool(all_sources.set_index("source_id").loc[source, "kind"] == "incidents")
        notes = []
        if span := filters.widened(incident_source, start, end):
            start, end = span
            notes.append(f"{labels[source]} counts whole months: the period is read as {start} to {end}.")
        armed = False
        if firearm:
            applies = filters.firearm_choice_applies(source, incident_source)
            armed = st.checkbox("Firearm involved only", value=params.get("firearm") == "1", key=f"{prefix}firearm",
                                disabled=not applies, help="KCPD's firearm flag; every GVA incident involves a gun.")
            armed = bool(armed and applies)
    return Selection(source, categories, start, end, labels, cat_labels, incident_source, chosen_area, armed, problems,
                     notes)


def check(selection: Selection, extra: dict | None = None) -> None:
    """Show the ignored link values, stop on an impossible period or no category, and write the link back."""
    for p in selection.problems:
        st.warning(f"Link parameter {p}.")
    if selection.start > selection.end:
        st.error(f"'From' ({selection.start}) is after 'To' ({selection.end}): pick a start before the end.")
        st.stop()
    if not selection.categories:
        st.info("Pick at least one category.")
        st.stop()
    for note in selection.notes:
        st.info(note, icon=":material/calendar_month:")
    st.query_params.from_dict({**selection.link(), **(extra or {})})
    st.session_state[WROTE] = _link_state(st.query_params)


#: the link the sidebar last wrote: when the reader switches source, the link still names the old source's category
#: until this run writes it again; that is the page's own value, not a link to warn about (blind review)
WROTE = "_sidebar_wrote"


def _link_state(params) -> dict[str, tuple[str, ...]]:
    return {k: tuple(params.get_all(k)) for k in params}
