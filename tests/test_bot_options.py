"""In-line option parsing: defaults, short and long spellings, `--`, and a one-line reason for each bad option."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from bot import scene
from bot.limits import MAX_SEED_CHARS
from bot.options import OptionError, Options, parse_options
from bot.scene import Said, Spoken

DEFAULTS = {"temperature": 0.8, "length": 400}


def parse(text: str) -> Options:
    return parse_options(text, **DEFAULTS)


def test_no_options_gives_defaults_and_the_seed() -> None:
    assert parse("To be, or not to be") == Options("To be, or not to be", 0.8, 400, 0, 1.0)
    assert parse("") == Options("", 0.8, 400, 0, 1.0)


def test_short_and_long_options_before_the_seed() -> None:
    opts = parse("-t 0.5 -n 300 -k 5 -p 0.9 To be")
    assert (opts.temperature, opts.length, opts.top_k, opts.top_p, opts.seed) == (0.5, 300, 5, 0.9, "To be")
    opts = parse("--temperature=0 --length 50 --top-k=3 --top-p 1 Now is the winter")
    assert (opts.temperature, opts.length, opts.top_k, opts.top_p) == (0.0, 50, 3, 1.0)
    assert opts.seed == "Now is the winter"


def test_the_seed_is_kept_verbatim_after_the_options() -> None:
    assert parse("-t 1  To  be,\nor not -n 5").seed == "To  be,\nor not -n 5"


def test_double_dash_ends_options_and_dashes_that_are_not_options_start_the_seed() -> None:
    assert parse("-- -t is part of it").seed == "-t is part of it"
    assert parse("-n 20 -- --length").seed == "--length"
    assert parse("- a dash").seed == "- a dash"
    assert parse("-5 degrees").seed == "-5 degrees"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("-x 3 hi", "unknown option “-x”"),
        ("--temp 3 hi", "unknown option “--temp”"),
        ("--t 0.5 hi", "unknown option “--t”"),
        ("-t", "option “-t” needs a value"),
        ("-t warm hi", "option “-t” needs a number, not “warm”"),
        ("-t 2.5 hi", "option “-t” must be from 0 to 2, not “2.5”"),
        ("-t -1 hi", "option “-t” must be from 0 to 2"),
        ("-t nan hi", "option “-t” must be from 0 to 2, not “nan”"),
        ("-t inf hi", "option “-t” must be from 0 to 2, not “inf”"),
        ("-n 0 hi", "option “-n” must be from 1 to 1500"),
        ("-n 5000 hi", "option “-n” must be from 1 to 1500, not “5000”"),
        ("-n 3.5 hi", "option “-n” needs a whole number, not “3.5”"),
        ("-k -2 hi", "option “-k” must be from 0 to 1000"),
        ("-p 0 hi", "option “-p” must be above 0 and at most 1, not “0”"),
        ("-p 1.5 hi", "option “-p” must be above 0 and at most 1"),
    ],
)
def test_bad_options_name_the_problem(text: str, expected: str) -> None:
    with pytest.raises(OptionError) as err:
        parse(text)
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


def test_a_seed_too_long_is_refused() -> None:
    assert parse("a" * MAX_SEED_CHARS).seed == "a" * MAX_SEED_CHARS
    with pytest.raises(OptionError, match=f"the most is {MAX_SEED_CHARS}"):
        parse("a" * (MAX_SEED_CHARS + 1))


def test_option_values_in_errors_are_escaped_and_shortened() -> None:
    with pytest.raises(OptionError) as err:
        parse("-t **" + "9" * 100)
    message = str(err.value)
    assert "\\*\\*" in message and "9" * 40 not in message


def test_prose_and_free_are_flags() -> None:
    assert parse("-r To be") == Options("To be", 0.8, 400, prose=True)
    assert parse("--prose -f To be") == Options("To be", 0.8, 400, free=True, prose=True)
    with pytest.raises(OptionError, match="takes no value"):
        parse("--prose=yes To be")


def test_a_component_ids_options_are_fields_checked_as_typed_ones() -> None:
    said = Said(Spoken("HAMLET", "To be, or not"), Options("To be", 0.5, 300, 5, 0.9, prose=True, model="alpha"))
    assert scene.custom_id("c", said) == "bard:c:alpha:0.5:300:5:0.9:r:5"

    def button(t: str = "0.5", n: str = "300", k: str = "5", p: str = "0.9") -> re.Match[str]:
        match = re.fullmatch(scene.BUTTON_ID, f"bard:c:alpha:{t}:{n}:{k}:{p}:r:5")
        assert match is not None
        return match

    assert scene.options_of(button()) == replace(said.options, seed="")
    for bad in ({"t": "9"}, {"t": "1.2.3"}, {"n": "0"}, {"n": "1501"}, {"k": "1001"}, {"p": "0"}, {"p": "1e9"}):
        with pytest.raises(OptionError):
            scene.options_of(button(**bad))
