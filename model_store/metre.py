"""Syllables and stress of words, and the rules of the bard's blank verse: which word may stand where in a line.

A word has one or more readings, each a string of stress marks, one per syllable: "1" stressed, "0" unstressed,
"2" either (secondary stress, or a syllable that may be promoted). "heaven" reads "10" or, elided, "1";
"th'" reads "" (no syllable of its own). The readings of the training plays' words come from the CMU
pronouncing dictionary at export time (training/metre_data.py) and travel with the model as metre.json;
a word it lacks gets `estimate()`'s rule-based guess, here, so serving needs no dictionary.

The template (iambic pentameter) has syllable positions 0..10: even positions are offbeats, odd ones beats.
A reading fits when it starts at position p if:
- its syllables end by position 10, or 11 when the eleventh is a feminine ending: the unstressed last
  syllable of a word of two or more ("question"), never a monosyllable of its own;
- in a word of two or more syllables, a "1" stands on a beat and a "0" on an offbeat ("2" anywhere);
  a monosyllable fits either beat;
- the first foot (positions 0 and 1) may be inverted: any stress goes there.
A line scans when its words' readings, one each, fill exactly 10 or 11 positions, each fitting where it falls.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from model_store import jsonfile

LINE = 10  # syllables in a line of blank verse
LONGEST = 11  # with a feminine ending
LINE_ENDS = 1 << LINE | 1 << LONGEST  # bit 10 or 11: the line may end here
_READING = re.compile(r"[012]{0,8}")
_VOWELS = re.compile(r"[aeiouy]+")
_STRESS_SECOND = re.compile(r"(?:be|de|re|un|for|with|mis|dis)[^aeiouy]")  # prefixes that take no stress


def _is_reading(reading: object) -> bool:
    return isinstance(reading, str) and _READING.fullmatch(reading) is not None


class MetreError(ValueError):
    """A metre file or value that cannot be used."""


def fits(reading: str, start: int) -> bool:
    """Whether a word read so may start at syllable position `start` of a line (see the module's rules)."""
    end = start + len(reading)
    if start > LINE or end > LONGEST:
        return False
    if len(reading) <= 1:
        return start < LINE  # a lone eleventh syllable is no feminine ending; "th'" needs a word after it
    for position, stress in enumerate(reading, start):
        if position <= 1 or stress == "2":
            continue  # the first foot may be inverted; secondary stress goes anywhere
        if (stress == "1") != (position % 2 == 1):
            return False
    return True


def after(readings: Iterable[str], starts: int) -> int:
    """The positions (bits) a word can end at, from any of the positions (bits) `starts`, read any way that fits."""
    ends = 0
    for reading in readings:
        for start in range(LONGEST):
            if starts >> start & 1 and fits(reading, start):
                ends |= 1 << (start + len(reading))
    return ends


def estimate(word: str) -> list[str]:
    """Readings by rule for a word the dictionary lacks ("o'er", "call'd", "beauteous", "th'"): syllables are
    groups of vowels, a final silent "e" aside; "-eous", "-ious" may also be one syllable less; stress falls on
    the first syllable, or the second after a prefix such as "be-" or "un-"."""
    letters = word.lower().strip("'").replace("'", "")
    groups = _VOWELS.findall(letters)
    count = len(groups)
    if count > 1 and letters.endswith("e") and not letters.endswith(("le", "ee", "ye")) and groups[-1] == "e":
        count -= 1  # "more", "ere": a silent e
    if count == 0:
        return [""]  # "th'": no vowel, no syllable of its own
    counts = [count]
    if re.search(r"[ei](?:ou|a|o)", letters):
        counts.append(count + 1)  # "beauteous": be-au-te-ous's three syllables, or by synaeresis two
    stressed = 1 if _STRESS_SECOND.match(letters) else 0
    return ["".join("1" if i == min(stressed, n - 1) else "0" for i in range(n)) for n in counts]


@dataclass
class Metre:
    """Word (lower case, as the lexicon writes it) -> its readings."""

    readings: dict[str, list[str]] = field(default_factory=dict)

    def of(self, word: str) -> list[str]:
        """A word's readings: the dictionary's, or else the estimate."""
        return self.readings.get(word.lower()) or estimate(word)

    def to_json(self) -> str:
        ordered = dict(sorted(self.readings.items()))
        return json.dumps({"readings": ordered}, separators=(",", ":")) + "\n"

    @classmethod
    def from_json(cls, data: str | bytes) -> Metre:
        readings = jsonfile.word_lists(
            data, "metre", "readings", MetreError, _is_reading, "readings of stress digits 0, 1, 2"
        )
        return cls(readings)


def scan(line_readings: list[list[str]]) -> tuple[set[int], str | None]:
    """For a line's words (their readings): the syllable counts it can have, and, if it scans, how (its words'
    stresses in a row, "x" for a monosyllable, which fits either beat); None if it does not."""
    counts = {0}
    ways = {0: ""}  # position reached -> one way to reach it
    for readings in line_readings:
        counts = {n + len(r) for n in counts for r in readings}
        ways = {
            start + len(r): way + (r if len(r) > 1 else "x" * len(r))
            for start, way in ways.items()
            for r in readings
            if fits(r, start)
        }
    return counts, ways.get(LINE, ways.get(LONGEST))
