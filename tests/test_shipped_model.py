"""The bundled model: present, intact (every file matches its manifest checksum), small, documented."""

from __future__ import annotations

import numpy as np

from model_store import DEFAULT_MODEL_DIR, store
from model_store.engine import Engine


def test_shipped_model_matches_its_manifest():
    model = store.load(DEFAULT_MODEL_DIR)  # verifies every checksum and shape
    assert model.manifest["corpus"]["sources"], "the corpus is recorded"
    assert model.manifest["command"].startswith("bard-train ")
    assert model.manifest["val_loss"] < 2.0


def test_shipped_model_is_small_enough_for_git():
    total = sum(p.stat().st_size for p in DEFAULT_MODEL_DIR.iterdir())
    assert total <= 25 * 1024 * 1024


def test_model_card_names_the_command_that_made_the_model():
    card = (DEFAULT_MODEL_DIR / "MODEL_CARD.md").read_text()
    manifest = store.load(DEFAULT_MODEL_DIR).manifest
    assert manifest["command"] in card
    for plot in ("loss.png", "loss_tinyshakespeare.png"):
        assert (DEFAULT_MODEL_DIR / plot).read_bytes().startswith(b"\x89PNG")


def test_shipped_model_writes_words():
    engine = Engine(store.load(DEFAULT_MODEL_DIR))
    g = engine.generate("To be, or not to be", max_chars=300, temperature=0.5, rng=np.random.default_rng(0))
    words = g.text.split()
    assert len(words) > 10
    # A trained model writes mostly real words: most are short and alphabetic.
    assert np.mean([w.strip(",.;:!?'-").isalpha() for w in words]) > 0.8
