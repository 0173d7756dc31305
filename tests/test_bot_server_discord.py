"""End to end on the fake Discord: a server's settings changed from Discord (who may, the slash command, its
choices), and the bard used through a user's own install, outside any server that has it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from discord_helpers import ask, running, settings_for
from fake_discord import BOT_DM, PRIVATE_CHANNEL, Call, FakeDiscord

from bot import replies, server_commands

pytestmark = pytest.mark.asyncio(loop_scope="function")

PLAIN, CAST = 31, 32  # a member without Manage Server, and one with it
EPHEMERAL = 64


def option(name: str, value: str, **more: Any) -> dict[str, Any]:
    return {"name": name, "type": 3, "value": value} | more


async def answer_to(fake: FakeDiscord, token: str) -> Call:
    """The first answer to an interaction with content: its callback's, else a follow-up's."""

    def found() -> Call | None:
        for call in fake.interaction_calls(token):
            body = call.json or {}
            content = (body.get("data") or {}).get("content") if "/callback" in call.path else body.get("content")
            if content:
                return call
        return None

    return await fake.wait_for(found, timeout=30)


def content_of(call: Call) -> str:
    return call.json["data"]["content"] if "/callback" in call.path else call.json["content"]


async def test_only_members_who_manage_the_server_and_the_owners_change_its_settings(
    fake: FakeDiscord, tiny_model_dir: Path
) -> None:
    fake.plain_members |= {PLAIN, fake.OWNER_ID}
    async with running(fake, settings_for(fake, tiny_model_dir)) as bot:
        refused = await ask(fake, "!bard set length 50", user=PLAIN)
        assert refused.json["content"] == server_commands.NOT_MANAGER.text
        made = await ask(fake, "!bard set length 50", user=CAST)
        assert made.json["content"] == "⚙️ `length`: 120 → **50**"
        owners = await ask(fake, "!bard set buttons off", user=fake.OWNER_ID)  # no Manage Server, but an owner
        assert owners.json["content"] == "⚙️ `buttons`: on → **off**"
        bad = await ask(fake, "!bard set temperature hot", user=CAST)
        assert bad.json["content"].startswith("⚠️ `temperature` takes a number from 0 to 2, or `default`")
        shown = await ask(fake, "!bard settings", user=PLAIN)  # anyone may look
        assert "`length` **50** (set here)" in shown.json["content"]
        monologue = await ask(fake, "!bard -t 0 To be", user=PLAIN)
        assert "components" not in monologue.json or not monologue.json["components"]  # buttons off here
        servers = bot.bard_servers
        assert servers is not None and servers.of(fake.GUILD_ID).length == 50


async def test_the_servers_channels_hold_and_its_settings_are_managed_anywhere(
    fake: FakeDiscord, tiny_model_dir: Path
) -> None:
    async with running(fake, settings_for(fake, tiny_model_dir)):
        moved = await ask(fake, f"!bard settings channels <#{fake.OTHER_CHANNEL_ID}>", user=CAST)
        assert moved.json["content"] == f"⚙️ `channels`: all → **<#{fake.OTHER_CHANNEL_ID}>**"
        unknown = await ask(fake, "!bard set channels <#123>", user=CAST)
        assert "<#123> is not a channel of this server" in unknown.json["content"]
        ignored = await fake.send_message("!bard To be", author_id=CAST)
        there = await ask(fake, "!bard -t 0 To be", user=CAST, channel_id=fake.OTHER_CHANNEL_ID)
        assert there.json["content"].startswith("*The bard continues:*")
        back = await ask(fake, "!bard set channels all", user=CAST)  # from a channel the bard does not perform in
        assert back.json["content"].endswith("→ **all**")
        assert fake.reply_to(ignored) is None


async def test_the_slash_command_changes_a_setting_and_offers_the_values(
    fake: FakeDiscord, tiny_model_dir: Path
) -> None:
    fake.plain_members.add(PLAIN)
    async with running(fake, settings_for(fake, tiny_model_dir)):
        token = await fake.slash(
            [{"name": "settings", "type": 1, "options": [option("key", "temperature"), option("value", "0.5")]}],
            user_id=CAST,
        )
        assert content_of(await answer_to(fake, token)) == "⚙️ `temperature`: 0.8 → **0.5**"
        token = await fake.slash(
            [{"name": "settings", "type": 1, "options": [option("key", "verse"), option("value", "off")]}],
            user_id=PLAIN,
        )
        refused = await answer_to(fake, token)
        assert content_of(refused) == server_commands.NOT_MANAGER.text and refused.json["data"]["flags"] & EPHEMERAL
        typed = [option("key", "verse"), option("value", "o", focused=True)]
        token = await fake.autocomplete([{"name": "settings", "type": 1, "options": typed}], user_id=CAST)
        call = await fake.wait_for(lambda: next(iter(fake.interaction_calls(token)), None))
        assert [c["value"] for c in call.json["data"]["choices"]] == ["on", "off"]


async def test_the_registered_commands_can_be_installed_and_used_anywhere(
    fake: FakeDiscord, tiny_model_dir: Path
) -> None:
    async with running(fake, settings_for(fake, tiny_model_dir), sync=True):
        pass
    (put,) = [c for c in fake.calls if c.method == "PUT"]
    command, menu = put.json
    for registered in (command, menu):
        assert registered["integration_types"] == [0, 1]  # a server's install, and a user's
        assert registered["contexts"] == [0, 1, 2]  # servers, DMs with the bard, other DMs and group DMs
    (settings,) = [o for o in command["options"] if o["name"] == "settings"]
    key = settings["options"][0]
    assert key["name"] == "key" and [c["value"] for c in key["choices"]][:3] == ["model", "temperature", "length"]


@pytest.mark.parametrize("context", [BOT_DM, PRIVATE_CHANNEL])
async def test_a_user_installed_call_is_answered_through_its_interaction_with_the_defaults(
    fake: FakeDiscord, tiny_model_dir: Path, context: int
) -> None:
    async with running(fake, settings_for(fake, tiny_model_dir)) as bot:
        await ask(fake, "!bard set length 30", user=CAST)  # the guild's: not used outside it
        posts = len(fake.posts())
        seed = [option("seed", "-t 0 To be")]
        token = await fake.slash([{"name": "write", "type": 1, "options": seed}], user_id=CAST, context=context)
        followup = await answer_to(fake, token)
        assert followup.path.startswith(f"/webhooks/{fake.BOT_ID}/{token}")
        assert content_of(followup).startswith("*The bard continues:*\n>>> To be")
        assert len(fake.posts()) == posts  # nothing sent to a channel: the bard may not be in it
        assert bot.bard_servers is not None and bot.bard_servers.of(fake.GUILD_ID).length == 30

        message = int(followup.json.get("id") or 0) or max(fake.messages)
        buttons = fake.components_of(message)
        assert set(buttons) >= {"Continue", "Another"}  # the defaults: buttons on
        token = await fake.press(message, buttons["Another"]["custom_id"], user_id=CAST, context=context)
        another = await answer_to(fake, token)
        assert another.path.startswith(f"/webhooks/{fake.BOT_ID}/{token}")
        assert content_of(another).startswith("*The bard continues:*\n>>> To be")
        assert len(fake.posts()) == posts

        token = await fake.slash([{"name": "settings", "type": 1, "options": []}], user_id=CAST, context=context)
        assert content_of(await answer_to(fake, token)) == server_commands.NO_SERVER.text


async def test_a_user_install_ignores_the_hosts_channel_list(fake: FakeDiscord, tiny_model_dir: Path) -> None:
    settings = settings_for(fake, tiny_model_dir, allowed_channels=frozenset({fake.OTHER_CHANNEL_ID}))
    async with running(fake, settings):
        seed = [option("seed", "-t 0 To be")]
        token = await fake.slash([{"name": "write", "type": 1, "options": seed}], user_id=CAST, context=PRIVATE_CHANNEL)
        assert content_of(await answer_to(fake, token)) != replies.WRONG_CHANNEL.text
        token = await fake.slash([{"name": "write", "type": 1, "options": seed}], user_id=CAST)  # in the guild
        assert content_of(await answer_to(fake, token)) == replies.WRONG_CHANNEL.text
