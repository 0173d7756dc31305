"""A fake Discord, REST and gateway, on 127.0.0.1: enough of the API for a real discord.py bot to log in,
connect, receive messages and slash commands, and answer them. Every REST call is recorded.

discord.py decodes a response as JSON only when its Content-Type is exactly `application/json`
(no charset), so responses are built by hand rather than with aiohttp's json_response.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import discord
import pytest_asyncio
from aiohttp import WSMsgType, web

T = TypeVar("T")
TOKEN = "MTIz.fake-token.for-tests-only"  # what the tests' bots log in with
JSON = "application/json"
ALL_PERMISSIONS = str((1 << 50) - 1)
# @everyone's: view channels, send messages, read their history, use application commands; not Manage Server.
PLAIN_PERMISSIONS = str(1 << 10 | 1 << 11 | 1 << 16 | 1 << 31)
GUILD, BOT_DM, PRIVATE_CHANNEL = range(3)  # an interaction's context


@dataclass
class Call:
    """One REST request the bot made."""

    method: str
    path: str
    json: Any
    authorization: str | None
    at: float  # event-loop time of arrival

    def matches(self, method: str, pattern: str) -> re.Match[str] | None:
        return re.fullmatch(pattern, self.path) if re.fullmatch(method, self.method) else None


def _now() -> str:
    return datetime.now(UTC).isoformat()


DISCORD_EPOCH_MS = 1_420_070_400_000


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(data).encode(), status=status, headers={"Content-Type": JSON})


class FakeDiscord:
    """Start with `await fake.start()`; point the bot at fake.api_base_url and fake.gateway_url."""

    BOT_ID = 900_001
    OWNER_ID = 900_002
    GUILD_ID = 900_010
    CHANNEL_ID = 900_020
    OTHER_CHANNEL_ID = 900_021
    CAST_ROLE_ID = 900_030  # every member has it (all permissions) except plain_members, who have @everyone's only
    GROUP_DM_ID = 900_040  # a group DM where a user installed the bard (the bard is not in it)

    def __init__(self, token: str = "fake-token") -> None:
        self.token = token
        self.calls: list[Call] = []
        self.identify_payloads: list[dict[str, Any]] = []
        self.identified = asyncio.Event()
        self.fail_next_post: int | None = None  # an HTTP status the next message POST gets, once
        self.messages: dict[int, dict[str, Any]] = {}  # every message posted, by users and the bot: id -> payload
        self.plain_members: set[int] = set()  # users without the cast role: no Manage Server
        self._sockets: list[web.WebSocketResponse] = []
        self._shard_of: dict[web.WebSocketResponse, tuple[int, int]] = {}  # socket -> (shard id, shard count)
        self._changed = asyncio.Condition()
        self._ids = itertools.count(1)
        self._seq = 0
        self._runner: web.AppRunner | None = None
        self.api_base_url = self.gateway_url = ""

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.api_base_url = f"http://{host}:{port}/api/v10"
        self.gateway_url = f"ws://{host}:{port}/gateway"

    async def close(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # ------------------------------------------------------------------ payloads

    def _new_id(self) -> int:
        """A snowflake for now: discord.py reads times from ids (an old interaction counts as expired)."""
        ms = int(datetime.now(UTC).timestamp() * 1000) - DISCORD_EPOCH_MS
        return (ms << 22) | (next(self._ids) & 0x3FFFFF)

    @property
    def bot_user(self) -> dict[str, Any]:
        return self.user(self.BOT_ID, "bard", bot=True)

    @staticmethod
    def user(user_id: int, name: str | None = None, *, bot: bool = False) -> dict[str, Any]:
        return {
            "id": str(user_id),
            "username": name or f"user{user_id}",
            "global_name": None,
            "discriminator": "0",
            "avatar": None,
            "bot": bot,
        }

    def guild(self) -> dict[str, Any]:
        channels = [
            {"id": str(cid), "type": 0, "name": name, "position": i, "permission_overwrites": [], "nsfw": False}
            for i, (cid, name) in enumerate([(self.CHANNEL_ID, "globe"), (self.OTHER_CHANNEL_ID, "tavern")])
        ]
        return {
            "id": str(self.GUILD_ID),
            "name": "The Globe",
            "icon": None,
            "owner_id": str(self.OWNER_ID),
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [
                {
                    "id": str(role_id),
                    "name": name,
                    "permissions": permissions,
                    "position": position,
                    "color": 0,
                    "hoist": False,
                    "managed": False,
                    "mentionable": False,
                    "flags": 0,
                }
                for position, (role_id, name, permissions) in enumerate(
                    [(self.GUILD_ID, "@everyone", PLAIN_PERMISSIONS), (self.CAST_ROLE_ID, "cast", ALL_PERMISSIONS)]
                )
            ],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "system_channel_flags": 0,
            "premium_tier": 0,
            "preferred_locale": "en-US",
            "nsfw_level": 0,
            "large": False,
            "unavailable": False,
            "joined_at": _now(),
            "member_count": 2,
            "members": [
                {"user": self.bot_user, "roles": self.roles_of(self.BOT_ID), "joined_at": _now()}
                | {"deaf": False, "mute": False, "flags": 0}
            ],
            "channels": channels,
            "threads": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
            "voice_states": [],
            "presences": [],
        }

    def message(self, content: str, *, author_id: int, channel_id: int | None = None) -> dict[str, Any]:
        return {
            "id": str(self._new_id()),
            "channel_id": str(channel_id or self.CHANNEL_ID),
            "guild_id": str(self.GUILD_ID),
            "author": self.user(author_id),
            "member": {
                "roles": self.roles_of(author_id),
                "joined_at": _now(),
                "deaf": False,
                "mute": False,
                "flags": 0,
            },
            "content": content,
            "timestamp": _now(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [self.bot_user] if f"<@{self.BOT_ID}>" in content else [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "pinned": False,
            "type": 0,
            "flags": 0,
        }

    def roles_of(self, user_id: int) -> list[str]:
        return [] if user_id in self.plain_members else [str(self.CAST_ROLE_ID)]

    # ------------------------------------------------------------------ driving the bot

    def holds_the_guild(self, ws: web.WebSocketResponse) -> bool:
        """Whether this connection's shard is the guild's: (guild_id >> 22) % shard_count, as Discord routes."""
        shard_id, count = self._shard_of.get(ws, (0, 1))
        return (self.GUILD_ID >> 22) % count == shard_id

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send a gateway event (all of them are the guild's) to every connection of the guild's shard."""
        self._seq += 1
        for ws in list(self._sockets):
            if self.holds_the_guild(ws):
                await ws.send_json({"op": 0, "t": event, "s": self._seq, "d": data})

    async def send_message(self, content: str, *, author_id: int, channel_id: int | None = None) -> int:
        """A user posts `content`; returns the message id."""
        payload = self.message(content, author_id=author_id, channel_id=channel_id)
        self.messages[int(payload["id"])] = payload
        await self.dispatch("MESSAGE_CREATE", payload)
        return int(payload["id"])

    async def slash(self, options: list[dict[str, Any]], *, user_id: int, context: int = GUILD) -> str:
        """A user runs /bard <options> (in the guild, or with context BOT_DM or PRIVATE_CHANNEL through the user's own
        install of the bard); returns the interaction token."""
        data = {"id": "700001", "name": "bard", "type": 1, "options": options}
        return await self._interaction(2, data, user_id, context=context)

    async def autocomplete(self, options: list[dict[str, Any]], *, user_id: int) -> str:
        """A user types in an option of /bard (the one marked "focused": True); returns the interaction token."""
        return await self._interaction(4, {"id": "700001", "name": "bard", "type": 1, "options": options}, user_id)

    async def press(
        self,
        message_id: int,
        custom_id: str,
        *,
        user_id: int,
        values: list[str] | None = None,
        message: dict[str, Any] | None = None,
        channel_id: int | None = None,
        context: int = GUILD,
    ) -> str:
        """A user presses a component (a select when values are given) on a message (the stored one, unless a
        payload is given); returns the interaction token."""
        payload = message if message is not None else self.messages[message_id]
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": 2 if values is None else 3}
        if values is not None:
            data["values"] = values
        return await self._interaction(3, data, user_id, message=payload, channel_id=channel_id, context=context)

    async def message_command(self, name: str, target_id: int, *, user_id: int) -> str:
        """A user runs a message context-menu command on a stored message; returns the interaction token."""
        target = self.messages[target_id]
        data = {
            "id": "700002",
            "name": name,
            "type": 3,
            "target_id": str(target_id),
            "resolved": {"messages": {str(target_id): target}},
        }
        return await self._interaction(2, data, user_id)

    def components_of(self, message_id: int) -> dict[str, dict[str, Any]]:
        """A stored message's components by label (buttons) or placeholder (selects)."""
        found = {}
        for row in self.messages[message_id].get("components") or []:
            for item in row["components"]:
                found[item.get("label") or item.get("placeholder")] = item
        return found

    async def _interaction(
        self,
        kind: int,
        data: dict[str, Any],
        user_id: int,
        *,
        message: dict[str, Any] | None = None,
        channel_id: int | None = None,
        context: int = GUILD,
    ) -> str:
        interaction_id = self._new_id()
        token = f"interaction-{interaction_id}"
        extra = {"message": message} if message is not None else {}
        payload = {
            "id": str(interaction_id),
            "application_id": str(self.BOT_ID),
            "type": kind,
            "token": token,
            "version": 1,
            "locale": "en-US",
            "entitlements": [],
            "attachment_size_limit": 10 * 1024 * 1024,
            "context": context,
            "data": data,
        }
        where = self._in_guild(user_id, channel_id) if context == GUILD else self._user_install(user_id, context)
        await self.dispatch("INTERACTION_CREATE", payload | where | extra)
        return token

    def _in_guild(self, user_id: int, channel_id: int | None) -> dict[str, Any]:
        """An interaction's fields in the guild, which installed the bard."""
        permissions = PLAIN_PERMISSIONS if user_id in self.plain_members else ALL_PERMISSIONS
        member = {"user": self.user(user_id), "roles": self.roles_of(user_id), "joined_at": _now()}
        channel_id = channel_id or self.CHANNEL_ID
        return {
            "guild_id": str(self.GUILD_ID),
            "channel_id": str(channel_id),
            "channel": {"id": str(channel_id), "type": 0, "name": "globe", "guild_id": str(self.GUILD_ID)},
            "member": member | {"permissions": permissions, "deaf": False, "mute": False, "flags": 0},
            "app_permissions": ALL_PERMISSIONS,
            "guild_locale": "en-US",
            "authorizing_integration_owners": {"0": str(self.GUILD_ID)},
        }

    def _user_install(self, user_id: int, context: int) -> dict[str, Any]:
        """An interaction's fields outside any guild, through the user's own install: a DM with the bard (BOT_DM) or a
        group DM the bard is not in (PRIVATE_CHANNEL)."""
        if context == BOT_DM:
            channel = {"id": str(self.GROUP_DM_ID + 1), "type": 1, "recipients": [self.user(user_id)]}
        else:
            channel = {"id": str(self.GROUP_DM_ID), "type": 3, "name": "friends", "recipients": [self.user(user_id)]}
        return {
            "channel_id": channel["id"],
            "channel": channel,
            "user": self.user(user_id),
            "app_permissions": PLAIN_PERMISSIONS,
            "authorizing_integration_owners": {"1": str(user_id)},
        }

    def interaction_calls(self, token: str) -> list[Call]:
        """The bot's answers to one interaction: its callback, then follow-ups (webhook posts and edits)."""
        return [c for c in self.calls if token in c.path]

    # ------------------------------------------------------------------ waiting and looking

    async def wait_for(self, probe: Callable[[], T | None], timeout: float = 10.0) -> T:
        """Wait until probe() returns something other than None (checked after every REST call)."""
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: probe() is not None), timeout)
        result = probe()
        assert result is not None
        return result

    def posts(self) -> list[Call]:
        """Every message the bot sent to a channel."""
        return [c for c in self.calls if c.matches("POST", r"/channels/\d+/messages")]

    def replies_to(self, message_id: int) -> list[Call]:
        """Every message POST that replies to message_id, failed ones included."""
        return [
            call
            for call in self.posts()
            if str(((call.json or {}).get("message_reference") or {}).get("message_id")) == str(message_id)
        ]

    def reply_to(self, message_id: int) -> Call | None:
        """The first reply to message_id, if any."""
        found = self.replies_to(message_id)
        return found[0] if found else None

    def typing_calls(self) -> list[Call]:
        return [c for c in self.calls if c.matches("POST", r"/channels/\d+/typing")]

    # ------------------------------------------------------------------ REST

    async def _rest(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["tail"]
        body = await request.json() if request.can_read_body and request.content_type == JSON else None
        call = Call(request.method, path, body, request.headers.get("Authorization"), asyncio.get_running_loop().time())
        try:
            return self._answer(call)
        finally:
            self.calls.append(call)
            async with self._changed:
                self._changed.notify_all()

    def _answer(self, call: Call) -> web.Response:
        # Interaction callbacks and followups are authorised by the interaction token in the path instead.
        token_in_path = call.path.startswith(("/interactions/", "/webhooks/"))
        if call.authorization != f"Bot {self.token}" and not token_in_path:
            return _json({"message": "401: Unauthorized", "code": 0}, 401)
        if call.matches("GET", "/users/@me"):
            return _json(self.bot_user)
        if call.matches("GET", "/oauth2/applications/@me"):
            return _json(
                {
                    "id": str(self.BOT_ID),
                    "name": "bard",
                    "icon": None,
                    "description": "",
                    "bot_public": True,
                    "bot_require_code_grant": False,
                    "owner": self.user(self.OWNER_ID, "owner"),
                    "team": None,
                    "verify_key": "0" * 64,
                    "flags": 0,
                }
            )
        if call.matches("GET", "/gateway(/bot)?"):
            limit = {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}
            return _json({"url": self.gateway_url, "shards": 1, "session_start_limit": limit})
        if call.matches("POST", r"/channels/\d+/typing"):
            return web.Response(status=204)
        if m := call.matches("POST", r"/channels/(\d+)/messages"):
            if self.fail_next_post is not None:
                status, self.fail_next_post = self.fail_next_post, None
                return _json({"message": "fake failure", "code": 0}, status)
            return _json(self._sent_message(call.json or {}, int(m.group(1))))
        if m := call.matches("GET", r"/channels/(\d+)/messages/(\d+)"):
            found = self.messages.get(int(m.group(2)))
            if found is None or found["channel_id"] != m.group(1):
                return _json({"message": "Unknown Message", "code": 10008}, 404)
            return _json(found)
        if call.matches("PUT", r"/applications/\d+/commands"):
            made = {"id": str(self._new_id()), "application_id": str(self.BOT_ID), "version": "1"}
            return _json([{"description": ""} | c | made for c in call.json])
        if call.matches("POST", r"/interactions/\d+/[\w-]+/callback"):
            kind = (call.json or {}).get("type")
            resource: dict[str, Any] = {"type": kind}
            if kind == 4:
                resource["message"] = self._sent_message(call.json["data"], self.CHANNEL_ID)
            return _json(
                {"interaction": {"id": "1", "type": 2, "response_message_loading": kind == 5}, "resource": resource}
            )
        if call.matches("(POST|PATCH)", r"/webhooks/\d+/[\w-]+(/messages/@original)?"):
            return _json(self._sent_message(call.json or {}, self.CHANNEL_ID))
        return _json({"message": "404: Not Found", "code": 0}, 404)

    def _sent_message(self, body: dict[str, Any], channel_id: int) -> dict[str, Any]:
        """The message the bot's POST creates; kept, so that it can be fetched (and pressed) later."""
        reference = body.get("message_reference")
        message = {
            "id": str(self._new_id()),
            "channel_id": str(channel_id),
            "guild_id": str(self.GUILD_ID),
            "author": self.bot_user,
            "content": body.get("content") or "",
            "timestamp": _now(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "pinned": False,
            "type": 19 if reference else 0,
            "flags": body.get("flags", 0),
            "components": body.get("components") or [],
        }
        if reference:
            message["message_reference"] = {"channel_id": str(channel_id)} | {
                k: str(v) for k, v in reference.items() if k in ("message_id", "guild_id")
            }
        self.messages[int(message["id"])] = message
        return message

    # ------------------------------------------------------------------ gateway

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        try:
            await ws.send_json({"op": 10, "d": {"heartbeat_interval": 45_000}})
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue
                frame = json.loads(msg.data)
                if frame["op"] == 1:  # heartbeat
                    await ws.send_json({"op": 11})
                elif frame["op"] == 2:  # identify
                    self.identify_payloads.append(frame["d"])
                    shard = frame["d"].get("shard")
                    if shard is not None:
                        self._shard_of[ws] = (shard[0], shard[1])
                    await self._ready(ws, shard)
        finally:
            self._sockets.remove(ws)
            self._shard_of.pop(ws, None)
        return ws

    async def _ready(self, ws: web.WebSocketResponse, shard: list[int] | None) -> None:
        ours = self.holds_the_guild(ws)
        ready: dict[str, Any] = {
            "v": 10,
            "user": self.bot_user,
            "guilds": [{"id": str(self.GUILD_ID), "unavailable": True}] if ours else [],
            "session_id": "fake-session",
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.BOT_ID), "flags": 0},
        }
        if shard is not None:
            ready["shard"] = shard
        self._seq += 1
        await ws.send_json({"op": 0, "t": "READY", "s": self._seq, "d": ready})
        if ours:
            self._seq += 1
            await ws.send_json({"op": 0, "t": "GUILD_CREATE", "s": self._seq, "d": self.guild()})
        self.identified.set()


@pytest_asyncio.fixture(loop_scope="function")
async def fake() -> AsyncIterator[FakeDiscord]:
    """A running FakeDiscord; discord.py's REST base and gateway are put back afterwards."""
    saved = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    server = FakeDiscord(TOKEN)
    await server.start()
    yield server
    await server.close()
    discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved
