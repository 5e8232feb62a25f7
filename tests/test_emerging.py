"""Emerging hot spots: Esri's categories on SYNTHETIC patterns, a null test on real series shuffled in time, and the
real cube and Gi* against the raw file and the textbook formula."""

from __future__ import annotations

import gzip
import json
from datetime import date

import libpysal
import numpy as np
import pandas as pd
import pytest
import shapely

from analytics import emerging
from analytics.queries import BadQuery, Filter
from kcvt.settings import DATA_DIR
from tests.conftest import RAW

NBHD = Filter("kcpd_nbhd", "persons", date(2015, 1, 1), date(2026, 6, 30))


def _series(hot_slices: str) -> tuple[np.ndarray, np.ndarray]:
    """z and significance from a string: 'H' significant hot, 'C' significant cold, '.' not significant."""
    z = np.array([3.0 if c == "H" else -3.0 if c == "C" else 0.5 for c in hot_slices])
    return z, np.array([c in "HC" for c in hot_slices])


@pytest.mark.parametrize(("pattern", "tau", "p", "expected"), [
    ("." * 19 + "H", 0.1, 0.5, "new hot spot"),
    ("." * 17 + "HHH", 0.3, 0.01, "consecutive hot spot"),
    ("H" * 20, 0.4, 0.001, "intensifying hot spot"),
    ("H" * 20, 0.01, 0.9, "persistent hot spot"),
    ("." + "H" * 19, -0.4, 0.001, "diminishing hot spot"),  # 95% of slices hot
    ("..H..H...H....HH..H.", 0.0, 0.9, "no pattern"),  # hot in the past, not at the end, under 90%
    ("..H..H...H....HH..HH", 0.1, 0.3, "sporadic hot spot"),
    ("..C..C......H.....H", 0.1, 0.3, "oscillating hot spot"),
    ("CC" + "." * 17 + "H", 0.2, 0.3, "oscillating hot spot"),  # once cold, now newly hot: oscillating comes first
    ("H" * 19 + ".", -0.2, 0.2, "historical hot spot"),
    ("." * 19 + "C", -0.1, 0.5, "new cold spot"),
    ("." * 16 + "CCCC", -0.3, 0.01, "consecutive cold spot"),
    ("C" * 20, -0.4, 0.001, "intensifying cold spot"),
    ("C" * 20, 0.0, 0.9, "persistent cold spot"),
    ("C" * 20, 0.4, 0.001, "diminishing cold spot"),
    (".C..C...C..C", 0.0, 0.9, "sporadic cold spot"),
    ("H...H...C", 0.0, 0.9, "oscillating cold spot"),
    ("C" * 19 + ".", 0.1, 0.4, "historical cold spot"),
    ("." * 20, 0.0, 1.0, "no pattern"),
])
def test_every_category_follows_esri_definitions(pattern, tau, p, expected):
    z, sig = _series(pattern)
    assert emerging.classify(z, sig, tau, p) == expected
    assert expected in emerging.CATEGORIES


def test_ninety_percent_is_the_line_between_persistent_and_sporadic():
    z, sig = _series("." * 2 + "H" * 18)  # exactly 90% hot
    assert emerging.classify(z, sig, 0.0, 0.9) == "persistent hot spot"
    z, sig = _series("." * 3 + "H" * 17)  # 85%: on and off, never cold
    assert emerging.classify(z, sig, 0.0, 0.9) == "consecutive hot spot"
    z, sig = _series("H" + "." * 3 + "H" * 16)  # 85%, hot before its last run
    assert emerging.classify(z, sig, 0.0, 0.9) == "sporadic hot spot"


SIDE, MONTHS = 9, 36
_RAMP = np.linspace(0, 1, MONTHS)
#: SYNTHETIC histories of a 3 x 3 block of places (mean count per month; the rest of the city averages 4)
PATTERNS = {
    "always hot": (np.full(MONTHS, 20.0), "persistent hot spot"),
    "hot in the last quarter": (np.where(np.arange(MONTHS) >= MONTHS - 3, 20.0, 4.0), "consecutive hot spot"),
    "hot in the last month only": (np.where(np.arange(MONTHS) == MONTHS - 1, 25.0, 4.0), "new hot spot"),
    "cooling, still hot": (40 - 26 * _RAMP, "diminishing hot spot"),
    "heating from hot": (14 + 26 * _RAMP, "intensifying hot spot"),
    "cooled off in the last two months": (np.where(np.arange(MONTHS) < MONTHS - 2, 20.0, 4.0), "historical hot spot"),
    "always empty, in a busy city": (np.zeros(MONTHS), "persistent cold spot"),
}


def _lattice(pattern: str, seed: int) -> tuple[np.ndarray, libpysal.weights.W, int]:
    """SYNTHETIC: a 9 x 9 grid of places (queen neighbours), 36 monthly Poisson counts around 4 (16 for the
    empty-block case: a cold spot needs a busy city around it), and one 3 x 3 block in the middle with `pattern`'s
    history. Returns counts, weights and the block's centre."""
    rng = np.random.default_rng(seed)
    rate = np.full((SIDE, SIDE, MONTHS), 16.0 if pattern.startswith("always empty") else 4.0)
    mid = SIDE // 2
    rate[mid - 1:mid + 2, mid - 1:mid + 2, :] = PATTERNS[pattern][0]
    counts = rng.poisson(rate).reshape(SIDE * SIDE, MONTHS).astype(float)
    return counts, libpysal.weights.lat2W(SIDE, SIDE, rook=False), mid * SIDE + mid


@pytest.mark.parametrize("pattern", list(PATTERNS))
def test_synthetic_patterns_get_their_categories(pattern):
    """Ten SYNTHETIC cities per pattern: the block's centre gets the pattern's category in at least 8. The
    Mann-Kendall test alone misreads a trendless series as trending in 5% of cases (TREND_ALPHA), so a steady hot
    spot is now and then "intensifying" or "diminishing"; 8 of 10 leaves room for that and no more."""
    got = []
    for seed in range(10):
        counts, w, centre = _lattice(pattern, seed)
        table = emerging.analyse(counts, w).table
        got.append(table.loc[centre, "category"])
        edge = [i for i in range(SIDE * SIDE) if min(i // SIDE, i % SIDE, SIDE - 1 - i // SIDE, SIDE - 1 - i % SIDE) == 0]
        assert not table.loc[edge, "category"].str.startswith(("persistent", "intensifying", "diminishing")).any()
    assert got.count(PATTERNS[pattern][1]) >= 8, got


def test_trends_point_the_right_way_on_synthetic_series():
    cooling = emerging.analyse(*_lattice("cooling, still hot", 7)[:2]).table.loc[_lattice("cooling, still hot", 7)[2]]
    heating = emerging.analyse(*_lattice("heating from hot", 7)[:2]).table.loc[_lattice("heating from hot", 7)[2]]
    assert cooling["tau"] < 0 and cooling["trend"] == "decreasing" and cooling["trend_p"] < emerging.TREND_ALPHA
    assert heating["tau"] > 0 and heating["trend"] == "increasing" and heating["trend_p"] < emerging.TREND_ALPHA
    cooled = emerging.analyse(*_lattice("cooled off in the last two months", 7)[:2]).table
    assert cooled.loc[_lattice("cooled off in the last two months", 7)[2], "last_significant"] == MONTHS - 3


@pytest.fixture(scope="module")
def raw_wide():
    raw = pd.read_csv(RAW / "kcpd_monthly_by_neighborhood_2015_2026.csv.gz")
    return raw.pivot(index="neighborhood", columns="month", values="persons")


def test_null_real_series_shuffled_in_time_flag_at_most_the_nominal_share(con, raw_wide):
    """Each neighborhood's real monthly series is shuffled in time (independently per place, three shuffles): the
    Mann-Kendall trend must then be significant for about TREND_ALPHA of places. Tolerance: 3 percentage points
    over the mean of the three shuffles (one shuffle's share over 240 places has a binomial standard deviation of
    1.4 points, more with spatial correlation). The trend categories (intensifying, diminishing) must be rarer."""
    w = emerging.neighborhood_weights(con, list(raw_wide.index))
    real = raw_wide.reindex(list(w.id_order)).to_numpy(dtype=float)
    rng = np.random.default_rng(2026)
    shares, trend_categories = [], []
    for _ in range(3):
        shuffled = np.array([rng.permutation(row) for row in real])
        table = emerging.analyse(shuffled, w).table
        shares.append((table["trend_p"] < emerging.TREND_ALPHA).mean())
        trend_categories.append(table["category"].str.startswith(("intensifying", "diminishing")).mean())
    assert np.mean(shares) <= emerging.TREND_ALPHA + 0.03, shares
    assert np.mean(trend_categories) <= emerging.TREND_ALPHA, trend_categories
    unshuffled = emerging.analyse(real, w).table
    assert (unshuffled["trend_p"] < emerging.TREND_ALPHA).mean() > 3 * np.mean(shares)  # real series do trend


def test_cube_counts_are_the_raw_file_and_no_data_polygons_are_left_out(con, raw_wide):
    c = emerging.cube(con, NBHD, "quarter", "neighborhood")
    raw = pd.read_csv(RAW / "kcpd_monthly_by_neighborhood_2015_2026.csv.gz")
    raw["quarter"] = pd.PeriodIndex(raw.month, freq="M").asfreq("Q").astype(str)
    expected = raw.pivot_table(index="neighborhood", columns="quarter", values="persons", aggfunc="sum")
    assert list(c.w.id_order) == sorted(raw_wide.index) and len(c.labels) == 46
    assert np.array_equal(c.counts, expected.reindex(list(c.w.id_order)).to_numpy(dtype=float))
    assert c.left_out == [f"unnamed-{k}" for k in range(1, 7)]  # polygons kcpd_nbhd never publishes: no data, not 0
    assert c.labels[0] == "2015 Q1" and "2020 Q3" in c.partial and "2023 Q1" not in c.partial


def test_neighbours_are_the_polygons_that_touch(con, raw_wide):
    with gzip.open(DATA_DIR / "geo/kc_neighborhoods.geojson.gz", "rt") as fh:
        feats = json.load(fh)["features"]
    shapes = {f["properties"]["nbhname"]: shapely.make_valid(shapely.geometry.shape(f["geometry"])) for f in feats
              if f["properties"]["nbhname"]}
    names = sorted(shapes)
    left, right = shapely.STRtree([shapes[n] for n in names]).query([shapes[n] for n in names], predicate="intersects")
    expected = {(names[i], names[j]) for i, j in zip(left, right, strict=True) if i != j}
    w = emerging.neighborhood_weights(con, names)
    assert {(a, b) for a in w.neighbors for b in w.neighbors[a]} == expected
    assert "Park Plaza" in w.neighbors["The Coves"]  # touching without a shared vertex: queen would miss it


def test_gi_star_of_a_real_slice_is_the_textbook_formula(con):
    c = emerging.cube(con, NBHD, "month", "neighborhood")
    z, _ = emerging.gi_per_slice(c.counts[:, -12:], c.w)
    ids = list(c.w.id_order)
    y = c.counts[:, -1]
    n, xbar = len(y), y.mean()
    s = np.sqrt((y ** 2).mean() - xbar ** 2)
    for place in ["CBD Downtown", "Ruskin Heights", "Blue Hills", "Waldo Homes"]:
        idx = [ids.index(place)] + [ids.index(m) for m in c.w.neighbors[place]]
        k = len(idx)
        expected = (y[idx].sum() - xbar * k) / (s * np.sqrt((n * k - k ** 2) / (n - 1)))
        assert z[ids.index(place), -1] == pytest.approx(expected)


@pytest.mark.parametrize("unit", ["neighborhood", "hex"])
def test_gi_star_of_every_slice_at_once_is_esdas_slice_by_slice(con, unit):
    """The normal approximation's Gi* for all slices at once gives every place and slice esda's G_Local z-score and
    p-value (the reference: star, binary weights), on the bundled neighborhood counts month by month (empty and
    constant slices included as they come) and on GVA shootings by hexagon."""
    import warnings

    from esda.getisord import G_Local
    from scipy.stats import norm

    f = NBHD if unit == "neighborhood" else Filter("gva", "shooting", date(2014, 4, 1), date(2018, 3, 31))
    c = emerging.cube(con, f, "month" if unit == "neighborhood" else "quarter", unit)
    z, p = emerging.gi_per_slice(c.counts, c.w)
    for t in range(c.counts.shape[1]):
        y = c.counts[:, t].astype(float)
        if y.sum() == 0 or np.ptp(y) == 0:
            assert (z[:, t] == 0).all() and (p[:, t] == 1).all()
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            g = G_Local(y, libpysal.weights.fill_diagonal(c.w, 1), transform="B", star=True, permutations=0)
        assert z[:, t] == pytest.approx(np.nan_to_num(g.Zs), rel=1e-9, abs=1e-12)
        assert p[:, t] == pytest.approx(2 * norm.sf(np.abs(np.nan_to_num(g.Zs))), rel=1e-9, abs=1e-12)
    assert (np.abs(z) > 1.96).sum() > 100


def test_mann_kendall_is_pymannkendalls_original_test_on_every_real_place(con):
    """The vectorised Mann-Kendall gives every place the tau, p-value and trend of pymannkendall's original_test (the
    reference), on the Gi* z-scores of the bundled neighborhood counts month by month, on the same rounded to whole
    numbers (ties: the variance's correction), and on a constant series, a clean rise, a clean fall and steps."""
    import pymannkendall

    c = emerging.cube(con, NBHD, "month", "neighborhood")
    z, _ = emerging.gi_per_slice(c.counts, c.w)
    n = z.shape[1]
    series = np.vstack([z, np.round(z), np.zeros(n), np.arange(n), -np.arange(n), np.arange(n) // 10])
    tau, p, trend = emerging.mann_kendall(series, 0.05)
    for i, row in enumerate(series):
        ref = pymannkendall.original_test(row, alpha=0.05)
        assert (tau[i], p[i], trend[i]) == (pytest.approx(ref.Tau, rel=1e-12, abs=1e-15),
                                            pytest.approx(ref.p, rel=1e-12, abs=1e-15), ref.trend), i
    assert {"increasing", "decreasing", "no trend"} <= set(trend)
    with pytest.raises(ValueError, match="finite"):
        emerging.mann_kendall(np.array([[1.0, np.nan, 2.0]]))


def test_real_result_has_a_trend_and_a_last_significant_slice_per_place(con):
    result = emerging.emerging(con, NBHD, "quarter")
    table = result["table"].set_index("place")
    assert result["places"] == 240 and len(result["slices"]) == 46 and result["z"].shape == (240, 46)
    assert set(table["category"]) <= set(emerging.CATEGORIES)
    assert sum(result["counts_by_category"].values()) == 240
    assert table["events"].sum() == pd.read_csv(RAW / "kcpd_monthly_by_neighborhood_2015_2026.csv.gz").persons.sum()
    never = table["hot_slices"].add(table["cold_slices"]).eq(0)
    assert (table.loc[never, "last_significant"] == "never").all()
    assert table.loc[~never, "last_significant"].str.match(r"^\d{4} Q\d \((hot|cold)\)$").all()


@pytest.mark.parametrize(("f", "slice_", "unit", "message"), [
    (Filter("gva", "shooting", date(2014, 1, 1), date(2018, 3, 31)), "month", "hex", "fewer than 30 placed events"),
    (Filter("gva", "shooting", date(2016, 1, 1), date(2020, 4, 30)), "quarter", "hex", "no place-level data for 2018 Q2"),
    (Filter("kcpd_nbhd", "persons", date(2025, 1, 1), date(2026, 6, 30)), "quarter", "neighborhood", "at least 10"),
    (NBHD, "quarter", "hex", "hexagons need incident points"),
    (NBHD, "week", "neighborhood", "slice 'week' is not one of"),
])
def test_sparse_short_or_impossible_requests_are_refused_with_the_reason(con, f, slice_, unit, message):
    with pytest.raises(BadQuery, match=message):
        emerging.emerging(con, f, slice_, unit)


def test_gva_quarters_on_hexagons_run_where_dense_enough(con):
    start, end = emerging.default_range(con, "gva", "shooting", "quarter")
    assert (start, end) == (date(2014, 4, 1), date(2018, 3, 31))  # 2014 Q1 has 19 shootings: left out
    result = emerging.emerging(con, Filter("gva", "shooting", start, end), "quarter", "hex")
    assert result["places"] > 1000 and len(result["slices"]) == 16
    assert (result["counts"].sum(axis=0) >= emerging.MIN_EVENTS_PER_SLICE).all()


def test_permutation_p_values_are_used_when_asked():
    """With 999 conditional permutations the smallest two-sided p is 2/1000, and the SYNTHETIC always-hot block is
    still a persistent hot spot; the normal approximation gives far smaller p-values for the same block."""
    counts, w, centre = _lattice("always hot", 1)
    perm = emerging.analyse(counts, w, permutations=999)
    assert perm.p.min() >= 2 / 1000 - 1e-12
    assert perm.table.loc[centre, "category"] == "persistent hot spot"
    assert emerging.analyse(counts, w).p[centre].max() < 2 / 1000


def _grid(fill: dict[int, np.ndarray], slices: int = 12, background: float = 0.0) -> np.ndarray:
    """SYNTHETIC counts on the 9 x 9 grid: every place `background` a slice, the places in `fill` their own series."""
    counts = np.full((SIDE * SIDE, slices), background)
    for place, series in fill.items():
        counts[place] = series
    return counts


def test_a_place_with_no_event_is_never_a_hot_spot():
    """SYNTHETIC: one place with 2 events in every slice (24 in all), its eight neighbours none. Gi* of a neighbour
    is mostly the busy place, so it scored hot; a slice without an event in the place itself is not its hot spot."""
    w, centre = libpysal.weights.lat2W(SIDE, SIDE, rook=False), SIDE * SIDE // 2
    table = emerging.analyse(_grid({centre: np.full(12, 2.0)}), w).table
    assert table.loc[centre, "category"] == "persistent hot spot"
    for place in w.neighbors[centre]:
        assert table.loc[place, "category"] == emerging.NO_PATTERN and table.loc[place, "hot_slices"] == 0


def test_a_category_resting_on_too_few_events_is_too_few_to_tell():
    """SYNTHETIC: a place with one event, in the last slice (a 'new hot spot' on one incident), and a block of
    empty places in a city where every other place had one event in the last slice only: 9 places x 72/81 events
    expected near the block's centre is under MIN_PLACE_EVENTS, so its 'new cold spot' is too few to tell too."""
    w, centre = libpysal.weights.lat2W(SIDE, SIDE, rook=False), SIDE * SIDE // 2
    one = np.zeros(12)
    one[-1] = 1
    table = emerging.analyse(_grid({centre: one}), w).table
    assert table.loc[centre, "category"] == emerging.TOO_FEW
    block = [centre, *w.neighbors[centre]]
    last_only = _grid({p: np.zeros(12) for p in block}, background=0.0)
    last_only[[p for p in range(SIDE * SIDE) if p not in block], -1] = 1
    expected_near = len(block) * last_only.sum() / (SIDE * SIDE)
    assert expected_near < emerging.MIN_PLACE_EVENTS
    table = emerging.analyse(last_only, w).table
    assert table.loc[centre, "category"] == emerging.TOO_FEW
    assert table.loc[centre, "cold_slices"] == 1  # Gi* did call it cold: the label, not the test, changed


def test_gva_hexagon_hot_spots_rest_on_enough_shootings(con):
    """On the real GVA quarters on hexagons, every hot-spot category rests on at least MIN_PLACE_EVENTS shootings
    in the cell, and a cell is hot in no more quarters than it had shootings in (the review found 9 of 82 hot
    cells empty and 33 with two shootings or fewer)."""
    start, end = emerging.default_range(con, "gva", "shooting", "quarter")
    result = emerging.emerging(con, Filter("gva", "shooting", start, end), "quarter", "hex")
    table = result["table"].set_index("place")
    hot = table[table["category"].str.contains("hot spot")]
    assert not hot.empty and (hot["events"] >= emerging.MIN_PLACE_EVENTS).all()
    busy_quarters = (result["counts"] > 0).sum(axis=1)
    assert (table["hot_slices"] <= busy_quarters.reindex(table.index)).all()


@pytest.mark.parametrize(("start", "slice_"), [(date(2024, 7, 1), "month"), (date(2022, 1, 1), "month"),
                                               (date(2018, 1, 1), "quarter")])
def test_categories_alone_test_the_trend_only_where_the_category_needs_it(con, start, slice_):
    """The Hotspots ranking asks only for categories (every_trend=False): the same category for every place as the
    full analysis, Mann-Kendall run only for the places significant in the last slice, the rest 'not tested'."""
    f = Filter("kcpd_nbhd", "persons", start, date(2025, 12, 31))
    full = emerging.emerging(con, f, slice_)["table"].set_index("place")
    lean = emerging.emerging(con, f, slice_, every_trend=False)["table"].set_index("place")
    assert (full["category"] == lean["category"]).all()
    tested = lean["trend"] != emerging.NOT_TESTED
    # a category that reads the trend (a spot in the last slice) was tested; a place never significant was not
    by_trend = ~full["category"].isin([emerging.NO_PATTERN, emerging.TOO_FEW, "historical hot spot",
                                       "historical cold spot"])
    assert 0 < tested.sum() < len(lean) and tested[by_trend].all()
    assert not tested[full["hot_slices"] + full["cold_slices"] == 0].any()
    assert (lean.loc[tested, ["tau", "trend_p"]] == full.loc[tested, ["tau", "trend_p"]]).all().all()
    assert lean.loc[~tested, ["tau", "trend_p"]].isna().all().all()
