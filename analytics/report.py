"""Tables and the one-page HTML report of an evaluation (print to PDF from the browser)."""

from __future__ import annotations

import html as htmllib
import math

import pandas as pd
import shapely

from analytics import charts, maps
from analytics.evaluation import UNIT_LABELS
from analytics.evaluation_text import FEW, etest_line

#: what each WDD part compares, in words
TEST_NAMES = {"local": "Footprint against comparison", "displacement": "Buffer against comparison buffer (displacement)",
              "total": "Both together (total)"}
#: which neighborhoods make up each region in an evaluation result
REGION_AREAS = {"footprint": "footprint_areas", "buffer": "buffer_areas", "comparison": "comparison_areas",
                "comparison buffer": "comparison_buffer_areas"}


def _pct_text(value: float | None) -> str:
    """A signed percent; under 1% in size with one decimal, so a small change never reads "-0%"."""
    if value is None:
        return "no count before"
    return f"{value:+.1f}%" if abs(value) < 1 else f"{value:+.0f}%"


def windows_text(result: dict) -> str:
    """The two windows in words (the canvass month is left out of both)."""
    b, a = result["windows"]["before"], result["windows"]["after"]
    nb, na = len(b), len(a)
    return (f"Before: {b[0]} to {b[-1]} ({nb} month{'s' * (nb != 1)}); after: {a[0]} to {a[-1]} ({na} "
            f"month{'s' * (na != 1)}); the canvass month ({result['date'][:7]}) is in neither.")


def has_counts(result: dict) -> bool:
    """Whether any month of the result has a count to chart (a source without data for the windows has none: an
    empty chart would look like a chart of zeros)."""
    return any(v is not None for m in result.get("monthly", []) for k, v in m.items() if k != "month")


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
        else:  # windows of different lengths: the percent is of the monthly rates, shown beside it
            row["before a month"], row["after a month"] = f"{v['before'] / nb:.1f}", f"{v['after'] / na:.1f}"
        row["change %" if nb == na else "change % (per month)"] = (
            f"too few ({v['before']} before)" if 0 < v["before"] < FEW else _pct_text(pct))
        rows.append(row)
    return pd.DataFrame(rows)


def tests_table(result: dict) -> pd.DataFrame:
    """The WDD test's parts; the estimates are counts per month (the windows' lengths weighed), labelled so. Both
    intervals are shown: the textbook one from counting noise, and the one at the placebo-calibrated threshold the
    verdicts use (the paragraph quotes the latter)."""
    nb = len(result["windows"]["before"])
    critical = result["placebo"]["critical_z"]
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
                     "90% interval, counting noise only (per month)": f"{r['ci90'][0]:+.1f} to {r['ci90'][1]:+.1f}",
                     f"90% interval at the placebo threshold, z ±{critical:.2f} (per month)":
                         f"{r['estimate'] - critical * r['se']:+.1f} to {r['estimate'] + critical * r['se']:+.1f}"})
    return pd.DataFrame(rows)


def tests_columns(result: dict) -> dict:
    """Short headings, widths and help for `tests_table` on a page (st.column_config as plain dicts, so this module
    needs no Streamlit), and the column order: the interval the paragraph quotes comes right after the z-score, so
    the key columns fit a 1,400-px window (the full headings were clipped at "counti…")."""
    critical = result["placebo"]["critical_z"]
    placebo = f"90% interval at the placebo threshold, z ±{critical:.2f} (per month)"
    config = {
        "test": {"width": 290},
        "difference (per month)": {"label": "diff. a month", "width": 95,
                                   "help": "difference in incidents a month, net of the comparisons"},
        "% of the level before": {"label": "% of level", "width": 80,
                                  "help": "the difference as a share of the monthly level before"},
        "z-score": {"label": "z-score", "width": 70, "help": "the difference over its standard error"},
        placebo: {"label": f"interval at z ±{critical:.2f}", "width": 150,
                  "help": f"{placebo}: the interval the paragraph quotes; it leaves out 0 exactly when a change is "
                          "claimed"},
        "90% interval, counting noise only (per month)": {"label": "90% counting noise", "width": 140,
                                                          "help": "90% interval from counting noise alone, per month "
                                                                  "(narrower: places swing more than this)"},
        "standard error (per month)": {"label": "std. error a month", "width": 110,
                                       "help": "standard error of the difference, incidents a month"},
    }
    return {"column_config": config, "column_order": list(config)}


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


def chosen_sites(result: dict) -> dict[str, list[str]]:
    """Other canvass sites (event name -> neighborhoods) that are in the comparisons or comparison buffer anyway:
    picked by hand in the design, so the comparison may carry another canvass's effect."""
    used = set(result.get("comparison_areas", [])) | set(result.get("comparison_buffer_areas", []))
    out = {name: [a for a in areas if a in used] for name, areas in result.get("left_out", {}).items()}
    return {name: areas for name, areas in out.items() if areas}


def regions_text(result: dict, brief: bool = False) -> str:
    """Which neighborhoods make up each region, and the other canvass sites left out of the comparisons (those used
    anyway, picked by hand, are named apart). `brief` (the printed report) gives the left-out sites as a count."""
    parts = [f"{k.capitalize()}: {', '.join(result.get(v, [])) or 'none'}." for k, v in REGION_AREAS.items()]
    used = set(result.get("comparison_areas", [])) | set(result.get("comparison_buffer_areas", []))
    left = {name: [a for a in areas if a not in used] for name, areas in result.get("left_out", {}).items()}
    left = {name: areas for name, areas in left.items() if areas}
    if left and brief:
        n = len({a for areas in left.values() for a in areas})
        parts.append(f"Left out of the comparisons as other canvass sites: {n} neighborhoods of {len(left)} "
                     "events (listed on the Outreach page).")
    elif left:
        parts.append("Left out of the comparisons as other canvass sites: "
                     + "; ".join(f"{', '.join(areas)} ({name})" for name, areas in left.items()) + ".")
    if chosen := chosen_sites(result):
        parts.append("Chosen as comparisons although other canvass sites: "
                     + "; ".join(f"{', '.join(areas)} ({name})" for name, areas in chosen.items()) + ".")
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
    """The regions as an inline SVG, longitude shrunk by cos(latitude) so shapes keep their proportions."""
    geoms = {k: shapely.geometry.shape(v) for k, v in shapes.items()}
    lat0 = shapely.union_all(list(geoms.values())).centroid.y
    k = math.cos(math.radians(lat0))
    flat = {n: shapely.transform(g, lambda xy: xy * [k, -1.0]) for n, g in geoms.items()}
    minx, miny, maxx, maxy = shapely.union_all(list(flat.values())).bounds
    w, h = maxx - minx, maxy - miny
    pad = 0.03 * max(w, h)
    parts = []
    for name in maps.REGION_COLOURS:  # drawn in the map's order: buffers under, the canvass on top
        if name in flat:
            svg = flat[name].svg(scale_factor=max(w, h) / 900, fill_color=charts.region_colour(name),
                                 opacity=0.85 if name == "canvass" else 0.45)
            parts.append(f"<g><title>{htmllib.escape(name)}</title>{svg}</g>")
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="{minx - pad} {miny - pad} {w + 2 * pad} {h + 2 * pad}" '
            f'class="chart" preserveAspectRatio="xMidYMid meet">{"".join(parts)}</svg>')


def _svg_lines(result: dict) -> str:
    """Monthly counts per region as a small inline SVG line chart (gaps where a month has no data), the canvass month
    marked; colours and dashes as on the page, with a legend naming each line and the axes' units (a printed page
    has no hover to say which line is which)."""
    months = [m["month"] for m in result["monthly"]]
    regions = ["footprint", "buffer", "comparison", "comparison buffer"]
    top = max([m[r] for m in result["monthly"] for r in regions if m[r] is not None] or [1]) or 1
    width, height, left, bottom = 400.0, 170.0, 30.0, 16.0

    def xy(i: int, v: float) -> str:
        x = left + (width - left - 6) * (i / max(len(months) - 1, 1))
        return f"{x:.1f},{height - bottom - (height - bottom - 8) * v / top:.1f}"

    lines = []
    for r in regions:
        runs: list[list[str]] = [[]]  # a month without data ends a line: a gap, never a zero
        for i, m in enumerate(result["monthly"]):
            if m[r] is None:
                runs.append([])
            else:
                runs[-1].append(xy(i, m[r]))
        dash = ' stroke-dasharray="4 3"' if "buffer" in r else ""
        for pts in filter(None, runs):
            lines.append(f'<polyline fill="none" stroke="{charts.region_colour(r)}" stroke-width="1.6"{dash} '
                         f'points="{" ".join(pts)}"><title>{htmllib.escape(r)}</title></polyline>')
    event = result["date"][:7]
    ex = xy(months.index(event), 0).split(",")[0] if event in months else None
    unit = f"{result.get('measure_label', 'incidents').lower()} a month"
    marks = [f'<line x1="{left}" y1="{height - bottom}" x2="{width}" y2="{height - bottom}" stroke="#999"/>',
             f'<text x="{left - 3}" y="12" text-anchor="end">{top:,}</text>',
             f'<text x="{left - 3}" y="{height - bottom}" text-anchor="end">0</text>',
             f'<text x="{left + 2}" y="8" font-style="italic">{htmllib.escape(unit)} (counts)</text>',
             f'<text x="{left}" y="{height - 3}">{months[0]}</text>',
             f'<text x="{width}" y="{height - 3}" text-anchor="end">{months[-1]} (month)</text>']
    for i, r in enumerate(regions):  # the legend: which line is which region
        lx, dash = 8 + 98 * i, ' stroke-dasharray="4 3"' if "buffer" in r else ""
        marks += [f'<line x1="{lx}" y1="{height + 8}" x2="{lx + 14}" y2="{height + 8}" stroke-width="1.6" '
                  f'stroke="{charts.region_colour(r)}"{dash}/>',
                  f'<text x="{lx + 17}" y="{height + 11}">{htmllib.escape(r)}</text>']
    if ex:
        marks += [f'<line x1="{ex}" y1="4" x2="{ex}" y2="{height - bottom}" stroke="#555" stroke-dasharray="2 2"/>',
                  f'<text x="{ex}" y="{height - 3}" text-anchor="middle">canvass {event}</text>']
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height + 16}" class="chart" '
            f'font-size="9" font-family="sans-serif">{"".join(marks + lines)}</svg>')


CSS = """@page {{ {size}margin: 10mm }}
body {{ font: 7.8pt/1.3 sans-serif; color: #222; margin: 0 }}
h1 {{ font-size: 12pt; margin: 0 0 1mm }} h2 {{ font-size: 8.5pt; margin: 1.5mm 0 0.8mm }}
p {{ margin: 0.8mm 0 }} .meta {{ color: #555 }} .lead {{ font-size: 8.2pt }} .small {{ font-size: 7pt; color: #444 }}
.whatif {{ border: 1.5px solid #b7950b; background: #fcf3cf; padding: 0.8mm 2mm; font-weight: bold }}
.verdict {{ background: #f4f4f4; padding: 0.8mm 2mm; border-left: 3px solid #c0392b }}
.grid {{ display: grid; grid-template-columns: 1fr 1fr; gap: 4mm; break-inside: avoid }}
.chart {{ width: 100%; height: 42mm; display: block }}
table {{ border-collapse: collapse; width: 100%; font-size: 7pt }}
td, th {{ border: 1px solid #ccc; padding: 0.3mm 1mm; text-align: left; vertical-align: top }}
ul {{ margin: 0; padding-left: 4mm }} li {{ margin: 0 }}
.legend > div {{ font-size: 7pt !important; columns: 3 }} .legend span {{ width: 9px !important; height: 9px !important }}
@media print {{ body {{ -webkit-print-color-adjust: exact; print-color-adjust: exact }} }}"""


def html(result: dict, event, paper: str | None = None) -> str:
    """A self-contained page that prints on one sheet of Letter or A4 (compact CSS, small inline SVG charts, no
    script): the lead paragraph, the verdicts, a map with its legend, monthly counts, the tables, the e-test, the
    placebo summary and the caveats of the design actually used. `paper` ("letter", "A4") fixes the sheet; without
    it the printer's own size is used (the layout fits both)."""
    esc = htmllib.escape
    size = f"size: {paper}; " if paper else ""
    unit = UNIT_LABELS.get(result["unit"], result["unit"])
    stored = str(event.start_date) if event.start_date else "no date"
    what_if = "" if result["date"] == stored else (
        f'<p class="whatif">What if the canvass was on {esc(result["date"])}? This date is not saved: the registry has '
        f"{esc(stored)} for this event.</p>")
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>{esc(result['name'])}: evaluation</title>
<style>{CSS.format(size=size)}</style></head><body>
<h1>{esc(result['name'])}</h1>
<p class="meta">{esc(result['date'])} · {esc(event.organisations)} · {esc(result['measure_label'])}, from
{esc(result['source_label'])} ({unit})</p>
{what_if}<p class="lead"><b>In short:</b> {esc(result['in_short'])}</p>
<p class="small">{esc(result['summary'])}</p>
<div class="verdict"><b>Footprint:</b> {esc(result['verdict'])}<br><b>Displacement:</b> {esc(result['displacement'])}</div>
<div class="grid"><div>{_svg_map(result['shapes'])}</div><div>{_svg_lines(result)}</div></div>
<div class="legend">{maps.regions_legend(result['shapes'], outlines=False)}</div>
<p class="small">{esc(regions_text(result, brief=True))}</p>
<div class="grid" style="grid-template-columns: 2fr 3fr">
<div><h2>Counts</h2>{counts_table(result).to_html(index=False, escape=True, border=0)}
<p class="small">{esc(windows_text(result))}</p></div>
<div><h2>Weighted displacement difference test</h2>{tests_table(result).to_html(index=False, escape=True, border=0)}
</div></div>
<p>{esc(etest_line(result))}</p>
<p>{esc(placebo_text(result))}</p>
<h2>Caveats of this design</h2><ul class="small">{"".join(f"<li>{esc(c)}</li>" for c in result["caveats"])}</ul>
<p class="small">Source of the event: {esc(event.source)}</p></body></html>"""
