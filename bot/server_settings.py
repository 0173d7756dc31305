"""Each server's own settings: the keys (`!bard set KEY VALUE`), their checks, and the store that keeps them.

A server's settings are the host's (BARD_*) with what the server changed on top. The store reads every server's
changes from the database once, at start, and serves them from memory: a command never waits on the database,
and a database that fails while serving leaves every server with its last known settings (the error is logged).
A change is written first and acknowledged after: one the database refuses is not made. A server is served by
one shard at a time, so a process only ever changes the servers it serves and its memory stays the truth.

Adding a key is one line in ServerSettings (its kind, the host's setting it defaults to, a help line); the code
that obeys it reads the field.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import math
import re
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from bot.database import Database, DatabaseError, open_database
from bot.limits import MAX_LENGTH
from bot.markdown import escape_markdown, quote
from bot.model_names import served_spelling
from bot.settings import Settings
from model_store.limits import MAX_TEMPERATURE

log = logging.getLogger(__name__)

CONSOLE_SERVER_ID = 0  # console mode is one server, stored under this id
DEFAULT = "default"  # `!bard set KEY default`: back to the host's setting
MAX_COOLDOWN = 3600.0  # as BARD_COOLDOWN
_CHANNEL = re.compile(r"<#(\d+)>|(\d+)")


class SettingError(ValueError):
    """A value a key cannot take; the message names the key and the values it allows, in one line."""


class NotSaved(Exception):
    """The database could not keep a change; nothing was changed."""


@dataclass(frozen=True)
class Where:
    """What a value is checked against: the models served, and the server's channels (None: not known)."""

    models: Sequence[str] = ()
    channels: Collection[int] | None = None


@dataclass(frozen=True)
class Kind:
    """How a key's values are read from a command (parse), stored and read back (dump, load) and shown."""

    allowed: str  # the values it takes, for messages and help
    parse: Callable[[str, Where], Any]  # raises ValueError with the reason (the key and `allowed` are added)
    dump: Callable[[Any], str] = str
    load: Callable[[str], Any] | None = None  # None: read back as a command's value is (its checks included)
    show: Callable[[Any], str] = str  # Discord markdown, safe to show as it is
    choices: Callable[[Where], Sequence[str]] = lambda where: ()  # offered by the slash command's autocomplete


def _switch(text: str, where: Where) -> bool:
    word = text.strip().lower()
    if word in ("on", "true", "yes", "1"):
        return True
    if word in ("off", "false", "no", "0"):
        return False
    raise ValueError(f"not {quote(text)}")


def _number(low: float, high: float, whole: bool) -> Callable[[str, Where], float | int]:
    def parse(text: str, where: Where) -> float | int:
        try:
            value = int(text) if whole else float(text)
        except ValueError:
            raise ValueError(f"not {quote(text)}") from None
        if not math.isfinite(value) or not low <= value <= high:
            raise ValueError(f"not {quote(text)}")
        return value

    return parse


def _model(text: str, where: Where) -> str:
    found = served_spelling(list(where.models), text.strip())
    if found is None:
        raise ValueError(f"not {quote(text)}")
    return found


def _channels(text: str, where: Where) -> frozenset[int]:
    if text.strip().lower() == "all":
        return frozenset()
    words = text.replace(",", " ").split()
    ids = set()
    for word in words:
        match = _CHANNEL.fullmatch(word)
        if match is None:
            raise ValueError(f"{quote(word)} is not a channel")
        channel = int(match.group(1) or match.group(2))
        if where.channels is not None and channel not in where.channels:
            raise ValueError(f"<#{channel}> is not a channel of this server")
        ids.add(channel)
    if not ids:
        raise ValueError("no channel named")
    return frozenset(ids)


def _channel_ids(text: str) -> frozenset[int]:
    return frozenset(int(i) for i in text.split(",") if i)


BOOL = Kind(
    "on or off",
    _switch,
    lambda v: "on" if v else "off",
    None,
    lambda v: "on" if v else "off",
    lambda where: ("on", "off"),
)
TEMPERATURE = Kind(
    f"a number from 0 to {MAX_TEMPERATURE:g}",
    _number(0, MAX_TEMPERATURE, False),
    show="{:g}".format,
    choices=lambda where: ("0.5", "0.8", "1"),
)
LENGTH = Kind(
    f"a whole number from 1 to {MAX_LENGTH}",
    _number(1, MAX_LENGTH, True),
    choices=lambda where: ("200", "400", "800"),
)
COOLDOWN = Kind(
    f"seconds from 0 to {MAX_COOLDOWN:g}",
    _number(0, MAX_COOLDOWN, False),
    show="{:g} s".format,
    choices=lambda where: ("0", "10", "60"),
)
MODEL = Kind(
    "the name of a served model (see bard models)",
    _model,
    lambda v: v or "",
    lambda t: t or None,
    lambda v: escape_markdown(v, inline=True) if v else "the service's default",
    lambda where: tuple(where.models),
)
CHANNELS = Kind(
    "all, or channels such as #globe #tavern",
    _channels,
    lambda v: ",".join(map(str, sorted(v))),
    _channel_ids,
    lambda v: " ".join(f"<#{i}>" for i in sorted(v)) or "all",
    lambda where: ("all",),
)


def key(kind: Kind, host: str, about: str) -> Any:
    """A server setting: its kind, the host setting (Settings' field) it defaults to, and what it does."""
    return dataclasses.field(metadata={"kind": kind, "host": host, "about": about})


@dataclass(frozen=True)
class ServerSettings:
    """One server's settings, every key filled (the host's where the server changed nothing)."""

    model: str | None = key(MODEL, "default_model", "the bard that answers when none is named (-m)")
    temperature: float = key(TEMPERATURE, "temperature", "how daring the words are (-t)")
    length: int = key(LENGTH, "length", "how many characters a monologue has at most (-n)")
    verse: bool = key(BOOL, "verse", "blank verse; off: prose (-r per command)")
    couplet: bool = key(BOOL, "couplet", "a verse monologue closes on a rhyming couplet (-c turns it off per command)")
    buttons: bool = key(BOOL, "components", "Continue, Another and Answer under each monologue")
    channels: frozenset[int] = key(CHANNELS, "allowed_channels", "the channels where the bard answers")
    cooldown: float = key(COOLDOWN, "cooldown", "seconds each member waits between monologues")
    clean: bool = key(BOOL, "clean", "keeps bawdy words and oaths out (model_store/rules/clean_words.txt)")

    @classmethod
    def of(cls, settings: Settings, stored: dict[str, Any] | None = None) -> ServerSettings:
        """The host's settings, with `stored` (key -> value, as loaded) on top."""
        values = {name: getattr(settings, field.metadata["host"]) for name, field in FIELDS.items()}
        return cls(**(values | (stored or {})))


FIELDS = {field.name: field for field in dataclasses.fields(ServerSettings)}
KEYS = tuple(FIELDS)


def kind_of(name: str) -> Kind:
    return FIELDS[name].metadata["kind"]


def about(name: str) -> str:
    return FIELDS[name].metadata["about"]


def check_key(name: str) -> str:
    """The key as written in lower case; raises SettingError naming the keys."""
    found = name.strip().lower()
    if found not in FIELDS:
        raise SettingError(f"{quote(name)} is not a setting (settings: {', '.join(KEYS)})")
    return found


def parse_value(name: str, text: str, where: Where) -> Any:
    """A key's value from a command; raises SettingError naming the key and the values it allows."""
    kind = kind_of(name)
    try:
        return kind.parse(text.strip(), where)
    except ValueError as exc:
        raise SettingError(f"`{name}` takes {kind.allowed}, or `{DEFAULT}`: {exc}") from None


def load(name: str, text: str) -> Any:
    """A key's value as stored; raises ValueError for one that is not a value of the key (a file edited by hand)."""
    kind = kind_of(name)
    return kind.load(text) if kind.load is not None else kind.parse(text, Where())


def show(name: str, value: Any) -> str:
    return kind_of(name).show(value)


@dataclass(frozen=True)
class Change:
    """A change made: the key, and its value before and after, as shown."""

    key: str
    old: str
    new: str


class ServerSettingsStore:
    """Every server's settings in memory, each change written through to the database first."""

    def __init__(self, settings: Settings, database: Database, *, describe_user: Callable[[int], str] = str) -> None:
        self.settings, self.database = settings, database
        self.defaults = ServerSettings.of(settings)
        self.describe_user = describe_user  # how the log names a member (the bard sets its pseudonyms)
        self._stored: dict[int, dict[str, Any]] = {}  # server id -> key -> value, what differs from the defaults
        self._servers: dict[int, ServerSettings] = {}
        self._locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)  # one change at a time per server

    async def start(self) -> None:
        """Read every server's settings; raises DatabaseError."""
        try:
            rows = await self.database.load()
        except Exception as exc:
            raise DatabaseError(f"cannot read the settings from {self.database.where}: {exc}") from None
        for server_id, values in rows.items():
            for name, text in values.items():
                if name not in FIELDS:
                    log.warning("server %s: stored setting %r is not a setting here; left out", server_id, name)
                    continue
                try:
                    self._stored.setdefault(server_id, {})[name] = load(name, text)
                except ValueError:
                    log.warning("server %s: stored %s=%r cannot be read; the default holds", server_id, name, text)
        log.info("settings of %d server(s) read from %s", len(self._stored), self.database.where)

    def of(self, server_id: int | None) -> ServerSettings:
        """A server's settings; None (a user-installed call, a DM): the host's."""
        if server_id is None or server_id not in self._stored:
            return self.defaults
        found = self._servers.get(server_id)
        if found is None:
            found = self._servers[server_id] = ServerSettings.of(self.settings, self._stored[server_id])
        return found

    def stored(self, server_id: int) -> dict[str, Any]:
        """What a server changed: key -> value."""
        return dict(self._stored.get(server_id, {}))

    async def change(self, server_id: int, name: str, text: str, *, user_id: int, where: Where) -> Change:
        """Set a key from a command's text (`default`: back to the host's); raises SettingError for a bad key or
        value, NotSaved when the database fails (then nothing changed)."""
        name = check_key(name)
        value = None if text.strip().lower() == DEFAULT else parse_value(name, text, where)
        async with self._locks[server_id]:  # the database's order is memory's
            return await self._change(server_id, name, value, user_id)

    async def _change(self, server_id: int, name: str, value: Any, user_id: int) -> Change:
        kind = kind_of(name)
        old = getattr(self.of(server_id), name)
        try:
            await self.database.save(server_id, name, None if value is None else kind.dump(value), user_id)
        except Exception as exc:
            log.error(
                "server %s: could not save %s (%s): %s: %s",
                server_id,
                name,
                self.database.where,
                type(exc).__name__,
                exc,
            )
            raise NotSaved(str(exc)) from None
        stored = self._stored.setdefault(server_id, {})
        if value is None:
            stored.pop(name, None)
        else:
            stored[name] = value
        self._servers.pop(server_id, None)
        new = getattr(self.of(server_id), name)
        change = Change(name, kind.show(old), kind.show(new))
        log.info(
            "server %s: %s set by user %s: %s -> %s",
            server_id,
            name,
            self.describe_user(user_id),
            change.old,
            change.new,
        )
        return change

    async def forget_user(self, user_id: int) -> int:
        """A data deletion request: the user's id goes from the record of changes (the settings stay)."""
        return await self.database.forget_user(user_id)

    async def close(self) -> None:
        await self.database.close()


@asynccontextmanager
async def open_servers(settings: Settings) -> AsyncIterator[ServerSettingsStore]:
    """The servers' settings from BARD_DATABASE_URL, read and ready; closed when the block ends. Raises
    DatabaseError (naming the file or URL, and why) before anything is served."""
    database = await open_database(settings.database_url)
    store = ServerSettingsStore(settings, database)
    try:
        await store.start()
        yield store
    finally:
        await store.close()
