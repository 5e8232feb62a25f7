"""Run the scale benchmarks and write docs/benchmarks.md.

    python -m bench            # full run: 1M / 5M / 20M SYNTHETIC incidents (about 15 minutes, several GB on disk)
    python -m bench --quick    # a small run to check the harness
    python -m bench --browser  # the browser benchmark (bench/browser.py), on the bundled data

Every figure is measured in the same run as its baseline (DuckDB's own CSV scan; the pandas + geopandas load an
analyst would write, bench/baseline.py; a pandas in-memory implementation of the same page queries) and printed
against its target (bench/bench.toml), with the load average when it was taken (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import duckdb
import numpy as np
import pandas as pd

from analytics import hotspots, queries
from bench.generate import generate, seed_rows
from bench.settings import QUERIES, SYNTHETIC, TARGETS
from etl import geo, load
from etl.rollup import rollup
from kcvt.settings import ROOT

WORK = ROOT / "bench" / "_work"
DOC = ROOT / "docs" / "benchmarks.md"


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    t = time.perf_counter()
    out = fn(*args, **kwargs)
    return time.perf_counter() - t, out


def child(module: str, *args: str) -> tuple[dict, float, float]:
    """Run `python -m module args` in its own process: (the JSON it prints, its peak resident MB, its wall seconds).

    The peak is the process's own, which it prints (`peak_mb`, VmHWM: bench.memory.peak_mb): ru_maxrss from
    wait4 would count this process's memory, copied into the child before it starts the module (the first version
    of this harness reported the bench's own 3 GB as the child's peak). Our load and the baseline are measured alike;
    the
    wall time includes starting Python and importing, as a user running the command would wait. The JSON gains
    `cpu_s`, the process's CPU seconds (user + system, every thread): less sensitive than wall time to other work on
    the machine.
    """
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", module, *args], cwd=ROOT, stdout=subprocess.PIPE)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if proc.returncode:
        raise RuntimeError(f"python -m {module} {' '.join(args)} failed with exit code {proc.returncode}")
    result = json.loads(out.decode().strip().splitlines()[-1])
    return {**result, "cpu_s": round(usage.ru_utime + usage.ru_stime, 2)}, result["peak_mb"], wall


def cpu_seconds() -> float:
    """CPU seconds of this process so far, every thread."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def load_average() -> float:
    """The 1-minute load average when a figure is taken (2 cores shared: above 2, timings are inflated)."""
    return round(os.getloadavg()[0], 2)


def bench_etl(csv: Path, db: Path) -> dict:
    """Our whole load of a CSV against DuckDB's own read_csv of the same file into a table, and against the
    pandas + geopandas baseline (bench/baseline.py); our load's peak memory, each in its own process."""
    scan_db = WORK / "scan.duckdb"
    scan_db.unlink(missing_ok=True)
    loads = {"scan": load_average()}
    with duckdb.connect(str(scan_db)) as con:
        con.execute("SET enable_progress_bar = false")
        cpu = cpu_seconds()
        scan_s, _ = timed(con.execute, "CREATE TABLE t AS SELECT * FROM read_csv(?, all_varchar = true)", [str(csv)])
        scan_cpu = cpu_seconds() - cpu
    scan_db.unlink(missing_ok=True)
    loads["etl"] = load_average()
    ours, peak_mb, _ = child("bench.load_once", str(csv), str(db))
    etl_s = ours["seconds"]
    loads["baseline"] = load_average()
    base, base_peak_mb, _ = child("bench.baseline", str(csv))
    io_s = bench_bare_io(csv, db)
    return {"duckdb_scan_s": round(scan_s, 2), "etl_s": round(etl_s, 2), "etl_ratio": round(etl_s / scan_s, 1),
            "etl_peak_mb": round(peak_mb), "baseline_s": base["seconds"], "baseline_peak_mb": round(base_peak_mb),
            "baseline_speedup": round(base["seconds"] / etl_s, 1), "bare_io_s": round(io_s, 2),
            "cpu_s": {"scan": round(scan_cpu, 2), "etl": ours["cpu_s"], "baseline": base["cpu_s"]},
            "bare_io_ratio": round(io_s / scan_s, 1), "load_average": loads}


def synthetic_file(path: Path, rows: int, **kwargs) -> Path:
    """A SYNTHETIC file of bench/generate.py, reused when a run already wrote it (the generator is seeded; delete
    bench/_work after changing it)."""
    return path if path.exists() else generate(rows, path, **kwargs)


def bench_history(rows: int) -> dict:
    """Kansas City's full history at once: a SYNTHETIC file of `rows` person-rows (some reports of several rows),
    from CSV to a database the app serves, timed as the whole process (Python's start and imports included)."""
    csv = synthetic_file(WORK / f"SYNTHETIC-kcpd-history-{rows}.csv", rows, seed=4,
                         repeat_share=SYNTHETIC["history_repeat_share"])
    db = WORK / "SYNTHETIC-history.duckdb"
    load_avg = load_average()
    inner, peak_mb, wall = child("bench.load_once", str(csv), str(db))
    with duckdb.connect(str(db), read_only=True) as con:
        incidents = con.execute("SELECT count(*) FROM incidents").fetchall()[0][0]
    db.unlink(missing_ok=True)
    return {"rows": rows, "incidents": int(incidents), "history_s": round(wall, 2), "load_s": inner["seconds"],
            "peak_mb": round(peak_mb), "load_average": load_avg}


#: The tables a load of incidents writes (the app reads them); the rest are a few rows.
OUTPUT_TABLES = ["incidents", "incident_categories", "people_counts", "area_counts", "hex_month_counts"]


def bench_bare_io(csv: Path, db: Path) -> float:
    """What any load of this data model pays with nothing to compute: reading the file into memory (DuckDB's
    read_csv into a temporary table) plus writing the finished output tables, already in memory, into a new
    database file. Context for the ETL ratio, not a target."""
    out = WORK / "bare-io.duckdb"
    out.unlink(missing_ok=True)
    with duckdb.connect(str(out)) as con:
        con.execute("SET enable_progress_bar = false")
        read_s, _ = timed(con.execute, "CREATE TEMP TABLE f AS SELECT * FROM read_csv(?, all_varchar = true)", [str(csv)])
        con.execute(f"ATTACH '{db}' AS built (READ_ONLY)")
        for t in OUTPUT_TABLES:
            con.execute(f"CREATE TEMP TABLE m_{t} AS SELECT * FROM built.{t}")  # noqa: S608 (code constants)
        con.execute("DETACH built")

        def write():
            for t in OUTPUT_TABLES:
                con.execute(f"CREATE TABLE {t} AS SELECT * FROM m_{t}")  # noqa: S608
            con.execute("CHECKPOINT")

        write_s, _ = timed(write)
    out.unlink(missing_ok=True)
    return read_s + write_s


def bench_spatial(n: int, seed: int = 1) -> dict:
    places, _ = seed_rows()
    rng = np.random.default_rng(seed)
    p = places[rng.integers(0, len(places), n)] + rng.normal(0, 0.0012, (n, 2))
    geo.area_grid.cache_clear()  # the grid is built in the timed call, as in a load
    secs, idx = timed(geo.locate, "neighborhood", p[:, 0], p[:, 1])
    return {"points": n, "spatial_s": round(secs, 2), "placed_share": round(float((idx >= 0).mean()), 3)}


NEIGHBORHOOD = QUERIES["neighborhood"]
PAGE_QUERIES = {
    "home: monthly series": lambda c, f: queries.monthly(c, f),
    "home: total": lambda c, f: queries.total(c, f),
    "hotspots: hex bins": lambda c, f: hotspots.hex_bins(c, f, resolution=8),
    "hotspots: ranking": lambda c, f: hotspots.rank(c, f),
    "profile: neighborhood series": lambda c, f: queries.monthly(c, queries.Filter(f.source, f.category, f.start,
                                                                                  f.end, NEIGHBORHOOD)),
}


def _pandas_queries(inc: pd.DataFrame, f: queries.Filter) -> dict:
    """The same page queries done the typical Streamlit way: everything in pandas memory, filtered per rerun."""
    start, end = pd.Timestamp(f.start), pd.Timestamp(f.end)

    def sel(frame):
        return frame[(frame.category_id == f.category) & frame.event_date.between(start, end)]

    prev_start = start - (end - start) - pd.Timedelta(days=1)
    return {
        "home: monthly series": lambda: sel(inc).groupby(sel(inc).event_date.dt.to_period("M")).size(),
        "home: total": lambda: len(sel(inc)),
        "hotspots: hex bins": lambda: sel(inc).groupby("h3_cell").size(),
        "hotspots: ranking": lambda: (sel(inc).groupby("neighborhood").size(),
                                      inc[(inc.category_id == f.category)
                                          & inc.event_date.between(prev_start, start)].groupby("neighborhood").size()),
        "profile: neighborhood series": lambda: sel(inc)[sel(inc).neighborhood == NEIGHBORHOOD].groupby(
            sel(inc).event_date.dt.to_period("M")).size(),
    }


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000


def new_version(db: Path) -> None:
    """Make the file look like a new version (its mtime moves on by a nanosecond), so the app's catalog, memoised per
    file version (analytics.queries.catalog), is read afresh: a cold query as after a rebuild."""
    st = db.stat()
    os.utime(db, ns=(st.st_atime_ns, st.st_mtime_ns + 1))


def bench_queries(db: Path, repeats: int = 20) -> list[dict]:
    f = queries.Filter("kcpd", "violent", QUERIES["start"], QUERIES["end"])
    rows = []
    with duckdb.connect(str(db), read_only=True) as con:
        inc = con.execute("""SELECT i.event_date, i.neighborhood, i.h3_cell, c.category_id FROM incidents i
                             JOIN incident_categories c USING (incident_id)""").df()
    pandas_fns = _pandas_queries(inc, f)
    for name, fn in PAGE_QUERIES.items():
        cold = []
        for _ in range(3):
            new_version(db)  # cold: a new connection and no catalog read yet
            with duckdb.connect(str(db), read_only=True) as con:
                cold.append(timed(fn, con, f)[0])
        with duckdb.connect(str(db), read_only=True) as con:
            fn(con, f)
            warm = [timed(fn, con, f)[0] for _ in range(repeats)]
        pand = [timed(pandas_fns[name])[0] for _ in range(max(3, repeats // 4))]
        rows.append({"query": name, "cold_p50_ms": round(_pct(cold, 50), 1), "cold_p95_ms": round(_pct(cold, 95), 1),
                     "warm_p50_ms": round(_pct(warm, 50), 1), "warm_p95_ms": round(_pct(warm, 95), 1),
                     "pandas_p50_ms": round(_pct(pand, 50), 1),
                     "speedup": round(statistics.median(pand) / statistics.median(warm), 1)})
    return rows


def synthetic_db(n: int, path: Path, seed: int = 2) -> Path:
    """A SYNTHETIC incidents table straight from jittered real places (no ETL), for payload sizes."""
    places, _ = seed_rows()
    rng = np.random.default_rng(seed)
    path.unlink(missing_ok=True)
    con = duckdb.connect(str(path))
    load.init_schema(con)
    for start in range(0, n, 2_000_000):
        m = min(2_000_000, n - start)
        p = places[rng.integers(0, len(places), m)] + rng.normal(0, 0.0012, (m, 2))
        frame = pd.DataFrame({"incident_id": [f"synthetic:{start + i}" for i in range(m)], "lon": p[:, 0],
                              "lat": p[:, 1]})
        frame["h3_cell"] = geo.h3_cells(frame["lon"], frame["lat"])
        con.register("f", frame)
        con.execute("""INSERT INTO incidents (incident_id, source_id, source_key, event_date, lat, lon, geo_status,
                       h3_cell, person_rows, load_id) SELECT incident_id, 'kcpd', incident_id, ?::DATE,
                       lat, lon, 'in_city', h3_cell, 1, 0 FROM f""", [SYNTHETIC["payload_date"]])
        con.execute("INSERT INTO incident_categories SELECT incident_id, 'violent' FROM f")
        con.unregister("f")
    rollup(con)
    con.close()
    return path


def bench_payload(db: Path) -> dict:
    f = queries.Filter("kcpd", "violent", SYNTHETIC["first"], SYNTHETIC["last"])
    with duckdb.connect(str(db), read_only=True) as con:
        n = con.execute("SELECT count(*) FROM incidents").fetchall()[0][0]
        sizes = {res: len(hotspots.with_centres(hotspots.hex_bins(con, f, resolution=res)).to_json(
            orient="records").encode()) for res in (7, 8, 9)}
        pts = hotspots.points(con, f)
    return {"incidents": int(n), "payload_bytes": max(sizes.values()), "by_resolution": sizes,
            "points_sent": 0 if pts is None else len(pts)}


def bench_app_memory(db: Path) -> dict:
    """Peak resident memory (VmHWM) of `streamlit run` serving the database while Chromium opens every page."""
    from playwright.sync_api import sync_playwright

    from tests.browser import ARGS, CHROMIUM, free_port, start_app, wait_until_done

    port = free_port()
    env = {"KC_VIOLENCE_DB": str(db), "KC_VIOLENCE_REGISTRY": str(WORK / "events.csv"),
           "KC_VIOLENCE_WATCH": str(WORK / "watch.csv")}
    proc = start_app(port, WORK / "streamlit.log", env)
    year, span = f"start={QUERIES['start']}&end={QUERIES['end']}", f"start={SYNTHETIC['first']}&end={SYNTHETIC['last']}"
    pages = ["/?source=kcpd&category=violent", f"/hotspots?source=kcpd&category=violent&{year}",
             f"/hotspots?source=kcpd&category=violent&{span}&layer=heat",
             f"/neighborhood?area={quote(NEIGHBORHOOD)}&source=kcpd&category=violent", "/data"]
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page()
            for path in pages:
                page.goto(f"http://127.0.0.1:{port}{path}")
                wait_until_done(page, settle_ms=500)
            browser.close()
        status = Path(f"/proc/{proc.pid}/status").read_text()
        peak_kb = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return {"app_peak_mb": round(peak_kb / 1024, 1), "pages": len(pages)}


def machine() -> str:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    mem = next(ln.split()[1] for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal"))
    return f"{os.cpu_count()} cores ({cpu}), {int(mem) // 1024 // 1024} GiB RAM, Python {platform.python_version()}"


def run_all(sizes: dict, with_app: bool = True, etl_only: bool = False) -> dict:
    WORK.mkdir(parents=True, exist_ok=True)
    csv = synthetic_file(WORK / f"SYNTHETIC-kcpd-{sizes['etl']}.csv", sizes["etl"])
    db = WORK / f"SYNTHETIC-{sizes['etl']}.duckdb"
    results = {"etl": {"rows": sizes["etl"], **bench_etl(csv, db)}, "history": bench_history(sizes["history"])}
    if etl_only:
        return results
    results |= {"spatial": bench_spatial(sizes["spatial"]),
               "queries": bench_queries(db), "payload": []}
    for n in sizes["payload"]:
        results["payload"].append(bench_payload(db if n == sizes["etl"] else synthetic_db(n, WORK / f"p{n}.duckdb")))
    if with_app:
        results["app"] = bench_app_memory(db)
    return results


def verdicts(r: dict) -> list[tuple[str, str, str, bool]]:
    """Each figure with its result, its target (bench/bench.toml) and whether the target is met."""
    t = TARGETS
    rows = [
        (f"ETL of {r['etl']['rows']:,} rows vs DuckDB read_csv", f"{r['etl']['etl_ratio']}x "
         f"({r['etl']['etl_s']} s vs {r['etl']['duckdb_scan_s']} s)", f"≤ {t['etl_ratio']:.1f}x",
         r["etl"]["etl_ratio"] <= t["etl_ratio"]),
        (f"ETL of {r['etl']['rows']:,} rows vs pandas + geopandas (bench/baseline.py)",
         f"{r['etl']['baseline_speedup']}x faster ({r['etl']['etl_s']} s vs {r['etl']['baseline_s']} s)",
         f"≥ {t['baseline_speedup']:g}x", r["etl"]["baseline_speedup"] >= t["baseline_speedup"]),
        (f"Peak memory of the {r['etl']['rows']:,}-row load", f"{r['etl']['etl_peak_mb']:,} MB "
         f"(baseline {r['etl']['baseline_peak_mb']:,} MB)", f"≤ {t['etl_peak_mb']:,.0f} MB",
         r["etl"]["etl_peak_mb"] <= t["etl_peak_mb"]),
        (f"Full history: {r['history']['rows']:,} person-rows, CSV to served database",
         f"{r['history']['history_s']} s ({r['history']['incidents']:,} incidents)", f"≤ {t['history_s']:g} s",
         r["history"]["history_s"] <= t["history_s"]),
    ]
    if "queries" not in r:  # --etl-only
        return rows
    q = r["queries"]
    rows += [
        (f"Assign {r['spatial']['points']:,} points to neighborhoods", f"{r['spatial']['spatial_s']} s",
         f"≤ {t['spatial_s']:g} s", r["spatial"]["spatial_s"] <= t["spatial_s"]),
        ("Page queries, worst warm p95", f"{max(x['warm_p95_ms'] for x in q)} ms", f"≤ {t['warm_p95_ms']:g} ms",
         max(x["warm_p95_ms"] for x in q) <= t["warm_p95_ms"]),
        ("Page queries, smallest speed-up over pandas", f"{min(x['speedup'] for x in q)}x", f"≥ {t['speedup']:g}x",
         min(x["speedup"] for x in q) >= t["speedup"]),
    ]
    for p in r["payload"]:
        rows.append((f"Map payload at {p['incidents']:,} incidents", f"{p['payload_bytes']:,} bytes",
                     f"≤ {t['payload_bytes'] / 1e6:g} MB", p["payload_bytes"] <= t["payload_bytes"]))
    if "app" in r:
        rows.append(("Peak memory of the app process", f"{r['app']['app_peak_mb']} MB", f"≤ {t['app_peak_mb']:g} MB",
                     r["app"]["app_peak_mb"] <= t["app_peak_mb"]))
    return rows


def report(r: dict) -> str:
    lines = ["| figure | result | target | met |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {'yes' if ok else '**no**'} |" for a, b, c, ok in verdicts(r)]
    q = ["| query | cold p50 | cold p95 | warm p50 | warm p95 | pandas p50 | speed-up |", "|---|---|---|---|---|---|---|"]
    q += [f"| {x['query']} | {x['cold_p50_ms']} ms | {x['cold_p95_ms']} ms | {x['warm_p50_ms']} ms | "
          f"{x['warm_p95_ms']} ms | {x['pandas_p50_ms']} ms | {x['speedup']}x |" for x in r.get("queries", [])]
    la = r["etl"]["load_average"]
    io = (f"For context (no target): reading the file into memory and writing the finished tables, with nothing "
          f"computed, takes {r['etl']['bare_io_s']} s, {r['etl']['bare_io_ratio']}x the scan. Load average (1 min, "
          f"2 cores) when each was started: scan {la['scan']}, our load {la['etl']}, baseline {la['baseline']}, "
          f"full history {r['history']['load_average']}. CPU seconds (user + system, all threads; steadier than wall "
          f"time on a busy machine): scan {r['etl']['cpu_s']['scan']}, our load {r['etl']['cpu_s']['etl']} "
          f"({r['etl']['cpu_s']['etl'] / max(r['etl']['cpu_s']['scan'], 0.01):.1f}x), baseline "
          f"{r['etl']['cpu_s']['baseline']}.")
    return "\n".join(lines) + "\n\n" + io + "\n\n" + "\n".join(q)


def main() -> None:
    parser = argparse.ArgumentParser(description="Scale benchmarks on SYNTHETIC data.")
    parser.add_argument("--quick", action="store_true", help="small sizes, no app memory run")
    parser.add_argument("--no-app", action="store_true", help="skip the app memory run (needs chromium)")
    parser.add_argument("--write", action="store_true", help="write the results into docs/benchmarks.md")
    parser.add_argument("--etl-only", action="store_true", help="only the load figures (no --write)")
    parser.add_argument("--browser", action="store_true",
                        help="only the browser benchmark (bench/browser.py: Chromium on the bundled data); prints its "
                             "table, results in bench/_work/browser/results.json")
    parser.add_argument("--trials", type=int, default=10, help="with --browser: trials per figure")
    parser.add_argument("--load-seconds", type=float, default=60.0, help="with --browser: length of the 20-session run")
    args = parser.parse_args()
    if args.browser:
        from bench import browser

        browser.main(args.trials, args.load_seconds)
        return
    sizes = ({"etl": 20_000, "history": 20_000, "spatial": 20_000, "payload": [5_000, 20_000]} if args.quick else
             {"etl": 5_000_000, "history": int(SYNTHETIC["history_rows"]), "spatial": 5_000_000,
              "payload": [1_000_000, 5_000_000, 20_000_000]})
    started = datetime.now()
    r = run_all(sizes, with_app=not (args.quick or args.no_app), etl_only=args.etl_only)
    table = report(r)
    print(table)
    (WORK / "results.json").write_text(json.dumps(r, indent=2, default=str))
    if args.write and not args.etl_only:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True).stdout.strip()
        head = (f"Latest run: {started:%Y-%m-%d %H:%M}, commit {commit}, on {machine()}. "
                f"Reproduce with `python -m bench --write` (data: SYNTHETIC, from `bench/generate.py`).")
        text = DOC.read_text() if DOC.exists() else ""
        marker = "<!-- results -->"
        before = text.split(marker)[0] if marker in text else text
        DOC.write_text(before.rstrip() + f"\n\n{marker}\n\n## Latest results\n\n{head}\n\n{table}\n")


if __name__ == "__main__":
    main()
