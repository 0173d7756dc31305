"""Load bard models, and the files of a model directory (model_store/export.py writes them).

A model directory holds:
  model.keras    the Keras model (training, fine-tuning, anything Keras); optional: an export made
                 without Keras (tests, a serving-only build) has none
  weights.npz    the same weights as plain numpy arrays (serving needs no TensorFlow)
  vocab.json     the character vocabulary
  lexicon.json   the words of the training plays with their counts (model_store/lexicon.py); optional:
                 without it a monologue's words are not held to real words
  speakers.json  the speakers of the training plays with their numbers of speeches; optional: without it
                 (and the lexicon) the model writes free text, not monologues
  metre.json     the syllables and stress of the lexicon's words (model_store/metre.py); optional: without
                 it a monologue is prose
  rhymes.json    what each of the lexicon's words rhymes on (model_store/rhymes.py); optional: without it
                 verse never rhymes (no closing couplet, no sonnets)
  names.json     which proper names occur in which play, and who speaks in each (model_store/names.py);
                 optional: without it a speaker may use any name
  topics.npz     which words go together, who uses which, and who said which line (model_store/topics.py);
                 optional: without it a speech is not held to a subject and the speaker ignores the seed
  subject.npz    the subject adapter trained on this network (model_store/subject.py); optional: without it
                 the network is not told a speech's subject
  manifest.json  what produced the model, its losses, and the sha256 of every other file

model_store/export.py writes them (atomically); loading verifies the manifest, every checksum and the shapes
before anything is used.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from model_store.lexicon import Lexicon, LexiconError
from model_store.metre import Metre, MetreError
from model_store.names import NameRecord, NamesError
from model_store.rhymes import Rhymes, RhymesError
from model_store.speakers import Speakers, SpeakersError
from model_store.subject import SubjectAdapter, SubjectError
from model_store.topics import TopicRecord, TopicsError
from model_store.vocab import Vocab, VocabError

SCHEMA_VERSION = 1
MODEL_FILE = "model.keras"
WEIGHTS_FILE = "weights.npz"
VOCAB_FILE = "vocab.json"
LEXICON_FILE = "lexicon.json"
SPEAKERS_FILE = "speakers.json"
METRE_FILE = "metre.json"
NAMES_FILE = "names.json"
RHYMES_FILE = "rhymes.json"
TOPICS_FILE = "topics.npz"
SUBJECT_FILE = "subject.npz"
MANIFEST_FILE = "manifest.json"
REQUIRED_FILES = (WEIGHTS_FILE, VOCAB_FILE)
OPTIONAL_FILES = (
    *(MODEL_FILE, LEXICON_FILE, SPEAKERS_FILE, METRE_FILE, NAMES_FILE, RHYMES_FILE),
    *(TOPICS_FILE, SUBJECT_FILE),  # issue 28's: who speaks and what about
)
ARCH_KEYS = ("vocab_size", "embedding_dim", "layers", "units")  # what rebuilds the network
# The arrays of weights.npz, by name: the training code writes them under these names, the engine reads them.
EMBEDDING = "embedding"
DENSE_KERNEL, DENSE_BIAS = "dense.kernel", "dense.bias"
SETTLE_ATTEMPTS = 3  # load_settled: a load that raced a replacement of the directory is tried this many times
SETTLE_DELAY = 0.05  # seconds, times the attempt number: lets an export finish its two renames


class ModelError(Exception):
    """A model directory that is missing, damaged or not one this version can use."""


@dataclass(frozen=True)
class LoadedModel:
    """A verified model: manifest, vocabulary and weights as numpy arrays."""

    path: Path
    manifest: dict[str, Any]
    vocab: Vocab
    weights: dict[str, np.ndarray]
    lexicon: Lexicon | None = None
    speakers: Speakers | None = None
    metre: Metre | None = None
    names: NameRecord | None = None
    rhymes: Rhymes | None = None
    topics: TopicRecord | None = None
    subject: SubjectAdapter | None = None

    @property
    def name(self) -> str:
        return str(self.manifest.get("name", self.path.name))

    @property
    def arch(self) -> dict[str, int]:
        return {k: int(self.manifest["hyperparameters"][k]) for k in ARCH_KEYS}


def lstm_weight_names(layer: int) -> tuple[str, str, str]:
    """The names of LSTM layer `layer`'s kernel, recurrent kernel and bias (Keras's gate order i, f, g, o)."""
    return f"lstm{layer}.kernel", f"lstm{layer}.recurrent_kernel", f"lstm{layer}.bias"


def in_memory(weights: dict[str, np.ndarray], vocab: Vocab, arch: dict[str, int], *, name: str) -> LoadedModel:
    """A model that is not exported (weights taken from a live Keras model, say), checked as a load is."""
    manifest = {"name": name, "hyperparameters": {k: int(arch[k]) for k in ARCH_KEYS}}
    check_weights(weights, vocab, manifest)
    return LoadedModel(path=Path(name), manifest=manifest, vocab=vocab, weights=weights)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def weight_shapes(vocab_size: int, embedding_dim: int, layers: int, units: int) -> dict[str, tuple[int, ...]]:
    """The arrays weights.npz must hold, by name, for a given architecture."""
    shapes: dict[str, tuple[int, ...]] = {EMBEDDING: (vocab_size, embedding_dim)}
    for i in range(layers):
        kernel, recurrent, bias = lstm_weight_names(i)
        shapes[kernel] = (embedding_dim if i == 0 else units, 4 * units)
        shapes[recurrent] = (units, 4 * units)
        shapes[bias] = (4 * units,)
    shapes[DENSE_KERNEL] = (units, vocab_size)
    shapes[DENSE_BIAS] = (vocab_size,)
    return shapes


# --------------------------------------------------------------------------- load


def read_verified(model_dir: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Read the manifest and every file it lists, checking each checksum. Returns (manifest, contents).

    The Keras file is checked as it streams by and left out of contents: serving never needs it, and Keras
    reads it itself.
    """
    model_dir = Path(model_dir)
    if model_dir.exists() and not model_dir.is_dir():
        raise ModelError(f"{model_dir} is a file, not a model directory (the folder bard-train exported)")
    if not model_dir.is_dir():
        raise ModelError(f"model directory {model_dir} does not exist")
    try:
        manifest = json.loads((model_dir / MANIFEST_FILE).read_bytes())
    except FileNotFoundError:
        raise ModelError(f"{model_dir} has no {MANIFEST_FILE}: not an exported bard model") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelError(f"{model_dir / MANIFEST_FILE} is not valid JSON ({exc})") from None
    if not isinstance(manifest, dict):
        raise ModelError(f"{model_dir / MANIFEST_FILE} must hold a JSON object")
    version = manifest.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ModelError(f"{model_dir} has manifest schema version {version!r}; this bard reads {SCHEMA_VERSION}")
    files = manifest.get("files")
    if not isinstance(files, dict) or any(n not in files for n in REQUIRED_FILES):
        raise ModelError(f"{model_dir / MANIFEST_FILE} must list checksums for {', '.join(REQUIRED_FILES)}")
    hyper = manifest.get("hyperparameters")
    if not isinstance(hyper, dict) or any(not isinstance(hyper.get(k), int) or hyper[k] <= 0 for k in ARCH_KEYS):
        raise ModelError(f"{model_dir / MANIFEST_FILE} lacks positive integer hyperparameters {', '.join(ARCH_KEYS)}")
    contents: dict[str, bytes] = {}
    for name, expected in files.items():
        if not isinstance(name, str) or "/" in name or name.startswith("."):
            raise ModelError(f"{model_dir / MANIFEST_FILE} lists a bad file name {name!r}")
        try:
            if name == MODEL_FILE:
                with open(model_dir / name, "rb") as f:
                    digest = hashlib.file_digest(f, "sha256").hexdigest()
            else:
                data = (model_dir / name).read_bytes()
                digest = sha256_bytes(data)
        except FileNotFoundError:
            raise ModelError(f"{model_dir} is missing {name}") from None
        if digest != expected:
            raise ModelError(f"{model_dir / name} does not match its manifest checksum (changed or truncated)")
        if name != MODEL_FILE:
            contents[name] = data
    return manifest, contents


def load(model_dir: Path) -> LoadedModel:
    """Load and verify a model for serving (numpy only, no TensorFlow)."""
    model_dir = Path(model_dir)
    manifest, contents = read_verified(model_dir)
    try:
        vocab = Vocab.from_json(contents[VOCAB_FILE])
    except VocabError as exc:
        raise ModelError(f"{model_dir / VOCAB_FILE}: {exc}") from None
    try:
        with np.load(io.BytesIO(contents[WEIGHTS_FILE]), allow_pickle=False) as npz:
            weights = {k: npz[k] for k in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile) as exc:
        raise ModelError(f"{model_dir / WEIGHTS_FILE} cannot be read as numpy arrays ({exc})") from None
    try:
        check_weights(weights, vocab, manifest)
    except ModelError as exc:
        raise ModelError(f"{model_dir}: {exc}") from None
    try:
        lexicon = Lexicon.from_json(contents[LEXICON_FILE]) if LEXICON_FILE in contents else None
        speakers = Speakers.from_json(contents[SPEAKERS_FILE]) if SPEAKERS_FILE in contents else None
        metre = Metre.from_json(contents[METRE_FILE]) if METRE_FILE in contents else None
        names = NameRecord.from_json(contents[NAMES_FILE]) if NAMES_FILE in contents else None
        rhymes = Rhymes.from_json(contents[RHYMES_FILE]) if RHYMES_FILE in contents else None
        topics = TopicRecord.from_bytes(contents[TOPICS_FILE]) if TOPICS_FILE in contents else None
        subject = SubjectAdapter.from_bytes(contents[SUBJECT_FILE]) if SUBJECT_FILE in contents else None
        if subject is not None:
            arch = {k: int(manifest["hyperparameters"][k]) for k in ARCH_KEYS}
            subject.check(arch["layers"], arch["units"], arch["vocab_size"], manifest["files"][WEIGHTS_FILE])
    except (LexiconError, SpeakersError, MetreError, NamesError, RhymesError, TopicsError, SubjectError) as exc:
        raise ModelError(f"{model_dir}: {exc}") from None
    return LoadedModel(model_dir, manifest, vocab, weights, lexicon, speakers, metre, names, rhymes, topics, subject)


def load_settled(model_dir: Path) -> LoadedModel:
    """load(), tried again when the directory was replaced while it was read (an export or a symlink switch
    landing), so that a load racing an export gets the old model or the new one; raises ModelError.

    A load that succeeds is always whole: every file it read matched the manifest it read. A race only makes it
    fail (a file from the new model against the old manifest, or no directory between export's two renames).
    Sleeps between attempts: call it from a worker thread, not an event loop.
    """
    attempt = 1
    while True:
        before = _identity(model_dir)
        try:
            return load(model_dir)
        except ModelError as exc:
            if before == _identity(model_dir):
                raise  # the directory held still: the model itself is bad (or missing)
            if attempt >= SETTLE_ATTEMPTS:
                raise ModelError(f"{exc} (it was being replaced as it was read: try again when done)") from None
        time.sleep(SETTLE_DELAY * attempt)
        attempt += 1


def load_folder(folder: Path) -> tuple[dict[str, LoadedModel], dict[str, str]]:
    """Every model in a folder of models, by subdirectory name: (loaded, {name: why it failed}) for the others.

    Hidden entries (an export's staging and old directories) and plain files are not models and are passed over.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelError(f"models folder {folder} does not exist")
    loaded: dict[str, LoadedModel] = {}
    failed: dict[str, str] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_dir():
            continue
        try:
            loaded[path.name] = load_settled(path)
        except ModelError as exc:
            failed[path.name] = str(exc)
    return loaded, failed


def _identity(path: Path) -> tuple[int, int, int] | None:
    """Which directory `path` names now (through a symlink): a replaced one is a new inode, made later."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_ctime_ns


def check_weights(weights: dict[str, np.ndarray], vocab: Vocab, manifest: dict[str, Any]) -> None:
    """That the weights fit the manifest's architecture and vocabulary, every value finite (ModelError if not)."""
    hyper = manifest["hyperparameters"]
    if hyper["vocab_size"] != vocab.size:
        raise ModelError(f"vocabulary has {vocab.size} ids but the model was built for {hyper['vocab_size']}")
    expected = weight_shapes(*(int(hyper[k]) for k in ARCH_KEYS))
    if set(weights) != set(expected):
        missing, extra = sorted(set(expected) - set(weights)), sorted(set(weights) - set(expected))
        raise ModelError(f"weights do not fit the architecture (missing {missing}, unexpected {extra})")
    for name, shape in expected.items():
        w = weights[name]
        if w.shape != shape:
            raise ModelError(f"weight {name} has shape {w.shape}, expected {shape}")
        if not np.all(np.isfinite(w)):
            raise ModelError(f"weight {name} holds NaN or infinite values")


def load_keras(model_dir: Path) -> Any:
    """Verify a model directory, then load its Keras model (safe_mode on, not compiled).

    Imports Keras lazily: only training and benchmarks call this.
    """
    model_dir = Path(model_dir)
    loaded = load(model_dir)  # every check the serving path makes, before Keras sees the file
    if MODEL_FILE not in loaded.manifest["files"]:
        raise ModelError(f"{model_dir} holds no {MODEL_FILE} (it was exported for serving only)")
    import keras

    try:
        return keras.saving.load_model(model_dir / MODEL_FILE, compile=False, safe_mode=True)
    except Exception as exc:  # Keras raises many types for a bad archive
        raise ModelError(f"{model_dir / MODEL_FILE} cannot be loaded by Keras ({type(exc).__name__}: {exc})") from None
