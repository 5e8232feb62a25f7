"""Helpers to drive the real app in Debian's Chromium (never a downloaded browser)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from kcvt.settings import ROOT

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(port: int, log: Path, env: dict | None = None, secrets: Path | None = None) -> subprocess.Popen:
    """`streamlit run dashboard.py` on a free port, logging to a file; returns once /_stcore/health answers."""
    cmd = [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard.py"), "--server.port", str(port),
           "--server.headless", "true", "--browser.gatherUsageStats", "false", "--server.address", "127.0.0.1"]
    if secrets:
        cmd += ["--secrets.files", str(secrets)]
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


def metric(page, label: str) -> str:
    """The value of the st.metric with this label."""
    box = page.locator("[data-testid='stMetric']", has_text=label).first
    return box.locator("[data-testid='stMetricValue']").inner_text().strip()


def load_test(url: str, paths: list[str], sessions: int = 20, seconds: float = 60.0) -> dict:
    """`sessions` tabs of one Chromium (each its own Streamlit session) open pages with changing filters for a
    bounded time. Returns per-action latencies (navigation until the app is idle), page errors and timeouts."""
    import asyncio

    from playwright.async_api import async_playwright

    latencies: list[float] = []
    errors: list[str] = []
    timeouts = 0

    async def session(browser, i: int, deadline: float) -> None:
        nonlocal timeouts
        page = await browser.new_page()
        k = 0
        loop = asyncio.get_running_loop()
        while loop.time() < deadline:
            t = loop.time()
            try:
                await page.goto(url + paths[(i + k) % len(paths)].replace("YEAR", str(2014 + (i + k) % 4)),
                                timeout=180_000)
                await page.wait_for_selector("[data-testid='stApp']", timeout=180_000)
                await page.wait_for_timeout(300)
                await page.wait_for_function("!document.querySelector('[data-testid=\"stStatusWidget\"]')",
                                             timeout=180_000)
                boxes = page.locator("[data-testid='stException'], [data-testid='stAlertContentError']")
                errors.extend([(await boxes.nth(j).inner_text())[:200] for j in range(await boxes.count())])
                latencies.append(loop.time() - t)
            except Exception:  # noqa: BLE001 (a timeout under load is a result, not a crash)
                timeouts += 1
            k += 1
        await page.close()

    async def main() -> None:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            deadline = asyncio.get_running_loop().time() + seconds
            await asyncio.gather(*(session(browser, i, deadline) for i in range(sessions)))
            await browser.close()

    asyncio.run(main())
    ordered = sorted(latencies)
    return {"sessions": sessions, "seconds": seconds, "actions": len(ordered), "timeouts": timeouts,
            "p50_s": round(ordered[len(ordered) // 2], 2) if ordered else None,
            "p95_s": round(ordered[int(0.95 * (len(ordered) - 1))], 2) if ordered else None, "errors": errors}
