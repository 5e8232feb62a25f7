"""The city's Socrata open-data portal (SODA API) as a hostile peer: values parsed, answers bounded.

Every value the portal sends is parsed into its type before use, and every answer has a deadline and a size cap.

- Values: a timestamp (`:updated_at`, a watermark) is parsed and written in one format; a report number is short
  plain text; a value enters SoQL only through `soql_literal`; a page is a list of row objects whose
  `:updated_at` is a plausible update time.
- HTTP: retries with backoff (urllib3's Retry), redirects followed within the portal only, the app token sent to
  the portal only, a deadline on each whole answer (a server trickling a byte now and then never trips a read
  timeout) and a size cap (whatever Content-Length claims).

etl.refresh orchestrates a refresh with these; nothing here knows about datasets, files or the database.
"""

from __future__ import annotations

import json
import re
import threading
import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.util.retry import Retry

from etl.errors import RefreshError
from etl.extract import excerpt
from kcvt.settings import open_data_deadline, open_data_token, open_data_url

MAX_PAGE_BYTES = 64 * 1024 * 1024  # a page of 5,000 rows is about 8 MB
MAX_REDIRECTS = 3
CHUNK = 64 * 1024
TIMESTAMP = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})?", re.ASCII)
REPORT_NUMBER = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._/-]{0,39}", re.ASCII)  # KCPD's are 9 digits
EARLIEST = datetime(2000, 1, 1)  # no KCPD dataset row was updated before the portal existed


# --- values from the network: parsed into their types before use ---------------------------------------------------

def parse_timestamp(value: object) -> datetime:
    """A Socrata timestamp (`2018-11-01T00:00:00.000`: ISO 8601, optional fraction, `Z` or offset) as naive UTC.

    Raises ValueError for anything else, so the text as it came is never used.
    """
    m = TIMESTAMP.fullmatch(value) if isinstance(value, str) else None
    if m is None:
        raise ValueError(f"'{excerpt(value)}' is not a timestamp")
    whole, fraction, zone = m.groups()
    try:
        stamp = datetime.fromisoformat(f"{whole}.{(fraction or '').ljust(6, '0')[:6]}"
                                       f"{'+00:00' if zone == 'Z' else zone or ''}")
        return stamp.astimezone(UTC).replace(tzinfo=None) if stamp.tzinfo else stamp
    except (ValueError, OverflowError):
        raise ValueError(f"'{excerpt(value)}' is not a valid date and time") from None


def parse_watermark(value: object) -> datetime:
    """A timestamp fit to be a watermark: parsed, not in the future and not before the portal existed.

    A watermark in year 9999 would make every later refresh find nothing new, silently.
    """
    stamp = parse_timestamp(value)
    if not EARLIEST <= stamp <= datetime.now(UTC).replace(tzinfo=None) + timedelta(days=2):
        raise ValueError(f"'{excerpt(value)}' is not a plausible update time")
    return stamp


def format_timestamp(stamp: datetime) -> str:
    """The one format a watermark is stored and sent in: Socrata's floating timestamp, to the millisecond.

    Cutting the fraction can only make the next fetch ask for a little more, never less.
    """
    return stamp.isoformat(timespec="milliseconds")


def soql_literal(value: str) -> str:
    """`value` as a SoQL string literal, quotes doubled: the only way a value enters SoQL text.

    Control and line separator characters are refused: SoQL has no escape for them and no watermark or report
    number has one.
    """
    if not isinstance(value, str) or any(unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") for c in value):
        raise RefreshError(f"refusing to put '{excerpt(value)}' into a SoQL query: not plain text")
    return "'" + value.replace("'", "''") + "'"


def report_number(value: object, where: str) -> str:
    """A report number from the portal, checked before it goes into a query.

    It must be short plain text (digits, letters and a few separators); anything else means the portal is not
    sending what it publishes.
    """
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not REPORT_NUMBER.fullmatch(text):
        raise RefreshError(f"{where}: report number '{excerpt(value)}' is not a plain report number; refused, "
                           "nothing was changed")
    return text


_JSON_KINDS = {dict: "an object", list: "a list", str: "a string", int: "a number", float: "a number",
               bool: "true/false", type(None): "null"}


def validate_page(data: object, what: str, limit: int | None = None) -> list[dict]:
    """A page as the SODA API defines it: a list of at most `limit` row objects with a plausible `:updated_at`.

    Checked before a page is spooled and again when it is read back, so a bad page is never replayed; the message
    names the dataset and page.
    """
    if not isinstance(data, list):
        raise RefreshError(f"{what}: expected a JSON list of rows, got {_JSON_KINDS.get(type(data), 'something else')}"
                           "; nothing was changed")
    if limit is not None and len(data) > limit:
        raise RefreshError(f"{what}: {len(data):,} rows for a page of {limit:,}; nothing was changed")
    for i, row in enumerate(data, 1):
        if not isinstance(row, dict):
            raise RefreshError(f"{what}: row {i} is {_JSON_KINDS.get(type(row), 'something else')}, not an object; "
                               "nothing was changed")
        try:
            parse_watermark(row.get(":updated_at"))
        except ValueError as exc:
            raise RefreshError(f"{what}: row {i}: :updated_at {exc}; nothing was changed") from None
    return data


def _parse_json(body: bytes, what: str) -> object:
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise RefreshError(f"{what}: the portal's answer is not JSON ({exc.__class__.__name__}); nothing was changed"
                           ) from None


# --- HTTP: same origin only, the token to the portal only, a deadline and a size cap per answer ---------------------

def session(retries: int = 5, backoff: float = 0.5, timeout: float = 60.0,
            deadline: float | None = None) -> requests.Session:
    """An HTTP session that retries connection errors, timeouts and 5xx answers with exponential backoff.

    `timeout` bounds each socket read; `deadline` bounds a whole answer, retries included (a server sending a byte
    now and then never trips a read timeout; default: KC_OPEN_DATA_DEADLINE, else 120 s). The app token is not a
    session header: `_download` adds it to requests for the configured portal only.
    """
    s = requests.Session()
    retry = Retry(total=retries, connect=retries, read=retries, status=retries, backoff_factor=backoff,
                  status_forcelist=(500, 502, 503, 504), allowed_methods=frozenset({"GET"}),
                  raise_on_status=False)
    s.mount("http://", HTTPAdapter(max_retries=retry))
    s.mount("https://", HTTPAdapter(max_retries=retry))
    s.request_timeout = timeout  # type: ignore[attr-defined]
    s.deadline = open_data_deadline() if deadline is None else deadline  # type: ignore[attr-defined]
    return s


def _same_origin(url: str) -> bool:
    """Whether `url` has the configured portal's scheme, host and port: the only place requests and the token go."""
    def origin(u: str) -> tuple:
        p = urlsplit(u)
        return p.scheme.lower(), (p.hostname or "").lower(), p.port or {"http": 80, "https": 443}.get(p.scheme.lower())

    try:
        return origin(url) == origin(open_data_url())
    except ValueError:  # an unparseable port or address
        return False


def get_rows(s: requests.Session, url: str, params: dict, what: str = "the portal", limit: int | None = None,
         deadline: float | None = None) -> list[dict]:
    """One page of rows from the portal, parsed and validated (`validate_page`): nothing unchecked leaves here.

    `what` names the dataset and page in messages; `limit` is the most rows a page may hold.
    """
    seconds = deadline if deadline is not None else getattr(s, "deadline", None) or open_data_deadline()
    body = _within(seconds, what, lambda cancel: _download(s, url, params, what, cancel))
    return validate_page(_parse_json(body, what), what, limit)


def _within(seconds: float, what: str, work: Callable[[threading.Event], bytes]) -> bytes:
    """`work` run in a helper thread, given up after `seconds`: a deadline on the whole answer.

    requests' timeout bounds each read, not the answer, and the stages before the body (connecting, retries,
    headers) cannot be cut from this thread. The abandoned helper stops at its next chunk (it is told to) or when its
    connection ends.
    """
    box: dict = {}
    cancel = threading.Event()

    def run() -> None:
        try:
            box["body"] = work(cancel)
        except BaseException as exc:  # handed to the caller below
            box["error"] = exc

    helper = threading.Thread(target=run, name=f"refresh: {what}", daemon=True)
    helper.start()
    helper.join(seconds)
    if helper.is_alive():
        cancel.set()
        raise RefreshError(f"{what}: no complete answer within {seconds:g} s; nothing was changed. "
                           "The portal is slow or stalled: try again later")
    if "error" in box:
        raise box["error"]
    return box["body"]


def _download(s: requests.Session, url: str, params: dict | None, what: str, cancel: threading.Event) -> bytes:
    """The body of one answer, following redirects within the portal only.

    Never to another host, which would also get the request and its token; the token is sent only to the portal.
    """
    for _ in range(MAX_REDIRECTS + 1):
        if not _same_origin(url):
            raise RefreshError(f"{what}: the portal redirected to another host ({excerpt(url)}); refused. "
                               "Set KC_OPEN_DATA_URL to the portal's own address")
        try:
            r = s.get(url, params=params, headers={"X-App-Token": open_data_token()}, allow_redirects=False,
                      stream=True, timeout=getattr(s, "request_timeout", 60.0))
        except requests.RequestException as exc:
            raise RefreshError(f"{what}: no answer after retries ({exc.__class__.__name__})") from exc
        with r:
            if r.is_redirect:
                url, params = urljoin(r.url, r.headers["location"]), None
                continue
            return _body(r, what, cancel)
    raise RefreshError(f"{what}: more than {MAX_REDIRECTS} redirects; refused")


def _body(r: requests.Response, what: str, cancel: threading.Event) -> bytes:
    """Read a 200 answer a chunk at a time, so the deadline can stop it and a body too large is refused.

    A body over MAX_PAGE_BYTES is refused before it fills memory, whatever Content-Length claims.
    """
    too_large = RefreshError(f"{what}: the answer is larger than {MAX_PAGE_BYTES:,} bytes; refused, nothing was changed")
    try:
        if r.status_code != 200:
            head = (r.raw.read1(200, decode_content=True) or b"").decode("utf-8", "replace")
            raise RefreshError(f"{what}: HTTP {r.status_code} after retries: {excerpt(head, 200)}")
        declared = r.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_PAGE_BYTES:
            raise too_large
        body = bytearray()
        while (chunk := r.raw.read1(CHUNK, decode_content=True)) and not cancel.is_set():
            body += chunk
            if len(body) > MAX_PAGE_BYTES:
                raise too_large
        return bytes(body)
    except (requests.RequestException, Urllib3Error, OSError) as exc:
        raise RefreshError(f"{what}: the answer broke off ({exc.__class__.__name__}); nothing was changed") from exc
