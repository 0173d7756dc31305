"""Write bard model directories: a whole export, or new speech data or a subject adapter for an existing one.

Every write fills a hidden sibling directory, adds the manifest with each file's checksum, and renames it into
place, so a reader (model_store/store.py) sees the old model, the new one, or nothing, and never half of one.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from model_store.lexicon import Lexicon
from model_store.metre import Metre
from model_store.names import NameRecord
from model_store.rhymes import Rhymes
from model_store.speakers import Speakers
from model_store.store import (
    LEXICON_FILE,
    MANIFEST_FILE,
    METRE_FILE,
    MODEL_FILE,
    NAMES_FILE,
    OPTIONAL_FILES,
    REQUIRED_FILES,
    RHYMES_FILE,
    SCHEMA_VERSION,
    SPEAKERS_FILE,
    SUBJECT_FILE,
    TOPICS_FILE,
    VOCAB_FILE,
    WEIGHTS_FILE,
    ModelError,
    check_weights,
    read_verified,
    sha256_bytes,
)
from model_store.subject import SubjectAdapter
from model_store.topics import TopicRecord
from model_store.vocab import Vocab


class KerasSavable(Protocol):
    def save(self, filepath: str) -> None: ...


def write(
    out_dir: Path,
    *,
    weights: dict[str, np.ndarray],
    vocab: Vocab,
    manifest: dict[str, Any],
    keras_model: KerasSavable | None = None,
    lexicon: Lexicon | None = None,
    speakers: Speakers | None = None,
    metre: Metre | None = None,
    names: NameRecord | None = None,
    rhymes: Rhymes | None = None,
    topics: TopicRecord | None = None,
    force: bool = False,
) -> Path:
    """Write a model directory atomically and return its path.

    `manifest` gives everything but schema_version, created and files, which are added here. Without
    `keras_model` the export holds no model.keras: it serves, but cannot be fine-tuned with Keras.
    An existing `out_dir` is replaced only with `force`; until the final rename it is untouched.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not force:
        raise ModelError(f"{out_dir} already exists (use --force to replace it)")
    check_weights(weights, vocab, manifest)
    full = {"schema_version": SCHEMA_VERSION, "created": datetime.now(UTC).isoformat(timespec="seconds"), **manifest}

    def write(staging: Path) -> None:
        if keras_model is not None:
            keras_model.save(str(staging / MODEL_FILE))
        buf = io.BytesIO()
        np.savez(buf, **{k: np.ascontiguousarray(v, dtype=np.float32) for k, v in weights.items()})
        (staging / WEIGHTS_FILE).write_bytes(buf.getvalue())
        (staging / VOCAB_FILE).write_text(vocab.to_json(), encoding="utf-8")
        _write_speech_data(staging, lexicon, speakers, metre, names, rhymes)
        if topics is not None:
            (staging / TOPICS_FILE).write_bytes(topics.to_bytes())

    return _write_model_dir(out_dir, full, write)


def add_speech_data(
    model_dir: Path,
    *,
    lexicon: Lexicon,
    speakers: Speakers,
    metre: Metre | None = None,
    names: NameRecord | None = None,
    rhymes: Rhymes | None = None,
    topics: TopicRecord | None = None,
) -> Path:
    """Give an exported model a (new) lexicon, speakers list, metre, name record and rhymes (for any of the last
    three none: the old one is dropped with its lexicon), and a new topic record if given (none: the old one is kept;
    it reads words, not the lexicon), atomically, leaving its weights as they are."""

    def write(staging: Path) -> None:
        _write_speech_data(staging, lexicon, speakers, metre, names, rhymes)
        if topics is not None:
            (staging / TOPICS_FILE).write_bytes(topics.to_bytes())

    replaced = (LEXICON_FILE, SPEAKERS_FILE, METRE_FILE, NAMES_FILE, RHYMES_FILE)
    return _rewrite(model_dir, replaced, write, "speech_data_added")


def add_subject(model_dir: Path, adapter: SubjectAdapter, facts: dict[str, Any] | None = None) -> Path:
    """Give an exported model a (new) subject adapter, atomically, leaving everything else as it is; `facts` (how it
    was fitted) go into the manifest as its "subject"."""

    def write(staging: Path) -> None:
        (staging / SUBJECT_FILE).write_bytes(adapter.to_bytes())

    return _rewrite(model_dir, (SUBJECT_FILE,), write, "subject_added", {"subject": facts} if facts else {})


def _rewrite(
    model_dir: Path, replaced: tuple[str, ...], write_new: Callable[[Path], None], stamp: str, more: dict | None = None
) -> Path:
    """Write an export again with its files but `replaced` (which write_new writes, or not), atomically, the manifest
    stamped with when, and `more` added to it."""
    model_dir = Path(model_dir)
    manifest, contents = read_verified(model_dir)

    # What lives beside the model files (its card, loss plots) is not checksummed; it moves along unchanged.
    model_files = (*manifest["files"], MANIFEST_FILE)
    documents = sorted(p.name for p in model_dir.iterdir() if p.is_file() and p.name not in model_files)

    def write(staging: Path) -> None:
        for name, data in contents.items():
            if name not in replaced:
                (staging / name).write_bytes(data)
        if MODEL_FILE in manifest["files"]:
            shutil.copy2(model_dir / MODEL_FILE, staging / MODEL_FILE)
            if sha256_bytes((staging / MODEL_FILE).read_bytes()) != manifest["files"][MODEL_FILE]:
                raise ModelError(f"{model_dir / MODEL_FILE} changed while it was copied")
        for name in documents:
            shutil.copy2(model_dir / name, staging / name)
        write_new(staging)

    fresh = {k: v for k, v in manifest.items() if k != "files"}
    fresh[stamp] = datetime.now(UTC).isoformat(timespec="seconds")
    return _write_model_dir(model_dir, fresh | (more or {}), write, documents=tuple(documents))


def _write_speech_data(
    staging: Path,
    lexicon: Lexicon | None,
    speakers: Speakers | None,
    metre: Metre | None = None,
    names: NameRecord | None = None,
    rhymes: Rhymes | None = None,
) -> None:
    if lexicon is not None:
        (staging / LEXICON_FILE).write_text(lexicon.to_json(), encoding="utf-8")
    if speakers is not None:
        (staging / SPEAKERS_FILE).write_text(speakers.to_json(), encoding="utf-8")
    if metre is not None:
        (staging / METRE_FILE).write_text(metre.to_json(), encoding="utf-8")
    if names is not None:
        (staging / NAMES_FILE).write_text(names.to_json(), encoding="utf-8")
    if rhymes is not None:
        (staging / RHYMES_FILE).write_text(rhymes.to_json(), encoding="utf-8")


def _write_model_dir(
    out_dir: Path, manifest: dict[str, Any], write: Callable[[Path], None], *, documents: tuple[str, ...] = ()
) -> Path:
    """Let `write` fill a hidden staging directory beside out_dir, add the manifest with the checksum of every
    model file (not of `documents`), then rename it into place (replacing out_dir). On any failure the staging
    directory is removed."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.partial-", dir=out_dir.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; a model is meant to be read by the bot's user too
    try:
        write(staging)
        written = sorted(p.name for p in staging.iterdir() if p.name not in documents)
        for extra in written:
            if extra not in (*REQUIRED_FILES, *OPTIONAL_FILES):
                raise ModelError(f"unexpected file {extra} in export")
        full = manifest | {"files": {n: sha256_bytes((staging / n).read_bytes()) for n in written}}
        (staging / MANIFEST_FILE).write_text(json.dumps(full, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        _fsync_dir(staging)
        _swap_into_place(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out_dir


def _fsync(path: Path) -> None:
    """Flush a file, or a directory's entries, to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    """Flush every file in a directory, then the directory itself."""
    for f in path.iterdir():
        _fsync(f)
    _fsync(path)


def _swap_into_place(staging: Path, out_dir: Path) -> None:
    """Rename staging to out_dir; an old out_dir is moved aside first and removed after."""
    old = None
    if out_dir.exists():
        old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}-{staging.name[-8:]}")
        os.rename(out_dir, old)
    os.rename(staging, out_dir)
    _fsync(out_dir.parent)  # the renames themselves
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
