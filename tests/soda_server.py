"""A local stand-in for the city's Socrata portal, for tests only.

It serves `/resource/<id>.json` in the SODA format ($select, $where, $order, $limit, $offset),
with rows built from the real KCPD 2018 API sample bundled in data/raw, plus Socrata's system
fields (`:id`, `:updated_at`). Field names can be drifted as the city's yearly datasets do,
and faults (500s, slow answers, a dead portal) can be switched on.
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

IN_CLAUSE = re.compile(r"^(\w+) IN \((.*)\)$")
UPDATED = re.compile(r"^:updated_at > '([^']+)'$")


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
    """Datasets by id, a request log, and fault switches."""

    def __init__(self, datasets: dict[str, list[dict]]):
        self.datasets = datasets
        self.log: list[dict] = []
        self.fail_next = 0  # answer 500 to the next N requests
        self.slow_next = 0  # sleep `slow_seconds` before the next N answers
        self.slow_seconds = 3.0
        self.dead_after = None  # answer 503 to every page request from this offset on
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def answer(self, dataset: str, params: dict) -> tuple[int, object]:
        self.log.append({"dataset": dataset, **params})
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
        if self.dead_after is not None and offset >= self.dead_after:
            return 503, {"error": "simulated outage"}
        where = params.get("$where", "")
        if m := UPDATED.match(where):
            rows = [r for r in rows if r[":updated_at"] > m.group(1)]
        elif m := IN_CLAUSE.match(where):
            wanted = {v.strip().strip("'") for v in m.group(2).split(",")}
            rows = [r for r in rows if r.get(m.group(1)) in wanted]
        rows = sorted(rows, key=lambda r: r[":id"])
        return 200, rows[offset:offset + limit]

    def _handler(self):
        portal = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                parsed = urlparse(self.path)
                m = re.match(r"^/resource/([\w-]+)\.json$", parsed.path)
                params = {k: v[0] for k, v in parse_qs(parsed.query).items()}
                status, body = portal.answer(m.group(1), params) if m else (404, {"error": "not found"})
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def log_message(self, *args):
                pass

        return Handler
