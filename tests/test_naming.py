"""A speech names its subject (model_store/rules/naming.py): the topic record's nouns, the words placed where a noun
is due, and bans that never leave nothing to pick. Strength 0 is the text of before: tests/test_subject.py."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
from test_subject import paths  # noqa: F401 (a fixture)
from test_topics import record_of

from model_store import store
from model_store.engine import Engine, GenerationRequest
from model_store.rules.naming import ARTICLES, NAME_SLOTS, NAMED_RELATED, Naming, Spelling, _vowel_sound
from model_store.rules.words import BETWEEN, WordMasks
from model_store.topics import DETERMINERS, TopicRecord, TopicsError


def test_the_record_counts_nouns_and_keeps_them_through_its_file_and_a_fine_tune():
    record = record_of()
    share = dict(zip(record.words, record.noun_uses / record.counts, strict=True))
    assert share["sea"] > 0.5 and share["sword"] > 0.5  # "the sea", "my sword"
    assert share["calm"] == share["wild"] == 0  # "the sea is calm"
    again = TopicRecord.from_bytes(record.to_bytes())
    assert np.array_equal(again.noun_uses, record.noun_uses)
    merged = record.merged(record)
    assert np.array_equal(merged.noun_uses, 2 * record.noun_uses)
    older = replace(record, noun_uses=None)  # a record made before nouns were counted
    assert TopicRecord.from_bytes(older.to_bytes()).noun_uses is None and record.merged(older).noun_uses is None
    broken = replace(record, noun_uses=record.noun_uses[:-1])
    with pytest.raises(TopicsError, match="nouns"):
        TopicRecord.from_bytes(broken.to_bytes())


@pytest.mark.parametrize("model", ["told", "plain"])  # with a subject adapter, and without one
def test_a_speech_names_its_subject_where_a_noun_is_due(paths, model):  # noqa: F811
    engine = Engine(store.load(paths[model]))
    named = []
    for rng_seed in range(12):
        request = GenerationRequest("The sea and the", max_chars=200, rng=np.random.default_rng(rng_seed), topic=2.0)
        g = engine.generate_batch([request])[0]
        words = [w.strip(".,;:!?'\"").lower() for w in (g.seed + g.text).split()]
        subject = engine.subjects.of(g.seed, g.speaker, NAMED_RELATED)
        for word in g.named:
            assert word.lower() in subject and word.lower() != "sea"
            at = [i for i, w in enumerate(words) if w.startswith(word.lower())]
            assert at and any(i > 0 and words[i - 1] in DETERMINERS | ARTICLES | NAME_SLOTS for i in at)
        assert len({w.lower() for w in g.named}) == len(g.named)  # never the same word twice
        named += g.named
    assert len(named) >= 6
    assert all(g.named == () for g in engine.generate_batch([GenerationRequest("The sea", max_chars=200, topic=0.0)]))


def test_placing_a_word_never_leaves_nothing_to_pick(paths):  # noqa: F811
    model = store.load(paths["told"])
    chars = model.vocab.chars
    spelling = Spelling(WordMasks(model.lexicon, chars), model.lexicon, chars, model.topics)
    rng = np.random.default_rng(0)
    placed = 0
    for _ in range(300):
        naming = Naming(spelling, ("ship", "waves", "sailors", "storm", "tempest"), strength=1.0)
        rule = SimpleNamespace(chars=list("and the "), word_state=BETWEEN, verse=None)
        for _step in range(8):
            banned = rng.random(len(chars) + 1) < rng.uniform(0.0, 0.6)
            banned[0] = True
            banned[rng.integers(1, len(chars) + 1)] = False  # the rules always leave something
            before = banned.copy()
            naming.steer(rule, banned, rng.normal(size=len(chars) + 1), rng)
            assert not banned[1:].all()
            assert not (~banned & before).any()  # it only narrows what the rules allow
            allowed = np.flatnonzero(~banned)
            rule.chars.append(chars[rng.choice(allowed) - 1])
            rule.word_state = -1  # inside a word (any state but between words)
        placed += len(naming.placed)
    assert placed > 20


def test_an_article_agrees_and_an_older_record_places_names_only(paths):  # noqa: F811
    model = store.load(paths["told"])
    chars = model.vocab.chars
    words = WordMasks(model.lexicon, chars)
    spelling = Spelling(words, model.lexicon, chars, model.topics)
    cases = (("and an ", ("ship", "storm"), ""), ("and a ", ("sailors", "waves"), ""), ("and a ", ("ship",), "s"))
    for before, subject, placed in cases:  # "an" before a consonant, "a" before a plural: nothing placed
        naming = Naming(spelling, subject, strength=1.0)
        rule = SimpleNamespace(chars=list(before), word_state=BETWEEN, verse=None)
        banned = np.zeros(len(chars) + 1, bool)
        banned[0] = True
        naming.steer(rule, banned, np.zeros(len(chars) + 1), np.random.default_rng(1))
        allowed = "".join(chars[i - 1] for i in np.flatnonzero(~banned))
        assert allowed == placed if placed else len(allowed) == len(chars)
    sounds = [_vowel_sound(w) for w in ("honour", "hour", "eye", "one", "use", "heart", "sword")]
    assert sounds == [True] * 3 + [False] * 4  # "an honour", "a one"
    older = replace(model.topics, noun_uses=None)
    assert spelling.of("ship") is not None and Spelling(words, model.lexicon, chars, older).of("ship") is None
