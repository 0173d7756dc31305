"""What each word rhymes on: an export's rhyme record (rhymes.json), beside its metre.

A word's rhyme part is its sounds from the last stressed vowel on, stress marks dropped: "day" and "away" both
end in "EY", "eyes" and "lies" in "AY Z", "love" in "AH V" and "prove" in "UW V". The parts of the training plays'
words come from the CMU pronouncing dictionary at export time (training/rhyme_data.py), one per pronunciation,
and travel with the model, so serving needs no dictionary. A word the dictionary lacks ("o'er", "call'd") gets
an estimate from its spelling, flagged as such (a part starting with "~"); the decoding rules never choose such a
word to make a rhyme (model_store/rules/rhyme.py). Two different words rhyme when they share a part.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from model_store import jsonfile

ESTIMATE = "~"  # opens a part estimated from spelling
_PART = re.compile(r"[A-Z]+(?: [A-Z]+)*|~[a-z']+")
_VOWELS = re.compile(r"[aeiouy]+")


def _is_part(part: object) -> bool:
    return isinstance(part, str) and _PART.fullmatch(part) is not None


class RhymesError(ValueError):
    """A rhyme file or value that cannot be used."""


def rhyme_part(phones: list[str]) -> str:
    """The sounds of a pronunciation (CMU phones, "AH0") from its last stressed vowel on (or its last vowel, where
    none is stressed), without stress marks."""
    vowels = [i for i, p in enumerate(phones) if p[-1].isdigit()]
    stressed = [i for i in vowels if phones[i][-1] in "12"] or vowels or [0]
    return " ".join(p.rstrip("012") for p in phones[stressed[-1] :])


def spelled_part(word: str) -> str:
    """A part estimated from spelling: the letters from the last group of vowels on ("o'er" ~er, "call'd" ~alld)."""
    letters = word.strip("'").replace("'", "")
    groups = list(_VOWELS.finditer(letters))
    start = groups[-1].start() if groups else 0
    if len(groups) > 1 and letters.endswith("e") and groups[-1].group() == "e" and start == len(letters) - 1:
        start = groups[-2].start()  # a silent final e: "ere" ~ere
    return ESTIMATE + (letters[start:] or word)


@dataclass
class Rhymes:
    """Word (lower case, as the lexicon writes it) -> its rhyme parts; estimated: those guessed from spelling."""

    parts: dict[str, list[str]] = field(default_factory=dict)

    def of(self, word: str) -> list[str]:
        """A word's rhyme parts (its spelling's estimate when the record lacks it)."""
        return self.parts.get(word.lower()) or [spelled_part(word.lower())]

    def estimated(self, word: str) -> bool:
        """Whether the word's parts are an estimate from spelling, not the dictionary's."""
        return any(part.startswith(ESTIMATE) for part in self.of(word))

    def rhyme(self, first: str, second: str) -> bool:
        """Whether two words rhyme: different words sharing a part (an estimated part counts only as itself)."""
        a, b = first.lower(), second.lower()
        return a != b and bool(set(self.of(a)) & set(self.of(b)))

    def to_json(self) -> str:
        ordered = dict(sorted(self.parts.items()))
        return json.dumps({"parts": ordered}, separators=(",", ":")) + "\n"

    @classmethod
    def from_json(cls, data: str | bytes) -> Rhymes:
        parts = jsonfile.word_lists(
            data, "rhymes", "parts", RhymesError, _is_part, "rhyme parts (sounds such as 'EY' or '~er')"
        )
        return cls(parts)
