"""Speech prefixes to the full names of a play's cast list: "Ham." -> HAMLET, "SIR P." -> SIR POLITIC WOULD-BE.

A prefix names a cast member when it is that name, or when the cast has exactly one name whose words each begin
with the prefix's words, in order ("SIR P" -> SIR POLITIC WOULD-BE, "Fau" -> FAUSTUS); a prefix that matches no
name, or more than one ("Me" with MEPHISTOPHILIS and MERCHANT in the cast), stays as printed. Spellings of one
prefix that differ only in case or full stops ("Ham", "HAM") are one speaker, under the spelling printed most.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

ORDINALS = ("FIRST", "SECOND", "THIRD", "FOURTH", "FIFTH", "SIXTH", "SEVENTH", "EIGHTH", "NINTH")
_NOT_A_NAME = re.compile(r"[^A-Za-z' .&-]")
MAX_NAME = 41  # the longest name a play-script speaker line holds (model_store.playscript.SPEAKER_LINE)


@dataclass(frozen=True)
class SpeakerNames:
    """How a play's speech prefixes were named: the full name of each the cast list names, and speeches by prefix."""

    source: str = ""  # where the full names came from ("the Dramatis Personae"); "" when the play has no cast list
    full: dict[str, str] = field(default_factory=dict)  # prefix as printed -> the name it is written under
    speeches: Counter[str] = field(default_factory=Counter)  # speeches by prefix as printed

    def unmapped(self) -> list[str]:
        """The prefixes the cast list did not name, most speeches first."""
        return [p for p, _ in self.speeches.most_common() if p not in self.full]


def speaker_name(text: str) -> str:
    """A name the play-script format can hold: "Scholar 2" -> "SECOND SCHOLAR"-style ordinals, other characters
    out ("Wagner." -> "Wagner")."""
    text = re.sub(r"\s+", " ", text).strip()
    number = re.fullmatch(r"(.*?)\s*\b([1-9])\b\.?\s*(.*)", text)
    if number and (number.group(1) or number.group(3)):
        rest = f"{number.group(1)} {number.group(3)}".strip()
        text = f"{ORDINALS[int(number.group(2)) - 1]} {rest}"
    return _NOT_A_NAME.sub("", text).strip(" .")


def _words(name: str) -> list[str]:
    return name.upper().replace(".", " ").split()


def full_name(prefix: str, cast: list[str]) -> str | None:
    """The cast name a prefix stands for: the same name, or the only one it abbreviates word by word; else None."""
    words = _words(prefix)
    if not words:
        return None
    exact = [name for name in cast if _words(name) == words]
    if exact:
        return exact[0]
    matches = {
        name
        for name in cast
        if len(words) <= len(_words(name)) and all(n.startswith(w) for w, n in zip(words, _words(name), strict=False))
    }
    return matches.pop() if len(matches) == 1 else None


def name_speakers(speeches: Counter[str], cast: list[str], source: str) -> SpeakerNames:
    """The full name of every prefix the cast names (in capitals); the others keep the spelling printed most."""
    cast = [name.upper() for name in dict.fromkeys(speaker_name(n) for n in cast) if 0 < len(name) <= MAX_NAME]
    full: dict[str, str] = {}
    for prefix in speeches:
        name = full_name(prefix, cast)
        if name is not None:
            full[prefix] = name
    spellings: dict[tuple[str, ...], str] = {}
    for prefix, _ in speeches.most_common():
        if prefix not in full:
            kept = spellings.setdefault(tuple(_words(prefix)), prefix)
            if kept != prefix:
                full[prefix] = kept
    return SpeakerNames(source if cast else "", full, speeches)
