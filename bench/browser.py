"""Browser benchmark: the app in Debian's Chromium through Playwright, on the bundled data.

    python -m bench --browser [--trials 10] [--load-seconds 60]

Figures (p50 and p95 over the trials), each measured to *idle*: the server has sent the end of a script run since
the action (`OBSERVER`), the app's script-run state is "not running", no running indicator, every plotly chart drawn
(its main svg), every deck.gl map with its canvas, and then two painted frames (the main thread free: deck.gl draws
after its canvas exists).

- first visit to each page in an open session (a click on the sidebar link);
- a filter change on each page that has one (the "From" date, one month later each trial);
- the first page of a fresh server process (the database already built), from `goto` and from spawning the process;
- bytes the browser receives on the websocket per rerun (page.on("websocket") framereceived), worst page;
- one Chromium session's page p95 while 19 light clients (`app.light_client`: websocket sessions, no browser) run
  pages continuously, and the server's peak resident memory (its process tree) meanwhile.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from kcvt.settings import ROOT

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
WORK = ROOT / "bench" / "_work" / "browser"
#: page -> (link path, query string of its first load in the load test)
PAGES = {"home": "", "hotspots": "hotspots", "emerging": "emerging", "neighborhood": "neighborhood",
         "outreach": "outreach", "programs": "programs", "data": "data"}
#: pages with a "From" date in the sidebar (the filter the benchmark changes)
FILTER_PAGES = ["home", "hotspots", "emerging", "neighborhood"]
LOAD_PATHS = ["/?source=gva&category=shooting&start=YEAR-01-01&end=YEAR-12-31",
              "/hotspots?source=gva&category=shooting&start=YEAR-01-01&end=YEAR-12-31",
              "/neighborhood?area=Lykins&source=kcpd_nbhd&category=persons", "/data", "/outreach", "/emerging",
              "/programs"]

#: Records when the server last finished a script run (performance.now()), from the messages themselves: every
#: websocket the page opens is watched, and a ForwardMsg whose `script_finished` (field 6, a varint) says the run or
#: fragment run is over sets `__runs.end` (not FINISHED_EARLY_FOR_RERUN, 2: another run follows). Watching the app's
#: script-state attribute instead lost about one action in 40: a run that started and ended between two React
#: commits never showed "running", so its end was never seen (docs/benchmarks.md, seventh and eighth sessions).
OBSERVER = """
window.__runs = {end: 0, finished: 0};
(() => {
  const varint = (b, i) => {
    let v = 0, s = 0, x;
    do { x = b[i++]; v += (x & 127) * 2 ** s; s += 7; } while (x & 128 && i < b.length);
    return [v, i];
  };
  const finished = b => {  // the top-level fields of a ForwardMsg: script_finished's value, or -1
    let i = 0, key, v;
    while (i < b.length) {
      [key, i] = varint(b, i);
      const field = Math.floor(key / 8), wire = key % 8;
      if (wire === 0) { [v, i] = varint(b, i); if (field === 6) return v; }
      else if (wire === 2) { [v, i] = varint(b, i); i += v; }
      else if (wire === 1) i += 8;
      else if (wire === 5) i += 4;
      else return -1;
    }
    return -1;
  };
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('message', e => {
        if (!(e.data instanceof ArrayBuffer)) return;
        const status = finished(new Uint8Array(e.data));
        if (status === 0 || status === 1 || status === 3) {
          window.__runs.end = performance.now();
          window.__runs.finished += 1;
        }
      });
    }
  };
})();
"""
#: Idle: a run has finished since `t0` (`OBSERVER`), nothing is running, every chart and map is drawn. A deck.gl map
#: counts as drawn once its canvas holds a pixel (copying it to a small 2-D canvas waits for the GPU process to
#: finish drawing, as a reader's screen would): deck.gl creates its WebGL device asynchronously and draws frames
#: after its canvas appears, and in software WebGL that drawing took 1.5-3 s that the next action's time absorbed
#: (docs/benchmarks.md, sixth session). A canvas is checked until its first drawing; later reruns redraw it in
#: the frames `wait_idle` waits for.
IDLE = """t0 => {
  const app = document.querySelector('[data-testid="stApp"]');
  if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  if (window.__runs.end <= t0) return false;  // t0 = 0 after a goto: the first run has ended
  const running = '[data-testid="stStatusWidgetRunningIcon"], [data-testid="stStatusWidgetRunningManIcon"]';
  if (document.querySelector(running)) return false;
  if (document.querySelector('[data-testid="stSkeleton"]')) return false;
  for (const c of document.querySelectorAll('[data-testid="stPlotlyChart"]'))
    if (!c.querySelector('.js-plotly-plot .main-svg')) return false;
  for (const c of document.querySelectorAll('[data-testid="stDeckGlJsonChart"]')) {
    const map = c.querySelector('canvas');
    if (!map || !map.width || !map.height) return false;
    if (map.__drawn) continue;
    const probe = (window.__probe = window.__probe || document.createElement('canvas'));
    probe.width = probe.height = 64;  // setting the size clears it: no pixel left from an earlier look
    const ctx = probe.getContext('2d', {willReadFrequently: true});
    ctx.drawImage(map, 0, 0, 64, 64);
    const px = ctx.getImageData(0, 0, 64, 64).data;
    let drawn = false;
    for (let i = 3; i < px.length && !drawn; i += 4) drawn = px[i] > 0;
    if (!drawn) return false;
    map.__drawn = true;
  }
  return true;
}"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(port: int, env: dict, log: Path) -> subprocess.Popen:
    """The app's server (`python -m app.serve`, as `make run`) on a port, logging to a file; returns once
    /_stcore/health answers."""
    cmd = [sys.executable, "-m", "app.serve", "--server.port", str(port),
           "--server.headless", "true", "--browser.gatherUsageStats", "false", "--server.address", "127.0.0.1"]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log.open("w"), stderr=subprocess.STDOUT, env={**os.environ, **env})
    for _ in range(600):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1) as r:  # noqa: S310
                if r.status == 200:
                    return proc
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"streamlit did not start; see {log}")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def pct(values: list[float], q: float) -> float | None:
    """The q-quantile by nearest rank (q=0.95 of 10 values is the 10th)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.4999) - 1))]


def summary(values: list[float]) -> dict:
    return {"n": len(values), "p50": round(statistics.median(values), 3) if values else None,
            "p95": round(pct(values, 0.95), 3) if values else None, "trials": [round(v, 2) for v in values]}


class Frames:
    """Bytes of websocket frames the page received, counted from `mark()`."""

    def __init__(self, page):
        self.total = 0
        page.on("websocket", lambda ws: ws.on("framereceived", self._add))

    def _add(self, payload) -> None:
        self.total += len(payload)

    def mark(self) -> int:
        return self.total


#: resolves once the page has painted two more frames: the main thread is free again (deck.gl draws, and compiles its
#: shaders, after the elements exist; a figure taken before that hid up to 3 s of a hotspots visit in the next action)
PAINTED = "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(true))))"


def wait_idle(page, t0: float, timeout_ms: int = 60_000) -> None:
    page.wait_for_function(IDLE, arg=t0, timeout=timeout_ms, polling=25)
    page.evaluate(PAINTED)


def _now(page) -> float:
    return page.evaluate("performance.now()")


def to_idle(page, action) -> float:
    """Seconds from an action until the app is idle again (the clock of every browser figure)."""
    t0 = _now(page)
    start = time.perf_counter()
    action()
    wait_idle(page, t0)
    return time.perf_counter() - start


def _timed(page, frames: Frames, action) -> tuple[float, int]:
    """Seconds and websocket bytes from an action until the app is idle again."""
    before = frames.mark()
    seconds = to_idle(page, action)
    return seconds, frames.mark() - before


def shift_from(page) -> None:
    """The sidebar's "From" date, one month later."""
    box = page.locator('[data-testid="stDateInput"]', has_text="From").locator("input").first
    text = box.input_value()
    sep = "-" if "-" in text else "/"
    y, m, d = (int(x) for x in text.split(sep))
    y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    box.click(force=True)
    box.fill(sep.join([f"{y:04d}", f"{m:02d}", f"{min(d, 28):02d}"]))
    page.keyboard.press("Escape")
    page.locator("h1").first.click(force=True)  # the date commits when the field loses focus


def after_warm_up(browser, url: str, log: Path, timeout_s: float = 300) -> None:
    """Open the app's first page once, then wait until the server's warm-up (app.warm: every page's default view, in
    the background, started by the first page run) has written its last line to the server's log: a figure of a
    server in use, not one still warming, whose work would land in the first trial (the first trial was each
    figure's p95 before, docs/benchmarks.md, eighth session)."""
    from app import warm

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.add_init_script(OBSERVER)
    page.goto(url + "/")
    wait_idle(page, 0)
    page.close()
    deadline = time.monotonic() + timeout_s
    while warm.DONE not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)


def session_figures(browser, url: str, trials: int) -> dict:
    """Per page: first visit in an open session (sidebar link) and a filter change, with bytes received."""
    visits = {p: [] for p in PAGES}
    filters = {p: [] for p in FILTER_PAGES}
    sent = {p: [] for p in PAGES}
    timeouts = [0]
    for _ in range(trials):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.add_init_script(OBSERVER)
        frames = Frames(page)
        page.goto(url + "/")
        wait_idle(page, 0)
        for name, path in PAGES.items():
            link = page.locator(f'[data-testid="stSidebarNavLink"][href$="/{path}"]').first
            try:
                if name == "home":  # the session opened on it; visit it again from another page
                    away = page.locator('[data-testid="stSidebarNavLink"]', has_text="Data and sources")
                    _timed(page, frames, lambda: away.evaluate("e => e.click()"))  # noqa: B023
                seconds, nbytes = _timed(page, frames, lambda: link.evaluate("e => e.click()"))  # noqa: B023
                visits[name].append(seconds)
                sent[name].append(nbytes)
                if name in filters:
                    seconds, nbytes = _timed(page, frames, lambda: shift_from(page))  # noqa: B023
                    filters[name].append(seconds)
                    sent[name].append(nbytes)
            except Exception:  # noqa: BLE001 (a lost click or a 60 s wait is counted, not fatal)
                timeouts[0] += 1
        page.close()
    return {"first_visit": {p: summary(v) for p, v in visits.items()},
            "filter_change": {p: summary(v) for p, v in filters.items()},
            "bytes_per_rerun": {p: max(v) for p, v in sent.items() if v}, "session_timeouts": timeouts[0]}


def fresh_server(browser, env: dict, trials: int) -> dict:
    """The first page of a new server process, from spawning it and from `goto`, to idle."""
    spawn, goto = [], []
    for i in range(trials):
        port = free_port()
        t = time.perf_counter()
        proc = start_app(port, env, WORK / f"fresh_{i}.log")
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.add_init_script(OBSERVER)
            g = time.perf_counter()
            page.goto(f"http://127.0.0.1:{port}/")
            wait_idle(page, 0)
            end = time.perf_counter()
            spawn.append(end - t)
            goto.append(end - g)
            page.close()
        finally:
            stop(proc)
    return {"from_goto": summary(goto), "from_spawn": summary(spawn)}


def _tree_rss(pid: int) -> int:
    import psutil

    try:
        root = psutil.Process(pid)
        return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
    except psutil.Error:
        return 0


async def _load(url: str, seconds: float, others: int) -> dict:
    """See under_load. Steady state: the measured page is timed once every light client has run each page once
    (the server's caches are warm, as on a server in use) and its browser has the app's scripts; its very first
    page, before that, is reported apart as `first_page_cold`."""
    import asyncio

    from playwright.async_api import async_playwright

    from app.light_client import LightSession

    loop = asyncio.get_running_loop()
    latencies, errors, light_runs, visits, cold = [], [0], [0], [], {}
    done = asyncio.Event()
    warm = asyncio.Event()

    def path_of(k: int) -> str:
        return LOAD_PATHS[k % len(LOAD_PATHS)].replace("YEAR", str(2014 + k % 4))

    async def background(i: int) -> None:
        try:
            async with LightSession(url) as session:
                k = 0
                while not done.is_set():
                    try:
                        await session.run(path_of(i + k))
                        light_runs[0] += 1
                    except Exception:  # noqa: BLE001 (a failed or timed-out run under load is a result)
                        errors[0] += 1
                    k += 1
                    if light_runs[0] >= others * len(LOAD_PATHS) * 4:  # each client about four rounds: all four years
                        warm.set()
        except Exception:  # noqa: BLE001 (a session that could not connect)
            errors[0] += 1

    async def visit(page, path: str) -> float:
        t = loop.time()
        await page.goto(url + path, timeout=120_000)
        await page.wait_for_function(IDLE, arg=0, timeout=120_000, polling=25)
        await page.evaluate(PAINTED)
        return loop.time() - t

    async def measured() -> None:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = await browser.new_page(viewport={"width": 1400, "height": 1000})
            await page.add_init_script(OBSERVER)
            await asyncio.sleep(2)  # the others have started
            cold["first_page_cold"] = round(await visit(page, path_of(0)), 2)
            try:
                await asyncio.wait_for(warm.wait(), timeout=180)
            except TimeoutError:
                cold["warm_up"] = "not reached in 180 s"
            deadline = loop.time() + seconds
            k = 0
            while loop.time() < deadline:
                path = path_of(k)
                try:
                    latencies.append(await visit(page, path))
                    visits.append((path, round(latencies[-1], 2)))
                except Exception:  # noqa: BLE001
                    errors[0] += 1
                k += 1
            await browser.close()
        done.set()

    await asyncio.gather(measured(), *(background(i) for i in range(others)))
    return {"sessions": others + 1, "seconds": seconds, **summary(latencies), "timeouts": errors[0],
            "light_runs": light_runs[0], "slowest": sorted(visits, key=lambda v: -v[1])[:3], **cold}


def under_load(url: str, pid: int, seconds: float, others: int = 19) -> dict:
    """One measured Chromium session opening pages in turn while `others` light clients (`app.light_client`: the
    app's websocket protocol, no browser) run pages continuously; the server's peak resident memory (its process
    tree) meanwhile."""
    import asyncio

    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _tree_rss(pid))
            time.sleep(0.25)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        out = asyncio.run(_load(url, seconds, others))
    finally:
        done.set()
        thread.join()
    out["peak_rss_mb"] = round(peak[0] / 2**20, 1)
    return out


def app_env(db: Path) -> dict:
    """The app's settings for a benchmark server: this database, and its own registry, watch areas and user files
    under WORK."""
    return {"KC_VIOLENCE_DB": str(db), "KC_VIOLENCE_USER_DIR": str(WORK / "user"),
            "KC_VIOLENCE_REGISTRY": str(WORK / "events.csv"), "KC_VIOLENCE_WATCH": str(WORK / "watch.csv")}


def run(trials: int = 10, load_seconds: float = 60.0, db: Path | None = None) -> dict:
    """All browser figures in one run; the database is built under bench/_work/browser if missing or stale."""
    from playwright.sync_api import sync_playwright

    from kcvt.db import needs_build

    WORK.mkdir(parents=True, exist_ok=True)
    db = db or WORK / "kc.duckdb"
    env = app_env(db)
    if needs_build(db):  # missing, or built by another version of the data model
        subprocess.run([sys.executable, "-m", "etl", "--quiet", "build"], cwd=ROOT, env={**os.environ, **env},
                       check=True)
    out = {"load_before": os.getloadavg(), "timeouts": 0}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        out["fresh_server"] = fresh_server(browser, env, trials)
        (WORK / "results.json").write_text(__import__("json").dumps(out, indent=1))
        port = free_port()
        proc = start_app(port, env, WORK / "app.log")
        try:
            url = f"http://127.0.0.1:{port}"
            after_warm_up(browser, url, WORK / "app.log")
            out.update(session_figures(browser, url, trials))
            browser.close()
            if load_seconds > 0:
                out["load"] = _in_thread(under_load, url, proc.pid, load_seconds)
        finally:
            stop(proc)
    out["load_after"] = os.getloadavg()
    return out


def _in_thread(fn, *args):
    """Run fn in a fresh thread (the sync Playwright API holds an event loop on the calling thread)."""
    box = {}
    t = threading.Thread(target=lambda: box.update(out=fn(*args)))
    t.start()
    t.join()
    return box["out"]


def report(out: dict) -> str:
    """The figures as a markdown table against the targets."""
    rows = []
    fv = out.get("first_visit", {})
    fc = out.get("filter_change", {})
    for name, s in [(n, s) for n, s in fv.items() if s["n"]]:
        rows.append(f"| first visit, {name} | {s['p50']:.2f} s | {s['p95']:.2f} s | ≤ 1.5 s p95 | "
                    f"{'yes' if s['p95'] <= 1.5 else '**no**'} |")
    for name, s in [(n, s) for n, s in fc.items() if s["n"]]:
        rows.append(f"| filter change, {name} | {s['p50']:.2f} s | {s['p95']:.2f} s | ≤ 1.0 s p95 | "
                    f"{'yes' if s['p95'] <= 1.0 else '**no**'} |")
    fs = out.get("fresh_server")
    if fs:
        g, sp = fs["from_goto"], fs["from_spawn"]
        rows.append(f"| first page of a fresh server, from goto | {g['p50']:.2f} s | {g['p95']:.2f} s | ≤ 4 s | "
                    f"{'yes' if g['p95'] <= 4 else '**no**'} |")
        rows.append(f"| same, from spawning `streamlit run` | {sp['p50']:.2f} s | {sp['p95']:.2f} s | (context) | |")
    if out.get("bytes_per_rerun"):
        page, worst = max(out["bytes_per_rerun"].items(), key=lambda kv: kv[1])
        rows.append(f"| bytes received per rerun, worst ({page}) | {worst:,} B | | ≤ 500 KB | "
                    f"{'yes' if worst <= 500_000 else '**no**'} |")
    ld = out.get("load")
    if ld and ld["p95"] is not None:
        rows.append(f"| one Chromium session's page, 19 light clients rerunning ({ld['n']} pages, {ld['light_runs']:,} "
                    f"light runs, {ld['timeouts']} timeouts) | {ld['p50']:.2f} s | {ld['p95']:.2f} s | ≤ 3 s p95 | "
                    f"{'yes' if ld['p95'] <= 3 else '**no**'} |")
        if "first_page_cold" in ld:
            rows.append(f"| same session's first page, servers' caches and its browser cold | "
                        f"{ld['first_page_cold']:.2f} s | | (context) | |")
        rows.append(f"| app peak memory, 20 sessions | {ld['peak_rss_mb']} MB | | ≤ 800 MB | "
                    f"{'yes' if ld['peak_rss_mb'] <= 800 else '**no**'} |")
    head = "| figure | p50 | p95 | target | met |\n|---|---|---|---|---|\n"
    return head + "\n".join(rows) + "\n"


def main(trials: int = 10, load_seconds: float = 60.0) -> dict:
    import json

    out = run(trials, load_seconds)
    (WORK / "results.json").write_text(json.dumps(out, indent=1))
    print(json.dumps(out, indent=1))
    print(report(out))
    return out


if __name__ == "__main__":
    main(int(os.environ.get("TRIALS", "10")), float(os.environ.get("LOAD_SECONDS", "60")))
