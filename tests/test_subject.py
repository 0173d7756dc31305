"""A model told its subject: the adapter's file (model_store/subject.py), the words a seed's subject is made of
(model_store/rules/subject.py) and the engine that gives them to the network. Numpy only: the adapter is made here
from random arrays (its training: tests/test_subject_training.py)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_tiny_model
from test_topics import PLAYS, record_of

from model_store import export, store
from model_store.engine import Engine, GenerationRequest
from model_store.rules.subject import RELATED, SubjectWords
from model_store.store import ModelError
from model_store.subject import SubjectAdapter, SubjectError

TEXT = "\n".join(text for _, text in PLAYS)


def random_adapter(model: store.LoadedModel, scale: float = 1.0, seed: int = 0) -> SubjectAdapter:
    rng = np.random.default_rng(seed)
    arch, words = model.arch, model.topics.words
    units, vocab, rank = arch["units"], arch["vocab_size"], 3

    def normal(*shape: int) -> np.ndarray:
        return scale * rng.normal(0, 1, shape).astype(np.float32)

    return SubjectAdapter(
        words,
        rng.normal(0, 1, (len(words), 4)).astype(np.float32),
        logits=normal(4, vocab),
        head_in=normal(units, rank),
        head_subject=normal(4, rank),
        head_out=normal(rank, vocab),
        base=model.manifest["files"][store.WEIGHTS_FILE],
    )


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    """The same tiny topical model without and with a (random) subject adapter."""
    base = tmp_path_factory.mktemp("models")
    out = {}
    for name in ("plain", "told"):
        path = make_tiny_model(base / name, TEXT, seed=5, speech=True)
        model = store.load(path)
        export.add_speech_data(path, lexicon=model.lexicon, speakers=model.speakers, topics=record_of())
        out[name] = path
    export.add_subject(out["told"], random_adapter(store.load(out["told"])))
    return out


def test_the_adapter_is_checksummed_kept_and_refused_when_it_does_not_fit(paths, tmp_path):
    told = store.load(paths["told"])
    assert told.subject is not None and "subject.npz" in told.manifest["files"]
    assert told.manifest["subject_added"]
    # New speech data leaves the adapter (the weights it was trained on are the same).
    export.add_speech_data(paths["told"], lexicon=told.lexicon, speakers=told.speakers)
    assert store.load(paths["told"]).subject is not None
    # An adapter of other weights is refused by name.
    other = make_tiny_model(tmp_path / "other", TEXT, seed=6, speech=True)
    export.add_subject(other, told.subject)
    with pytest.raises(ModelError, match="trained on other weights"):
        store.load(other)
    with pytest.raises(SubjectError, match="cannot be read"):
        SubjectAdapter.from_bytes(b"not a zip")


def test_a_seed_s_subject_is_its_words_and_theirs_or_its_speaker_s(paths):
    model = store.load(paths["told"])
    subjects = SubjectWords(model.topics, model.subject)
    words = subjects.of("The sword is red", "GENERAL")
    assert words[:2] == ("sword", "red") and len(words) <= 2 + RELATED
    assert {"blood", "battle"} <= set(words) and not {"sea", "sailors"} & set(words[:6])
    # Nothing to go on in the seed: what its speaker speaks of.
    assert {"sea", "ship"} <= set(subjects.of("To be, or not to be", "CAPTAIN"))
    assert subjects.of("To be", "NOBODY") == ()
    assert not subjects.vector((), 2.0).any()


def test_strength_zero_is_the_network_alone_byte_for_byte(paths):
    plain, told = Engine(store.load(paths["plain"])), Engine(store.load(paths["told"]))
    for rng_seed in range(4):
        requests = [
            GenerationRequest(seed, max_chars=150, rng=np.random.default_rng(rng_seed), topic=0.0)
            for seed in ("The sea and the waves", "")
        ]
        again = [GenerationRequest(r.seed, max_chars=150, rng=np.random.default_rng(rng_seed)) for r in requests]
        before, after = plain.generate_batch(again), told.generate_batch(requests)
        assert [(g.speaker, g.text) for g in before] == [(g.speaker, g.text) for g in after]
        assert all(g.subject == () for g in after)


def test_a_subject_changes_the_text_and_a_batch_gives_each_row_its_own(paths):
    told = Engine(store.load(paths["told"]))

    def request(seed: str, topic: float) -> GenerationRequest:
        return GenerationRequest(seed, max_chars=120, rng=np.random.default_rng(3), topic=topic, speaker="CAPTAIN")

    alone = [told.generate_batch([request(seed, t)])[0] for seed, t in (("The sea", 1.0), ("The sword", 0.0))]
    batch = told.generate_batch([request("The sea", 1.0), request("The sword", 0.0)])
    assert [g.text for g in batch] == [g.text for g in alone]  # each row its own subject (or none)
    assert alone[0].subject[0] == "sea" and alone[1].subject == ()
    assert told.generate_batch([request("The sea", 0.0)])[0].text != alone[0].text
