"""A model's lexicon and speakers: exported, checksummed, loaded, and added to an export that lacks them."""

from __future__ import annotations

import json
import shutil

import pytest
from conftest import estimated_metre

from model_store import export, store
from model_store.names import NameRecord
from model_store.playscript import lexicon_and_speakers
from model_store.store import ModelError


@pytest.fixture
def with_speech_data(tiny_model_dir, script_text, tmp_path):
    path = tmp_path / "tiny"
    shutil.copytree(tiny_model_dir, path)
    (path / "MODEL_CARD.md").write_text("# card\n")  # documents beside the model files move along
    lexicon, speakers = lexicon_and_speakers(script_text)
    export.add_speech_data(path, lexicon=lexicon, speakers=speakers)
    return path, lexicon, speakers


def test_speech_data_survives_export_and_load_and_is_checksummed(with_speech_data, tiny_model_dir):
    path, lexicon, speakers = with_speech_data
    before, after = store.load(tiny_model_dir), store.load(path)
    assert after.lexicon.counts == lexicon.counts and after.speakers == speakers
    assert before.lexicon is None and before.speakers is None
    manifest = after.manifest
    assert {"lexicon.json", "speakers.json"} <= set(manifest["files"])
    for name in before.manifest["files"]:  # the weights and the rest are the same files
        assert manifest["files"][name] == before.manifest["files"][name]
    assert (path / "MODEL_CARD.md").read_text() == "# card\n"
    assert not list(path.parent.glob(".tiny.*"))  # nothing half-written left beside it


@pytest.mark.parametrize("name", ["lexicon.json", "speakers.json"])
def test_a_changed_lexicon_or_speakers_file_is_refused(with_speech_data, name):
    path, _, _ = with_speech_data
    data = json.loads((path / name).read_text())
    key = "counts" if name == "lexicon.json" else "speeches"
    data[key][next(iter(data[key]))] = [9, 9, 9, 9] if key == "counts" else 999
    (path / name).write_text(json.dumps(data))
    with pytest.raises(ModelError, match=f"{name} does not match its manifest checksum"):
        store.load(path)


def test_a_damaged_speakers_file_with_a_matching_checksum_is_refused(with_speech_data):
    path, _, _ = with_speech_data
    (path / "speakers.json").write_text('{"speeches": {}}')
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["files"]["speakers.json"] = store.sha256_bytes((path / "speakers.json").read_bytes())
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="non-empty speeches"):
        store.load(path)


@pytest.fixture
def with_metre(with_speech_data):
    path, lexicon, speakers = with_speech_data
    metre = estimated_metre(lexicon)
    export.add_speech_data(path, lexicon=lexicon, speakers=speakers, metre=metre)
    return path, metre


def test_the_metre_travels_with_the_export_checksummed(with_metre):
    path, metre = with_metre
    model = store.load(path)
    assert model.metre.readings == metre.readings and "metre.json" in model.manifest["files"]
    assert set(metre.readings) == {w for w in model.lexicon.counts if w in model.lexicon}  # every word it may use
    lexicon, speakers = model.lexicon, model.speakers
    export.add_speech_data(path, lexicon=lexicon, speakers=speakers)  # a new lexicon without metre drops the old
    assert store.load(path).metre is None


def test_a_damaged_metre_file_with_a_matching_checksum_is_refused(with_metre):
    path, _ = with_metre
    (path / "metre.json").write_text('{"readings": {"heaven": ["1x"]}}')
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["files"]["metre.json"] = store.sha256_bytes((path / "metre.json").read_bytes())
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="metre entry 'heaven' must hold readings"):
        store.load(path)


@pytest.fixture
def with_names(with_speech_data, script_text):
    path, lexicon, speakers = with_speech_data
    names = NameRecord.of_plays([("tragedies/hamlet", script_text), ("tragedies/othello", script_text)], lexicon)
    export.add_speech_data(path, lexicon=lexicon, speakers=speakers, names=names)
    return path, names


def test_the_name_record_travels_with_the_export_checksummed(with_names, tmp_path):
    path, names = with_names
    model = store.load(path)
    assert model.names == names and "names.json" in model.manifest["files"]
    assert names.names["i"] == (0, 1) and names.speakers["OTHELLO"] == (0, 1)
    copy = export.write(
        tmp_path / "copy",
        weights=model.weights,
        vocab=model.vocab,
        manifest={"name": "copy", "hyperparameters": model.manifest["hyperparameters"]},
        lexicon=model.lexicon,
        speakers=model.speakers,
        names=names,
    )
    assert store.load(copy).names == names  # export -> load
    export.add_speech_data(path, lexicon=model.lexicon, speakers=model.speakers)  # new speech data without it drops it
    assert store.load(path).names is None and not (path / "names.json").exists()


def test_a_changed_or_damaged_name_record_is_refused(with_names):
    path, _ = with_names
    (path / "names.json").write_text((path / "names.json").read_text().replace('"i":[0,1]', '"i":[0]'))
    with pytest.raises(ModelError, match=r"names\.json does not match its manifest checksum"):
        store.load(path)
    (path / "names.json").write_text('{"plays": ["a"], "names": {"rome": [3]}, "speakers": {}}')
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["files"]["names.json"] = store.sha256_bytes((path / "names.json").read_bytes())
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="names names entry 'rome'"):
        store.load(path)
