"""What a reader notices (model_store/rules/reader.py): each rule on hand-made cases, and the masks never empty
together."""

from __future__ import annotations

import shutil
import string
from pathlib import Path

import numpy as np
import pytest
from conftest import estimated_metre

from model_store import export, store
from model_store.engine import Engine, GenerationRequest
from model_store.lexicon import Lexicon
from model_store.playscript import lexicon_and_speakers
from model_store.rules.monologue import MonologueRule, structure_masks
from model_store.rules.reader import NO_END, NO_GLUE, NO_LOWER, NO_QUOTE, NO_SPACE, NO_STOP, READER_FLAGS
from model_store.rules.words import FREE, WordMasks

CHARS = tuple(sorted(set(string.ascii_letters + string.digits + " \n!\"$&'(),-.:;?[]")))
LINES = 3 * [
    "The king, the queen, and Hamlet o'er the sea; 'tis night. Have we been there?",
    "Go, I'll go, and thou shalt come: th' old king's men to-night! Let it be so, so so.",
    "What of the song? Sweet night, sweet king, sweet queen. Thee, then, that that.",
]
TABLE = structure_masks(CHARS)


@pytest.fixture(scope="module")
def words() -> WordMasks:
    return WordMasks(Lexicon.from_lines(LINES), CHARS)


def rule(words: WordMasks, speech: str, *, verse: bool = False) -> MonologueRule:
    """A prose monologue's rule (verse=True: a Reading that knows it writes verse, without the metre's masks)."""
    made = MonologueRule(speech, max_chars=400, min_chars=100, speaker_names=frozenset(), words=words)
    if verse:
        made.reading.verse = True
        made.reading.bans(made.word_state)
        made.bans |= made.reading.flags
    return made


def allowed(words: WordMasks, r: MonologueRule) -> set[str]:
    banned = words.banned[r.word_state] | TABLE[r.bans]
    banned[list(r.ban_ids)] = True
    return {CHARS[i - 1] for i in np.flatnonzero(~banned[1:]) + 1}


def fed(r: MonologueRule, text: str) -> MonologueRule:
    for char in text:
        assert not r.feed(char)
    return r


def test_a_verse_line_starts_with_a_capital_and_prose_keeps_its_case(words):
    verse = fed(rule(words, "Have we been there?", verse=True), "\n")
    assert verse.bans & NO_LOWER
    assert "t" not in allowed(words, verse) and {"T", "W"} <= allowed(words, verse)
    assert "T" in allowed(words, fed(verse, "'"))  # 'Tis, after an opening apostrophe
    prose = fed(rule(words, "Have we been there?"), "\n")
    assert not prose.bans & NO_LOWER and {"t", "T"} <= allowed(words, prose)


def test_no_line_starts_with_a_space_and_no_space_follows_one(words):
    r = fed(rule(words, "Have we been there?"), "\n")
    assert r.bans & NO_SPACE and " " not in allowed(words, r) and "," not in allowed(words, r)
    fed(r, "Go ")
    assert " " not in allowed(words, r) and "." not in allowed(words, r)


def test_no_word_twice_in_a_row_with_only_a_space_between(words):
    r = fed(rule(words, "Have we been there? Go"), " ")
    assert not {"g", "G"} & allowed(words, r)  # "go" is the only word under "g": no "go go" can start
    r = fed(rule(words, "What of the song"), " so")
    assert {CHARS.index("n") + 1, CHARS.index("N") + 1} <= set(r.ban_ids)  # "song" lies alone below "so" + "n" ...
    assert " " in allowed(words, r) and "n" not in allowed(words, r)  # ... and "so" is a word: "song so" may end
    r = fed(rule(words, "Have we been there? The"), " t")
    fed(r, "he")
    assert r.bans & NO_END and " " not in allowed(words, r) and {"e", "n"} & allowed(words, r)  # "thee", "then"
    r = fed(rule(words, "Have we been there? The"), ", t")  # with punctuation between: "The, the" stays
    fed(r, "he")
    assert not r.bans & NO_END and " " in allowed(words, r)


def test_a_word_the_plays_double_may_be_doubled(words):
    r = fed(rule(words, "Be it so"), " so")
    assert not r.bans & NO_END and " " in allowed(words, r)
    r = fed(rule(words, "Be it that"), " that")
    assert " " in allowed(words, r)


def test_the_seeds_complete_last_word_is_kept(words):
    r = rule(words, "To be")  # "be" is a word (and "been" goes on from it): a new word or punctuation comes
    assert r.bans & NO_GLUE and not allowed(words, r) & set(string.ascii_letters + "'")
    assert {" ", ",", "."} <= allowed(words, r)
    fed(r, " ")
    assert not r.bans & NO_GLUE
    r = rule(words, "And be")  # the same after the words' trie: "be" could go on to "been"
    assert "e" not in allowed(words, r)
    named = WordMasks(Lexicon.from_lines([*LINES, "He went to Kingston, to Kingston, to Kingston."]), CHARS)
    r = rule(named, "And the King")  # a word of the lexicon, if not in the case the plays write it mid-sentence
    assert named.start_state("And the King") != FREE  # "King" could go on to the name "Kingston" ...
    assert r.word_state == FREE  # ... but it is "king", complete: the rule goes on as after a word the lexicon lacks
    assert not allowed(named, r) & set(string.ascii_letters + "'") and " " in allowed(named, r)
    inside = rule(words, "Go to the kin")  # inside a word: it goes on
    assert allowed(words, inside) == {"g"}


def test_the_speaker_form_keeps_its_seed_too():
    words = WordMasks(Lexicon.from_lines(["What's in a name, a name, names and namesakes."] * 3), CHARS)
    engine_seed = "What's in a name"  # what the engine feeds after "Juliet:" is parsed off
    r = rule(words, engine_seed)
    assert not allowed(words, r) & set(string.ascii_letters + "'")


def test_sentence_punctuation_is_never_glued_to_a_word(words):
    r = fed(rule(words, "Have we been"), " there.")
    assert r.bans & NO_GLUE and not allowed(words, r) & set(string.ascii_letters + "'")
    fed(r, ")")
    assert not allowed(words, r) & set(string.ascii_letters)  # closing marks first, then still no letter
    fed(r, " ")
    assert "T" in allowed(words, r)


def test_a_double_quote_is_only_written_to_close_the_seeds(words):
    r = rule(words, "Have we been there?")
    assert r.bans & NO_QUOTE and '"' not in allowed(words, r)
    r = rule(words, 'Go, "have we been there?')  # the seed opened one: it may close it
    assert not r.bans & NO_QUOTE and r.reading.quote_open
    fed(r, ' Go."')
    assert not r.reading.quote_open and r.bans & NO_QUOTE


def test_an_opened_quote_keeps_the_speech_from_ending(words):
    r = MonologueRule('He said "go', max_chars=40, min_chars=0, speaker_names=frozenset(), words=words)
    for char in " there.\n":
        assert not r.feed(char)
    assert "\n" not in allowed(words, r)  # no blank line, no end, while the quote is open
    for char in 'Go."\n':
        assert not r.feed(char)
    assert r.feed("\n") and r.text.endswith('"')


def test_a_sentence_never_ends_on_the_or_my(words):
    r = fed(rule(words, "Have we been"), " there, and the")
    assert r.bans & NO_STOP and not allowed(words, r) & set(".!?")
    fed(r, " king")
    assert not r.bans & NO_STOP and "." in allowed(words, r)


@pytest.fixture(scope="module")
def engine(tiny_model_dir: Path, script_text: str, tmp_path_factory: pytest.TempPathFactory) -> Engine:
    path = tmp_path_factory.mktemp("reader") / "tiny"
    shutil.copytree(tiny_model_dir, path)
    lexicon, speakers = lexicon_and_speakers(script_text)
    return Engine(
        store.load(export.add_speech_data(path, lexicon=lexicon, speakers=speakers, metre=estimated_metre(lexicon)))
    )


def test_replies_of_an_untrained_model_keep_every_rule(engine):
    """A tiny untrained model writes nearly at random: the rules alone keep its replies readable."""
    for seed in ["", "To be, or not to be", "Othello: It is the cause", "My lord, the"]:
        for rng_seed in range(5):
            for verse in (True, False):
                request = GenerationRequest(
                    seed, max_chars=200, temperature=1.0, rng=np.random.default_rng(rng_seed), verse=verse
                )
                g = engine.generate_batch([request])[0]
                lines = g.text.split("\n")
                if g.seed:
                    assert not g.text[:1].isalpha() and g.text[:1] != "'", (seed, g.text[:20])  # complete words
                    lines = lines[1:]
                assert not any(line.startswith(" ") for line in lines), g.text
                assert '"' not in g.text and "  " not in g.text, g.text
                if verse and not g.metre_fallbacks:
                    assert all(line[:1].isupper() or line[:1] in "'(" for line in lines if line), g.text
                end = g.text.rstrip("'\")]")
                if end.endswith("."):
                    assert not end[:-1].lower().endswith((" the", " my", " and", " a")), g.text


@pytest.mark.parametrize("verse", [False, True])
def test_every_combination_of_the_masks_leaves_something_to_pick(engine, verse):
    """Random word states under every combination of the speech's and the reader's bans (and a doubled word's
    letters), through the engine's own combination: something is always left to pick."""
    rng = np.random.default_rng(0)
    r = MonologueRule(
        "",
        max_chars=400,
        min_chars=100,
        speaker_names=frozenset(),
        words=engine.words,
        verse=engine.verse if verse else None,
    )
    letters = [i for i, c in enumerate(engine.vocab.chars, start=1) if c.isalpha()]
    assert len(engine.structure) == READER_FLAGS + 64  # every combination of the speech's 6 flags and the reader's
    for flags in range(len(engine.structure)):
        for state in rng.choice(len(engine.words.banned), 12):
            r.bans, r.word_state = flags, int(state)
            r.reading.ban_ids = tuple(rng.choice(letters, 3))
            if r.verse is not None:
                r.verse.bans = engine.verse.row(int(state), int(rng.integers(1, 1 << 11)), int(rng.integers(0, 3)))
            assert not engine._banned([r])[0, 1:].all(), (flags, state)
