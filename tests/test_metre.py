"""Syllables and stress: the dictionary's readings with the verse's licences, the estimate for archaic forms,
the template's rules, and the metre file."""

from __future__ import annotations

import pytest

from model_store.metre import Metre, MetreError, after, estimate, fits, scan
from training.metre_data import readings


@pytest.mark.training  # the CMU dictionary is in the train extra
@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("the", ["1"]),  # a monosyllable: either beat
        ("upon", ["01"]),
        ("heaven", ["1", "10"]),  # elided, or in full
        ("glorious", ["10", "100", "102"]),  # synaeresis; a promoted last syllable
        ("beautiful", ["100", "102"]),
        ("loved", ["1", "10"]),  # a sounded -ed
        ("call'd", ["1"]),  # the elided form: the base's syllables
        ("belov'd", ["01"]),
        ("'tis", ["1"]),
    ],
)
def test_dictionary_readings(word, expected):
    assert readings(word) == expected


@pytest.mark.parametrize(
    ("word", "expected"),
    [("o'er", ["1"]), ("ne'er", ["1"]), ("th'", [""]), ("'gainst", ["1"]), ("beauteous", ["10", "100"])],
)
def test_the_estimate_for_archaic_and_elided_forms(word, expected):
    assert estimate(word) == expected


@pytest.mark.training  # the CMU dictionary is in the train extra
def test_words_the_dictionary_lacks_get_the_estimate():
    assert readings("o'er") == estimate("o'er") == ["1"]
    assert readings("beauteous") == estimate("beauteous")
    assert estimate("bewitch") == ["01"]  # an unstressed prefix


def test_fits_follows_the_template():
    assert fits("01", 2) and not fits("10", 2)  # the stress on a beat (odd positions)
    assert fits("10", 0)  # an inverted first foot
    assert fits("1", 9) and not fits("1", 10)  # a lone eleventh syllable is no feminine ending
    assert fits("10", 9) and not fits("01", 9)  # a feminine ending: the unstressed last syllable
    assert not fits("010", 9)  # past eleven
    assert fits("102", 1) and not fits("100", 1)
    assert after(["1", "10"], 1 << 4) == 1 << 5  # "heaven" at 4: only the elided reading fits


@pytest.mark.training  # the CMU dictionary is in the train extra
def test_scan_finds_a_way_through_the_readings():
    line = "But soft, what light through yonder window breaks"
    counts, pattern = scan([readings(w.lower()) for w in line.split()])
    assert 10 in counts and pattern == "xxxxx10" + "10" + "x"
    counts, pattern = scan([readings(w) for w in ["to", "be", "or", "not", "to", "be", "that", "is", "the", "matter"]])
    assert counts == {11} and pattern == "x" * 9 + "10"  # a feminine ending
    assert scan([readings(w) for w in ["the", "king", "is", "dead"]])[1] is None  # too short


def test_metre_file_round_trips_and_rejects_damage():
    metre = Metre({"heaven": ["1", "10"], "th'": [""]})
    assert Metre.from_json(metre.to_json()).readings == metre.readings
    assert metre.of("Heaven") == ["1", "10"] and metre.of("o'er") == ["1"]
    for bad in ("{", "[]", '{"readings": {"Heaven": ["1"]}}', '{"readings": {"a": ["3"]}}', '{"readings": {"a": []}}'):
        with pytest.raises(MetreError):
            Metre.from_json(bad)
