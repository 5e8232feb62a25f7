"""SYNTHETIC incidents for scale benchmarks only: never loaded into the app's database.

Real bundled rows are resampled and jittered: places from real geocoded incidents (KCPD
2017 extract, GVA, the 2018 API sample) moved by up to about 150 m, dates spread uniformly
over the span in bench/bench.toml, offense codes, firearm flags and hours drawn from the real
2018 sample. Report numbers start with SYNTH- and files are named SYNTHETIC-*.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bench.settings import SYNTHETIC
from kcvt.settings import DATA_DIR

RAW = DATA_DIR / "raw"
FIRST, LAST = np.datetime64(SYNTHETIC["first"]), np.datetime64(SYNTHETIC["last"])


def seed_rows() -> tuple[np.ndarray, pd.DataFrame]:
    """Real places (lon, lat) and real offense rows to resample."""
    k17 = pd.read_csv(RAW / "kcpd_2017_extract.csv.gz", usecols=["Latitude", "Longitude"])
    gva = pd.read_csv(RAW / "gva_kc_2013_2018.csv.gz", usecols=["latitude", "longitude"]).dropna()
    places = np.vstack([k17[["Longitude", "Latitude"]].to_numpy(), gva[["longitude", "latitude"]].to_numpy()])
    lon_min, lat_min, lon_max, lat_max = SYNTHETIC["places_bbox"]
    places = places[(places[:, 0] > lon_min) & (places[:, 0] < lon_max) & (places[:, 1] > lat_min)
                    & (places[:, 1] < lat_max)]
    offenses = pd.read_csv(RAW / "kcpd_2018_api_sample.csv.gz", dtype=str,
                           usecols=["ibrs", "offense", "description", "firearm_used_flag", "from_time"]).dropna(
        subset=["ibrs"])
    return places, offenses


def generate(n: int, path: Path, seed: int = 0, chunk: int = 1_000_000, repeat_share: float = 0.0) -> Path:
    """Write n SYNTHETIC person-rows in the KCPD portal CSV layout.

    With repeat_share 0 each row is its own report (incident). Otherwise that share of rows are further person-rows
    of the report before them (same report number, date and place; another offense), as KCPD publishes several rows
    for a report with several people or offenses.
    """
    rng = np.random.default_rng(seed)
    places, offenses = seed_rows()
    path.parent.mkdir(parents=True, exist_ok=True)
    days = int((LAST - FIRST).astype(int))
    with path.open("w") as fh:
        for start in range(0, n, chunk):
            m = min(chunk, n - start)
            p = places[rng.integers(0, len(places), m)] + rng.normal(0, 0.0012, (m, 2))
            o = offenses.iloc[rng.integers(0, len(offenses), m)].reset_index(drop=True)
            dates = FIRST + rng.integers(0, days + 1, m).astype("timedelta64[D]")
            report = np.arange(m)
            if repeat_share:  # a repeated row takes the report number, date and place of its report's first row
                again = rng.random(m) < repeat_share
                again[0] = False
                report = np.maximum.accumulate(np.where(again, 0, report))
                p, dates = p[report], dates[report]
            frame = pd.DataFrame({
                "Report_No": [f"SYNTH-{start + i:09d}" for i in report],
                "Reported_Date": pd.to_datetime(dates).strftime("%m/%d/%Y"),
                "From_Time": o["from_time"],
                "Offense": o["offense"], "IBRS": o["ibrs"], "Description": o["description"],
                "Firearm Used Flag": o["firearm_used_flag"],
                "Location": [f"POINT ({x:.6f} {y:.6f})" for x, y in p],
            })
            frame.to_csv(fh, index=False, header=start == 0)
    return path
