"""Outreach outcomes: the canvass registry and an honest before/after evaluation."""

import functools

import pandas as pd
import streamlit as st

from analytics import charts, evaluation, evaluation_text, maps, programs_text, registry, report
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

# Stateful tabs: only the open tab's code runs (a tab switch reruns the page), so a visit to the evaluation does not
# also build and send the registry's table and forms, nor a visit to the registry the evaluation's map and charts.
# a saved or deleted event's notice, shown inside whichever tab is open: above the tabs it would move them when it goes
flash = st.session_state.pop("registry_flash", None)
tab_eval, tab_registry = st.tabs(["Evaluate a canvass", "Canvass registry"], key="outreach_tab", on_change="rerun")

with tab_registry:
    if tab_registry.open:
        if flash:
            st.success(flash)
        st.dataframe(report.registry_table(events), hide_index=True, width="stretch")
        export = pd.DataFrame([e.row() for e in events], columns=registry.COLUMNS)
        web.download("Export the registry (CSV)", web.csv_bytes(export), file_name="canvass_events.csv", mime="text/csv",
                     key="export_registry")
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
                        st.success(f"Imported {n} event{'s' * (n != 1)}.")
                        for p in problems:
                            st.error(p)
                    except registry.RegistryError as exc:
                        st.error(str(exc))

with tab_eval:
    if not tab_eval.open:
        st.stop()  # the registry tab is open: nothing below runs
    if flash:
        st.success(flash)
    events = registry.load()
    if not events:
        st.info("The canvass registry has no events to evaluate yet: add one in the registry tab.")
        st.stop()
    # A link from outside (first run, or a new one) is read once; after that the widgets hold the state and the
    # link is rewritten from them, so an evaluation can be shared.
    params = st.query_params.to_dict()
    fresh = params != st.session_state.get("_outreach_wrote")
    if fresh:
        st.session_state["_outreach_link"] = params
    link, problems = st.session_state["_outreach_link"], []
    linked, linked_date = web.event_from_link(link, [e.event_id for e in events], problems)
    unsure = {e.event_id for e in events if e.start_date and not e.date_confirmed}
    labels = {e.event_id: f"{e.name} ({e.start_date or 'no date'}{', date not confirmed' * (e.event_id in unsure)})"
              for e in events}
    ids = list(labels)
    chosen = st.selectbox("Canvass", ids, format_func=labels.get, key="event",
                          index=ids.index(linked) if linked else 0)
    event = next(e for e in events if e.event_id == chosen)
    from_link = chosen == linked
    tried = st.date_input("What if the canvass was on… (try a date; it is not saved)",
                          value=linked_date if from_link else None, min_value=web.filters_bounds()[0],
                          max_value=web.filters_bounds()[1], key=f"whatif_{chosen}",
                          help="Evaluates this event as if it had happened on that date. Only editors can save a "
                               "date to the registry. A date typed outside the accepted range is not taken (the "
                               "field turns red) and the evaluation below stays on the date it names.")
    when = tried or event.start_date
    if when is None:
        for p in problems if fresh else []:
            st.warning(f"Link parameter {p}.")
        st.warning("This event has no date in its source, so it cannot be evaluated as stored. Try a date above to "
                   "see what the evaluation would be (not saved); an editor adds the date in the registry tab once "
                   "it is known.")
        st.session_state["_outreach_wrote"] = web.outreach_link(chosen, None)
        st.query_params.from_dict(st.session_state["_outreach_wrote"])
        st.stop()
    default, why = web.default_design(key, chosen, when)
    d0 = web.design_from_link(key, link, default, problems) if from_link else default
    for p in problems if fresh else []:
        st.warning(f"Link parameter {p}.")
    if not tried and event.start_date and not event.date_confirmed:
        st.info(f"**Date not confirmed:** no source confirms {event.start_date} for this event (the registry's "
                "notes say what is known). A canvass in another month moves both windows, so try other dates above "
                "to see how much the result depends on it.")
    if tried and tried != event.start_date:
        st.warning(f"**What if** the canvass was on {tried}? This date is **not saved**: the registry has "
                   f"{event.start_date or 'no date'} for this event. Everything below is evaluated at {tried}.")
        if access.can_edit() and st.button(f"Save {tried} as this event's date", key="save_whatif"):
            try:
                registry.upsert(registry.parse({**event.row(), "start_date": tried}))
                st.session_state["registry_flash"] = f"Saved {tried} as the date of {event.event_id}."
                st.rerun()
            except registry.RegistryError as exc:
                st.error(f"Not saved: {exc}")
    source_labels = web.source_labels(key)
    with st.expander("Design: unit, measure, windows, comparison areas", expanded=False):
        c1, c2, c3 = st.columns(3)
        units = list(evaluation.UNIT_LABELS)
        unit = c1.selectbox("Unit of analysis", units, index=units.index(d0.unit), key=f"unit_{chosen}",
                            format_func=evaluation.UNIT_LABELS.get)
        sources = web.usable_sources(key, unit)
        source = c2.selectbox("Source", sources, format_func=source_labels.get, key=f"source_{unit}_{chosen}",
                              index=web.first_index(sources, d0.source if unit == d0.unit else None))
        cats = web.categories(key, source)
        measures, measure_labels = cats["category_id"].tolist(), dict(zip(cats.category_id, cats.label, strict=True))
        measure = c3.selectbox("Measure", measures, format_func=measure_labels.get, key=f"measure_{source}_{chosen}",
                               index=web.first_index(measures, d0.measure if source == d0.source else None,
                                                     evaluation.UNIT_DEFAULTS[unit][1]))
        lo, hi = evaluation.MONTHS
        months_before = c1.number_input("Months before", lo, hi, d0.months_before, key=f"mb_{chosen}")
        months_after = c2.number_input("Months after", lo, hi, d0.months_after, key=f"ma_{chosen}")
        buffer_m = c3.number_input("Buffer ring, metres", *web.BUFFER_RANGE, float(d0.buffer_m), step=50.0,
                                   key=f"buffer_{chosen}")
        override = st.multiselect("Comparison neighborhoods (blank: suggested)", sorted(web.neighborhoods(key)[
            "area_id"]), default=d0.comparison or [], key=f"comparison_{chosen}")
        st.caption("The neighborhoods most like the footprint in the before window (lower score = closer in level "
                   "and trend), away from the footprint, its buffer and other canvass sites; every neighborhood "
                   "actually used is listed, marked with what it is used as.")
        suggestions_box = st.empty()  # filled from the evaluation below: one evaluation per rerun
    design = evaluation.Design(unit, source, measure, int(months_before), int(months_after), float(buffer_m),
                               override or None)
    st.session_state["_outreach_wrote"] = web.outreach_link(chosen, tried, design, default)
    st.query_params.from_dict(st.session_state["_outreach_wrote"])
    if (unit, source, measure) == (default.unit, default.source, default.measure):
        st.info(f"**Unit and measure:** {evaluation.UNIT_LABELS[unit]}, "
                f"{source_labels.get(source, source)}, {measure_labels.get(measure, measure)}. {why}")
    with st.spinner("Evaluating, with placebo checks at fake dates and in other neighborhoods…"):
        try:
            ev_key = web.evaluation_key(chosen, when, design)  # the registry read once a run
            result = web.evaluate(key, ev_key)
        except evaluation.BadDesign as exc:
            st.warning(f"This design cannot be evaluated: {exc}")
            st.stop()
    suggestions_box.dataframe(report.suggestions_table(result), hide_index=True, width="stretch")

    if result["status"] != "evaluated":
        st.error(result["message"])
        if report.has_counts(result):
            st.plotly_chart(web.evaluation_chart(key, ev_key), width="stretch")
        else:
            st.info(f"No monthly counts to chart: {result.get('source_label', 'this source')} has no data for any "
                    "month of these windows.")
        st.stop()

    what_if = " (what-if date, not saved)" if when != event.start_date else ""
    st.subheader(f"Result for a canvass on {when}{what_if}")  # the date evaluated, whatever the field shows
    st.markdown(f"**In short:** {result['in_short']}")
    st.markdown(f"**Footprint:** {result['verdict']}  \n**Displacement:** {result['displacement']}")
    for caveat in result["caveats"][:len(result["overlapping_events"])]:  # the overlaps come first
        st.warning(caveat)
    with st.expander("The whole reading: intervals, placebo checks, and why the tests below can differ"):
        st.markdown(result["summary"])
    with st.expander("Caveats of this design"):
        st.markdown("\n".join(f"- {c}" for c in result["caveats"]))
    if sites := report.chosen_sites(result):
        st.warning("Some comparison neighborhoods chosen in the design are other canvass sites: "
                   + "; ".join(f"{', '.join(a)} ({name})" for name, a in sites.items()) + ". A comparison that had "
                   "its own outreach can hide or mimic this one's effect; the suggested comparisons leave them out.")
    c1, c2 = st.columns([3, 1])
    c1.pydeck_chart(maps.regions_map(result["shapes"], web.neighborhood_outlines(key), web.neighborhood_edges(key)),
                    height=420)
    c2.markdown(maps.regions_legend(result["shapes"]), unsafe_allow_html=True)
    st.caption(report.regions_text(result) + " Comparisons are suggested by similarity in the before window; "
               "override them in the design above.")
    st.markdown(f"**Counts** ({report.windows_text(result)})")
    st.dataframe(report.counts_table(result), hide_index=True, width="stretch")
    st.markdown(evaluation_text.etest_line(result))
    st.markdown("**Weighted displacement difference test** (differences in counts per month, net of the "
                "comparisons)")
    st.dataframe(report.tests_table(result), hide_index=True, width="stretch", **report.tests_columns(result))
    st.plotly_chart(web.evaluation_chart(key, ev_key), width="stretch")
    # drawn only when opened (a stateful expander reruns the page): two charts fewer on every visit
    unusual = st.expander("How unusual is this? The gap building up after the canvass, and the same test where no "
                          "canvass took place (two charts)", key=f"unusual_{chosen}", on_change="rerun")
    with unusual:
        if unusual.open:
            st.plotly_chart(charts.cumulative_band(evaluation.cumulative_difference(result)), width="stretch")
            plc = result["placebo"]
            st.plotly_chart(charts.placebo_histogram(plc, result["wdd"]["local"]["z"], plc["critical_z"]),
                            width="stretch")
            st.caption(report.placebo_text(result))
    st.subheader("Other methods")
    if what_if:
        st.caption("The synthetic control runs on the registry's own date; a tried date is evaluated above only.")
    elif st.toggle("Compare with a synthetic control and the other methods (a few seconds)", key=f"methods_{chosen}"):
        with st.spinner("Fitting the synthetic comparison and running placebos…"):
            other = web.compare_methods(key, web.registry_key(), event.event_id)
        if other["status"] == "evaluated":
            st.markdown(f"**Do the methods agree?** {other['agreement']}")
            st.dataframe(programs_text.methods_table(other), hide_index=True, width="stretch",
                         column_config=programs_text.METHODS_COLUMNS)
            st.caption(" ".join(filter(None, [evaluation_text.methods_sentence(result) or "These use the same windows "
                                              "as the design above.",
                                              evaluation_text.methods_threshold_note(result, other)])))
        else:
            st.warning(other["message"])
        st.page_link("views/programs.py", label="The synthetic comparison, its donors and placebos: Programs page",
                     icon=":material/compare_arrows:", query_params=st.session_state["_outreach_wrote"])
    c1, c2 = st.columns(2)
    suffix = f"_what_if_{result['date']}" if what_if else ""
    web.download(f"Download the one-page report{what_if} (HTML, print to PDF)", functools.partial(report.html, result, event),
                 file_name=f"{event.event_id}{suffix}_report.html", mime="text/html", key="report", where=c1)
    web.download("Download the monthly counts (CSV)", web.evaluation_csv(key, ev_key),
                 file_name=f"{event.event_id}{suffix}_monthly.csv", mime="text/csv", key="eval_csv", where=c2)
