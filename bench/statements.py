"""Where a load's time goes, statement by statement: our whole load of one KCPD file (as `bench.load_once`), with the
wall time of every DuckDB statement it runs summed by statement, and the rest (Python: placing points, checksums).

    python -m bench.statements CSV [--top 25]    # e.g. bench/_work/SYNTHETIC-kcpd-5000000.csv

The database is built in a temporary folder and deleted. Statements are keyed by their first 110 characters, so a
statement run once per file or per area layer adds up under one line.
"""

from __future__ import annotations

import argparse
import collections
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import bench.load_once as load_once
from etl import build


class _Timed:
    """A connection whose `execute` adds its wall time to `times` (everything else passes through)."""

    def __init__(self, con, times: collections.Counter) -> None:
        self._con, self._times = con, times

    def execute(self, query, *args, **kwargs):
        start = time.perf_counter()
        try:
            return self._con.execute(query, *args, **kwargs)
        finally:
            self._times[" ".join(str(query).split())[:110]] += time.perf_counter() - start

    def __getattr__(self, name):
        return getattr(self._con, name)


def profile(csv: Path) -> tuple[float, collections.Counter]:
    """Seconds for the whole load of `csv`, and seconds by statement."""
    times: collections.Counter = collections.Counter()
    real = build.swapped

    @contextmanager
    def timed(*args, **kwargs):
        with real(*args, **kwargs) as con:
            yield _Timed(con, times)

    load_once.swapped = timed
    try:
        with tempfile.TemporaryDirectory() as folder:
            return load_once.load_file(csv, Path(folder) / "profile.duckdb"), times
    finally:
        load_once.swapped = real


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", type=Path)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    total, times = profile(args.csv)
    in_sql = sum(times.values())
    print(f"whole load {total:.2f} s; in DuckDB statements {in_sql:.2f} s; the rest (Python) {total - in_sql:.2f} s")
    for query, seconds in times.most_common(args.top):
        print(f"{seconds:7.2f}  {query}")


if __name__ == "__main__":
    main()
