"""Helpers to drive the real app in Debian's Chromium (never a downloaded browser)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from analytics.settings import ROOT

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(port: int, log: Path, env: dict | None = None) -> subprocess.Popen:
    """`streamlit run dashboard.py` on a free port, logging to a file; returns once /_stcore/health answers."""
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard.py"), "--server.port", str(port),
           "--server.headless", "true", "--browser.gatherUsageStats", "false", "--server.address", "127.0.0.1"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            env={**os.environ, **(env or {})})
    for _ in range(240):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as r:  # noqa: S310
                if r.status == 200:
                    return proc
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError(f"streamlit did not start; see {log}")


def wait_until_done(page, settle_ms: int = 1500) -> None:
    """Wait for the app to render and for Streamlit's running indicator to go."""
    page.wait_for_selector("[data-testid='stApp']", timeout=60_000)
    page.wait_for_timeout(settle_ms)
    page.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=180_000)
    page.wait_for_timeout(settle_ms)


def page_errors(page) -> list[str]:
    """Texts of exceptions and error boxes on the page (deck.gl and Python errors both land here)."""
    boxes = page.locator("[data-testid='stException'], [data-testid='stAlertContentError']")
    return [boxes.nth(i).inner_text()[:300] for i in range(boxes.count())]
