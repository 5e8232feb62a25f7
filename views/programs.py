"""Programs and synthetic control: the methods side by side, program-level effects, and when we can tell."""

import pandas as pd
import streamlit as st

from analytics import filters, program, registry, start_dates
from analytics import program_charts as charts
from analytics import programs_text as words
from app import access, web

key = web.db_key()
st.title("Programs and synthetic control")
st.caption("Beyond one canvass and one test: a synthetic comparison built from similar neighborhoods, the average "
           "change across a program's footprints, and when a change could be told from chance. All of it counts "
           "KCPD crimes against persons by neighborhood and month, the only series that runs through every event. "
           "These compare places; none of them can show that the work caused a change.")

try:
    events = registry.load()
except registry.RegistryError as exc:
    st.error(f"The canvass registry cannot be read: {exc}")
    st.stop()
if flash := st.session_state.pop("programs_flash", None):
    st.success(flash)
rkey = web.registry_key()
by_id = {e.event_id: e for e in events}
progs = web.programs()
prog_names = dict(zip(progs["program_id"], progs["name"], strict=True))
#: the views and the names links use for them (/programs?view=tracking&program=council-2026)
VIEWS = {"methods": "Methods side by side", "program": "Program effect", "tracking": "When can we tell?"}


@st.cache_data(show_spinner=False, max_entries=4)
def data_span(db_key: str) -> start_dates.Span:
    """The months the series covers, per database version: start dates outside them are refused."""
    with web.cursor(db_key) as cur:
        return start_dates.span(cur)


def pct(value) -> str:
    """A percent for the page ('—' when there is none)."""
    return "—" if value is None or pd.isna(value) else f"{value:+.1f}%"


def event_label(event_id: str) -> str:
    e = by_id[event_id]
    return f"{e.name} — {start_dates.describe(e)}"


def read_link(params: dict, problems: list[str], notes: list[str]) -> None:
    """Set the widgets from a link (the Outreach page links here with ?event=<id>); a bad value is named in
    `problems` and the default kept, and what a link value was taken to mean in `notes` (an event on the tracking
    view, which is per program, opens the event's program). Read once per new link: after that the widgets own
    the state."""
    view = params.get("view")
    if view:
        if view in VIEWS:
            st.session_state["pg_view"] = VIEWS[view]
        else:
            problems.append(f"ignored view={str(view)[:40]!r}: not one of {', '.join(VIEWS)}")
    if event := params.get("event"):
        if event in by_id and view == "tracking":  # the tracking view is per program: the event's, if it has one
            prog = by_id[event].program
            if prog in prog_names and not params.get("program"):
                st.session_state["pg_track_program"] = prog
                notes.append(f"The tracking view is per program: showing {prog_names[prog]}, the program of "
                             f"{by_id[event].name}.")
            elif prog not in prog_names:
                problems.append(f"event={str(event)[:40]!r} ignored: the tracking view is per program, and "
                                f"{by_id[event].name} belongs to none")
        elif event in by_id:
            st.session_state["pg_event"] = event
            if not view:
                st.session_state["pg_view"] = VIEWS["methods"]
        else:
            first = events[0].name if events else "none"
            problems.append(f"ignored event={str(event)[:40]!r}: no such event in the canvass registry; showing "
                            f"{first} instead")
    if program_id := params.get("program"):
        if program_id in prog_names:
            st.session_state["pg_program"] = st.session_state["pg_track_program"] = program_id
        else:
            problems.append(f"ignored program={str(program_id)[:40]!r}: no such program")


def write_link(link: dict) -> None:
    """Keep the chosen view and event or program in the URL, so the view can be shared by link."""
    st.session_state["_programs_wrote"] = link
    st.query_params.from_dict(link)


def start_editor(pid: str, members: list, span: start_dates.Span) -> None:
    """An editor changes one event's start (or, on request, the others stored with the same start): the widgets
    are keyed by event, so they show that event's stored values; Save is off until something differs, and a second
    step shows every old -> new value before anything is written (analytics.start_dates)."""
    st.caption("One event at a time, unless you tick the box for the others; nothing is saved until you confirm.")
    ids = [e.event_id for e in members]
    eid = st.selectbox("Event", ids, format_func=event_label, key=f"pg_edit_event_{pid}")
    e = by_id[eid]
    lo, hi = filters.date_bounds()
    day = st.date_input("Start of the work", value=e.start_date, min_value=lo, max_value=hi, key=f"pg_start_{eid}")
    confirmed = st.checkbox("A source confirms this date", value=e.date_confirmed, key=f"pg_confirmed_{eid}")
    same = [o.event_id for o in members
            if o.event_id != eid and (o.start_date, o.date_confirmed) == (e.start_date, e.date_confirmed)]
    also = same and st.checkbox(f"Also for the {len(same)} other event(s) of this program stored with the same start",
                                value=False, key=f"pg_also_{eid}")
    try:
        changes = start_dates.plan(events, [eid, *(same if also else [])], day, confirmed, span)
    except start_dates.NothingToSave as exc:
        changes = []
        st.caption(f"Nothing to save yet: {exc}.")
    except start_dates.StartRefused as exc:
        changes = []
        st.warning(f"This date cannot be saved: {exc}")
    if st.button("Save the start date…", disabled=not changes, key=f"pg_save_{eid}"):
        st.session_state["pg_pending"] = changes
    if not changes or st.session_state.get("pg_pending") != changes:
        return
    sourced = any(c.overwrites_sourced for c in changes)
    st.warning("This will change:  \n" + "  \n".join(f"- {c.sentence()}" for c in changes) +
               ("  \n**A source confirms the date it replaces.**" if sourced else ""))
    c1, c2 = st.columns(2)
    if c1.button("Confirm: save", type="primary", key="pg_confirm"):
        try:
            done = start_dates.apply(changes)
        except registry.RegistryError as exc:
            st.error(f"Not saved: {exc}")
            return
        st.session_state.pop("pg_pending", None)
        st.session_state["programs_flash"] = "Saved: " + "; ".join(c.sentence() for c in changes if c.event_id
                                                                   in done) + "."
        st.rerun()
    if c2.button("Cancel", key="pg_cancel"):
        st.session_state.pop("pg_pending", None)
        st.rerun()


params = st.query_params.to_dict()
link_problems: list[str] = []
link_notes: list[str] = []
if params != st.session_state.get("_programs_wrote"):
    read_link(params, link_problems, link_notes)
for p in link_problems:
    st.warning(f"Link parameter {p}.")
for n in link_notes:
    st.info(n)

view = st.radio("View", list(VIEWS.values()), horizontal=True, key="pg_view")

if view == VIEWS["methods"]:
    chosen = st.selectbox("Event", list(by_id), format_func=event_label, key="pg_event")
    write_link({"view": "methods", "event": chosen})
    if not by_id[chosen].evaluable:
        st.info("This event has no date in its source, so it cannot be evaluated yet. An editor can add the date on "
                "the Outreach outcomes page.")
        st.stop()
    with st.spinner("Fitting the synthetic comparison and running placebos (a few seconds)…"):
        r = web.compare_methods(key, rkey, chosen)
    if r["status"] != "evaluated":
        st.info(r["message"])
        st.stop()
    nb, na = r["windows_months"]["before"], r["windows_months"]["after"]
    st.markdown(f"**Do the methods agree?** {r['agreement']}")
    st.markdown(words.windows_note(r))
    st.dataframe(words.methods_table(r), hide_index=True, width="stretch", column_config=words.METHODS_COLUMNS)
    st.caption(f"Footprint: {', '.join(r['footprint_areas'])}. Windows: the {nb} months before the start month "
               f"({r['windows']['before'][0]} to {r['windows']['before'][-1]}) and the {na} after it "
               f"({r['windows']['after'][0]} to {r['windows']['after'][-1]}); the start month itself is left out.")
    st.caption("Thresholds: " + "; ".join(f"{m['method'].split(',')[0]}: {words.threshold(r, m)}"
                                           for m in r["methods"]) + ". The Outreach page's own evaluation of an "
               "event (6 months before and 6 after by default) sets its weighted displacement difference bar on its "
               "own placebo checks, so it is lower: longer windows hold more incidents, counting noise shrinks, and "
               "the ordinary drift between places over years spreads placebo z-scores wider.")
    for m in r["methods"]:
        st.markdown(f"- *{m['method']}*: {words.sentence(r, m)}")
    syn = r["synth"]
    if syn["status"] == "evaluated":
        st.subheader("Synthetic comparison")
        st.plotly_chart(charts.synth_lines(syn), width="stretch")
        st.caption(f"{syn['fit']['sentence']} Band after the start: {syn['intervals']}.")
        c1, c2 = st.columns(2)
        c1.plotly_chart(charts.donor_weights(syn), width="stretch")
        c2.plotly_chart(charts.placebo_ratios(syn), width="stretch")
        st.dataframe(pd.DataFrame(syn["donors"]).rename(columns={"weight": "weight (share of the synthetic)",
                                                                  "note": "canvassed?"}),
                     hide_index=True, width="stretch",
                     column_config={"neighborhood": st.column_config.TextColumn(width=280),
                                    "weight (share of the synthetic)": st.column_config.NumberColumn(width=200),
                                    "canvassed?": st.column_config.TextColumn(
                                        width=380, help="another registry event's site, canvassed outside these "
                                                        "windows (see below)")})
        st.caption(words.donor_rule(syn))
    else:
        st.info(f"Synthetic comparison: {syn['message']}")
    st.subheader("Calibration that can be checked")
    for m in r["methods"]:
        if text := words.calibration(r, m):
            st.markdown(f"- *{m['calibration']['method']}*: {text}")
    with st.expander("Caveats of this measure"):
        for c in syn.get("caveats", []):
            st.markdown(f"- {c}")

elif view == VIEWS["program"]:
    pid = st.selectbox("Program", list(prog_names), format_func=prog_names.get, key="pg_program")
    write_link({"view": "program", "program": pid})
    members = [e.event_id for e in events if e.program == pid]
    chosen = st.multiselect("Footprints in the estimate (the program's events by default; any events can be pooled)",
                            list(by_id), default=members, format_func=event_label, key=f"pg_members_{pid}")
    if not chosen:
        st.info("Choose at least one event.")
        st.stop()
    with st.spinner("Fitting the event study and the placebo programs (up to a minute the first time)…"):
        r = web.program_effect(key, rkey, pid, tuple(chosen))
    if r["status"] != "evaluated":
        st.warning(r["message"])
        st.stop()
    pooled = r["pooled"]
    c1, c2 = st.columns([1, 3])
    c1.metric("Pooled change against donors", pct(pooled["pct"]))
    c2.markdown(f"**{r['verdict']}**  \n{r['calibration']['sentence']}  \nInterval at the calibrated threshold: "
                f"{pct(pooled['low'])} to {pct(pooled['high'])} (it leaves out 0 only when a change is claimed).")
    st.plotly_chart(charts.event_study(r), width="stretch")
    st.caption(f"Each footprint is compared with its own {program.N_DONORS} most similar donor neighborhoods over the "
               f"{r['window']} months before and {r['after_months']} after its start (stacked Poisson regression, "
               "place and calendar-month effects within each stack). Months without data are left out.")
    st.plotly_chart(charts.contributions(r), width="stretch")  # full width: the footprints' names need room
    st.plotly_chart(charts.placebo_programs(r), width="stretch")
    st.dataframe(pd.DataFrame([{"footprint": f["name"], "start": f["start"], "neighborhoods": ", ".join(f["areas"]),
                                "per month before": f["before_monthly"], "own change": pct(f["own_pct"]),
                                "pooled without it": pct(f["pooled_without_pct"]),
                                "share of counts": f"{f['share_pct']:.0f}%"} for f in r["footprints"]]),
                 hide_index=True, width="stretch")
    st.caption("No interval is shown for a single footprint: errors clustered on one place are unreliable, so any "
               "claim rests on the pooled estimate and the placebo programs.")
    for note in r["left_out"]:
        st.warning(f"Left out: {note}")

else:
    if "council-2026" in prog_names:  # the program a task force asks about first
        st.session_state.setdefault("pg_track_program", "council-2026")
    pid = st.selectbox("Program", list(prog_names), format_func=prog_names.get, key="pg_track_program")
    write_link({"view": "tracking", "program": pid})
    members = [e for e in events if e.program == pid]
    dated = [e for e in members if e.evaluable]
    span = data_span(key)
    starts = list(dict.fromkeys(start_dates.describe(e) for e in dated))
    if len(starts) == 1:
        st.info(f"Start: {starts[0]}." + ("" if all(e.date_confirmed for e in dated) else
                                           " No source confirms it: months are counted from here until an editor "
                                           "sets the start."))
    elif starts:
        st.info("Starts (each footprint from its own): " + "; ".join(f"{e.name}, {start_dates.describe(e)}"
                                                                      for e in dated) + ".")
    future = {e.event_id: msg for e in dated if (msg := start_dates.after_data(e, span))}
    for msg in future.values():
        st.warning(msg)
    with st.expander("Change a start date (editors)", expanded="pg_pending" in st.session_state):
        if members and access.unlock_form("programs"):
            start_editor(pid, members, span)
    if not dated:
        st.warning("No event of this program has a date yet.")
        st.stop()
    if len(future) == len(dated):
        st.stop()
    with st.spinner("Calibrating on placebo programs and simulating futures…"):
        r = web.tracking(key, rkey, pid, ())
    if r["status"] != "tracked":
        st.warning(r["message"])
        st.stop()
    st.markdown(f"### {r['answer']}")
    if r["tracking"]:
        st.plotly_chart(charts.tracking(r), width="stretch")
        last = r["tracking"][-1]
        st.caption(f"After {last['k']} months ({last['month'] or last['label']}): {last['actual']:,} incidents against "
                   f"{last['expected']:,.0f} expected from the matched comparison neighborhoods and the footprints' "
                   f"usual gap to them in the {r['before_months']} months before the start. The Program effect view "
                   "compares other windows with other comparisons (its own matched places, as a percent), so the "
                   "two can lean different ways: read each against its own band or threshold.")
    st.plotly_chart(charts.detectability(r), width="stretch")
    st.dataframe(pd.DataFrame([{"drop": f"{d['drop_pct']}%",
                                "would show by": d["by"] or (f"month {d['month']} after each start" if d["month"]
                                                             else f"not within {r['horizon']} months"),
                                "months after the start": str(d["month"]) if d["month"] else "—"}
                               for d in r["detectable"]]), hide_index=True, width="stretch")
    st.caption(f"Futures are simulated from the {r['before_months']} months before the start (about "
               f"{r['before_monthly']:.0f} incidents a month in the footprints), with the footprints' incidents thinned "
               f"by the drop. {r['calibration']['sentence']}")
    for note in r["left_out"]:
        if not any(note.startswith(f"{eid}:") for eid in future):  # said above, in words that fit
            st.warning(f"Left out: {note}")
