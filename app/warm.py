"""Warm the server's caches once per database version, so that the first visitor after a start or a refresh does
not wait for every page's first computation (Gi*, the evaluation, the synthetic controls: up to 3 s a page cold).

After a page run in a real `streamlit run` server meets a database version for the first time, one background
session (app.light_client: the app's own websocket protocol, no browser) opens every page's default view once. It
takes its turns like any visitor (web.page_turn), so a reader arriving meanwhile waits for at most one of its runs.
Warming is best-effort: a server it cannot reach (TLS, a Unix socket) or a page that fails leaves the app as it was,
only colder. AppTest runs pages without a server and never warms.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time

#: each page's default view, in the order readers open them
PATHS = ("/", "/hotspots", "/emerging", "/neighborhood", "/outreach", "/programs", "/data")
#: what the server log says when a warm-up ends (tests wait for it)
DONE = "caches warmed for database"

_started: set[str] = set()
_lock = threading.Lock()


def start(db_key: str) -> bool:
    """Start warming the caches for this database version in the background, once per version and process; whether
    it started."""
    url = _server_url()
    if url is None:
        return False
    with _lock:
        if db_key in _started:
            return False
        _started.add(db_key)
    threading.Thread(target=_warm, args=(url, db_key), name="kcvt-warm-up", daemon=True).start()
    return True


def _server_url() -> str | None:
    """This server's own address, or None without a server to call (AppTest's runtime is a stand-in)."""
    from streamlit import config
    from streamlit.runtime import Runtime

    if not Runtime.exists() or type(Runtime.instance()) is not Runtime:
        return None
    address = str(config.get_option("server.address") or "127.0.0.1")
    if config.get_option("server.sslCertFile") or address.startswith("unix://"):
        return None
    # a server listening on every interface is reached on loopback
    host = "127.0.0.1" if address in ("0.0.0.0", "::") else (f"[{address}]" if ":" in address else address)  # noqa: S104
    base = str(config.get_option("server.baseUrlPath") or "").strip("/")
    return f"http://{host}:{int(config.get_option('server.port'))}" + (f"/{base}" if base else "")


def _warm(url: str, db_key: str) -> None:
    from app.light_client import LightSession, errors

    async def visit() -> None:
        async with LightSession(url) as session:
            for path in PATHS:
                await session.run(path)
                for shown in errors(session.frames):  # what a reader would see in an error box, for the operator
                    print(f"kcvt: warm-up: {path} shows an error: {shown}", file=sys.stderr, flush=True)

    started = time.perf_counter()
    try:
        asyncio.run(visit())
    except Exception as exc:  # noqa: BLE001 (best-effort: the pages still work, only colder)
        print(f"kcvt: warm-up stopped: {exc}", file=sys.stderr, flush=True)
        return
    print(f"kcvt: {DONE} {db_key.rsplit('/', 1)[-1]}: {len(PATHS)} pages in {time.perf_counter() - started:.1f} s",
          file=sys.stderr, flush=True)
