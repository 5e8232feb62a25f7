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


def registry_path() -> Path:
    override = os.environ.get("KC_VIOLENCE_REGISTRY")
    return Path(override) if override else DATA_DIR / "registry" / "canvass_events.csv"


class CanvassEvent(BaseModel):
    """One outreach event. Footprint: neighborhoods, a corridor (line + width) or a point and radius."""

    event_id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{2,79}$")
    name: str = Field(min_length=3, max_length=200)
    start_date: date | None = None
    end_date: date | None = None
    date_confirmed: bool = False
    organisations: str = Field(default="", max_length=500)
    footprint_type: Literal["neighborhoods", "corridor", "point"]
    neighborhoods: list[str] = Field(default_factory=list)
    line_wkt: str | None = None
    corridor_width_m: float | None = Field(default=None, gt=0, le=1000)
    point_lon: float | None = None
    point_lat: float | None = None
    radius_m: float | None = Field(default=None, gt=0, le=5000)
    doors_knocked: int | None = Field(default=None, ge=0, le=1_000_000)
    contacts: int | None = Field(default=None, ge=0, le=1_000_000)
    notes: str = Field(default="", max_length=4000)
    source: str = Field(default="", max_length=1000)

    @field_validator("name", "organisations", "notes", "source", mode="before")
    @classmethod
    def _text(cls, value):
        text = "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)
        return re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", "", text).strip()

    @field_validator("date_confirmed", mode="before")
    @classmethod
    def _flag(cls, value):
        return False if value is None or (isinstance(value, float) and pd.isna(value)) else value

    @field_validator("neighborhoods", mode="before")
    @classmethod
    def _split(cls, value):
        if value is None or (isinstance(value, float) and pd.isna(value)):
            return []
        return [v.strip() for v in value.split("|") if v.strip()] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _consistent(self):
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

    @property
    def evaluable(self) -> bool:
        return self.start_date is not None

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


def check_inside_city(event: CanvassEvent, city: shapely.Geometry, known_neighborhoods: set[str]) -> None:
    """Footprints must name known neighborhoods or lie (mostly) inside the city."""
    if event.footprint_type == "neighborhoods":
        unknown = [n for n in event.neighborhoods if n not in known_neighborhoods]
        if unknown:
            raise RegistryError(f"{event.event_id}: unknown neighborhood(s): {', '.join(unknown)}")
        return
    shape = event.footprint()
    if shape is None or not shape.intersects(city) or shape.intersection(city).area < 0.5 * shape.area:
        raise RegistryError(f"{event.event_id}: the footprint is not inside Kansas City")


def parse(raw: dict) -> CanvassEvent:
    """A dict (form or CSV row) -> event, or RegistryError with every problem named."""
    clean = {k: (None if (isinstance(v, float) and pd.isna(v)) or v == "" else v) for k, v in raw.items()
             if k in COLUMNS}
    try:
        return CanvassEvent(**clean)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'event'}: {e['msg']}" for e in exc.errors())
        raise RegistryError(f"{raw.get('event_id') or 'event'}: {problems}") from exc


def _read_csv(source) -> pd.DataFrame:
    frame = pd.read_csv(source, dtype=str, keep_default_na=False)
    missing = [c for c in ("event_id", "name", "footprint_type") if c not in frame.columns]
    if missing:
        raise RegistryError(f"not a canvass registry file: missing column(s) {', '.join(missing)}")
    return frame


def load() -> list[CanvassEvent]:
    """All events, seeding the registry file with the real events on first use."""
    path = registry_path()
    if not path.exists():
        save([parse(r) for r in _read_csv(SEED).to_dict("records")])
    return [parse(r) for r in _read_csv(path).to_dict("records")]


def save(events: list[CanvassEvent]) -> None:
    """Write the whole registry atomically (a kill mid-write never leaves a broken file)."""
    path = registry_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    pd.DataFrame([e.row() for e in events], columns=COLUMNS).to_csv(tmp, index=False)
    os.replace(tmp, path)


def get(event_id: str) -> CanvassEvent:
    for e in load():
        if e.event_id == event_id:
            return e
    raise RegistryError(f"no event {event_id!r}")


def upsert(event: CanvassEvent) -> None:
    events = [e for e in load() if e.event_id != event.event_id]
    save([*events, event])


def delete(event_id: str) -> None:
    events = load()
    if not any(e.event_id == event_id for e in events):
        raise RegistryError(f"no event {event_id!r}")
    save([e for e in events if e.event_id != event_id])


def export_csv() -> str:
    return pd.DataFrame([e.row() for e in load()], columns=COLUMNS).to_csv(index=False)


def import_csv(text: str, validate=None) -> tuple[int, list[str]]:
    """Add or update events from CSV text. Good rows are saved; bad rows come back with reasons."""
    frame = _read_csv(io.StringIO(text))
    accepted, problems = [], []
    for i, raw in enumerate(frame.to_dict("records"), start=1):
        try:
            event = parse(raw)
            if validate:
                validate(event)
            accepted.append(event)
        except RegistryError as exc:
            problems.append(f"row {i}: {exc}")
    if accepted:
        keep = {e.event_id: e for e in load()}
        keep.update({e.event_id: e for e in accepted})
        save(list(keep.values()))
    return len(accepted), problems
