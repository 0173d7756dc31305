"""Scenes: what Continue, Another and Answer need, recovered from the bard's own replies. Pure functions, no I/O.

A monologue's reply is the record: its header names the speaker (`**HAMLET**`, or `**HAMLET** *goes on:*` for a
continuation), its block quote holds the speech, and its buttons' ids hold the model, the options and how much of
the speech was the seed. So a button works after a restart, and an exchange is the chain of replies it answers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from bot.markdown import ELLIPSIS, unescape_markdown
from bot.options import Options, model_name, option_value
from model_store.limits import HISTORY_CHARS

EXCHANGE_SPEECHES = 5  # Answer is primed with this many speeches at most (the last ones), HISTORY_CHARS at most
CONTINUE_CHARS = 800  # Continue primes the speaker's speech with its last this-many characters
GOES_ON = " *goes on:*"  # after a continuation's speaker
ACTIONS = {"c": "continue", "a": "another", "w": "answer", "s": "answer"}  # id letter -> action ("s": the select)
_HEADER = re.compile(r"\*\*(?P<speaker>.+)\*\*(?P<goes_on>" + re.escape(GOES_ON) + r")?")
SONNET_HEADER = "*A sonnet by the bard:*"
_FREE_HEADERS = {"*The bard continues:*": False, "*The bard begins:*": False, "*The bard goes on:*": True}
_CUSTOM_ID = (
    r"bard:(?P<action>{actions}):(?P<model>[A-Za-z0-9][A-Za-z0-9._-]{{0,63}}):(?P<t>[0-9.e+-]+):(?P<n>\d+)"
    r":(?P<k>\d+):(?P<p>[0-9.e+-]+):(?P<flags>f?r?c?s?):(?P<seed>\d+)"
)
BUTTON_ID = _CUSTOM_ID.format(actions="[caw]")  # DynamicItem templates (matched whole by discord.py)
SELECT_ID = _CUSTOM_ID.format(actions="s")
CUSTOM_ID_LIMIT = 100  # Discord's limit on a component's custom id
_NAME = re.compile(r"[A-Za-z][A-Za-z'.&-]*(?: [A-Za-z][A-Za-z'.&-]*){0,3}")  # a speaker a seed can name


@dataclass(frozen=True)
class Spoken:
    """One speech as a reply shows it."""

    speaker: str | None  # None: free text
    text: str
    goes_on: bool = False  # a continuation of the speech before it (same speaker)


@dataclass(frozen=True)
class Said:
    """A monologue the bard replied with and what its buttons need: options.seed is the seed it was written from
    (the start of the speech; "" for continuations and answers), options.model the model that wrote it."""

    spoken: Spoken
    options: Options


@dataclass
class Session:
    """The console's scene: the speeches before its last monologue, and that monologue (Discord keeps the same as
    a chain of replies)."""

    earlier: list[Spoken] = field(default_factory=list)
    last: Said | None = None

    def record(self, action: str, said: Said) -> None:
        """After `action` ("write", "continue", "another", "answer") replied with `said`."""
        if action in ("continue", "answer") and self.last is not None:
            self.earlier = [*self.earlier, self.last.spoken][-EXCHANGE_SPEECHES * 2 :]
        elif action != "another":  # another stands in for the last; a new command starts a new scene
            self.earlier = []
        self.last = said


def read_reply(content: str) -> Spoken | None:
    """The speech in one of the bard's monologue replies, or None when the text is not one."""
    head, sep, body = content.partition("\n>>> ")
    if not sep:
        return None
    first = head.split("\n", 1)[0]
    if (match := _HEADER.fullmatch(first)) is not None:
        speaker, goes_on = unescape_markdown(match["speaker"]), match["goes_on"] is not None
    elif first in _FREE_HEADERS:
        speaker, goes_on = None, _FREE_HEADERS[first]
    elif first == SONNET_HEADER:
        speaker, goes_on = None, False
    else:
        return None
    text = unescape_markdown(body).strip()
    text = text.removesuffix(ELLIPSIS.strip()).rstrip() if text.endswith(ELLIPSIS) or text == "…" else text
    return Spoken(speaker, text, goes_on)


def exchange(speeches: Sequence[Spoken]) -> list[Spoken]:
    """The scene so far as whole speeches: continuations joined to the speech they go on with, from the last free
    text on (free text has no speaker to answer), the last EXCHANGE_SPEECHES and HISTORY_CHARS
    (all the engine feeds) at most."""
    joined: list[Spoken] = []
    for spoken in speeches:
        if spoken.speaker is None:
            joined = []
            continue
        if joined and spoken.speaker == joined[-1].speaker:
            joined[-1] = Spoken(spoken.speaker, f"{joined[-1].text}\n{spoken.text}".strip())
        else:
            joined.append(Spoken(spoken.speaker, spoken.text))
    joined = joined[-EXCHANGE_SPEECHES:]
    while len(joined) > 1 and len(playscript(joined)) > HISTORY_CHARS:
        joined.pop(0)
    return joined


def playscript(speeches: Sequence[Spoken]) -> str:
    """The exchange in the play-script form the model was trained on: "HAMLET:\\nline\\n\\nHORATIO:\\nline"."""
    return "\n\n".join(f"{s.speaker}:\n{s.text}" for s in speeches if s.speaker)


def tail(text: str, chars: int = CONTINUE_CHARS) -> str:
    """The end of a speech, at most `chars` long, starting at a word."""
    if len(text) <= chars:
        return text
    end = text[-chars:]
    cut = next((i + 1 for i, c in enumerate(end) if c.isspace()), 0)
    return end[cut:]


def speaker_name(typed: str) -> str | None:
    """A typed speaker's name checked (up to four words of letters, as a seed may name one) and written as the plays
    write a name they lack (each word capitalised; it shows as typed in free text), or None when it is not a name."""
    words = " ".join(typed.split())
    if not _NAME.fullmatch(words):
        return None
    return " ".join(w[:1].upper() + w[1:] for w in words.split())


def custom_id(action: str, said: Said) -> str | None:
    """A component's id, holding everything a press needs beyond the message text; None when it would not fit."""
    o = said.options
    flags = "".join(flag for flag, on in (("f", o.free), ("r", o.prose), ("c", o.no_couplet), ("s", o.sonnet)) if on)
    made = f"bard:{action}:{o.model}:{o.temperature:g}:{o.length}:{o.top_k}:{o.top_p:g}:{flags}:{len(o.seed)}"
    return made if len(made) <= CUSTOM_ID_LIMIT and o.model else None


def options_of(match: re.Match[str]) -> Options:
    """A component id's options (its seed left empty), each value checked as a typed option is; raises OptionError."""
    return Options(
        seed="",
        temperature=float(option_value("temperature", match["t"])),
        length=int(option_value("length", match["n"])),
        top_k=int(option_value("top-k", match["k"])),
        top_p=float(option_value("top-p", match["p"])),
        free="f" in match["flags"],
        model=model_name("-m", match["model"]),
        prose="r" in match["flags"],
        no_couplet="c" in match["flags"],
        sonnet="s" in match["flags"],
    )


def recovered(spoken: Spoken, options: Options, seed_chars: int) -> Said:
    """The Said behind a message: its speech, and the options from its component id (the seed is the speech's
    first seed_chars characters)."""
    return Said(spoken, replace(options, seed=spoken.text[:seed_chars]))
