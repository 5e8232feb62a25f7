"""What the Hotspots page says in words: tables with human column names, numbers formatted for reading (a missing
value is a phrase such as "no data", never None or NaN), captions and the coverage banner.

The library tables (`hotspots.rank`, `hotspots.gi_star`) keep their machine columns for the CLI's JSON and the CSV
downloads; these functions only present them.
"""

from __future__ import annotations

import math

import pandas as pd

#: ranking flags (stats.poisson_change verdicts, or "no data") -> what the table says
FLAG_TEXT = {"up": "yes: up", "down": "yes: down", "no clear change": "no clear change",
             "too few to tell": "too few to tell", "no data": "no previous data",
             "partly covered": "partial data"}
RANK_BY_TEXT = {"count": "number of incidents", "rate": "smoothed rate per 10,000 residents"}


def missing(value) -> bool:
    """Whether a value is unknown (None, NaN, NA, NaT): shown as words on the page, never as "None" or "nan"."""
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA or value is pd.NaT


def p_text(p) -> str:
    """A p-value as read: '< 0.001' below 0.001 (never '0'), else three decimals; 'not tested' when absent."""
    if missing(p):
        return "not tested"
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def number_text(value, decimals: int = 0, absent: str = "no data", sign: bool = False) -> str:
    """A number as readers see it (thousands separated), or `absent` when it is unknown: never a printed NaN."""
    if missing(value):
        return absent
    return f"{value:{'+' if sign and value != 0 else ''},.{decimals}f}"


#: the ranking's column widths and short headings (st.column_config as plain dicts, so this module needs no
#: Streamlit): every column up to the components' last fits the 938-px content column of a 1,400-px window without
#: sideways scrolling; the full wording is in the help. The components' headings carry a period and are added by
#: `column_config`.
RANKING_COLUMNS = {
    "rank": {"width": 35},
    "neighborhood": {"width": 117, "help": "a long name is cut short: hover over it, or widen the column"},
    "incidents": {"width": 70},
    "per 10,000 residents": {"label": "rate /10k", "width": 60, "help": "incidents per 10,000 residents (2010 Census); "
                                                                   "'no rate' under 100 residents"},
    "smoothed per 10,000": {"label": "smoothed", "width": 70,
                            "help": "empirical-Bayes smoothed rate per 10,000 residents; 'no rate' under 100 "
                                    "residents"},
    "previous period": {"label": "previous", "width": 60, "help": "incidents in the previous period of equal length"},
    "change": {"label": "change (n)", "width": 75, "help": "incidents this period minus the previous period"},
    "change %": {"width": 70, "help": "change against the previous period, in percent; 'too few' under 10 before"},
    "change larger than chance?": {"label": "beyond chance?", "width": 110,
                                   "help": "is the change larger than chance? (Poisson e-test; 'partial data': not tested, as a "
                                           "period holds months the source undercounts)"},
    "p-value (e-test)": {"label": "p-value", "width": 70, "help": "p-value of the Poisson e-test"},
    "share of city %": {"label": "share %", "width": 70, "help": "share of the city's incidents (%)"},
    "residents (2010)": {"label": "residents", "width": 80, "help": "residents in the 2010 Census"},
}


#: the components' columns: short heading, width and help (the period, from the heading, is added to the help)
COMPONENT_COLUMNS = {
    "emerging category": {"label": "emerging", "width": 135,
                          "help": "Esri's emerging hot spot category over this period (Emerging page)"},
    "early warning": {"label": "early warning", "width": 168,
                      "help": "the early-warning flag for the period's last fully covered month"},
    "years in top 10%": {"label": "top 10% years", "width": 100,
                         "help": "years among the busiest tenth of neighborhoods by count, of the whole years"},
}
#: the order the page shows: counts, rates and change first, then the components, then the details (the previous
#: count among them: with the components' flags, all of these do not fit 938 px)
KEY_COLUMNS = ["rank", "neighborhood", "incidents", "per 10,000 residents", "smoothed per 10,000", "change %",
               "change larger than chance?"]


def column_config(columns) -> dict[str, dict]:
    """Short headings, widths and help for the ranking's columns as shown, the components' dated headings
    ("early warning (2026-06)", "years in top 10% (2015-2025)") included: a dated heading is short, its date in
    the help."""
    out = {}
    for name in columns:
        base = next((k for k in COMPONENT_COLUMNS if name == k or name.startswith(f"{k} (")), None)
        if base is None:
            out[name] = RANKING_COLUMNS[name]
            continue
        when = name[len(base):].strip(" ()")
        out[name] = COMPONENT_COLUMNS[base] | {
            "help": COMPONENT_COLUMNS[base]["help"] + (f": {when}" if when else "")}
    return out


def rank_text(ranks: pd.Series) -> list[str]:
    """Ranks as read: a tie shares its rank with an "=" ("1=", "1=", "3"), an unranked row is blank."""
    counts = ranks.value_counts()
    return ["" if missing(r) else f"{int(r)}{'=' if counts[r] > 1 else ''}" for r in ranks]


def component_columns(components: pd.DataFrame | None, notes: dict) -> tuple[dict[str, pd.Series], list[str]]:
    """The ranking's component columns (emerging category, early-warning flag, years in the top 10%), keyed by
    neighborhood, as the Emerging page computes them (backtest.components), and one line for each that cannot be
    computed for this choice (a column of blanks or zeros would read as a finding)."""
    if components is None:
        return {}, []
    comp = components.set_index("area_id")
    cols, lines = {}, []
    if "emerging" in notes:
        lines.append(f"Emerging category not shown: {notes['emerging'].rstrip('.')} (the Emerging page offers "
                     "quarters and a longer period).")
    else:
        cols["emerging category"] = comp["emerging"]
    if "early_warning" in notes:
        lines.append(f"Early warning not shown: {notes['early_warning'].rstrip('.')}.")
    else:
        cols[f"early warning ({notes['early_warning_for']})"] = comp["early_warning"]
    years = comp["persistence_years"]
    of = int(comp["persistence_of"].max()) if len(comp) else 0
    if of == 0:
        lines.append("Years in the top 10% not shown: no whole year with neighborhood-level data up to the period's "
                     "end.")
    else:  # right-aligned so the text sorts as numbers do; 'no data' sorts last
        cols[f"years in top 10% ({notes['persistence_years']})"] = pd.Series(
            ["no data" if missing(y) else f"{int(y):>2} of {of}" for y in years], index=comp.index)
    return cols, lines


def ranking_table(result: dict, components: pd.DataFrame | None = None, notes: dict | None = None) -> pd.DataFrame:
    """The ranking as the page shows it: human column names, every cell text or a whole number; the key columns
    first (count, smoothed rate, change and its test), then the Emerging page's components (`components`, by
    neighborhood, from backtest.components), then the details."""
    t = result["table"]
    no_previous = bool(result["missing_months"]["previous"])
    prev = "no data" if no_previous else None
    cols, _lines = component_columns(components, notes or {})
    table = _ranking_columns(t, prev)
    key = KEY_COLUMNS
    for name, values in cols.items():
        table[name] = values.reindex(t["area_id"]).fillna("no data").to_numpy()
    return table[key + list(cols) + [c for c in table.columns if c not in key and c not in cols]]


def change_pct_text(pct, flag) -> str:
    """A ranking's change % as read: one decimal with its sign; "too few" when the ranking left it blank (under 10
    incidents before, 0 included: "4 to 11: +175%" is noise) or the e-test found too few to tell; "no data" when the
    previous period is unknown."""
    if flag is None or missing(flag) or flag == "no data":
        return "no data"
    if flag == "too few to tell" or missing(pct):
        return "too few"
    return f"{number_text(pct, 1, sign=True)}%"


def _ranking_columns(t: pd.DataFrame, prev: str | None) -> pd.DataFrame:
    return pd.DataFrame({
        "rank": rank_text(t["rank"]),
        "neighborhood": t["name"].astype(str),
        "incidents": t["n"].astype(int),
        "per 10,000 residents": [number_text(v, 1, "no rate") for v in t["rate_per_10k"]],
        "smoothed per 10,000": [number_text(v, 1, "no rate") for v in t["smoothed_rate_per_10k"]],
        "previous period": [prev or number_text(v) for v in t["previous"]],
        "change": [prev or number_text(v, sign=True) for v in t["change"]],
        "change %": [prev or change_pct_text(v, f) for v, f in zip(t["change_pct"], t["flag"], strict=True)],
        "change larger than chance?": [FLAG_TEXT.get(f, str(f)) for f in t["flag"]],
        "p-value (e-test)": [prev or p_text(v) for v in t["p_value"]],
        "share of city %": [f"{v:.2f}" for v in t["share_of_city_pct"]],
        "residents (2010)": [number_text(v, 0, "unknown") for v in t["population"]],
    })


def ranking_caption(result: dict, source_label: str, category_label: str, definition: str, caveat: str) -> str:
    """What the ranking counts: measure and definition, source and its caveat, period, what the rank is by."""
    by = RANK_BY_TEXT[result["by"]]
    partial, before = result.get("partial_months") or [], result.get("partial_months_previous") or []
    partial_note = f" Partly covered month{'s' if len(partial) != 1 else ''}: {month_list(partial)}." if partial else ""
    if partial or before:
        partial_note += (" The change against the previous period is shown but not tested"
                         f"{f' (partly covered there too: {month_list(before)})' if before else ''}: a source that "
                         "undercounts some months makes a change that is the data's, not the streets'.")
    return (f"**What is counted:** {category_label.lower()} ({definition.rstrip('.')}), from {source_label}, "
            f"{result['start']} to {result['end']}, placed in neighborhoods. {caveat.rstrip('.')}.{partial_note} "
            f"**Ranked by {by}**; neighborhoods with no incidents{_rate_floor(result)} get no rank and are listed "
            f"last; tied neighborhoods share a rank (\"1=\").{_rate_note(result)}{_few(result)}{_unreported(result)}")


def month_list(months: list[str]) -> str:
    """Months ("YYYY-MM", sorted) in words, each run of three or more consecutive months as "2021-01 to 2021-06":
    "2021-01 to 2021-06, 2021-08 to 2021-12"; "2016-12, 2018-12"."""
    runs: list[list[pd.Period]] = []
    for m in (pd.Period(x, "M") for x in months):
        if runs and m - runs[-1][-1] == pd.offsets.MonthEnd(1):
            runs[-1].append(m)
        else:
            runs.append([m])
    return ", ".join(f"{r[0]} to {r[-1]}" if len(r) > 2 else ", ".join(str(m) for m in r) for r in runs)


def _unreported(result: dict) -> str:
    names = result.get("unreported") or []
    return (f" Not listed, as the source reports nothing for them (no data, not zero): {', '.join(names)}."
            if names else "")


def _rate_floor(result: dict) -> str:
    return (f" or fewer than {result['min_rank_population']:,} residents (their rates are shown, not ranked)"
            if result["by"] == "rate" else "")


def _rate_note(result: dict) -> str:
    return (" Rates are per resident of the 2010 Census, so places with few residents and many visitors (hospitals, "
            "downtown, nightlife) rank high: a rate measures risk to residents, a count where the work is."
            if result["by"] == "rate" else "")


def _few(result: dict) -> str:
    """The warning a ranking from a handful of incidents carries."""
    if not result.get("few_incidents"):
        return ""
    top = int(result["table"]["n"].max())
    return (f" **The busiest neighborhood has only {top:,} incident{'s' if top != 1 else ''}: single incidents and "
            "ties decide this order, which is not a finding.**")


def smoothing_sentence(result: dict) -> str:
    """One sentence on what the smoothed rate does, with the city rate it shrinks toward (small populations)."""
    city = result.get("city_rate_per_10k")
    city_text = "the city rate" if city is None else f"the city rate ({city:,.1f} per 10,000 residents)"
    from analytics.hotspots import POPULATION_RULE

    floor_text = f" {POPULATION_RULE}" if result.get("min_rank_population") else ""
    return (f"Both rates (rate /10k, smoothed) are incidents per 10,000 residents (2010 Census) over the whole "
            "period chosen, not per year. "
            f"The smoothed rate pulls each neighborhood's rate toward {city_text} the more, the fewer residents and "
            "incidents it has (empirical Bayes), so a few incidents among few residents cannot top the list by "
            f"chance alone.{floor_text}")


def change_caption(result: dict) -> str:
    """What the ranking's change is measured against, naming the previous period and any months it lacks."""
    base = f"Change is against {result['previous_start']} to {result['previous_end']} (the previous period of equal length)"
    gaps = result["missing_months"]["previous"]
    if gaps:
        from analytics.hotspots import month_text

        return f"{base}: no data for {month_text(gaps)}, so no previous count or change is shown."
    return (f"{base}, tested with the Poisson e-test; 'too few to tell' under 10 incidents in the two periods. With "
            "every neighborhood tested at once about 1 in 20 would pass p < 0.05 by chance alone, so a change is "
            "flagged 'yes' only if it passes a false-discovery-rate correction (Benjamini-Hochberg, 5%) over all of "
            "them; the p-values shown are each neighborhood's own.")


def coverage_banner(source_label: str, ranges: dict[str, list[str]]) -> str:
    """The home page's banner: the source's covered months by status."""
    covered = "; ".join(f"{k} {', '.join(v)}" for k, v in ranges.items() if v) or "no months"
    return f"**Coverage of {source_label}:** {covered}"


def gi_caption(gi: pd.DataFrame, permutations: int, alpha: float) -> str:
    """What the Gi* test ran on, naming the hexagons' size (the concentration above counts small ones: without the
    size, 1,101 cells here and 7,642 there read as a contradiction)."""
    from analytics.hotspots import GI_RESOLUTION, HEX_SIZES, HOT_COLD, MIN_RANK_EVENTS, TOO_FEW_SPOT

    spots = int(gi["spot"].isin(HOT_COLD).sum())
    few = int((gi["spot"] == TOO_FEW_SPOT).sum())
    return (f"Each hexagon tested with its six neighbours; p-values from {permutations:,} random rearrangements of "
            f"the counts (fixed seed), kept only if significant after a false-discovery-rate correction ({alpha:.0%}); "
            f"a hexagon without incidents is never a hot spot. A hexagon with one or two incidents of its own can be "
            f"hot: the test weighs it with its neighbours, so a hot spot needs at least {MIN_RANK_EVENTS} incidents in "
            f"the hexagon and its neighbours, and a cold spot needs at least {MIN_RANK_EVENTS} expected there at the "
            f"city's average. {spots:,} of the {len(gi):,} {HEX_SIZES[GI_RESOLUTION]} covering the city are hot or "
            f"cold spots ({int(gi['n'].sum()):,} incidents)"
            + (f"; {few:,} more stood out but rest on too few incidents to tell, and are not shown." if few else "."))


def spots_table(spots: pd.DataFrame, neighborhoods: dict[str, str]) -> pd.DataFrame:
    """Gi* hot and cold cells as the page shows them (`neighborhoods`: hex -> the neighborhood of its centre)."""
    return pd.DataFrame({
        "hot or cold": spots["spot"].astype(str),
        "incidents in cell": spots["n"].astype(int),
        "in cell and its neighbours": spots["n_local"].astype(int),  # what Gi* weighs: a cell of 1 can be hot
        "z-score": [f"{z:.2f}" for z in spots["z"]],
        "p-value (permutation)": [p_text(p) for p in spots["p"]],
        "neighborhood": [neighborhoods.get(h) or "outside any neighborhood" for h in spots["hex"]],
        "H3 cell": spots["hex"].astype(str),
    })


def gaps_warning(reasons: dict[str, str], start, end) -> str | None:
    """What the page says when months of the period have no neighborhood-level data (`hotspots.missing_reasons`;
    None when none)."""
    from analytics.hotspots import reasons_text
    from analytics.queries import month_starts

    if not reasons:
        return None
    if len(reasons) == len(month_starts(start, end)):
        return (f"No neighborhood-level data for any month of this range ({reasons_text(reasons)}): nothing is "
                "mapped, counted or ranked. Pick a period inside the coverage above.")
    return (f"No neighborhood-level data for part of this range ({reasons_text(reasons)}): maps of incidents show the "
            "other months only; the ranking and the neighborhood maps need every month and are not shown.")


def components_caption(notes: dict) -> str:
    """What the component columns are and over which period, in one sentence (README, 'Ranking components')."""
    when = notes.get("early_warning_for")
    return ("Emerging category: Esri's emerging hot spot analysis by month over this period (Emerging page). "
            + (f"Early warning: {when}, the period's last fully covered month. " if when else "")
            + "Years in the top 10%: years among the busiest tenth of neighborhoods by count. Each column sorts on "
            "its own; there is no combined score. ")
