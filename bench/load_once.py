"""Our whole load of one KCPD file into a new database, in its own process (so the bench can read its peak memory).

    python -m bench.load_once CSV DB    # prints {"seconds": ..., "peak_mb": ...}: schema, load, roll-ups, swap
                                        # (seconds exclude imports; peak_mb is the process's peak resident memory)

The same steps as `python -m etl build` for one file: a private copy, the schema and areas, the file, the roll-ups,
a checkpoint and the swap; the result is a database the app serves.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from bench.memory import peak_mb
from etl import load
from etl.build import load_one, swapped
from etl.load import CoverageSpec
from etl.rollup import rollup


def load_file(csv: Path, db: Path) -> float:
    """Seconds to build `db` from `csv` alone."""
    start = time.perf_counter()
    with swapped(db, start_from_current=False) as con:
        load.init_schema(con)
        load_one(con, csv, "kcpd", None, CoverageSpec())
        rollup(con)
    return time.perf_counter() - start


if __name__ == "__main__":
    csv, db = Path(sys.argv[1]), Path(sys.argv[2])
    db.unlink(missing_ok=True)
    print(json.dumps({"seconds": round(load_file(csv, db), 2), "peak_mb": round(peak_mb())}))
