"""What city leaders read: the emerging map's legend, the Gi* chart of one place, the backtest's table and chart, and
a one-page briefing (HTML, printed to PDF from the browser) with the ranking, the map, the watch list, each measure's
caveats and the data's coverage."""

from __future__ import annotations

import html as htmllib

import h3
import pandas as pd
import plotly.graph_objects as go
import shapely
from scipy.stats import norm

from analytics import emerging, maps, warning
from analytics.hotspots import POPULATION_RULE
from analytics.hotspots_text import change_pct_text

#: what the ranking table's columns are called on the page and in the briefing
RANKING_COLUMNS = {
    "area_id": "neighborhood", "n": "count, last 12 months", "smoothed_rate": "smoothed rate per 10,000",
    "change_pct": "change % on the 12 months before", "emerging": "emerging category", "early_warning": "early warning",
    "persistence": "years in the top 10%", "flag": "change larger than chance?", "rate_per_10k": "per 10,000 residents",
}
#: the Emerging page's ranking table: short headings and widths (st.column_config as plain dicts), so every column
#: fits the 938-px content column of a 1,400-px window; the full heading (the briefing's) is in the help
RANKING_CONFIG = {
    "neighborhood": {"width": 165},
    "count, last 12 months": {"label": "count", "width": 60, "help": "incidents in the last 12 months of the period"},
    "smoothed rate per 10,000": {"label": "smoothed", "width": 70,
                                 "help": "empirical-Bayes smoothed rate per 10,000 residents"},
    "change % on the 12 months before": {"label": "change %", "width": 70,
                                         "help": "change % on the 12 months before"},
    "emerging category": {"label": "emerging", "width": 140, "help": "emerging hot spot category (map above)"},
    "early warning": {"width": 170, "help": "early-warning flag of the latest complete month or quarter"},
    "years in the top 10%": {"label": "top 10% years", "width": 90,
                             "help": "years among the busiest 10% of neighborhoods by count, of the whole years"},
    "change larger than chance?": {"label": "beyond chance?", "width": 110,
                                   "help": "is the change larger than chance? (Poisson e-test)"},
    "per 10,000 residents": {"label": "rate", "width": 60, "help": "incidents per 10,000 residents (2010 Census)"},
}
EMERGING_COLUMNS = {"place": "place", "neighborhood": "neighborhood", "category": "category",
                    "trend": "trend of the z-scores", "tau": "Kendall tau", "trend_p": "trend p-value",
                    "hot_slices": "hot slices", "cold_slices": "cold slices", "last_significant": "last significant",
                    "events": "events"}

#: each measure's caveat, for the page and the briefing
CAVEATS = {
    "count": "Counts are recorded incidents by reported date, only those with usable coordinates; KCPD's 2019-2021 "
             "neighborhood counts lose 18-24% of rows to missing coordinates.",
    "smoothed rate": f"{POPULATION_RULE} The smoothed rate (empirical Bayes) pulls small neighborhoods toward the "
                     "city rate, so one bad month does not top the list.",
    "change": "Change compares the last 12 months with the 12 before; the Poisson e-test says whether it is larger "
              "than chance (too few to tell under 10 incidents).",
    "emerging": "Gi* looks at a place and its neighbours together, within one slice: a quiet place next to busy "
                "ones can be a hot spot, and a steady place can turn 'diminishing' because others heat up. The "
                "Mann-Kendall trend assumes independent slices; month-to-month persistence makes trends look more "
                "certain than they are.",
    "early warning": f"The expected count is each neighborhood's own trend and season over the "
                     f"{warning.TRAINING['month']} months before; "
                     "flags are controlled for a 5% false-discovery rate over all neighborhoods, so about 1 in 20 "
                     "flags may be chance. A flag is a reason to look, not a finding.",
    "persistence": "Years among the busiest 10% of neighborhoods by count, over whole years with data.",
}
#: the "count" caveat of each source family (the default above is KCPD's): a GVA briefing must not carry KCPD's gaps
COUNT_CAVEATS = {
    "gva": "Counts are Gun Violence Archive incidents by incident date, placed in neighborhoods by their coordinates; "
           "GVA's city-centre placeholder points are counted citywide but never placed, and GVA misses incidents "
           "police count.",
    "kcpd17": "Counts are KCPD 2017 incidents from a third-party cleaned extract, a biased subset (49 of about 150 "
              "homicides): never a total.",
}


def caveats(source: str, slice_: str = "month") -> dict[str, str]:
    """Each measure's caveat for the chosen source and slice: KCPD's count caveat (reported date, the 2019-2021
    coordinates gap) only for KCPD sources; the early warning's training window and the trend's persistence in the
    slice's own words (a quarterly briefing trained on 12 quarters must not say "36 months")."""
    out = CAVEATS | {"count": COUNT_CAVEATS.get(source, CAVEATS["count"])}
    if slice_ != "month":
        out["emerging"] = out["emerging"].replace("month-to-month", f"{slice_}-to-{slice_}")
        out["early warning"] = out["early warning"].replace(
            f"{warning.TRAINING['month']} months", f"{warning.TRAINING[slice_]} {slice_}s")
    return out


def watch_sentence(watch: dict) -> str:
    """The watch list's result as one plain sentence: how many are flagged (None / 1 / k of the n tested), then how
    many more lie outside their usual range but within what chance gives across that many tests."""
    flagged, tested, outside = watch["flagged"], watch["tested"], watch["outside_not_flagged"]
    head = (f"None of the {tested} neighborhoods tested is flagged" if flagged == 0 else
            f"{flagged} of the {tested} neighborhoods tested {'is' if flagged == 1 else 'are'} flagged beyond "
            f"{'its' if flagged == 1 else 'their'} expected range")
    text = f"{head} (trained on {watch['training']}; {watch['fdr']:.0%} false-discovery rate)."
    if outside:
        chance = (1 - watch["interval"]) * tested
        text += (f" {outside} {'is' if outside == 1 else 'are'} outside {'its' if outside == 1 else 'their'} usual "
                 f"{watch['interval']:.0%} range but within what chance gives across {tested} (about {chance:.0f} "
                 "would be by chance alone).")
    return text


def geojson(con, result: dict, light: dict[str, dict] | None = None) -> dict:
    """The places of a result as GeoJSON (neighborhood polygons or hexagons, as light as every map's:
    maps.light_geometry), each with its category and colour: the map and the briefing's SVG draw the same shapes.
    `light`: area_id -> that light geometry of every neighborhood, when the caller holds it (the app builds it once
    per database version; building it again took 0.15 s of each new period on the Emerging page)."""
    table = result["table"].set_index("place")
    if result["unit"] == "hex":
        shapes = {c: maps.light_geometry(shapely.Polygon([(lon, lat) for lat, lon in h3.cell_to_boundary(c)]))
                  for c in table.index}
    elif light is not None:
        shapes = {a: light[a] for a in sorted(light) if a in table.index}
    else:
        shapes = {a: maps.light_geometry(shapely.from_wkt(wkt)) for a, wkt in con.execute(emerging.POLYGONS).fetchall()
                  if a in table.index}
    features = []
    for place, shape in shapes.items():
        row = table.loc[place]
        colour = emerging.CATEGORIES[row["category"]]
        features.append({"type": "Feature", "geometry": shape, "properties": {
            "place": place, "name": row["neighborhood"] or place, "category": row["category"], "colour": colour,
            "rgba": [int(colour[k:k + 2], 16) for k in (1, 3, 5)] + [200],
            "tooltip": f"{row['neighborhood'] or place}: {row['category']}"}})
    return {"type": "FeatureCollection", "features": features}


def legend_html(counts: dict[str, int], left_out: int = 0) -> str:
    """The map's legend (pydeck draws none): a swatch, the category and its number of places, for the categories
    present, in Esri's order; then the outline-only places left out of the test (`left_out`), if any."""
    entries = [(colour, name, counts[name]) for name, colour in emerging.CATEGORIES.items() if counts.get(name)]
    if left_out:
        entries.append(("transparent", "outline only: not tested (no data or no neighbours, never 0)", left_out))
    rows = "".join(maps.legend_row(maps.swatch_css(colour), f"{htmllib.escape(name)} ({n})")
                   for colour, name, n in entries)
    return f'<div style="font-size:0.85rem">{rows}</div>'


def z_chart(result: dict, place: str) -> go.Figure:
    """Gi* z-score of one place by slice, its significant slices marked (hot red, cold blue), with the unadjusted
    90% line for scale (significance itself is after the false-discovery-rate correction)."""
    z = result["z"].loc[place]
    row = result["table"].set_index("place").loc[place]
    fig = go.Figure(go.Scatter(x=list(z.index), y=z.to_numpy(), mode="lines+markers", name="Gi* z-score",
                               line={"color": "#444"}, marker={"size": 4}))
    crit = norm.ppf(1 - emerging.GI_ALPHA / 2)
    for y in (crit, -crit):
        fig.add_hline(y=y, line={"dash": "dash", "color": "#999"})
    p = "p < 0.001" if row["trend_p"] < 0.001 else f"p = {row['trend_p']:.3f}"
    fig.update_layout(title=f"{row['neighborhood'] or place}: {row['category']} (trend tau {row['tau']:+.2f}, {p})",
                      height=420, margin={"t": 50, "b": 40},
                      xaxis_title=result["slice"], yaxis_title="Gi* z-score (standard deviations)", showlegend=False)
    return fig


NOT_COMPUTABLE = "not computable"
NOTHING_PICKED = "nothing picked"


def backtest_table(result: dict) -> pd.DataFrame:
    """The backtest's per-year figures with readable column names (one row per year and ranking), as text: shares
    to one decimal, whole counts, "not computable" where the signals could not be computed and "nothing picked"
    where they picked no place (null, never 0)."""
    table = result["table"]

    def text(values, pattern: str) -> list[str]:
        return [(NOTHING_PICKED if not pd.isna(n) and n == 0 else NOT_COMPUTABLE) if pd.isna(v) else pattern.format(v)
                for v, n in zip(values, table["places"], strict=True)]

    return pd.DataFrame({
        "year": table["year"].astype(int).astype(str),
        "ranking made at the end of the year before": table["strategy"].map(result["strategies"]),
        "places picked": text(table["places"], "{:.0f}"),
        "share of the year's incidents (%)": text(table["share_pct"], "{:.1f}"),
        f"of the year's top {result['top']} caught": text(table["caught"], "{:.0f}"),
    })


def backtest_chart(result: dict) -> go.Figure:
    """Share of each year's incidents held by each ranking's picks, by year (a year not computable is a gap)."""
    fig = go.Figure()
    for key, label in result["strategies"].items():
        rows = result["table"][result["table"]["strategy"] == key]
        fig.add_trace(go.Scatter(x=rows["year"], y=rows["share_pct"], mode="lines+markers", name=label))
    # the y title is shorter than the plot is tall (about 7 px a character), so it is never cut at the top
    fig.update_layout(height=400, margin={"t": 40, "b": 110, "l": 70}, xaxis_title="year predicted",
                      yaxis_title="share of the year's incidents (%)", legend={"orientation": "h", "y": -0.3})
    fig.update_xaxes(dtick=1)
    return fig


def _average(value) -> str:
    """An average of counts as read: whole when it is whole ("20", not "20.0"), else one decimal; never "nan"."""
    if pd.isna(value):
        return NOT_COMPUTABLE
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def backtest_summary_table(result: dict) -> pd.DataFrame:
    """The backtest's averages over the years scored, with readable headings and counts as counts (the CLI's text
    output; its JSON keeps the machine columns)."""
    s = result["summary"]
    return pd.DataFrame({
        "ranking made at the end of the year before": s["strategy"].map(result["strategies"]),
        "places picked (average)": [_average(v) for v in s["places"]],
        "share of the year's incidents (%, average)": [NOT_COMPUTABLE if pd.isna(v) else f"{v:.1f}"
                                                       for v in s["share_pct"]],
        f"of the year's top {result['top']} caught (average)": [_average(v) for v in s["caught"]],
        "years scored": s["years"].astype(int).astype(str),
    })


def backtest_summary(result: dict) -> str:
    """The backtest's result in plain words, from its own numbers; years skipped or not computable are named."""
    s = result["summary"].set_index("strategy")
    if result["table"].empty:
        return "No year could be scored: " + "; ".join(f"{y}: {w}" for y, w in result["skipped"].items()) + "."
    years = f"{result['first']}-{result['last']}"
    naive, rate, sig = s.loc["count"], s.loc["smoothed_rate"], s.loc["signals"]
    same = s.loc["count_same_size"]
    text = (f"Over {years}, last year's top {result['top']} by count held on average {naive['share_pct']:.1f}% of "
            f"the next year's incidents and caught {naive['caught']:.1f} of its top {result['top']}. The top "
            f"{result['top']} by smoothed rate held {rate['share_pct']:.1f}% and caught {rate['caught']:.1f}. ")
    signals = result["table"][result["table"]["strategy"] == "signals"]
    computed, empty = int(signals["places"].notna().sum()), int((signals["places"] == 0).sum())
    if computed == 0:
        text += "The emerging or heating-up signals could not be computed for any year (no data, not zero)."
    elif sig["years"] == 0:
        text += "The emerging or heating-up signals picked no neighborhood in any year: there is nothing to score."
    else:
        none = f" (in {empty} of the {computed} years they picked none, and those years are not averaged)" if empty else ""
        text += (f"In the years they picked any{none}, the emerging or heating-up signals picked "
                 f"{sig['places']:.1f} neighborhoods a year, holding {sig['share_pct']:.1f}% (catching "
                 f"{sig['caught']:.1f}); as many of last year's busiest held {same['share_pct']:.1f}% (catching "
                 f"{same['caught']:.1f}). "
                 + ("So on this data the new signals found next year's busy places no better than last year's count "
                    "did." if sig["share_pct"] <= same["share_pct"] else
                    "So on this data the signals' picks held more of next year's incidents than as many of last "
                    "year's busiest."))
    gaps = [f"{y} skipped ({w})" for y, w in result.get("skipped", {}).items()]
    gaps += [f"{y}: signals not computable ({w})" for y, w in result.get("not_computable", {}).items()]
    return text + (f" {'; '.join(gaps)}." if gaps else "")


def bounds(geojson: dict) -> tuple[float, float, float, float]:
    """The box (minx, miny, maxx, maxy) around every place drawn: the map's first view fits it, so hexagons north
    of the city's own box (edge cells holding incidents) are not cut off."""
    shapes = [shapely.geometry.shape(f["geometry"]) for f in geojson["features"]]
    return tuple(shapely.total_bounds(shapes)) if shapes else (float("nan"),) * 4  # nothing drawn: no box


def svg_map(geojson: dict, width: int = 360, height: int = 300) -> str:
    """The emerging map as a static SVG (for the briefing and print): each place filled with its category's colour,
    named on hover."""
    shapes = [(shapely.geometry.shape(f["geometry"]), f["properties"]) for f in geojson["features"]]
    minx, miny, maxx, maxy = bounds(geojson)
    parts = []
    for shape, props in shapes:
        svg = shape.svg(scale_factor=0.0003, fill_color=props["colour"], opacity=0.95)
        parts.append(f"<g><title>{htmllib.escape(props['name'])}: {htmllib.escape(props['category'])}</title>{svg}</g>")
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="{minx} {-maxy} {maxx - minx} {maxy - miny}" '
            f'width="{width}" height="{height}" preserveAspectRatio="xMidYMid meet">'
            f'<g transform="scale(1,-1)">{"".join(parts)}</g></svg>')


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and value != value):  # NaN: blank, never "nan"
        return "—"
    return htmllib.escape(f"{value:,.1f}" if isinstance(value, float) else f"{value:,}" if isinstance(value, int)
                          else str(value))


def ranking_rows(ranking: pd.DataFrame, n: int | None = 12) -> pd.DataFrame:
    """The top of the ranking by count (all of it with n=None) with readable columns, persistence as 'k of N' and
    blanks as '—' (never None or nan on screen)."""
    top = (ranking if n is None else ranking.head(n)).copy()
    top["persistence"] = [("—" if y != y else f"{int(y)} of {int(of)}")
                          for y, of in zip(top["persistence_years"], top["persistence_of"], strict=True)]
    top["change_pct"] = [change_pct_text(p, f) for p, f in zip(top["change_pct"], top["flag"], strict=True)]
    top["flag"] = top["flag"].fillna("no data")
    return top[list(RANKING_COLUMNS)].rename(columns=RANKING_COLUMNS)


def emerging_rows(result: dict) -> pd.DataFrame:
    """The emerging table for the page: places in Esri's category order (no pattern last), busiest first, with
    readable columns; hexagons keep their id and the neighborhood holding their centre."""
    order = {c: k for k, c in enumerate(emerging.CATEGORIES)}
    table = result["table"].assign(_order=result["table"]["category"].map(order))
    table = table.sort_values(["_order", "events"], ascending=[True, False])
    columns = dict(EMERGING_COLUMNS) if result["unit"] == "hex" else {
        k: v for k, v in EMERGING_COLUMNS.items() if k != "place"}
    out = table[list(columns)].rename(columns=columns)
    out["neighborhood"] = out["neighborhood"].replace("", "outside every neighborhood")
    return out.round({"Kendall tau": 3})


def html(result: dict, geojson: dict, watch: dict | None, ranking: pd.DataFrame, labels: dict, coverage: list[str],
         warning_note: str | None = None) -> str:
    """A self-contained one-page briefing (US Letter or A4, printed from the browser): ranking, emerging map with
    legend, watch list, caveats and coverage. `labels`: source, category and source caveat in words."""
    esc = htmllib.escape
    top = ranking_rows(ranking)
    head = "".join(f"<th>{esc(c)}</th>" for c in top.columns)
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in top.itertuples(index=False))
    if watch is None:
        watch_html = f"<p>{esc(warning_note or 'No early warning for this source.')}</p>"
    else:
        lines = "".join(f"<li>{esc(line)}</li>" for line in watch["watch"]) or "<li>No neighborhood is beyond its " \
            "expected range.</li>"
        watch_html = f"<p>{esc(watch['target'])}: {esc(watch_sentence(watch))}</p><ul>{lines}</ul>"
    caveat_items = "".join(f"<li><b>{esc(k)}</b>: {esc(v)}</li>" for k, v in
                           caveats(labels.get("source_id", ""), result["slice"]).items())
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Briefing: {esc(labels['category'])}</title>
<style>@page{{size:auto;margin:10mm}} body{{font-family:sans-serif;font-size:8.5pt;margin:0 auto;max-width:190mm}}
h1{{font-size:13pt;margin:0 0 2px}} h2{{font-size:10pt;margin:6px 0 2px}} p,ul{{margin:2px 0}} li{{margin:1px 0}}
table{{border-collapse:collapse;width:100%}} td,th{{border:1px solid #ccc;padding:1px 3px;text-align:left}}
.grid{{display:grid;grid-template-columns:62mm 1fr;gap:6mm}} .small{{font-size:7.5pt;color:#333}}
.legend div{{font-size:7.5pt !important}}</style></head><body>
<h1>Where is it heating up? {esc(labels['category'])}, {esc(result['start'])} to {esc(result['end'])}</h1>
<p>{esc(labels['source'])} · {len(result['slices'])} {esc(result['slice'])}s · {result['places']} places ·
{esc(str(result['unit']))}s</p>
<h2>Ranking: busiest neighborhoods, with their components (no combined score)</h2>
<table><tr>{head}</tr>{body}</table>
<div class="grid"><div><h2>Emerging hot spots</h2>{svg_map(geojson, 230, 200)}
<div class="legend">{legend_html(result['counts_by_category'])}</div></div>
<div><h2>Watch list (early warning)</h2>{watch_html}
<h2>Caveats</h2><ul class="small">{caveat_items}<li><b>source</b>: {esc(labels['caveat'])}</li></ul>
<h2>Coverage</h2><p class="small">{esc('; '.join(coverage))}. Months without data are no data, never zero.</p>
<p class="small">Emerging: Gi* per {esc(result['slice'])} ({int(100 * result['thresholds']['gi_confidence'])}% after
the false-discovery-rate correction), Mann-Kendall trend at {int(100 * result['thresholds']['trend_confidence'])}%,
{int(100 * result['thresholds']['share_of_slices'])}% of slices for persistent, intensifying, diminishing and historical.
Early warning: GLM on the {warning.TRAINING[result['slice']]} {esc(result['slice'])}s before, 95% range,
{int(100 * warning.FDR)}% false-discovery rate. Backtest: docs/backtest.md.</p></div></div></body></html>"""



def labels_and_coverage(con, source: str, category: str) -> tuple[dict, list[str]]:
    """The source's and category's names and the source's caveat, and its coverage as ranges by status, for the
    briefing's header and footer."""
    from analytics import filters, queries
    from kcvt import status

    info = queries.sources(con).set_index("source_id").loc[source]
    labels = {"source": info["label"], "caveat": info["caveat"], "source_id": source,
              "category": queries.categories(con).set_index("category_id").loc[category, "label"]}
    ranges = filters.coverage_ranges(status.coverage_table(con), source)
    return labels, [f"{st}: {', '.join(r)}" for st, r in ranges.items() if r]


def build(con, f, slice_: str = "month", unit: str = "neighborhood", permutations: int = 0) -> str:
    """The briefing for a filter, computed afresh (the page builds it from its cached pieces the same way)."""
    from analytics import backtest
    from analytics.queries import BadQuery

    result = emerging.emerging(con, f, slice_, unit, permutations)
    try:
        watch, note = warning.watchlist(con, f.source, f.category, slice_, by=f.end), None
    except BadQuery as exc:
        watch, note = None, f"No early warning: {exc}"
    labels, coverage = labels_and_coverage(con, f.source, f.category)
    shared = result if (unit, permutations) == ("neighborhood", 0) else None  # the ranking's own kind of result
    ranking = backtest.ranking(con, f, slice_, watch, shared)
    return html(result, geojson(con, result), watch, ranking, labels, coverage, note)
