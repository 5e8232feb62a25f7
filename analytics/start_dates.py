"""Editing an event's start date from the Programs page, without destroying dates a source gave us.

A reviewer changed one widget and pressed Save: every event of the Prospect Avenue corridor (three sourced dates,
2019, 2021 and 2023) became 2026-01-01, "confirmed". So the rules here are deliberately narrow:

- a change is planned for the events an editor names, one by one (a program's footprints may start on different
  days), and the plan lists each old -> new value so the page can ask before anything is written;
- a plan that changes nothing is refused, so Save never turns a guessed date into a "confirmed" one by accident;
- a start outside the months the series covers is refused: before its first month there is no before window, and
  after its last month no month can be counted yet (the tracking would misreport it as "too little data before");
- writing re-reads each event and refuses if it changed since the plan was shown (another editor, another tab).

The 2026 council program is stored at its ordinance month until an editor sets the start of outreach, which is not
published; `describe` labels it so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import pandas as pd

from analytics import panel, queries, registry
from analytics.registry import CanvassEvent, RegistryError

#: Programs stored at a stand-in date until an editor sets the real start, and what that stand-in is.
STAND_INS = {"council-2026": (date(2026, 1, 1), "ordinance month, start not published")}
_EDITOR_NOTE = re.compile(r" ?Start set to \d{4}-\d{2}-\d{2} by an editor on \d{4}-\d{2}-\d{2}\.")


class StartRefused(ValueError):
    """A start date the page will not save; the message says why in plain words."""


class NothingToSave(StartRefused):
    """The date and its confirmation are as stored: Save stays off (it once turned a guess into a "confirmed" date)."""


@dataclass(frozen=True)
class Span:
    """The first and last months (first days) the tracked series covers: starts outside them cannot be counted."""
    first: date
    last: date

    @property
    def last_label(self) -> str:
        """The last covered month as a reader says it ("June 2026")."""
        return f"{self.last:%B %Y}"


def span(con) -> Span:
    """The months of the series every Programs view counts (panel.SOURCE with places), first and last."""
    months = sorted(queries.covered_months(con, panel.SOURCE, has_coords=True))
    if not months:
        raise StartRefused(f"the series {panel.SOURCE} has no months with data")
    return Span(months[0].date(), months[-1].date())


def _set_by_editor(event: CanvassEvent) -> bool:
    return bool(_EDITOR_NOTE.search(event.notes))


def describe(event: CanvassEvent) -> str:
    """An event's start as a reader should take it: the date and what it rests on (a source, an editor, or the
    program's stand-in such as the council ordinance month)."""
    if event.start_date is None:
        return "no date"
    stand_in = STAND_INS.get(event.program)
    if not event.date_confirmed and stand_in and stand_in[0] == event.start_date and not _set_by_editor(event):
        return f"{event.start_date:%B %Y} ({stand_in[1]})"
    if event.date_confirmed:
        return f"{event.start_date:%d %B %Y} (confirmed)"
    who = "set by an editor, " if _set_by_editor(event) else ""
    return f"{event.start_date:%d %B %Y} ({who}unconfirmed)"


def after_data(event: CanvassEvent, s: Span) -> str | None:
    """Why an event cannot be tracked yet because it starts after the data, or None."""
    if event.start_date is None or panel.month_of(event.start_date) <= pd.Timestamp(s.last):
        return None
    return (f"{event.name} starts {describe(event)}, after the data's last covered month ({s.last_label}): no month "
            "after its start can be counted yet.")


def problem(day: date | None, s: Span) -> str | None:
    """Why `day` cannot be saved as a start (plain words), or None. The registry's own range applies too."""
    if day is None:
        return "choose a date"
    if panel.month_of(day) > pd.Timestamp(s.last):
        return (f"{day} is after the data's last covered month ({s.last_label}): no month after it could be counted, "
                "so it would be tracked as nothing. Save it once the data reach it.")
    if panel.month_of(day) < pd.Timestamp(s.first):
        return f"{day} is before the data begin ({s.first:%B %Y}): there would be no months before it to compare."
    return queries.date_problem(day, "the start")


@dataclass(frozen=True)
class Change:
    """One event's start as stored and as it would be saved."""
    event_id: str
    name: str
    old_date: date | None
    old_confirmed: bool
    new_date: date
    new_confirmed: bool

    @property
    def overwrites_sourced(self) -> bool:
        """Whether a date a source confirms would be replaced or lose its confirmation."""
        return self.old_confirmed and (self.old_date != self.new_date or not self.new_confirmed)

    def sentence(self) -> str:
        """The change as the confirmation step and the notice after saving show it: name, old -> new."""
        def shown(d: date | None, confirmed: bool) -> str:
            return "no date" if d is None else f"{d} ({'confirmed' if confirmed else 'unconfirmed'})"
        return f"{self.name}: {shown(self.old_date, self.old_confirmed)} → {shown(self.new_date, self.new_confirmed)}"


def plan(events: list[CanvassEvent], event_ids: list[str], day: date | None, confirmed: bool,
         s: Span) -> list[Change]:
    """The changes saving `day` (and the confirmed flag) to the named events would make; StartRefused when the date
    cannot be saved or nothing would change."""
    if not event_ids:
        raise StartRefused("choose the event whose start to change")
    if why := problem(day, s):
        raise StartRefused(why)
    by_id = {e.event_id: e for e in events}
    unknown = [i for i in event_ids if i not in by_id]
    if unknown:
        raise StartRefused(f"no such event: {', '.join(unknown)}")
    changes = [Change(i, by_id[i].name, by_id[i].start_date, by_id[i].date_confirmed, day, bool(confirmed))
               for i in event_ids if (by_id[i].start_date, by_id[i].date_confirmed) != (day, bool(confirmed))]
    if not changes:
        raise NothingToSave("the date and its confirmation are as stored")
    return changes


def apply(changes: list[Change], today: date | None = None) -> list[str]:
    """Write the planned changes, each event re-read first: if one no longer holds the value the plan showed, nothing
    more is written and RegistryError says which. Each event's notes record that an editor set the date."""
    today = today or date.today()
    done = []
    for c in changes:
        e = registry.get(c.event_id)
        if (e.start_date, e.date_confirmed) != (c.old_date, c.old_confirmed):
            raise RegistryError(f"{e.name} changed since the change was shown (now {describe(e)}); "
                                f"{len(done)} saved before it. Review again.")
        notes = _EDITOR_NOTE.sub("", e.notes)
        notes = f"{notes} Start set to {c.new_date:%Y-%m-%d} by an editor on {today:%Y-%m-%d}.".strip()
        registry.upsert(registry.parse({**e.row(), "start_date": c.new_date.isoformat(),
                                        "date_confirmed": c.new_confirmed, "notes": notes}))
        done.append(c.event_id)
    return done
