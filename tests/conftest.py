"""Shared fixtures: small corpora and tiny exported models, made here, never downloaded."""

from __future__ import annotations

import gc
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

pytest_plugins = ["fake_discord"]  # the `fake` fixture: a fake Discord server for the bot's tests

# A few speeches in the play-script format the corpus module writes.
SCRIPT = """ACT I

SCENE I. A room in the castle.

[Enter HAMLET and HORATIO]

HAMLET:
To be, or not to be, that is the question:
Whether 'tis nobler in the mind to suffer
The slings and arrows of outrageous fortune,
Or to take arms against a sea of troubles,
And by opposing end them? To die: to sleep.

HORATIO:
My lord, the king your father.

HAMLET:
The king my father! Season your admiration for a while
With an attent ear, till I may deliver.

OTHELLO:
It is the cause, it is the cause, my soul,
Let me not name it to you, you chaste stars!
It is the cause. Yet I'll not shed her blood.

"""


@pytest.fixture(scope="session")
def script_text() -> str:
    return SCRIPT * 6


def make_tiny_model(
    out: Path,
    text: str,
    *,
    units: int = 16,
    layers: int = 2,
    embedding_dim: int = 8,
    seed: int = 0,
    manifest: dict[str, Any] | None = None,
) -> Path:
    """Export an untrained (randomly initialised) model: real files, made in a second."""
    import keras

    from model_store import store
    from model_store.vocab import Vocab
    from training.config import TrainConfig
    from training.model import architecture, build_model, numpy_weights

    keras.utils.set_random_seed(seed)
    vocab = Vocab.from_text(text)
    config = TrainConfig(layers=layers, units=units, embedding_dim=embedding_dim, seq_len=32, batch_size=4)
    model = build_model(vocab.size, embedding_dim=embedding_dim, layers=layers, units=units, dropout=0.0)
    manifest = {
        "name": out.name,
        "corpus": {"description": "test script", "sha256": "0" * 64},
        "hyperparameters": config.to_dict() | architecture(model),
        "parameter_count": int(model.count_params()),
        "train_loss": 4.0,
        "val_loss": 4.1,
        "epochs_trained": 0,
        "command": "tests/conftest.py",
    } | (manifest or {})
    return store.export(out, keras_model=model, weights=numpy_weights(model), vocab=vocab, manifest=manifest)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, script_text: str) -> Path:
    """A tiny exported model (2 x 16 LSTM) shared by the whole session; treat it as read-only."""
    path = make_tiny_model(tmp_path_factory.mktemp("models") / "tiny", script_text)
    # Importing TensorFlow leaves a huge object graph; a full garbage collection of it later would stall an
    # event loop under test for ~0.2 s. Collect once now and move it all out of the collector's sight.
    gc.collect()
    gc.freeze()
    return path


@pytest_asyncio.fixture(loop_scope="function")
async def make_bard(tiny_model_dir: Path) -> AsyncIterator[Callable[..., Any]]:
    """Makes Bards (not yet started) on the tiny model, with the cooldown off unless given; closes them after."""
    from bot.bard import Bard
    from bot.service import create_service, inference_executor
    from bot.settings import Settings

    made: list[Bard] = []

    def make(**settings: Any) -> Bard:
        s = Settings(model_dir=tiny_model_dir, **({"cooldown": 0} | settings))
        bard = Bard(s, create_service(s, inference_executor()))
        made.append(bard)
        return bard

    yield make
    for bard in made:
        await bard.close(0)
        bard.service.executor.shutdown(wait=True, cancel_futures=True)
