"""The canvass registry: outreach events, kept as user data that survives every rebuild.

Events live in a CSV file outside the incident database (data/registry/canvass_events.csv,
or `KC_VIOLENCE_REGISTRY`), written atomically. The first use seeds it with the real
events in data/reference/canvass_events_seed.csv. Validation is pydantic's.
"""

from __future__ import annotations

import io
import os
import re
from datetime import date
from pathlib import Path
from typing import Literal

import pandas as pd
import shapely
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from analytics import geometry
from analytics.settings import DATA_DIR, REFERENCE_DIR

SEED = REFERENCE_DIR / "canvass_events_seed.csv"
COLUMNS = ["event_id", "name", "start_date", "end_date", "date_confirmed", "organisations", "footprint_type",
           "neighborhoods", "line_wkt", "corridor_width_m", "point_lon", "point_lat", "radius_m", "doors_knocked",
           "contacts", "notes", "source"]
EARLIEST, LATEST_YEARS_AHEAD = date(2000, 1, 1), 2


class RegistryError(ValueError):
    """An event or a registry file that cannot be accepted; the message says why."""


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

    @model_validator(mode="after")
    def _complete(self):
        needs = {"neighborhoods": ["neighborhoods"], "corridor": ["line_wkt", "corridor_width_m"],
                 "point": ["point_lon", "point_lat", "radius_m"]}[self.footprint_type]
        missing = [n for n in needs if getattr(self, n) in (None, [], "")]
        if missing:
            raise ValueError(f"a {self.footprint_type} footprint needs {', '.join(missing)}")
        if self.footprint_type == "corridor":
            try:
                line = shapely.from_wkt(self.line_wkt)
            except shapely.errors.GEOSException as exc:
                raise ValueError(f"line_wkt is not a valid WKT line: {exc}") from exc
            if line.geom_type != "LineString":
                raise ValueError("line_wkt must be a LINESTRING")
        return self

    def footprint(self) -> shapely.Geometry | None:
        """The footprint as a lon/lat polygon (None for a neighborhoods footprint: see areas)."""
        if self.footprint_type == "corridor":
            return geometry.buffer_m(shapely.from_wkt(self.line_wkt), self.corridor_width_m)
        if self.footprint_type == "point":
            return geometry.circle(self.point_lon, self.point_lat, self.radius_m)
        return None

    def row(self) -> dict:
        data = self.model_dump()
        data["neighborhoods"] = "|".join(self.neighborhoods)
        return data


class CanvassEvent(Footprint):
    """One outreach event."""

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

    @field_validator("name", "organisations", "notes", "source", mode="before")
    @classmethod
    def _text(cls, value):
        return clean_text(value)

    @field_validator("date_confirmed", mode="before")
    @classmethod
    def _flag(cls, value):
        return False if _blank(value) else value

    @model_validator(mode="after")
    def _dates(self):
        today = date.today()
        for d in (self.start_date, self.end_date):
            if d is not None and not EARLIEST <= d <= today.replace(year=today.year + LATEST_YEARS_AHEAD):
                raise ValueError(f"date {d} is outside {EARLIEST.year} to {today.year + LATEST_YEARS_AHEAD}")
        if self.end_date and not self.start_date:
            raise ValueError("an end date needs a start date")
        if self.end_date and self.start_date and self.end_date < self.start_date:
            raise ValueError(f"end date {self.end_date} is before start date {self.start_date}")
        if self.date_confirmed and not self.start_date:
            raise ValueError("a confirmed date needs a start date")
        return self

    @property
    def evaluable(self) -> bool:
        return self.start_date is not None


def clean_text(value) -> str:
    """Free text from forms and files: control characters removed, trimmed."""
    return "" if _blank(value) else re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", "", str(value)).strip()


def check_inside_city(event: Footprint, city: shapely.Geometry, known_neighborhoods: set[str]) -> None:
    """Footprints must name known neighborhoods or lie (mostly) inside the city."""
    if event.footprint_type == "neighborhoods":
        unknown = [n for n in event.neighborhoods if n not in known_neighborhoods]
        if unknown:
            raise RegistryError(f"unknown neighborhood(s): {', '.join(unknown)}")
        return
    shape = event.footprint()
    if shape is None or not shape.intersects(city) or shape.intersection(city).area < 0.5 * shape.area:
        raise RegistryError("the footprint is not inside Kansas City")


class Store:
    """A small CSV file of validated records, written atomically; seeded from a bundled file on first use."""

    def __init__(self, model: type[BaseModel], key: str, columns: list[str], env: str, default: Path,
                 seed: Path | None = None):
        self.model, self.key, self.columns, self.env, self.default, self.seed = model, key, columns, env, default, seed

    def path(self) -> Path:
        override = os.environ.get(self.env)
        return Path(override) if override else self.default

    def parse(self, raw: dict):
        """A dict (form or CSV row) -> record, or RegistryError with every problem named."""
        clean = {k: (None if _blank(v) or v == "" else v) for k, v in raw.items() if k in self.columns}
        try:
            return self.model(**clean)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'record'}: {e['msg']}" for e in exc.errors())
            raise RegistryError(f"{raw.get(self.key) or 'record'}: {problems}") from exc

    def _read(self, source) -> pd.DataFrame:
        frame = pd.read_csv(source, dtype=str, keep_default_na=False)
        missing = [c for c in (self.key, "footprint_type") if c not in frame.columns]
        if missing:
            raise RegistryError(f"not a {self.key[:-3]} file: missing column(s) {', '.join(missing)}")
        return frame

    def load(self) -> list:
        path = self.path()
        if not path.exists():
            seed = self._read(self.seed).to_dict("records") if self.seed else []
            self.save([self.parse(r) for r in seed])
        return [self.parse(r) for r in self._read(path).to_dict("records")]

    def save(self, records: list) -> None:
        path = self.path()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
        pd.DataFrame([r.row() for r in records], columns=self.columns).to_csv(tmp, index=False)
        os.replace(tmp, path)

    def get(self, record_id: str):
        for r in self.load():
            if getattr(r, self.key) == record_id:
                return r
        raise RegistryError(f"no {self.key[:-3]} {record_id!r}")

    def upsert(self, record) -> None:
        rid = getattr(record, self.key)
        self.save([*[r for r in self.load() if getattr(r, self.key) != rid], record])

    def delete(self, record_id: str) -> None:
        records = self.load()
        if not any(getattr(r, self.key) == record_id for r in records):
            raise RegistryError(f"no {self.key[:-3]} {record_id!r}")
        self.save([r for r in records if getattr(r, self.key) != record_id])

    def export_csv(self) -> str:
        return pd.DataFrame([r.row() for r in self.load()], columns=self.columns).to_csv(index=False)

    def import_csv(self, text: str, validate=None) -> tuple[int, list[str]]:
        """Add or update records from CSV text. Good rows are saved; bad rows come back with reasons."""
        frame = self._read(io.StringIO(text))
        accepted, problems = [], []
        for i, raw in enumerate(frame.to_dict("records"), start=1):
            try:
                record = self.parse(raw)
                if validate:
                    validate(record)
                accepted.append(record)
            except RegistryError as exc:
                problems.append(f"row {i}: {exc}")
        if accepted:
            keep = {getattr(r, self.key): r for r in self.load()}
            keep.update({getattr(r, self.key): r for r in accepted})
            self.save(list(keep.values()))
        return len(accepted), problems


EVENTS = Store(CanvassEvent, "event_id", COLUMNS, "KC_VIOLENCE_REGISTRY", DATA_DIR / "registry" / "canvass_events.csv",
               SEED)
parse, load, save, get, upsert, delete = EVENTS.parse, EVENTS.load, EVENTS.save, EVENTS.get, EVENTS.upsert, EVENTS.delete
export_csv, import_csv = EVENTS.export_csv, EVENTS.import_csv
