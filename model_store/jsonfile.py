"""Reading an export's JSON files: one place turns bytes that are not JSON into the file's own error."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

WORD = re.compile(r"'?[a-z]+(?:'[a-z]+)*'?")  # a lexicon word as the records key it: lower case


def loads(data: str | bytes, what: str, error: type[Exception]) -> Any:
    """The JSON value of `data`, or `error("<what> is not valid JSON: <why>")`."""
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{what} is not valid JSON: {exc}") from None


def word_lists(
    data: str | bytes, what: str, key: str, error: type[Exception], is_item: Callable[[object], bool], holds: str
) -> dict[str, list[Any]]:
    """The `key` object of a record (metre.json, rhymes.json) mapping lower-case words to lists of items, every word and
    item checked, or `error` naming the entry that is wrong (`holds`: what each list must hold)."""
    obj = loads(data, what, error)
    if not isinstance(obj, dict) or not isinstance(obj.get(key), dict):
        raise error(f"{what} JSON must be an object with a {key} object")
    table = obj[key]
    for word, entry in table.items():
        if not WORD.fullmatch(word):
            raise error(f"{what} entry {word[:40]!r} is not a lower-case word")
        if not (isinstance(entry, list) and entry and all(is_item(item) for item in entry)):
            raise error(f"{what} entry {word!r} must hold {holds}")
    return table
