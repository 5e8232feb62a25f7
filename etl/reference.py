"""Reference tables kept as data files (data/reference/): sources, categories, offense codes.

Category membership is decided here and only here, from categories.csv, so the
definitions users read on the Data page are the ones the counts use.
"""

from __future__ import annotations

from functools import cache

import pandas as pd

from etl.errors import UnknownSource
from kcvt.settings import REFERENCE_DIR


@cache
def table(name: str) -> pd.DataFrame:
    """A reference table from data/reference/<name>.csv, every value a string (blanks stay ''), read once."""
    return pd.read_csv(REFERENCE_DIR / f"{name}.csv", dtype=str, keep_default_na=False)


def sources() -> pd.DataFrame:
    """The sources (data/reference/sources.csv), with the caveats the pages show beside their counts."""
    return table("sources")


def source_kind(source_id: str) -> str:
    """Whether a source publishes 'incidents' or 'area_counts'; raises UnknownSource for an unknown id."""
    found = sources().loc[sources().source_id == source_id, "kind"]
    if found.empty:
        raise UnknownSource(f"unknown source {source_id!r}; known: {', '.join(sources().source_id)}")
    return found.iloc[0]


def categories() -> pd.DataFrame:
    """The categories (data/reference/categories.csv), with needs_firearm as a boolean."""
    cats = table("categories").copy()
    cats["needs_firearm"] = cats["kcpd_needs_firearm"].eq("true")
    return cats


def offense_groups(ibrs: pd.Series, offense_code: pd.Series | None = None) -> pd.DataFrame:
    """NIBRS code (or, when missing, KCPD's numeric offense code) -> offense_group, against."""
    codes = ibrs.fillna("").astype(str).str.strip().str.upper()
    if offense_code is not None:
        by_offense = table("kcpd_offense_codes").set_index("code")["ibrs"]
        fallback = offense_code.fillna("").astype(str).str.strip().map(by_offense)
        codes = codes.where(codes != "", fallback.fillna(""))
    nibrs = table("nibrs_codes").set_index("code")
    out = pd.DataFrame(
        {
            "ibrs": codes,
            "offense_group": codes.map(nibrs["offense_group"]).fillna("other"),
            "against": codes.map(nibrs["against"]).fillna("other"),
        },
        index=ibrs.index,
    )
    return out


def categorize_kcpd_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows (incident_id, offense_group, against, firearm) -> distinct (incident_id, category_id).

    An incident belongs to a category when any of its rows does; firearm rules use the
    row's own flag (the flag is recorded per offense).
    """
    found = []
    for cat in categories().itertuples():
        groups = [g for g in cat.kcpd_groups.split("|") if g]
        if not groups and not cat.kcpd_against and not cat.needs_firearm:
            continue
        hit = pd.Series(True, index=rows.index)
        if groups:
            hit &= rows["offense_group"].isin(groups)
        if cat.kcpd_against:
            hit &= rows["against"].eq(cat.kcpd_against)
        if cat.needs_firearm:
            hit &= rows["firearm"].fillna(False).astype(bool)
        found.append(pd.DataFrame({"incident_id": rows.loc[hit, "incident_id"], "category_id": cat.category_id}))
    return pd.concat(found, ignore_index=True).drop_duplicates(ignore_index=True)


def categorize_gva(incidents: pd.DataFrame) -> pd.DataFrame:
    """GVA incidents (incident_id, killed, injured, mass) -> (incident_id, category_id), by each category's gva_rule.

    'mass' follows GVA's own definition: an incident GVA lists as a mass shooting, or one with at least
    gva_min_shot people shot (categories.csv), so a row missing GVA's tag is still counted.
    """
    shot = incidents["killed"] + incidents["injured"]

    def rule(cat) -> pd.Series:
        if cat.gva_rule == "mass":
            return incidents["mass"] | (shot >= int(cat.gva_min_shot))
        return {"shot": shot > 0, "killed": incidents["killed"] > 0,
                "any": pd.Series(True, index=incidents.index)}[cat.gva_rule]

    found = [
        pd.DataFrame({"incident_id": incidents.loc[rule(cat), "incident_id"], "category_id": cat.category_id})
        for cat in categories().itertuples()
        if cat.gva_rule
    ]
    return pd.concat(found, ignore_index=True)
