"""Shared fixtures: small corpora and tiny exported models, made here, never downloaded."""

from __future__ import annotations

import gc
import os

# One BLAS thread, as bard-bot runs (bot/__init__.py): with two, OpenBLAS's threads spin against anything else on a
# busy machine and a test's generation can take a hundred times longer. Set before numpy is first imported.
for _variable in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from collections.abc import AsyncIterator, Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import pytest_asyncio  # noqa: E402

pytest_plugins = ["fake_discord", "postgres_server"]  # `fake`: a fake Discord; `postgres_url`: a PostgreSQL server

# The test modules that need the `train` extra (TensorFlow, Keras, the plays) throughout; a single test elsewhere
# that needs it carries @pytest.mark.training. Both are marked `training`. `pytest --serving` (make test-serving,
# on a serving-only install) runs all the others: one of them that needs TensorFlow fails there, never skips.
TRAINING_MODULES = frozenset(
    {
        "test_corpus.py",
        "test_store.py",
        "test_training.py",
        "test_multiworker.py",
        "test_importers.py",
        "test_preview.py",
        "test_run_length.py",
        "test_recipe.py",
        "test_topic_eval.py",  # benchmarks/topic_data.py reads the plays with the TEI importer
        "test_subject_training.py",
    }
)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--serving",
        action="store_true",
        help="a serving-only install (pip install .): leave out the tests marked training, which need the train extra",
    )


def pytest_report_header(config: pytest.Config) -> str | None:
    if config.getoption("serving"):
        return f"serving only: left out {', '.join(sorted(TRAINING_MODULES))} and the tests marked training"
    return None


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    # Not even imported: test_training imports TensorFlow at the top.
    return True if config.getoption("serving") and collection_path.name in TRAINING_MODULES else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name in TRAINING_MODULES:
            item.add_marker(pytest.mark.training)
    if config.getoption("serving"):
        left_out = [item for item in items if item.get_closest_marker("training")]
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if not item.get_closest_marker("training")]


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


@pytest.fixture(scope="session", autouse=True)
def _collected_once() -> None:
    """In the whole suite TensorFlow is imported while collecting (test_training), leaving a huge object graph; a
    full garbage collection of it later would stall an event loop under test for ~0.2-0.5 s. Collect once, before
    the first test, and move it all out of the collector's sight."""
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def _database_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test's bot keeps its servers' settings in a database of its own, never in the working directory."""
    monkeypatch.setenv("BARD_DATABASE_URL", f"sqlite:///{tmp_path / 'bard.sqlite3'}")


@pytest.fixture(scope="session")
def script_text() -> str:
    return SCRIPT * 6


@pytest.fixture
def play_file(tmp_path: Path, script_text: str) -> Path:
    """The test script as a play file of its own, plays/hamlet.txt, for bard-train --text."""
    path = tmp_path / "plays" / "hamlet.txt"
    path.parent.mkdir()
    path.write_text(script_text)
    return path


def tiny_manifest(name: str, arch: dict[str, int], parameter_count: int, **more: Any) -> dict[str, Any]:
    """The manifest facts of an untrained test model; `more` adds to them or overrides them."""
    return {
        "name": name,
        "corpus": {"description": "test script", "sha256": "0" * 64},
        "hyperparameters": arch,
        "parameter_count": parameter_count,
        "train_loss": 4.0,
        "val_loss": 4.1,
        "epochs_trained": 0,
        "command": "tests/conftest.py",
    } | more


def make_tiny_model(
    out: Path,
    text: str,
    *,
    units: int = 16,
    layers: int = 2,
    embedding_dim: int = 8,
    seed: int = 0,
    manifest: dict[str, Any] | None = None,
    speech: bool = False,
) -> Path:
    """Export an untrained model made from numpy alone (no model.keras): what serving needs, without TensorFlow.
    With `speech`, it carries the text's lexicon and speakers, so that it writes monologues.

    Random weights drawn as Keras initialises them (embedding uniform in ±0.05, Glorot-uniform kernels, orthogonal
    recurrent kernels, zero biases but the forget gates' at 1), so that its untrained output behaves like a
    Keras-built model's; same seed, same weights.
    """
    from model_store import export, store
    from model_store.playscript import lexicon_and_speakers
    from model_store.vocab import Vocab

    vocab = Vocab.from_text(text)
    arch = {"vocab_size": vocab.size, "embedding_dim": embedding_dim, "layers": layers, "units": units}
    rng = np.random.default_rng(seed)
    weights = {}
    for name, shape in store.weight_shapes(**arch).items():
        limit = 0.05 if name == store.EMBEDDING else np.sqrt(6 / sum(shape))
        weights[name] = rng.uniform(-limit, limit, shape) if len(shape) == 2 else np.zeros(shape)
    for i in range(layers):
        _, recurrent, bias = store.lstm_weight_names(i)
        q, r = np.linalg.qr(rng.standard_normal((4 * units, units)))
        weights[recurrent] = (q * np.sign(np.diag(r))).T  # orthogonal rows, as Keras's recurrent initialiser
        weights[bias][units : 2 * units] = 1.0  # the forget gates (gate order i, f, g, o)
    weights = {name: w.astype(np.float32) for name, w in weights.items()}
    count = sum(w.size for w in weights.values())
    facts = tiny_manifest(out.name, arch, count, **(manifest or {}))
    lexicon, speakers = lexicon_and_speakers(text) if speech else (None, None)
    return export.write(out, weights=weights, vocab=vocab, manifest=facts, lexicon=lexicon, speakers=speakers)


def make_keras_model(
    out: Path,
    text: str,
    *,
    units: int = 16,
    layers: int = 2,
    embedding_dim: int = 8,
    seed: int = 0,
    manifest: dict[str, Any] | None = None,
) -> Path:
    """Export an untrained model built with Keras, model.keras included, as training exports one.

    Needs the `train` extra: only for tests marked `training` (comparisons with Keras, fine-tuning, model.keras).
    """
    import keras

    from model_store import export
    from model_store.vocab import Vocab
    from training.config import TrainConfig
    from training.model import architecture, build_model, numpy_weights

    keras.utils.set_random_seed(seed)
    vocab = Vocab.from_text(text)
    config = TrainConfig(layers=layers, units=units, embedding_dim=embedding_dim, seq_len=32, batch_size=4)
    model = build_model(vocab.size, embedding_dim=embedding_dim, layers=layers, units=units, dropout=0.0)
    arch = config.to_dict() | architecture(model)
    facts = tiny_manifest(out.name, arch, int(model.count_params()), **(manifest or {}))
    return export.write(out, keras_model=model, weights=numpy_weights(model), vocab=vocab, manifest=facts)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, script_text: str) -> Path:
    """A tiny exported model (2 x 16 LSTM, numpy-made) shared by the whole session; treat it as read-only."""
    # Seed 1: its greedy and low-temperature continuations are words. With some seeds an untrained model repeats
    # one letter there, which the stop rule (never mid-word) cuts to nothing, and the engine's tests compare texts.
    return make_tiny_model(tmp_path_factory.mktemp("models") / "tiny", script_text, seed=1)


@pytest.fixture(scope="session")
def monologue_model_dir(tmp_path_factory: pytest.TempPathFactory, script_text: str) -> Path:
    """The tiny model with its script's lexicon and speakers: it writes monologues. Read-only."""
    return make_tiny_model(tmp_path_factory.mktemp("models") / "monologue", script_text, seed=1, speech=True)


@pytest.fixture(scope="session")
def keras_model_dir(tmp_path_factory: pytest.TempPathFactory, script_text: str) -> Path:
    """A tiny Keras-built export (2 x 16 LSTM, with model.keras) shared by the session; read-only. Needs Keras."""
    return make_keras_model(tmp_path_factory.mktemp("models") / "tiny-keras", script_text)


@pytest_asyncio.fixture(loop_scope="function")
async def make_bard(tiny_model_dir: Path) -> AsyncIterator[Callable[..., Any]]:
    """Makes Bards (not yet started) on the tiny model, with the cooldown off unless given; closes them after."""
    from bot.bard import Bard
    from bot.service import create_service
    from bot.settings import Settings

    made: list[Bard] = []

    def make(**settings: Any) -> Bard:
        s = Settings(model_dir=tiny_model_dir, **({"cooldown": 0} | settings))
        bard = Bard(s, create_service(s))
        made.append(bard)
        return bard

    yield make
    for bard in made:
        await bard.close(0)
        await bard.service.close()


def walk_allowed(engine: Any, rule: Any, rng: np.random.Generator) -> None:
    """Feed a monologue's rule characters drawn at random among those the engine's masks allow it, to its end:
    every step must leave something to pick, and never the unknown id."""
    chars = engine.vocab.chars
    while True:
        allowed = np.flatnonzero(~engine._banned([rule])[0])
        assert len(allowed) > 0 and 0 not in allowed
        if rule.feed(chars[rng.choice(allowed) - 1]):
            break


def estimated_metre(lexicon: Any) -> Any:
    """Metre data for a lexicon's words from the rule-based estimate alone (the CMU dictionary, which bard-train
    uses, is in the train extra): enough for the verse masks' tests, on a serving-only install too."""
    from model_store.metre import Metre, estimate

    return Metre({word: estimate(word) for word in lexicon.counts if word in lexicon})


def spelled_rhymes(lexicon: Any) -> Any:
    """A stand-in for the CMU dictionary's rhyme parts on a tiny lexicon (the dictionary is in the train extra): words
    rhyme on their last two letters."""
    from model_store.rhymes import Rhymes

    def part(word: str) -> str:
        return " ".join(c.upper() for c in word[-2:] if c.isalpha()) or "E"

    return Rhymes({word: [part(word)] for word in lexicon.counts})


@pytest.fixture(scope="session")
def rhymed_model_dir(tmp_path_factory: pytest.TempPathFactory, script_text: str) -> Path:
    """The tiny model with its script's lexicon, speakers, estimated metre and stand-in rhymes: it writes verse
    monologues that close on a couplet, and sonnets. Read-only."""
    from model_store import export
    from model_store.playscript import lexicon_and_speakers

    path = make_tiny_model(tmp_path_factory.mktemp("models") / "rhymed", script_text, seed=1)
    lexicon, speakers = lexicon_and_speakers(script_text)
    metre, rhymes = estimated_metre(lexicon), spelled_rhymes(lexicon)
    return export.add_speech_data(path, lexicon=lexicon, speakers=speakers, metre=metre, rhymes=rhymes)
