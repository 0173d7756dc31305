"""The bundled model: present, intact (every file matches its manifest checksum), small, documented."""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np

from model_store import DEFAULT_MODEL_DIR, store
from model_store.engine import Engine, GenerationRequest
from model_store.lexicon import words
from model_store.metre import scan


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


def test_shipped_model_verse_with_the_couplet_off_is_as_before_rhyme():
    # Digests of the shipped model's verse monologues, pinned before rhyme (issue 29) with the same seeds and options:
    # with the couplet off, the text is today's byte for byte.
    engine = Engine(store.load(DEFAULT_MODEL_DIR))
    before = {("", 0): "677777b2ac95a9b4", ("To be, or not to be", 1): "a1bd2477d7c73f5e"}
    for (seed, rng_seed), digest in before.items():
        g = engine.generate_batch([GenerationRequest(seed, rng=np.random.default_rng(rng_seed), couplet=False)])[0]
        assert hashlib.sha256(g.text.encode()).hexdigest()[:16] == digest


def test_shipped_model_writes_a_rhymed_sonnet():
    model = store.load(DEFAULT_MODEL_DIR)
    assert model.rhymes is not None and "rhymes.json" in model.manifest["files"]
    g = Engine(model).generate_batch(
        [GenerationRequest("Shall I compare thee", sonnet=True, rng=np.random.default_rng(0))]
    )[0]
    lines = (g.seed + g.text).split("\n")
    ends = [words(line)[-1] for line in lines]
    assert len(lines) == 14 and g.speaker is None
    assert all(model.rhymes.rhyme(ends[i], ends[i + 2]) for i in (0, 1, 4, 5, 8, 9)) and model.rhymes.rhyme(*ends[12:])


def test_shipped_model_prose_is_as_before_the_metre_and_verse_scans():
    # Digests of the shipped model's prose monologues, pinned when it was shipped (same seeds, same options): the
    # metre's masks must leave prose as it was. The second was pinned again with the reader's rules (issue 27): its
    # seed's last word is kept now (it went on "...to be" + "ar"; now "...to be as honourable,"). Without the name
    # record: a speaker's names change what he says.
    engine = Engine(dataclasses.replace(store.load(DEFAULT_MODEL_DIR), names=None))
    before = {("", 0): "1bf2cd75cfb66588", ("To be, or not to be", 1): "5fb4a6c62e1d851d"}
    for (seed, rng_seed), digest in before.items():
        g = engine.generate_batch([GenerationRequest(seed, rng=np.random.default_rng(rng_seed), verse=False)])[0]
        assert hashlib.sha256(g.text.encode()).hexdigest()[:16] == digest
    g = engine.generate("", rng=np.random.default_rng(0))
    for line in g.text.split("\n"):
        counts, pattern = scan([engine.model.metre.of(w) for w in words(line.replace("-", " "))])
        assert counts & {10, 11} and pattern is not None, line
