"""Citywide trends: monthly counts per category for one source, with coverage shown honestly."""

from datetime import date

import streamlit as st

from app import sidebar, web

key = web.db_key()
coverage = web.coverage_table(key)
all_sources = web.sources(key)
monthly_ids = set(coverage.loc[coverage.grain == "month", "source_id"])

st.title("Kansas City violence: citywide trends")
st.caption("Public KCPD, Gun Violence Archive and FBI data. Sources describe overlapping events, so they are never "
           "added together: pick one.")

sel = sidebar.filter_sidebar(key, "", [s for s in all_sources.source_id if s in monthly_ids], "kcpd_nbhd",
                             multi_category=True, area="city")
sidebar.check(sel)
source, chosen, start, end, area, cat_labels = sel.source, sel.categories, sel.start, sel.end, sel.area, sel.category_labels

src = all_sources.set_index("source_id").loc[source]
ranges = web.coverage_ranges(key, source)
banner = f"**Coverage of {src.label}:** " + "; ".join(f"{k} {', '.join(v)}" for k, v in ranges.items() if v)
st.info(banner + f"  \nUnit: {src.unit}.", icon=":material/calendar_month:")
st.warning(src.caveat, icon=":material/info:")

series = {cat_labels[c]: web.monthly(key, source, c, start, end, area) for c in chosen}
totals = {c: web.total(key, source, c, start, end, area) for c in chosen}

st.markdown(f"**Totals, {start:%d %b %Y} to {end:%d %b %Y}** ({src.unit})")
per_row = 4
cols = [col for i in range(0, len(chosen), per_row) for col in st.columns(per_row)]  # every category, 4 to a row
for col, c in zip(cols, chosen, strict=False):
    t = totals[c]
    value = "no data" if t["n"] is None else f"{t['n']:,}"
    col.metric(cat_labels[c], value, help=f"{t['months_with_data']} of {t['months']} months in the range have data")
    if t["missing_months"] and t["n"] is not None:
        col.caption(f"Excludes {len(t['missing_months'])} month{'s' if len(t['missing_months']) != 1 else ''} with no "
                    "data.")

yoy = web.latest_two_years(key, source, chosen[0], area)
if yoy and yoy["latest"] is not None and yoy["prior"] is not None:
    sentence = web.change_sentence(int(yoy["prior"]), int(yoy["latest"]))
    st.markdown(f"**{cat_labels[chosen[0]]}, {yoy['latest_year']} against {yoy['prior_year']}** "
                f"(the latest fully covered year): {sentence}.")
else:
    st.caption("No two consecutive fully covered years for a year-on-year comparison with this source.")

where = area or "Kansas City"
st.plotly_chart(web.monthly_chart(key, source, tuple((c, cat_labels[c]) for c in chosen), start, end, area,
                                  f"{where}: monthly counts, {src.label}"), width="stretch")
st.caption("Grey bands: months this source does not cover (no data, not zero). Open circles: partial months.")

table = web.monthly_table(series)
with st.expander("Monthly numbers"):
    st.dataframe(table, hide_index=True, width="stretch")
web.download("Download these monthly counts (CSV)", web.csv_bytes(table), file_name=f"kc_{source}_{start}_{end}.csv",
             mime="text/csv", key="download")

st.subheader("Official annual series (FBI UCR)")
st.plotly_chart(web.ucr_chart(key, (("homicide", "Murder"), ("aggravated_assault", "Aggravated assault")),
                              date(2006, 1, 1), date(2018, 12, 31),
                              "Kansas City, rates per 100,000 residents (FBI UCR Table 8)"), width="stretch")
st.caption("Kansas City is missing from the FBI's 2007 table: that year is a gap, not a zero.")
