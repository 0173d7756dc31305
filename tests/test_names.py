"""Names from the speaker's own plays: the name record, its mask on the words, and the engine keeping to it."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from conftest import estimated_metre, make_tiny_model, walk_allowed

from model_store import DEFAULT_MODEL_DIR, export, store
from model_store.engine import Engine, GenerationRequest
from model_store.lexicon import Lexicon, words
from model_store.names import COMMON_PLAYS, NameRecord, NamesError
from model_store.playscript import lexicon_and_speakers
from model_store.rules.names import NameMasks, SpeakerVerse
from model_store.rules.verse import VerseMasks
from model_store.rules.words import BETWEEN, HYPHEN, SPECIAL, START, WordMasks

# Two plays of their own: each names its own people; "Jove" is in both, and "I" is everyone's.
ELSINORE = """HAMLET:
Alas, poor Yorick! I knew him, Horatio, and Yorick knew me.
Go, Horatio, tell Yorick's ghost that I am here.

HORATIO:
My lord, I saw him once; by Jove, a goodly king.
"""
CYPRUS = """OTHELLO:
Sweet Desdemona, Cassio is gone, and I go too.
Cassio, tell Desdemona that by Jove I love her.

IAGO:
I am not what I am, Cassio; ask Desdemona.
"""
PLAYS = (("tragedies/hamlet", ELSINORE * 3), ("tragedies/othello", CYPRUS * 3))
TEXT = "\n".join(text for _, text in PLAYS)


def record_of(plays=PLAYS) -> tuple[NameRecord, Lexicon]:
    lexicon, _ = lexicon_and_speakers("\n".join(text for _, text in plays))
    return NameRecord.of_plays(plays, lexicon), lexicon


def test_the_record_lists_each_name_with_its_plays_and_each_speaker_with_his():
    record, _ = record_of()
    assert record.plays == ("tragedies/hamlet", "tragedies/othello")
    assert record.names["yorick"] == (0,) and record.names["yorick's"] == (0,) and record.names["cassio"] == (1,)
    assert record.names["jove"] == (0, 1) and record.names["i"] == (0, 1)
    assert "lord" not in record.names and "sweet" not in record.names  # words, not names (lower case, line starts)
    assert record.speakers == {"HAMLET": (0,), "HORATIO": (0,), "IAGO": (1,), "OTHELLO": (1,)}
    assert record.banned("OTHELLO") == {"yorick", "yorick's", "horatio"}
    assert record.banned("HAMLET") == {"cassio", "desdemona"}
    assert record.banned("ZOG") is None  # a speaker the plays do not know may use any name


def test_a_name_in_many_plays_is_anyones():
    letters = "abcdefgh"[:COMMON_PLAYS]
    plays = [
        (f"p{c}", f"SPEAKER {c.upper()}:\nSweet Jove, and Mars{c}, Mars{c} and Mars{c}, by Jove, by Jove.\n")
        for c in letters
    ]
    record, _ = record_of(plays)
    assert record.names["jove"] == tuple(range(COMMON_PLAYS)) and record.names["marsb"] == (1,)
    assert record.banned("SPEAKER A") == {f"mars{c}" for c in letters[1:]}  # not "jove", in all of them


def test_the_record_reads_back_and_refuses_what_it_cannot_use():
    record, _ = record_of()
    assert NameRecord.from_json(record.to_json()) == record
    bad = {
        "not json": "names file is not valid JSON",
        '{"plays": [], "names": {}}': "must be an object with a plays list",
        '{"plays": ["a", "a"], "names": {}, "speakers": {}}': "distinct",
        '{"plays": ["a"], "names": {"rome": [1]}, "speakers": {}}': "'rome': \\[1\\] is not a list of play indices",
        '{"plays": ["a"], "names": {}, "speakers": {"X": []}}': "'X': \\[\\] is not a list of play indices",
        '{"plays": ["a"], "names": {"Rome": [0]}, "speakers": {}}': "'Rome' is not a lower-case word",
    }
    for data, message in bad.items():
        with pytest.raises(NamesError, match=message):
            NameRecord.from_json(data)


def test_a_fine_tune_extends_the_base_record_with_its_plays():
    base, base_lexicon = record_of(PLAYS[:1])
    new, _ = record_of(PLAYS[1:])
    lexicon, _ = lexicon_and_speakers(TEXT)
    merged = base.merged(new, lexicon, base_lexicon)
    assert merged == record_of()[0]  # the same as the record of both plays at once
    # A word the base could use but did not list as a name stays anyone's: its plays in the base are not known.
    assert "cassio" not in NameRecord((), {}, {}).merged(new, lexicon, lexicon_and_speakers(TEXT)[0]).names


@pytest.fixture(scope="module")
def masks() -> NameMasks:
    record, lexicon = record_of()
    chars = tuple(sorted(set(TEXT + "ZQ")))
    return NameMasks(record, WordMasks(lexicon, chars))


def allowed_after(masks: NameMasks, speaker: str, text: str) -> set[str]:
    """What `speaker` may write after `text` (the start of a speech): the words' mask and his names' mask."""
    state = masks.words.start_state(text)
    banned = masks.words.banned[state].copy()
    mine = masks.of(speaker)
    if mine is not None and (extra := mine.bans(state)) is not None:
        banned |= extra
    chars = ("", *masks.words.symbol_of)
    return {chars[i] for i in np.flatnonzero(~banned)}


def test_a_name_from_another_play_is_masked_for_a_known_speaker_and_allowed_for_an_unknown_one(masks):
    assert "Y" not in allowed_after(masks, "OTHELLO", "Sweet ")  # "Yorick" only in Hamlet
    assert "Y" in allowed_after(masks, "HAMLET", "Sweet ") and "Y" in allowed_after(masks, "ZOG", "Sweet ")
    assert "H" not in allowed_after(masks, "IAGO", "Sweet ")  # nothing else capitalised starts with H mid-line
    assert {"C", "D", "J", "I"} <= allowed_after(masks, "IAGO", "Sweet ")  # his play's names, and the common
    assert "C" not in allowed_after(masks, "HAMLET", "Sweet ") and "C" in allowed_after(masks, "OTHELLO", "Go. ")
    assert masks.of("ZOG") is None


def test_the_end_of_a_banned_name_is_masked_where_a_longer_name_goes_on(masks):
    # "Yorick" (Hamlet's) and "Yorick's": for Hamlet both; a speaker without them cannot even start the word.
    assert allowed_after(masks, "HAMLET", "Go, Yorick") >= {" ", ",", "'"}
    record, _ = record_of()
    only_possessive = NameRecord(record.plays, record.names | {"yorick": (1,)}, record.speakers)
    bans = NameMasks(only_possessive, masks.words).of("HAMLET").bans(masks.words.start_state("Go, Yorick"))
    ids = {c: i for i, c in enumerate(("", *masks.words.symbol_of))}
    assert bans[ids[" "]] and bans[ids[","]] and not bans[ids["'"]]  # "Yorick" is Othello's now; "Yorick's" goes on


def test_a_seed_inside_a_banned_name_is_the_users(masks):
    """Only a seed gets inside a name the speaker may not use; the mask does not hold it there (it would leave
    nothing)."""
    state = masks.words.start_state("Sweet Yori")
    assert masks.of("OTHELLO").bans(state) is None
    assert "c" in allowed_after(masks, "OTHELLO", "Sweet Yori")


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    path = make_tiny_model(tmp_path_factory.mktemp("models") / "named", TEXT, seed=3, speech=True)
    model = store.load(path)
    record = NameRecord.of_plays(PLAYS, model.lexicon)
    export.add_speech_data(
        path, lexicon=model.lexicon, speakers=model.speakers, metre=estimated_metre(model.lexicon), names=record
    )
    return Engine(store.load(path))


def test_the_engine_keeps_a_known_speaker_to_his_plays_names(engine):
    for rng_seed in range(20):
        for speaker, foreign in (("Othello", {"yorick", "yorick's", "horatio"}), ("Hamlet", {"cassio"})):
            rng = np.random.default_rng(rng_seed)
            request = GenerationRequest("Sweet", max_chars=120, temperature=1.5, rng=rng, speaker=speaker)
            g = engine.generate_batch([request])[0]
            assert not {w.lower() for w in words(g.text)} & foreign, (speaker, g.text)


def test_an_unknown_speaker_may_use_any_name(engine):
    named = set()
    for rng_seed in range(30):
        rng = np.random.default_rng(rng_seed)
        request = GenerationRequest("Sweet", max_chars=120, temperature=1.5, rng=rng, speaker="Zog")
        named |= {w.lower() for w in words(engine.generate_batch([request])[0].text)}
    assert {"yorick", "cassio"} & named


@pytest.mark.parametrize("model_dir", ["named", "shipped"])
def test_the_combined_masks_never_leave_nothing(engine, model_dir):
    """Random walks through monologues by known and unknown speakers, in verse and prose, from random seeds that
    may end inside a name of another play, picking only what the combined masks allow: something is always left."""
    if model_dir == "shipped":
        engine = Engine(store.load(DEFAULT_MODEL_DIR))
    rng = np.random.default_rng(7)
    chars = engine.vocab.chars
    speakers = [*list(engine.model.names.speakers)[:40], "Zog", ""]
    names = sorted(engine.model.names.names)
    for _ in range(120):
        speaker = speakers[rng.integers(len(speakers))]
        tail = "".join(rng.choice(list(chars), size=rng.integers(0, 8)))
        name = names[rng.integers(len(names))]
        speech = f"{name[: rng.integers(1, len(name) + 1)].capitalize()}{tail}" if rng.random() < 0.5 else tail
        verse = bool(rng.random() < 0.7)
        request = GenerationRequest(speech, max_chars=120, rng=rng, verse=verse, speaker=speaker or None)
        rule = engine._plan(request, engine.clean(speech)).rule
        walk_allowed(engine, rule, rng)


def test_in_verse_a_speaker_has_his_own_words_positions(engine):
    """Where his banned names change which words fit from where, his verse masks know it: their positions are those
    of verse masks made from a lexicon without those names, node for node (so the metre never leads him into a name
    he may not say with nothing else that fits)."""
    model = engine.model
    banned = model.names.banned("OTHELLO")
    mine = engine.names.of("OTHELLO").verse
    assert isinstance(mine, SpeakerVerse) and len(mine.below) > 0
    kept = Lexicon({w: c for w, c in model.lexicon.counts.items() if w not in banned}, model.lexicon.min_count)
    without = VerseMasks(WordMasks(kept, model.vocab.chars), model.metre)
    prefixes = {w[:i] for w in model.lexicon.counts if w in model.lexicon for i in range(1, len(w) + 1)}
    for prefix in prefixes:
        node, other = engine.words.node_of(prefix), without.words.node_of(prefix)
        assert mine.below[node] == (without.below[other] if other > 0 else 0), prefix
    assert mine.below[0] == without.below[0]


@pytest.mark.parametrize("model_dir", ["named", "shipped"])
def test_a_speakers_verse_rows_are_the_metres_with_his_words(engine, model_dir):
    """His rows (the shared ones, with the letters led only to unfitting words banned) equal the rows the verse
    masks work out from scratch with his positions, for every state that starts or continues a word."""
    if model_dir == "shipped":
        engine = Engine(store.load(DEFAULT_MODEL_DIR))
    speaker = "OTHELLO" if model_dir == "named" else "PUCK"
    mine = engine.names.of(speaker).verse
    scratch = copy.copy(engine.verse)
    scratch.below, scratch._rows, scratch._distinct = mine.below, {}, {}  # the metre's own rows, with his positions
    rng = np.random.default_rng(3)
    states = [START, BETWEEN, HYPHEN, *rng.integers(SPECIAL, engine.words.banned.shape[0], 3000)]
    changed = 0
    for state in states:
        starts, flags = int(rng.integers(1, 1 << 11)), int(rng.integers(0, 4))
        his, theirs = mine.row(int(state), starts, flags), scratch.row(int(state), starts, flags)
        assert (his == theirs).all(), state
        changed += not (his == engine.verse.row(int(state), starts, flags)).all()
    assert changed > 0
