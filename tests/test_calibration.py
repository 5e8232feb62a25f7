"""Thresholds calibrated on placebos, checked on held-out placebos the calibration never saw, for the WDD local
test, the synthetic control's rank test and the program estimate (analytics.calibrate)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from scipy.stats import binom

from analytics import calibrate, methods, panel, program, registry
from analytics.wdd import Z90

EVENT = "prospect-35th-2023-05-17"


@pytest.fixture(scope="module")
def frame(built_db, con):
    return methods.frame(con, registry.get(EVENT), 36, 12)


def test_tolerance_is_the_binomial_95th_percentile():
    for n in (20, 60, 200):
        assert calibrate.tolerance(n) == binom.ppf(0.95, n, 0.10) / n
    assert calibrate.tolerance(100) == 0.15


def _allowed(n: int) -> int:
    """Written here from the binomial: the most of n placebos that may be flagged while a true rate of 10% would
    give that few or fewer at most 5% of the time (the one-sided 95% Clopper-Pearson bound is then at most 10%)."""
    return max([x for x in range(n + 1) if binom.cdf(x, n, 0.10) <= 0.05], default=-1)


@pytest.mark.parametrize("n", [20, 28, 29, 40, 60, 100, 200])
def test_allowed_is_the_clopper_pearson_rule(n):
    assert calibrate.allowed(n) == _allowed(n)


def test_thresholds_are_conservative():
    z = np.arange(1, 201, dtype=float) / 40  # 200 distinct |z| from 0.025 to 5.0
    x = _allowed(200)
    assert x == 12  # not the 20 a plain 90th percentile lets through
    thr = calibrate.z_threshold(z)
    assert (z > thr).sum() == x
    assert calibrate.z_threshold(np.full(50, 0.1)) == Z90  # never below the textbook value
    assert calibrate.z_threshold(np.arange(20.0)) == np.inf  # too few placebos: never claim
    grid = np.arange(1, 22) / 21
    p = np.array([1 / 21] * 4 + [2 / 21] * 4 + [0.5] * 92)  # 100 placebos: 4 at 1/21, 8 at or below 2/21
    assert _allowed(100) == 4 and calibrate.p_threshold(p, grid) == pytest.approx(1 / 21)
    assert calibrate.p_threshold(np.array([1 / 21] * 5 + [0.9] * 95), grid) == 0.0  # never claim


def test_the_held_out_rate_is_that_of_the_threshold_used():
    cal = np.arange(1, 201, dtype=float) / 40
    held = np.array([1.0] * 90 + [4.8] * 10)
    c = calibrate.calibration("x", "|z|", cal, held, floor=4.9, floor_origin="a higher floor")
    assert c.threshold == 4.9 and c.held_out_rate == 0.0 and c.as_dict()["rule"] == "|z| > 4.90"
    assert "a higher floor" in c.sentence()
    c = calibrate.calibration("x", "|z|", cal, held)
    assert c.held_out_rate == pytest.approx(np.mean(held > c.threshold))


def test_placebos_never_touch_the_footprint_or_busy_places_and_halves_do_not_share_places(frame):
    p = frame["placebos"]
    assert not p.halves[0] & p.halves[1]
    assert set(frame["fp"].areas) <= p.blocked
    for half in (0, 1):
        for prog in p.draw(panel.rng_for("test"), half, [3, 1], 30):
            for areas, start in prog:
                assert set(areas) <= p.halves[half]
                assert not set(areas) & (p.blocked | p.busy[start])


def test_wdd_held_out_false_positive_rate_is_at_most_nominal(frame):
    cal = calibrate.wdd_calibration(frame["placebos"], len(frame["fp"].areas), EVENT)
    assert cal.n_held_out >= 150
    assert cal.held_out_rate <= cal.tolerance
    # without calibration the textbook threshold claims far more than 10% on these 36/12-month windows
    draws = frame["placebos"].draw(panel.rng_for(EVENT, "wdd", 1), 1, [3], 200)
    zs = np.abs([calibrate.wdd_z(frame["placebos"], a, s) for ((a, s),) in draws])
    assert (zs > Z90).mean() > cal.tolerance
    # those are the calibration's held-out half: its rate is theirs at its threshold
    assert cal.held_out_rate == pytest.approx((zs > cal.threshold).mean())


def test_synthetic_control_held_out_false_positive_rate_is_at_most_nominal(frame):
    cal = calibrate.synth_calibration(frame["placebos"], len(frame["fp"].areas), EVENT, n=60)
    assert cal.n_held_out == 60 and cal.held_out_rate <= binom.ppf(0.95, 60, 0.10) / 60
    # the rank test itself, at its nominal 10% (rank 1 or 2 of 21), on placebos drawn apart from the calibration's
    draws = frame["placebos"].draw(panel.rng_for("rank test"), 1, [3], 60)
    p = np.array([calibrate.synth_p(frame["placebos"], a, s) for ((a, s),) in draws])
    assert (p <= 2 / 21 + 1e-9).mean() <= calibrate.tolerance(len(p))


def test_program_estimate_held_out_false_positive_rate_is_at_most_nominal(built_db, con):
    m, g, events = panel.matrix(con), panel.geo(con), registry.load()
    p = calibrate.placebos_for(con, m, events, [], program.WINDOW, program.WINDOW, "test-program")
    sizes = [1, 1, 3]
    halves = [program.placebo_zs(m, g, events, p, sizes, "test-program", h, 20) for h in (0, 1)]
    cal = calibrate.calibration("program", "|z|", [x["z"] for x in halves[0]], [x["z"] for x in halves[1]])
    assert cal.n_held_out >= 18 and cal.held_out_rate <= cal.tolerance


#: the seed's dated events, read from the bundled file (collection must not create a registry in the checkout)
DATED = [e["event_id"] for e in csv.DictReader(registry.SEED.open()) if e["start_date"]]


@pytest.mark.slow  # hundreds of placebo footprints for each of the registry's events: about a minute in all on 2 cores
@pytest.mark.parametrize("event_id", DATED)
def test_every_dated_event_holds_its_false_positive_rate_on_held_out_placebos(built_db, con, event_id):
    """For every dated registry event: the WDD and the rank test, at the thresholds their verdicts use, flag their
    held-out placebos no more often than the binomial 95th percentile at 10% allows (computed here). That the
    held-out rate is the held-out half's at the threshold is checked above, on one event's WDD (both methods share
    `calibrate.calibration`), by drawing that half again; drawing it again for each event cost a third of this test."""
    f = methods.frame(con, registry.get(event_id), 36, 12)
    if f["status"] != "ready":
        pytest.skip(f["status"])
    p, size = f["placebos"], len(f["fp"].areas)
    for cal, least in ((calibrate.wdd_calibration(p, size, event_id), 150),
                       (calibrate.synth_calibration(p, size, event_id), 135)):
        n = cal.n_held_out
        assert n >= least, cal.method
        assert round(cal.held_out_rate * n) <= binom.ppf(0.95, n, 0.10), cal.method


@pytest.mark.slow  # placebo programs for each program
@pytest.mark.parametrize("program_id", ["prospect-corridor", "council-2026"])
def test_every_program_estimate_holds_its_false_positive_rate(built_db, con, program_id):
    r = program.evaluate(con, program_id)
    cal = r["calibration"]
    n = cal["n_held_out"]
    assert n >= 36
    assert cal["held_out_rate"] * n <= binom.ppf(0.95, n, 0.10)


def test_the_held_out_check_is_said_as_a_count():
    """Review r2a: "it claimed one 0% of the time" reads as nonsense; the count of held-out placebos flagged is said
    instead (none, or k of n with its percent)."""
    none = calibrate.Calibration("x", "|z|", 2.5, 200, 200, 0.0).sentence()
    assert "claimed a change in none of the 200" in none and "of the time" not in none
    some = calibrate.Calibration("x", "|z|", 2.5, 200, 200, 7 / 200).sentence()
    assert "claimed a change in 7 of the 200, 4%" in some
