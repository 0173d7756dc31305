"""The monologue rule: what a speech may not write next, where it ends, and what streaming may show early."""

from __future__ import annotations

import numpy as np

from model_store.rules.monologue import (
    NO_BLANK,
    NO_BRACKET,
    NO_COLON,
    NO_HEADING_END,
    NO_NUMERAL,
    NO_OPEN_END,
    MonologueRule,
    structure_masks,
)

NAMES = frozenset({"hamlet", "first citizen"})


def rule(speech: str = "", *, max_chars: int = 400, min_chars: int = 100) -> MonologueRule:
    return MonologueRule(speech, max_chars=max_chars, min_chars=min_chars, speaker_names=NAMES, words=None)


def feed(r: MonologueRule, text: str) -> bool:
    """Feed text until the rule says the speech is complete; True if it did."""
    return any(r.feed(c) for c in text)


def test_a_line_may_not_open_with_a_stage_direction_nor_a_blank_line_before_min_chars():
    r = rule()
    assert r.bans == NO_BRACKET | NO_BLANK  # the speech's first line
    feed(r, "To be, or not to be.\n")
    assert r.bans == NO_BRACKET | NO_BLANK
    feed(r, "Soft you now! [")
    assert r.bans == 0  # "[Aside]" inside a line may stay


def test_after_min_chars_a_blank_line_ends_the_speech_at_a_sentence_end():
    r = rule(min_chars=20)
    assert not feed(r, "To be, or not to be, that is\n")
    assert r.bans == NO_BRACKET | NO_BLANK  # past min_chars, but the line ended mid-sentence
    assert not feed(r, "the question.\n")
    assert r.bans == NO_BRACKET  # a blank line may come now
    assert r.feed("\n")
    assert r.text == "To be, or not to be, that is\nthe question." and r.reason == "speech end"


def test_a_line_that_is_a_speakers_name_may_not_take_a_colon():
    r = rule()
    feed(r, "Well.\nHamlet")
    assert r.bans & NO_COLON
    feed(r, " and")
    assert not r.bans & NO_COLON
    r = rule()
    feed(r, "Well.\nOTHELLO")  # capitals: a name, known or not
    assert r.bans & NO_COLON
    r = rule()
    feed(r, "Well.\nI am beloved of beauteous Hermia")  # a verse line may end with a colon
    assert r.bans == 0


def test_headings_may_not_be_written():
    r = rule()
    feed(r, "Well.\nAct ")
    assert r.bans & NO_NUMERAL
    r = rule()
    feed(r, "Well.\nPrologue")
    assert r.bans & NO_HEADING_END
    table = structure_masks(("\n", " ", ".", ":", "I", "V", "[", "a"))
    assert [c for c, banned in zip("\n .:IV[a", table[NO_NUMERAL][1:], strict=True) if banned] == ["I", "V"]
    assert not table[0].any()


def test_near_the_limit_it_ends_at_the_first_sentence_end():
    r = rule(max_chars=60, min_chars=10)  # from 48 characters on, a sentence end ends it
    assert feed(r, "Now is the winter of our discontent made glorious summer. By this sun")
    assert r.reason == "sentence end" and r.text == "Now is the winter of our discontent made glorious summer."


def test_prose_near_the_limit_ends_the_sentence_it_is_in():
    r = rule(max_chars=100, min_chars=10)
    assert not feed(r, "Go, my lord, go and see the king" + " and the queen" * 4)  # 88 characters, no sentence end
    assert not r.bans & NO_OPEN_END
    assert not feed(r, " and the")  # past 90%: no line end, comma, semicolon or colon before the sentence ends
    assert r.bans & NO_OPEN_END
    table = structure_masks(("\n", " ", ",", ".", ";", ":", "a"))
    assert [c for i, c in enumerate(("\n", " ", ",", ".", ";", ":", "a"), start=1) if not table[r.bans, i]] == [
        " ",
        ".",
        "a",
    ]
    assert feed(r, ". ")  # past the soft limit, the sentence's end ends it
    assert r.text.endswith("the.")


def test_at_the_limit_it_cuts_back_to_a_sentence_end_or_a_whole_word():
    r = rule(max_chars=60, min_chars=10)
    assert feed(r, "O that this too too solid flesh would melt, thaw and resolve itself into a dew")
    assert r.reason == "length" and r.text == "O that this too too solid flesh would melt, thaw and"  # not mid-word
    r = rule(max_chars=60, min_chars=10)
    assert feed(r, "I know not seems, madam; nay, it is. O that this too too solid flesh would melt")
    assert r.reason == "length" and r.text == "I know not seems, madam; nay, it is."  # keeps over half: cut back
    r = rule(max_chars=60, min_chars=10)
    assert feed(r, "Seems, madam. O that this too too solid flesh would melt, thaw and resolve")
    assert r.reason == "length" and r.text == "Seems, madam. O that this too too solid flesh would melt,"


def test_safe_length_never_exceeds_the_final_text():
    rng = np.random.default_rng(3)
    alphabet = list("abc de.\n,")
    for _ in range(200):
        r = rule(max_chars=int(rng.integers(20, 80)), min_chars=int(rng.integers(0, 30)))
        shown = []
        while True:
            done = r.feed(str(rng.choice(alphabet)))
            shown.append(r.safe_length())
            if done:
                break
        assert all(s <= len(r.text) for s in shown[:-1]) and shown[-1] == len(r.text)
        assert not r.text.endswith((" ", "\n"))
