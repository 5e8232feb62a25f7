"""The baseline a civic-data analyst would write: pandas, geopandas, a groupby. Benchmarks only, never the app.

    python -m bench.baseline FILE    # prints {"seconds": ..., "peak_mb": ..., "groups": ..., "incidents": ...}

Read the KCPD portal CSV with pandas, keep one row per report number (person-rows -> incidents), read the portal's
'POINT (lon lat)', join the points to the neighborhood polygons (data/geo/kc_neighborhoods.geojson.gz) with
geopandas' `sjoin`, and count incidents by neighborhood and month with `groupby`. It computes less than our load
(no validation, categories, people, other layers, H3 cells or stored tables), so it is a generous baseline. The
bench runs it in its own process, on the same SYNTHETIC file as our load, and reads its peak memory from the process.
"""

from __future__ import annotations

import json
import sys
import time

import geopandas as gpd
import pandas as pd

from bench.memory import peak_mb
from kcvt.settings import DATA_DIR

NEIGHBORHOODS = DATA_DIR / "geo" / "kc_neighborhoods.geojson.gz"


def neighborhood_month_counts(csv: str) -> pd.DataFrame:
    """Incidents (distinct report numbers) by neighborhood and month, the pandas and geopandas way."""
    rows = pd.read_csv(csv)
    incidents = rows.drop_duplicates("Report_No")
    xy = incidents["Location"].str.extract(r"POINT \((?P<lon>\S+) (?P<lat>\S+)\)").astype(float)
    points = gpd.GeoDataFrame(
        {"month": pd.to_datetime(incidents["Reported_Date"], format="%m/%d/%Y").dt.to_period("M")},
        geometry=gpd.points_from_xy(xy["lon"], xy["lat"]), crs="EPSG:4326")
    areas = gpd.read_file(f"/vsigzip/{NEIGHBORHOODS}")[["nbhname", "geometry"]].to_crs("EPSG:4326")
    areas["geometry"] = areas.make_valid()
    placed = gpd.sjoin(points, areas, how="inner", predicate="within")
    return placed.groupby(["nbhname", "month"]).size().rename("n").reset_index()


def main() -> None:
    """Time the baseline on one file (imports excluded, as for our load) and print the figures as JSON."""
    start = time.perf_counter()
    counts = neighborhood_month_counts(sys.argv[1])
    print(json.dumps({"seconds": round(time.perf_counter() - start, 2), "peak_mb": round(peak_mb()),
                      "groups": len(counts), "incidents": int(counts["n"].sum())}))


if __name__ == "__main__":
    main()
