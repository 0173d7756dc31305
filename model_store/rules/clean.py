"""Clean mode's word list: the bawdy words and oaths a clean reply leaves out, by category (clean_words.txt).

The words are masked, not replaced: the name mask (rules/names.py) bans a word's end in the trie, so the bard never
starts a word it could only finish as a listed one, and the speech, its real words and its metre hold as before.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from model_store.lexicon import Lexicon

WORD_LIST = Path(__file__).with_name("clean_words.txt")
FORMS = ("", "s", "es", "'s", "s'")  # each listed word is kept out with these endings


class CleanListError(ValueError):
    """A clean word list that cannot be used; the message names the file and the line."""


def read_word_list(path: Path = WORD_LIST) -> dict[str, tuple[str, ...]]:
    """The list's words by category, in file order; raises CleanListError (or OSError for an unreadable file)."""
    found: dict[str, list[str]] = {}
    category: str | None = None
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            category = line[1:-1].strip()
            found.setdefault(category, [])
            continue
        if category is None:
            raise CleanListError(f"{path}:{number}: {line!r} comes before any [category] heading")
        if line != line.lower() or not all(c.isalpha() or c == "'" for c in line):
            raise CleanListError(f"{path}:{number}: {line!r} is not one word in lower case (letters and ')")
        found[category].append(line)
    return {name: tuple(words) for name, words in found.items()}


def forms(listed: Iterable[str]) -> frozenset[str]:
    """The listed words with their plural and possessive forms (FORMS), in lower case."""
    return frozenset(word + ending for word in listed for ending in FORMS)


def banned_words(lexicon: Lexicon, path: Path = WORD_LIST) -> frozenset[str]:
    """The words of the lexicon that clean mode keeps out (any category)."""
    listed = forms(word for words in read_word_list(path).values() for word in words)
    return frozenset(word for word in lexicon.counts if word in listed)
