"""A model told its subject: the subject adapter of an export (subject.npz), numpy only.

The character LSTM alone forgets what a speech is about within a line. The adapter gives it a subject as a second
input: a bag of content words (the seed's, the words that go with them in the plays, what the speech has said),
read as the weighted mean of their learned vectors. The subject adds to the logits, directly and through the
subject head, where it meets the network's top layer output: what a subject does to the next character depends on
what has been written (after "the Fr", France). The network's own weights and state are left as they were: the
adapter is trained on top of them (training/subject.py), each passage of the training plays given the bag of its
own content words; an empty bag adds nothing, and the model writes as it did.

    words         the content words it knows (the topic record's), their index + 1 is their id in a bag
    vectors       (words, dim) each word's learned vector
    logits        (dim, vocab) its bias on the logits
    head_in       (units, rank), head_subject (dim, rank), head_out (rank, vocab): the subject head, which adds
                  ((h @ head_in) * (subject @ head_subject)) @ head_out to the logits, h the top layer's output: what
                  the subject does to the next character depends on what the network has written (a word's first
                  letters, say)
    base          the sha256 of the weights.npz it was trained on: an adapter is refused on any other network
"""

from __future__ import annotations

import functools
import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


class SubjectError(ValueError):
    """A subject file that cannot be used."""


ARRAYS = ("vectors", "logits", "head_in", "head_subject", "head_out")


@dataclass(frozen=True)
class SubjectAdapter:
    words: tuple[str, ...]
    vectors: np.ndarray
    logits: np.ndarray
    head_in: np.ndarray
    head_subject: np.ndarray
    head_out: np.ndarray
    base: str

    @functools.cached_property
    def index(self) -> dict[str, int]:
        """Each word's place in `words`."""
        return {w: i for i, w in enumerate(self.words)}

    def ids(self, words: Sequence[str]) -> list[int]:
        """The ids of the words it knows, in order, without repeats."""
        return list(dict.fromkeys(self.index[w] for w in words if w in self.index))

    def subject(self, ids: Sequence[int], weights: Sequence[float] | None = None) -> np.ndarray:
        """The subject vector of a bag of word ids: the (weighted) mean of their vectors; zero for an empty bag."""
        if not len(ids):
            return np.zeros(self.vectors.shape[1], np.float32)
        w = np.ones(len(ids), np.float32) if weights is None else np.asarray(weights, np.float32)
        return (w @ self.vectors[np.asarray(ids)].astype(np.float32)) / w.sum()

    def to_bytes(self) -> bytes:
        arrays = {name: getattr(self, name).astype(np.float32) for name in ARRAYS}
        arrays["vectors"] = self.vectors.astype(np.float16)  # half the file; a mean of them loses nothing that shows
        buffer = io.BytesIO()
        np.savez_compressed(buffer, words=np.array(self.words, dtype=str), base=np.array(self.base), **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> SubjectAdapter:
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                missing = [n for n in ("words", *ARRAYS, "base") if n not in npz.files]
                if missing:
                    raise SubjectError(f"subject file lacks {', '.join(missing)}")
                arrays = {name: npz[name].astype(np.float32) for name in ARRAYS}
                adapter = cls(tuple(str(w) for w in npz["words"]), base=str(npz["base"]), **arrays)
        except SubjectError:
            raise
        except (ValueError, OSError, zipfile.BadZipFile) as exc:
            raise SubjectError(f"subject file cannot be read as numpy arrays ({exc})") from None
        return adapter

    def check(self, layers: int, units: int, vocab_size: int, weights_sha256: str) -> None:
        """Shapes that fit the network, finite values, and the very network it was trained on."""
        dim = self.vectors.shape[-1] if self.vectors.ndim == 2 else -1
        if self.vectors.shape != (len(self.words), dim) or dim < 1:
            raise SubjectError(f"subject file: vectors of shape {self.vectors.shape} for {len(self.words)} words")
        rank = self.head_out.shape[0] if self.head_out.ndim == 2 else -1
        shapes = {
            "logits": (dim, vocab_size),
            "head_in": (units, rank),
            "head_subject": (dim, rank),
            "head_out": (rank, vocab_size),
        }
        for name, shape in shapes.items():
            if getattr(self, name).shape != shape:
                raise SubjectError(
                    f"subject file: {name} of shape {getattr(self, name).shape} does not fit a network of {layers}"
                    f" layers of {units} units and {vocab_size} characters (expected {shape})"
                )
        arrays = [self.vectors, *(getattr(self, name) for name in shapes)]
        if not all(np.all(np.isfinite(a)) for a in arrays):
            raise SubjectError("subject file holds NaN or infinite values")
        if self.base != weights_sha256:
            raise SubjectError("subject file was trained on other weights (retrain it: python -m training.subject)")
