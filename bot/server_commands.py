"""The settings commands, the same in Discord and at the console: `bard settings` shows a server's settings,
`bard set KEY VALUE` (or `bard settings KEY VALUE`) changes one, `bard set KEY default` gives it back to the host.
Who may change them is the transport's to say (Discord: Manage Server, or the bard's owners)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.replies import Reply
from bot.request import Caller
from bot.server_settings import DEFAULT, KEYS, NotSaved, SettingError, Where, about, check_key, show

if TYPE_CHECKING:
    from bot.bard import Bard

NOT_MANAGER = Reply(
    "🔒 Only members who may manage this server (and the bard's owners) may change its settings.", ok=False
)
NO_SERVER = Reply("🏠 Settings belong to a server the bard is a member of; here the defaults hold.", ok=False)


def bad_setting(problem: str, prefix: str) -> Reply:
    return Reply(f"⚠️ {problem}. See `{prefix.replace('`', chr(39))}bard settings`.", ok=False)


NOT_SAVED = Reply("🥀 The setting could not be saved, so nothing changed; try again later.", ok=False)


async def run(bard: Bard, caller: Caller, word: str, rest: str, *, may_change: bool, where: Where) -> Reply:
    """`settings [KEY [VALUE]]` or `set KEY VALUE`, the text after the word in `rest`."""
    name, _, value = rest.strip().partition(" ")
    if word == "settings" and not name:
        return listing(bard, caller)
    if not value.strip():
        problem = f"`{word} KEY VALUE` needs a value (keys: {', '.join(KEYS)}; `{DEFAULT}` resets one)"
        try:
            check_key(name) if name else None
        except SettingError as exc:
            problem = str(exc)
        return bad_setting(problem, caller.prefix)
    return await change(bard, caller, name, value, may_change=may_change, where=where)


def listing(bard: Bard, caller: Caller) -> Reply:
    """The server's settings, each with what it does; those the server set are marked."""
    if bard.servers is None or caller.server_id is None:
        return NO_SERVER
    server, stored = bard.server(caller), bard.servers.stored(caller.server_id)
    p = caller.prefix.replace("`", "'")
    lines = [
        f"**The bard's settings here** (`{p}bard set KEY VALUE` changes one, `{p}bard set KEY {DEFAULT}` resets it)"
    ]
    for name in KEYS:
        value = show(name, getattr(server, name))
        mark = " (set here)" if name in stored else ""
        lines.append(f"`{name}` **{value}**{mark} · {about(name)}")
    return Reply("\n".join(lines))


async def change(bard: Bard, caller: Caller, name: str, value: str, *, may_change: bool, where: Where) -> Reply:
    """One key set (or reset) for the caller's server, if the caller may."""
    if bard.servers is None or caller.server_id is None:
        return NO_SERVER
    if not may_change:
        return NOT_MANAGER
    try:
        done = await bard.servers.change(caller.server_id, name, value, user_id=caller.author_id, where=where)
    except SettingError as exc:
        return bad_setting(str(exc), caller.prefix)
    except NotSaved:
        return NOT_SAVED
    return Reply(f"⚙️ `{done.key}`: {done.old} → **{done.new}**")
