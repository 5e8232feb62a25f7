"""Outreach outcomes: the canvass registry and an honest before/after evaluation."""

import pandas as pd
import streamlit as st

from analytics import charts, evaluation, maps, registry, report
from app import access, forms, web

key = web.db_key()
st.title("Outreach outcomes")
st.caption("Did violence change after a canvass, compared with similar places, and did it move next door? "
           "The test compares places before and after; it cannot prove the canvass caused a change.")

try:
    events, set_aside = registry.read()
except registry.RegistryError as exc:
    st.error(f"The canvass registry cannot be read: {exc}")
    st.stop()
for row in set_aside:
    st.warning(f"One row of the canvass registry was set aside, {row}. It stays in the file until it is fixed "
               "there or deleted; the other events are shown.")

tab_eval, tab_registry = st.tabs(["Evaluate a canvass", "Canvass registry"])

with tab_registry:
    if flash := st.session_state.pop("registry_flash", None):
        st.success(flash)
    table = pd.DataFrame([e.row() | {"evaluable": e.evaluable} for e in events],
                         columns=[*registry.COLUMNS, "evaluable"])
    st.dataframe(table[["event_id", "name", "start_date", "date_confirmed", "organisations", "footprint_type",
                        "neighborhoods", "evaluable", "notes", "source"]], hide_index=True, width="stretch")
    st.download_button("Export the registry (CSV)", web.csv_bytes(table.drop(columns=["evaluable"])),
                       file_name="canvass_events.csv", mime="text/csv", key="export_registry")
    known = set(web.neighborhoods(key)["area_id"])
    city = web.city_shape(key)

    def check(event):
        registry.check_inside_city(event, city, known)

    if access.unlock_form("registry"):
        with st.expander("Add or edit an event"):
            to_edit = st.selectbox("Start from an existing event (edit) or blank (add)", ["(new event)",
                                   *[e.event_id for e in events]], key="edit_choice")
            if to_edit != st.session_state.get("_edit_loaded"):
                st.session_state["_edit_loaded"] = to_edit
                row = next((e.row() for e in events if e.event_id == to_edit), {})
                for field, col in [("f_event_id", "event_id"), ("f_name", "name"), ("f_start", "start_date"),
                                   ("f_end", "end_date"), ("f_orgs", "organisations"), ("f_lon", "point_lon"),
                                   ("f_lat", "point_lat"), ("f_line", "line_wkt"), ("f_doors", "doors_knocked"),
                                   ("f_notes", "notes"), ("f_source", "source")]:
                    st.session_state[field] = "" if row.get(col) is None else str(row[col])
                st.session_state["f_confirmed"] = bool(row.get("date_confirmed", False))
                st.session_state["f_type"] = row.get("footprint_type", "neighborhoods")
                st.session_state["f_nbhds"] = [n for n in row.get("neighborhoods", "").split("|") if n in known]
                st.session_state["f_radius"] = str(row.get("radius_m") or 400)
                st.session_state["f_width"] = str(row.get("corridor_width_m") or 120)
            with st.form("event_form", clear_on_submit=False):
                c1, c2 = st.columns(2)
                event_id = c1.text_input("Event id (lower case, digits, dashes)", key="f_event_id")
                name = c2.text_input("Name", key="f_name")
                start = c1.text_input("Date (YYYY-MM-DD; blank if not published)", key="f_start")
                end = c2.text_input("End date for multi-day work (optional)", key="f_end")
                confirmed = c1.checkbox("Date confirmed", key="f_confirmed")
                orgs = c2.text_input("Organisations", key="f_orgs")
                where = forms.footprint_fields("f", sorted(known))
                doors = st.text_input("Doors knocked (optional)", key="f_doors")
                notes = st.text_area("Notes", key="f_notes")
                source = st.text_input("Source (link or citation)", key="f_source")
                if st.form_submit_button("Save event"):
                    raw = {"event_id": event_id, "name": name, "start_date": start, "end_date": end,
                           "date_confirmed": confirmed, "organisations": orgs, **where, "doors_knocked": doors,
                           "notes": notes, "source": source}
                    try:
                        event = registry.parse(raw)
                        check(event)
                        registry.upsert(event)
                        st.session_state["registry_flash"] = f"Saved {event.event_id}."
                        st.rerun()
                    except registry.RegistryError as exc:
                        st.error(f"Not saved: {exc}")

        c1, c2 = st.columns(2)
        with c1:
            ids = [e.event_id for e in events]
            ids += sorted({r.record_id for r in set_aside if r.record_id and r.record_id not in ids})
            doomed = st.selectbox("Delete an event (or a set-aside row, by its id)", ["—", *ids], key="delete_choice")
            if doomed != "—" and st.button(f"Delete {doomed}", key="delete_button"):
                try:
                    registry.delete(doomed)
                    st.session_state["registry_flash"] = f"Deleted {doomed}."
                    st.rerun()
                except registry.RegistryError as exc:
                    st.error(f"Not deleted: {exc}")
        with c2:
            upload = st.file_uploader("Import events (CSV, same columns as the export)", type=["csv"], key="import")
            if upload is not None and st.button("Import", key="import_button"):
                try:
                    n, problems = registry.import_csv(upload.getvalue().decode("utf-8", errors="replace"), check)
                    st.success(f"Imported {n} event(s).")
                    for p in problems:
                        st.error(p)
                except registry.RegistryError as exc:
                    st.error(str(exc))

with tab_eval:
    events = registry.load()
    if not events:
        st.info("The canvass registry has no events to evaluate yet: add one in the registry tab.")
        st.stop()
    labels = {e.event_id: f"{e.name} ({e.start_date or 'no date'})" for e in events}
    chosen = st.selectbox("Canvass", list(labels), format_func=labels.get, key="event")
    event = next(e for e in events if e.event_id == chosen)
    if not event.evaluable:
        st.warning("This event has no date in its source, so it cannot be evaluated yet. Add the date in the "
                   "registry tab once it is known.")
        st.stop()
    default, why = web.default_design(key, event.event_id, event.start_date)
    with st.expander("Design: unit, measure, windows, comparison areas", expanded=False):
        c1, c2, c3 = st.columns(3)
        unit = c1.selectbox("Unit of analysis", ["areas", "points"], index=["areas", "points"].index(default.unit),
                            format_func={"areas": "neighborhood-month counts", "points": "incident points"}.get,
                            key=f"unit_{chosen}")
        source = c2.selectbox("Source", web.usable_sources(key, unit), key=f"source_{unit}_{chosen}")
        measures = web.categories(key, source)["category_id"].tolist()
        pref = default.measure if default.measure in measures else measures[0]
        measure = c3.selectbox("Measure", measures, index=measures.index(pref), key=f"measure_{source}_{chosen}")
        months_before = c1.number_input("Months before", 1, 24, 6, key=f"mb_{chosen}")
        months_after = c2.number_input("Months after", 1, 24, 6, key=f"ma_{chosen}")
        buffer_m = c3.number_input("Buffer ring, metres", 100, 2000, 400, step=50, key=f"buffer_{chosen}")
        override = st.multiselect("Comparison neighborhoods (blank: suggested)", sorted(web.neighborhoods(key)[
            "area_id"]), key=f"comparison_{chosen}")
        st.caption("Most similar neighborhoods in the before window (lower score = closer in level and trend), "
                   "away from the footprint and buffer:")
        suggestions_box = st.empty()  # filled from the evaluation below: one evaluation per rerun
    design = evaluation.Design(unit, source, measure, int(months_before), int(months_after), float(buffer_m),
                               override or None)
    if (unit, source, measure) == (default.unit, default.source, default.measure):
        st.info(f"**Unit and measure:** {unit} / {source} / {measure}. {why}")
    with st.spinner("Evaluating, with placebo checks at fake dates and in other neighborhoods…"):
        try:
            result = web.evaluate(key, event.event_id, event.start_date, design)
        except evaluation.BadDesign as exc:
            st.warning(f"This design cannot be evaluated: {exc}")
            st.stop()
    suggestions_box.dataframe(pd.DataFrame(result["suggested_comparisons"]).rename(
        columns={"area": "neighborhood", "before_mean": "per month before"}), hide_index=True, width="stretch")

    if result["status"] != "evaluated":
        st.error(result["message"])
        st.plotly_chart(charts.region_lines(result), width="stretch")
        st.stop()

    st.subheader("Result")
    st.markdown(f"**Footprint:** {result['verdict']}  \n**Displacement:** {result['displacement']}")
    st.pydeck_chart(maps.regions_map(result["shapes"], web.neighborhood_outlines(key)), height=420)
    st.caption(f"Footprint: {', '.join(result['footprint_areas'])}. Buffer: {', '.join(result['buffer_areas'])}. "
               f"Comparison: {', '.join(result['comparison_areas'])} (suggested by similarity in the before window; "
               f"override above). Comparison buffer: {', '.join(result['comparison_buffer_areas']) or 'none'}.")
    st.plotly_chart(charts.region_lines(result), width="stretch")
    st.plotly_chart(charts.cumulative_band(evaluation.cumulative_difference(result)), width="stretch")
    counts = report.counts_table(result)
    st.dataframe(counts, hide_index=True, width="stretch")
    st.dataframe(report.tests_table(result), hide_index=True, width="stretch")
    st.markdown(f"Poisson e-test on the footprint's raw change: {result['etest']['sentence']}.")
    plc = result["placebo"]
    st.plotly_chart(charts.placebo_histogram(plc, result["wdd"]["local"]["z"], plc["critical_z"]), width="stretch")
    st.caption(f"{len(plc['fake_dates'])} fake dates and {len(plc['other_areas'])} other neighborhoods. "
               f"Share of placebos beyond the usual 90% threshold: {plc['share_beyond_nominal']}. "
               f"A change is claimed only beyond |z| = {plc['critical_z']:.2f}.")
    c1, c2 = st.columns(2)
    c1.download_button("Download the one-page report (HTML, print to PDF)", report.html(result, event),
                       file_name=f"{event.event_id}_report.html", mime="text/html", key="report")
    c2.download_button("Download the monthly counts (CSV)", web.csv_bytes(pd.DataFrame(result["monthly"])),
                       file_name=f"{event.event_id}_monthly.csv", mime="text/csv", key="eval_csv")
