"""Verse decoding: the masks never leave nothing, lines end at 10 or 11 syllables and scan, prose is as before."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import estimated_metre

from model_store import export, store
from model_store.engine import Engine, GenerationRequest
from model_store.lexicon import words
from model_store.metre import Metre, scan
from model_store.playscript import lexicon_and_speakers
from model_store.rules.monologue import NO_BLANK, MonologueRule
from model_store.rules.verse import VerseLine, VerseMasks
from model_store.rules.words import START

SEEDS = ["", "To be, or not", "Othello: It is the cause", "My lord, the"]


@pytest.fixture(scope="module")
def verse_dir(tiny_model_dir: Path, script_text: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model with the lexicon, speakers and metre of the script it was made from."""
    path = tmp_path_factory.mktemp("verse") / "tiny"
    shutil.copytree(tiny_model_dir, path)
    lexicon, speakers = lexicon_and_speakers(script_text)
    return export.add_speech_data(path, lexicon=lexicon, speakers=speakers, metre=estimated_metre(lexicon))


@pytest.fixture(scope="module")
def engine(verse_dir: Path) -> Engine:
    return Engine(store.load(verse_dir))


def scansion(metre: Metre, line: str) -> tuple[set[int], str | None]:
    return scan([metre.of(w) for w in words(line.replace("-", " "))])


def test_a_random_walk_never_meets_an_empty_mask_and_ends_lines_at_ten_or_eleven(engine):
    masks: VerseMasks = engine.verse
    chars = engine.vocab.chars
    rng = np.random.default_rng(0)
    for _ in range(20):
        state, line_state, line = START, VerseLine(masks), ""
        for _ in range(600):
            allowed = np.flatnonzero(~line_state.bans[1:]) + 1
            assert len(allowed), f"nothing allowed after {line!r}"
            char = chars[rng.choice(allowed) - 1]
            if char == "\n" and line:
                counts, pattern = scansion(masks.metre, line)
                assert counts & {10, 11} and pattern is not None and len(pattern) in (10, 11), line
                line = ""
            elif char != "\n":
                line += char
                assert min(scansion(masks.metre, line)[0]) <= 11, line  # never past eleven
            before, state = state, masks.words.advance(state, char)
            line_state.feed(char, before, state)


def test_verse_replies_are_lines_of_ten_or_eleven_syllables_that_scan(engine):
    metre = engine.model.metre
    lines = 0
    for seed in SEEDS:
        for rng_seed in range(6):
            speaker, speech = engine.speakers.split_seed(seed)  # "Othello: It is the cause"
            rng = np.random.default_rng(rng_seed)
            request = GenerationRequest(speech, max_chars=300, temperature=1.0, rng=rng, speaker=speaker)
            g = engine.generate_batch([request])[0]
            if g.metre_fallbacks:
                continue
            written = g.text.split("\n")
            if g.seed:
                written = written[1:]  # the seed began that line
            for line in written:
                counts, pattern = scansion(metre, line)
                assert counts & {10, 11} and pattern is not None, (seed, rng_seed, line)
                lines += 1
            assert g.text.rstrip("'\")]").endswith((".", "!", "?")) or g.stop_reason == "length"
    assert lines >= 40


def test_prose_is_the_monologue_as_it_was(engine, verse_dir):
    without_metre = Engine(dataclasses.replace(store.load(verse_dir), metre=None))
    assert without_metre.verse is None
    for seed in SEEDS:
        for rng_seed in range(4):
            texts = [
                e.generate_batch([GenerationRequest(seed, rng=np.random.default_rng(rng_seed), verse=False)])[0].text
                for e in (engine, without_metre)
            ]
            assert texts[0] == texts[1]


def test_a_batch_mixes_verse_prose_and_free_text_each_as_alone(engine):
    options = [{"verse": True}, {"verse": False}, {"monologue": False}]
    alone = [engine.generate_batch([GenerationRequest("To be", rng=np.random.default_rng(5), **o)])[0] for o in options]
    together = engine.generate_batch([GenerationRequest("To be", rng=np.random.default_rng(5), **o) for o in options])
    assert [g.text for g in together] == [g.text for g in alone]


def test_when_the_rules_together_leave_nothing_the_word_falls_back_and_is_counted(engine):
    rule = MonologueRule(
        "", max_chars=100, min_chars=50, speaker_names=frozenset(), words=engine.words, verse=engine.verse
    )
    newline = engine.vocab.chars.index("\n") + 1
    only_newline = np.ones(engine.vocab.size, bool)
    only_newline[newline] = False
    rule.verse.bans = only_newline  # the metre allows only the line's end ...
    rule.bans = NO_BLANK  # ... and the speech may not end yet
    banned = engine._banned([rule])
    assert not banned[0, 1:].all() and banned[0, newline]
    assert (banned[0] == engine.words.banned[rule.word_state] | engine.structure[NO_BLANK]).all()
    assert rule.verse.fallbacks == 1 and rule.verse.bans is None  # until the word ends
    rule.feed("O")
    rule.feed(" ")
    assert rule.verse.bans is not None
