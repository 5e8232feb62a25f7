"""The words the Programs page prints around the methods' numbers, so no reader meets an unexplained one.

A reviewer found two thresholds for one verdict (the table's "|z| > 4.33" and the calibration's "|z| above 2.82"),
a rank test "claimed at p ≤ 0.000" (which no p can reach), a "rose" here against a "fell" on the Outreach page
(different windows), and a three-sentence headline. These functions name each threshold once, say in words when a
test cannot claim anything, and give the tracking view one sentence. They only read the results of
analytics.methods and analytics.detect; every number in them comes from those results.
"""

from __future__ import annotations

import re

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


def wdd_thresholds(r: dict, row: dict) -> tuple[float | None, float | None]:
    """The WDD's two candidate |z| thresholds: from this evaluation's own placebo checks (fake dates and other
    neighborhoods, as the Outreach page runs them) and calibrated on placebo footprints away from this one."""
    own = (r.get("wdd") or {}).get("placebo", {}).get("critical_z")
    cal = (row.get("calibration") or {}).get("threshold")
    return own, cal


def threshold(r: dict, row: dict) -> str:
    """The one threshold a method's verdict used, named by where it comes from."""
    if _is(row, "Weighted displacement"):
        own, cal = wdd_thresholds(r, row)
        if own is None or cal is None:
            return row.get("threshold", "—")
        n_own = len(r["wdd"]["placebo"].get("fake_dates", [])) + len(r["wdd"]["placebo"].get("other_areas", []))
        n_cal = row["calibration"].get("n_calibration")
        if own >= cal:
            return (f"|z| > {own:.2f}, from this evaluation's {n_own} placebo checks at fake dates and in other "
                    f"neighborhoods (stricter than the {cal:.2f} calibrated on {n_cal} placebo footprints)")
        return (f"|z| > {cal:.2f}, calibrated on {n_cal} placebo footprints (stricter than the {own:.2f} from this "
                f"evaluation's {n_own} placebo checks)")
    if _is(row, "Synthetic control"):
        syn = r.get("synth", {})
        if rank_test_cannot_claim(syn):
            return _cannot(syn)[0].upper() + _cannot(syn)[1:]
        cal = row.get("calibration") or {}
        if cal.get("threshold") is not None:
            return f"p ≤ {cal['threshold']:.3f}, calibrated on {cal.get('n_calibration')} placebo footprints"
    return row.get("threshold") or "—"


def short_threshold(r: dict, row: dict) -> str:
    """`threshold` cut to fit a table cell: the number and a short name of its source (the page gives the rest)."""
    text = threshold(r, row)
    if _is(row, "Synthetic control") and rank_test_cannot_claim(r.get("synth", {})):
        return f"cannot claim a change with {r['synth']['test']['placebos']} donors"
    return re.sub(r" \(stricter than .*\)$", "", text).replace(" at fake dates and in other neighborhoods", "")


def methods_table(r: dict) -> pd.DataFrame:
    """methods.table with each verdict's single threshold named (see `threshold`; the page prints the full words
    under the table)."""
    table = methods.table(r)
    table["a change is claimed at"] = [short_threshold(r, m) for m in r["methods"]]
    return table


def sentence(r: dict, row: dict) -> str:
    """A method's own sentence, with a rank test that cannot reach its cut-off saying so instead of 'p ≤ 0.000'."""
    text = row.get("sentence", "")
    if _is(row, "Synthetic control") and rank_test_cannot_claim(r.get("synth", {})):
        text = re.sub(r"a change is claimed at p ≤ [0-9.]+", _cannot(r["synth"]), text)
    return text


def calibration(r: dict, row: dict) -> str | None:
    """The held-out check of a method's calibrated threshold, saying which threshold the verdict itself used."""
    cal = row.get("calibration")
    if not cal:
        return None
    text = f"Threshold calibrated on placebo footprints away from this one. {cal['sentence']}"
    if _is(row, "Weighted displacement"):
        own, thr = wdd_thresholds(r, row)
        if own is not None and own > thr:
            text += (f" The verdict above uses the stricter |z| > {own:.2f} from this evaluation's own placebo "
                     "checks, so it claims a change only beyond both.")
    if _is(row, "Synthetic control") and rank_test_cannot_claim(r.get("synth", {})):
        text = f"{text} So {_cannot(r['synth'])}."
    return text


def windows_note(r: dict) -> str:
    """One sentence on why this table and the Outreach page can read differently for the same event."""
    d = evaluation.Design()
    nb, na = r["windows_months"]["before"], r["windows_months"]["after"]
    return (f"These methods compare the {nb} months before the start with the {na} after it; the Outreach page "
            f"compares {d.months_before} and {d.months_after} by default (and counts GVA shootings where GVA covers "
            "them), so a rise here and a fall there describe different stretches of time, not a contradiction.")


def headline(r: dict) -> str:
    """The tracking view in one sentence: can the answer be known yet, and if not, when would a drop show."""
    drops = sorted(r["detectable"], key=lambda d: -d["drop_pct"])
    seen = r["tracking"][-1]["k"] if r["tracking"] else 0
    shows = [f"a {d['drop_pct']}% drop " + ("would " if i == 0 else "") +
             ((("already show " if d["month"] <= seen else "show ") if i == 0 else "") + f"by {d['by']}"
              if d["by"] else ("not show " if i == 0 else "not ") + f"within {r['horizon']} months")
             for i, d in enumerate(drops)]
    when = ", ".join(shows[:-1]) + " and " + shows[-1] if len(shows) > 1 else "".join(shows)
    if not r["tracking"]:
        return f"Not yet: no month after the start has data; if the work cut violence, {when}."
    last = r["tracking"][-1]
    word = "fewer" if last["difference"] < 0 else "more"
    diff = f"{abs(last['difference']):.0f} {word} incidents than expected"
    if last["beyond_chance"]:
        return f"Yes: after {last['k']} months there are {diff}, beyond chance."
    return (f"Not yet: after {last['k']} months there are {diff}, within chance; if the work cut violence, "
            f"{when}.")
