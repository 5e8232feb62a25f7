"""Which columns hold people's names: such columns are dropped as a file is read, for every source.

No name may reach the database, the rejected-rows table, a kept copy of a file or a page (GVA's research scrape has
participant_name; a user's own export may have "VICTIMNAME", "Victim_First" or "SuspectLast"). Headers come in
every spelling, so a header is first cut into lower-case words: camelCase and capitals are split, anything but a
letter separates words, and a run-together word is split into the words below ("victimname" is victim + name).
Then a column holds names when:

- a role (`victim`, `vic`, `suspect`, `susp`, `offender`, `witness`, `complainant`, reporting `party`, ...) stands
  beside a name word or a part of a name, whatever else the header says: `Victim Name/Type`, `VICTIM NAME - CITY`,
  `Victim Name and Zip` and `Vic First` may still carry names, so a place or type word never saves them;
- a word is a name word (`name`, `surname`, `lname`, ...; or ends in "name"), and no word says it names a place or
  thing (`street_name`, `Neighborhood Name`, `location name`, `city name`, `beat name`, `filename`);
- a word is a part of a name (`first`, `last`, `middle`, `given`, ...) beside a role (`victim_last`,
  `SuspectLast`), or alone (a bare `First` or `Last` column): `last_updated` and `first_seen` are not names;
- it is nothing but a role (`Victim`, `Victim(s)`, `suspects_2`): such a column holds who they were, while
  `Victims Killed` and `participant_age` do not.
"""

from __future__ import annotations

import re
from functools import cache

NAME_WORDS = {"name", "names", "nm", "firstname", "lastname", "fullname", "surname", "surnames", "fname", "lname",
              "givenname", "middlename", "nickname", "alias", "aka", "moniker"}
NAME_PARTS = {"first", "last", "middle", "given", "family", "maiden", "full", "initial", "initials"}
#: People a record names ("vic" and "susp" are KCPD's own abbreviations; "party" as in "reporting party").
ROLE_WORDS = {"victim", "vic", "suspect", "susp", "participant", "arrestee", "offender", "decedent", "deceased",
              "shooter", "witness", "complainant", "defendant", "perpetrator", "party"}
NOT_PEOPLE = {"street", "city", "county", "neighborhood", "neighbourhood", "place", "location", "offense", "crime",
              "file", "dataset", "agency", "beat", "division", "district", "area", "zone", "state", "park",
              "business", "premise", "premises", "school", "company", "organization", "organisation", "event",
              "source", "category", "column", "field", "road", "avenue", "block", "venue", "facility", "weapon",
              "code", "type", "program", "project", "council", "zip", "host", "table", "sheet", "layer"}
_VOCABULARY = NAME_WORDS | NAME_PARTS | ROLE_WORDS | {w + "s" for w in ROLE_WORDS} | NOT_PEOPLE


def _segment(word: str) -> list[str]:
    """A run-together word as the known words it is made of ("suspectlast" -> suspect, last), else the word."""
    @cache
    def parts(rest: str) -> tuple[str, ...] | None:
        if rest in _VOCABULARY:
            return (rest,)
        for cut in range(len(rest) - 1, 1, -1):
            if rest[:cut] in _VOCABULARY and (tail := parts(rest[cut:])):
                return (rest[:cut], *tail)
        return None

    return list(parts(word) or (word,))


def words(header: object) -> list[str]:
    """A header as lower-case words: camelCase split, non-letters dropped, run-together words split."""
    text = re.sub(r"\(s\)", "s", str(header), flags=re.IGNORECASE)  # "Victim(s)" is one plural word
    text = re.sub(r"([a-z])([A-Z])", r"\1 \2", text)
    text = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1 \2", text)
    return [part for w in re.split(r"[^a-z]+", text.lower()) if len(w) > 1 for part in _segment(w)]


def _role(word: str) -> bool:
    return any(word == r or word in (r + "s", r + "es") for r in ROLE_WORDS)


def _name_word(word: str) -> bool:
    return word in NAME_WORDS or (word.endswith(("name", "names")) and word not in NOT_PEOPLE)


def holds_names(header: object) -> bool:
    """Whether a column's header says it holds people's names (the rules are in the module's docstring)."""
    ws = words(header)
    if not ws:
        return False
    if any(_role(w) for w in ws) and any(_name_word(w) or w in NAME_PARTS for w in ws):
        return True  # a person's name, whatever place or type word comes with it
    if any(w in NOT_PEOPLE for w in ws):
        return False
    if any(_name_word(w) for w in ws):
        return True
    if any(w in NAME_PARTS for w in ws) and all(w in NAME_PARTS or _role(w) for w in ws):
        return True
    return all(_role(w) for w in ws)


def name_columns(columns) -> list[str]:
    """The columns that hold people's names (see holds_names)."""
    return [c for c in columns if holds_names(c)]
