"""Vocabulary: sorted characters of the training text plus the reserved unknown id, and its JSON form."""

from __future__ import annotations

import numpy as np
import pytest

from model_store.vocab import UNKNOWN_ID, Vocab, VocabError


def test_vocab_round_trip_and_unknown_id():
    vocab = Vocab.from_text("to be or not")
    assert vocab.chars == tuple(sorted(set("to be or not")))
    assert Vocab.from_json(vocab.to_json()) == vocab
    ids = vocab.encode("to be!")
    assert ids.dtype == np.int32 and ids[-1] == UNKNOWN_ID and UNKNOWN_ID not in ids[:-1]
    assert [vocab.chars[i - 1] for i in vocab.encode("not to be")] == list("not to be")
    assert vocab.size == len(set("to be or not")) + 1


def test_unknown_characters_are_counted():
    vocab = Vocab.from_text("to be")
    assert vocab.count_unknown("to be!?") == 2
    assert "t" in vocab and "!" not in vocab


@pytest.mark.parametrize(
    "data, message",
    [
        ("[]", "must be an object"),
        ('{"unknown_id": 0, "chars": ["b", "a"]}', "sorted and unique"),
        ('{"unknown_id": 0, "chars": ["a", "a"]}', "sorted and unique"),
        ('{"unknown_id": 3, "chars": []}', "unknown_id 0"),
        ('{"unknown_id": 0, "chars": ["ab"]}', "single characters"),
        ('{"unknown_id": 0, "chars": [1]}', "must be strings"),
        ("not json", "not valid JSON"),
    ],
)
def test_vocab_rejects_bad_json(data, message):
    with pytest.raises(VocabError, match=message):
        Vocab.from_json(data)
