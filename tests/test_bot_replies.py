"""Escaping, trimming, and the layout and wording of the bard's replies (pure functions)."""

from __future__ import annotations

import random
import re

import pytest

from bot import replies
from bot.limits import MAX_SEED_CHARS, MESSAGE_LIMIT
from bot.markdown import ELLIPSIS, escape_markdown, fit
from bot.replies import format_model_card, format_models, format_monologue, help_text


def unescape(text: str) -> str:
    """Undo escape_markdown (for checking what a reader sees)."""
    return re.sub(r"\\(.)", r"\1", text).replace("@\u200b", "@")


# --------------------------------------------------------------------------- escaping


def test_markdown_is_escaped() -> None:
    assert escape_markdown("**bold** _it_ ~~x~~ `code` ||spoiler||") == (
        r"\*\*bold\*\* \_it\_ \~\~x\~\~ \`code\` \|\|spoiler\|\|"
    )
    assert escape_markdown("back\\slash") == "back\\\\slash"
    assert escape_markdown("[click](https://evil.example)") == r"\[click\](https://evil.example)"


def test_line_start_markup_is_escaped_only_at_line_starts() -> None:
    text = "# Act I\n- a list\n-# small\n> quote\n1. one\nmid-line - and # stay"
    assert escape_markdown(text) == "\\# Act I\n\\- a list\n\\-# small\n\\> quote\n1\\. one\nmid-line - and # stay"


def test_mentions_are_defused() -> None:
    escaped = escape_markdown("@everyone @here <@123> <@&456> <#789>")
    assert "@everyone" not in escaped and "@here" not in escaped
    assert not re.search(r"(?<!\\)<", escaped)  # every < escaped: no <@id>, <@&role> or <#channel> syntax
    assert unescape(escaped) == "@everyone @here <@123> <@&456> <#789>"


def test_inline_escaping_flattens_newlines() -> None:
    assert escape_markdown("a\n# b - c", inline=True) == "a # b - c"


# --------------------------------------------------------------------------- trimming


def test_fit_leaves_short_text_alone() -> None:
    assert fit("To be, or not to be", 100) == "To be, or not to be"
    assert fit("To be", 100, unfinished=True) == "To be" + ELLIPSIS


def test_fit_cuts_after_a_whole_word() -> None:
    raw = "To be, or not to be, that is the question"
    cut = fit(raw, 20)
    assert len(cut) <= 20 and cut.endswith(ELLIPSIS)
    kept = cut.removesuffix(ELLIPSIS)
    assert raw.startswith(kept) and raw[len(kept)] == " "
    assert kept == "To be, or not to"


def test_fit_counts_escapes_against_the_budget() -> None:
    raw = "*a* " * 100
    cut = fit(raw, 50)
    assert len(cut) <= 50
    assert raw.startswith(unescape(cut.removesuffix(ELLIPSIS)))


def test_fit_cuts_inside_a_word_only_when_one_word_is_too_long() -> None:
    cut = fit("x" * 300, 50)
    assert cut == "x" * (50 - len(ELLIPSIS)) + ELLIPSIS


# --------------------------------------------------------------------------- monologues


def test_monologue_layout_speaker_then_quoted_verse() -> None:
    text = format_monologue("", "\n\nHAMLET:\nTo be, or not to be:\nthat is the question.", stop_reason="speech end")
    assert text == "**HAMLET**\n>>> To be, or not to be:\nthat is the question."


def test_monologue_without_speaker_continues_the_seed() -> None:
    text = format_monologue("To be", ", or not to be.", stop_reason="sentence end")
    assert text == "*The bard continues:*\n>>> To be, or not to be."
    assert format_monologue("", " and so", stop_reason="length").startswith("*The bard begins:*\n>>> and so")


def test_the_echoed_seed_cannot_break_the_layout_or_ping() -> None:
    seed = "@everyone **look** <@123> ```\n# Title\n>>> nested"
    text = format_monologue(seed, " more", stop_reason="sentence end")
    head, verse = text.split("\n>>> ", 1)
    assert head == "*The bard continues:*"
    assert "@everyone" not in text and "<@123>" not in text and not re.search(r"(?<!\\)<", text)
    assert "```" not in text and "\n#" not in text and "\n>" not in verse
    assert unescape(verse) == seed + " more"


def test_unfinished_text_ends_with_an_ellipsis() -> None:
    assert format_monologue("To be", " or not", stop_reason="length").endswith("To be or not" + ELLIPSIS)


def test_seed_changes_are_noted() -> None:
    text = format_monologue("To be", ".", seed_changes=("'’' -> \"'\"", "dropped '🎭'"))
    assert text.splitlines()[1].startswith("-# seed adjusted: ")
    assert "dropped" in text


def test_empty_generation_still_replies() -> None:
    assert format_monologue("", "", stop_reason="length") == "*The bard begins:*\n>>> …"


def test_long_monologues_fit_in_one_message_at_a_word_boundary() -> None:
    words = ("To be, or not to be, that is the question: " * 100).strip()
    text = format_monologue("", words, stop_reason="length")
    assert len(text) <= MESSAGE_LIMIT
    kept = text.split(">>> ", 1)[1].removesuffix(ELLIPSIS)
    assert words.startswith(kept) and words[len(kept)] == " "


@pytest.mark.parametrize("seed", range(30))
def test_any_text_fits_and_reads_as_a_prefix_of_the_original(seed: int) -> None:
    rng = random.Random(seed)
    alphabet = "abc XYZ\n\n*_~`|<>[]#-+1.@\\:'!?"
    raw = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6000)))
    text = format_monologue("", raw, stop_reason=rng.choice(["length", "speech end"]))
    assert len(text) <= MESSAGE_LIMIT
    _, verse = replies.split_speaker(raw)
    shown = unescape(text.split("\n>>> ", 1)[1]).removesuffix(ELLIPSIS)
    expected = verse.strip()
    if shown != "…":
        assert expected.startswith(shown.rstrip())
        rest = expected[len(shown.rstrip()) :]
        assert rest == "" or rest[0].isspace()  # cut at a word end


# --------------------------------------------------------------------------- other replies


def test_model_card_shows_corpus_size_loss_and_date() -> None:
    card = {
        "name": "shakespeare",
        "corpus": "The complete works",
        "parameters": 3_400_000,
        "layers": 2,
        "units": 512,
        "train_loss": 1.2,
        "val_loss": 1.3456,
        "created": "2025-11-28T10:00:00+00:00",
        "epochs": 30,
    }
    text = format_model_card(card, {"served": 3, "busy": 1})
    assert "The complete works" in text and "3,400,000" in text and "1.346" in text
    assert "2025-11-28" in text and "30 epochs" in text and "served 3 · busy 1" in text
    assert len(text) <= MESSAGE_LIMIT


def test_model_card_with_missing_facts_says_unknown() -> None:
    text = format_model_card({"name": "x*y", "corpus": "unknown", "layers": 1, "units": 8})
    assert "unknown" in text and "x\\*y" in text


SHIPPED_CARD = {
    "name": "shakespeare",
    "corpus": "comedies/a-midsummer-night-s-dream and 37 more",
    "val_loss": 1.2309,
    "train_loss": 1.2364,
    "epochs": 15,
    "from_scratch": True,
    "base": None,
    "validation": {"texts": ["comedies/a-midsummer-night-s-dream", "comedies/as-you-like-it", "c/x", "c/y"]},
    "train_minutes": 121.0,
}
SHIPPED_CARD["validation"] |= {"fraction": 0.1, "chars": 499_837}


def test_models_says_what_each_loss_was_measured_on_each_models_base_and_minutes() -> None:
    tuned = {
        "name": "malta",
        "val_loss": 1.318,
        "from_scratch": False,
        "base": "shakespeare",
        "validation": {"texts": ["plays/jew-of-malta.xml"], "fraction": 0.1, "chars": 21_345},
        "train_minutes": 7.5,
    }
    text = format_models([("malta", tuned), ("shakespeare", SHIPPED_CARD)], "shakespeare")
    assert text.splitlines()[1:] == [
        "**malta**: validation loss 1.318 on the last 10% of jew-of-malta.xml (21,345 characters) · fine-tuned from "
        "shakespeare, 7.5 minutes",
        "**shakespeare** (default): validation loss 1.231 on the last 10% of 4 texts (499,837 characters) · trained "
        "from scratch, 121 minutes",
    ]
    # Where a manifest does not say, nothing is made up: the loss and the corpus, as before.
    old = {"val_loss": 4.1, "corpus": "test script", "from_scratch": None, "base": None, "validation": None}
    assert (
        format_models([("old", old)], "old").splitlines()[1] == "**old** (default): validation loss 4.100 · test script"
    )


def test_model_card_names_the_validation_texts_the_base_and_the_minutes() -> None:
    text = format_model_card(SHIPPED_CARD)
    assert (
        "Loss: validation 1.231 on the last 10% of 4 texts (499,837 characters: a-midsummer-night-s-dream, "
        "as-you-like-it, x and 1 more), training 1.236 (cross-entropy per character)" in text
    )
    assert "(15 epochs; trained from scratch, 121 minutes)" in text
    tuned = SHIPPED_CARD | {"from_scratch": False, "base": "shake_speare", "train_minutes": 7.5}
    assert "(15 epochs; fine-tuned from shake\\_speare, 7.5 minutes)" in format_model_card(tuned)


def test_help_lists_every_option_with_its_range_and_default() -> None:
    text = help_text("?", temperature=0.7, length=300)
    for option in ("-t", "--temperature", "-n", "--length", "-k", "--top-k", "-p", "--top-p", "-r", "--prose", "--"):
        assert f"`{option}`" in text
    assert "default 0.7" in text and "default 300" in text and "`?bard info`" in text and "`?bard settings`" in text
    assert "blank verse" in text
    assert f"a seed of {MAX_SEED_CHARS} characters at most" in text
    assert len(text) <= MESSAGE_LIMIT


def test_friendly_replies_are_one_line() -> None:
    for reply in (replies.BUSY, replies.FAILED, replies.LEAVING, replies.NOT_OWNER, replies.timed_out(30)):
        assert "\n" not in reply.text and not reply.ok
    assert replies.cooldown(2.1).text.endswith("in 3 s.")
    assert "See `!bard help`" in replies.bad_options("bad", "!").text
    assert "(`?bard To be`)" in replies.no_monologue("?").text  # a command the user can type, not `bard To be`


def test_free_text_after_a_seed_never_takes_its_first_line_for_a_speaker():
    # The seed starts the line: "To beYgA:" is the seed's line running on, not a speaker (an untrained model's text).
    text = format_monologue("To be", "YgA:\nmore words", stop_reason="length")
    assert text.startswith("*The bard continues:*\n>>> To beYgA:\nmore words")
    opened = format_monologue("", "HAMLET:\nTo be.", stop_reason="speech end")
    assert opened == "**HAMLET**\n>>> To be."
    named = format_monologue("To be", ", or not.", speaker="HAMLET", stop_reason="speech end")
    assert named == "**HAMLET**\n>>> To be, or not."


def test_a_text_cut_back_to_a_sentence_end_gets_no_ellipsis():
    assert format_monologue("To be", ", or not to be.", stop_reason="length").endswith("to be.")
    assert format_monologue("To be", ", or not to be", stop_reason="length").endswith("to be" + ELLIPSIS)
