"""Only real words: the word masks on hand-made cases, and a walk over random states that never finds one empty."""

from __future__ import annotations

import string

import numpy as np
import pytest

from model_store.lexicon import Lexicon
from model_store.rules.words import BETWEEN, DASH, FREE, HYPHEN, START, WordMasks

CHARS = tuple(sorted(set(string.ascii_letters + string.digits + " \n!\"$&'(),-.:;?[]")))
LINES = 3 * [
    "The king, the queen, and Hamlet o'er the sea; 'tis night.",
    "Go, I'll go, and thou shalt come: th' old king's men to-night!",
    "SONG. What of the SONG? Sweet night, sweet king, sweet queen.",
]


@pytest.fixture(scope="module")
def masks() -> WordMasks:
    return WordMasks(Lexicon.from_lines(LINES), CHARS)


def allowed(masks: WordMasks, state: int) -> set[str]:
    return {CHARS[i - 1] for i in np.flatnonzero(~masks.banned[state])}


def after(masks: WordMasks, text: str, state: int = START) -> int:
    for char in text:
        state = masks.advance(state, char)
    return state


def test_inside_a_word_only_letters_that_keep_it_a_word(masks):
    assert allowed(masks, after(masks, "the k")) == {"i"}
    state = after(masks, "the kin")
    assert allowed(masks, state) == {"g"}  # "kin" is not a word: it cannot end here
    ends = allowed(masks, after(masks, "the king"))
    assert {" ", ",", ".", "\n", "'", "-"} <= ends and not ends & set(string.ascii_letters)  # "king's" goes on


def test_apostrophes_elisions_and_contractions(masks):
    assert "'" in allowed(masks, after(masks, "and o"))  # o'er
    assert allowed(masks, after(masks, "and o'")) == {"e"}
    assert "'" in allowed(masks, START) and "t" in allowed(masks, after(masks, "'"))  # 'tis
    assert "'" in allowed(masks, after(masks, "and th"))  # th' (a word that ends in its apostrophe)
    assert " " in allowed(masks, after(masks, "and th'"))
    assert "'" in allowed(masks, after(masks, "I"))  # I'll
    assert allowed(masks, after(masks, "I'")) == {"l"}


def test_hyphens_join_words_that_are_each_words(masks):
    state = after(masks, "to")
    assert "-" in allowed(masks, state)
    state = masks.advance(state, "-")
    assert state == HYPHEN
    assert "n" in allowed(masks, state) and " " not in allowed(masks, state)  # the next part, or a dash
    assert "-" not in allowed(masks, after(masks, "kin"))  # a compound's parts are whole words
    assert masks.advance(state, "-") == BETWEEN  # "--": a dash
    dash = after(masks, "the king, -")
    assert dash == DASH and allowed(masks, dash) == {"-"}  # between words a hyphen only opens a dash, not "-word"
    assert after(masks, "the king, --") == BETWEEN


def test_capitals_follow_the_plays(masks):
    mid = after(masks, "and ")
    assert "t" in allowed(masks, mid) and "T" not in allowed(masks, mid)  # "the" is not capitalised mid-sentence
    assert "H" in allowed(masks, mid) and "h" not in allowed(masks, mid)  # "Hamlet" is a name
    assert "I" in allowed(masks, mid) and "O" not in allowed(masks, mid)  # "I" anywhere; "o'er" only as "o"
    assert {"T", "t", "H", "S", "s"} <= allowed(masks, after(masks, "night. "))  # a sentence starts: any word
    assert {"T", "t"} <= allowed(masks, after(masks, "night,\n"))  # so does a line
    assert allowed(masks, after(masks, "SONG. W")) == {"h"}  # capitals only for words the plays write so
    assert allowed(masks, after(masks, "S")) >= {"o", "O", "w"}
    assert allowed(masks, after(masks, "SO")) == {"N"}  # in capitals, it stays in capitals
    assert "H" not in allowed(masks, after(masks, "T"))  # "THE" is never written so


def test_a_word_the_lexicon_lacks_is_free_until_it_ends(masks):
    state = after(masks, "Zounds")
    assert state == FREE and allowed(masks, state) == set(CHARS)
    assert after(masks, "Zounds, ") == BETWEEN


def test_rare_words_are_left_out():
    masks = WordMasks(Lexicon.from_lines(["the king", "the king", "the knave", "the king"]), CHARS)
    assert allowed(masks, after(masks, "the k")) == {"i"}  # "knave" was seen once


@pytest.mark.parametrize("seed", range(5))
def test_no_state_ever_leaves_nothing_to_pick(masks, seed):
    """Walk the masks from random prefixes, picking only what they allow; every state reached allows something."""
    rng = np.random.default_rng(seed)
    assert not masks.banned.all(axis=1).any()  # no row of the table is empty
    for _ in range(200):
        prefix = "".join(rng.choice(list(CHARS), size=rng.integers(0, 12)))  # any text a seed might end with
        state = after(masks, prefix)
        for _ in range(40):
            options = np.flatnonzero(~masks.banned[state])
            assert len(options) > 0 and 0 not in options
            state = masks.advance(state, CHARS[rng.choice(options) - 1])


def test_a_vocabulary_without_some_letters_still_leaves_something():
    chars = tuple(sorted(set("abcdefghijklmnopqrstuvwxy .\n")))  # no 'z', no capitals
    masks = WordMasks(Lexicon.from_lines(3 * ["Zounds the zany zebra grazes"]), chars)
    assert not masks.banned.all(axis=1).any()
    # Only 'z' goes on from "gra", and the vocabulary has none: that state allows anything rather than nothing.
    assert {chars[i - 1] for i in np.flatnonzero(~masks.banned[after(masks, "gra")])} == set(chars)
