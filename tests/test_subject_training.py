"""The subject adapter's training (training/subject.py): its data, and a network that computes in Keras what the
engine computes in numpy."""

from __future__ import annotations

import numpy as np
from conftest import make_tiny_model
from test_topics import PLAYS, record_of

from model_store import export, store
from model_store.lstm import LSTMNetwork
from training import subject

TEXT = "\n".join(text for _, text in PLAYS)


def topical_model(tmp_path):
    path = make_tiny_model(tmp_path / "topical", TEXT, speech=True, seed=1)
    model = store.load(path)
    export.add_speech_data(path, lexicon=model.lexicon, speakers=model.speakers, topics=record_of())
    return path


def test_each_window_gets_the_bag_of_the_passage_it_ends_in(tmp_path):
    record = record_of()
    text = "CAPTAIN:\nThe sea is wild, the waves are high.\n\nGENERAL:\nThe sword is red with blood.\n"
    starts, ends, bags = subject.passages(text, record)
    words = [[record.words[i - 1] for i in bag] for bag in bags]
    assert words == [["high", "sea", "waves", "wild"], ["blood", "red", "sword"]]
    assert text[starts[1] : ends[1]].startswith("GENERAL:") and ends[0] <= starts[1]
    # Windows of SEQ_LEN characters: the first ends in the first speech, a window ending between them has none.
    text = text[:-1] + " " * 400
    spans = subject.passages(text, record)
    bags = subject.window_bags(len(text), spans, np.random.default_rng(0))
    assert bags.shape == ((len(text) - 1) // subject.SEQ_LEN, subject.MAX_BAG)
    for row, bag in enumerate(bags):
        last = (row + 1) * subject.SEQ_LEN - 1
        inside = [i for i, (a, b) in enumerate(zip(*spans[:2], strict=True)) if a <= last < b]
        assert sorted(bag[bag > 0].tolist()) == (spans[2][inside[0]].tolist() if inside else [])


def test_the_adapter_learns_and_the_engine_computes_what_keras_does(tmp_path, monkeypatch):
    path = topical_model(tmp_path)
    loaded = store.load(path)
    monkeypatch.setattr(subject, "CHUNK_STEPS", 20)
    monkeypatch.setattr(subject, "SEQ_LEN", 32)
    monkeypatch.setattr(subject, "PASSES", 20)  # 450 windows of 32: 70 steps, cut at 40
    adapter, figures = subject.fit(loaded, TEXT, TEXT, minutes=5, max_steps=40, log=lambda _: None)
    assert figures["steps"] == 40 and figures["with_subject"] < figures["without"]
    export.add_subject(path, adapter)
    loaded = store.load(path)
    assert loaded.subject is not None and loaded.subject.words == loaded.topics.words

    # The Keras network with its adapter and the numpy engine agree on the logits of a text given a subject.
    model = subject.build(loaded.weights, loaded.arch, len(adapter.words), "float32")
    subject.set_adapter(model, adapter)
    ids = loaded.vocab.encode("CAPTAIN:\nThe sea is wild")
    bag = np.zeros((1, subject.MAX_BAG), np.int32)
    chosen = adapter.ids(["sea", "ship", "storm"])
    bag[0, : len(chosen)] = np.array(chosen) + 1
    expected = np.asarray(model((ids[None, :], bag), training=False))[0]
    network = LSTMNetwork(loaded)
    shift = network.subject_shift(adapter.subject(chosen)[None, :])
    logits, _ = network.prime(ids, shift=shift)
    np.testing.assert_allclose(logits, expected, atol=1e-4)
    # An empty bag is the network alone.
    plain, _ = network.prime(ids)
    empty = np.asarray(model((ids[None, :], np.zeros_like(bag)), training=False))[0]
    np.testing.assert_allclose(plain, empty, atol=1e-4)


def test_bard_train_fits_the_adapter_and_a_fine_tune_goes_on_from_its_base(tmp_path, capsys):
    from test_training import TINY, run_cli

    play = tmp_path / "plays.txt"
    play.write_text(TEXT * 5)  # more than MIN_TRAIN_CHARS of training text
    out, tuned = tmp_path / "model", tmp_path / "tuned"
    common = ("--epochs", "1", "--run-dir", tmp_path / "runs", "--force", *TINY)
    assert run_cli("--text", play, "--out", out, *common) == 0
    model = store.load(out)
    assert model.subject is not None and model.manifest["subject"]["steps"] >= 1
    assert f"{out}: subject adapter of {len(model.topics.words)} words" in capsys.readouterr().out
    # A fine-tune's adapter goes on from its base's, for its own weights.
    assert run_cli("--text", play, "--init-from", out, "--out", tuned, *common) == 0
    again = store.load(tuned)
    assert again.subject is not None and again.subject.base == again.manifest["files"]["weights.npz"]
    assert again.subject.base != model.subject.base
    # None on a small text, nor with --subject-minutes 0.
    small = tmp_path / "small.txt"
    small.write_text(TEXT)
    assert run_cli("--text", small, "--out", tmp_path / "small", *common) == 0
    assert store.load(tmp_path / "small").subject is None
    assert run_cli("--text", play, "--out", tmp_path / "none", "--subject-minutes", "0", *common) == 0
    assert store.load(tmp_path / "none").subject is None
