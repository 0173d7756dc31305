"""The lexicon (words of the plays, with counts and case) and the speakers list: built, merged, saved, refused."""

from __future__ import annotations

import pytest

from model_store.lexicon import Lexicon, LexiconError, WordRules, words
from model_store.playscript import is_heading, names_a_speaker, speeches
from model_store.speakers import Speakers, SpeakersError

LINES = [
    "'Tis now struck twelve; get thee to bed, Francisco.",
    "O'er the hills, I'll go to-night with Hamlet.",
    "Hamlet, the king, the king! th' old man comes.",
    "The king is dead. The queen weeps for Hamlet.",
    "HARK, the SONG: the SONG, the SONG of Hamlet!",
]


def test_words_keep_apostrophes_and_split_compounds():
    assert words("O'er the hills, I'll go to-night; 'tis th' end.") == [
        "O'er",
        "the",
        "hills",
        "I'll",
        "go",
        "to",
        "night",
        "'tis",
        "th'",
        "end",
    ]


def test_counts_record_case_and_position():
    lexicon = Lexicon.from_lines(LINES)
    total, lower, title_mid, upper = lexicon.counts["the"]
    assert total == 8 and lower == 6 and title_mid == 0 and upper == 0  # "The" twice, each at a sentence start
    assert lexicon.counts["hamlet"] == [4, 0, 3, 0]  # never in lower case: a name (once where a line starts)
    assert lexicon.counts["song"][3] == 3  # in capitals
    assert lexicon.count("KING") == 3 and "king" in lexicon and "francisco" not in lexicon  # min_count 3


def test_word_rules_tell_names_from_common_words():
    lexicon = Lexicon.from_lines(LINES)
    rules = {w: WordRules.of(entry, lexicon.min_count) for w, entry in lexicon.counts.items()}
    assert rules["the"] == WordRules(lower=True, title_anywhere=False, upper=False)
    assert rules["hamlet"] == WordRules(lower=False, title_anywhere=True, upper=False)
    assert rules["song"].upper and not rules["king"].upper


def test_merged_adds_counts_and_json_round_trips():
    base = Lexicon.from_lines(LINES[:2])
    extra = Lexicon.from_lines(["Faustus, Faustus, Faustus, the tragical history."])
    merged = base.merged(extra)
    assert merged.counts["faustus"] == [3, 0, 2, 0] and merged.count("the") == 2
    assert base.count("faustus") == 0  # the base is left as it was
    again = Lexicon.from_json(merged.to_json())
    assert again.counts == merged.counts and again.min_count == merged.min_count


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("{", "not valid JSON"),
        ('{"min_count": 3}', "counts object"),
        ('{"min_count": 0, "counts": {}}', "min_count"),
        ('{"min_count": 3, "counts": {"The": [1, 0, 0, 0]}}', "not a lower-case word"),
        ('{"min_count": 3, "counts": {"the": [1, 0]}}', "four counts"),
    ],
)
def test_bad_lexicon_files_are_refused(data, message):
    with pytest.raises(LexiconError, match=message):
        Lexicon.from_json(data)


SCRIPT = """ACT I

SCENE I. A room.

[Enter HAMLET]

HAMLET:
To be, or not to be, that is the question:
I am beloved of beauteous Hermia:
Soft you now! [Aside]
[Exit]

First Citizen:
Speak, speak.

HAMLET:
The king!
"""


def test_speeches_and_speakers_of_a_script():
    found = list(speeches(SCRIPT))
    assert [s.speaker for s in found] == ["HAMLET", "First Citizen", "HAMLET"]
    assert found[0].lines[1] == "I am beloved of beauteous Hermia:"  # a verse line ending in a colon is speech
    assert found[0].lines[2:] == ("Soft you now! [Aside]",)  # a direction inside a line stays; "[Exit]" goes
    speakers = Speakers.from_names(s.speaker for s in found)
    assert speakers.counts == {"HAMLET": 2, "First Citizen": 1}


def test_speaker_lines_and_headings_are_told_from_verse():
    names = frozenset({"hamlet", "first citizen"})
    assert names_a_speaker("HAMLET:", names) and names_a_speaker("First Citizen:", names)
    assert names_a_speaker("OTHELLO:", names)  # capitals: a speaker even if this model never saw him
    assert not names_a_speaker("I am beloved of beauteous Hermia:", names)
    assert is_heading("ACT II") and is_heading("SCENE III. A street.") and is_heading("Scene 2")
    assert is_heading("PROLOGUE") and is_heading("Epilogue")
    assert not is_heading("Act as thou wilt, and prosper.") and not is_heading("Scene of our woe")


def test_speakers_split_a_seed_that_names_one():
    speakers = Speakers({"HAMLET": 359, "LADY MACBETH": 60, "Clown": 260, "HORATIO": 100})
    assert speakers.split_seed("hamlet: To be") == ("HAMLET", "To be")
    assert speakers.split_seed("Lady Macbeth: Out, damned spot") == ("LADY MACBETH", "Out, damned spot")
    assert speakers.split_seed("clown:") == ("Clown", "")
    assert speakers.split_seed("Faustus: Was this the face") == ("FAUSTUS", "Was this the face")  # new: capitals
    assert speakers.split_seed("alas: poor Yorick") == (None, "alas: poor Yorick")  # not written as a name
    assert speakers.split_seed("To be, or not to be: that") == (None, "To be, or not to be: that")
    assert speakers.split_seed("Note this:well") == (None, "Note this:well")  # no space after the colon


def test_speakers_best_well_known_and_json():
    speakers = Speakers({"HAMLET": 359, "Clown": 260, "HORATIO": 100, "Second Lord": 3})
    assert speakers.best(2) == [("HAMLET", 359), ("Clown", 260)]
    assert speakers.best(5, "O") == [("Clown", 260), ("HORATIO", 100), ("Second Lord", 3)]  # any case
    assert speakers.best(5, "lord") == [("Second Lord", 3)]
    assert speakers.well_known() == ["HAMLET", "Clown", "HORATIO"]
    assert Speakers.from_json(speakers.to_json()) == speakers
    with pytest.raises(SpeakersError, match="positive count"):
        Speakers.from_json('{"speeches": {"HAMLET:": 3}}')
    with pytest.raises(SpeakersError, match="non-empty"):
        Speakers.from_json('{"speeches": {}}')
