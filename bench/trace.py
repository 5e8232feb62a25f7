"""Where the browser's time goes: a Chromium trace of page visits and filter changes, the renderer's main thread
summed by what it was doing.

`python -m bench.trace [--visits-only] PAGE ...` (pages as in bench.browser.PAGES: hotspots, emerging, ...) starts
the app on the benchmark's database, opens home in one tab, waits for the server's warm-up, then for each page in
the order given: a click on its sidebar link, and (unless --visits-only) two "From" changes, each traced until idle
as the benchmark times it. For each action it prints the wall clock, how long each browser thread was busy, the
renderer main thread's self time by trace event, and how long that thread waited for the GPU process.

The order matters, which is why pages are arguments: on this machine the second page with a deck.gl map in a tab
waits on the GPU process far longer than the first (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import collections
import json
import sys

from bench import browser as b

CATEGORIES = ["devtools.timeline", "disabled-by-default-devtools.timeline", "v8.execute", "blink", "gpu", "cc"]
#: the renderer blocked until the GPU process has run the commands it was sent (software WebGL: SwiftShader)
GPU_WAIT = "CommandBufferProxyImpl::WaitForGetOffset"


def summarise(events: list[dict]) -> dict:
    """Per thread name: busy seconds (its top-level tasks); and for the renderer's main thread, self seconds by event
    name (an event's time less that of the events nested in it)."""
    names = {(e["pid"], e["tid"]): e["args"]["name"] for e in events
             if e.get("ph") == "M" and e.get("name") == "thread_name"}
    complete = [e for e in events if e.get("ph") == "X" and "dur" in e]
    by_thread: dict = collections.defaultdict(list)
    for e in complete:
        by_thread[(e["pid"], e["tid"])].append(e)
    busy: collections.Counter = collections.Counter()
    self_time: collections.Counter = collections.Counter()
    for key, evs in by_thread.items():
        thread = names.get(key, "?")
        evs.sort(key=lambda e: (e["ts"], -e["dur"]))
        stack: list[dict] = []
        for e in evs:
            while stack and stack[-1]["ts"] + stack[-1]["dur"] <= e["ts"]:
                stack.pop()
            if not stack:
                busy[thread] += e["dur"] / 1e6
            if thread == "CrRendererMain":
                if stack:
                    self_time[stack[-1]["name"]] -= e["dur"] / 1e6
                self_time[e["name"]] += e["dur"] / 1e6
            stack.append(e)
    return {"busy": dict(busy), "main_self": dict(self_time), "gpu_wait": self_time.get(GPU_WAIT, 0.0)}


def report(label: str, wall: float, s: dict, top: int = 8) -> str:
    threads = ", ".join(f"{k} {v:.2f}" for k, v in sorted(s["busy"].items(), key=lambda kv: -kv[1])[:4])
    lines = [f"{label}: {wall:.2f} s to idle; busy (s): {threads}; main thread waiting on the GPU process "
             f"{s['gpu_wait']:.2f} s"]
    for name, sec in sorted(s["main_self"].items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"    {name:50s} {sec:6.3f} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.trace", description=__doc__.split("\n\n")[0])
    ap.add_argument("pages", nargs="+", choices=[p for p in b.PAGES if p != "home"])
    ap.add_argument("--visits-only", action="store_true", help="only the first visits, no filter changes")
    args = ap.parse_args(argv)
    from playwright.sync_api import sync_playwright

    db = b.WORK / "kc.duckdb"
    if not db.exists():
        sys.exit(f"no benchmark database at {db}: run python -m bench --browser once first")
    env = b.app_env(db)
    log = b.WORK / "trace_app.log"
    port = b.free_port()
    proc = b.start_app(port, env, log)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=b.CHROMIUM, args=b.ARGS)
            b.after_warm_up(browser, f"http://127.0.0.1:{port}", log)  # its work would land in the first traces
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.add_init_script(b.OBSERVER)
            page.goto(f"http://127.0.0.1:{port}/")
            b.wait_idle(page, 0)
            for name in args.pages:
                link = page.locator(f'[data-testid="stSidebarNavLink"][href$="/{b.PAGES[name]}"]').first
                actions = [(f"first visit, {name}", lambda link=link: link.evaluate("e => e.click()"))]
                if not args.visits_only and name in b.FILTER_PAGES:
                    actions += [(f"filter change {i}, {name}", lambda: b.shift_from(page)) for i in (1, 2)]
                for label, action in actions:
                    browser.start_tracing(page=page, categories=CATEGORIES)
                    wall = b.to_idle(page, action)
                    events = json.loads(browser.stop_tracing())["traceEvents"]
                    print(report(label, wall, summarise(events)), flush=True)
            browser.close()
    finally:
        b.stop(proc)


if __name__ == "__main__":
    main()
