"""Every page in a real browser (Debian's Chromium through Playwright): it loads, renders its chart or map, and shows
no error. Catches what AppTest cannot see, such as deck.gl rejecting a layer."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pandas as pd
import pytest

from tests.browser import ARGS, CHROMIUM, free_port, page_errors, start_app, wait_until_done

ARTIFACTS = Path(__file__).parent / "_artifacts" / "screenshots"
PAGES = {
    "home": ("/?source=gva&category=shooting", ".js-plotly-plot"),
    "hotspots": ("/hotspots?source=gva&category=shooting&start=2016-01-01&end=2016-12-31", "canvas"),
    "neighborhood": ("/neighborhood?area=Lykins&source=kcpd_nbhd&category=persons", ".js-plotly-plot"),
    "outreach": ("/outreach", "canvas"),
    "data": ("/data", ".js-plotly-plot"),
}

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        raise RuntimeError(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium before the tests")
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def app_url(built_db, tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser")
    port = free_port()
    env = {"KC_VIOLENCE_DB": str(built_db), "KC_VIOLENCE_REGISTRY": str(folder / "events.csv"),
           "KC_VIOLENCE_WATCH": str(folder / "watch.csv")}
    proc = start_app(port, folder / "streamlit.log", env)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.mark.parametrize("name", list(PAGES))
def test_page_renders_in_chromium(app_url, browser, name):
    path, selector = PAGES[name]
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(app_url + path)
        wait_until_done(page)
        page.wait_for_selector(selector, timeout=60_000)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
        assert page_errors(page) == []
    finally:
        page.close()


@pytest.fixture(scope="module")
def editable_app(built_db, tmp_path_factory):
    """The app with registry editing turned on by a password in a secrets file (as a deployment would)."""
    folder = tmp_path_factory.mktemp("browser_edit")
    secrets = folder / "secrets.toml"
    secrets.write_text('[editing]\npassword = "correct horse"\n')
    port = free_port()
    env = {"KC_VIOLENCE_DB": str(built_db), "KC_VIOLENCE_REGISTRY": str(folder / "events.csv"),
           "KC_VIOLENCE_WATCH": str(folder / "watch.csv")}
    proc = start_app(port, folder / "streamlit.log", env, secrets=secrets)
    yield f"http://127.0.0.1:{port}", folder / "events.csv"
    proc.terminate()
    proc.wait(timeout=20)


def test_filter_change_shared_url_and_download(app_url, browser, con, tmp_path):
    from datetime import date

    from analytics import queries
    from tests.browser import metric

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(app_url + "/?source=gva&category=shooting&start=2016-01-01&end=2016-12-31")
    wait_until_done(page)
    assert metric(page, "Shootings") == "246"
    page.locator("[data-testid='stSelectbox']", has_text="Area").click()
    page.keyboard.type("Lykins")
    page.keyboard.press("Enter")
    wait_until_done(page)
    half = queries.total(con, queries.Filter("gva", "shooting", date(2016, 1, 1), date(2016, 12, 31), "Lykins"))["n"]
    page.wait_for_function("location.search.includes('area=Lykins')", timeout=30_000)
    assert metric(page, "Shootings") == f"{half:,}"
    shared = browser.new_page(viewport={"width": 1400, "height": 1000})
    shared.goto(page.url)  # somebody opens the link
    wait_until_done(shared)
    assert metric(shared, "Shootings") == f"{half:,}"
    with page.expect_download() as info:
        page.get_by_role("button", name="Download these monthly counts (CSV)").click()
    frame = pd.read_csv(info.value.path())
    assert frame["month"].tolist() == [f"2016-{m:02d}" for m in range(1, 13)] and frame["Shootings"].sum() == half
    assert page_errors(page) == [] and page_errors(shared) == []
    page.close()
    shared.close()


def test_add_and_remove_a_canvass_event_with_editing_enabled(editable_app, browser):
    url, registry_csv = editable_app
    page = browser.new_page(viewport={"width": 1400, "height": 1400})
    page.goto(url + "/outreach")
    wait_until_done(page)
    page.get_by_role("tab", name="Canvass registry").click()
    page.get_by_label("Password to edit").fill("correct horse")
    page.get_by_label("Password to edit").press("Enter")
    wait_until_done(page)
    page.get_by_role("tab", name="Canvass registry").click()
    page.get_by_text("Add or edit an event").click()
    page.get_by_label("Event id (lower case, digits, dashes)").fill("browser-test-walk")
    page.get_by_label("Name", exact=True).fill("Browser test walk in Lykins")
    page.get_by_label("Date (YYYY-MM-DD; blank if not published)").fill("2016-05-04")
    page.locator("[data-testid='stMultiSelect']", has_text="Neighborhoods (neighborhood footprint)").locator(
        "input").fill("Lykins")
    page.keyboard.press("Enter")
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Save event").click()
    wait_until_done(page)
    page.screenshot(path=str(ARTIFACTS / "outreach_after_save.png"), full_page=True)
    assert "browser-test-walk" in registry_csv.read_text(), page.locator("[data-testid='stAlert']").all_inner_texts()
    page.get_by_role("tab", name="Canvass registry").click()
    page.get_by_label("Delete an event").click()
    page.get_by_role("option", name="browser-test-walk").click()
    wait_until_done(page)
    page.get_by_role("button", name="Delete browser-test-walk").click()
    wait_until_done(page)
    assert "browser-test-walk" not in registry_csv.read_text()
    assert page_errors(page) == []
    page.close()


def test_twenty_concurrent_sessions_keep_working(app_url):
    """A bounded load test: 20 sessions drive filters for 45 s; every completed action shows no error."""
    from tests.browser import load_test

    paths = ["/?source=gva&category=shooting&start=YEAR-01-01&end=YEAR-12-31",
             "/hotspots?source=gva&category=shooting&start=YEAR-01-01&end=YEAR-12-31"]
    box: dict = {}  # run outside this thread's event loop (the sync Playwright fixture owns one)
    worker = threading.Thread(target=lambda: box.update(load_test(app_url, paths, sessions=20, seconds=45)))
    worker.start()
    worker.join()
    result = box
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS.parent / "load_test.json").write_text(__import__("json").dumps(result, indent=2))
    assert result["actions"] >= 20 and result["errors"] == []  # latency is recorded, never asserted


def _choose(page, label: str, option: str) -> None:
    """Pick an option in the st.selectbox with this label, as a person would (click, type, Enter)."""
    page.locator("[data-testid='stSelectbox']", has_text=label).first.click()
    page.keyboard.type(option)
    page.keyboard.press("Enter")
    wait_until_done(page)


@pytest.mark.parametrize("name, start, label, option, url_has, check", [
    ("hotspots", "/hotspots?source=gva&category=shooting&start=2016-01-01&end=2016-12-31", "Category", "Homicides",
     "category=homicide", "Incidents placed in neighborhoods"),
    ("neighborhood", "/neighborhood?area=Lykins&source=kcpd_nbhd&category=persons", "Neighborhood",
     "Ruskin Heights", "area=Ruskin", "title"),
    ("outreach", "/outreach", "Canvass", "Door-to-door walk", "", "Footprint:"),
])
def test_each_page_follows_a_filter_change_and_its_shared_url(app_url, browser, name, start, label, option, url_has,
                                                              check):
    from tests.browser import metric

    def state(p):
        if check == "title":
            return p.locator("h1").first.inner_text()
        if check.endswith(":"):
            return p.get_by_text(check).first.locator("xpath=..").inner_text()[:200]
        return metric(p, check)

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(app_url + start)
    wait_until_done(page)
    before = state(page)
    _choose(page, label, option)
    if url_has:
        page.wait_for_function(f"location.search.includes('{url_has}')", timeout=30_000)
    after = state(page)
    assert after != before
    shared = browser.new_page(viewport={"width": 1400, "height": 1000})
    shared.goto(page.url)
    wait_until_done(shared)
    if url_has:
        assert state(shared) == after
    assert page_errors(page) == [] and page_errors(shared) == []
    page.close()
    shared.close()


def test_hotspot_ranking_and_data_page_downloads(app_url, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(app_url + "/hotspots?source=gva&category=shooting&start=2016-01-01&end=2016-12-31")
    wait_until_done(page)
    with page.expect_download() as info:
        page.get_by_role("button", name="Download the ranking (CSV)").click()
    ranking = pd.read_csv(info.value.path())
    assert len(ranking) == 246 and ranking["n"].sum() > 200  # every neighborhood, with 2016's placed shootings
    page.goto(app_url + "/data")
    wait_until_done(page)
    with page.expect_download() as info:
        page.get_by_role("button", name="Download rejected rows (CSV)").click()
    rejects = pd.read_csv(info.value.path())
    assert len(rejects) == 500 and set(rejects["reason"]) == {"exact duplicate of an earlier row"}
    page.close()


def test_clicking_a_neighborhood_on_the_map_opens_its_profile(app_url, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.goto(app_url + "/hotspots?source=gva&category=shooting&start=2016-01-01&end=2016-12-31")
    wait_until_done(page)
    box = page.locator("[data-testid='stDeckGlJsonChart'] canvas").first.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.45)  # mid-city
    page.wait_for_url("**/neighborhood?area=*", timeout=60_000)
    wait_until_done(page)
    area = page.url.split("area=")[1].split("&")[0].replace("+", " ")
    assert page.locator("h1").first.inner_text() == area
    assert page_errors(page) == []
    page.close()
