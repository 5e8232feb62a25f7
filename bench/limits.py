"""The loader against files built to hurt: every file up to a size is loaded or refused within a memory target.

The size and the target are in bench/bench.toml (hostile_file_mb, loader_peak_mb).

    python -m bench.limits            # about two minutes; files under bench/_work (SYNTHETIC, several GB on disk)
    python -m bench.limits --write    # and record the results in docs/benchmarks.md

Each case runs `python -m etl load FILE --source kcpd` in its own process against a fresh copy of the database
built from the bundled data, and reports the process's peak resident memory (ru_maxrss), its exit code and its
one-line message. Every file is SYNTHETIC: real bundled rows resampled (bench.generate) or repeated.
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from bench.generate import generate
from bench.run import DOC, WORK, machine
from bench.settings import SYNTHETIC, TARGETS
from etl.build import build
from kcvt.settings import ROOT

TARGET_MB = TARGETS["loader_peak_mb"]
SIZE_MB = TARGETS["hostile_file_mb"]
#: Runs the load in a child and prints the child's peak RSS in kB (ru_maxrss of the children of this launcher).
LAUNCH = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
          "print(r.returncode); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
          "print((r.stderr.strip().splitlines() or r.stdout.strip().splitlines() or [''])[-1])")


def kcpd_csv(path: Path) -> Path:
    """A plain KCPD-layout CSV of about SIZE_MB (resampled real rows)."""
    probe = generate(10_000, WORK / "probe.csv")
    rows = int(10_000 * SIZE_MB * 1e6 / probe.stat().st_size * 0.98)
    probe.unlink()
    return generate(rows, path)


def gzip_bomb(path: Path, expands_to: float = SYNTHETIC["gzip_bomb_bytes"]) -> Path:
    """A small gzip file of one real row repeated until it expands to `expands_to` bytes."""
    head = (ROOT / "data" / "raw" / "kcpd_2020_jan_jul_extract.csv.gz")
    with gzip.open(head, "rt") as fh:
        header, row = fh.readline(), fh.readline()
    block = (row * (8_000_000 // len(row))).encode()
    with gzip.open(path, "wb", compresslevel=9) as out:
        out.write(header.encode())
        for _ in range(int(expands_to // len(block))):
            out.write(block)
    return path


def wide_header(path: Path) -> Path:
    path.write_text(",".join(f"c{k}" for k in range(1_000_000)) + "\n" + "1," * 999_999 + "1\n")
    return path


def huge_field(path: Path) -> Path:
    """A KCPD header and one row whose description is almost the whole file."""
    with path.open("w") as fh:
        fh.write("Report_No,Reported_Date,Description\nSYNTH-1,01/01/2020,")
        fh.write("x" * (SIZE_MB * 1_000_000 - 200))
        fh.write("\n")
    return path


def short_rows(path: Path) -> Path:
    """About SIZE_MB of short KCPD rows (report number, date and offense code only), then one line with an extra
    field and an emoji: the bad line sends the whole file to the careful reader (etl.extract.clean_copy), which read
    it whole and peaked at 3.4 GB before it read a line at a time."""
    head = ROOT / "data" / "raw" / "kcpd_2020_jan_jul_extract.csv.gz"
    with gzip.open(head, "rt") as fh:
        header = fh.readline()
    with path.open("w", encoding="utf-8") as out:
        out.write(header)
        k = 0
        while out.tell() < SIZE_MB * 1e6 * 0.99:
            out.write("".join(f"S{k + j},06/12/2014,,,23G,,,\n" for j in range(10_000)))
            k += 10_000
        out.write("SBAD,06/12/2014,,,23G,,,,,extra \U0001F600\n")
    return path


def run_case(name: str, file: Path, db: Path) -> dict:
    case_db = WORK / f"limits-{name}.duckdb"
    shutil.copyfile(db, case_db)
    env = {**os.environ, "KC_VIOLENCE_DB": str(case_db), "KC_VIOLENCE_USER_DIR": str(WORK / f"user-{name}")}
    out = subprocess.run([sys.executable, "-c", LAUNCH, sys.executable, "-m", "etl", "--quiet", "load", str(file),
                          "--source", "kcpd"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    code, rss_kb, message = (out.stdout.strip().splitlines() + ["", "", ""])[:3]
    case_db.unlink(missing_ok=True)
    shutil.rmtree(WORK / f"user-{name}", ignore_errors=True)
    return {"case": name, "file_mb": round(file.stat().st_size / 1e6, 1), "exit": int(code or -1),
            "peak_mb": round(int(rss_kb or 0) / 1024, 1), "message": message[:160]}


def main() -> None:
    parser = argparse.ArgumentParser(description="Loader peak memory on hostile files (SYNTHETIC).")
    parser.add_argument("--write", action="store_true", help="write the results into docs/benchmarks.md")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    db = WORK / "limits-base.duckdb"
    build(db, progress=False)
    cases = [(f"{SIZE_MB:g} MB KCPD CSV", kcpd_csv(WORK / f"SYNTHETIC-limits-{SIZE_MB:g}mb.csv")),
             (f"gzip bomb ({SYNTHETIC['gzip_bomb_bytes'] / 1e9:g} GB inside)",
              gzip_bomb(WORK / "SYNTHETIC-limits-bomb.csv.gz")),
             ("1,000,000 columns", wide_header(WORK / "SYNTHETIC-limits-wide.csv")),
             (f"one {SIZE_MB:g} MB field", huge_field(WORK / "SYNTHETIC-limits-field.csv")),
             ("short rows, one bad line", short_rows(WORK / "SYNTHETIC-limits-short.csv"))]
    started = datetime.now()
    results = [run_case(name.split()[0] + str(k), path, db) | {"case": name} for k, (name, path) in enumerate(cases)]
    within = f"within {TARGET_MB / 1000:g} GB"
    lines = [f"| file (SYNTHETIC) | size | exit | loader peak RSS | {within} | message |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['case']} | {r['file_mb']} MB | {r['exit']} | {r['peak_mb']:,} MB | "
              f"{'yes' if r['peak_mb'] <= TARGET_MB else '**no**'} | {r['message'].replace('|', '/')} |" for r in results]
    table = "\n".join(lines)
    print(table)
    if args.write:
        marker = "<!-- limits -->"
        text = DOC.read_text()
        section = (f"{marker}\n\n## Files built to hurt: loader peak memory\n\nRun {started:%Y-%m-%d %H:%M} on "
                   f"{machine()}; reproduce with `python -m bench.limits --write`. Target: any file of {SIZE_MB:g} MB or "
                   f"less is loaded or refused with the loader's peak RSS at most {TARGET_MB / 1000:g} GB.\n\n{table}\n{marker}")
        parts = text.split(marker)
        if len(parts) == 3:
            text = parts[0] + section + parts[2]
        else:  # before the main run's results, which `python -m bench --write` rewrites
            head, sep, tail = text.partition("<!-- results -->")
            text = head.rstrip() + "\n\n" + section + "\n\n" + sep + tail
        DOC.write_text(text)


if __name__ == "__main__":
    main()
