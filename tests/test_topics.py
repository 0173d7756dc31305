"""A speech about something: the topic record (relations, speakers' words, quotations) and who is chosen to speak a
seed (the subject it gives the network: tests/test_subject.py)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_tiny_model

from model_store import export, store
from model_store.engine import Engine, GenerationRequest
from model_store.rules.who_speaks import SpeakerChooser
from model_store.store import ModelError
from model_store.topics import AMBIGUOUS, TopicRecord, TopicsError, normal_words

# Two plays with fields of their own: the sea in one, war in the other; a line both speakers of a play open with.
SEA = """CAPTAIN:
The sea is wild, the waves are high, the storm is on the ship.
The sailors pray, the ship is lost, the sea will have the sailors.
Is this a tempest which I see before me,
The waves that drown'd our ship and all our sailors?

MARINER:
To-morrow the storm is gone, the sea is calm, the ship sails home.
The sailors pray no more, the sea is kind to sailors.
"""
WAR = """GENERAL:
The sword is red, the blood is spilt, the battle is lost and won.
The soldiers fall, the blood runs down, the sword and battle rage.
Once more unto the breach, dear friends, once more,

SOLDIER:
The battle comes, my sword is strain'd, the soldiers march to blood.
Strain'd is my sword with blood of soldiers in the battle.
"""
PLAYS = (("sea-play", "\n".join([SEA] * 20)), ("war-play", "\n".join([WAR] * 20)))


def record_of(plays=PLAYS) -> TopicRecord:
    speakers = ["CAPTAIN", "MARINER", "GENERAL", "SOLDIER"]
    return TopicRecord.of_plays(((name, text, text) for name, text in plays), speakers)


@pytest.fixture(scope="module")
def record() -> TopicRecord:
    return record_of()


def test_words_that_go_together_are_related_and_others_not(record):
    sea = record.words.index("sea")
    related = {record.words[i] for i in record.related(sea)[0]}
    assert {"ship", "waves", "sailors"} <= related
    assert not related & {"sword", "blood", "battle"}
    assert "the" not in record.words and "is" not in record.words  # function words are no subject


def test_a_quotation_is_found_whatever_its_case_punctuation_and_spelling(record):
    assert record.quotation("IS THIS A TEMPEST which I see") == "CAPTAIN"
    assert record.quotation("tomorrow the storm is gone") == "MARINER"  # "To-morrow" in the play
    assert record.quotation("Strained is my sword!") == "SOLDIER"  # "Strain'd" in the play
    assert record.quotation("Once more unto the breach, dear friends, once more, into the sea") == "GENERAL"
    assert record.quotation("The sea is wild") is None or record.quotation("The sea is wild") == "CAPTAIN"
    assert record.quotation("the sailors pray") is None  # both of the sea play's speakers open a line so: nobody's
    assert record.quotation("My lord") is None  # two words are no quotation
    assert normal_words("To-morrow, strain'd!") == ["tomorrow", "strained"]
    assert AMBIGUOUS in record.quote_speakers


def test_the_record_survives_its_file_and_a_damaged_one_is_refused(record):
    again = TopicRecord.from_bytes(record.to_bytes())
    assert again.words == record.words and again.quote_names == record.quote_names
    assert np.array_equal(again.related_pmi, record.related_pmi) and again.quotation("Once more unto the") == "GENERAL"
    with pytest.raises(TopicsError, match="cannot be read"):
        TopicRecord.from_bytes(b"not a zip file")
    broken = TopicRecord(**(vars(record) | {"related_word": record.related_word + len(record.words)}))
    with pytest.raises(TopicsError, match="names a word it does not have"):
        TopicRecord.from_bytes(broken.to_bytes())


def test_the_export_carries_the_record_checksummed(tmp_path, record):
    text = "\n".join(text for _, text in PLAYS)
    path = make_tiny_model(tmp_path / "m", text, speech=True)
    model = store.load(path)
    export.add_speech_data(path, lexicon=model.lexicon, speakers=model.speakers, topics=record)
    assert store.load(path).topics.words == record.words
    export.add_speech_data(path, lexicon=model.lexicon, speakers=model.speakers)  # new speech data keeps the record
    assert store.load(path).topics is not None
    data = bytearray((path / store.TOPICS_FILE).read_bytes())
    data[-10] ^= 1
    (path / store.TOPICS_FILE).write_bytes(bytes(data))
    with pytest.raises(ModelError, match="checksum"):
        store.load(path)


def test_a_fine_tune_extends_the_base_record(record):
    speech = "PILOT:\nThe harbour lights, the harbour bells, the quay and harbour lights.\n"
    harbour = ("harbour-play", "\n".join([speech] * 6))
    merged = record.merged(record_of([harbour]))
    assert {"harbour", "sea", "sword"} <= set(merged.words)
    assert merged.plays == ("sea-play", "war-play", "harbour-play")
    assert merged.quotation("the harbour lights the harbour") == "PILOT"
    assert merged.quotation("Once more unto the breach") == "GENERAL"
    assert merged.speakers[:4] == record.speakers and merged.speaker_play[merged.speakers.index("GENERAL")] == 1
    sword = merged.words.index("sword")
    assert {"blood", "battle"} <= {merged.words[i] for i in merged.related(sword)[0]}


@pytest.fixture(scope="module")
def models(tmp_path_factory, record) -> tuple[Engine, Engine]:
    """The same tiny model with and without the record."""
    text = "\n".join(text for _, text in PLAYS)
    base = tmp_path_factory.mktemp("models")
    plain = make_tiny_model(base / "plain", text, seed=5, speech=True)
    topical = make_tiny_model(base / "topical", text, seed=5, speech=True)
    model = store.load(topical)
    export.add_speech_data(topical, lexicon=model.lexicon, speakers=model.speakers, topics=record)
    return Engine(store.load(plain)), Engine(store.load(topical))


def test_strength_zero_and_the_odds_speaker_are_the_text_of_before(models):
    plain, topical = models
    for rng_seed in range(6):
        requests = [GenerationRequest(seed, max_chars=150, rng=np.random.default_rng(rng_seed)) for seed in ("The", "")]
        before, after = (
            plain.generate_batch(requests),
            topical.generate_batch(
                [
                    GenerationRequest(r.seed, max_chars=150, rng=np.random.default_rng(rng_seed), topic=0.0)
                    for r in requests
                ]
            ),
        )
        assert [(g.speaker, g.text) for g in before] == [(g.speaker, g.text) for g in after]
        seeded = [
            GenerationRequest(r.seed, max_chars=150, rng=np.random.default_rng(rng_seed), seed_speaker=True)
            for r in requests
        ]
        assert [(g.speaker, g.text) for g in plain.generate_batch(seeded)] == [(g.speaker, g.text) for g in before]


def test_the_engine_gives_a_quotation_to_whoever_says_it(models):
    _, topical = models
    for rng_seed in range(5):
        rng = np.random.default_rng(rng_seed)
        request = GenerationRequest("Once more unto the breach", max_chars=80, rng=rng, seed_speaker=True)
        g = topical.generate_batch([request])[0]
        assert g.speaker == "GENERAL" and g.choice.quotation
    named = GenerationRequest("Once more unto the breach", max_chars=80, seed_speaker=True, speaker="Captain")
    assert topical.generate_batch([named])[0].speaker == "CAPTAIN"  # a named speaker wins


def test_a_seed_with_a_play_s_words_leans_to_its_speakers(record):
    names = ["CAPTAIN", "MARINER", "GENERAL", "SOLDIER"]
    chooser = SpeakerChooser(record, names, np.ones(4))
    picks = [chooser.choose("What of the sword and the blood?", u).speaker for u in np.linspace(0, 0.999, 200)]
    assert sum(p in ("GENERAL", "SOLDIER") for p in picks) > 150
    assert chooser.choose("Is this a tempest which I see before me", 0.99).speaker == "CAPTAIN"
    assert chooser.choose("Is this a tempest which I see before me", 0.99).quotation
    plain = [chooser.choose("Hello there", u).speaker for u in (0.1, 0.3, 0.6, 0.9)]
    assert plain == names  # no content words: the odds alone
