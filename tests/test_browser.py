"""Every page in a real browser (Debian's Chromium through Playwright): it loads, renders its chart or map, and shows
no error. Catches what AppTest cannot see, such as deck.gl rejecting a layer."""

from __future__ import annotations

import os
from pathlib import Path

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
