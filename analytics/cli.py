"""`python -m analytics counts ...`: the same numbers the pages show, on the command line."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date

from analytics import queries
from analytics.db import DataUnavailable, connect


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from exc


def cmd_counts(args: argparse.Namespace) -> int:
    f = queries.Filter(args.source, args.category, args.start, args.end, args.area)
    with connect() as con:
        result = queries.total(con, f)
        series = queries.monthly(con, f)
    result["monthly"] = [
        {"month": m.strftime("%Y-%m"), "n": None if n != n else int(n), "status": st}  # n != n: NaN
        for m, n, st in zip(series["month"], series["n"], series["status"], strict=True)
    ]
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        n = "no data" if result["n"] is None else result["n"]
        print(f"{f.category} ({f.source}) in {result['area']}, {f.start} to {f.end}: {n}")
        if result["missing_months"]:
            print(f"no data for: {', '.join(result['missing_months'])}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m analytics", description="Counts and statistics from the database.")
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("counts", help="incident count for a source, category, date range and optional neighborhood")
    c.add_argument("--category", required=True, help="category id, e.g. shooting, homicide, persons")
    c.add_argument("--source", required=True, help="source id, e.g. gva, kcpd, kcpd_nbhd")
    c.add_argument("--start", required=True, type=_date, help="first day, YYYY-MM-DD")
    c.add_argument("--end", required=True, type=_date, help="last day, YYYY-MM-DD")
    c.add_argument("--area", help="neighborhood name (default: the whole city)")
    c.add_argument("--json", action="store_true", help="machine-readable output")
    c.set_defaults(func=cmd_counts)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (queries.BadQuery, DataUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
