"""Write the figures of docs/backtest.md from the bundled data: the backtest table and the early warning's calibration.

    python scripts/backtest_report.py            # print the generated section
    python scripts/backtest_report.py --write    # replace it in docs/backtest.md (between the markers)

Everything is computed here from the database built from data/ (python -m etl build) and the raw neighborhood file;
nothing is typed in by hand. Takes about a minute.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analytics import backtest, briefing, warning  # noqa: E402
from kcvt.db import connect  # noqa: E402
from kcvt.settings import DATA_DIR, ROOT  # noqa: E402

DOC = ROOT / "docs" / "backtest.md"
START, END = "<!-- generated: scripts/backtest_report.py -->", "<!-- end generated -->"


def raw_wide() -> pd.DataFrame:
    raw = pd.read_csv(DATA_DIR / "raw/kcpd_monthly_by_neighborhood_2015_2026.csv.gz")
    wide = raw.pivot(index="neighborhood", columns="month", values="persons").astype(float)
    wide.columns = [date(int(m[:4]), int(m[5:]), 1) for m in wide.columns]
    return wide


def backtest_section(con) -> str:
    result = backtest.backtest(con)
    table = result["table"]
    wide = table.pivot(index="year", columns="strategy", values=["share_pct", "caught", "places"])
    lines = ["| year | top 20 by count (baseline): share %, caught | top 20 by smoothed rate: share %, caught | "
             "signals: places, share %, caught | as many of last year's busiest: share %, caught |",
             "|---|---|---|---|---|"]
    def cell(y: int, s: str, places: bool = False) -> str:
        lead = f"{int(wide.loc[y, ('places', s)])}, " if places else ""
        if wide.loc[y, ("places", s)] == 0:
            return f"{lead}{briefing.NOTHING_PICKED}"
        return f"{lead}{wide.loc[y, ('share_pct', s)]:.1f}, {int(wide.loc[y, ('caught', s)])}"

    for y in wide.index:
        lines.append(f"| {y} | {cell(y, 'count')} | {cell(y, 'smoothed_rate')} | {cell(y, 'signals', True)} | "
                     f"{cell(y, 'count_same_size')} |")
    s = result["summary"].set_index("strategy")
    lines.append(f"| mean over the years scored | {s.loc['count', 'share_pct']:.1f}, {s.loc['count', 'caught']:.1f} | "
                 f"{s.loc['smoothed_rate', 'share_pct']:.1f}, {s.loc['smoothed_rate', 'caught']:.1f} | "
                 f"{s.loc['signals', 'places']:.1f}, {s.loc['signals', 'share_pct']:.1f}, "
                 f"{s.loc['signals', 'caught']:.1f} | {s.loc['count_same_size', 'share_pct']:.1f}, "
                 f"{s.loc['count_same_size', 'caught']:.1f} |")
    picks = ["", "The signals' picks, year by year (the year predicted, then each pick and why):", ""]
    for y, p in result["picks"].items():
        why = "; ".join(f"{k} ({v})" for k, v in sorted(p["why"].items())) or "none"
        picks.append(f"- {y}: {why}")
    return "\n".join([briefing.backtest_summary(result), "", *lines, *picks])


def calibration_section(wide: pd.DataFrame) -> str:
    months = list(wide.columns)[-24:]
    rows = []
    for season in warning.SEASONS:
        flagged, tested, outside = [], 0, 0
        for m in months:
            t = warning.watch(wide, m, season=season)
            t = t[t["p"].notna()]
            flagged.append(int(t["flag"].isin([warning.HEATING, warning.COOLING]).sum()))
            tested += len(t)
            outside += int(((t["observed"] < t["low"]) | (t["observed"] > t["high"])).sum())
        rows.append(f"| {season} | {min(flagged)}-{max(flagged)} (total {sum(flagged)}) | "
                    f"{100 * outside / tested:.1f}% |")
    target = months[-1]
    base = warning.watch(wide, target).set_index("place")
    tested = base[base["p"].notna()]
    detected = {}
    for place in tested.index:
        doubled = warning.expected(wide.loc[place, [c for c in wide.columns if c < target][-36:]].to_numpy(),
                                   [c for c in wide.columns if c < target][-36:], target,
                                   2 * wide.loc[place, target])
        p = tested["p"].copy()
        p[place] = doubled["p"]
        reject = pd.Series(multipletests(p, alpha=warning.FDR, method="fdr_bh")[0], index=p.index)
        detected[place] = bool(reject[place]) and 2 * wide.loc[place, target] > doubled["expected"]
    for check in list(tested.index[:3]):  # the shortcut above is the watch list itself, redone for three places
        injected = wide.copy()
        injected.loc[check, target] *= 2
        assert (warning.watch(injected, target).set_index("place").loc[check, "flag"] == warning.HEATING) == \
            detected[check]
    bands = pd.cut(tested["expected"], [0, 5, 10, 20, 1000], labels=["under 5", "5-10", "10-20", "20 or more"])
    power = pd.Series(detected).groupby(bands, observed=True).agg(["sum", "count"])
    power_rows = [f"| {b} | {int(r['sum'])} of {int(r['count'])} |" for b, r in power.iterrows()]
    return "\n".join([
        f"Latest 24 months ({months[0]:%Y-%m} to {months[-1]:%Y-%m}), real data, nothing injected:", "",
        "| time of year in the model | neighborhoods flagged per month | counts outside their 95% range |",
        "|---|---|---|", *rows, "",
        f"A doubling injected into one neighborhood's count for {target:%Y-%m} (each tested neighborhood in turn), "
        "flagged heating up:", "", "| expected count that month | flagged |", "|---|---|", *power_rows])


def generated() -> str:
    with connect() as con:
        parts = [START, "", "### Results", "", backtest_section(con), "", "### Early warning: calibration", "",
                 calibration_section(raw_wide()), "", END]
    return "\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="replace the generated section of docs/backtest.md")
    args = parser.parse_args()
    text = generated()
    if not args.write:
        print(text)
        return
    doc = DOC.read_text()
    before, _, rest = doc.partition(START)
    _, _, after = rest.partition(END)
    DOC.write_text(before + text + after)
    print(f"wrote {DOC}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
