"""Who speaks in a model's plays, and how often: for choosing and naming the speaker of a monologue."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from model_store import jsonfile

WELL_KNOWN = 20  # speeches: a speaker the model has seen this often is one it can write for by itself
# How a seed names its speaker: "Hamlet: To be", "LADY MACBETH: Out", "First Witch:" (a colon after a name).
_NAMED = re.compile(r"\s*([A-Za-z][A-Za-z'.&-]*(?: [A-Za-z][A-Za-z'.&-]*){0,3}):(?:[ \t]+|\n|$)")


class SpeakersError(ValueError):
    """A speakers file or value that cannot be used."""


@dataclass(frozen=True)
class Speakers:
    """Speaker name, as the plays write it -> number of speeches."""

    counts: dict[str, int]

    @classmethod
    def from_names(cls, names: Iterable[str]) -> Speakers:
        """One name per speech."""
        return cls(dict(Counter(names)))

    def merged(self, other: Speakers) -> Speakers:
        return Speakers(dict(Counter(self.counts) + Counter(other.counts)))

    def well_known(self) -> list[str]:
        """The speakers with WELL_KNOWN speeches or more, most speeches first (all of them if none has that many)."""
        ranked = sorted(self.counts, key=lambda name: (-self.counts[name], name))
        known = [name for name in ranked if self.counts[name] >= WELL_KNOWN]
        return known or ranked

    @cached_property
    def ranked(self) -> list[tuple[str, int]]:
        """(speaker, speeches), most speeches first: sorted once, as every reply's Answer menu reads it."""
        return sorted(self.counts.items(), key=lambda item: (-item[1], item[0]))

    def best(self, limit: int, contains: str = "") -> list[tuple[str, int]]:
        """The `limit` speakers with the most speeches whose name contains `contains` (any case)."""
        needle = contains.strip().lower()
        if not needle:
            return self.ranked[:limit]
        return [(name, n) for name, n in self.ranked if needle in name.lower()][:limit]

    def find(self, name: str) -> str | None:
        """The plays' spelling of a speaker named in any case ("hamlet" -> "HAMLET"), or None if unknown."""
        wanted = " ".join(name.split()).lower()
        matches = [n for n in self.counts if n.lower() == wanted]
        return max(matches, key=lambda n: self.counts[n]) if matches else None

    def spelling(self, name: str) -> str:
        """How to write a speaker: as the plays do, or for a new name in the plays' usual case (capitals)."""
        known = self.find(name)
        if known is not None:
            return known
        name = " ".join(name.split())
        in_capitals = sum(n for s, n in self.counts.items() if s.isupper()) * 2 >= sum(self.counts.values())
        return name.upper() if in_capitals else name

    def split_seed(self, seed: str) -> tuple[str | None, str]:
        """("HAMLET", "To be") for "Hamlet: To be"; (None, seed) when the seed names nobody.

        A known name in any case counts; a new one must be written as a name (each word capitalised). The edges read
        a typed seed with this once (bard-generate, the bot's commands); the engine takes the speaker as a field.
        """
        match = _NAMED.match(seed)
        if match is None:
            return None, seed
        name = match.group(1)
        if self.find(name) is None and not all(word[0].isupper() for word in name.split()):
            return None, seed
        return self.spelling(name), seed[match.end() :]

    def to_json(self) -> str:
        ordered = dict(sorted(self.counts.items(), key=lambda item: (-item[1], item[0])))
        return json.dumps({"speeches": ordered}, ensure_ascii=False, indent=0) + "\n"

    @classmethod
    def from_json(cls, data: str | bytes) -> Speakers:
        obj = jsonfile.loads(data, "speakers file", SpeakersError)
        speeches = obj.get("speeches") if isinstance(obj, dict) else None
        if not isinstance(speeches, dict) or not speeches:
            raise SpeakersError("speakers JSON must be an object with a non-empty speeches object")
        for name, n in speeches.items():
            if not name.strip() or "\n" in name or ":" in name or not isinstance(n, int) or n < 1:
                raise SpeakersError(f"speakers entry {name[:40]!r}: {n!r} is not a name and a positive count")
        return cls(speeches)
