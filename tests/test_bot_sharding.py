"""Sharding: BARD_SHARD_COUNT / BARD_SHARD_IDS reach discord.py, and the shards split the guilds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from discord_helpers import ask, settings_for, start
from fake_discord import FakeDiscord

from bot import health
from bot.app import BardBot, ShardedBardBot, create_bot
from bot.cog import transport_facts
from bot.settings import Settings

pytestmark = pytest.mark.asyncio(loop_scope="function")


def build(settings: Settings) -> BardBot | ShardedBardBot:
    bot = create_bot(settings, guild_ready_timeout=0.01)

    async def at_once(shard_id: int | None, *, initial: bool = False) -> None:
        """discord.py waits 5 s between two shards' IDENTIFYs, Discord's limit; the fake has none."""

    bot.before_identify_hook = at_once  # type: ignore[method-assign]
    return bot


@pytest.mark.parametrize(
    ("shards", "kind", "expected"),
    [
        ({}, BardBot, {"shard_id": None, "shard_count": None}),
        ({"shard_count": 3, "shard_ids": (2,)}, BardBot, {"shard_id": 2, "shard_count": 3}),
        ({"shard_count": 1}, BardBot, {"shard_id": 0, "shard_count": 1}),
        ({"shard_count": 2}, ShardedBardBot, {"shard_ids": [0, 1], "shard_count": 2}),
        ({"shard_count": 8, "shard_ids": (5, 1)}, ShardedBardBot, {"shard_ids": [1, 5], "shard_count": 8}),
    ],
)
async def test_the_settings_choose_the_bot_and_its_shards(
    tiny_model_dir: Path, shards: dict[str, Any], kind: type, expected: dict[str, Any]
) -> None:
    bot = build(Settings(model_dir=tiny_model_dir, **shards))  # not entered: no service opened, nothing to close
    assert type(bot) is kind and bot.bard_service is None
    assert {k: getattr(bot, k) for k in expected} == expected


async def test_one_shard_of_several_identifies_as_that_shard(fake: FakeDiscord, tiny_model_dir: Path) -> None:
    bot = build(settings_for(fake, tiny_model_dir, shard_count=2, shard_ids=(1,)))
    async with bot:
        task = await start(bot)
        facts = transport_facts(bot)
        await bot.close()
        await task
    assert [p["shard"] for p in fake.identify_payloads] == [[1, 2]]
    assert facts["guilds"] == "0" and facts["shards"] == "1 of 2"  # the fake's guild is shard 0's


async def test_several_shards_in_one_process_share_the_model_and_split_the_guilds(
    fake: FakeDiscord, tiny_model_dir: Path
) -> None:
    bot = build(settings_for(fake, tiny_model_dir, shard_count=2))
    async with bot:
        task = await start(bot)
        try:
            assert sorted(p["shard"] for p in fake.identify_payloads) == [[0, 2], [1, 2]]
            reply = await ask(fake, "!bard -n 20 To be")
            assert reply.json["content"].startswith("*The bard continues:*")
            stats = await ask(fake, "!bard stats", user=fake.OWNER_ID)
            gateway = health.HealthCheck(bot, bot.bard_service, deadline=5).gateway()
        finally:
            await bot.close()
            await task
    assert len(fake.posts()) == 2  # one reply each: only the guild's shard got the messages
    assert "guilds 1 · shards 0,1 of 2" in stats.json["content"]
    assert gateway == health.Check(True, "ready, 1 guild(s)")


async def test_a_press_reaches_the_cog_of_a_bot_with_several_shards(fake: FakeDiscord, tiny_model_dir: Path) -> None:
    # An AutoShardedBot is no commands.Bot (both are BotBase): the buttons once looked for the cog only on the latter.
    bot = build(settings_for(fake, tiny_model_dir, shard_count=2))
    async with bot:
        task = await start(bot)
        try:
            reply = await ask(fake, "!bard -n 20 To be")
            first = next(i for i, m in fake.messages.items() if m["content"] == reply.json["content"])
            before = len(fake.posts())
            await fake.press(first, fake.components_of(first)["Continue"]["custom_id"], user_id=4242)
            goes_on = await fake.wait_for(lambda: fake.posts()[before] if len(fake.posts()) > before else None)
        finally:
            await bot.close()
            await task
    assert goes_on.json["content"].startswith("*The bard goes on:*")
    assert goes_on.json["message_reference"]["message_id"] == first


async def test_what_the_bot_has_loaded_is_kept_out_of_the_collectors_way(tiny_model_dir: Path, tmp_path: Path) -> None:
    """Full garbage collections walk every tracked object; once the model, its records and the settings are loaded
    they are frozen (gc.freeze), which took the worst loop lag of 1,000 settings changes from 50-60 ms to 3-5 ms."""
    import gc

    bot = build(Settings(model_dir=tiny_model_dir, database_url=f"sqlite:///{tmp_path / 'settings.sqlite3'}"))
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    async with bot:
        assert bot.bard_service is not None and gc.get_freeze_count() > 1000
        await bot.close()
