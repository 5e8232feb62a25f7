"""`python -m analytics counts ...`: the same numbers the pages show, on the command line."""

from __future__ import annotations

import argparse
import json
import math
import sys
from datetime import date

import numpy as np

from analytics import evaluation, panel, queries, registry
from analytics.wdd import BadInput, as_dict, require_variance, wdd
from kcvt.cli import Parser
from kcvt.db import DataUnavailable, connect

#: what a bad value raises: each becomes one line on stderr and exit code 2, never a traceback
BAD_VALUES = (queries.BadQuery, DataUnavailable, registry.RegistryError, evaluation.BadDesign, BadInput,
              panel.NotEvaluable)  # and RefusedEvaluation, defined with `evaluate` below


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from exc


def _comparison(text: str) -> list[str]:
    """`--comparison "A|B"`: neighborhood names, '|'-separated; an empty list or an empty name is refused here
    (an empty list used to mean "the suggested ones", silently)."""
    names = [a.strip() for a in text.split("|")]
    if not names or not all(names):
        raise argparse.ArgumentTypeError(f"not a '|'-separated list of neighborhood names: {text[:80]!r}")
    return names


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"not a whole number of 1 or more: {text!r}")
    return value


def _finite(value):
    """The value with every NaN or infinity (Python or numpy) replaced by None, ready for strict JSON."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer | np.bool_):
        return value.item()
    return value


def print_json(data) -> None:
    """Strict JSON (RFC 8259) on stdout for every command: no NaN or Infinity tokens, which most parsers outside
    Python refuse; a missing or non-finite number is null, a date its ISO text."""
    print(json.dumps(_finite(data), indent=2, allow_nan=False, default=str))


def cmd_counts(args: argparse.Namespace) -> int:
    """`counts`: the total a page shows for the filter, with its monthly series. Months without data print as null
    ("no data" in text), never 0, and are listed, so a partial total is not taken for a full one."""
    from analytics import filters

    f = queries.Filter(args.source, args.category, args.start, args.end, args.area)
    note = None
    with connect() as con:
        if span := filters.widened(queries.validate(con, f).kind == "incidents", f.start, f.end):  # as pages do
            f = queries.Filter(f.source, f.category, *span, f.area)
            note = f"{f.source} counts whole months: the period is read as {f.start} to {f.end}"
        result = queries.total(con, f)
        series = queries.monthly(con, f)
    result["period_read_as"] = [str(f.start), str(f.end)]
    result["monthly"] = [
        {"month": m.strftime("%Y-%m"), "n": None if n != n else int(n), "status": st}  # n != n: NaN
        for m, n, st in zip(series["month"], series["n"], series["status"], strict=True)
    ]
    if args.json:
        print_json(result)
    else:
        n = "no data" if result["n"] is None else result["n"]
        if note:
            print(note)
        print(f"{f.category} ({f.source}) in {result['area']}, {f.start} to {f.end}: {n}")
        if result["missing_months"]:
            print(f"no data for: {', '.join(result['missing_months'])}")
    return 0


def cmd_rank(args: argparse.Namespace) -> int:
    """`rank`: the Hotspots page's neighborhood ranking, each change flagged against Poisson noise; --json gives
    every neighborhood, text the first --top rows."""
    from analytics import hotspots

    f = queries.Filter(args.source, args.category, args.start, args.end)
    with connect() as con:
        queries.validate(con, f)
        result = hotspots.rank(con, f, args.firearm)
    if args.json:
        result["table"] = json.loads(result["table"].to_json(orient="records"))  # nulls stay null
        print_json(result)
    else:  # as the page shows it: human headings, "no data" for what is unknown, never NaN or a column id
        from analytics import hotspots_text

        print(hotspots_text.ranking_table(result).head(args.top).to_string(index=False))
    return 0


def _hotspot_sections(con, f: queries.Filter, args: argparse.Namespace) -> dict:
    """The Hotspots page's Gi* cells, concentration and smoothed rates for one filter, each section either its
    numbers or the page's refusal ({"refused": why})."""
    from analytics import hotspots

    out: dict = {}
    try:
        result = hotspots.rank(con, f, args.firearm, args.by)
        cols = ["rank", "area_id", "population", "n", "rate_per_10k", "smoothed_rate_per_10k"]
        out["rates"] = {"by": args.by, "city_rate_per_10k": result["city_rate_per_10k"], "total": result["total"],
                        "table": json.loads(result["table"][cols].to_json(orient="records"))}
    except hotspots.NotCovered as exc:
        out["rates"] = {"refused": str(exc)}
    if queries.validate(con, f).kind != "incidents":
        why = "the hot-spot test and concentration need incident locations; this source counts whole neighborhoods"
        return out | {"concentration": {"refused": why}, "gi_star": {"refused": why}}
    out["concentration"] = hotspots.concentration(con, f, args.firearm)
    settings = {"alpha": hotspots.GI_ALPHA, "permutations": hotspots.GI_PERMUTATIONS, "seed": hotspots.GI_SEED,
                "min_events": hotspots.MIN_GI_EVENTS, "min_events_near": hotspots.MIN_RANK_EVENTS,
                "resolution": hotspots.GI_RESOLUTION}
    try:
        gi = hotspots.gi_star(con, f, args.firearm)
    except hotspots.TooFewEvents as exc:
        out["gi_star"] = settings | {"refused": str(exc)}
        return out
    spots = gi[gi["spot"].isin(hotspots.HOT_COLD)]
    names = hotspots.cell_neighborhoods(con, spots["hex"].tolist())
    out["gi_star"] = settings | {
        "cells": len(gi), "incidents": int(gi["n"].sum()),
        "too_few_to_tell": int((gi["spot"] == hotspots.TOO_FEW_SPOT).sum()), "spots": [
            {"hex": h, "neighborhood": names.get(h), "spot": s, "n": int(n), "n_with_neighbours": int(m),
             "z": round(float(z), 3), "p": float(p)}
            for h, s, n, m, z, p in zip(spots["hex"], spots["spot"], spots["n"], spots["n_local"], spots["z"],
                                        spots["p"], strict=True)]}
    return out


def cmd_hotspots(args: argparse.Namespace) -> int:
    """`hotspots`: the Gi* cells, concentration and smoothed rates the Hotspots page shows, from the same functions."""
    from analytics import hotspots

    f = queries.Filter(args.source, args.category, args.start, args.end)
    with connect() as con:
        gaps = hotspots.missing_reasons(con, f, args.firearm)
        if len(gaps) == len(queries.month_starts(f.start, f.end)):
            raise hotspots.NotCovered("nothing to map, test or rank", f, gaps, len(gaps),
                                      hotspots.source_label(con, f.source))
        result = {"source": f.source, "category": f.category, "start": str(f.start), "end": str(f.end),
                  "firearm_only": args.firearm, "missing_months": list(gaps)} | _hotspot_sections(con, f, args)
    if args.json:
        print_json(result)
        return 0
    for name in ("gi_star", "concentration", "rates"):
        section = result[name]
        if "refused" in section:
            print(f"{name}: {section['refused']}")
        elif name == "gi_star":
            k = len(section["spots"])
            print(f"gi_star: {k} hot or cold cell{'s' if k != 1 else ''} of {section['cells']}")
        elif name == "concentration":
            print(f"concentration: {section['share_in_top_5pct']}% of {section['incidents']} placed incidents in the "
                  f"busiest {section['top_cells']} of {section['cells']} cells")
        else:
            print(f"rates: city {section['city_rate_per_10k']} per 10,000; top by {section['by']}: "
                  + ", ".join(r["area_id"] for r in section["table"][:5]))
    return 0


def cmd_events(args: argparse.Namespace) -> int:
    """`events`: the canvass registry, marking which events have a date: an undated event (the Ruskin Heights
    canvass was never dated in print) cannot be evaluated."""
    events = [e.row() | {"evaluable": e.evaluable} for e in registry.load()]
    if args.json:
        print_json(events)
    else:
        for e in events:
            print(f"{e['event_id']:<32} {str(e['start_date'] or 'no date'):<10} {e['name']}")
    return 0


def _design(con, args: argparse.Namespace, event: registry.CanvassEvent) -> evaluation.Design | None:
    """The design the options ask for, or None to let `evaluate` choose from coverage. A unit other than the
    default's brings its own default source and measure; `evaluate` checks every value (Design.check)."""
    custom = any((args.unit, args.source, args.measure, args.comparison)) or (
        args.months_before, args.months_after, args.buffer_m) != (6, 6, 400.0)
    if not custom:
        return None
    base = evaluation.default_design(con, event)[0] if event.evaluable else evaluation.Design()
    unit = args.unit or base.unit
    source, measure = (base.source, base.measure) if unit == base.unit else evaluation.UNIT_DEFAULTS[unit]
    return evaluation.Design(unit=unit, source=args.source or source, measure=args.measure or measure,
                             months_before=args.months_before, months_after=args.months_after, buffer_m=args.buffer_m,
                             comparison=args.comparison)


def cmd_evaluate(args: argparse.Namespace) -> int:
    """`evaluate`: one event's before/after evaluation, as the Outreach page shows it. Without design options the
    design is chosen from coverage (GVA points where GVA covers both windows, else KCPD neighborhood-months).
    `--method synth` gives the synthetic control and `--method all` the three methods side by side, as the Programs
    page shows them (KCPD crimes against persons by neighborhood-month, 36 months before and 12 after by default)."""
    stored = registry.get(args.event)
    if args.method != "wdd":
        if args.date:
            raise evaluation.BadDesign("--date applies to --method wdd only: the synthetic control and the methods "
                                       "side by side run on the registry's own date")
        return _other_methods(args, stored)
    event = _what_if(stored, args.date)
    args.months_before = 6 if args.months_before is None else args.months_before
    args.months_after = 6 if args.months_after is None else args.months_after
    with connect() as con:
        result = evaluation.evaluate(con, event, _design(con, args, event))
    if args.date:
        result = {"what_if": True, "saved": False, "stored_date": None if stored.start_date is None else
                  str(stored.start_date), **result}
    if result["status"] != "evaluated":  # a refusal, as `rank` refuses: one line, exit 2, nothing on stdout
        message = result["message"] if result["status"] != "needs a date" else (
            "this event has no date, so it cannot be evaluated as stored. Try one with --date YYYY-MM-DD (a what-if, "
            "not saved), or an editor adds the date to the registry.")
        raise RefusedEvaluation(f"{event.name}: {message}")
    if args.json:
        print_json(result)
    else:
        if args.date:
            print(f"What if the canvass was on {args.date}? (what-if date, not saved: the registry has "
                  f"{stored.start_date or 'no date'} for this event)")
        print(f"{result.get('name', event.name)}: {result['status']}")
        print(result["in_short"])
        print(evaluation.summary(result))
        if result.get("displacement"):
            print(result["displacement"])
    return 0


class RefusedEvaluation(ValueError):
    """An evaluation the data or the registry cannot give (months without data, an event without a date)."""


def _what_if(event: registry.CanvassEvent, tried: date | None) -> registry.CanvassEvent:
    """The event as if it had happened on `tried` (not saved), or as stored. The date must lie in the range the
    page's what-if accepts (analytics.filters.date_bounds)."""
    if tried is None:
        return event
    from analytics import filters

    lo, hi = filters.date_bounds()
    if not lo <= tried <= hi:
        raise evaluation.BadDesign(f"--date {tried} is outside the accepted dates, {lo} to {hi}")
    return event.model_copy(update={"start_date": tried, "end_date": None})


def _other_methods(args: argparse.Namespace, event: registry.CanvassEvent) -> int:
    """`evaluate --method synth|all`: the design options of the WDD evaluation do not apply and are refused."""
    from analytics import methods, synth

    wdd_only = [name for name, value in (("--unit", args.unit), ("--source", args.source), ("--measure", args.measure),
                                        ("--comparison", args.comparison)) if value] + (
        ["--buffer-m"] if args.buffer_m != 400.0 else [])
    if wdd_only:
        raise evaluation.BadDesign(f"{', '.join(wdd_only)} apply to --method wdd only: the synthetic control counts "
                                   "KCPD crimes against persons by neighborhood-month")
    before = synth.BEFORE if args.months_before is None else args.months_before
    after = synth.AFTER if args.months_after is None else args.months_after
    for name, value in (("months before", before), ("months after", after)):
        if not evaluation.MONTHS[0] <= value <= evaluation.MONTHS[1]:
            raise evaluation.BadDesign(f"{name} must be a whole number from {evaluation.MONTHS[0]} to "
                                       f"{evaluation.MONTHS[1]}, not {value!r}")
    with connect() as con:
        run = methods.synth_event if args.method == "synth" else methods.compare
        result = run(con, event, before, after)
    if result["status"] != "evaluated":  # refused: the window, the data, the counts or the date fall short
        raise RefusedEvaluation(f"{event.name}: {result['message']}")
    if args.json:
        print_json(result)
    else:
        print(f"{event.name}: {result['status']}")
        if args.method == "all" and result["status"] == "evaluated":
            for row in result["methods"]:
                print(f"- {row['method']}: {row['call']} ({row['statistic'] or 'no statistic'}; {row['threshold']})")
            print(result["agreement"])
        print(result.get("verdict") or result.get("message") or result.get("synth", {}).get("verdict", ""))
    return 0


def _placebos(text: str) -> int:
    """`--placebos`: 1 to analytics.program.MAX_PROGRAM per half (more ran for minutes, to no use)."""
    from analytics import program

    value = _positive_int(text)
    if value > program.MAX_PROGRAM:
        raise argparse.ArgumentTypeError(f"at most {program.MAX_PROGRAM} placebo programs per half: {text!r}")
    return value


def _ids(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def cmd_program(args: argparse.Namespace) -> int:
    """`program`: the pooled effect across a program's footprints (stacked Poisson event study), each footprint's
    contribution, and placebo programs, as the Programs page shows them."""
    from analytics import program

    with connect() as con:
        result = program.evaluate(con, args.program, _ids(args.events), args.placebos)
    if result["status"] != "evaluated":  # nothing to evaluate is a refusal, as `evaluate` refuses: exit 2
        raise RefusedEvaluation(f"{result['title']}: {result['message']}")
    if args.json:
        print_json(result)
    else:
        print(f"{result['title']}: {result['status']}")
        print(result.get("verdict") or result.get("message"))
        if result.get("calibration"):
            print(result["calibration"]["sentence"])
    return 0


def cmd_detectable(args: argparse.Namespace) -> int:
    """`detectable`: tracking since the start and when drops of 10%, 20% or 30% would show, for an event or a
    program, as the Programs page's tracking view shows it."""
    from analytics import detect

    with connect() as con:
        result = detect.track(con, args.program, [args.event] if args.event else None, args.horizon)
    if result["status"] != "tracked":  # nothing to track (no date, too little data before): exit 2, as `evaluate`
        raise RefusedEvaluation(f"{result['title']}: {result['message']}")
    if args.json:
        print_json(result)
    else:
        print(f"{result['title']}: {result['status']}")
        print(result.get("answer") or result.get("message"))
    return 0


def cmd_wdd(args: argparse.Namespace) -> int:
    """`wdd`: the test on counts given by hand (e.g. the paper's worked example). A part whose counts are all 0 is
    refused rather than printed as an estimate of 0 with no uncertainty."""
    buffers = [tuple(b) if b else None for b in (args.buffer, args.buffer_control)]
    result = as_dict(require_variance(wdd(tuple(args.treated), tuple(args.control), *buffers, args.before_len,
                                          args.after_len)))
    if args.json:
        print_json(result)
    else:
        for part, r in result.items():
            print(f"{part}: estimate {r['estimate']:+.2f}, SE {r['se']:.2f}, z {r['z']:.2f}, "
                  f"90% CI {r['ci90'][0]:+.1f} to {r['ci90'][1]:+.1f}")
    return 0


def _month(text: str) -> date:
    try:
        return date.fromisoformat(f"{text}-01")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a month (YYYY-MM): {text!r}") from exc


def _count(text: str) -> int:
    if not text.isdigit() or int(text) > 9999:
        raise argparse.ArgumentTypeError(f"not a whole number from 0 to 9999: {text!r}")
    return int(text)


def _year(text: str) -> int:
    if not (text.isdigit() and len(text) == 4):
        raise argparse.ArgumentTypeError(f"not a year (YYYY): {text!r}")
    return int(text)


def _records(frame) -> list[dict]:
    return json.loads(frame.to_json(orient="records"))


def cmd_emerging(args: argparse.Namespace) -> int:
    """`emerging`: the Emerging hot spots page's table (every place's category, trend, last significant slice) for a
    period that defaults to the longest run of slices with data; --place adds that place's Gi* z-score by slice."""
    from analytics import emerging

    with connect() as con:
        queries.validate(con, queries.Filter(args.source, args.category, date(2000, 1, 1), date(2000, 1, 1)))
        start, end = (args.start, args.end) if args.start and args.end else emerging.default_range(
            con, args.source, args.category, args.slice)
        result = emerging.emerging(con, queries.Filter(args.source, args.category, args.start or start,
                                                       args.end or end), args.slice, args.unit, args.permutations)
    z, table = result.pop("z"), result.pop("table")
    result.pop("counts")
    if args.place is not None:
        if args.place not in z.index:
            raise queries.BadQuery(f"no place {args.place!r} in this analysis (neighborhood name or H3 cell id)")
        result["series"] = [{"slice": s, "z": v} for s, v in z.loc[args.place].items()]
    if args.json:
        result["table"] = _records(table)
        print_json(result)
    else:
        print(f"{result['places']} places, {len(result['slices'])} {args.slice}s, {result['start']} to {result['end']}")
        shown = table[table["category"] != emerging.NO_PATTERN].sort_values("category")
        print(shown[["place", "category", "tau", "trend_p", "last_significant"]].to_string(index=False))
    return 0


def cmd_watchlist(args: argparse.Namespace) -> int:
    """`watchlist`: every neighborhood's observed and expected count for the latest complete month (or --month), the
    range, p and Benjamini-Hochberg q, and the watch list in words."""
    from analytics import warning

    with connect() as con:
        result = warning.watchlist(con, args.source, args.category, args.slice, args.month)
    table = result.pop("table")
    if args.json:
        result["table"] = _records(table)
        print_json(result)
    else:
        print(f"{result['target']}: {result['flagged']} of {result['tested']} neighborhoods flagged beyond their range "
              f"(false-discovery rate {result['fdr']:.0%}), {result['outside_not_flagged']} more outside it but not "
              f"flagged; trained on {result['training']}")
        print("\n".join(result["watch"]) or "No neighborhood is beyond its expected range.")
    return 0


def cmd_backtest(args: argparse.Namespace) -> int:
    """`backtest`: for each year, the share of its incidents and of its top 20 that each ranking made the year
    before picked, against last year's top 20 by count."""
    from analytics import backtest

    with connect() as con:
        queries.validate(con, queries.Filter(args.source, args.category, date(2000, 1, 1), date(2000, 1, 1)))
        result = backtest.backtest(con, args.source, args.category, args.first, args.last)
    table, summary = result.pop("table"), result.pop("summary")
    if args.json:
        result |= {"table": _records(table), "summary": _records(summary),
                   "picks": {str(y): p for y, p in result["picks"].items()},
                   "skipped": {str(y): why for y, why in result["skipped"].items()},
                   "not_computable": {str(y): why for y, why in result["not_computable"].items()}}
        print_json(result)
        return 0
    from analytics import briefing

    if not table.empty:
        print(briefing.backtest_table(result | {"table": table}).to_string(index=False))
        print(f"\nAverages over the years scored, {result['first']}-{result['last']}:")
        print(briefing.backtest_summary_table(result | {"summary": summary}).to_string(index=False))
    for y, why in result["skipped"].items():
        print(f"{y} skipped: {why}")
    for y, why in result["not_computable"].items():
        print(f"{y}: signals not computable (null, not 0): {why}")
    return 0


START_HELP = f"first day, YYYY-MM-DD, from {queries.EARLIEST}"
END_HELP = f"last day, YYYY-MM-DD, up to 31 December {queries.YEARS_AHEAD} years ahead"
MONTHS = f"{evaluation.MONTHS[0]} to {evaluation.MONTHS[1]}"


def parser() -> argparse.ArgumentParser:
    """The command line. Dates are parsed here, so a typo is one line and exit 2; their range, the ids and the
    windows are checked by the layers below, the same checks the pages go through."""
    p = Parser(prog="python -m analytics", description="Counts and statistics from the database.")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("counts", help="incident count for a source, category, date range and optional neighborhood")
    c.add_argument("--category", required=True, help="category id, e.g. shooting, homicide, persons")
    c.add_argument("--source", required=True, help="source id, e.g. gva, kcpd, kcpd_nbhd")
    c.add_argument("--start", required=True, type=_date, help=START_HELP)
    c.add_argument("--end", required=True, type=_date, help=END_HELP)
    c.add_argument("--area", help="neighborhood name (default: the whole city)")
    c.add_argument("--json", action="store_true", help="machine-readable output")
    c.set_defaults(func=cmd_counts)

    r = sub.add_parser("rank", help="the target-neighborhood ranking the Hotspots page shows")
    r.add_argument("--category", required=True, help="category id")
    r.add_argument("--source", required=True, help="source id")
    r.add_argument("--start", required=True, type=_date, help=START_HELP)
    r.add_argument("--end", required=True, type=_date, help=END_HELP)
    r.add_argument("--firearm", action="store_true", help="firearm-involved incidents only")
    r.add_argument("--top", type=_positive_int, default=20, help="rows to print without --json (default 20)")
    r.add_argument("--json", action="store_true", help="machine-readable output: every neighborhood")
    r.set_defaults(func=cmd_rank)

    h = sub.add_parser("hotspots", help="the Hotspots page's Gi* hot and cold spots, concentration and smoothed rates")
    h.add_argument("--category", required=True, help="category id")
    h.add_argument("--source", required=True, help="source id")
    h.add_argument("--start", required=True, type=_date, help=START_HELP)
    h.add_argument("--end", required=True, type=_date, help=END_HELP)
    h.add_argument("--firearm", action="store_true", help="firearm-involved incidents only")
    h.add_argument("--by", choices=["count", "rate"], default="count",
                   help="order the rates table by count or by smoothed rate (default count)")
    h.add_argument("--json", action="store_true", help="machine-readable output")
    h.set_defaults(func=cmd_hotspots)

    e = sub.add_parser("events", help="list the canvass registry")
    e.add_argument("--json", action="store_true", help="machine-readable output")
    e.set_defaults(func=cmd_events)

    v = sub.add_parser("evaluate", help="before/after evaluation of one canvass event, as on the Outreach page")
    v.add_argument("--event", required=True, help="event id (see `events`)")
    v.add_argument("--unit", choices=["areas", "points"], help="neighborhood-month counts or incident points")
    v.add_argument("--source", help="source id (default: chosen from coverage)")
    v.add_argument("--measure", help="category id, e.g. persons or shooting")
    v.add_argument("--method", choices=["wdd", "synth", "all"], default="wdd",
                   help="wdd: the Outreach page's evaluation (default); synth: synthetic control; all: WDD, e-test and "
                        "synthetic control side by side")
    v.add_argument("--months-before", type=int, default=None,
                   help=f"before window in months, {MONTHS} (default 6; 36 for synth and all)")
    v.add_argument("--months-after", type=int, default=None,
                   help=f"after window in months, {MONTHS} (default 6; 12 for synth and all)")
    v.add_argument("--buffer-m", type=float, default=400.0,
                   help=f"displacement buffer in metres, above 0 and at most {evaluation.MAX_BUFFER_M:g} (default 400)")
    v.add_argument("--comparison", type=_comparison, help="comparison neighborhoods, '|'-separated (default: suggested)")
    v.add_argument("--date", type=_date, help="what if the event was on this day (YYYY-MM-DD)? a what-if, not saved "
                                             "to the registry (wdd only)")
    v.add_argument("--json", action="store_true", help="machine-readable output")
    v.set_defaults(func=cmd_evaluate)

    g = sub.add_parser("program", help="pooled effect of a program's footprints with staggered starts")
    g.add_argument("--program", help="program id, e.g. prospect-corridor or council-2026")
    g.add_argument("--events", help="event ids, comma-separated (default: the program's events)")
    g.add_argument("--placebos", type=_placebos, default=None,
                   help="placebo programs per half (calibration, held-out check; default 40, as on the page; at "
                        "most 200)")
    g.add_argument("--json", action="store_true", help="machine-readable output")
    g.set_defaults(func=cmd_program)

    d = sub.add_parser("detectable", help="tracking since the start, and when a drop would become detectable")
    which = d.add_mutually_exclusive_group(required=True)
    which.add_argument("--event", help="event id")
    which.add_argument("--program", help="program id")
    d.add_argument("--horizon", type=_positive_int, default=36, help="months ahead to project (default 36)")
    d.add_argument("--json", action="store_true", help="machine-readable output")
    d.set_defaults(func=cmd_detectable)

    w = sub.add_parser("wdd", help="weighted displacement difference test on counts you give")
    w.add_argument("--treated", nargs=2, type=float, required=True, metavar=("BEFORE", "AFTER"))
    w.add_argument("--control", nargs=2, type=float, required=True, metavar=("BEFORE", "AFTER"))
    w.add_argument("--buffer", nargs=2, type=float, metavar=("BEFORE", "AFTER"))
    w.add_argument("--buffer-control", nargs=2, type=float, metavar=("BEFORE", "AFTER"))
    w.add_argument("--before-len", type=float, default=1.0, help="before window length (default 1)")
    w.add_argument("--after-len", type=float, default=1.0, help="after window length (default 1)")
    w.add_argument("--json", action="store_true", help="machine-readable output")
    w.set_defaults(func=cmd_wdd)

    slices = ["month", "quarter"]
    m = sub.add_parser("emerging", help="emerging hot spots (Gi* per slice, Mann-Kendall trend, Esri's categories)")
    m.add_argument("--source", required=True, help="source id with places, e.g. kcpd_nbhd, gva")
    m.add_argument("--category", required=True, help="category id, e.g. persons, shooting")
    m.add_argument("--slice", choices=slices, default="month", help="time slice (default month)")
    m.add_argument("--unit", choices=["neighborhood", "hex"], default="neighborhood",
                   help="places: neighborhoods (contiguity) or H3 cells (incident sources; default neighborhood)")
    m.add_argument("--start", type=_date, help="first day (default: the longest run of slices with data)")
    m.add_argument("--end", type=_date, help="last day (default: the longest run of slices with data)")
    m.add_argument("--permutations", type=_count, default=0,
                   help="conditional permutations for Gi* p-values, 0 to 9999 (default 0: normal approximation)")
    m.add_argument("--place", help="also print this place's Gi* z-score by slice")
    m.add_argument("--json", action="store_true", help="machine-readable output: every place")
    m.set_defaults(func=cmd_emerging)

    a = sub.add_parser("watchlist", help="early warning: neighborhoods beyond their expected count this month")
    a.add_argument("--source", required=True, help="source id with neighborhood counts, e.g. kcpd_nbhd")
    a.add_argument("--category", required=True, help="category id, e.g. persons")
    a.add_argument("--slice", choices=slices, default="month", help="month or quarter (default month)")
    a.add_argument("--month", type=_month, help="YYYY-MM to test (default: the latest complete month or quarter)")
    a.add_argument("--json", action="store_true", help="machine-readable output: every neighborhood")
    a.set_defaults(func=cmd_watchlist)

    b = sub.add_parser("backtest", help="did last year's ranking predict this year? each signal against the naive one")
    b.add_argument("--source", default="kcpd_nbhd", help="source id with neighborhood counts (default kcpd_nbhd)")
    b.add_argument("--category", default="persons", help="category id (default persons)")
    b.add_argument("--first", type=_year, default=2017, help="first year predicted (default 2017)")
    b.add_argument("--last", type=_year, default=2025, help="last year predicted (default 2025)")
    b.add_argument("--json", action="store_true", help="machine-readable output")
    b.set_defaults(func=cmd_backtest)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one command. A bad value is one line on stderr and exit code 2, with nothing on stdout."""
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (*BAD_VALUES, RefusedEvaluation) as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)  # always one line
        return 2
