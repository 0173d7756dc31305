"""Discord markdown: escaping user and model text so it shows as typed, and trimming text to a message's room.

Pure functions, no I/O; used by the option parser (to quote what a user typed) and by every reply.
"""

from __future__ import annotations

import re

from bot.limits import MESSAGE_LIMIT

ELLIPSIS = " …"

_INLINE_MARKUP = re.compile(r"([\\*_~`|<>\[\]])")  # emphasis, code, spoilers, mentions/emoji <...>, links [..]
_LINE_MARKUP = re.compile(r"(?m)^([ \t]*)([#+-])")  # headings, -# subtext, lists at the start of a line
_NUMBERED_LIST = re.compile(r"(?m)^([ \t]*\d+)([.)])")


def escape_markdown(text: str, *, inline: bool = False) -> str:
    """Text that Discord shows as typed: markdown escaped, @everyone/@here and <@id> defused.

    inline: the text goes in the middle of a line, so line-start markup (# headings, - lists) cannot occur.
    """
    text = _INLINE_MARKUP.sub(r"\\\1", text)
    if inline:
        text = text.replace("\n", " ")
    else:
        text = _LINE_MARKUP.sub(r"\1\\\2", text)
        text = _NUMBERED_LIST.sub(r"\1\\\2", text)
    # A zero-width space after @ keeps @everyone from even looking like a mention (pings are off anyway).
    return text.replace("@", "@\u200b")


_ESCAPED = re.compile(r"\\([\\*_~`|<>\[\]#+\-.)])")


def unescape_markdown(text: str) -> str:
    """The raw text that escape_markdown escaped (the bard reads its own replies back)."""
    return _ESCAPED.sub(r"\1", text).replace("@\u200b", "@")


def quote(raw: str, limit: int = 30) -> str:
    """A user-typed fragment for an error message: shortened, escaped, in quotes."""
    short = raw if len(raw) <= limit else raw[: limit - 1] + "…"
    return f"“{escape_markdown(short, inline=True)}”"


def fit(raw: str, budget: int, *, unfinished: bool = False) -> str:
    """Escape raw text and, if it does not fit in budget characters, cut it after the last whole word that does.

    A cut (or an unfinished text) ends with an ellipsis. Escaping only grows with the text, so the
    longest prefix that fits is found by bisection over the word ends.
    """
    escaped = escape_markdown(raw).rstrip()
    if len(escaped) <= budget and not unfinished:
        return escaped
    if len(escaped) + len(ELLIPSIS) <= budget:
        return escaped + ELLIPSIS
    room = budget - len(ELLIPSIS)
    if room <= 0:
        return ""
    ends = [m.end() for m in re.finditer(r"\S+", raw)]  # a cut here is at a word or line boundary
    best = _longest_fitting(raw, ends, room)
    if best is None:  # not even the first word fits: cut inside it
        best = _longest_fitting(raw, list(range(1, len(raw) + 1)), room) or 0
    return escape_markdown(raw[:best]).rstrip() + ELLIPSIS


def _longest_fitting(raw: str, cuts: list[int], room: int) -> int | None:
    lo, hi, best = 0, len(cuts) - 1, None
    while lo <= hi:
        mid = (lo + hi) // 2
        if len(escape_markdown(raw[: cuts[mid]]).rstrip()) <= room:
            best, lo = cuts[mid], mid + 1
        else:
            hi = mid - 1
    return best


def fit_lines(lines: list[str], limit: int = MESSAGE_LIMIT) -> str:
    """The lines as one message; past the limit, the lines that do not fit whole are left out."""
    text = "\n".join(lines)
    return text if len(text) <= limit else text[: limit - 1].rsplit("\n", 1)[0]
