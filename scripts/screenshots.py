"""Take the README's screenshots in Debian's Chromium (never a downloaded browser).

    python scripts/screenshots.py [--out docs/screenshots]

Starts the app (`python -m app.serve`) on a free port against the current database, waits
for it to answer and finish running, and saves one PNG per page.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from bench.browser import OBSERVER, wait_idle  # noqa: E402
from tests.browser import ARGS, CHROMIUM, free_port, start_app  # noqa: E402

PAGES = {
    "home": "/",
    "home_gva": "/?source=gva&category=shooting&category=homicide",
    "hotspots": "/hotspots?source=gva&category=shooting&start=2014-01-01&end=2018-03-31&layer=hex",
    "emerging": "/emerging",
    "neighborhood": "/neighborhood?area=Ruskin+Heights",
    "outreach": "/outreach",
    "programs": "/programs",
    "data": "/data",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs/screenshots")
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    proc = start_app(port, out / "streamlit.log")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.add_init_script(OBSERVER)  # the benchmark's idle: the run over, every chart and map drawn
            for name, path in PAGES.items():
                page.goto(f"http://127.0.0.1:{port}{path}")
                wait_idle(page, 0)
                page.screenshot(path=str(out / f"{name}.png"), full_page=False)
                print(f"saved {out / f'{name}.png'}")
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        (out / "streamlit.log").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
