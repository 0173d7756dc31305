"""Reading an export's JSON files: one place turns bytes that are not JSON into the file's own error."""

from __future__ import annotations

import json
from typing import Any


def loads(data: str | bytes, what: str, error: type[Exception]) -> Any:
    """The JSON value of `data`, or `error("<what> is not valid JSON: <why>")`."""
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise error(f"{what} is not valid JSON: {exc}") from None
