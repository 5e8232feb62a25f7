"""Data and sources: what is loaded, what each source covers, what was rejected and why."""

import streamlit as st

from analytics import charts
from app import web

key = web.db_key()
info = web.summary(key)
coverage = web.coverage_table(key)

st.title("Data and sources")
st.markdown(
    "Every number in this app is counted from the rows listed here. KCPD publishes one row per person involved, "
    "so incidents are counted by distinct report number. A month a source does not cover is **no data**, never zero."
)

st.subheader("Sources")
rows = [
    {"source id": s["source"], "name": s["label"], "kind": s["kind"].replace("_", " "), "unit": s["unit"],
     "incidents": s["incidents"] or None,
     "covered": "; ".join(f"{k}: {', '.join(v)}" for k, v in s["coverage"].items() if v),
     "caveat": s["caveat"]}
    for s in info["sources"]
]
st.dataframe(rows, hide_index=True, width="stretch")
for s in info["sources"]:
    if s["source"] == "kcpd17":  # the one source whose caveat changes every total drawn from it
        st.warning(f"**{s['label']}** (`{s['source']}`): {s['caveat']}")

st.subheader("Coverage by month")
st.plotly_chart(charts.coverage_heatmap(coverage), width="stretch")

st.subheader("Categories")
cats = web.categories(key, None)
st.dataframe(cats[["category_id", "label", "kind", "definition"]], hide_index=True, width="stretch")

st.subheader("Load log")
st.dataframe(info["loads"], hide_index=True, width="stretch",
             column_order=["load_id", "file", "source_id", "rows_read", "rows_loaded", "rows_rejected", "incidents",
                           "loaded_at", "message", "sha256"])
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
    st.write({reason: n for reason, n in info["rejects_by_reason"].items()})
    rej = web.rejects(key)
    st.dataframe(rej, hide_index=True, width="stretch")
    st.download_button("Download rejected rows (CSV)", web.csv_bytes(rej), file_name="rejected_rows.csv",
                       mime="text/csv", key="download_rejects")
else:
    st.write("No rows were rejected.")

with st.expander("Provenance of every bundled file"):
    st.markdown(web.provenance())
