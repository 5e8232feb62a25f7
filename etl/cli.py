"""`python -m etl build | load FILE --source S | status [--json]`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from analytics import status
from analytics.db import DataUnavailable, connect
from analytics.settings import db_path
from etl.build import build, load_file
from etl.errors import EtlError


def _print_result(r) -> None:
    if r.skipped:
        print(f"{r.file}: {r.message}")
        return
    line = f"{r.file} -> {r.source_id}: {r.rows_read} rows read, {r.rows_loaded} loaded, {r.rows_rejected} rejected"
    if r.incidents:
        line += f", {r.incidents} incidents"
    print(line + (f" ({r.message})" if r.message else ""))


def cmd_build(args: argparse.Namespace) -> int:
    for r in build(progress=not args.quiet):
        _print_result(r)
    print(f"database ready: {db_path()}")
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        print(f"error: no such file: {path}", file=sys.stderr)
        return 2
    r = load_file(path, args.source, progress=not args.quiet)
    _print_result(r)
    if r.rows_rejected:
        print(f"rejected rows are kept with their reasons: python -m etl status, or the Data page (load #{r.load_id})")
    return 0


def cmd_refresh(args: argparse.Namespace) -> int:
    from etl.refresh import DEFAULT_TOLERANCE, refresh

    results = refresh(since=args.since, dry_run=args.dry_run, force=args.force,
                      tolerance=args.tolerance if args.tolerance is not None else DEFAULT_TOLERANCE,
                      progress=not args.quiet)
    for r in results:
        kind = "incremental" if r.incremental else "full"
        changes = ", ".join(f"{y}: {b:,} -> {a:,}" for y, (b, a) in r.changes.items()) or "no count changes"
        print(f"{r.dataset.year} {r.dataset.dataset_id}: {kind}, {r.rows} rows in {r.pages} page(s); {changes}; "
              f"{r.message}")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    with connect() as con:
        info = status.summary(con)
    if args.json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    for s in info["sources"]:
        cov = "; ".join(f"{k}: {', '.join(v)}" for k, v in s["coverage"].items() if v) or "no coverage"
        print(f"{s['source']:<14} {s['incidents']:>7} incidents  {cov}")
    print(f"rejected rows: {info['rejected_rows']}")
    if info["last_load"]:
        print(f"last load: #{info['last_load']['load_id']} {info['last_load']['file']} at {info['last_load']['loaded_at']}")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m etl", description="Load KC incident and count data into DuckDB.")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="rebuild the database from data/ (bundled and user-loaded files)").set_defaults(
        func=cmd_build)
    load = sub.add_parser("load", help="add a file downloaded from the city portal (kcpd) or Gun Violence Archive (gva)")
    load.add_argument("file", help="CSV file, plain or .gz")
    load.add_argument("--source", required=True, choices=["kcpd", "gva"], help="which source the file is from")
    load.set_defaults(func=cmd_load)
    rf = sub.add_parser("refresh", help="fetch the yearly KCPD datasets from the city's open-data portal (SODA API)")
    rf.add_argument("--since", type=int, help="first year to refresh (default: every year listed)")
    rf.add_argument("--dry-run", action="store_true", help="fetch and compare, change nothing")
    rf.add_argument("--force", action="store_true", help="accept a change in a year's count beyond the tolerance")
    rf.add_argument("--tolerance", type=float, help="largest accepted change in a year's count (default 0.10)")
    rf.set_defaults(func=cmd_refresh)
    st = sub.add_parser("status", help="coverage by source and month, counts, rejects, last load")
    st.add_argument("--json", action="store_true", help="machine-readable output")
    st.set_defaults(func=cmd_status)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (EtlError, DataUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
