"""The canvass registry: outreach events, kept as user data that survives every rebuild.

Events live in a CSV file outside the incident database (data/registry/canvass_events.csv,
or `KC_VIOLENCE_REGISTRY`), written atomically. The first use seeds it with the real
events in data/reference/canvass_events_seed.csv. Validation is pydantic's; footprint geometry
is first checked numerically by analytics.geometry.guard, because GEOS crashes on some hostile shapes.

A registry file is edited by hand too, so one bad row must not take the others down: `Store.read()` returns
the good records and the rejected rows, each with its row number and reason. Rejected rows stay in the file,
as typed, through every later save; a row leaves only when a valid record with the same id replaces it (a form
save or an import) or it is deleted by id. Every read-modify-write holds the file's writer lock
(kcvt.locks), so two writers never silently discard each other's work.
"""

from __future__ import annotations

import io
import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal, NamedTuple

import pandas as pd
import shapely
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from analytics import geometry
from analytics.queries import date_problem
from kcvt.locks import LockHeld, writer_lock
from kcvt.settings import DATA_DIR, REFERENCE_DIR

SEED = REFERENCE_DIR / "canvass_events_seed.csv"
COLUMNS = ["event_id", "name", "start_date", "end_date", "date_confirmed", "organisations", "footprint_type",
           "neighborhoods", "line_wkt", "corridor_width_m", "point_lon", "point_lat", "radius_m", "doors_knocked",
           "contacts", "notes", "source", "program"]
#: The ids the first seed held. A registry file written before the seed-top-up rule (no `.seeded` file beside it)
#: has already been offered these, so one of them missing from it was deleted by a user and stays deleted.
FIRST_SEED_IDS = ("independence-ave-2023-11-29", "ruskin-heights-undated", "pal-center-2017-07-26")


class RegistryError(ValueError):
    """An event or a registry file that cannot be accepted, or a write refused because another is under way; the
    message says why."""


@dataclass(frozen=True)
class Rejected:
    """A row of a registry file that failed validation, kept as it was typed (`raw`) so a later save keeps it."""

    row: int  # 1 = the first row under the header
    record_id: str
    reason: str
    raw: dict

    def __str__(self) -> str:
        return " ".join(f"row {self.row}: {self.reason}".split())  # one line, whatever the file held


class Contents(NamedTuple):
    """A registry file read: the good records, and the rows set aside with their reasons."""

    records: list
    rejected: list[Rejected]


log = logging.getLogger(__name__)
_reported: set[str] = set()


def _blank(value) -> bool:
    return value is None or (isinstance(value, float) and pd.isna(value))


class Footprint(BaseModel):
    """Where: named neighborhoods, a corridor (line + half-width in metres) or a point and radius."""

    footprint_type: Literal["neighborhoods", "corridor", "point"]
    neighborhoods: list[str] = Field(default_factory=list)
    line_wkt: str | None = None
    corridor_width_m: float | None = Field(default=None, gt=0, le=1000)
    point_lon: float | None = None
    point_lat: float | None = None
    radius_m: float | None = Field(default=None, gt=0, le=5000)

    @field_validator("neighborhoods", mode="before")
    @classmethod
    def _split(cls, value):
        if _blank(value):
            return []
        return [v.strip() for v in value.split("|") if v.strip()] if isinstance(value, str) else value

    @model_validator(mode="before")
    @classmethod
    def _guard(cls, data):
        """Every geometry field given, whatever the footprint type, is checked as typed before anything reads it."""
        if isinstance(data, dict):
            geometry.guard(data.get("line_wkt"), data.get("point_lon"), data.get("point_lat"),
                           corridor_width_m=data.get("corridor_width_m"), radius_m=data.get("radius_m"))
        return data

    @model_validator(mode="after")
    def _complete(self):
        needs = {"neighborhoods": ["neighborhoods"], "corridor": ["line_wkt", "corridor_width_m"],
                 "point": ["point_lon", "point_lat", "radius_m"]}[self.footprint_type]
        missing = [n for n in needs if getattr(self, n) in (None, [], "")]
        if missing:
            raise ValueError(f"a {self.footprint_type} footprint needs {', '.join(missing)}")
        return self

    def footprint(self) -> shapely.Geometry | None:
        """The footprint as a lon/lat polygon (None for a neighborhoods footprint: see areas).

        Checked again here, just before GEOS: a record changed with model_copy(update=...) skips validation.
        """
        if self.footprint_type == "neighborhoods":
            return None
        corridor = self.footprint_type == "corridor"
        metres = self.corridor_width_m if corridor else self.radius_m
        try:
            base = (geometry.guard(self.line_wkt, corridor_width_m=metres) if corridor else
                    geometry.guard(lon=self.point_lon, lat=self.point_lat, radius_m=metres))
            if base is None or metres is None:
                raise RegistryError(f"a {self.footprint_type} footprint is incomplete")
            return geometry.buffer_m(base, metres)
        except geometry.GeometryRejected as exc:
            raise RegistryError(str(exc)) from exc

    def row(self) -> dict:
        """The record as one flat CSV row (neighborhoods `|`-joined), the form of the registry file and its exports;
        `parse` reads it back."""
        data = self.model_dump()
        data["neighborhoods"] = "|".join(self.neighborhoods)
        return data


class CanvassEvent(Footprint):
    """One outreach event, as published (`source` says where). The date may be unknown (the Ruskin Heights canvass
    was never dated in print): such an event is kept but cannot be evaluated until a date is added;
    `date_confirmed` says whether a source confirms the date."""

    event_id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{2,79}$")
    name: str = Field(min_length=3, max_length=200)
    start_date: date | None = None
    end_date: date | None = None
    date_confirmed: bool = False
    organisations: str = Field(default="", max_length=500)
    doors_knocked: int | None = Field(default=None, ge=0, le=1_000_000)
    contacts: int | None = Field(default=None, ge=0, le=1_000_000)
    notes: str = Field(default="", max_length=4000)
    source: str = Field(default="", max_length=1000)
    #: the program the event belongs to (analytics.program): footprints of one effort that start on different dates
    program: str = Field(default="", pattern=r"^([a-z0-9][a-z0-9-]{2,79})?$")

    @field_validator("name", "organisations", "notes", "source", mode="before")
    @classmethod
    def _text(cls, value):
        return clean_text(value)

    @field_validator("date_confirmed", mode="before")
    @classmethod
    def _flag(cls, value):
        return False if _blank(value) else value

    @field_validator("program", mode="before")
    @classmethod
    def _program(cls, value):
        return clean_text(value).lower()

    @model_validator(mode="after")
    def _dates(self):
        for d in (self.start_date, self.end_date):
            if d is not None and (problem := date_problem(d, "date")):
                raise ValueError(problem)
        if self.end_date and not self.start_date:
            raise ValueError("an end date needs a start date")
        if self.end_date and self.start_date and self.end_date < self.start_date:
            raise ValueError(f"end date {self.end_date} is before start date {self.start_date}")
        if self.date_confirmed and not self.start_date:
            raise ValueError("a confirmed date needs a start date")
        return self

    @property
    def evaluable(self) -> bool:
        """Whether the event has a start date: without one there are no before and after windows to compare."""
        return self.start_date is not None


def clean_text(value) -> str:
    """Free text from forms and files: control characters removed, trimmed."""
    return "" if _blank(value) else re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", "", str(value)).strip()


def check_inside_city(event: Footprint, city: shapely.Geometry, known_neighborhoods: set[str]) -> None:
    """Footprints must name known neighborhoods or lie mostly (at least half their area) inside the city limit:
    counts exist only inside the city, so a footprint outside it would be evaluated on nothing."""
    if event.footprint_type == "neighborhoods":
        unknown = [n for n in event.neighborhoods if n not in known_neighborhoods]
        if unknown:
            raise RegistryError(f"unknown neighborhood(s): {', '.join(unknown)}")
        return
    shape = event.footprint()
    if shape is None or not shape.intersects(city) or shape.intersection(city).area < 0.5 * shape.area:
        raise RegistryError("the footprint is not inside Kansas City")


class Store:
    """A small CSV file of validated records, written atomically under a writer lock; seeded from a bundled file on
    first use. Rows that fail validation are set aside, not fatal, and kept in the file (see the module docstring)."""

    def __init__(self, model: type[BaseModel], key: str, columns: list[str], env: str, default: Path,
                 seed: Path | None = None, first_seed_ids: tuple[str, ...] = ()):
        self.model, self.key, self.columns, self.env, self.default, self.seed = model, key, columns, env, default, seed
        self.first_seed_ids = first_seed_ids
        self._memo: dict[tuple, Contents] = {}  # the last read, by version(): pages read the file on every run

    def path(self) -> Path:
        """The file: the store's environment variable if set, else its default under data/registry/. Records live
        outside the database, so a rebuild never loses them."""
        override = os.environ.get(self.env)
        return Path(override) if override else self.default

    @contextmanager
    def _locked(self, what: str) -> Iterator[None]:
        """The file's writer lock; a writer already at work becomes a RegistryError naming it."""
        try:
            with writer_lock(self.path(), what):
                yield
        except LockHeld as exc:
            raise RegistryError(str(exc)) from exc

    def parse(self, raw: dict):
        """A dict (form or CSV row) -> record, or RegistryError with every problem named."""
        clean = {k: (None if _blank(v) or v == "" else v) for k, v in raw.items() if k in self.columns}
        try:
            return self.model(**clean)
        except ValidationError as exc:
            problems = "; ".join(_problem(e) for e in exc.errors())
            raise RegistryError(f"{_shown_id(raw.get(self.key)) or 'record'}: {problems}") from exc

    def _read(self, source) -> pd.DataFrame:
        try:
            frame = pd.read_csv(source, dtype=str, keep_default_na=False)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise RegistryError(f"cannot read {getattr(source, 'name', 'the file')} as CSV: "
                                f"{' '.join(str(exc).split())[:300]}") from exc
        missing = [c for c in (self.key, "footprint_type") if c not in frame.columns]
        if missing:
            raise RegistryError(f"not a {self.key[:-3]} file: missing column(s) {', '.join(missing)}")
        return frame

    def _parse_rows(self, rows: list[dict], validate: Callable | None = None) -> Contents:
        """Records from rows in order; a row that fails, or repeats an earlier row's id, is set aside with why."""
        records, rejected, first = [], [], {}
        for i, raw in enumerate(rows, start=1):
            rid = str(raw.get(self.key) or "").strip()
            try:
                if rid in first:
                    raise RegistryError(f"{self.key} {_shown_id(rid)} repeats row {first[rid]}")
                if rid:
                    first[rid] = i
                record = self.parse(raw)
                if validate:
                    validate(record)
                records.append(record)
            except RegistryError as exc:
                rejected.append(Rejected(i, rid, str(exc), raw))
        return Contents(records, rejected)

    def _seed(self) -> None:
        with self._locked(f"seeding {self.path().name}"):
            if not self.path().exists():
                seed = self._read(self.seed).to_dict("records") if self.seed else []
                self._write([self.parse(r) for r in seed], [])
                self._offered_path().write_text("\n".join(str(r[self.key]) for r in seed) + "\n")

    def _offered_path(self) -> Path:
        """Beside the file: the seed ids it has been offered once (`<file>.seeded`)."""
        return self.path().with_name(self.path().name + ".seeded")

    def _offered(self) -> set[str]:
        path = self._offered_path()
        return set(path.read_text().split()) if path.exists() else set(self.first_seed_ids)

    def _top_up(self) -> None:
        """Add the seed records the file has never been offered (a registry seeded before they were bundled).

        A user's edits win: a record already in the file (or set aside) keeps its row as the user left it, and a seed
        record offered once and deleted since is not brought back (the offered ids are kept beside the file)."""
        if not (self.seed and self.first_seed_ids):  # stores opt in by naming their first seed's ids
            return
        seed = self._read(self.seed).to_dict("records")
        new = [r for r in seed if str(r[self.key]) not in self._offered()]
        if not new:
            return
        with self._locked(f"adding new seed records to {self.path().name}"):
            contents = self._parse_rows(self._read(self.path()).to_dict("records"))
            have = {getattr(r, self.key) for r in contents.records} | {r.record_id for r in contents.rejected}
            added = [self.parse(r) for r in new if str(r[self.key]) not in have]
            if added:
                self._write([*contents.records, *added], contents.rejected)
            self._offered_path().write_text("\n".join(sorted(self._offered() | {str(r[self.key]) for r in seed}))
                                            + "\n")

    def _stamps(self) -> tuple:
        """Path, inode, modification time and size of the file, its seed and its offered ids: every write replaces
        the file (os.replace), so a new inode and time."""
        def stamp(path: Path | None) -> tuple | None:
            try:
                st = path.stat()
            except (OSError, AttributeError):
                return None
            return str(path), st.st_ino, st.st_mtime_ns, st.st_size
        return stamp(self.path()), stamp(self.seed), stamp(self._offered_path())

    def version(self) -> tuple:
        """What identifies the records now (read first, so a first use seeds the file): a cache key for results
        computed from them."""
        self.read()
        return self._stamps()

    def read(self) -> Contents:
        """The good records and the rejected rows (seeding the file on first use, and adding seed records bundled
        since the file was seeded: see _top_up). Parsed again only when the files changed (`_stamps`)."""
        hit = self._memo.get(self._stamps())
        if hit is None:
            if not self.path().exists():
                self._seed()
            else:
                self._top_up()
            stamps = self._stamps()  # before reading: a write meanwhile makes the next read parse again
            hit = self._parse_rows(self._read(self.path()).to_dict("records"))
            # kept only for a file unchanged for two seconds: file times tick in steps of a few milliseconds, so
            # an edit in place within the same step would keep the same stamp
            if stamps[0] and time.time_ns() - stamps[0][2] > 2_000_000_000:
                self._memo = {stamps: hit}
        return Contents(list(hit.records), list(hit.rejected))

    def problems(self) -> list[str]:
        """One line per rejected row of the file, naming the file, the row and the reason."""
        return [f"{self.path().name} {r}" for r in self.read().rejected]

    def load(self) -> list:
        """The good records. Each rejected row is also logged as a warning, once per process: the command line
        shows it as one line on stderr; pages show `problems()` themselves."""
        contents = self.read()
        for r in contents.rejected:
            line = f"warning: {self.path().name} {r} (set aside; the row stays in the file)"
            if line not in _reported:
                _reported.add(line)
                log.warning(line)
        return contents.records

    def _write(self, records: list, rejected: list[Rejected]) -> None:
        """Write records and the rejected rows; callers hold the lock. Refuses records that load would reject."""
        rows = [self.parse(r.row()).row() for r in records]
        ids = [row[self.key] for row in rows]
        if len(set(ids)) < len(ids):
            raise RegistryError(f"{self.key} {sorted({i for i in ids if ids.count(i) > 1})[0]} appears twice")
        rows += [{c: r.raw.get(c, "") for c in self.columns} for r in rejected]
        path = self.path()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
        pd.DataFrame(rows, columns=self.columns).to_csv(tmp, index=False)
        os.replace(tmp, path)

    def save(self, records: list) -> None:
        """Replace the file's records with these; its rejected rows stay unless one of these has the same id."""
        with self._locked(f"saving {self.path().name}"):
            ids = {getattr(r, self.key) for r in records}
            kept = self.read().rejected if self.path().exists() else []
            self._write(records, [r for r in kept if r.record_id not in ids])

    def get(self, record_id: str):
        """The record with this id. The RegistryError says whether the id is unknown or its row is set aside (and why),
        so a bad row in the file is not mistaken for a missing record."""
        contents = self.read()
        for r in contents.records:
            if getattr(r, self.key) == record_id:
                return r
        for r in contents.rejected:
            if r.record_id == record_id:
                raise RegistryError(f"{self.key[:-3]} {record_id!r} is set aside: {r}")
        raise RegistryError(f"no {self.key[:-3]} {record_id!r}")

    def upsert(self, record) -> None:
        """Add or replace one record (replacing a rejected row with the same id too)."""
        rid = getattr(record, self.key)
        with self._locked(f"saving {rid} to {self.path().name}"):
            contents = self.read()
            self._write([*[r for r in contents.records if getattr(r, self.key) != rid], record],
                        [r for r in contents.rejected if r.record_id != rid])

    def delete(self, record_id: str) -> None:
        """Remove a record, or rejected rows, with this id."""
        with self._locked(f"deleting {record_id} from {self.path().name}"):
            contents = self.read()
            if record_id not in {getattr(r, self.key) for r in contents.records} | {
                    r.record_id for r in contents.rejected}:
                raise RegistryError(f"no {self.key[:-3]} {record_id!r}")
            self._write([r for r in contents.records if getattr(r, self.key) != record_id],
                        [r for r in contents.rejected if r.record_id != record_id])

    def export_csv(self) -> str:
        """The good records as CSV (rejected rows stay in the file, not in exports)."""
        return pd.DataFrame([r.row() for r in self.load()], columns=self.columns).to_csv(index=False)

    def import_csv(self, text: str, validate: Callable | None = None) -> tuple[int, list[str]]:
        """Add or update records from CSV text. Good rows are saved; bad rows, and rows repeating an earlier row's
        id, come back with reasons ("row 3: event_id x repeats row 1") and change nothing."""
        parsed = self._parse_rows(self._read(io.StringIO(text)).to_dict("records"), validate)
        if parsed.records:
            with self._locked(f"importing into {self.path().name}"):
                contents = self.read()
                new = {getattr(r, self.key) for r in parsed.records}
                self._write([*[r for r in contents.records if getattr(r, self.key) not in new], *parsed.records],
                            [r for r in contents.rejected if r.record_id not in new])
        return len(parsed.records), [str(r) for r in parsed.rejected]


def _problem(error: dict) -> str:
    """One pydantic error in plain words: "field: message" (model-level checks name their own fields)."""
    where = ".".join(map(str, error["loc"]))
    message = error["msg"].removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def _shown_id(value) -> str:
    """A record id as typed, safe to show: one line, at most 80 characters."""
    text = " ".join(clean_text(value).split())
    return text if len(text) <= 80 else text[:80] + "…"


EVENTS = Store(CanvassEvent, "event_id", COLUMNS, "KC_VIOLENCE_REGISTRY", DATA_DIR / "registry" / "canvass_events.csv",
               SEED, FIRST_SEED_IDS)
parse, load, save, get, upsert, delete = EVENTS.parse, EVENTS.load, EVENTS.save, EVENTS.get, EVENTS.upsert, EVENTS.delete
export_csv, import_csv, read, problems = EVENTS.export_csv, EVENTS.import_csv, EVENTS.read, EVENTS.problems
