"""Helpers to drive the real app in Debian's Chromium (never a downloaded browser).

Every wait here is for a condition the app reports: /_stcore/health answering, the server's "script finished"
message on the page's websocket, and Streamlit's own idle marker on the page (`data-test-script-state`).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from kcvt.settings import ROOT

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
START_S = 120  # a cold `streamlit run` on a busy 2-core machine
RUN_MS = 180_000  # one script run, including the database queries of the heaviest page

# Idle: the app has finished a run (the marker is "initial" until the first run starts) and shows nothing left over
# from an interrupted one (st.rerun and st.switch_page finish a run early; its elements stay marked stale).
IDLE_JS = """() => {
  const app = document.querySelector("[data-testid='stApp']");
  return !!app && app.getAttribute('data-test-script-state') === 'notRunning'
    && !document.querySelector("[data-stale='true']");
}"""
ERROR_BOXES = "[data-testid='stException'], [data-testid='stAlertContentError']"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as r:  # noqa: S310
            return r.status == 200
    except OSError:
        return False


def start_app(port: int, log: Path, env: dict | None = None, secrets: Path | None = None) -> subprocess.Popen:
    """The app's server (`python -m app.serve`, as `make run`) on a free port, logging to a file; returns once
    /_stcore/health answers."""
    cmd = [sys.executable, "-m", "app.serve", "--server.port", str(port),
           "--server.headless", "true", "--browser.gatherUsageStats", "false", "--server.address", "127.0.0.1",
           "--server.fileWatcherType", "none"]
    if secrets:
        cmd += ["--secrets.files", str(secrets)]
    with log.open("w") as out:  # the server keeps its own handle
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
    deadline = time.monotonic() + START_S
    while time.monotonic() < deadline and proc.poll() is None:
        if _healthy(port):
            return proc
        time.sleep(0.2)  # poll interval of the health check, not a wait for time to pass
    proc.kill()
    proc.wait()
    raise RuntimeError(f"streamlit did not answer /_stcore/health within {START_S} s; see {log}")


def stop_app(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclass(frozen=True)
class Served:
    """A running app: its address, the canvass registry and watch-area files it writes, and its log."""

    url: str
    registry: Path
    watch: Path
    log: Path


@contextmanager
def served_app(folder: Path, db: Path, password: str | None = None) -> Iterator[Served]:
    """The app on the given database, with its own registry, watch areas and user folder under `folder`. A
    `password` turns registry editing on through a secrets file, as a deployment would."""
    secrets = None
    if password:
        secrets = folder / "secrets.toml"
        secrets.write_text(f'[editing]\npassword = "{password}"\n')
    port = free_port()
    served = Served(f"http://127.0.0.1:{port}", folder / "events.csv", folder / "watch.csv", folder / "streamlit.log")
    env = {"KC_VIOLENCE_DB": str(db), "KC_VIOLENCE_REGISTRY": str(served.registry),
           "KC_VIOLENCE_WATCH": str(served.watch), "KC_VIOLENCE_USER_DIR": str(folder / "user")}
    proc = start_app(port, served.log, env, secrets=secrets)
    try:
        yield served
    finally:
        stop_app(proc)


def _is_stream(ws) -> bool:
    return ws.url.endswith("/_stcore/stream")


class _Runs:
    """What passes on one page's websocket to the app: the reruns the page asks for (`requested`) and the script
    runs the server reports finished (`finished`). A run can start and end between two looks at the page, but its
    messages are always on the wire."""

    def __init__(self, page) -> None:
        self.page = page
        self.requested = 0
        self.finished = 0
        self.socket = None
        page.on("websocket", self._watch)

    def _watch(self, ws) -> None:
        if _is_stream(ws):
            self.socket = ws
            ws.on("framesent", self._sent)
            ws.on("framereceived", self._received)

    def _sent(self, payload) -> None:
        from streamlit.proto.BackMsg_pb2 import BackMsg

        if isinstance(payload, bytes) and BackMsg.FromString(payload).WhichOneof("type") == "rerun_script":
            self.requested += 1

    def _received(self, payload) -> None:
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

        if not isinstance(payload, bytes):
            return
        msg = ForwardMsg.FromString(payload)
        if msg.WhichOneof("type") == "script_finished" and msg.script_finished in (
                ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY):
            self.finished += 1

    def wait_for(self, count: int, timeout_ms: int, counter: str = "finished") -> None:
        """Block until `counter` reaches `count`. Each wait below returns on an event (a frame, a new socket), never
        after a delay; a TimeoutError names what did not happen."""
        from playwright.sync_api import Error
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        deadline = time.monotonic() + timeout_ms / 1000
        event = "framereceived" if counter == "finished" else "framesent"
        while getattr(self, counter) < count:
            left = (deadline - time.monotonic()) * 1000
            try:
                if left <= 0:
                    raise PlaywrightTimeout("deadline passed")
                if self.socket is None or self.socket.is_closed():  # not connected yet, or reconnecting
                    self.page.wait_for_event("websocket", timeout=left)
                else:
                    self.socket.wait_for_event(event, predicate=lambda _frame: getattr(self, counter) >= count,
                                               timeout=left)
            except PlaywrightTimeout as exc:
                raise TimeoutError(f"{counter} runs: {getattr(self, counter)}, not {count}, "
                                   f"after {timeout_ms} ms") from exc
            except Error:
                if self.socket is None or not self.socket.is_closed():
                    raise  # a closed socket is a reconnect: wait on the next one


_RUNS: dict = {}  # page -> _Runs, until the page closes


def new_page(browser, width: int = 1400, height: int = 1000):
    """A page in its own browser context (its own Streamlit session) that counts its rerun requests and finished
    script runs."""
    page = browser.new_page(viewport={"width": width, "height": height})
    _RUNS[page] = _Runs(page)
    page.on("close", lambda closed: _RUNS.pop(closed, None))
    return page


def open_app(page, url: str) -> None:
    """Navigate and wait until the page's first script run has finished and rendered."""
    runs = _RUNS[page]
    before = runs.finished
    with page.expect_websocket(_is_stream, timeout=RUN_MS):  # the new document's socket, not the last one's
        page.goto(url)
    runs.wait_for(before + 1, RUN_MS)
    wait_until_done(page)


@contextmanager
def rerun(page) -> Iterator[None]:
    """Wrap a widget action that makes the app rerun: waits until that rerun has finished and rendered."""
    runs = _RUNS[page]
    before = runs.finished
    yield
    runs.wait_for(before + 1, RUN_MS)
    wait_until_done(page)


def runs_of(page) -> _Runs:
    """The rerun requests and finished runs counted for a page opened with `new_page`."""
    return _RUNS[page]


def wait_until_done(page, settle_ms: int = 0) -> None:
    """Wait until the app is idle: after a navigation, that is after its first run. (After a widget action use
    `rerun`, which knows a new run happened.) `settle_ms` is an extra pause for callers that measure, such as the
    benchmark; tests never pass one."""
    page.wait_for_function(IDLE_JS, timeout=RUN_MS)
    if settle_ms:
        page.wait_for_timeout(settle_ms)


def page_errors(page) -> list[str]:
    """Texts of exceptions and error boxes on the page (deck.gl and Python errors both land here)."""
    boxes = page.locator(ERROR_BOXES)
    return [boxes.nth(i).inner_text()[:300] for i in range(boxes.count())]


def metric(page, label: str) -> str:
    """The value of the st.metric with this label."""
    box = page.locator("[data-testid='stMetric']", has_text=label).first
    return box.locator("[data-testid='stMetricValue']").inner_text().strip()


def load_test(url: str, paths: list[str], sessions: int = 20, seconds: float = 20.0) -> dict:
    """`sessions` Streamlit sessions open pages with changing filters for a bounded time: one Chromium tab and
    `sessions - 1` light clients (app.light_client: the app's own websocket protocol, each its own session; the
    server does all of a browser session's work but the drawing, issue 18). Every action started before the end is
    waited for. Returns the actions of each session, the latencies (Chromium: navigation until the app is idle;
    light clients: until the run finishes), what the pages showed in error boxes, and timeouts.
    Runs on a thread of its own, so it works beside a sync Playwright that owns this thread's event loop."""
    import asyncio

    from playwright.async_api import async_playwright

    from app.light_client import LightSession
    from app.light_client import errors as light_errors

    latencies: dict[str, list[float]] = {"browser": [], "light": []}
    actions = [0] * sessions
    errors: list[str] = []
    timeouts = 0

    def path(i: int, k: int) -> str:
        return paths[(i + k) % len(paths)].replace("YEAR", str(2014 + (i + k) % 4))

    async def browser_session(deadline: float) -> None:
        nonlocal timeouts
        loop = asyncio.get_running_loop()
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = await browser.new_page()
            k = 0
            while loop.time() < deadline:
                t = loop.time()
                try:
                    await page.goto(url + path(0, k), timeout=RUN_MS)
                    await page.wait_for_function(IDLE_JS, timeout=RUN_MS)
                    boxes = page.locator(ERROR_BOXES)
                    errors.extend([(await boxes.nth(j).inner_text())[:200] for j in range(await boxes.count())])
                    latencies["browser"].append(loop.time() - t)
                    actions[0] += 1
                except Exception:  # noqa: BLE001 (a timeout under load is a result, not a crash)
                    timeouts += 1
                k += 1
            await browser.close()

    async def light_session(i: int, deadline: float) -> None:
        nonlocal timeouts
        loop = asyncio.get_running_loop()
        async with LightSession(url) as session:
            k = 0
            while loop.time() < deadline:
                try:
                    seconds_taken, _ = await session.run(path(i, k), timeout=RUN_MS / 1000)
                    errors.extend(light_errors(session.frames))
                    latencies["light"].append(seconds_taken)
                    actions[i] += 1
                except TimeoutError:
                    timeouts += 1
                k += 1

    async def main() -> None:
        deadline = asyncio.get_running_loop().time() + seconds
        await asyncio.gather(browser_session(deadline), *(light_session(i, deadline) for i in range(1, sessions)))

    in_thread(main)
    return {"sessions": sessions, "seconds": seconds, "actions": sum(actions), "actions_per_session": actions,
            "timeouts": timeouts, "browser": _spread(latencies["browser"]), "light": _spread(latencies["light"]),
            "errors": errors}


def _spread(values: list[float]) -> dict:
    ordered = sorted(values)
    return {"p50_s": round(ordered[len(ordered) // 2], 2) if ordered else None,
            "p95_s": round(ordered[int(0.95 * (len(ordered) - 1))], 2) if ordered else None}


def in_thread(main):
    """Run the coroutine function `main` to its end on a thread of its own (a sync Playwright keeps an event loop on
    the caller's), returning its result or raising its error here."""
    import asyncio

    box: dict = {}

    def worker() -> None:
        try:
            box["out"] = asyncio.run(main())
        except BaseException as exc:  # noqa: BLE001 (re-raised on the caller's thread)
            box["error"] = exc

    thread = threading.Thread(target=worker, name="asyncio")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box.get("out")
