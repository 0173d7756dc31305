"""Seeds as people type them: typography mapped to what the model knows, the rest dropped, long seeds cut."""

from __future__ import annotations

from model_store.seed import clean_seed
from model_store.vocab import Vocab

VOCAB = Vocab.from_text("\n !\"'(),-.:;?ABCDEFGHIJKLMNOPRSTUVWXYZabcdefghijklmnopqrstuvwxy")  # no 'Q', no 'z'


def test_typography_and_accents_are_mapped_and_the_rest_dropped():
    cleaned = clean_seed("\u201cTo be\u201d \u2014 caf\u00e9\u00a0\U0001f600 Or", VOCAB, max_chars=500)
    assert cleaned.text == '"To be" -- cafe  Or'
    assert cleaned.changes == (
        "'\u201c' -> '\"'",
        "'\u201d' -> '\"'",
        "'\u2014' -> '--'",
        "'é' -> 'e'",
        "'\\xa0' -> ' '",
        "dropped '\U0001f600'",
    )


def test_known_text_is_kept_and_nothing_reported():
    cleaned = clean_seed("To be, or not", VOCAB, max_chars=500)
    assert cleaned.text == "To be, or not" and cleaned.changes == ()


def test_a_long_seed_is_cut_to_its_tail_at_a_word():
    seed = "To be, or not to be " * 200
    cleaned = clean_seed(seed, VOCAB, max_chars=1000)
    assert seed.endswith(cleaned.text) and 750 <= len(cleaned.text) <= 1000
    assert seed[-len(cleaned.text) - 1].isspace()  # the cut falls between words
    assert cleaned.changes == (f"cut to its last {len(cleaned.text)} characters",)


def test_unseen_capitalisation_is_mapped_by_case():
    cleaned = clean_seed("QUEEN zounds", VOCAB, max_chars=500)
    assert cleaned.text == "qUEEN Zounds"
    assert cleaned.changes == ("'Q' -> 'q'", "'z' -> 'Z'")
