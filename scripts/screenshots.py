"""Take the README's screenshots in Debian's Chromium (never a downloaded browser).

    python scripts/screenshots.py [--out docs/screenshots]

Starts `streamlit run dashboard.py` on a free port against the current database, waits
for it to answer and finish running, and saves one PNG per page.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PAGES = {
    "home": "/",
    "home_gva": "/?source=gva&category=shooting&category=homicide",
    "hotspots": "/hotspots?source=gva&category=shooting&start=2014-01-01&end=2018-03-31&layer=hex",
    "outreach": "/outreach",
    "data": "/data",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(port: int, log: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard.py"), "--server.port", str(port),
           "--server.headless", "true", "--browser.gatherUsageStats", "false", "--server.address", "127.0.0.1"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT)
    for _ in range(120):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as r:  # noqa: S310
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError(f"streamlit did not start; see {log}")


def wait_until_done(page) -> None:
    """Streamlit shows a running indicator while the script runs; wait for it to go."""
    page.wait_for_selector("[data-testid='stApp']", timeout=60_000)
    page.wait_for_timeout(1500)
    page.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=120_000)
    page.wait_for_timeout(1500)


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
            for name, path in PAGES.items():
                page.goto(f"http://127.0.0.1:{port}{path}")
                wait_until_done(page)
                page.screenshot(path=str(out / f"{name}.png"), full_page=False)
                print(f"saved {out / f'{name}.png'}")
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        (out / "streamlit.log").unlink(missing_ok=True)


if __name__ == "__main__":
    main()
