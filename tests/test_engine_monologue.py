"""Monologues from the engine: one speech by one speaker, in the lexicon's words; free text as before."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import walk_allowed

from model_store import DEFAULT_MODEL_DIR, store
from model_store.engine import Engine, GenerationRequest
from model_store.lexicon import words
from model_store.playscript import is_stage_direction, last_speaker, names_a_speaker


@pytest.fixture(scope="module")
def engine(monologue_model_dir: Path) -> Engine:
    return Engine(store.load(monologue_model_dir))


def monologue(engine: Engine, seed: str, rng_seed: int, **options) -> object:
    request = GenerationRequest(seed, rng=np.random.default_rng(rng_seed), **({"temperature": 1.0} | options))
    return engine.generate_batch([request])[0]


@pytest.mark.parametrize("seed", ["", "To be, or not", "My lord, the"])
def test_every_reply_is_one_speech_in_words_of_the_plays(engine, seed):
    names = engine.speaker_names
    lexicon = engine.model.lexicon
    for rng_seed in range(12):
        g = monologue(engine, seed, rng_seed, max_chars=250)
        assert g.speaker in engine.speakers.counts
        lines = (g.seed + g.text).split("\n")
        assert all(line.strip() for line in lines), "no blank line inside"
        assert not any(is_stage_direction(line) or names_a_speaker(line, names) for line in lines)
        written = words(g.text.split(" ", 1)[-1] if seed and seed[-1].isalpha() else g.text)
        assert all(w in lexicon for w in written), [w for w in written if w not in lexicon]
        assert len(g.text) >= 175 or g.stop_reason != "speech end"  # no speech end before min_chars (70%)


def test_a_named_speaker_is_honoured_in_any_case(engine):
    g = monologue(engine, "My lord", 1, speaker="horatio")
    assert (g.speaker, g.seed) == ("HORATIO", "My lord")


def test_a_speaker_the_model_never_saw_still_speaks(engine):
    g = monologue(engine, "My lord", 2, max_chars=60, speaker="Osric")  # the script has no Osric
    assert (g.speaker, g.seed) == ("OSRIC", "My lord")
    assert g.text


def test_with_nobody_named_the_model_chooses_by_its_own_odds(engine):
    chosen = {monologue(engine, "", s, max_chars=10).speaker for s in range(20)}
    assert chosen <= set(engine.candidates) == set(engine.speakers.counts)  # none has 20 speeches: all are candidates
    logp = engine.network.continuation_logprobs("\n\n", [f"{name}:\n" for name in engine.candidates])
    odds = np.exp(logp - logp.max()) / np.exp(logp - logp.max()).sum()
    assert np.allclose(np.diff(np.concatenate([[0.0], engine.speaker_cdf])), odds)
    # A draw u picks the first speaker whose cumulative odds exceed it.
    request = GenerationRequest("", max_chars=5, rng=np.random.default_rng(0))
    u = np.random.default_rng(0).random()
    assert engine.generate_batch([request])[0].speaker == engine.candidates[int((engine.speaker_cdf <= u).sum())]


def test_batched_monologues_match_their_solo_runs_and_stream(engine):
    seeds = [("", None), ("To be", "Hamlet"), ("My lord", None), ("It is the cause", None)]
    requests = [
        GenerationRequest(s, max_chars=150, rng=np.random.default_rng(i), speaker=who)
        for i, (s, who) in enumerate(seeds)
    ]
    solo = [engine.generate_batch([r])[0] for r in requests]
    again = [
        GenerationRequest(s, max_chars=150, rng=np.random.default_rng(i), speaker=who)
        for i, (s, who) in enumerate(seeds)
    ]
    pieces: list[str] = []
    started: list[tuple[str | None, str]] = []
    batch = engine.generate_batch(again, on_start=lambda *a: started.append(a), on_text=pieces.append)
    assert batch == solo and batch[1].speaker == "HAMLET"
    assert "".join(pieces) == batch[0].text and started == [(batch[0].speaker, batch[0].seed)]


def test_free_text_when_asked_or_when_the_model_has_no_speakers(engine, tiny_model_dir):
    g = monologue(engine, "Hamlet: To be", 3, monologue=False)
    assert g.speaker is None and g.seed == "Hamlet: To be"  # the engine reads no speaker out of a seed
    assert monologue(engine, "To be", 3, monologue=False, speaker="Hamlet") == g  # free text: the name opens it
    plain = Engine(store.load(tiny_model_dir))  # exported without lexicon and speakers
    assert not plain.monologues and monologue(plain, "To be", 3).speaker is None
    assert monologue(plain, "To be", 3, speaker="Hamlet").seed == "Hamlet: To be"


# The shipped model's free text for fixed seeds, pinned when the model was shipped (with the engine's free-text path
# as it was before monologues existed): a change to that path, or to the shipped weights, shows here.
BEFORE_MONOLOGUES = {
    ("O Romeo, Romeo", 3): (
        " doth have made his Tyre;\nFor if you so soon stay in honour down.\nGive the man that you say not that it "
        "be!\n\nLUCIO:\nNo.\n\nSecond Gentleman:\nNot an angel; but, in sinke and plantain,\nFor yet one sorrow "
        "that she says, I love\nThe slaves of the wealth of the honours of my\nsoul; in our pelformation that",
        "length",
    ),
    ("", 2): (
        "FLUELLEN:\nNay, our contrary be thou mistress.\n\nCADE:\nThou didst ask me where, sir, than I will go\n"
        "about you.\n\nBARDOLPH:\nBecause we must perceave me.",
        "speech end",
    ),
}


def test_free_text_is_byte_identical_to_before():
    engine = Engine(store.load(DEFAULT_MODEL_DIR))
    for (seed, rng_seed), (text, reason) in BEFORE_MONOLOGUES.items():
        request = GenerationRequest(seed, max_chars=300, rng=np.random.default_rng(rng_seed), monologue=False)
        g = engine.generate_batch([request])[0]
        assert (g.text, g.stop_reason) == (text, reason)


def test_the_words_and_the_speechs_bans_together_never_leave_nothing(engine):
    """Random walks through monologues, picking only what the combined masks allow, from random seeds."""
    rng = np.random.default_rng(5)
    chars = engine.vocab.chars
    for _ in range(150):
        seed = "".join(rng.choice(list(chars), size=rng.integers(0, 20)))
        rule = engine._plan(GenerationRequest(seed, max_chars=80, rng=rng), engine.clean(seed)).rule
        walk_allowed(engine, rule, rng)


def test_an_answer_after_an_exchange_is_by_another_speaker(engine):
    history = "HAMLET:\nTo be, or not to be, that is the question.\n\nHORATIO:\nMy lord, the king your father."
    for rng_seed in range(8):
        request = GenerationRequest(
            "", max_chars=80, temperature=1.0, rng=np.random.default_rng(rng_seed), history=history
        )
        g = engine.generate_batch([request])[0]
        assert g.speaker in engine.speakers.counts and g.speaker != "HORATIO"
    # the last speech may be stage directions alone, which `speeches` leaves out: its speaker still spoke last
    assert last_speaker(f"{history}\n\nHAMLET:\n[Exit]") == "HAMLET" and last_speaker("no speech") is None
    for rng_seed in range(8):
        request = GenerationRequest(
            "", max_chars=80, rng=np.random.default_rng(rng_seed), history=f"{history}\n\nHAMLET:\n[Exit]"
        )
        assert engine.generate_batch([request])[0].speaker != "HAMLET"
    named = GenerationRequest("Season", max_chars=40, rng=np.random.default_rng(0), history=history, speaker="Hamlet")
    alone = GenerationRequest("Season", max_chars=40, rng=np.random.default_rng(0), speaker="Hamlet")
    assert engine.generate_batch([named])[0].speaker == "HAMLET"
    assert engine.generate_batch([named])[0] != engine.generate_batch([alone])[0]  # the exchange is fed first
