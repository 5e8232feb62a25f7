"""`python -m etl build | load FILE --source S | status [--json]`."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

from etl.build import build, load_file
from etl.errors import EtlError
from etl.extract import excerpt
from etl.transform import EARLIEST
from kcvt import status
from kcvt.cli import Parser, bounded_float
from kcvt.db import DataUnavailable, connect
from kcvt.locks import LockHeld
from kcvt.settings import db_path, open_data_deadline, open_data_max_rows, parse_deadline


def _print_result(r) -> None:
    if r.skipped:
        print(f"{r.file}: {r.message}")
        return
    line = f"{r.file} -> {r.source_id}: {r.rows_read} rows read, {r.rows_loaded} loaded, {r.rows_rejected} rejected"
    if r.incidents:
        line += f", {r.incidents} incidents"
    print(line + (f" ({r.message})" if r.message else ""))


def cmd_build(args: argparse.Namespace) -> int:
    """`etl build`: rebuild the database from data/ and print what each file gave."""
    for r in build(progress=not args.quiet):
        _print_result(r)
    print(f"database ready: {db_path()}")
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    """`etl load FILE --source S`: add a user's file; `--replace` is only previewed until `--yes`.

    A link or a missing file is refused before anything is read, so the loader never follows a link to a file the
    user did not mean to load.
    """
    if args.yes and not args.replace:
        print("error: --yes only applies with --replace (it applies the replacement --replace previews); "
              "nothing was loaded", file=sys.stderr)
        return 2
    path = Path(args.file)
    if path.is_symlink() or not path.is_file():
        what = ("is a symbolic link: give the file itself" if path.is_symlink() else
                "is a folder: give one file" if path.is_dir() else "no such file")
        print(f"error: {excerpt(path, 200)}: {what}", file=sys.stderr)
        return 2
    preview = args.replace and not args.yes
    r = load_file(path, args.source, progress=not args.quiet, replace=args.replace, preview=preview,
                  covers=args.covers)
    _print_result(r)
    if r.changes:
        print("incidents by year: " + ", ".join(f"{y}: {b:,} -> {a:,}" for y, (b, a) in r.changes.items()))
    if preview:
        print("this was a preview of --replace: nothing changed. Rerun with --replace --yes to apply it.")
        return 0
    if r.rows_rejected:
        print(f"rejected rows are kept with their reasons: python -m etl status, or the Data page (load #{r.load_id})")
    if r.rows_read and not r.rows_loaded:  # every row refused: bad input, though its rows and reasons are kept
        print(f"error: {excerpt(path, 200)}: no row loaded, all {r.rows_read:,} rejected", file=sys.stderr)
        return 2
    return 0


def _covers(text: str) -> tuple[str, str]:
    """`--covers 2019-01:2019-12` (months, or an end day YYYY-MM-DD for a partial last month)."""
    first, sep, last = text.partition(":")
    try:
        start = datetime.strptime(first, "%Y-%m")
        end = datetime.strptime(last, "%Y-%m-%d" if len(last) == 10 else "%Y-%m")
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a span FIRST:LAST of months (YYYY-MM:YYYY-MM): {excerpt(text)}") from None
    if not sep or not EARLIEST.date() <= start.date() <= end.date() <= date.today().replace(day=28) + timedelta(days=40):
        raise argparse.ArgumentTypeError(f"not a span of past months, first before last: {excerpt(text)}")
    return first, last


def _deadline(text: str) -> float:
    """`--deadline`: the rule KC_OPEN_DATA_DEADLINE follows too (kcvt.settings.parse_deadline)."""
    try:
        return parse_deadline(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_refresh(args: argparse.Namespace) -> int:
    """`etl refresh`: fetch the yearly KCPD datasets from the portal and print each one's changes."""
    from etl.refresh import DEFAULT_TOLERANCE, refresh

    try:  # the settings are checked before anything is fetched
        deadline = args.deadline if args.deadline is not None else open_data_deadline()
        max_rows = open_data_max_rows()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    results = refresh(since=args.since, dry_run=args.dry_run, force=args.force,
                      tolerance=args.tolerance if args.tolerance is not None else DEFAULT_TOLERANCE,
                      progress=not args.quiet, deadline=deadline, max_rows=max_rows)
    for r in results:
        kind = "incremental" if r.incremental else "full"
        changes = ", ".join(f"{y}: {b:,} -> {a:,}" for y, (b, a) in r.changes.items()) or "no count changes"
        print(f"{r.dataset.year} {r.dataset.dataset_id}: {kind}, {r.rows} rows in {r.pages} page(s); {changes}; "
              f"{r.message}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """`etl status`: coverage, counts, rejects and the last load, as text or JSON."""
    with connect() as con:
        info = status.summary(con)
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    for s in info["sources"]:
        cov = "; ".join(f"{k}: {', '.join(v)}" for k, v in s["coverage"].items() if v) or "no coverage"
        what = "counts, not incidents" if s["incidents"] is None else f"{s['incidents']:>7} incidents"
        print(f"{s['source']:<14} {what}  {cov}")
    print(f"rejected rows: {info['rejected_rows']}")
    if info["last_load"]:
        print(f"last load: #{info['last_load']['load_id']} {info['last_load']['file']} at {info['last_load']['loaded_at']}")
    return 0


def parser() -> argparse.ArgumentParser:
    """The command line's parser; every command and option has help text (a test checks it)."""
    p = Parser(prog="python -m etl", description="Load KC incident and count data into DuckDB.")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="rebuild the database from data/ (bundled and user-loaded files)").set_defaults(
        func=cmd_build)
    load = sub.add_parser("load", help="add a file downloaded from the city portal (kcpd) or Gun Violence Archive (gva)")
    load.add_argument("file", help="CSV file, plain or .gz")
    load.add_argument("--source", required=True, choices=["kcpd", "gva"], help="which source the file is from")
    load.add_argument("--covers", type=_covers, metavar="FIRST:LAST",
                      help="declare the months the file covers, e.g. 2019-01:2019-12 (default: the months it has rows in)")
    load.add_argument("--replace", action="store_true",
                      help="the file's reports replace those already loaded (default: person-rows merge); shows the "
                           "effect and changes nothing unless --yes is given")
    load.add_argument("--yes", action="store_true", help="with --replace: apply it")
    load.set_defaults(func=cmd_load)
    rf = sub.add_parser("refresh", help="fetch the yearly KCPD datasets from the city's open-data portal (SODA API)")
    rf.add_argument("--since", type=int, help="first year to refresh (default: every year listed)")
    rf.add_argument("--dry-run", action="store_true", help="fetch and compare, change nothing")
    rf.add_argument("--force", action="store_true", help="accept a change in a year's count beyond the tolerance")
    rf.add_argument("--tolerance", type=bounded_float(0, 10),
                    help="largest accepted change in a year's count, a fraction (default 0.10)")
    rf.add_argument("--deadline", type=_deadline, metavar="SECONDS",
                    help="seconds one whole answer from the portal may take, retries included: above 0, at most "
                         "86400 (default 120, or KC_OPEN_DATA_DEADLINE, by the same rule)")
    rf.set_defaults(func=cmd_refresh)
    st = sub.add_parser("status", help="coverage by source and month, counts, rejects, last load")
    st.add_argument("--json", action="store_true", help="machine-readable output")
    st.set_defaults(func=cmd_status)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run a command; problems a user can act on are one line on stderr and exit code 2, never a traceback."""
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (EtlError, DataUnavailable, LockHeld) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
