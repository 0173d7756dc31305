"""Turn a seed as a user typed it into text the model knows, saying what was changed."""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import dataclass

from model_store.typography import INVISIBLE as _INVISIBLE
from model_store.typography import NEAR_EQUIVALENTS as _NEAR_EQUIVALENTS
from model_store.vocab import Vocab


@dataclass(frozen=True)
class CleanSeed:
    text: str  # what the model is fed
    changes: tuple[str, ...]  # one human-readable note per kind of change, empty if none


def _plain(char: str) -> str:
    """Accented letter -> its base letter(s); other characters unchanged."""
    decomposed = unicodedata.normalize("NFKD", char)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _candidates(char: str) -> list[str]:
    if char in _NEAR_EQUIVALENTS:
        return [_NEAR_EQUIVALENTS[char]]
    if unicodedata.category(char) == "Zs" or (char.isspace() and char != "\n"):
        return [" "]
    out = [unicodedata.normalize("NFKC", char), _plain(char)]
    out += [c.swapcase() for c in out]  # capitalisation the model never saw
    if char == "\n":
        out.append(" ")
    return out


def clean_seed(seed: str, vocab: Vocab, *, max_chars: int) -> CleanSeed:
    """Map every character to one the vocabulary knows, or drop it; keep at most the last max_chars."""
    pieces: list[str] = []
    replaced: Counter[tuple[str, str]] = Counter()
    dropped: Counter[str] = Counter()
    for char in seed:
        if char in vocab:
            pieces.append(char)
            continue
        if char in _INVISIBLE:
            dropped[char] += 1
            continue
        for cand in _candidates(char):
            if cand == "" or all(c in vocab for c in cand):
                pieces.append(cand)
                replaced[(char, cand)] += 1
                break
        else:
            dropped[char] += 1
    text = "".join(pieces)
    changes = [f"{a!r} -> {b!r}" + (f" (x{n})" if n > 1 else "") for (a, b), n in replaced.items() if a not in "\r\t"]
    changes += [f"dropped {c!r}" + (f" (x{n})" if n > 1 else "") for c, n in dropped.items()]
    if len(text) > max_chars:
        tail = text[-max_chars:]
        cut = next((i + 1 for i, c in enumerate(tail[: max_chars // 4]) if c.isspace()), 0)
        text = tail[cut:]
        changes.append(f"cut to its last {len(text)} characters")
    return CleanSeed(text=text, changes=tuple(changes))
