"""`python -m analytics counts ...`: the same numbers the pages show, on the command line."""

from __future__ import annotations

import argparse
import json
import math
import sys
from datetime import date
from typing import NoReturn

import numpy as np

from analytics import evaluation, panel, queries, registry
from analytics.wdd import BadInput, as_dict, require_variance, wdd
from kcvt.db import DataUnavailable, connect

#: what a bad value raises: each becomes one line on stderr and exit code 2, never a traceback
BAD_VALUES = (queries.BadQuery, DataUnavailable, registry.RegistryError, evaluation.BadDesign, BadInput,
              panel.NotEvaluable)


class Parser(argparse.ArgumentParser):
    """argparse, except that a value it refuses is one line on stderr (and exit 2), like every other bad value."""

    def error(self, message: str) -> NoReturn:
        """Exit 2 with one line naming the refused value and pointing to --help, instead of argparse's usage block: the
        same shape as every other bad value (BAD_VALUES)."""
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from exc


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
    f = queries.Filter(args.source, args.category, args.start, args.end, args.area)
    with connect() as con:
        result = queries.total(con, f)
        series = queries.monthly(con, f)
    result["monthly"] = [
        {"month": m.strftime("%Y-%m"), "n": None if n != n else int(n), "status": st}  # n != n: NaN
        for m, n, st in zip(series["month"], series["n"], series["status"], strict=True)
    ]
    if args.json:
        print_json(result)
    else:
        n = "no data" if result["n"] is None else result["n"]
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
    table = result.pop("table")
    if args.json:
        result["table"] = json.loads(table.to_json(orient="records"))
        print_json(result)
    else:
        print(table.head(args.top).to_string(index=False))
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
    comparison = [a.strip() for a in (args.comparison or "").split("|") if a.strip()]
    return evaluation.Design(unit=unit, source=args.source or source, measure=args.measure or measure,
                             months_before=args.months_before, months_after=args.months_after, buffer_m=args.buffer_m,
                             comparison=comparison or None)


def cmd_evaluate(args: argparse.Namespace) -> int:
    """`evaluate`: one event's before/after evaluation, as the Outreach page shows it. Without design options the
    design is chosen from coverage (GVA points where GVA covers both windows, else KCPD neighborhood-months).
    `--method synth` gives the synthetic control and `--method all` the three methods side by side, as the Programs
    page shows them (KCPD crimes against persons by neighborhood-month, 36 months before and 12 after by default)."""
    event = registry.get(args.event)
    if args.method != "wdd":
        return _other_methods(args, event)
    args.months_before = 6 if args.months_before is None else args.months_before
    args.months_after = 6 if args.months_after is None else args.months_after
    with connect() as con:
        result = evaluation.evaluate(con, event, _design(con, args, event))
    if args.json:
        print_json(result)
    else:
        print(f"{result.get('name', event.name)}: {result['status']}")
        print(result.get("verdict") or result.get("message"))
        if result.get("displacement"):
            print(result["displacement"])
    return 0


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


def _ids(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def cmd_program(args: argparse.Namespace) -> int:
    """`program`: the pooled effect across a program's footprints (stacked Poisson event study), each footprint's
    contribution, and placebo programs, as the Programs page shows them."""
    from analytics import program

    with connect() as con:
        result = program.evaluate(con, args.program, _ids(args.events), args.placebos)
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
    v.add_argument("--comparison", help="comparison neighborhoods, '|'-separated (default: suggested)")
    v.add_argument("--json", action="store_true", help="machine-readable output")
    v.set_defaults(func=cmd_evaluate)

    g = sub.add_parser("program", help="pooled effect of a program's footprints with staggered starts")
    g.add_argument("--program", help="program id, e.g. prospect-corridor or council-2026")
    g.add_argument("--events", help="event ids, comma-separated (default: the program's events)")
    g.add_argument("--placebos", type=_positive_int, default=None,
                   help="placebo programs per half (calibration, held-out check; default 40, as on the page)")
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
    return p


def main(argv: list[str] | None = None) -> int:
    """Run one command. A bad value is one line on stderr and exit code 2, with nothing on stdout."""
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except BAD_VALUES as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)  # always one line
        return 2
