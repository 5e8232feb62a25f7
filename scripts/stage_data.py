"""Copy the real public data the product needs from ../shared/data/raw into data/.

Run once by a developer who has ../shared (CI and fresh clones do not): it writes
gzip-compressed copies and small derived extracts into data/, and is the exact
record of how each bundled file was made (see data/PROVENANCE.md).

    python scripts/stage_data.py [--shared ../shared/data/raw]
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"

# (shared path, bundled path) copied byte-for-byte into gzip.
COPIES = [
    ("kcpd_derived/skylarcalvin_KC_Crime_2018_Sample.csv", "raw/kcpd_2018_api_sample.csv.gz"),
    ("kcpd_derived/marklikesdata_kc_crime_2017.csv", "raw/kcpd_2017_extract.csv.gz"),
    ("kcpd_derived/tbbsparks_2020_crime.csv", "raw/kcpd_2020_jan_jul_extract.csv.gz"),
    ("gva_jamesqo/gva_kansas_city_mo_2013_2018.csv", "raw/gva_kc_2013_2018.csv.gz"),
    ("gva_jasonjklim_2020/gva_kansas_city_mo_2020_jan_may.csv", "raw/gva_kc_2020_jan_may.csv.gz"),
    (
        "gva_mass_shootings_dxzys/gva_mass_shootings_kansas_city_mo_2013_2026.csv",
        "raw/gva_mass_shootings_kc_2013_2026.csv.gz",
    ),
    (
        "kcpd_agg_crime_cartography/kcpd_monthly_by_neighborhood_2015_2026.csv",
        "raw/kcpd_monthly_by_neighborhood_2015_2026.csv.gz",
    ),
    ("kcmo_neighborhoods/kc_neighborhoods.geojson", "geo/kc_neighborhoods.geojson.gz"),
    ("kcmo_zipcodes/kc_zipcodes.geojson", "geo/kc_zipcodes.geojson.gz"),
    (
        "kcmo_council_districts/City_Council_Districts_Shapefile_-_Effective_2023_20241004.csv",
        "geo/kc_council_districts_2023.csv.gz",
    ),
]
# Already gzip in shared: copied as is.
RAW_COPIES = [
    (
        "kcpd_daily_by_council_district_sangeeths11/kcpd_daily_counts_by_council_district_2015_2024.csv.gz",
        "raw/kcpd_daily_by_council_district_2015_2024.csv.gz",
    ),
]
# Columns kept from the 2010 neighborhood census table (244 x 188 upstream).
CENSUS_COLUMNS = ["No.", "Name", "Population", "Male", "Female", "White", "Black", "Hispanic"]
UCR_COLUMNS = ["population", "violent_crime", "murder", "rape", "robbery", "aggravated_assault", "property_crime"]


def _gzip_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    with src.open("rb") as fin, gzip.GzipFile(dst, "wb", mtime=0) as fout:
        shutil.copyfileobj(fin, fout)


def _ucr_row(path: Path) -> dict | None:
    """Kansas City's row of one FBI Table 8 workbook, by header name (headers drift by year)."""
    sheet = pd.read_excel(path, header=None, engine="xlrd")
    header_idx = next(i for i in range(10) if str(sheet.iloc[i, 0]).strip() in ("City", "State"))
    header = [" ".join(str(h).split()).lower() for h in sheet.iloc[header_idx]]
    names = sheet[0].astype(str).str.replace(r"\d+$", "", regex=True).str.strip()
    rows = sheet[names == "Kansas City"]
    if rows.empty:
        return None
    row = rows.iloc[0]

    def col(*starts: str):
        for i, h in enumerate(header):
            if any(h.startswith(s) for s in starts):
                return row.iloc[i]
        raise KeyError(starts)

    rape = col("rape (revised", "forcible rape", "rape")
    return {
        "population": col("population"),
        "violent_crime": col("violent crime"),
        "murder": col("murder"),
        "rape": rape,
        "robbery": col("robbery"),
        "aggravated_assault": col("aggravated assault"),
        "property_crime": col("property crime"),
    }


def stage(shared: Path) -> None:
    for src, dst in COPIES:
        _gzip_copy(shared / src, DATA / dst)
    for src, dst in RAW_COPIES:
        shutil.copyfile(shared / src, DATA / dst)

    census = pd.read_csv(shared / "kcmo_neighborhood_census/2010Census_2008-2012ACS_byNeighborhood.csv")
    census[CENSUS_COLUMNS].to_csv(DATA / "geo/kc_neighborhood_population_2010.csv.gz", index=False)

    rows = []
    for path in sorted((shared / "fbi_ucr_missouri_table8").glob("missouri_*.xls")):
        year = int(path.stem.split("_")[1])
        found = _ucr_row(path)
        if found is not None:
            rows.append({"year": year, **{k: int(found[k]) for k in UCR_COLUMNS}})
    pd.DataFrame(rows).to_csv(DATA / "raw/fbi_ucr_kansas_city_2006_2018.csv", index=False)

    trend = json.loads((shared / "kcpd_agg_crime_cartography/trend.json").read_text())
    annual = [{"year": y["year"], "reports": y["total"]} for y in trend["years"] if y["era"] == "incident"]
    pd.DataFrame(annual).to_csv(DATA / "raw/kcpd_annual_reports_2015_2025.csv", index=False)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared/data/raw")
    stage(parser.parse_args().shared)
