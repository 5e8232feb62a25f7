"""The words the Programs page prints around the methods' numbers, so no reader meets an unexplained one.

A reviewer found two thresholds for one verdict (the table's "|z| > 4.33" and the calibration's "|z| above 2.82"),
a rank test "claimed at p ≤ 0.000" (which no p can reach) and a "rose" here against a "fell" on the Outreach page
(different windows). These functions name each threshold once and say in words when a test cannot claim anything.
They only read the results of analytics.methods and analytics.calibrate; every number in them comes from those.
"""

from __future__ import annotations

import pandas as pd

from analytics import evaluation, methods


def rank_floor(syn: dict) -> float | None:
    """The smallest p the placebo-in-space rank test can give: 1 / (donors + 1), the footprint ranked first."""
    k = syn.get("test", {}).get("placebos")
    return 1 / (k + 1) if k else None


def rank_test_cannot_claim(syn: dict) -> bool:
    """Whether even the most extreme result could not reach the calibrated cut-off with this many donors."""
    floor, cal = rank_floor(syn), syn.get("calibration") or {}
    return floor is not None and cal.get("threshold") is not None and floor > cal["threshold"] + 1e-12


def _cannot(syn: dict) -> str:
    k = syn["test"]["placebos"]
    return (f"this test cannot claim a change with {k} donors: the smallest p it can give is 1/{k + 1} = "
            f"{rank_floor(syn):.3f}, above the cut-off calibrated on placebos")


def _is(row: dict, prefix: str) -> bool:
    return row.get("method", "").startswith(prefix)


def _unreachable(r: dict, row: dict) -> bool:
    return _is(row, "Synthetic control") and rank_test_cannot_claim(r.get("synth", {}))


def threshold(r: dict, row: dict) -> str:
    """The one threshold a method's verdict used, named by where it comes from (analytics.calibrate gives both:
    the WDD's is already the stricter of the Outreach evaluation's own and the calibrated one)."""
    cal = row.get("calibration")
    if _unreachable(r, row):
        return _cannot(r["synth"])[0].upper() + _cannot(r["synth"])[1:]
    if not cal:
        return row.get("threshold") or "—"
    if cal.get("threshold") is None:
        return cal["rule"]
    return f"{cal['rule']}, {cal['origin']}"


def short_threshold(r: dict, row: dict) -> str:
    """The threshold cut to fit a table cell (the page prints `threshold` in full under the table)."""
    if _unreachable(r, row):
        return f"cannot claim a change with {r['synth']['test']['placebos']} donors"
    cal = row.get("calibration")
    return cal["rule"] if cal else (row.get("threshold") or "—")


#: the methods table's widths (st.column_config as plain dicts): verdict first after the method, so it shows at
#: 1,400 px; the method's full name is in its cell's tooltip and in the sentences under the table
METHODS_COLUMNS = {
    "method": {"width": 380},
    "verdict": {"width": 90},
    "change": {"width": 70},
    "statistic": {"width": 90},
    "a change is claimed at": {"label": "claimed at", "width": 220,
                               "help": "the one threshold each verdict uses (full wording under the table)"},
}


def methods_table(r: dict) -> pd.DataFrame:
    """methods.table with each verdict's single threshold (see `threshold`)."""
    table = methods.table(r)
    table["a change is claimed at"] = [short_threshold(r, m) for m in r["methods"]]
    return table[list(METHODS_COLUMNS)]


def sentence(r: dict, row: dict) -> str:
    """A method's own sentence (analytics.methods already says when a rank test cannot reach its cut-off)."""
    return row.get("sentence", "")


def calibration(r: dict, row: dict) -> str | None:
    """The held-out check of the threshold the method's verdict uses."""
    cal = row.get("calibration")
    if not cal:
        return None
    text = cal["sentence"]
    if _unreachable(r, row) and "cannot claim" not in text:
        text = f"{text} So {_cannot(r['synth'])}."
    return text


def windows_note(r: dict) -> str:
    """One sentence on why this table and the Outreach page can read differently for the same event."""
    d = evaluation.Design()
    nb, na = r["windows_months"]["before"], r["windows_months"]["after"]
    return (f"These methods compare the {nb} months before the start with the {na} after it; the Outreach page "
            f"compares {d.months_before} and {d.months_after} by default (and counts GVA shootings where GVA covers "
            "them), so a rise here and a fall there describe different stretches of time, not a contradiction.")


def donor_rule(syn: dict) -> str:
    """Which places may be donors, and why that rule differs from the Outreach page's (review r2a: the 2017 PAL
    walk's neighborhood was a donor here and "left out of comparisons" there)."""
    text = (f"Donors exclude the footprint, its 400 m buffer and the places of other registry events active in these "
            f"windows ({len(syn['busy_places'])} neighborhoods), and any averaging under 4 incidents a month before "
            "the start.")
    marked = [d["neighborhood"] for d in syn["donors"] if d.get("note")]
    if marked:
        text += (f" {', '.join(marked)} {'was' if len(marked) == 1 else 'were'} canvassed outside these windows, so "
                 f"{'it stays a donor' if len(marked) == 1 else 'they stay donors'} (marked in the table): unlike the "
                 "Outreach page, which leaves every canvass site out of its comparisons, a synthetic control needs "
                 "many donors, and work years apart cannot touch the months it compares.")
    return text
