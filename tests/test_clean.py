"""Clean mode: the word list (model_store/rules/clean_words.txt), its mask on the lexicon, the engine keeping to it."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from conftest import walk_allowed

from model_store import DEFAULT_MODEL_DIR, store
from model_store.engine import Engine, GenerationRequest
from model_store.lexicon import words
from model_store.rules.clean import CleanListError, banned_words, forms, read_word_list


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(store.load(DEFAULT_MODEL_DIR))


def listed() -> frozenset[str]:
    return forms(word for category in read_word_list().values() for word in category)


def test_the_list_has_its_categories_of_lower_case_words():
    found = read_word_list()
    assert set(found) == {"bawdy", "oaths", "bodily"}
    assert all(found.values())
    every = [w for category in found.values() for w in category]
    assert len(every) == len(set(every)), "a word listed twice"
    assert {"whoreson", "'zounds", "damn"} <= set(every)


def test_each_listed_word_is_kept_out_with_its_plural_and_possessive():
    assert {"whore", "whores", "whore's", "whores'"} <= forms(["whore"])
    lexicon = store.load(DEFAULT_MODEL_DIR).lexicon
    banned = banned_words(lexicon)
    assert {"whore", "whores", "whoreson", "strumpet", "'zounds", "bawds"} <= banned
    assert banned <= listed() and banned <= set(lexicon.counts)
    assert "bawcock" not in banned and "wherefore" not in banned  # whole words only, not every word that starts so


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("whore\n", "before any [category] heading"),
        ("[bawdy]\nWhore\n", "not one word in lower case"),
        ("[bawdy]\ntwo words\n", "not one word in lower case"),
    ],
)
def test_a_bad_list_is_refused_naming_the_line(tmp_path: Path, text: str, problem: str):
    path = tmp_path / "words.txt"
    path.write_text("# a comment\n" + text)
    with pytest.raises(CleanListError, match=re.escape(problem)) as err:
        read_word_list(path)
    assert f"{path}:2:" in str(err.value) or f"{path}:3:" in str(err.value)


def allowed_after(engine: Engine, text: str, *, clean: bool) -> set[str]:
    """What a monologue by an unknown speaker may write after `text`, with or without clean mode."""
    state = engine.words.start_state(text)
    banned = engine.words.banned[state].copy()
    mask = engine.names.of("ZOG", clean=clean)
    if mask is not None and (extra := mask.bans(state)) is not None:
        banned |= extra
    return {("", *engine.words.symbol_of)[i] for i in np.flatnonzero(~banned)}


def test_a_listed_word_is_never_started_and_other_words_stay(engine):
    assert "d" in allowed_after(engine, "Thou baw", clean=False)  # bawd, bawds, bawdy, bawdry
    assert "d" not in allowed_after(engine, "Thou baw", clean=True)
    assert "c" in allowed_after(engine, "Thou baw", clean=True)  # bawcock is no oath
    assert "r" in allowed_after(engine, "Thou who", clean=False)  # whore, whores, whoreson, whoremaster
    assert "r" not in allowed_after(engine, "Thou who", clean=True)
    assert {"m", "s", " "} <= allowed_after(engine, "Thou who", clean=True)  # whom, whose, who
    assert engine.names.of("ZOG") is None and engine.names.of("ZOG", clean=True) is not None


def test_a_seed_inside_a_listed_word_is_the_users(engine):
    assert "s" in allowed_after(engine, "Thou whore", clean=True)  # the user typed it; the mask would leave nothing


def test_clean_mode_needs_a_monologue(engine):
    with pytest.raises(ValueError, match="free text cannot be kept clean"):
        GenerationRequest("To be", monologue=False, clean=True)


def test_the_masks_with_clean_mode_never_leave_nothing(engine):
    """Random walks through clean monologues by known and unknown speakers, in verse and prose, from seeds that may end
    inside a listed word or a name of another play: something is always left to pick."""
    rng = np.random.default_rng(11)
    chars = engine.vocab.chars
    speakers = [*list(engine.model.names.speakers)[:30], "Zog", ""]
    bad = sorted(listed() & set(engine.model.lexicon.counts))
    for _ in range(80):
        speaker = speakers[rng.integers(len(speakers))]
        tail = "".join(rng.choice(list(chars), size=rng.integers(0, 6)))
        word = bad[rng.integers(len(bad))]
        speech = f"Thou {word[: rng.integers(1, len(word) + 1)]}{tail}" if rng.random() < 0.5 else tail
        request = GenerationRequest(
            speech, max_chars=100, rng=rng, verse=bool(rng.random() < 0.7), speaker=speaker or None, clean=True
        )
        rule = engine._plan(request, engine.clean(speech)).rule
        walk_allowed(engine, rule, rng)


def test_clean_monologues_hold_no_listed_word(engine):
    requests = [
        GenerationRequest("", max_chars=160, temperature=1.4, rng=np.random.default_rng(i), clean=True)
        for i in range(6)
    ]
    for generation in engine.generate_batch(requests):
        assert not {w.lower() for w in words(generation.text)} & listed(), generation.text
        assert generation.speaker is not None
