"""Every bad value gets a one-line message, never a traceback and never a made-up result.

Command lines: exit code 2, one line on stderr naming the value, nothing on stdout. JSON output: strict (no NaN or
Infinity tokens). Pages: a link value outside the date widgets' range is named in a warning and replaced by the
default. Viewers never see tracebacks (Streamlit's client.showErrorDetails).
"""

from __future__ import annotations

import json
import tomllib
from datetime import date

import pytest
from streamlit.config import ShowErrorDetailsConfigOptions
from streamlit.testing.v1 import AppTest

from analytics import cli, filters
from kcvt.settings import ROOT
from tests.conftest import analytics_cli

COUNTS = ["counts", "--category", "shooting", "--source", "gva"]
RANK = ["rank", "--category", "shooting", "--source", "gva"]
WDD = ["wdd", "--treated", "5", "3", "--control", "4", "4"]
EVALUATE = ["evaluate", "--event", "independence-ave-2023-11-29"]

# (argv, what the one line on stderr must say)
BAD = {
    "counts-start-year-1": (COUNTS + ["--start", "0001-01-01", "--end", "2016-12-31"],
                            "start 0001-01-01 is outside the accepted dates, 2000-01-01 to"),
    "counts-end-year-9999": (COUNTS + ["--start", "2016-01-01", "--end", "9999-12-31"],
                             "end 9999-12-31 is outside the accepted dates, 2000-01-01 to"),
    "rank-start-year-1": (RANK + ["--start", "0001-01-01", "--end", "2016-12-31"],
                          "start 0001-01-01 is outside the accepted dates, 2000-01-01 to"),
    "rank-end-year-9999": (RANK + ["--start", "2016-01-01", "--end", "9999-12-31"],
                           "end 9999-12-31 is outside the accepted dates, 2000-01-01 to"),
    "rank-top-negative": (RANK + ["--start", "2016-01-01", "--end", "2016-12-31", "--top", "-3"], "--top"),
    "wdd-all-zero": (["wdd", "--treated", "0", "0", "--control", "0", "0"], "undefined"),
    "wdd-all-zero-json": (["wdd", "--treated", "0", "0", "--control", "0", "0", "--json"], "zero variance"),
    "wdd-zero-buffers": (WDD + ["--buffer", "0", "0", "--buffer-control", "0", "0"],
                         "displacement test is undefined"),
    "wdd-buffer-alone": (WDD + ["--buffer", "1", "2"], "both the buffer and the buffer control"),
    "wdd-negative": (["wdd", "--treated", "-5", "3", "--control", "4", "4"], "treated before count -5"),
    "wdd-nan": (["wdd", "--treated", "nan", "3", "--control", "4", "4"], "treated before count nan"),
    "wdd-inf": (["wdd", "--treated", "3", "3", "--control", "4", "inf"], "control after count inf"),
    "wdd-1e308": (["wdd", "--treated", "1e308", "1e308", "--control", "1e308", "1e308"], "1e+308"),
    "wdd-before-len-0": (WDD + ["--before-len", "0"], "before window length 0"),
    "wdd-before-len-negative": (WDD + ["--before-len", "-1"], "before window length -1"),
    "wdd-after-len-nan": (WDD + ["--after-len", "nan"], "after window length nan"),
    "wdd-after-len-inf": (WDD + ["--after-len", "inf"], "after window length inf"),
    "evaluate-months-before-0": (EVALUATE + ["--months-before", "0"], "months before must be a whole number from 1"),
    "evaluate-months-before-negative": (EVALUATE + ["--months-before", "-3"], "not -3"),
    "evaluate-months-after-0": (EVALUATE + ["--months-after", "0"], "months after must be a whole number from 1"),
    "evaluate-months-after-37": (EVALUATE + ["--months-after", "37"], "to 36, not 37"),
    "evaluate-months-before-1e9": (EVALUATE + ["--months-before", "1e9"], "--months-before"),
    "evaluate-months-before-nan": (EVALUATE + ["--months-before", "nan"], "--months-before"),
    "evaluate-buffer-negative": (EVALUATE + ["--buffer-m", "-5"], "buffer must be a distance in metres"),
    "evaluate-buffer-0": (EVALUATE + ["--buffer-m", "0"], "above 0"),
    "evaluate-buffer-nan": (EVALUATE + ["--buffer-m", "nan"], "not nan"),
    "evaluate-buffer-1e9": (EVALUATE + ["--buffer-m", "1e9"], "at most 2,000, not 1e+09"),
    "evaluate-unknown-comparison": (EVALUATE + ["--comparison", "Nowhere"], "unknown comparison neighborhood 'Nowhere'"),
    "evaluate-misspelt-comparison": (EVALUATE + ["--comparison", "Ruskin Heights|Ruskin"], "Ruskin Heights"),
    "evaluate-unknown-measure": (EVALUATE + ["--measure", "nope"], "unknown measure 'nope' for source 'kcpd_nbhd'; "
                                                                   "known: other, persons"),
    "evaluate-unknown-source": (EVALUATE + ["--source", "nope"], "unknown source 'nope'; known: gva"),
    "evaluate-source-without-neighborhoods": (EVALUATE + ["--source", "kcpd_district"], "no neighborhood counts"),
    "evaluate-points-from-area-counts": (EVALUATE + ["--unit", "points", "--source", "kcpd_nbhd"],
                                         "no incident points"),
    "evaluate-undated-event-bad-window": (["evaluate", "--event", "ruskin-heights-undated", "--months-before", "0"],
                                          "months before"),
}


@pytest.mark.parametrize(("argv", "says"), list(BAD.values()), ids=list(BAD))
def test_a_bad_value_is_one_line_and_exit_2(built_db, argv, says):
    code, out, err = astuple(analytics_cli(*argv))
    assert code == 2, (code, out[:300], err[-300:])
    assert out == ""
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert err.startswith("error: ") and says in err, err
    assert "Traceback" not in err


def astuple(done) -> tuple[int, str, str]:
    return done.returncode, done.stdout, done.stderr


def _strict(text: str):
    """json.loads, but NaN, Infinity and -Infinity (which Python writes and most parsers refuse) are errors."""
    def refuse(token: str):
        raise ValueError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=refuse)


# id -> (argv, must succeed): commands whose results hold missing values (months without data, changes that cannot
# be computed) must print strict JSON; those given non-finite numbers print strict JSON or nothing (refused)
JSON_COMMANDS = {
    "counts-with-missing-months": (COUNTS + ["--start", "2018-01-01", "--end", "2020-12-31", "--json"], True),
    "counts-in-a-neighborhood": (COUNTS + ["--start", "2019-06-15", "--end", "2020-02-10", "--area", "Ruskin Heights",
                                           "--json"], True),
    "rank-without-a-previous-period": (RANK + ["--start", "2014-01-01", "--end", "2014-12-31", "--json"], True),
    "evaluate-missing-data": (EVALUATE + ["--unit", "points", "--json"], False),  # refused: exit 2, one line
    "evaluate-areas": (EVALUATE + ["--months-before", "3", "--months-after", "3", "--json"], True),
    "events": (["events", "--json"], True),
    "wdd": (["wdd", "--treated", "0", "3", "--control", "4", "0", "--json"], True),
    "wdd-nan-count": (["wdd", "--treated", "nan", "3", "--control", "4", "4", "--json"], False),
    "wdd-huge-counts": (["wdd", "--treated", "1e308", "1e308", "--control", "1e308", "1e308", "--json"], False),
    "wdd-infinite-count": (["wdd", "--treated", "inf", "3", "--control", "4", "4", "--json"], False),
    "wdd-nan-length": (WDD + ["--after-len", "nan", "--json"], False),
}


@pytest.mark.parametrize(("argv", "must_succeed"), list(JSON_COMMANDS.values()), ids=list(JSON_COMMANDS))
def test_json_output_is_strict(built_db, argv, must_succeed):
    code, out, err = astuple(analytics_cli(*argv))
    if code == 2 and not must_succeed:
        assert out == "" and err.count("\n") == 1
        return
    assert code == 0, err
    data = _strict(out)
    if argv[0] == "counts":
        assert any(m["n"] is None for m in data["monthly"])  # missing months are null, not 0
    if argv[0] == "rank":
        assert all(row["change"] is None for row in data["table"])


def test_print_json_turns_every_non_finite_number_into_null(capsys):
    import numpy as np

    cli.print_json({"nan": float("nan"), "inf": np.float64("inf"), "rows": [np.nan, -np.inf, np.int64(3), 1.5],
                    "day": date(2020, 1, 2)})
    assert _strict(capsys.readouterr().out) == {"nan": None, "inf": None, "rows": [None, None, 3, 1.5],
                                                "day": "2020-01-02"}


# pages with date widgets -> (start widget key, end widget key)
DATE_PAGES = {"views/home.py": ("start", "end"), "views/hotspots.py": ("h_start", "h_end"),
              "views/neighborhood.py": ("p_start", "p_end")}


def _page(page: str, **params) -> AppTest:
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=120)
    at.switch_page(page)  # opened straight from a shared link
    for k, v in params.items():
        at.query_params[k] = v
    return at.run()


@pytest.fixture(scope="module")
def page_defaults(built_db) -> dict:
    """Each page's date widgets when its link brings no dates."""
    out = {}
    for page, keys in DATE_PAGES.items():
        at = _page(page)
        assert not at.exception
        out[page] = tuple(at.sidebar.date_input(key=k).value for k in keys)
    return out


@pytest.mark.parametrize("page", list(DATE_PAGES))
@pytest.mark.parametrize(("param", "value"), [("start", "1950-01-01"), ("end", "2099-12-31")])
def test_a_link_date_outside_the_widgets_range_is_named_and_replaced_by_the_default(page_defaults, page, param,
                                                                                    value):
    at = _page(page, **{param: value})
    assert not at.exception, [e.value for e in at.exception]
    lo, hi = filters.date_bounds()
    warnings = " ".join(w.value for w in at.warning)
    assert f"ignored {param}={value}: outside the accepted dates, {lo} to {hi}" in warnings
    shown = tuple(at.sidebar.date_input(key=k).value for k in DATE_PAGES[page])
    assert shown == page_defaults[page]
    assert all(lo <= d <= hi for d in shown)


def test_viewers_never_see_tracebacks():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["client"]["showErrorDetails"] == ShowErrorDetailsConfigOptions.NONE.value
