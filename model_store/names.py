"""Which proper names occur in which play, and who speaks in each: an export's name record (names.json).

A proper name is a word of the lexicon the plays write capitalised in mid-sentence and (almost) never in lower
case, by the lexicon's own rule (`WordRules`): "Bassanio", "Rome's", "Jove". The record lists, for each name and
each speaker, the plays it occurs in or speaks in. A speech by a speaker the record knows may use the names of
that speaker's plays and the names of COMMON_PLAYS plays or more (gods, classical figures, "I" and "O"); the
mask that holds him to it is model_store/rules/names.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from model_store import jsonfile
from model_store.lexicon import TITLE_MID, Lexicon, WordRules, words
from model_store.playscript import speeches

COMMON_PLAYS = 5  # a name in this many plays or more is anyone's (Jove, Caesar, Hercules)


class NamesError(ValueError):
    """A names file or value that cannot be used."""


def is_name(entry: list[int], min_count: int) -> bool:
    """A word the plays capitalise in mid-sentence and generation may never write in lower case."""
    return entry[TITLE_MID] > 0 and not WordRules.of(entry, min_count).lower


@dataclass(frozen=True)
class NameRecord:
    """The plays, by name; for each proper name (lower case) and each speaker, the plays (indices) it is in."""

    plays: tuple[str, ...]
    names: dict[str, tuple[int, ...]]
    speakers: dict[str, tuple[int, ...]]

    @classmethod
    def of_plays(cls, plays: Iterable[tuple[str, str]], lexicon: Lexicon) -> NameRecord:
        """The record of play-script texts, by (play name, text), for the names of `lexicon` (the export's)."""
        found: dict[str, set[str]] = {}  # play -> its names
        speakers: dict[str, set[str]] = {}  # play -> who speaks in it
        for play, text in plays:
            said = list(speeches(text))
            found.setdefault(play, set()).update(w.lower() for s in said for line in s.lines for w in words(line))
            speakers.setdefault(play, set()).update(s.speaker for s in said)
        names = {w for w, entry in lexicon.counts.items() if w in lexicon and is_name(entry, lexicon.min_count)}
        order = list(found)
        return cls(
            tuple(order),
            _by_play({play: found[play] & names for play in order}, order),
            _by_play(speakers, order),
        )

    def merged(self, other: NameRecord, lexicon: Lexicon, base: Lexicon | None) -> NameRecord:
        """This record (a base model's) extended by another's plays (a fine-tune's), for the merged `lexicon`.

        A name is kept if it still is one; a word the base could use but did not list as a name stays unlisted
        (its plays in the base are not known), so it stays anyone's.
        """
        order = list(dict.fromkeys([*self.plays, *other.plays]))
        index = {play: i for i, play in enumerate(order)}

        def union(mine: dict[str, tuple[int, ...]], theirs: dict[str, tuple[int, ...]]) -> dict[str, set[str]]:
            by_key: dict[str, set[str]] = {}
            for record, table in ((self, mine), (other, theirs)):
                for key, plays in table.items():
                    by_key.setdefault(key, set()).update(record.plays[i] for i in plays)
            return by_key

        names = union(self.names, other.names)
        for word in list(names):
            unlisted = base is not None and word in base and word not in self.names
            if word not in lexicon or not is_name(lexicon.counts[word], lexicon.min_count) or unlisted:
                del names[word]
        speakers = union(self.speakers, other.speakers)
        as_indices = {key: tuple(sorted(index[p] for p in plays)) for key, plays in names.items()}
        return NameRecord(
            tuple(order),
            dict(sorted(as_indices.items())),
            {key: tuple(sorted(index[p] for p in plays)) for key, plays in sorted(speakers.items())},
        )

    def banned(self, speaker: str) -> frozenset[str] | None:
        """The names `speaker` may not use: of none of his plays and of fewer than COMMON_PLAYS; None: unknown."""
        plays = self.speakers.get(speaker)
        if plays is None:
            return None
        own = set(plays)
        return frozenset(w for w, where in self.names.items() if len(where) < COMMON_PLAYS and own.isdisjoint(where))

    def to_json(self) -> str:
        obj = {"plays": list(self.plays), "names": self.names, "speakers": self.speakers}
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n"

    @classmethod
    def from_json(cls, data: str | bytes) -> NameRecord:
        obj = jsonfile.loads(data, "names file", NamesError)
        if not isinstance(obj, dict) or not all(isinstance(obj.get(k), t) for k, t in _FIELDS.items()):
            raise NamesError("names JSON must be an object with a plays list and names and speakers objects")
        plays = obj["plays"]
        if not all(isinstance(p, str) and p for p in plays) or len(set(plays)) != len(plays):
            raise NamesError("names plays must be distinct non-empty strings")
        for field in ("names", "speakers"):
            for key, where in obj[field].items():
                indices = isinstance(where, list) and all(isinstance(i, int) and 0 <= i < len(plays) for i in where)
                if not indices or not where or not key.strip():
                    raise NamesError(f"names {field} entry {key[:40]!r}: {where!r} is not a list of play indices")
        for name in obj["names"]:
            if not words(name) == [name] or name != name.lower():
                raise NamesError(f"names entry {name[:40]!r} is not a lower-case word")
        as_tuples = {f: {k: tuple(v) for k, v in obj[f].items()} for f in ("names", "speakers")}
        return cls(tuple(plays), as_tuples["names"], as_tuples["speakers"])


_FIELDS = {"plays": list, "names": dict, "speakers": dict}


def _by_play(members: dict[str, set[str]], order: list[str]) -> dict[str, tuple[int, ...]]:
    """{play: its members} turned round: {member: indices of its plays}, in order."""
    where: dict[str, list[int]] = {}
    for i, play in enumerate(order):
        for member in members.get(play, ()):
            where.setdefault(member, []).append(i)
    return {member: tuple(plays) for member, plays in sorted(where.items())}
