"""Typographic characters people type or paste, and the plain forms the plays use.

One table for the whole project: the corpus converts the plays with it, and a user's seed is mapped with it.
"""

from __future__ import annotations

NEAR_EQUIVALENTS = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201b": "'",
    "\u2032": "'",
    "`": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u201f": '"',
    "\u2033": '"',
    "\u2014": "--",
    "\u2015": "--",
    "\u2013": "-",
    "\u2012": "-",
    "\u2010": "-",
    "\u2011": "-",
    "\u2212": "-",
    "\u2026": "...",
    "\t": " ",
    "\r": "",
    "\u00ab": '"',
    "\u00bb": '"',
}
# Characters that print as nothing: zero-width spaces and joiners, the byte-order mark, the soft hyphen.
INVISIBLE = frozenset({"\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"})

_TRANSLATION = str.maketrans(NEAR_EQUIVALENTS | dict.fromkeys(INVISIBLE, ""))


def plain_typography(text: str) -> str:
    """Replace every typographic character of the table by its plain form and drop the invisible ones."""
    return text.translate(_TRANSLATION)
