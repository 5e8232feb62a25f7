"""Paths and settings, in one place, anchored to the repository (never the working directory)."""

from __future__ import annotations

import math
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = ROOT / "data"
REFERENCE_DIR = DATA_DIR / "reference"
MANIFEST = DATA_DIR / "manifest.csv"
DEFAULT_DB = DATA_DIR / "kc_violence.duckdb"

#: KCMO city limits, generously boxed: points outside are never in the city.
CITY_BBOX = (-94.78, 38.80, -94.37, 39.37)  # lon_min, lat_min, lon_max, lat_max


#: The City of Kansas City's Socrata open-data portal (KC_OPEN_DATA_URL overrides it, e.g. for a local mirror)
DEFAULT_OPEN_DATA_URL = "https://data.kcmo.org"


def user_dir() -> Path:
    """Files users loaded or refreshed, kept so builds repeat them (`KC_VIOLENCE_USER_DIR` overrides)."""
    override = os.environ.get("KC_VIOLENCE_USER_DIR")
    return Path(override) if override else DATA_DIR / "user"


def refresh_dir() -> Path:
    """Refresh watermarks (state.json) and spooled pages, kept with the user's files: pages on disk let an
    interrupted refresh resume where it stopped."""
    return user_dir() / "refresh"


def open_data_url() -> str:
    """The Socrata portal refreshes read from: data.kcmo.org, or `KC_OPEN_DATA_URL` (a mirror, or the tests' stand-in
    portal); no trailing slash, so resource paths join cleanly."""
    return os.environ.get("KC_OPEN_DATA_URL", DEFAULT_OPEN_DATA_URL).rstrip("/")


def open_data_token() -> str | None:
    """Optional Socrata app token (raises the portal's rate limits)."""
    return os.environ.get("KC_OPEN_DATA_APP_TOKEN") or None


def db_path() -> Path:
    """The database file: `KC_VIOLENCE_DB` if set, else data/kc_violence.duckdb."""
    override = os.environ.get("KC_VIOLENCE_DB")
    return Path(override).expanduser().resolve() if override else DEFAULT_DB

#: Published stand-in locations that are not where anything happened (lat, lon):
#: GVA mass-shooting rows from 2025-09 carry Kansas City's centre point.
PLACEHOLDER_POINTS = {(39.099792, -94.578559)}


#: Loader limits: a file is refused, with a message, beyond them (compression bombs, absurd headers).
DEFAULT_MAX_UNCOMPRESSED = 2 * 1024**3  # bytes of a gzip file once decompressed (`KC_VIOLENCE_MAX_UNCOMPRESSED`)
MAX_COLUMNS = 500  # columns in a header; the widest published file has 32
MAX_HEADER_BYTES = 1 << 20  # a header line longer than this is not a CSV header


def max_uncompressed() -> int:
    """Largest decompressed size of a gzip file the loader reads (bytes; `KC_VIOLENCE_MAX_UNCOMPRESSED` overrides)."""
    text = os.environ.get("KC_VIOLENCE_MAX_UNCOMPRESSED", "")
    return int(text) if text.isdigit() and int(text) > 0 else DEFAULT_MAX_UNCOMPRESSED


#: Refresh limits (`etl refresh`). The largest yearly KCPD dataset has 62,400 reports (kcpd_datasets.csv), at about
#: 1.7 person-rows a report (the 2020 extract: 42,082 rows, 24,535 reports), so about 110,000 rows; 500,000 leaves a
#: margin of more than four times. More means the portal is not paging as asked: refused before memory and disk fill.
DEFAULT_OPEN_DATA_MAX_ROWS = 500_000  # rows of one dataset in one refresh (`KC_OPEN_DATA_MAX_ROWS`)
DEFAULT_OPEN_DATA_DEADLINE = 120.0  # seconds for one whole answer from the portal, retries included


def _setting(name: str, default: float, kind: type, low: float, high: float) -> float:
    """A numeric setting from the environment, checked: a bad value is named, never silently replaced."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        raise ValueError(f"{name}={text[:40]!r} is not a number") from None
    if not (math.isfinite(value) and low <= value <= high):
        raise ValueError(f"{name}={text[:40]!r} is out of range ({low:g} to {high:g})")
    return value


def open_data_max_rows() -> int:
    """Most rows one dataset may send in one refresh (`KC_OPEN_DATA_MAX_ROWS`, 1 to 100,000,000)."""
    return int(_setting("KC_OPEN_DATA_MAX_ROWS", DEFAULT_OPEN_DATA_MAX_ROWS, int, 1, 1e8))


MAX_OPEN_DATA_DEADLINE = 86_400.0  # a day: longer is a typo, and a refresh would hold the writer lock all along


def parse_deadline(text: str) -> float:
    """Seconds one whole answer from the portal may take: a finite number above 0, at most 86,400.

    The one rule for `KC_OPEN_DATA_DEADLINE` and `etl refresh --deadline`, so a value one accepts the other never
    refuses (a fraction of a second is a deadline too: the tests' stand-in portal answers in milliseconds). Raises
    ValueError naming the value.
    """
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{text[:40]!r} is not a number") from None
    if not (math.isfinite(value) and 0 < value <= MAX_OPEN_DATA_DEADLINE):
        raise ValueError(f"{text[:40]!r} is out of range (above 0, at most {MAX_OPEN_DATA_DEADLINE:,.0f} seconds)")
    return value


def open_data_deadline() -> float:
    """Seconds one whole answer from the portal may take (`KC_OPEN_DATA_DEADLINE`, by `parse_deadline`'s rule;
    default 120): a deadline, not a read timeout, so a server trickling a byte now and then fails within it."""
    text = os.environ.get("KC_OPEN_DATA_DEADLINE", "").strip()
    if not text:
        return DEFAULT_OPEN_DATA_DEADLINE
    try:
        return parse_deadline(text)
    except ValueError as exc:
        raise ValueError(f"KC_OPEN_DATA_DEADLINE={exc}") from None
