"""A bard command's in-line options: `-t 0.5 -n 300 To be` into an Options, or an OptionError naming the problem.

Pure functions, no I/O; the error messages quote what the user typed, escaped (see bot/markdown.py).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from bot.limits import MAX_LENGTH, MAX_SEED_CHARS
from bot.markdown import quote
from model_store.limits import MAX_TEMPERATURE, MAX_TOP_K


class OptionError(ValueError):
    """A command's options that cannot be used; the message says which and why, in one line."""


@dataclass(frozen=True)
class Options:
    seed: str
    temperature: float
    length: int
    top_k: int = 0
    top_p: float = 1.0
    free: bool = False  # free text: no speaker, any words (the monologue's rules off)
    model: str | None = None  # which model (a models folder's subdirectory); None: the default
    prose: bool = False  # a monologue in prose: the metre off
    no_couplet: bool = False  # a verse monologue that does not close on a rhyming couplet
    sonnet: bool = False  # a sonnet instead of a speech (`bard sonnet`, the slash command's form); not an option


# option spelling -> (field, kind, low, high, low_is_open)
_SPECS: dict[str, tuple[str, type, float, float, bool]] = {
    "temperature": ("temperature", float, 0.0, MAX_TEMPERATURE, False),
    "length": ("length", int, 1, MAX_LENGTH, False),
    "top-k": ("top_k", int, 0, MAX_TOP_K, False),
    "top-p": ("top_p", float, 0.0, 1.0, True),
}
_FLAGS = {"free": "free", "prose": "prose", "no-couplet": "no_couplet"}  # options without a value: spelling -> field
_NAMES = {"model": "model"}  # options whose value is a name: spelling -> field
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_SHORT = {
    **{"t": "temperature", "n": "length", "k": "top-k", "p": "top-p", "f": "free", "r": "prose", "m": "model"},
    "c": "no-couplet",
}
_OPTION = re.compile(r"\s*(--?[A-Za-z][\w-]*)(?:=(\S*))?(?=\s|$)")
_END_OF_OPTIONS = re.compile(r"\s*--(?=\s|$)")
_VALUE = re.compile(r"\s*(\S+)")


def parse_options(text: str, *, temperature: float, length: int) -> Options:
    """Split `-t 0.5 -n 300 To be` into options and the seed; defaults fill what is not given.

    Options come first; the seed is the rest, verbatim. `--` ends the options, so a seed may start with '-'.
    """
    values: dict[str, Any] = {"temperature": temperature, "length": length}
    pos = 0
    while True:
        if end := _END_OF_OPTIONS.match(text, pos):
            pos = end.end()
            break
        match = _OPTION.match(text, pos)
        if not match:
            break
        spelling, inline_value = match.group(1), match.group(2)
        name = spelling[2:] if spelling.startswith("--") else _SHORT.get(spelling[1:], "")
        if name not in (*_SPECS, *_FLAGS, *_NAMES) or (spelling.startswith("--") and len(name) == 1):
            known = "-t, -n, -k, -p, -f, -r, -c, -m; `--` before a seed starting with -"
            raise OptionError(f"unknown option {quote(spelling)} (options: {known})")
        pos = match.end()
        if name in _FLAGS:
            if inline_value is not None:
                raise OptionError(f"option {quote(spelling)} takes no value")
            values[_FLAGS[name]] = True
            continue
        if inline_value is None:
            value = _VALUE.match(text, pos)
            if not value:
                raise OptionError(f"option {quote(spelling)} needs a value")
            inline_value, pos = value.group(1), value.end()
        if name in _NAMES:
            values[_NAMES[name]] = model_name(spelling, inline_value)
            continue
        field, kind, low, high, low_open = _SPECS[name]
        values[field] = _number(spelling, inline_value, kind, low, high, low_open)
    seed = text[pos:].strip()
    if len(seed) > MAX_SEED_CHARS:
        raise OptionError(f"the seed is {len(seed)} characters long; the most is {MAX_SEED_CHARS}")
    return Options(seed=seed, **values)


def model_name(spelling: str, value: str) -> str:
    """A model's name as `-m` takes one (a models folder's subdirectory); raises OptionError naming the option."""
    if not _NAME.fullmatch(value):
        raise OptionError(f"option {quote(spelling)} needs a model's name, not {quote(value)}")
    return value


def option_value(name: str, raw: str) -> int | float:
    """An option's value from its text, given by its long name ("temperature", "top-k"), checked as a typed one is
    (for values that come as fields, such as a button's); raises OptionError."""
    _, kind, low, high, low_open = _SPECS[name]
    return _number(f"--{name}", raw, kind, low, high, low_open)


def _number(spelling: str, raw: str, kind: type, low: float, high: float, low_open: bool) -> int | float:
    what = "a whole number" if kind is int else "a number"
    try:
        value = kind(raw)
    except ValueError:
        raise OptionError(f"option {quote(spelling)} needs {what}, not {quote(raw)}") from None
    if not math.isfinite(value) or value > high or value < low or (low_open and value == low):
        bounds = f"above {low:g} and at most {high:g}" if low_open else f"from {low:g} to {high:g}"
        raise OptionError(f"option {quote(spelling)} must be {bounds}, not {quote(raw)}")
    return value
