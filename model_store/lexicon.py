"""The words of the plays, with how often and in which case each is written: what "a real word" means.

A word is a run of letters with inner apostrophes ("o'er", "I'll"), and an apostrophe may open or close
it ("'tis", "th'"). A hyphen joins two words ("to-night" is "to" and "night"). For each word, written in
lower case, the lexicon counts its uses: in all, in lower case, capitalised in mid-sentence, and in
capitals. The counts are kept for every word, so that fine-tuning on new plays can add to them; which
words generation may use, and how it may write them, is decided from them (see `WordRules`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from model_store import jsonfile

WORD = re.compile(r"'?[A-Za-z]+(?:'[A-Za-z]+)*'?")
SENTENCE_END = ".!?"
MIN_COUNT = 3  # a word seen fewer times is left out: one-off words pull sampling into rare forms
# Indices into a word's counts.
TOTAL, LOWER, TITLE_MID, UPPER = range(4)


class LexiconError(ValueError):
    """A lexicon file or value that cannot be used."""


def words(text: str) -> list[str]:
    """The words of a text, as written (hyphenated compounds are several words)."""
    return WORD.findall(text)


def _case_counts(line: str) -> Iterable[tuple[str, int]]:
    """(word in lower case, which case count it adds to, or -1) for each word of a line of speech."""
    for match in WORD.finditer(line):
        word = match.group()
        letters = word.replace("'", "")
        before = line[: match.start()].rstrip(" \"'(")
        at_capital = before == "" or before[-1] in SENTENCE_END
        if letters.islower():
            kind = LOWER
        elif letters.isupper() and len(letters) > 1:
            kind = UPPER
        elif letters[0].isupper() and (len(letters) == 1 or letters[1:].islower()):
            kind = -1 if at_capital else TITLE_MID  # any word may be capitalised where a sentence or line starts
        else:
            kind = -1  # mixed case ("McDuff"): counted, but says nothing about case
        yield word.lower(), kind


@dataclass
class Lexicon:
    """Word -> [uses, lower-case uses, capitalised mid-sentence, in capitals]."""

    counts: dict[str, list[int]] = field(default_factory=dict)
    min_count: int = MIN_COUNT

    @classmethod
    def from_lines(cls, lines: Iterable[str], *, min_count: int = MIN_COUNT) -> Lexicon:
        """Count the words of lines of speech (not speaker lines, headings or stage-direction lines)."""
        lexicon = cls(min_count=min_count)
        counts = lexicon.counts
        for line in lines:
            for word, kind in _case_counts(line):
                entry = counts.setdefault(word, [0, 0, 0, 0])
                entry[TOTAL] += 1
                if kind >= 0:
                    entry[kind] += 1
        return lexicon

    def merged(self, other: Lexicon) -> Lexicon:
        """Both lexicons' counts added up (fine-tuning on new plays extends the base model's lexicon)."""
        counts = {w: list(c) for w, c in self.counts.items()}
        for word, extra in other.counts.items():
            entry = counts.setdefault(word, [0, 0, 0, 0])
            for i, n in enumerate(extra):
                entry[i] += n
        return Lexicon(counts, min_count=self.min_count)

    def count(self, word: str) -> int:
        entry = self.counts.get(word.lower())
        return entry[TOTAL] if entry else 0

    def __contains__(self, word: object) -> bool:
        """A word generation may use: seen at least min_count times."""
        return isinstance(word, str) and self.count(word) >= self.min_count

    def to_json(self) -> str:
        ordered = dict(sorted(self.counts.items()))
        return json.dumps({"min_count": self.min_count, "counts": ordered}, separators=(",", ":")) + "\n"

    @classmethod
    def from_json(cls, data: str | bytes) -> Lexicon:
        obj = jsonfile.loads(data, "lexicon", LexiconError)
        if not isinstance(obj, dict) or not isinstance(obj.get("counts"), dict):
            raise LexiconError("lexicon JSON must be an object with a counts object")
        min_count = obj.get("min_count")
        if not isinstance(min_count, int) or min_count < 1:
            raise LexiconError("lexicon min_count must be a positive integer")
        counts = obj["counts"]
        for word, entry in counts.items():
            if not WORD.fullmatch(word) or word != word.lower():
                raise LexiconError(f"lexicon entry {word[:40]!r} is not a lower-case word")
            if not (isinstance(entry, list) and len(entry) == 4 and all(isinstance(n, int) and n >= 0 for n in entry)):
                raise LexiconError(f"lexicon entry {word!r} must hold four counts")
        return cls(counts, min_count=min_count)


@dataclass(frozen=True)
class WordRules:
    """How generation may write a word of the lexicon, decided from its counts."""

    lower: bool  # in lower case ("the", "sweet"); not for names, which the plays never write so
    title_anywhere: bool  # capitalised in mid-sentence ("Hamlet", "I", "O"); any word may be where a sentence starts
    upper: bool  # in capitals ("I'LL" is rare; a word the plays shout often enough)

    @classmethod
    def of(cls, entry: list[int], min_count: int) -> WordRules:
        total, lower, title_mid, upper = entry
        # Thresholds: a stray lower-case name or a capitalised common word in the sources is not a licence.
        return cls(
            lower=lower * 20 >= total,
            title_anywhere=title_mid > 0 and title_mid * 3 >= lower + title_mid,
            upper=upper >= min_count,
        )
