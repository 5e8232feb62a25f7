"""Data and sources: what is loaded, what each source covers, what was rejected and why."""

import streamlit as st

from analytics import briefing
from app import web

key = web.db_key()
info = web.summary(key)

st.title("Data and sources")
st.markdown(
    "Every number in this app is counted from the rows listed here. KCPD publishes one row per person involved, "
    "so incidents are counted by distinct report number. A month a source does not cover is **no data**, never zero."
)

st.subheader("Sources")
st.table([{"source (its id in links and the CLI)": f"{s['label']} ({s['source']})",
           "kind": s["kind"].replace("_", " "), "unit": s["unit"],
           "incidents": "counts, not incidents" if s["incidents"] is None else f"{s['incidents']:,}",
           "covered": "; ".join(f"{k}: {', '.join(v)}" for k, v in s["coverage"].items() if v) or "no coverage",
           "caveat": s["caveat"]} for s in info["sources"]])
for s in info["sources"]:
    if s["source"] == "kcpd17":  # the one source whose caveat changes every total drawn from it
        st.warning(f"**{s['label']}** (`{s['source']}`): {s['caveat']}")

st.subheader("Coverage by month")
st.plotly_chart(web.coverage_chart(key), width="stretch")

st.subheader("Categories")
cats = web.categories(key, None)
st.table(cats[["category_id", "label", "kind", "definition"]].rename(
    columns={"category_id": "category id", "label": "name", "kind": "group"}))

st.subheader("Load log")
st.dataframe(web.load_log(key), hide_index=True, width="stretch",
             column_config={"load": st.column_config.NumberColumn(width=45),
                            "file": st.column_config.TextColumn(width=300, help="the file's name as loaded"),
                            "source": st.column_config.TextColumn(width=270),
                            "rows read": st.column_config.NumberColumn("read", width=65, format="localized",
                                                                       help="rows read from the file"),
                            "rows loaded": st.column_config.NumberColumn("loaded", width=65, format="localized",
                                                                         help="rows loaded"),
                            "rows rejected": st.column_config.NumberColumn("rejected", width=65, format="localized",
                                                                           help="rows rejected (listed below)"),
                            "incidents": st.column_config.TextColumn(width=120, help=(
                                "distinct incidents the file added; 'counts by area': a source of counts by area "
                                "has no incidents to count")),
                            "loaded at": st.column_config.TextColumn(width=100),
                            "notes": st.column_config.TextColumn(width=120),
                            "SHA-256": st.column_config.TextColumn(width=80)})
st.subheader("Keeping KCPD data fresh")
refreshed = web.refresh_state()
if refreshed:
    st.dataframe([{"year": v.get("year"), "dataset": k, "last refreshed": v.get("last_success"),
                   "rows in last fetch": v.get("rows"), "watermark": v.get("watermark")}
                  for k, v in sorted(refreshed.items())], hide_index=True, width="stretch")
else:
    st.write("No refresh from the city's open-data portal has run on this copy yet.")
st.markdown("Fetch the yearly *KCPD Crime Data* datasets from the city's portal (only what changed since the last "
            "refresh; a change of more than 10% in a year's count stops and asks for `--force`):")
st.code("python -m etl refresh --since 2019          # or --dry-run first", language="bash")
st.markdown("Offline, add a year of city data you downloaded from data.kcmo.org, or a Gun Violence Archive export:")
st.code("python -m etl load KCPD_Crime_Data_2023.csv --source kcpd\npython -m etl load gva_export.csv --source gva",
        language="bash")

st.subheader(f"Rejected rows ({info['rejected_rows']:,})")
if info["rejected_rows"]:
    st.table([{"reason": reason, "rows": f"{n:,}"} for reason, n in info["rejects_by_reason"].items()])
    shown = web.rejects(key, 500)
    st.caption(f"The first {len(shown):,} of {info['rejected_rows']:,} rejected rows; the download holds all of them.")
    st.dataframe(shown, hide_index=True, width="stretch",
                 column_config={"reason": st.column_config.TextColumn(width=240),
                                "file": st.column_config.TextColumn(width=290),
                                "load": st.column_config.NumberColumn(width=45),
                                "row in file": st.column_config.NumberColumn("row", width=60, help="row in the file"),
                                "row as read": st.column_config.TextColumn(width="large", help=(
                                    "the row exactly as read; the download holds every column in full"))})
    web.download("Download every rejected row (CSV)", web.csv_bytes(web.rejects(key)), file_name="rejected_rows.csv",
                 mime="text/csv", key="download_rejects")
else:
    st.write("No rows were rejected.")

with st.expander("Provenance of every bundled file"):
    st.markdown(web.provenance())

st.subheader("Did the ranking predict anything? A backtest, 2017-2025")
st.markdown("For each year, the neighborhoods each ranking would have picked at the end of the year before, scored on "
            "what happened next: the share of the year's KCPD crimes against persons they held, and how many of the "
            "year's 20 busiest they caught. The naive baseline is last year's top 20 by count. Method and caveats: "
            "`docs/backtest.md`.")
with st.spinner("Scoring nine years of rankings…"):
    tested = web.backtest(key, "kcpd_nbhd", "persons")
st.markdown(briefing.backtest_summary(tested))
st.plotly_chart(briefing.backtest_chart(tested), width="stretch")
st.table(briefing.backtest_table(tested))
