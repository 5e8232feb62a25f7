"""A local stand-in for the city's Socrata portal, for tests only.

It serves `/resource/<id>.json` in the SODA format ($select, $where, $order, $limit, $offset),
with rows built from the real KCPD 2018 API sample bundled in data/raw, plus Socrata's system
fields (`:id`, `:updated_at`). Field names can be drifted as the city's yearly datasets do,
and faults (500s, slow answers, a dead portal) can be switched on, as can hostile answers
(raw bodies, redirects, a body trickled a byte at a time). `$where` is parsed as strictly as
Socrata does: a malformed literal gets a 400 and is marked in the log.
"""

from __future__ import annotations

import ast
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pandas as pd

from tests.conftest import RAW

LITERAL = r"'(?:[^']|'')*'"
IN_CLAUSE = re.compile(rf"(\w+) IN \(({LITERAL}(?:, {LITERAL})*)\)")
UPDATED = re.compile(rf":updated_at > ({LITERAL})")


def parse_where(where: str) -> tuple[str, str | None, list[str]]:
    """The two `$where` forms the refresh sends, read as SoQL would (quotes doubled inside a literal): returns
    (kind, field, values). Raises ValueError for anything else, e.g. a literal a stray quote has broken open."""
    if m := UPDATED.fullmatch(where):
        return "updated", ":updated_at", [m.group(1)[1:-1].replace("''", "'")]
    if m := IN_CLAUSE.fullmatch(where):
        return "in", m.group(1), [v[1:-1].replace("''", "'") for v in re.findall(LITERAL, m.group(2))]
    raise ValueError(f"malformed $where: {where!r}")


def api_rows(variant: str = "api") -> list[dict]:
    """The real 2018 sample as the API returns it; `variant` drifts the field names like later datasets."""
    frame = pd.read_csv(RAW / "kcpd_2018_api_sample.csv.gz", dtype=str, keep_default_na=False)
    frame = frame[[c for c in frame.columns if c and not c.startswith(":@") and not c.startswith("Unnamed")]]
    rows = []
    for i, r in enumerate(frame.to_dict("records")):
        row = {k: v for k, v in r.items() if v != ""}
        if "location" in row:
            row["location"] = ast.literal_eval(row["location"])
        if variant == "drifted":  # 2017-2020 style: report, report_date, location_1 {latitude, longitude}
            row["report"] = row.pop("report_no")
            row["report_date"] = row.pop("reported_date")
            if "location" in row:
                lon, lat = row.pop("location")["coordinates"]
                row["location_1"] = {"latitude": str(lat), "longitude": str(lon), "human_address": "{}"}
            if "firearm_used_flag" in row:
                row["firearmused_flag"] = row.pop("firearm_used_flag")
        row[":id"] = f"row-{i:05d}"
        row[":updated_at"] = "2018-11-01T00:00:00.000"
        rows.append(row)
    return rows


class Portal:
    """Datasets by id, a request log (with the app token each request carried), fault and hostile switches."""

    def __init__(self, datasets: dict[str, list[dict]]):
        self.datasets = datasets
        self.log: list[dict] = []
        self.fail_next = 0  # answer 500 to the next N requests
        self.slow_next = 0  # sleep `slow_seconds` before the next N answers
        self.slow_seconds = 3.0
        self.dead_after = None  # answer 503 to every page request from this offset on
        self.bodies: list[bytes] = []  # hostile: answer 200 with these raw bodies, one per request, first first
        self.redirect_to = None  # hostile: answer 302 to this base URL (+ the same path and query) ...
        self.redirect_next = 0  # ... for the next N requests
        self.trickle_next = 0  # hostile: the next N answers send their body one byte every `trickle_seconds` ...
        self.trickle_seconds = 2.0
        self.trickle_for = 20.0  # ... for at most this long, then hang up
        self.ignore_offset = False  # hostile: every page is the first one, so paging never ends
        self.stopping = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()

    def answer(self, dataset: str, params: dict, token: str | None = None) -> tuple[int, object]:
        self.log.append({"dataset": dataset, **params, "token": token})
        if self.bodies:
            return 200, self.bodies.pop(0)
        if self.fail_next > 0:
            self.fail_next -= 1
            return 500, {"error": "simulated server error"}
        if self.slow_next > 0:
            self.slow_next -= 1
            time.sleep(self.slow_seconds)
        rows = self.datasets.get(dataset)
        if rows is None:
            return 404, {"error": "no such dataset"}
        offset, limit = int(params.get("$offset", 0)), int(params.get("$limit", 1000))
        offset = 0 if self.ignore_offset else offset
        if self.dead_after is not None and offset >= self.dead_after:
            return 503, {"error": "simulated outage"}
        if where := params.get("$where", ""):
            try:
                kind, name, values = parse_where(where)
            except ValueError:
                self.log[-1]["malformed"] = True
                return 400, {"error": True, "code": "query.soql.invalid", "message": "malformed $where"}
            rows = [r for r in rows if (r[":updated_at"] > values[0] if kind == "updated" else r.get(name) in values)]
        rows = sorted(rows, key=lambda r: r[":id"])
        return 200, rows[offset:offset + limit]

    def _handler(self):
        portal = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                parsed = urlparse(self.path)
                if portal.redirect_to and portal.redirect_next > 0:
                    portal.redirect_next -= 1
                    portal.log.append({"redirected": self.path, "token": self.headers.get("X-App-Token")})
                    return self._send(302, b"", {"Location": portal.redirect_to + self.path})
                m = re.match(r"^/resource/([\w-]+)\.json$", parsed.path)
                params = {k: v[0] for k, v in parse_qs(parsed.query).items()}
                token = self.headers.get("X-App-Token")
                status, body = portal.answer(m.group(1), params, token) if m else (404, {"error": "not found"})
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                if status == 200 and portal.trickle_next > 0:
                    portal.trickle_next -= 1
                    return self._trickle(data)
                self._send(status, data)

            def _send(self, status: int, data: bytes, headers: dict | None = None) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in (headers or {}).items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def _trickle(self, data: bytes) -> None:
                """Headers at once, then the body a byte every `trickle_seconds`: no read ever times out, yet the
                answer takes hours. Hangs up after `trickle_for` seconds or when the portal stops."""
                give_up = time.monotonic() + portal.trickle_for
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    for i in range(len(data)):
                        self.wfile.write(data[i:i + 1])
                        if portal.stopping.wait(portal.trickle_seconds) or time.monotonic() > give_up:
                            break
                except (BrokenPipeError, ConnectionResetError):
                    pass
                self.close_connection = True

            def log_message(self, *args):
                pass

        return Handler
