"""Programs and synthetic control: the methods side by side, program-level effects, and when we can tell."""

import datetime

import pandas as pd
import streamlit as st

from analytics import methods, program, registry
from analytics import program_charts as charts
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


def pct(value) -> str:
    """A percent for the page ('—' when there is none)."""
    return "—" if value is None or pd.isna(value) else f"{value:+.1f}%"


def event_label(event_id: str) -> str:
    e = by_id[event_id]
    when = "no date" if e.start_date is None else f"{e.start_date}" + ("" if e.date_confirmed else ", unconfirmed")
    return f"{e.name} ({when})"


view = st.radio("View", ["Methods side by side", "Program effect", "When can we tell?"], horizontal=True,
                key="pg_view")

if view == "Methods side by side":
    chosen = st.selectbox("Event", list(by_id), format_func=event_label, key="pg_event")
    if not by_id[chosen].evaluable:
        st.warning("This event has no date in its source, so it cannot be evaluated yet. An editor can add the date on "
                   "the Outreach outcomes page.")
        st.stop()
    with st.spinner("Fitting the synthetic comparison and running placebos (a few seconds)…"):
        r = web.compare_methods(key, rkey, chosen)
    if r["status"] != "evaluated":
        st.warning(r["message"])
        st.stop()
    nb, na = r["windows_months"]["before"], r["windows_months"]["after"]
    st.markdown(f"**Do the methods agree?** {r['agreement']}")
    st.dataframe(methods.table(r), hide_index=True, width="stretch")
    st.caption(f"Footprint: {', '.join(r['footprint_areas'])}. Windows: the {nb} months before the start month "
               f"({r['windows']['before'][0]} to {r['windows']['before'][-1]}) and the {na} after it "
               f"({r['windows']['after'][0]} to {r['windows']['after'][-1]}); the start month itself is left out.")
    for m in r["methods"]:
        st.markdown(f"- *{m['method']}*: {m['sentence']}")
    syn = r["synth"]
    if syn["status"] == "evaluated":
        st.subheader("Synthetic comparison")
        st.plotly_chart(charts.synth_lines(syn), width="stretch")
        st.caption(f"{syn['fit']['sentence']} Band after the start: {syn['intervals']}.")
        c1, c2 = st.columns(2)
        c1.plotly_chart(charts.donor_weights(syn), width="stretch")
        c2.plotly_chart(charts.placebo_ratios(syn), width="stretch")
        st.dataframe(pd.DataFrame(syn["donors"]).rename(columns={"weight": "weight (share of the synthetic)"}),
                     hide_index=True, width="stretch")
        st.caption(f"Donors exclude the footprint, its 400 m buffer and the places of other registry events active "
                   f"in these windows ({len(syn['busy_places'])} neighborhoods), and any averaging under 4 incidents a "
                   "month before the start.")
    else:
        st.info(f"Synthetic comparison: {syn['message']}")
    st.subheader("Calibration that can be checked")
    for m in r["methods"]:
        if m["calibration"]:
            st.markdown(f"- *{m['calibration']['method']}*: {m['calibration']['sentence']}")
    with st.expander("Caveats of this measure"):
        for c in syn.get("caveats", []):
            st.markdown(f"- {c}")

elif view == "Program effect":
    pid = st.selectbox("Program", list(prog_names), format_func=prog_names.get, key="pg_program")
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
    c1, c2 = st.columns(2)
    c1.plotly_chart(charts.contributions(r), width="stretch")
    c2.plotly_chart(charts.placebo_programs(r), width="stretch")
    st.dataframe(pd.DataFrame([{"event": f["event"], "start": f["start"], "neighborhoods": ", ".join(f["areas"]),
                                "per month before": f["before_monthly"], "own change": pct(f["own_pct"]),
                                "pooled without it": pct(f["pooled_without_pct"]),
                                "share of counts": f"{f['share_pct']:.0f}%"} for f in r["footprints"]]),
                 hide_index=True, width="stretch")
    st.caption("No interval is shown for a single footprint: errors clustered on one place are unreliable, so any "
               "claim rests on the pooled estimate and the placebo programs.")
    for note in r["left_out"]:
        st.warning(f"Left out: {note}")

else:
    pid = st.selectbox("Program", list(prog_names), format_func=prog_names.get, key="pg_track_program",
                       index=list(prog_names).index("council-2026") if "council-2026" in prog_names else 0)
    members = [e for e in events if e.program == pid]
    dated = [e for e in members if e.evaluable]
    if not dated:
        st.warning("No event of this program has a date yet.")
        st.stop()
    start = min(e.start_date for e in dated)
    if all(e.date_confirmed for e in dated):
        st.info(f"Start: {start:%d %B %Y} (confirmed).")
    else:
        st.info(f"Start: {start:%B %Y} — the month the ordinance passed. The start of outreach is not published, so "
                "months are counted from here until an editor sets it.")
    if access.unlock_form("programs"):
        with st.form("program_start"):
            day = st.date_input("Start of the work (saved to every event of the program)", value=start,
                                min_value=datetime.date(2015, 1, 1), key="pg_start")
            confirmed = st.checkbox("A source confirms this date", value=True, key="pg_start_confirmed")
            if st.form_submit_button("Save the start date"):
                try:
                    changed = program.set_start(pid, day, confirmed)
                    st.session_state["programs_flash"] = f"Start set to {day} for {len(changed)} event(s)."
                    st.rerun()
                except (registry.RegistryError, ValueError) as exc:
                    st.error(f"Not saved: {exc}")
    with st.spinner("Calibrating on placebo programs and simulating futures…"):
        r = web.tracking(key, rkey, pid, ())
    if r["status"] != "tracked":
        st.warning(r["message"])
        st.stop()
    st.markdown(f"### {r['answer']}")
    if r["tracking"]:
        st.plotly_chart(charts.tracking(r), width="stretch")
        last = r["tracking"][-1]
        st.caption(f"After {last['k']} months ({last['month']}): {last['actual']:,} incidents against "
                   f"{last['expected']:,.0f} expected from the matched comparison neighborhoods and the footprints' "
                   f"usual gap to them in the {r['before_months']} months before the start.")
    st.plotly_chart(charts.detectability(r), width="stretch")
    st.dataframe(pd.DataFrame([{"drop": f"{d['drop_pct']}%",
                                "would show by": d["by"] or f"not within {r['horizon']} months",
                                "months after the start": str(d["month"]) if d["month"] else "—"}
                               for d in r["detectable"]]), hide_index=True, width="stretch")
    st.caption(f"Futures are simulated from the {r['before_months']} months before the start (about "
               f"{r['before_monthly']:.0f} incidents a month in the footprints), with the footprints' incidents thinned "
               f"by the drop. {r['calibration']['sentence']}")
    for note in r["left_out"]:
        st.warning(f"Left out: {note}")
