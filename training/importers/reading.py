"""Reading a play file's bytes into text: UTF-8, with a cp1252 fallback that is counted and reported, never silent.

Project Gutenberg files declared "ASCII" or "ISO-8859-1" often hold Windows cp1252 bytes (curly quotes, dashes);
stopping at the first one would lose a whole play for one apostrophe.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

MAX_BYTES = 50 * 1024 * 1024  # the longest play is under 1 MB; a bigger file is not a play


class PlayImportError(ValueError):
    """A file that cannot be turned into play-script text: the message is one line naming the file."""


@dataclass(frozen=True)
class Decoded:
    text: str
    replaced_bytes: int  # bytes that were not UTF-8 and were read as cp1252
    first_bad_byte: int  # offset of the first of them, or -1


_ESCAPED = re.compile("[\udc80-\udcff]+")


def read_bytes(path: Path) -> bytes:
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise PlayImportError(f"{path}: {size:,} bytes is too big for a play (limit {MAX_BYTES:,})")
        return path.read_bytes()
    except FileNotFoundError:
        raise PlayImportError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise PlayImportError(f"{path}: is a directory") from None
    except OSError as exc:
        raise PlayImportError(f"{path}: cannot be read ({exc.strerror})") from None


def decode(path: Path, data: bytes) -> Decoded:
    """UTF-8 text with CRLF and CR line ends made LF; bytes that are not UTF-8 are read as cp1252 and counted."""
    if b"\0" in data[:65536]:
        raise PlayImportError(f"{path}: looks binary (NUL bytes), not a text file")
    text = data.decode("utf-8", errors="surrogateescape").removeprefix("\ufeff")
    replaced, first = 0, -1
    if _ESCAPED.search(text):
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:
            first = exc.start

        def as_cp1252(match: re.Match[str]) -> str:
            nonlocal replaced
            raw = bytes(ord(c) - 0xDC00 for c in match.group())
            replaced += len(raw)
            return raw.decode("cp1252", errors="replace").replace("\ufffd", "")

        text = _ESCAPED.sub(as_cp1252, text)
    if not text.strip():
        raise PlayImportError(f"{path}: is empty")
    return Decoded(text.replace("\r\n", "\n").replace("\r", "\n"), replaced, first)
