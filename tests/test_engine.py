"""The numpy engine: logits match Keras, reproducible sampling, batching, seeds, the stop rule."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_tiny_model

from model_store import store
from model_store.engine import Engine, GenerationRequest
from model_store.sampling import sample, sample_batch
from model_store.stop_rule import StopRule


@pytest.fixture(scope="module")
def engine(tiny_model_dir) -> Engine:
    return Engine(store.load(tiny_model_dir))


def test_logits_match_keras_over_500_steps(tiny_model_dir, script_text):
    model = store.load_keras(tiny_model_dir)
    engine = Engine(store.load(tiny_model_dir))
    ids = engine.vocab.encode(script_text[:500])
    expected = np.asarray(model(ids[None, :], training=False))[0]
    primed, _ = engine.prime(ids)
    assert np.max(np.abs(primed - expected)) <= 1e-4
    # Step by step from the carried state, as generation does.
    state = engine.zero_state(1)
    stepped = np.stack([engine.step(ids[t : t + 1], state)[0] for t in range(len(ids))])
    assert stepped.shape == expected.shape == (500, engine.vocab.size)
    assert np.max(np.abs(stepped - expected)) <= 1e-4
    # Stepping on from a primed state, as generation after a seed does.
    _, state = engine.prime(ids[:250])
    resumed = np.stack([engine.step(ids[t : t + 1], state)[0] for t in range(250, len(ids))])
    assert np.max(np.abs(resumed - expected[250:])) <= 1e-4


@pytest.mark.parametrize("layers", [1, 3])
def test_logits_match_keras_for_other_depths(tmp_path, script_text, layers):
    # Each layer's product carries the next layer's input (the logits, at the top): check both ends of that chain.
    model_dir = make_tiny_model(tmp_path / f"deep{layers}", script_text, layers=layers)
    engine = Engine(store.load(model_dir))
    ids = engine.vocab.encode(script_text[:120])
    expected = np.asarray(store.load_keras(model_dir)(ids[None, :], training=False))[0]
    _, state = engine.prime(ids[:60])
    resumed = np.stack([engine.step(ids[t : t + 1], state)[0] for t in range(60, len(ids))])
    assert np.max(np.abs(engine.prime(ids)[0] - expected)) <= 1e-4
    assert np.max(np.abs(resumed - expected[60:])) <= 1e-4


def test_same_seed_same_text_and_different_seed_differs(engine):
    a = engine.generate("To be", max_chars=200, temperature=1.0, rng=np.random.default_rng(7))
    b = engine.generate("To be", max_chars=200, temperature=1.0, rng=np.random.default_rng(7))
    c = engine.generate("To be", max_chars=200, temperature=1.0, rng=np.random.default_rng(8))
    assert a == b
    assert a.text != c.text


def test_batch_gives_each_request_its_solo_text(engine):
    options = [
        dict(seed="To be", temperature=1.0, top_k=0, top_p=1.0, max_chars=150),
        dict(seed="", temperature=0.5, top_k=5, top_p=1.0, max_chars=80),
        dict(seed="HAMLET:\n", temperature=1.2, top_k=0, top_p=0.9, max_chars=300),
        dict(seed="My lord", temperature=0.0, top_k=0, top_p=1.0, max_chars=60),
        dict(seed="It is the cause", temperature=0.8, top_k=10, top_p=0.95, max_chars=220),
    ]
    solo = [
        engine.generate_batch([GenerationRequest(rng=np.random.default_rng(i), **o)])[0] for i, o in enumerate(options)
    ]
    batch = engine.generate_batch([GenerationRequest(rng=np.random.default_rng(i), **o) for i, o in enumerate(options)])
    assert batch == solo
    assert len({g.text for g in batch}) == len(batch)


def test_streamed_pieces_add_up_to_the_text(engine):
    pieces: list[str] = []
    g = engine.generate("To be", max_chars=300, temperature=1.0, rng=np.random.default_rng(3), on_text=pieces.append)
    assert "".join(pieces) == g.text
    assert len(pieces) > 1


def test_seed_cleaning(engine):
    g = engine.generate(
        "\u201cTo be\u201d \u2014 caf\u00e9\u00a0\U0001f600 Or", max_chars=40, rng=np.random.default_rng(0)
    )
    assert g.seed == '"To be" -- cafe Or' or all(c in engine.vocab for c in g.seed)
    assert all(c in engine.vocab for c in g.seed)
    assert any("dropped" in change for change in g.seed_changes)
    assert any("'é' -> 'e'" in change for change in g.seed_changes)


def test_seed_cleaning_keeps_known_text_and_reports_nothing(engine):
    g = engine.generate("To be, or not", max_chars=20, rng=np.random.default_rng(0))
    assert g.seed == "To be, or not"
    assert g.seed_changes == ()


def test_long_seed_is_cut_to_its_tail(engine):
    seed = "To be, or not to be " * 200
    g = engine.generate(seed, max_chars=20, rng=np.random.default_rng(0))
    assert len(g.seed) <= engine.max_seed_chars
    assert seed.endswith(g.seed)
    assert any("cut" in change for change in g.seed_changes)


def test_unseen_capitalisation_is_not_an_error(engine):
    # The tiny vocabulary lacks 'Q' and 'z'; they are mapped by case or dropped, never an error.
    g = engine.generate("QUEEN zounds", max_chars=20, rng=np.random.default_rng(0))
    assert all(c in engine.vocab for c in g.seed)


def test_empty_seed_starts_a_speech(engine):
    g = engine.generate("", max_chars=100, rng=np.random.default_rng(0))
    assert g.seed == ""
    assert len(g.text) <= 100


@pytest.mark.parametrize(
    "bad",
    [
        dict(temperature=-1),
        dict(top_k=-2),
        dict(top_p=0),
        dict(top_p=1.5),
        dict(max_chars=0),
        dict(temperature=float("nan")),
    ],
)
def test_bad_options_raise(engine, bad):
    with pytest.raises(ValueError):
        engine.generate("To be", **bad)


# --------------------------------------------------------------------------- sampling


def test_sample_greedy_top_k_and_never_unknown():
    logits = np.array([9.0, 1.0, 3.0, 2.0])  # id 0 is the unknown character
    rng = np.random.default_rng(0)
    assert sample(logits, rng, temperature=0) == 2
    assert {sample(logits, rng, temperature=1.0, top_k=1) for _ in range(50)} == {2}
    assert {sample(logits, rng, temperature=5.0, top_k=2) for _ in range(200)} == {2, 3}
    assert 0 not in {sample(logits, rng, temperature=10.0) for _ in range(500)}


def test_sample_top_p_keeps_the_nucleus():
    logits = np.log(np.array([1e-9, 0.6, 0.3, 0.1]))
    rng = np.random.default_rng(0)
    assert {sample(logits, rng, top_p=0.5) for _ in range(200)} == {1}
    assert {sample(logits, rng, top_p=0.85) for _ in range(500)} == {1, 2}


def test_sample_batch_rows_are_independent():
    logits = np.random.default_rng(0).normal(size=(6, 30))
    # Rows of every kind side by side: plain softmax, top-k, top-p, both, another softmax, greedy.
    t, k, p = np.array([0.9, 0.9, 0.9, 0.9, 0.7, 0]), np.array([0, 3, 0, 5, 0, 0]), np.array([1, 1, 0.8, 0.9, 1, 1])
    u = np.random.default_rng(1).random(6)
    together = sample_batch(logits, t, k, p, u)
    alone = [
        sample_batch(logits[i : i + 1], t[i : i + 1], k[i : i + 1], p[i : i + 1], u[i : i + 1])[0] for i in range(6)
    ]
    assert list(together) == alone


# --------------------------------------------------------------------------- stop rule


def feed(rule: StopRule, text: str) -> str:
    for ch in text:
        if rule.feed(ch):
            break
    return rule.text


def test_stop_rule_ends_at_a_blank_line_after_the_speech():
    rule = StopRule("\nTo be", max_chars=400, min_chars=10)
    out = feed(rule, ", or not to be: that is the question.\nWhether 'tis nobler\n\nHORATIO:\nMy lord.")
    assert out == ", or not to be: that is the question.\nWhether 'tis nobler"
    assert rule.reason == "speech end"


def test_stop_rule_ends_before_the_next_speaker_line():
    rule = StopRule("\nTo be", max_chars=400, min_chars=10)
    out = feed(rule, ", or not to be, that is the question:\nHORATIO:\nMy lord.")
    assert out == ", or not to be, that is the question:"


def test_stop_rule_keeps_going_below_min_chars():
    rule = StopRule("\nTo be", max_chars=400, min_chars=60)
    out = feed(rule, ", or not.\n\nHORATIO:\nMy lord, the king your father is come again to court.\n\nHAMLET:\nNo.")
    assert out == ", or not.\n\nHORATIO:\nMy lord, the king your father is come again to court."


def test_stop_rule_empty_seed_keeps_the_opening_speaker_line():
    rule = StopRule("\n\n", max_chars=400, min_chars=0)
    assert feed(rule, "HAMLET:\nTo be, or not to be.\n\nHORATIO:") == "HAMLET:\nTo be, or not to be."


def test_stop_rule_at_the_limit_ends_at_a_word_never_mid_word():
    rule = StopRule("\n", max_chars=30, min_chars=0)
    out = feed(rule, "thou art a villainous knavish rogue and more words")
    assert out == "thou art a villainous knavish"
    assert rule.reason == "length"


def test_stop_rule_near_the_limit_ends_at_a_sentence():
    rule = StopRule("\n", max_chars=40, min_chars=0)
    out = feed(rule, "thou art a knave, sir, a very knave. And more besides")
    assert out == "thou art a knave, sir, a very knave."
    assert rule.reason == "sentence end"


def test_stop_rule_safe_length_never_exceeds_the_final_text():
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
