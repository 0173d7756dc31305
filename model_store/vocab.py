"""Character vocabulary: sorted characters of the training text plus one reserved unknown id."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from model_store import jsonfile

UNKNOWN_ID = 0  # id 0 is reserved: characters the model never saw map here


class VocabError(ValueError):
    """A vocabulary file or value that cannot be used."""


@dataclass(frozen=True)
class Vocab:
    """Maps characters to ids and back; id 0 is the unknown character."""

    chars: tuple[str, ...]  # the known characters, sorted; ids start at 1
    _ids: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if any(len(c) != 1 for c in self.chars):
            raise VocabError("vocabulary entries must be single characters")
        if list(self.chars) != sorted(set(self.chars)):
            raise VocabError("vocabulary characters must be sorted and unique")
        object.__setattr__(self, "_ids", {c: i + 1 for i, c in enumerate(self.chars)})

    @classmethod
    def from_text(cls, text: str) -> Vocab:
        return cls(tuple(sorted(set(text))))

    @property
    def size(self) -> int:
        """Number of ids, the unknown id included."""
        return len(self.chars) + 1

    def __contains__(self, char: object) -> bool:
        return char in self._ids

    def encode(self, text: str) -> np.ndarray:
        ids = self._ids
        return np.fromiter((ids.get(c, UNKNOWN_ID) for c in text), dtype=np.int32, count=len(text))

    def count_unknown(self, text: str) -> int:
        return sum(1 for c in text if c not in self._ids)

    def to_json(self) -> str:
        return json.dumps({"unknown_id": UNKNOWN_ID, "chars": list(self.chars)}, ensure_ascii=False, indent=1)

    @classmethod
    def from_json(cls, data: str | bytes) -> Vocab:
        obj = jsonfile.loads(data, "vocabulary", VocabError)
        if not isinstance(obj, dict) or obj.get("unknown_id") != UNKNOWN_ID or not isinstance(obj.get("chars"), list):
            raise VocabError("vocabulary JSON must be an object with unknown_id 0 and a list of chars")
        if not all(isinstance(c, str) for c in obj["chars"]):
            raise VocabError("vocabulary chars must be strings")
        return cls(tuple(obj["chars"]))
