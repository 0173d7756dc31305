"""Export and load: checksums, atomicity, and a clear error for every kind of broken model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from model_store import export, store
from model_store.engine import Engine
from model_store.store import ModelError


@pytest.fixture
def model_copy(keras_model_dir, tmp_path) -> Path:
    dest = tmp_path / "copy"
    shutil.copytree(keras_model_dir, dest)
    return dest


def test_export_holds_every_file_with_its_checksum(keras_model_dir):
    manifest = json.loads((keras_model_dir / "manifest.json").read_text())
    assert set(manifest["files"]) == {"model.keras", "weights.npz", "vocab.json"}
    for name, digest in manifest["files"].items():
        assert store.sha256_bytes((keras_model_dir / name).read_bytes()) == digest
    assert manifest["schema_version"] == store.SCHEMA_VERSION
    assert sorted(p.name for p in keras_model_dir.iterdir()) == [
        "manifest.json",
        "model.keras",
        "vocab.json",
        "weights.npz",
    ]


def test_export_then_load_gives_every_weight_and_the_logits_of_the_keras_model(keras_model_dir):
    loaded = store.load(keras_model_dir)
    keras_model = store.load_keras(keras_model_dir)
    expected = {store.EMBEDDING: keras_model.get_layer("embedding").get_weights()[0]}
    for i in range(loaded.arch["layers"]):
        expected |= dict(zip(store.lstm_weight_names(i), keras_model.get_layer(f"lstm{i}").get_weights(), strict=True))
    expected[store.DENSE_KERNEL], expected[store.DENSE_BIAS] = keras_model.get_layer("logits").get_weights()
    assert loaded.weights.keys() == expected.keys()
    for name, array in expected.items():
        np.testing.assert_array_equal(loaded.weights[name], array, err_msg=name)

    engine = Engine(loaded)
    for text in ("HAMLET:\nTo be", "O", "Whether 'tis nobler \u00e9 in the mind to suffer\n"):  # \u00e9: unknown id
        ids = loaded.vocab.encode(text)
        keras_logits = np.asarray(keras_model(ids[None, :]))[0]
        assert keras_logits.shape == (len(text), loaded.vocab.size)
        assert np.ptp(keras_logits) > 1e-3  # logits that differ, so the comparison below can fail
        np.testing.assert_allclose(engine.network.prime(ids)[0], keras_logits, rtol=0, atol=1e-4, err_msg=repr(text))


def test_tampered_weights_are_rejected(model_copy):
    data = bytearray((model_copy / "weights.npz").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (model_copy / "weights.npz").write_bytes(bytes(data))
    with pytest.raises(ModelError, match=r"weights\.npz does not match its manifest checksum"):
        store.load(model_copy)
    with pytest.raises(ModelError, match="checksum"):
        store.load_keras(model_copy)


def test_truncated_keras_file_is_rejected(model_copy):
    path = model_copy / "model.keras"
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ModelError, match=r"model\.keras does not match"):
        store.load(model_copy)


@pytest.mark.parametrize("name", ["vocab.json", "manifest.json"])
def test_missing_file(model_copy, name):
    (model_copy / name).unlink()
    with pytest.raises(ModelError, match=r"missing vocab\.json|no manifest\.json"):
        store.load(model_copy)


def test_missing_directory(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        store.load(tmp_path / "nothing")


def _rewrite_manifest(model_dir: Path, **changes) -> None:
    path = model_dir / "manifest.json"
    manifest = json.loads(path.read_text()) | changes
    path.write_text(json.dumps(manifest))


def test_incompatible_schema_version(model_copy):
    _rewrite_manifest(model_copy, schema_version=99)
    with pytest.raises(ModelError, match="schema version 99"):
        store.load(model_copy)


def test_manifest_that_lies_about_the_architecture(model_copy):
    manifest = json.loads((model_copy / "manifest.json").read_text())
    _rewrite_manifest(model_copy, hyperparameters=manifest["hyperparameters"] | {"units": 32})
    with pytest.raises(ModelError, match="shape"):
        store.load(model_copy)


def test_vocabulary_that_does_not_fit(model_copy):
    vocab = json.loads((model_copy / "vocab.json").read_text())
    vocab["chars"] = vocab["chars"][:-1]
    (model_copy / "vocab.json").write_text(json.dumps(vocab))
    files = json.loads((model_copy / "manifest.json").read_text())["files"]
    _rewrite_manifest(
        model_copy, files=files | {"vocab.json": store.sha256_bytes((model_copy / "vocab.json").read_bytes())}
    )
    with pytest.raises(ModelError, match="vocabulary has"):
        store.load(model_copy)


def test_garbage_manifest(model_copy):
    (model_copy / "manifest.json").write_text("{not json")
    with pytest.raises(ModelError, match="not valid JSON"):
        store.load(model_copy)


class _ExplodingModel:
    def save(self, filepath: str) -> None:
        Path(filepath).write_bytes(b"half a model")
        raise OSError("disk full")


def test_a_failed_export_leaves_nothing_behind(keras_model_dir, tmp_path):
    loaded = store.load(keras_model_dir)
    out = tmp_path / "models" / "new"
    with pytest.raises(OSError, match="disk full"):
        export.write(
            out,
            keras_model=_ExplodingModel(),
            weights=loaded.weights,
            vocab=loaded.vocab,
            manifest={k: v for k, v in loaded.manifest.items() if k not in ("files", "schema_version")},
        )
    assert list((tmp_path / "models").iterdir()) == []


def test_export_refuses_to_overwrite_without_force(keras_model_dir):
    loaded = store.load(keras_model_dir)
    with pytest.raises(ModelError, match="already exists"):
        export.write(
            keras_model_dir,
            keras_model=_ExplodingModel(),
            weights=loaded.weights,
            vocab=loaded.vocab,
            manifest=loaded.manifest,
        )


def test_forced_export_replaces_the_old_model(keras_model_dir, model_copy):
    loaded = store.load(keras_model_dir)
    keras_model = store.load_keras(keras_model_dir)
    manifest = {k: v for k, v in loaded.manifest.items() if k not in ("files", "schema_version", "created")}
    export.write(
        model_copy,
        keras_model=keras_model,
        weights=loaded.weights,
        vocab=loaded.vocab,
        manifest=manifest | {"name": "replaced"},
        force=True,
    )
    assert store.load(model_copy).name == "replaced"
    assert [p.name for p in model_copy.parent.iterdir()] == ["copy"]
