"""Time the full evaluations of the Programs page on the bundled real data (on demand, never in the tests).

    python -m bench.programs            # one event with every method and placebo; the five-footprint 2026 program
    python -m bench.programs --repeat 3 # three runs each, to see the spread on a shared machine

Each run is a fresh process (imports included, as on the command line) against a database built from the
bundled data under bench/_work and a fresh copy of the seed registry, and reports wall-clock seconds against the
targets: at most 10 s for one event (WDD with its placebos, e-test, synthetic control with its placebo-in-space
test, conformal intervals and both calibrations) and 60 s for the five-footprint program (event study, each
footprint's contribution, 80 placebo programs) with its tracking and detectability.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

from bench.run import WORK, machine
from kcvt.settings import ROOT

TARGETS = {"event": 10.0, "program": 60.0}
CASES = {
    "event": "from analytics import methods, registry; methods.compare(con, registry.get('prospect-35th-2023-05-17'))",
    "program": "from analytics import detect, program; program.evaluate(con, 'council-2026'); "
               "detect.track(con, 'council-2026')",
}
SCRIPT = "import duckdb; con = duckdb.connect({db!r}, read_only=True); {case}"


def database() -> str:
    """The bundled data built once into bench/_work (rebuilt when missing)."""
    from etl.build import build

    path = WORK / "programs.duckdb"
    if not path.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        build(path, progress=False)
    return str(path)


def run_case(name: str, db: str) -> tuple[float, float]:
    """Wall-clock and CPU seconds (user + system, all threads) for one case in a fresh process with a fresh seeded
    registry. On a shared machine the wall clock also holds the time other processes had the cores."""
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "KC_VIOLENCE_DB": db, "KC_VIOLENCE_REGISTRY": os.path.join(tmp, "events.csv")}
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", SCRIPT.format(db=db, case=CASES[name])], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=600, check=True)
        wall = time.perf_counter() - t
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return round(wall, 2), round(cpu, 2)


def main(argv: list[str] | None = None) -> None:
    """Run each case `--repeat` times and print the results as JSON and a Markdown table row per case."""
    args = argparse.ArgumentParser(prog="python -m bench.programs")
    args.add_argument("--repeat", type=int, default=1)
    opts = args.parse_args(argv)
    db = database()
    load = os.getloadavg()[0]
    results = {name: [run_case(name, db) for _ in range(opts.repeat)] for name in CASES}
    print(json.dumps({"machine": machine(), "load_1min_before": round(load, 2), "wall_cpu_seconds": results},
                     indent=2))
    for name, runs in results.items():
        walls, cpus = [w for w, _ in runs], [c for _, c in runs]
        print(f"| {name} | {', '.join(f'{w:.1f}' for w in walls)} s | {', '.join(f'{c:.1f}' for c in cpus)} s | "
              f"{TARGETS[name]:.0f} s | {'met' if max(walls) <= TARGETS[name] else 'MISSED'} (wall), "
              f"{'met' if max(cpus) <= TARGETS[name] else 'MISSED'} (CPU) |")


if __name__ == "__main__":
    main()
