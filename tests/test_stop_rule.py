"""Where free text ends: a speech's end, the next speaker, a sentence near the limit, never mid-word."""

from __future__ import annotations

from model_store.rules.stop_rule import StopRule


def feed(rule: StopRule, text: str) -> str:
    for ch in text:
        if rule.feed(ch):
            break
    return rule.text


def test_ends_at_a_blank_line_after_the_speech():
    rule = StopRule("\nTo be", max_chars=400, min_chars=10)
    out = feed(rule, ", or not to be: that is the question.\nWhether 'tis nobler\n\nHORATIO:\nMy lord.")
    assert out == ", or not to be: that is the question.\nWhether 'tis nobler"
    assert rule.reason == "speech end"


def test_ends_before_the_next_speaker_line():
    rule = StopRule("\nTo be", max_chars=400, min_chars=10)
    out = feed(rule, ", or not to be, that is the question:\nHORATIO:\nMy lord.")
    assert out == ", or not to be, that is the question:"


def test_keeps_going_below_min_chars():
    rule = StopRule("\nTo be", max_chars=400, min_chars=60)
    out = feed(rule, ", or not.\n\nHORATIO:\nMy lord, the king your father is come again to court.\n\nHAMLET:\nNo.")
    assert out == ", or not.\n\nHORATIO:\nMy lord, the king your father is come again to court."


def test_empty_seed_keeps_the_opening_speaker_line():
    rule = StopRule("\n\n", max_chars=400, min_chars=0)
    assert feed(rule, "HAMLET:\nTo be, or not to be.\n\nHORATIO:") == "HAMLET:\nTo be, or not to be."


def test_at_the_limit_ends_at_a_word_never_mid_word():
    rule = StopRule("\n", max_chars=30, min_chars=0)
    out = feed(rule, "thou art a villainous knavish rogue and more words")
    assert out == "thou art a villainous knavish"
    assert rule.reason == "length"


def test_near_the_limit_ends_at_a_sentence():
    rule = StopRule("\n", max_chars=40, min_chars=0)
    out = feed(rule, "thou art a knave, sir, a very knave. And more besides")
    assert out == "thou art a knave, sir, a very knave."
    assert rule.reason == "sentence end"


def test_safe_length_never_exceeds_the_final_text():
    rule = StopRule("\nTo be", max_chars=120, min_chars=20)
    text = ", or not to be: that is the question\nWhether 'tis nobler in the mind\nHORATIO:\nMy lord."
    safe_seen = []
    for ch in text:
        done = rule.feed(ch)
        safe_seen.append(rule.safe_length())
        if done:
            break
    assert max(safe_seen) <= len(rule.text)
    assert rule.text.endswith("mind")


def test_a_verse_line_ending_in_a_colon_is_not_a_speaker():
    rule = StopRule("\nTo be", max_chars=400, min_chars=10)
    out = feed(
        rule, ", or not to be.\nI am beloved of beauteous Hermia:\nWhy should not I then prosecute my right?\n\n"
    )
    assert out == ", or not to be.\nI am beloved of beauteous Hermia:\nWhy should not I then prosecute my right?"
    assert rule.reason == "speech end"  # the blank line, not the verse line, ended it
