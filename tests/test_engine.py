"""The numpy engine: logits match Keras, reproducible sampling, batching, streaming, bad options."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_keras_model

from model_store import store
from model_store.engine import Engine, GenerationRequest


@pytest.fixture(scope="module")
def engine(tiny_model_dir) -> Engine:
    return Engine(store.load(tiny_model_dir))


@pytest.mark.training
def test_logits_match_keras_over_500_steps(keras_model_dir, script_text):
    model = store.load_keras(keras_model_dir)
    engine = Engine(store.load(keras_model_dir))
    ids = engine.vocab.encode(script_text[:500])
    expected = np.asarray(model(ids[None, :], training=False))[0]
    primed, _ = engine.network.prime(ids)
    assert np.max(np.abs(primed - expected)) <= 1e-4
    # Step by step from the carried state, as generation does.
    state = engine.network.zero_state(1)
    stepped = np.stack([engine.network.step(ids[t : t + 1], state)[0] for t in range(len(ids))])
    assert stepped.shape == expected.shape == (500, engine.vocab.size)
    assert np.max(np.abs(stepped - expected)) <= 1e-4
    # Stepping on from a primed state, as generation after a seed does.
    _, state = engine.network.prime(ids[:250])
    resumed = np.stack([engine.network.step(ids[t : t + 1], state)[0] for t in range(250, len(ids))])
    assert np.max(np.abs(resumed - expected[250:])) <= 1e-4


@pytest.mark.training
@pytest.mark.parametrize("layers", [1, 3])
def test_logits_match_keras_for_other_depths(tmp_path, script_text, layers):
    # Each layer's product carries the next layer's input (the logits, at the top): check both ends of that chain.
    model_dir = make_keras_model(tmp_path / f"deep{layers}", script_text, layers=layers)
    engine = Engine(store.load(model_dir))
    ids = engine.vocab.encode(script_text[:120])
    expected = np.asarray(store.load_keras(model_dir)(ids[None, :], training=False))[0]
    _, state = engine.network.prime(ids[:60])
    resumed = np.stack([engine.network.step(ids[t : t + 1], state)[0] for t in range(60, len(ids))])
    assert np.max(np.abs(engine.network.prime(ids)[0] - expected)) <= 1e-4
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


@pytest.mark.parametrize(
    "bad",
    [
        dict(temperature=-1),
        dict(top_k=-2),
        dict(top_p=0),
        dict(top_p=1.5),
        dict(max_chars=0),
        dict(temperature=float("nan")),
        dict(temperature=2.5),
        dict(speaker=" "),
        dict(speaker="Hamlet: To be"),
    ],
)
def test_bad_options_raise(engine, bad):
    with pytest.raises(ValueError):
        engine.generate("To be", **bad)


def _mean_nll(logits: np.ndarray, targets: np.ndarray) -> float:
    z = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return float(-np.take_along_axis(logp, targets[..., None], axis=-1).mean())


@pytest.mark.parametrize("streams", [1, 3])
def test_stream_loss_reads_each_stretch_as_one_primed_sequence(engine, script_text, streams):
    ids = engine.vocab.encode(script_text[:301])
    n, prime = 300 // streams, engine.network.prime
    expected = np.mean(
        [_mean_nll(prime(ids[k * n : (k + 1) * n])[0], ids[k * n + 1 : (k + 1) * n + 1]) for k in range(streams)]
    )
    assert engine.network.stream_loss(ids, streams=streams) == pytest.approx(expected, rel=1e-5)


def test_stream_loss_needs_a_character_per_stream(engine):
    with pytest.raises(ValueError, match="too few"):
        engine.network.stream_loss(engine.vocab.encode("To be"), streams=8)


@pytest.mark.training
def test_stream_loss_matches_keras_over_whole_sequences(keras_model_dir, script_text):
    model = store.load_keras(keras_model_dir)
    engine = Engine(store.load(keras_model_dir))
    ids = engine.vocab.encode(script_text[:401])
    x, y = ids[:400].reshape(4, 100), ids[1:401].reshape(4, 100)
    expected = _mean_nll(np.asarray(model(x, training=False)), y)
    assert engine.network.stream_loss(ids, streams=4) == pytest.approx(expected, abs=1e-4)
