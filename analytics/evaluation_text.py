"""The Outreach evaluation in words: the verdicts and the one plain paragraph the page, the command line and the
report lead with. Every number in them comes from the evaluation result (analytics.evaluation.evaluate); nothing
here counts. Kept apart from the counting so that the words can be read, and tested, on their own.

The paragraph must never contradict itself: the interval it quotes is the one that matches the threshold its
verdict uses (the placebo-calibrated one), and when the counting-noise interval alone would say otherwise it says
why they differ.
"""

from __future__ import annotations

import pandas as pd

from analytics.hotspots_text import month_list
from analytics.wdd import Z90


def _pct(value: float, base: float) -> float | None:
    return None if base <= 0 else 100.0 * value / base


def plural(n: int, word: str, many: str | None = None) -> str:
    """ "1 month", "6 months", "1 incident": the count with its word in the right number."""
    return f"{n:,} {word if n == 1 else many or word + 's'}"


def interval(local: dict, critical: float) -> tuple[float, float]:
    """The interval that matches the verdict: the estimate plus or minus `critical` standard errors. With the
    placebo-calibrated threshold it is wider than the counting-noise 90% interval, and it excludes 0 exactly when
    the verdict claims a change, so the two can never disagree."""
    return local["estimate"] - critical * local["se"], local["estimate"] + critical * local["se"]


def verdict(local: dict, t0_rate: float, critical: float, mdd: float | None, more_data: bool = True) -> str:
    """Plain words that never claim more than the numbers allow; "yet" only when `more_data` (months after the
    window may still be published). The interval quoted is the one at the threshold the verdict uses."""
    z = local["z"]
    if z is None:
        return "No incidents in the footprint or comparison areas in either window: nothing to evaluate."
    pct = _pct(local["estimate"], t0_rate)
    lo, hi = (_pct(x, t0_rate) for x in interval(local, critical))
    ci = "" if lo is None else f" (interval at the placebo threshold {lo:+.0f}% to {hi:+.0f}%)"
    if abs(z) <= critical:
        need = "no drop, however large, could be told from noise with counts this small" if mdd is None else (
            f"a drop of at least {100 * mdd:.0f}% more than in the comparisons would be needed to tell")
        return f"No detectable change{' yet' * more_data} relative to the comparison areas; {need}."
    word = "drop" if z < 0 else "rise"
    return (f"Consistent with a {word} of {abs(pct):.0f}% relative to the comparison areas{ci}. "
            "This compares places; it does not show that the canvass caused the change.")


def displacement_verdict(disp: dict, d0_rate: float, critical: float, footprint_drop: bool = True,
                         buffer_incidents: int | None = None) -> str:
    """Did the buffer change relative to the comparison buffer? A rise suggests displacement and a drop diffusion,
    but only beside a footprint that fell (`footprint_drop`: its relative change is a drop beyond `critical`); beside
    one that did not, a buffer's change is its own. Fewer than 2 * FEW incidents in the buffers in all
    (`buffer_incidents`) cannot show either: "no sign" from 0 → 0 would be no evidence."""
    if disp["z"] is None:
        return "No incidents in the buffers in either window: displacement cannot be assessed."
    if buffer_incidents is not None and buffer_incidents < 2 * FEW:
        return (f"Buffer: too few incidents in the buffers ({buffer_incidents} in both windows) to tell whether "
                "violence moved next door.")
    if abs(disp["z"]) <= critical:
        return "Buffer: no detectable change relative to the comparison buffer (no sign of displacement)."
    pct = _pct(abs(disp["estimate"]), d0_rate)
    share = "" if pct is None else f" of {pct:.0f}%"
    if not footprint_drop:
        return (f"Buffer: a {'rise' if disp['z'] > 0 else 'drop'}{share} relative to the comparison buffer. The "
                "footprint itself did not fall relative to its comparisons, so this is not violence moving out of it"
                f"{'' if disp['z'] > 0 else ' nor a spill-over of its benefits'}: the buffer changed on its own, for "
                "reasons this test cannot see.")
    if disp["z"] > 0:
        return f"Buffer: a rise{share} relative to the comparison buffer, consistent with displacement next door."
    return f"Buffer: a drop{share} relative to the comparison buffer, consistent with a diffusion of benefits."


def _change(pair: dict, nb: int, na: int) -> tuple[float | None, str]:
    """Percent change of the monthly rate, and it in words: "fell 22% (361 → 283)"."""
    b, a = pair["before"], pair["after"]
    pct = _pct(a / na - b / nb, b / nb)
    counts = f"({b:,} → {a:,})" if nb == na else f"({b / nb:,.1f} → {a / na:,.1f} a month)"
    if pct is None:
        return None, f"went from none to {a:,}" if a else "stayed at none"
    if round(pct) == 0:
        return pct, f"stayed level {counts}"
    return pct, f"{'fell' if pct < 0 else 'rose'} {abs(pct):.0f}% {counts}"


def _where(result: dict) -> str:
    """Where the footprint's incidents were counted, in words."""
    areas, fp = result["footprint_areas"], result["footprint"]
    shape = {"corridor": "the corridor", "point": f"the {fp['radius_m'] or 0:,.0f} m circle"}.get(fp["type"])
    if result["unit"] == "points" and shape:
        return f"inside {shape}"
    if shape is None or len(areas) == 1:
        return "in " + (", ".join(areas[:-1]) + " and " + areas[-1] if len(areas) > 1 else areas[0])
    return f"in the {len(areas)} neighborhoods around {shape}"


def _per_month(x: float) -> str:
    return "0.0" if round(x, 1) == 0 else f"{abs(x):.1f} {'fewer' if x < 0 else 'more'}"


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def _noise(result: dict, detectable: bool) -> str:
    """Whether the relative change stands out from what the placebos (places and dates without a canvass) show."""
    plc = result["placebo"]
    n = len(plc["fake_dates"]) + len(plc["other_areas"])
    if not n or plc.get("share_as_large") is None:
        return (f"Judged against the usual 90% threshold (no placebo checks were run), that is "
                f"{'larger than' if detectable else 'within'} ordinary noise.")
    checks = (f"{100 * plc['share_as_large']:.0f}% of {n:,} placebo checks (the same test at {len(plc['fake_dates'])} "
              f"earlier dates and in {len(plc['other_areas'])} other neighborhoods, where no canvass took place) "
              "moved at least as far")
    if detectable:
        return f"That is larger than the noise places like these show: only {checks}."
    return f"That is within the noise places like these show: {checks}."


def split_change(result: dict) -> dict | None:
    """The footprint's own change, as a share of its level before, in the comparisons' part and the relative rest:
    own = (T1 - T0) / T0 = (C1 - C0) / T0 + [(T1 - T0) - (C1 - C0)] / T0 (per month). The comparisons' change is in
    incidents a month set against the footprint's level, not their own percent: a small comparison's 12% drop is
    a few incidents, a few points of a busy footprint's level (review r2a: "12% ... and the rest 19%" of a 22% fall).
    In whole points that add up: the comparisons' part takes the rounding, so own and rest read as elsewhere in the
    paragraph. None when the footprint had no incident before."""
    nb, na = len(result["windows"]["before"]), len(result["windows"]["after"])
    c = result["counts"]
    t0 = c["footprint"]["before"] / nb
    if t0 <= 0:
        return None
    own = 100 * (c["footprint"]["after"] / na - t0) / t0
    theirs = 100 * (c["comparison"]["after"] / na - c["comparison"]["before"] / nb) / t0
    rest = own - theirs
    shown = {"own": round(own), "rest": round(rest)}
    shown["comparison"] = shown["own"] - shown["rest"]
    return {"own": own, "comparison": theirs, "rest": rest, "shown": shown,
            "comparison_per_month": c["comparison"]["after"] / na - c["comparison"]["before"] / nb}


def size_note(result: dict) -> str:
    """When the comparisons are much smaller or larger than the footprint, say that the test weighs their change in
    incidents, not in percent (review: Hospital Hill's 12% drop offset only 3 of the footprint's 22 points)."""
    nb = len(result["windows"]["before"])
    c = result["counts"]
    t0, c0 = c["footprint"]["before"] / nb, c["comparison"]["before"] / nb
    if t0 <= 0 or c0 <= 0 or 0.5 <= c0 / t0 <= 2:
        return ""
    return (f" (the comparisons had {c0:.1f} incidents a month before against the footprint's {t0:.1f}; the test "
            "subtracts changes in incidents, not percentages, so comparisons of a different size weigh "
            f"{'less' if c0 < t0 else 'more'} than their percent change suggests: comparisons of similar size, as "
            "suggested, weigh fairly)")


def _reconcile(result: dict, detectable: bool, comparison_pct: float | None, comparison_words: str) -> str:
    """Why the raw e-test and the relative test can both be right."""
    if result.get("undercounted"):  # the raw change is not tested (undercount_words says why)
        return "This compares places; it does not show that the canvass caused the change." if detectable else ""
    e = result["etest"]
    raw_clear = e["verdict"] in ("up", "down")
    if raw_clear and not detectable:
        word = "drop" if e["verdict"] == "down" else "rise"
        return (f"So both hold: the footprint's own {word} is larger than chance on its own (Poisson e-test, "
                f"{_p(e['p_value'])}), but {_matched(result, comparison_pct, comparison_words)}.")
    if detectable and not raw_clear:
        return ("The footprint's own change is within ordinary noise (Poisson e-test); it stands out only against "
                f"the comparison neighborhoods, which {comparison_words}.")
    if detectable:
        return "This compares places; it does not show that the canvass caused the change."
    return ""


def _matched(result: dict, comparison_pct: float | None, comparison_words: str) -> str:
    """Why a footprint change larger than chance on its own does not stand out against the comparisons: how much of
    it the comparisons' own change over the same months matches."""
    word = "drop" if result["etest"]["verdict"] == "down" else "rise"
    parts = split_change(result)
    same_way = comparison_pct is not None and round(comparison_pct) != 0 and (comparison_pct < 0) == (word == "drop")
    if not same_way or parts is None:
        return (f"set against the comparison neighborhoods, which {comparison_words.split(' (')[0]}, and the "
                "placebos' spread, it does not stand out")
    s = parts["shown"]
    per = abs(parts["comparison_per_month"])
    theirs = (f"the comparison neighborhoods' {abs(comparison_pct):.0f}% {word} over the same months "
              f"({per:.1f} {'fewer' if word == 'drop' else 'more'} incidents a month"
              f"{'' if len(result['comparison_areas']) == 1 else ' in all of them'})")
    if (s["rest"] < 0) == (s["own"] < 0) and s["rest"] != 0:
        matched = (f"of its {abs(s['own'])}% {word}, {abs(s['comparison'])} points match {theirs}, set against "
                   f"the footprint's level, and the other {abs(s['rest'])} points, its change relative to them, "
                   "are within that noise")
    else:
        matched = (f"{theirs} amount to {abs(s['comparison'])}% of the footprint's level, as much as its own "
                   f"{abs(s['own'])}% {word} or more, so relative to them it does not stand out")
    return matched + size_note(result)


def _to_tell(result: dict) -> str:
    """What it would take to tell a change from noise: a larger drop, or more months (now, or once published)."""
    mdd, na = result["minimum_detectable_drop"], len(result["windows"]["after"])
    need = (f"No drop, however large, could be told from noise with counts this small over {plural(na, 'month')}" if mdd is None
            else f"To tell, the footprint would have to fall at least {100 * mdd:.0f}% relative to the comparisons "
                 f"over {plural(na, 'month')}")
    if result["more_data_may_come"]:
        end = f" (the source's last month is {result['data_end']})" if result["data_end"] else ""
        return f"{need}; this is not settled yet: more months of data may still be published{end}."
    from analytics.evaluation import MONTHS  # the design's limits live with the design

    room, end = result["longest_after"], result["data_end"]
    last = str(pd.Period(result["windows"]["after"][0], "M") + room - 1)  # the longest window's last month
    if room <= na:
        return f"{need}. The month after this window has no data, so the after window cannot be made longer."
    why = ("the design's limit" if room == MONTHS[1] else f"the data run to {end}" if last == end else
           f"{str(pd.Period(last, 'M') + 1)} has no data")
    return f"{need}. A longer after window, up to {room} months, can be tried in the design ({why})."


FEW = 10  # below this many incidents in a window, a percent change is noise: counts only


def _few(pair: dict, nb: int, na: int) -> str:
    """A change between small counts in counts only ("went from 2 to 0"), or "" when both windows hold FEW or more."""
    b, a = pair["before"], pair["after"]
    if min(b, a) >= FEW:
        return ""
    return f"went from {b:,} to {a:,}" if nb == na else f"went from {b:,} in {nb} months to {a:,} in {na} months"


def in_short(result: dict) -> str:
    """Two or three sentences a reader can stop after, for the page's and the report's first lines: what the
    footprint's count did, what the comparisons' did over the same months, and whether the difference stands out from
    what places without a canvass show. Same numbers and same threshold as the verdict and `summary` (which gives the
    intervals, the placebo shares and why the tests can differ); no statistics words."""
    if result.get("status") != "evaluated":
        return result.get("message", "")
    nb, na = len(result["windows"]["before"]), len(result["windows"]["after"])
    c, k = result["counts"], len(result["comparison_areas"])
    fp_words, cp_words = (_few(c[r], nb, na) or _change(c[r], nb, na)[1] for r in ("footprint", "comparison"))
    head = (f"{result['measure_label']} {_where(result)} {fp_words} between the {plural(nb, 'month')} before the "
            f"canvass and the {plural(na, 'month')} after; in the {plural(k, 'comparison neighborhood')} they {cp_words}.")
    if short := undercount_words(result.get("undercounted") or []):
        head = f"{head} {short}"
    elif result.get("partial_months"):  # every month undercounted alike: the comparison holds, the counts are low
        head = (f"{head} Every month of both windows is one this source undercounts "
                f"({month_list(result['partial_months'])}): places are compared like with like, but the counts are "
                "lower than what happened.")
    local = result["wdd"]["local"]
    if local["z"] is None:
        return f"{head} With no incidents in either window there is nothing to compare."
    if abs(local["z"]) <= result["placebo"]["critical_z"]:
        mdd = result["minimum_detectable_drop"]
        t0 = c["footprint"]["before"] / nb
        moved = _pct(local["estimate"], t0)  # the footprint's change net of the comparisons', in its own level
        net = ("" if moved is None or c["footprint"]["before"] < FEW else
               f"; net of them it {'fell' if moved < 0 else 'rose'} about {abs(moved):.0f}%"
               if round(moved) != 0 else "; net of them it did not move")
        need = ("with counts this small no drop could be told apart" if mdd is None else
                f"to tell, it would have had to fall at least {100 * mdd:.0f}% more than the comparisons{net}")
        yet = " yet" if result["more_data_may_come"] else ""
        return (f"{head} Set against the comparisons, the footprint's change is no larger than places and dates "
                f"without a canvass show, so this cannot tell{yet} whether the canvass changed anything ({need}).")
    t0 = c["footprint"]["before"] / nb
    pct = _pct(abs(local["estimate"]), t0)
    size = "" if pct is None or c["footprint"]["before"] < FEW else f" by about {pct:.0f}% of its level before"
    return (f"{head} Relative to them the footprint {'fell' if local['z'] < 0 else 'rose'}{size}, more than places and "
            "dates without a canvass show. This compares places; it does not prove the canvass caused the change.")


def summary(result: dict) -> str:
    """One plain paragraph built from the numbers: what happened in the footprint and in the comparisons, the change
    relative to them, whether that stands out from the noise the placebos show, what it would take to tell, and
    what was counted where (the measure's label and definition, never its id). Used by the Outreach page, the CLI
    and the report."""
    if result.get("status") != "evaluated":
        return result.get("message", "")
    nb, na = len(result["windows"]["before"]), len(result["windows"]["after"])
    before, after = result["windows"]["before"], result["windows"]["after"]
    c = result["counts"]
    fp_words = _few(c["footprint"], nb, na) or _change(c["footprint"], nb, na)[1]
    cp_pct, cp_words = _change(c["comparison"], nb, na)
    cp_words = _few(c["comparison"], nb, na) or cp_words
    k = len(result["comparison_areas"])
    parts = [f"{result['measure_label']} ({result['source_label']}) {_where(result)} {fp_words} between the "
             f"{plural(nb, 'month')} before the canvass ({before[0]} to {before[-1]}) and the {plural(na, 'month')} "
             f"after ({after[0]} to "
             f"{after[-1]}); in the {k} comparison neighborhood{'s' * (k != 1)} they {cp_words} over the same months."]
    local = result["wdd"]["local"]
    if local["z"] is None:
        parts.append("There were no incidents in either window to compare.")
    else:
        t0 = c["footprint"]["before"] / nb
        share = "" if t0 <= 0 else f", {abs(100 * local['estimate'] / t0):.0f}% of its level before"
        moved = ("moved by the same amount" if round(local["estimate"], 1) == 0 else
                 f"had {_per_month(local['estimate'])} a month{share}")
        parts.append(f"Relative to the comparisons, the footprint {moved} {_interval_words(result)}")
        detectable = abs(local["z"]) > result["placebo"]["critical_z"]
        parts += [_noise(result, detectable), _reconcile(result, detectable, cp_pct, cp_words)]
        if not detectable:
            parts.append(_to_tell(result))
    parts.append(undercount_words(result.get("undercounted") or []))
    parts.append(methods_sentence(result))
    if result["measure_definition"]:
        parts.append(f"{result['measure_label']} here means {result['measure_definition']}")
    return " ".join(p for p in parts if p)


def _excludes_zero(lo: float, hi: float) -> bool:
    return lo > 0 or hi < 0


def _interval_words(result: dict) -> str:
    """The interval beside the relative change, the one the verdict's threshold implies. When the placebos set a
    higher threshold than the textbook 90% one and the counting-noise interval alone would exclude no change while
    the wider one does not, both are given and the reason: places swing more than counting noise."""
    local, critical = result["wdd"]["local"], result["placebo"]["critical_z"]
    lo, hi = local["ci90"]
    wlo, whi = interval(local, critical)
    span = f"{_per_month(wlo)} to {_per_month(whi)} a month"
    if abs(critical - Z90) < 0.005:
        return f"(90% interval: {span})."
    if _excludes_zero(lo, hi) and not _excludes_zero(wlo, whi):  # the placebo threshold never narrows it
        side = "drop" if hi < 0 else "rise"
        return (f"(90% interval, widened to the spread the placebos show: {span}). Counting noise alone would put it "
                f"at {_per_month(lo)} to {_per_month(hi)} a month, entirely a {side}, but places like these swing "
                f"more than counting noise (the placebos' threshold is z beyond ±{critical:.2f}, not ±{Z90:.2f}), "
                "which is why the wider interval includes no change.")
    return f"(90% interval, widened to the spread the placebos show: {span})."


def undercount_words(months: list[str]) -> str:
    """The sentence for windows that mix months the source undercounts with full ones ('' when they do not)."""
    if not months:
        return ""
    return (f"The windows mix {plural(len(months), 'month')} this source undercounts ({month_list(months)}) with full "
            "ones, so the footprint's own change is partly the data's; the comparisons, undercounted alike, are less "
            "affected.")


def etest_sentence(et: dict, nb: int, na: int, undercounted: list[str] | None = None) -> str:
    """The Poisson e-test in words, counts labelled with their windows and, when the windows differ in length, the
    monthly rates the percentage is computed from ("361 in 6 months → 471 in 9 months: 60.2 → 52.3 a month
    (-13%)"): raw totals of unequal windows would rise while the rate falls."""
    counts = f"{plural(et['before'], 'incident')} in {plural(nb, 'month')} → {et['after']:,} in {plural(na, 'month')}"
    if nb != na:
        counts += f": {et['before'] / nb:,.1f} → {et['after'] / na:,.1f} a month"
    if et["p_value"] is None:
        return f"{counts}: too few to tell"
    pct = "" if et["before"] == 0 else f" ({100 * (et['after'] / na) / (et['before'] / nb) - 100:+.0f}%)"
    if undercounted:
        return (f"{counts}{pct}: not tested, as the windows mix months this source undercounts "
                f"({month_list(undercounted)}) with full ones")  # no p-value beside "not tested" (blind review)
    if et["verdict"] in ("up", "down"):
        return f"{counts}{pct}: larger than chance ({_p(et['p_value'])})"
    return f"{counts}{pct}: within ordinary noise (p = {et['p_value']:.2f})"


def etest_line(result: dict) -> str:
    """The e-test's line under the counts table. When the e-test finds a change the verdict does not (the footprint
    moved beyond chance on its own, but no more than its comparisons did), the line says at once why both hold, so
    the line never seems to contradict the verdict above it (blind review: "No detectable change" over "larger than
    chance (p = 0.002)")."""
    line = ("Poisson e-test on the footprint's raw change (the footprint alone, not against the comparisons): "
            f"{result['etest']['sentence']}.")
    z = result["wdd"]["local"]["z"]
    if (z is None or abs(z) > result["placebo"]["critical_z"] or result.get("undercounted")
            or result["etest"]["verdict"] not in ("up", "down")):  # the two agree, or the e-test is not read
        return line
    nb, na = len(result["windows"]["before"]), len(result["windows"]["after"])
    c = result["counts"]
    cp_pct, cp_words = _change(c["comparison"], nb, na)
    why = _matched(result, cp_pct, _few(c["comparison"], nb, na) or cp_words)
    return (f"{line} This does not contradict the verdict above, which sets the footprint against its comparisons: "
            f"{why}.")


def methods_sentence(result: dict) -> str:
    """Why the methods side by side (synthetic control, WDD and e-test over long windows) can read differently from
    this evaluation: they use other windows, so they compare other months. Empty when they use the same windows or
    cannot run for this event."""
    mw = result.get("methods_windows")
    nb, na = len(result["windows"]["before"]), len(result["windows"]["after"])
    if not mw or (mw["before"], mw["after"]) == (nb, na):
        return ""
    fp = mw["footprint"]
    pct, words = _change(fp, mw["before"], mw["after"])
    here, _ = _change(result["counts"]["footprint"], nb, na) if result["unit"] == "areas" else (None, "")
    what = "" if (result["unit"], result["measure"]) == ("areas", mw["measure"]) else (
        f" and count {mw['measure_label'].lower()} by neighborhood-month, not {result['measure_label'].lower()},")
    head = (f"The methods side by side (synthetic control and the rest, on the Programs page and behind the Outreach "
            f"page's synthetic-control switch) use {plural(mw['before'], 'month')} before and {mw['after']} after "
            f"({mw['first']} to {mw['last']}){what} because a synthetic comparison needs a long past; over those "
            f"months the footprint's own count {words}")
    opposite = pct is not None and here is not None and round(pct) != 0 and round(here) != 0 and (pct < 0) != (here < 0)
    b_long, b_here = fp["before"] / mw["before"], result["counts"]["footprint"]["before"] / nb
    why = (f"the {mw['before']}-month average before ({b_long:,.1f} a month) is not the {nb}-month one here "
           f"({b_here:,.1f} a month)" if result["unit"] == "areas" else "they count another measure over other months")
    short = mw.get("undercounted") or []
    data = (f" Those windows also hold {plural(len(short), 'month')} this source undercounts ({month_list(short)}) "
            "beside months it does not, so their raw change is partly the data's." if short else "")
    if opposite:
        return (f"{head}, so they can say it {'rose' if pct > 0 else 'fell'} where this paragraph says it "
                f"{'rose' if here > 0 else 'fell'}: the windows cover different months, and {why}.{data}")
    return f"{head}; their numbers differ from these because the windows cover different months: {why}.{data}"


def methods_threshold_note(result: dict, other: dict) -> str:
    """One sentence under the methods table on the Outreach page: its WDD row is another test (the methods' long
    windows) with its own threshold, so "beyond ±1.80" above and "|z| > 3.05" in the table are not one test with two
    bars (review r2a). Empty when the table has no WDD row or the windows are the same."""
    row = next((m for m in other.get("methods", []) if m["method"].startswith("Weighted displacement")), None)
    mw = other.get("windows_months") or {}
    nb, na = len(result["windows"]["before"]), len(result["windows"]["after"])
    if row is None or not mw or (mw["before"], mw["after"]) == (nb, na):
        return ""
    return (f"The table's weighted displacement difference row is a different test from the one above: it compares "
            f"the {mw['before']} months before with the {mw['after']} after, and its threshold ({row['threshold']}, "
            f"checked on held-out placebos) is set on placebos run over those windows, while ±"
            f"{result['placebo']['critical_z']:.2f} above is set on this design's placebo checks over {nb} and {na} "
            "months; the bars differ because longer windows hold more incidents, so counting noise shrinks while "
            "the ordinary drift between places over years does not, and placebo z-scores spread wider.")
