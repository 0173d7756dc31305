"""Retraining while serving: exporting into the directory the bot reads never exposes a half-written model.

A reload racing an export gets the old model or the new one, whole, or is refused with a ModelError while
the old model keeps serving.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import threading
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import pytest_asyncio
from conftest import make_tiny_model

from bot import service as service_module
from bot.service import GenerationService
from model_store import export, store
from model_store.store import LoadedModel, ModelError

pytestmark = pytest.mark.asyncio(loop_scope="function")

RELOADS = 300  # the racing test's reloads: about a second on an idle machine, each overlapping a few exports


def nth_export(n: int) -> str:
    """The racing exporter alternates: new, old, new, ..."""
    return "new" if n % 2 == 0 else "old"


@pytest.fixture(scope="session")
def references(tmp_path_factory: pytest.TempPathFactory, script_text: str) -> dict[str, LoadedModel]:
    """Two tiny models, "old" and "new": the same shapes (a mix of the two would load), different weights."""
    root = tmp_path_factory.mktemp("race")
    made = {
        "old": make_tiny_model(root / "old", script_text, units=16, seed=1),
        "new": make_tiny_model(root / "new", script_text, units=16, seed=2),
    }
    return {name: store.load(path) for name, path in made.items()}


def export_into(reference: LoadedModel, out: Path) -> None:
    """A real export.write (staging directory, renames, old one removed) of a reference model into out."""
    generated = {"schema_version", "created", "files"}
    export.write(
        out,
        weights=reference.weights,
        vocab=reference.vocab,
        manifest={k: v for k, v in reference.manifest.items() if k not in generated},
        force=True,
    )


def assert_whole(model: LoadedModel, references: dict[str, LoadedModel]) -> str:
    """The model is exactly one of the references, every array of it; returns which."""
    assert model.name in references, model.name
    reference = references[model.name]
    assert model.manifest["files"] == reference.manifest["files"]
    assert model.weights.keys() == reference.weights.keys()
    for key, array in reference.weights.items():
        np.testing.assert_array_equal(model.weights[key], array, err_msg=f"{model.name}: {key}")
    assert model.vocab.to_json() == reference.vocab.to_json()
    return model.name


@pytest_asyncio.fixture(loop_scope="function")
async def live(tmp_path: Path, references: dict[str, LoadedModel]) -> AsyncIterator[tuple[Path, GenerationService]]:
    """The directory the bot reads (holding "old"), and a started service on it."""
    model_dir = tmp_path / "models" / "current"
    export_into(references["old"], model_dir)
    service = GenerationService(store.load(model_dir))
    await service.start()
    yield model_dir, service
    await service.close()


async def test_reloads_racing_exports_get_a_whole_model_or_a_clean_refusal(
    live: tuple[Path, GenerationService],
    references: dict[str, LoadedModel],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    model_dir, service = live
    # Durability is not under test, the renames are: without fsync an export takes milliseconds, not a tenth of a
    # second, so the swaps land often enough inside the reloads' reads.
    monkeypatch.setattr(os, "fsync", lambda fd: None)
    caplog.set_level(logging.INFO, logger="bot.service")
    stop, exports, errors = threading.Event(), Counter[str](), []

    def keep_exporting() -> None:
        try:
            while not stop.is_set():
                name = nth_export(exports.total())
                export_into(references[name], model_dir)
                exports[name] += 1
        except Exception as exc:  # reported by the test, not lost in the thread
            errors.append(exc)

    exporter = threading.Thread(target=keep_exporting, name="exporter")
    exporter.start()
    outcomes: Counter[str] = Counter()
    refusals: set[str] = set()
    try:
        # A count of work, not a time window: a busy machine makes this slower, never weaker.
        while sum(outcomes.values()) < RELOADS or exports.total() < 20:
            try:
                loaded = await service.reload(model_dir)
            except ModelError as exc:
                outcomes["refused"] += 1
                refusals.add(str(exc).split(":")[0][:80])
            else:
                outcomes[assert_whole(loaded, references)] += 1
                assert service.model is loaded
            assert_whole(service.model, references)  # whatever happened, a whole model is serving
            if sum(outcomes.values()) % 10 == 0:
                generation = await service.submit("To be", temperature=0.0, max_chars=8).result()
                assert generation.seed == "To be"
    finally:
        stop.set()
        await asyncio.to_thread(exporter.join, 30)
    retries = sum("changed while it was read" in r.getMessage() for r in caplog.records)
    print(f"\n{exports.total()} exports; reloads {dict(outcomes)}, {retries} retried; refusals {sorted(refusals)}")
    assert not errors, errors
    assert exports.total() >= 10, "the exports did not race the reloads"
    assert outcomes["old"] + outcomes["new"] > 0, "no reload ever succeeded"
    # The last export landed whole: a reload now, with nothing racing it, gets it.
    assert assert_whole(await service.reload(model_dir), references) == nth_export(exports.total() - 1)


async def test_a_reload_between_the_two_renames_of_an_export_is_refused_and_the_old_model_keeps_serving(
    live: tuple[Path, GenerationService], references: dict[str, LoadedModel], monkeypatch: pytest.MonkeyPatch
) -> None:
    model_dir, service = live
    in_gap, resume = threading.Event(), threading.Event()
    real_rename = os.rename

    def rename(src: Any, dst: Any) -> None:
        real_rename(src, dst)
        if Path(src) == model_dir:  # the old directory was moved aside; the new one is not in place yet
            in_gap.set()
            assert resume.wait(10), "the test never resumed the export"

    monkeypatch.setattr(os, "rename", rename)
    exporting = asyncio.create_task(asyncio.to_thread(export_into, references["new"], model_dir))
    assert await asyncio.to_thread(in_gap.wait, 10)
    assert not model_dir.exists()
    with pytest.raises(ModelError, match="does not exist"):
        await service.reload(model_dir)
    assert assert_whole(service.model, references) == "old"
    assert (await service.submit("To be", temperature=0.0, max_chars=8).result()).seed == "To be"
    resume.set()
    await exporting
    assert assert_whole(await service.reload(model_dir), references) == "new"


async def test_a_load_that_fails_while_the_directory_is_replaced_is_tried_again(
    live: tuple[Path, GenerationService], references: dict[str, LoadedModel], monkeypatch: pytest.MonkeyPatch
) -> None:
    model_dir, service = live
    calls: list[str] = []
    real_load = store.load

    def load(path: Path) -> LoadedModel:
        calls.append(Path(path).name)
        if len(calls) == 1:  # as if the manifest came from the old model and a file from the new one
            export_into(references["new"], model_dir)
            raise ModelError(f"{path}/weights.npz does not match its manifest checksum (changed or truncated)")
        return real_load(path)

    monkeypatch.setattr(service_module.store, "load", load)
    assert assert_whole(await service.reload(model_dir), references) == "new"
    assert len(calls) == 2


async def test_a_bad_model_in_a_directory_that_holds_still_is_refused_at_once(
    live: tuple[Path, GenerationService], references: dict[str, LoadedModel], monkeypatch: pytest.MonkeyPatch
) -> None:
    model_dir, service = live
    calls = []
    real_load = store.load
    monkeypatch.setattr(service_module.store, "load", lambda path: calls.append(path) or real_load(path))
    weights = model_dir / store.WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:100])  # truncated by hand, not by an export
    with pytest.raises(ModelError, match="checksum"):
        await service.reload(model_dir)
    assert len(calls) == 1  # not retried: nothing was changing
    shutil.rmtree(model_dir)
    with pytest.raises(ModelError, match="does not exist"):
        await service.reload(model_dir)
    assert assert_whole(service.model, references) == "old"
