"""Tables and the one-page HTML report of an evaluation (print to PDF from the browser)."""

from __future__ import annotations

import html as htmllib

import pandas as pd
import shapely

from analytics import charts, evaluation

#: what each WDD part compares, in words
TEST_NAMES = {"local": "Footprint against comparison", "displacement": "Buffer against comparison buffer (displacement)",
              "total": "Both together (total)"}
#: which neighborhoods make up each region in an evaluation result
REGION_AREAS = {"footprint": "footprint_areas", "buffer": "buffer_areas", "comparison": "comparison_areas",
                "comparison buffer": "comparison_buffer_areas"}


def _pct_text(value: float | None) -> str:
    return "no count before" if value is None else f"{value:+.0f}%"


def windows_text(result: dict) -> str:
    """The two windows in words (the canvass month is left out of both)."""
    b, a = result["windows"]["before"], result["windows"]["after"]
    return (f"Before: {b[0]} to {b[-1]} ({len(b)} months); after: {a[0]} to {a[-1]} ({len(a)} months); the canvass "
            f"month ({result['date'][:7]}) is in neither.")


def counts_table(result: dict) -> pd.DataFrame:
    """Counts in each region before and after, with the change in percent (of the monthly rate when the windows
    differ in length)."""
    nb, na = len(result["windows"]["before"]), len(result["windows"]["after"])
    rows = []
    for k, v in result["counts"].items():
        pct = None if v["before"] == 0 else 100 * (v["after"] / na - v["before"] / nb) / (v["before"] / nb)
        row = {"area": k, "neighborhoods": len(result.get(REGION_AREAS[k], [])), "before": v["before"],
               "after": v["after"]}
        if nb == na:
            row["change"] = v["after"] - v["before"]
        row["change %" if nb == na else "change % (per month)"] = _pct_text(pct)
        rows.append(row)
    return pd.DataFrame(rows)


def tests_table(result: dict) -> pd.DataFrame:
    """The WDD test's parts; the estimates are counts per month (the windows' lengths weighed), labelled so."""
    nb = len(result["windows"]["before"])
    level = {"local": "footprint", "displacement": "buffer", "total": None}
    rows = []
    for part, r in result["wdd"].items():
        base = None
        if level[part]:
            base = result["counts"][level[part]]["before"] / nb
        else:
            base = (result["counts"]["footprint"]["before"] + result["counts"]["buffer"]["before"]) / nb
        undefined = r["z"] is None
        rows.append({"test": TEST_NAMES.get(part, part),
                     "difference (per month)": f"{r['estimate']:+.2f}",
                     "% of the level before": _pct_text(100 * r["estimate"] / base if base else None),
                     "standard error (per month)": f"{r['se']:.2f}",
                     "z-score": "undefined (all counts 0)" if undefined else f"{r['z']:+.2f}",
                     "90% interval (per month)": f"{r['ci90'][0]:+.1f} to {r['ci90'][1]:+.1f}"})
    return pd.DataFrame(rows)


def suggestions_table(result: dict) -> pd.DataFrame:
    """The neighborhoods most like the footprint in the before window, and every one actually used, marked with
    what it is used as."""
    used = {a: "comparison" for a in result["comparison_areas"]}
    used |= {a: "comparison buffer" for a in result["comparison_buffer_areas"]}
    matched_to = {c: a for a, c in result.get("comparison_matches", {}).items()}
    rows = []
    for s in result["suggested_comparisons"]:
        role = used.get(s["area"], "not used")
        if s["area"] in matched_to:
            role += f" (matched to {matched_to[s['area']]})"
        rows.append({"similarity rank": s["rank"], "neighborhood": s["area"],
                     "score (lower = closer)": f"{s['score']:.3f}", "per month before": f"{s['before_mean']:.1f}",
                     "used as": role})
    return pd.DataFrame(rows)


def placebo_text(result: dict) -> str:
    """The placebo checks in words (they set the threshold a change must pass)."""
    plc, z = result["placebo"], result["wdd"]["local"]["z"]
    threshold = (f"A change is claimed only beyond a z-score of ±{plc['critical_z']:.2f} (the larger of the usual 90% "
                 "threshold and the placebos' 90th percentile).")
    n = len(plc["fake_dates"]) + len(plc["other_areas"])
    if not n:
        return f"No placebo checks were run. {threshold}"
    found = []
    if plc["share_beyond_nominal"] is not None:
        found.append(f"{100 * plc['share_beyond_nominal']:.0f}% were beyond the usual 90% threshold")
    if plc.get("share_as_large") is not None and z is not None:
        found.append(f"{100 * plc['share_as_large']:.0f}% moved at least as far as this canvass (z-score {z:+.2f})")
    return (f"Placebo checks: the same test at {len(plc['fake_dates'])} earlier dates and in {len(plc['other_areas'])} "
            f"other neighborhoods, where no canvass took place{': ' if found else ''}{' and '.join(found)}. {threshold}")


def regions_text(result: dict) -> str:
    """Which neighborhoods make up each region, and the other canvass sites left out of the comparisons."""
    parts = [f"{k.capitalize()}: {', '.join(result.get(v, [])) or 'none'}." for k, v in REGION_AREAS.items()]
    left = result.get("left_out", {})
    if left:
        parts.append("Left out of the comparisons as other canvass sites: "
                     + "; ".join(f"{', '.join(areas)} ({name})" for name, areas in left.items()) + ".")
    return " ".join(parts)


def registry_table(events: list) -> pd.DataFrame:
    """The canvass registry for reading: human column names, and words where the file has blanks or flags."""
    def where(e) -> str:
        if e.footprint_type == "corridor":
            return f"corridor, {e.corridor_width_m:g} m each side"
        if e.footprint_type == "point":
            return f"circle of {e.radius_m:g} m"
        return "named neighborhoods"

    return pd.DataFrame([{
        "Event id": e.event_id, "Name": e.name, "Date": str(e.start_date) if e.start_date else "not published",
        "Date confirmed": "yes" if e.date_confirmed else "no", "Organisations": e.organisations,
        "Footprint": where(e), "Neighborhoods": ", ".join(e.neighborhoods),
        "Can be evaluated": "yes" if e.evaluable else "needs a date", "Notes": e.notes, "Source": e.source,
    } for e in events], columns=["Event id", "Name", "Date", "Date confirmed", "Organisations", "Footprint",
                                 "Neighborhoods", "Can be evaluated", "Notes", "Source"])


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
