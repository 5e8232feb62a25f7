"""Tables and the one-page HTML report of an evaluation (print to PDF from the browser)."""

from __future__ import annotations

import html as htmllib

import pandas as pd
import shapely

from analytics import charts, evaluation


def counts_table(result: dict) -> pd.DataFrame:
    """Before and after counts per region, with the raw change: the numbers behind the test, so a reader can redo
    it."""
    rows = [{"area": k, "before": v["before"], "after": v["after"], "change": v["after"] - v["before"]}
            for k, v in result["counts"].items()]
    return pd.DataFrame(rows)


def tests_table(result: dict) -> pd.DataFrame:
    """The WDD parts (local, displacement, total) per month of window, with the 90% interval Wheeler & Ratcliffe
    report; z is blank where the counts are all 0."""
    rows = []
    for part, r in result["wdd"].items():
        rows.append({"WDD part": part, "estimate (per month)": round(r["estimate"], 2), "SE": round(r["se"], 2),
                     "z": None if r["z"] is None else round(r["z"], 2),
                     "90% CI": f"{r['ci90'][0]:+.1f} to {r['ci90'][1]:+.1f}"})
    return pd.DataFrame(rows)


def _svg_map(shapes: dict) -> str:
    colours = {"comparison buffer": "#7f8c8d", "comparison": "#2c3e50", "buffer": "#e67e22", "footprint": "#c0392b",
               "canvass": "#c0392b"}
    geoms = {k: shapely.geometry.shape(v) for k, v in shapes.items()}
    minx, miny, maxx, maxy = shapely.union_all(list(geoms.values())).bounds
    parts = []
    for name, g in geoms.items():
        svg = g.svg(scale_factor=0.0004, fill_color=colours.get(name, "#999"), opacity=0.45)
        parts.append(f"<g><title>{htmllib.escape(name)}</title>{svg}</g>")
    w, h = maxx - minx, maxy - miny
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="{minx} {-maxy} {w} {h}" width="100%" height="320">'
            f'<g transform="scale(1,-1)">{"".join(parts)}</g></svg>')


def html(result: dict, event) -> str:
    """A self-contained page: map, counts, tests, the result in plain words, caveats."""
    esc = htmllib.escape
    figs = [charts.region_lines(result), charts.cumulative_band(evaluation.cumulative_difference(result))]
    fig_html = "".join(f.to_html(full_html=False, include_plotlyjs=(i == 0)) for i, f in enumerate(figs))
    legend = ", ".join(f"{k}" for k in result["shapes"])
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{esc(result['name'])}: evaluation</title>
<style>body{{font-family:sans-serif;max-width:900px;margin:auto}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px}} .verdict{{background:#f6f6f6;padding:8px;border-left:4px solid #c0392b}}
@media print{{.noprint{{display:none}}}}</style></head><body>
<h1>{esc(result['name'])}</h1>
<p>{esc(str(event.start_date))} · {esc(event.organisations)} · unit: {esc(result['unit'])} · source:
{esc(result['source'])} · measure: {esc(result['measure'])} · windows: {len(result['windows']['before'])} months before,
{len(result['windows']['after'])} after</p>
<div class="verdict"><p><b>Footprint:</b> {esc(result['verdict'])}</p><p><b>Displacement:</b>
{esc(result['displacement'])}</p></div>
<h2>Map</h2>{_svg_map(result['shapes'])}<p>Regions: {esc(legend)}.</p>
<h2>Counts</h2>{counts_table(result).to_html(index=False, escape=True)}
<h2>Weighted displacement difference test</h2>{tests_table(result).to_html(index=False, escape=True)}
<p>Poisson e-test on the footprint's raw change: {esc(result['etest']['sentence'])}.</p>
<h2>Charts</h2>{fig_html}
<h2>Caveats</h2><ul>{"".join(f"<li>{esc(c)}</li>" for c in result["caveats"])}</ul>
<p>Footprint: {esc(', '.join(result['footprint_areas']))}. Comparison: {esc(', '.join(result['comparison_areas']))}.
Source of the event: {esc(event.source)}</p></body></html>"""
