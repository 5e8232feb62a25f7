"""The Emerging hot spots page (AppTest), the one-page briefing (printed by Chromium), and the emerging, watchlist and
backtest commands: documented option by option, and a bad value is one line with exit code 2."""

from __future__ import annotations

import gzip
import json
import re
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from analytics import backtest, briefing, cli, emerging, maps, warning
from analytics.queries import Filter
from kcvt.settings import DATA_DIR, ROOT
from tests.conftest import RAW, analytics_cli
from tests.test_page_text import check

NBHD = Filter("kcpd_nbhd", "persons", date(2015, 1, 1), date(2026, 6, 30))
COMMANDS = ["emerging", "watchlist", "backtest"]


def _count_words(watch: dict) -> str:
    """How the watch list's sentence opens: "None of the 240 ..." or "3 of the 240 ..."."""
    return f"{'None' if watch['flagged'] == 0 else watch['flagged']} of the {watch['tested']} neighborhoods tested"


def page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=300)
    at.switch_page("views/emerging.py")
    return at.run()


@pytest.fixture(scope="module")
def at(built_db) -> AppTest:
    return page()


def test_page_shows_the_librarys_categories_legend_and_table(at, con):
    check(at)
    result = emerging.emerging(con, NBHD, "month")
    counts = result["counts_by_category"]
    metrics = {m.label: m.value for m in at.metric}
    hot = sum(v for k, v in counts.items() if "hot spot" in k)
    cold = sum(v for k, v in counts.items() if "cold spot" in k)
    assert metrics == {"Places analysed": "240", "Months": "138", "Hot / cold spot places": f"{hot} / {cold}"}
    legend = at.get("html")[0].proto.body
    for name, n in counts.items():
        assert f"{name} ({n})" in legend and emerging.CATEGORIES[name] in legend
    # the polygons drawn as outlines only (the six KCPD's file never names): in the legend too (blind review)
    with gzip.open(DATA_DIR / "geo/kc_neighborhoods.geojson.gz", "rt") as fh:
        polygons = len(json.load(fh)["features"])
    named = pd.read_csv(RAW / "kcpd_monthly_by_neighborhood_2015_2026.csv.gz").neighborhood.nunique()
    assert len(result["left_out"]) == polygons - named  # from the raw files: polygons the counts never name
    assert f"outline only: not tested (no data or no neighbours, never 0) ({len(result['left_out'])})" in legend
    table = next(d.value for d in at.dataframe if "category" in d.value.columns).set_index("neighborhood")
    lib = result["table"].set_index("place")
    assert (table["category"] == lib["category"].reindex(table.index)).all()
    assert (table["last significant"] == lib["last_significant"].reindex(table.index)).all()


def test_the_map_draws_the_watch_areas_named_in_its_legend(at):
    """A task force reads its own areas against the categories, as on the Hotspots map: each saved watch area (the
    bundled seed's, in a test's fresh registry) outlined in its colour on the map and named in the legend beside it."""
    seed = pd.read_csv(DATA_DIR / "reference" / "watch_areas_seed.csv")
    spec = json.loads(at.get("deck_gl_json_chart")[0].proto.json)
    layers = {layer["id"]: layer for layer in spec["layers"]}
    assert {"watch_areas_casing", "watch_areas"} <= layers.keys()
    assert {r["tooltip"] for r in layers["watch_areas"]["data"]} == {f"Watch area: {n}" for n in seed["name"]}
    legend = next(h.proto.body for h in at.get("html") if "Watch areas" in h.proto.body)
    for name, colour in zip(seed["name"], maps.watch_colours(len(seed)), strict=True):
        row = next(r for r in legend.split('<div style="display:flex')[1:] if name in r)
        assert f"rgb({colour[0]},{colour[1]},{colour[2]})" in row


def test_the_z_score_chart_has_units_and_follows_the_chosen_place(at):
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert spec["layout"]["yaxis"]["title"]["text"] == "Gi* z-score (standard deviations)"
    assert spec["layout"]["xaxis"]["title"]["text"] == "month" and len(spec["data"][0]["x"]) == 138
    at.selectbox(key="e_place_kcpd_nbhd_neighborhood").set_value("Ruskin Heights").run()
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert spec["layout"]["title"]["text"].startswith("Ruskin Heights: ")


def test_watch_list_and_ranking_components_are_the_librarys(at, con):
    watch = warning.watchlist(con, "kcpd_nbhd", "persons")
    shown = [m.value for m in at.markdown]
    assert all(f"- {line}" in shown for line in watch["watch"])
    assert any(m.startswith(f"**{watch['target']}**: {_count_words(watch)}") for m in shown)
    ranking = next(d.value for d in at.dataframe if "early warning" in d.value.columns).set_index("neighborhood")
    comp = backtest.components(con, NBHD).set_index("area_id")
    assert (ranking["early warning"] == comp["early_warning"].reindex(ranking.index)).all()
    assert (ranking["emerging category"] == comp["emerging"].reindex(ranking.index)).all()
    assert ranking.loc["CBD Downtown", "years in the top 10%"] == (
        f"{int(comp.loc['CBD Downtown', 'persistence_years'])} of {int(comp.loc['CBD Downtown', 'persistence_of'])}")


@pytest.mark.parametrize("unit", ["neighborhood", "hex"])
def test_the_maps_places_are_the_briefings_own(built_db, con, unit):
    """The page's map (its places drawn from the app's light neighborhood polygons, built once per database version)
    has the briefing's features: the same places, shapes, categories and colours as briefing.geojson builds from the
    areas table."""
    from app import web

    args = (("kcpd_nbhd", "persons", date(2016, 1, 1), date(2019, 12, 31)) if unit == "neighborhood" else
            ("gva", "shooting", date(2014, 4, 1), date(2018, 3, 31))) + ("quarter", unit, 0)
    page = web.emerging_geojson(web.db_key(), *args)
    assert page == briefing.geojson(con, web.emerging(web.db_key(), *args)) and len(page["features"]) > 20


def test_every_category_colour_stands_apart_from_the_others_and_from_no_pattern():
    """On the map a reader tells categories apart by colour alone: any two (and "no pattern") differ by at least 15 in
    CIE76 colour difference (Lab, sRGB D65), computed here from the hex codes. A blind review could not tell pale
    "sporadic hot spot" from "no pattern"; "new" and "sporadic" cold spots were 7 apart."""
    import itertools

    import numpy as np

    def lab(code: str) -> np.ndarray:
        rgb = np.array([int(code[i:i + 2], 16) / 255 for i in (1, 3, 5)])
        rgb = np.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
        xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]) @ rgb
        f = np.cbrt(xyz / [0.95047, 1.0, 1.08883])
        f = np.where(xyz / [0.95047, 1.0, 1.08883] > 0.008856, f, 7.787 * xyz / [0.95047, 1.0, 1.08883] + 16 / 116)
        return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])

    shown = {k: v for k, v in emerging.CATEGORIES.items() if k != emerging.TOO_FEW}  # too few: white, blank on purpose
    assert len(shown) == 17
    gaps = {(a, b): float(np.linalg.norm(lab(shown[a]) - lab(shown[b]))) for a, b in itertools.combinations(shown, 2)}
    assert min(gaps.values()) >= 15, sorted(gaps.items(), key=lambda kv: kv[1])[:3]


def test_too_sparse_a_choice_is_refused_with_the_minimum(built_db):
    at = page()
    at.sidebar.selectbox(key="e_source").set_value("gva").run()
    at.sidebar.radio(key="e_slice").set_value("quarter").run()
    at.sidebar.radio(key="e_unit_gva").set_value("hex").run()
    check(at)
    assert {m.label: m.value for m in at.metric}["Places analysed"] == "1,110"
    # the hexagons over the neighborhoods' (transparent, hoverable) fill and under their outlines, which stay in
    # sight, and the watch areas on top
    ids = [layer["id"] for layer in json.loads(at.get("deck_gl_json_chart")[0].proto.json)["layers"]]
    assert ids == ["neighborhoods", "emerging", "neighborhood_outlines", "watch_areas_casing", "watch_areas"]
    at.sidebar.radio(key="e_slice").set_value("month").run()
    check(at)
    text = " ".join(w.value for w in at.warning)
    assert "fewer than 30 placed events, too few for Gi*" in text and not at.metric



@pytest.mark.parametrize("params", [{"source": "kcpd"}, {"start": "2026-01-01", "end": "2026-12-31"}],
                         ids=["kcpd-records-no-place-level-slices", "period-past-the-data"])
def test_a_source_or_period_without_place_level_counts_is_refused_in_words_not_an_error(built_db, params):
    """KCPD's crime records have no whole month of place-level counts here, and 2026 runs past the data: both the
    analysis and the ranking components say why they are not shown, and no sentence is left with an empty list."""
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=300)
    at.switch_page("views/emerging.py")
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    check(at)
    warnings = [w.value for w in at.warning]
    assert any(w.startswith("Ranking components not shown:") for w in warnings), warnings
    assert not [w for w in warnings if re.search(r"inside \.|inside $", w)], warnings

@pytest.fixture(scope="module")
def briefing_html(con) -> str:
    return briefing.build(con, NBHD)


def test_briefing_holds_ranking_map_watch_list_caveats_and_coverage(briefing_html, con):
    text = briefing_html
    assert text.count("<svg") == 1 and "Watch list" in text and "Coverage" in text
    for measure in briefing.CAVEATS:
        assert f"<b>{measure}</b>" in text
    for line in warning.watchlist(con, "kcpd_nbhd", "persons")["watch"]:
        assert line in text
    assert "complete: 2015-01..2016-11" in text and "partial: 2016-12" in text
    assert not re.search(r">\s*(nan|None|NaN)\s*<", text)


@pytest.mark.skipif(not shutil.which("chromium"), reason="needs Debian's chromium")
def test_briefing_prints_on_one_page(briefing_html, tmp_path):
    src, pdf = tmp_path / "briefing.html", tmp_path / "briefing.pdf"
    src.write_text(briefing_html, encoding="utf-8")
    subprocess.run([shutil.which("chromium"), "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
                    f"--print-to-pdf={pdf}", src.as_uri()], capture_output=True, timeout=120, check=True)
    assert len(re.findall(rb"/Type\s*/Page[^s]", pdf.read_bytes())) == 1


def test_every_option_of_the_new_commands_is_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    sub = next(a for a in cli.parser()._actions if a.dest == "command")
    for name in COMMANDS:
        line = next((x for x in readme.splitlines() if f"`python -m analytics {name}" in x), "")
        assert line, f"{name} is not in README's command table"
        for action in sub.choices[name]._actions:
            for flag in action.option_strings:
                if flag not in ("-h", "--help"):
                    assert flag in line, f"{name} {flag} is not documented in README"



@pytest.mark.parametrize(("args", "message"), [
    (["emerging", "--source", "kcpd_nbhd", "--category", "persons", "--slice", "week"], "invalid choice: 'week'"),
    (["emerging", "--source", "gva", "--category", "shooting", "--unit", "hex"], "fewer than 30 placed events"),
    (["emerging", "--source", "kcpd_nbhd", "--category", "persons", "--permutations", "-1"], "not a whole number"),
    (["emerging", "--source", "kcpd_nbhd", "--category", "persons", "--place", "Nowhere"], "no place 'Nowhere'"),
    (["emerging", "--source", "nope", "--category", "persons"], "unknown source 'nope'"),
    (["watchlist", "--source", "kcpd_nbhd", "--category", "persons", "--month", "2026-13"], "not a month"),
    (["watchlist", "--source", "gva", "--category", "shooting"], "no neighborhood can be tested"),
    (["watchlist", "--source", "kcpd_nbhd", "--category", "persons", "--month", "2099-01"],
     "month 2099-01-01 is outside the accepted dates"),  # not its training window's start, 2096-01-01
    (["backtest", "--source", "kcpd_nbhd", "--category", "persons", "--first", "20x7"], "not a year"),
    (["backtest", "--source", "kcpd_nbhd", "--category", "persons", "--first", "2025", "--last", "2017"],
     "is after last year"),
])
def test_a_bad_value_is_one_line_and_exit_2(built_db, args, message):
    out = analytics_cli(*args)
    assert out.returncode == 2 and out.stdout == ""
    assert message in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_emerging_cli_gives_the_page_numbers(built_db, con):
    out = analytics_cli("emerging", "--source", "kcpd_nbhd", "--category", "persons", "--slice", "quarter", "--place",
               "Lykins", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    lib = emerging.emerging(con, NBHD, "quarter")
    assert (data["start"], data["end"], data["slices"]) == ("2015-01-01", "2026-06-30", lib["slices"])
    assert {r["place"]: r["category"] for r in data["table"]} == dict(zip(lib["table"]["place"],
                                                                          lib["table"]["category"], strict=True))
    assert [s["z"] for s in data["series"]] == pytest.approx(lib["z"].loc["Lykins"].tolist())


def test_readme_defines_every_category_with_its_thresholds():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### Emerging hot spots"):]
    for name in emerging.CATEGORIES:
        assert name.split(" ")[0] in section.lower()
    for figure in ("90%", "95%", f"{emerging.MIN_EVENTS_PER_SLICE} placed events", f"{emerging.MIN_SLICES} slices"):
        assert figure in section, figure
    assert Path(ROOT / "docs/backtest.md").exists()


@pytest.mark.parametrize("hostile", ["'; DROP TABLE incidents; --", "<script>alert(1)</script>", "\x00\x1b[2J"])
def test_hostile_link_values_are_named_and_ignored(built_db, hostile):
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=300)
    at.switch_page("views/emerging.py")
    for name in ("source", "category", "slice", "unit", "start", "end", "permutations"):
        at.query_params[name] = hostile
    at.run()
    check(at)
    warned = " ".join(w.value for w in at.warning)
    for name in ("source", "category", "slice", "unit", "start", "end", "permutations"):
        assert f"ignored {name}=" in warned
    assert {m.label: m.value for m in at.metric}["Places analysed"] == "240"  # the defaults ran


def test_hexagons_for_a_source_without_points_are_refused_with_the_reason(built_db):
    """KCPD's neighborhood counts have no incident points: a link asking for hexagons says so, not "not a known
    value", and the page runs on neighborhoods."""
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=300)
    at.switch_page("views/emerging.py")
    at.query_params["source"], at.query_params["unit"] = "kcpd_nbhd", "hex"
    at.run()
    check(at)
    warned = " ".join(w.value for w in at.warning)
    assert "ignored unit='hex': this source has counts by neighborhood, not incident locations" in warned
    assert "not one of the known values" not in warned
    assert at.sidebar.radio(key="e_unit_kcpd_nbhd").value == "neighborhood"


def test_the_gi_star_inference_is_kept_in_the_link(built_db):
    """A shared link reproduces the result: the p-value choice (it changes which places are hot) is in the link,
    both ways."""
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=300)
    at.switch_page("views/emerging.py")
    at.query_params["permutations"] = "99"
    at.run()
    check(at)
    assert at.sidebar.selectbox(key="e_permutations").value == 99
    assert at.query_params["permutations"] in (["99"], "99")
    at.sidebar.selectbox(key="e_permutations").set_value(0).run()
    assert at.query_params["permutations"] in (["0"], "0")


def test_the_watch_list_follows_the_chosen_period(built_db, con):
    """A period ending 2018-12-31 shows the watch list of that period's last complete month (2018-12 stops on the
    30th in the coverage notes, so 2018-11), named in its heading, and the ranking's column reads the same month."""
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=300)
    at.switch_page("views/emerging.py")
    for name, value in {"source": "kcpd_nbhd", "category": "persons", "start": "2016-01-01",
                        "end": "2018-12-31"}.items():
        at.query_params[name] = value
    at.run()
    check(at)
    watch = warning.watchlist(con, "kcpd_nbhd", "persons", by=date(2018, 12, 31))
    assert watch["target"] == "2018-11"
    assert any(h.value.startswith("Early warning: 2018-11") for h in at.subheader)
    shown = [m.value for m in at.markdown]
    assert any(m.startswith(f"**2018-11**: {_count_words(watch)}") for m in shown)
    assert any("Early warning: 2018-11." in c.value for c in at.caption)


def test_a_gva_briefing_carries_gva_caveats_no_percent_from_tiny_counts_and_a_plain_title(con):
    """GVA shootings by quarter on hexagons: no KCPD caveat, a change % next to 'too few to tell' is 'too few'
    (GVA shootings per neighborhood are single digits a year), and the title needs no verb to agree with the label."""
    f = Filter("gva", "shooting", date(2014, 4, 1), date(2018, 3, 31))
    text = briefing.build(con, f, "quarter", "hex")
    assert "2019-2021" not in text and "KCPD" not in text.split("<h2>Caveats</h2>")[1].split("<b>source</b>")[0]
    assert "Gun Violence Archive incidents by incident date" in text
    assert "<h1>Where is it heating up? Shootings, 2014-04-01 to 2018-03-31</h1>" in text
    ranking = backtest.ranking(con, f, "quarter")
    rows = briefing.ranking_rows(ranking)
    few = rows[rows["change larger than chance?"] == "too few to tell"]
    assert not few.empty and (few["change % on the 12 months before"] == "too few").all()
    # a percent from under 10 before is "too few" too, whatever the e-test says; from 10 or more it is a number
    base = ranking["previous"].head(len(rows)).to_numpy()
    tested = rows["change larger than chance?"].isin(["up", "down", "no clear change"]).to_numpy()
    shown = rows["change % on the 12 months before"]
    assert (shown[tested & (base < 10)] == "too few").all()
    assert shown[tested & (base >= 10)].str.fullmatch(r"[+-]?\d+\.\d%").all()


def test_the_hexagon_map_opens_on_every_cell(built_db, con):
    """The first view of the GVA hexagon map holds every analysed cell (their corners from h3, in the test), the
    northern edge cells included: Web Mercator spans at the view's zoom against the cells' box."""
    import math

    import h3

    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=300)
    at.switch_page("views/emerging.py")
    for name, value in {"source": "gva", "category": "shooting", "slice": "quarter", "unit": "hex"}.items():
        at.query_params[name] = value
    at.run()
    check(at)
    start, end = emerging.default_range(con, "gva", "shooting", "quarter")
    cells = emerging.emerging(con, Filter("gva", "shooting", start, end), "quarter", "hex")["table"]["place"]
    corners = [pt for c in cells for pt in h3.cell_to_boundary(c)]
    lats, lons = [p[0] for p in corners], [p[1] for p in corners]
    view = json.loads(at.get("deck_gl_json_chart")[0].proto.json)["initialViewState"]

    def merc(lat: float) -> float:
        return math.log(math.tan(math.pi / 4 + math.radians(lat) / 2))

    half_height = 520 / 2 * 2 * math.pi / (256 * 2 ** view["zoom"])
    centre = merc(view["latitude"])
    assert centre - half_height <= merc(min(lats)) and merc(max(lats)) <= centre + half_height
    half_width = 700 / 2 * 360 / (256 * 2 ** view["zoom"])
    assert view["longitude"] - half_width <= min(lons) and max(lons) <= view["longitude"] + half_width


@pytest.mark.parametrize(("flagged", "outside", "expected"), [
    (0, 5, "None of the 190 neighborhoods tested is flagged (trained on 2023-06..2026-05; 5% false-discovery rate). "
           "5 are outside their usual 95% range but within what chance gives across 190 (about 10 would be by "
           "chance alone)."),
    (1, 1, "1 of the 190 neighborhoods tested is flagged beyond its expected range (trained on 2023-06..2026-05; 5% "
           "false-discovery rate). 1 is outside its usual 95% range but within what chance gives across 190 (about "
           "10 would be by chance alone)."),
    (3, 0, "3 of the 190 neighborhoods tested are flagged beyond their expected range (trained on 2023-06..2026-05; "
           "5% false-discovery rate)."),
])
def test_the_watch_list_reads_as_a_plain_sentence(flagged, outside, expected):
    watch = {"flagged": flagged, "tested": 190, "outside_not_flagged": outside, "training": "2023-06..2026-05",
             "fdr": 0.05, "interval": 0.95}
    assert briefing.watch_sentence(watch) == expected


def test_the_z_chart_title_gives_p_with_an_equals_sign(con):
    result = emerging.emerging(con, NBHD, "quarter")
    table = result["table"]
    row = table[table["trend_p"] >= 0.001].iloc[0]
    title = briefing.z_chart(result, row["place"]).layout.title.text
    assert f"p = {row['trend_p']:.3f})" in title
