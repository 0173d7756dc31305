"""End to end: the real bot (discord.py) against a fake Discord REST + gateway server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import shutil
import statistics
from pathlib import Path
from typing import Any

import discord
import pytest
from discord.ext import commands
from discord_helpers import Gate, LogEvent, LoopLag, ask, assert_safe, running, settings_for, start
from fake_discord import TOKEN, FakeDiscord

from bot import replies
from bot.app import point_at
from bot.bard import Bard
from bot.console import run_console
from bot.request import Caller
from bot.service import open_service

pytestmark = pytest.mark.asyncio(loop_scope="function")

MESSAGE_CONTENT_INTENT = 1 << 15


# --------------------------------------------------------------------------- commands


async def test_a_command_gets_typing_then_a_safe_reply(
    fake: FakeDiscord, tiny_model_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with running(fake, settings_for(fake, tiny_model_dir)):
        message_id = await fake.send_message("!bard -n 1500 To be @everyone <@123> **loud**", author_id=4242)
        reply = await fake.wait_for(lambda: fake.reply_to(message_id))
    assert_safe(reply)
    assert reply.authorization == f"Bot {TOKEN}"
    content = reply.json["content"]
    # The model's alphabet has no @, < or *: the seed is cleaned, and the reply says so (escaped).
    assert content.startswith("*The bard continues:*\n-# seed adjusted: dropped '@\u200b' (x2); dropped '\\<'")
    assert content.split("\n>>> ", 1)[1].startswith("To be everyone  loud")
    assert "@everyone" not in content and not re.search(r"(?<!\\)[<*\[]", content.split("\n", 1)[1])
    assert reply.json["message_reference"]["message_id"] == message_id
    assert reply.json["message_reference"]["fail_if_not_exists"] is False
    assert reply.json["flags"] & 4  # embeds suppressed
    typing = fake.typing_calls()
    assert len(typing) == 1 and typing[0].at <= reply.at and typing[0].path == f"/channels/{fake.CHANNEL_ID}/typing"
    assert fake.identify_payloads[0]["intents"] & MESSAGE_CONTENT_INTENT
    assert TOKEN not in caplog.text  # DEBUG logs of the whole exchange included


async def test_a_mention_works_as_a_prefix_even_without_the_message_content_intent(
    fake: FakeDiscord, tiny_model_dir: Path
) -> None:
    async with running(fake, settings_for(fake, tiny_model_dir, message_content_intent=False)):
        reply = await ask(fake, f"<@{fake.BOT_ID}> bard info")
    assert_safe(reply)
    assert "**tiny** · model card" in reply.json["content"] and "4.100" in reply.json["content"]
    assert not fake.identify_payloads[0]["intents"] & MESSAGE_CONTENT_INTENT


async def test_help_info_and_a_bare_command(fake: FakeDiscord, tiny_model_dir: Path) -> None:
    settings = settings_for(fake, tiny_model_dir, prefix="?", temperature=0)  # greedy: the same text every time
    async with running(fake, settings) as bot:
        help_reply = await ask(fake, "?bard help")
        info_reply = await ask(fake, "?BARD INFO")
        opening = await ask(fake, "?bard")
        expected = await Bard(settings, bot.bard_service).write(Caller(1, "?"), "")
        ignored = await fake.send_message("!bard To be", author_id=1)  # another bot's prefix
        unknown = await fake.send_message("?dance", author_id=1)  # not our command
        last = await ask(fake, "?bard -n 10 end")
    assert help_reply.json["content"] == replies.help_text("?", temperature=0, length=120)
    assert "Corpus: test script" in info_reply.json["content"]
    assert opening.json["content"] == expected.text and expected.text.startswith("*The bard begins:*\n>>> ")
    assert fake.reply_to(ignored) is None and fake.reply_to(unknown) is None
    assert_safe(last)


async def test_refusals_get_short_friendly_replies(fake: FakeDiscord, tiny_model_dir: Path) -> None:
    async with running(fake, settings_for(fake, tiny_model_dir, cooldown=60)):
        bad = await ask(fake, "!bard -t 9 To be", user=1)
        first = await ask(fake, "!bard -t 0 -n 20 To be", user=1)  # greedy: no speaker line can open the text
        again = await ask(fake, "!bard -t 0 -n 20 To be", user=1)
        owner = await ask(fake, "!bard -t 0 -n 20 To be", user=fake.OWNER_ID)
        owner_again = await ask(fake, "!bard -t 0 -n 20 To be", user=fake.OWNER_ID)
    assert bad.json["content"] == replies.bad_options("option “-t” must be from 0 to 2, not “9”", "!").text
    assert again.json["content"] == replies.cooldown(60).text  # asked at once: the whole minute is left
    for monologue in (first, owner, owner_again):  # owners are not held to the cooldown
        assert monologue.json["content"].startswith("*The bard continues:*\n>>> To be")
    for call in (bad, again):
        assert_safe(call)
        assert "\n" not in call.json["content"]


async def test_past_the_queue_bound_the_user_is_told_at_once(
    fake: FakeDiscord, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running(fake, settings_for(fake, tiny_model_dir, queue_bound=1)) as bot:
        gate = Gate(bot.bard_service, monkeypatch)
        first = await fake.send_message("!bard To be", author_id=1)
        await gate.wait_entered()
        busy = await ask(fake, "!bard Or not", user=2)  # answered while the first is still generating
        assert busy.json["content"] == replies.BUSY.text and fake.reply_to(first) is None
        gate.release.set()
        done = await fake.wait_for(lambda: fake.reply_to(first))
    assert done.json["content"].startswith("*The bard continues:*")


async def test_a_timeout_gets_a_friendly_reply(
    fake: FakeDiscord, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running(fake, settings_for(fake, tiny_model_dir, timeout=0.2)) as bot:
        gate = Gate(bot.bard_service, monkeypatch)
        reply = await ask(fake, "!bard To be")
        gate.release.set()
    assert reply.json["content"] == replies.timed_out(0.2).text


async def test_a_generation_error_gets_the_friendly_reply_and_the_next_command_works(
    fake: FakeDiscord, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(fake, settings_for(fake, tiny_model_dir)) as bot:
        original = bot.bard_service.engine.generate_batch
        failures = [RuntimeError("the model fell over")]

        def flaky(requests: Any, **kwargs: Any) -> Any:
            if failures:
                raise failures.pop()
            return original(requests, **kwargs)

        monkeypatch.setattr(bot.bard_service.engine, "generate_batch", flaky)
        failed = await ask(fake, "!bard To be", user=1)
        worked = await ask(fake, "!bard -n 30 To be", user=1)
    assert failed.json["content"] == replies.FAILED.text
    assert_safe(failed)
    assert worked.json["content"].startswith("*The bard continues:*\n>>> To be")
    logged = [r for r in caplog.records if r.exc_info and "the model fell over" in str(r.exc_info[1])]
    assert logged, "the exception was not logged with its traceback"


async def test_a_failing_send_is_logged_and_the_bot_keeps_serving(
    fake: FakeDiscord, tiny_model_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(fake, settings_for(fake, tiny_model_dir)):
        fake.fail_next_post = 403  # e.g. a permission missing; discord.py retries 5xx itself
        first_id = await fake.send_message("!bard -n 20 To be", author_id=1)
        both = await fake.wait_for(lambda: fake.replies_to(first_id) if len(fake.replies_to(first_id)) == 2 else None)
        monologue, apology = both
        second = await ask(fake, "!bard -n 20 To be")
    assert monologue.json["content"].startswith("*The bard continues:*")  # refused by the fake
    assert apology.json["content"] == replies.FAILED.text
    assert second.json["content"].startswith("*The bard continues:*")
    assert any(r.name == "bot.cog" and r.exc_info for r in caplog.records)


async def test_channels_outside_the_allowed_ones_are_ignored(fake: FakeDiscord, tiny_model_dir: Path) -> None:
    settings = settings_for(fake, tiny_model_dir, allowed_channels=frozenset({fake.CHANNEL_ID}))
    async with running(fake, settings):
        elsewhere = await fake.send_message("!bard info", author_id=1, channel_id=fake.OTHER_CHANNEL_ID)
        here = await ask(fake, "!bard info", user=1)
    assert "model card" in here.json["content"]
    assert fake.reply_to(elsewhere) is None


def copy_model(source: Path, target: Path, name: str) -> Path:
    shutil.copytree(source, target)
    manifest = json.loads((target / "manifest.json").read_text())
    (target / "manifest.json").write_text(json.dumps(manifest | {"name": name}))
    return target


async def test_reload_is_for_owners_and_swaps_the_model(
    fake: FakeDiscord, tiny_model_dir: Path, tmp_path: Path
) -> None:
    live = copy_model(tiny_model_dir, tmp_path / "live", "first")
    async with running(fake, settings_for(fake, live)) as bot:
        refused = await ask(fake, "!bard reload", user=1)
        shutil.rmtree(live)
        copy_model(tiny_model_dir, live, "second")
        done = await ask(fake, "!bard reload", user=fake.OWNER_ID)
        (live / "vocab.json").write_text("{}")  # a broken export
        kept = await ask(fake, "!bard reload", user=fake.OWNER_ID)
        assert bot.bard_service.model.name == "second"
        info = await ask(fake, "!bard info")
    assert refused.json["content"] == replies.NOT_OWNER.text
    assert done.json["content"] == replies.reloaded("second", 4.1).text
    assert kept.json["content"].startswith("⚠️ The new model was refused; the old one stays.")
    assert "**second**" in info.json["content"]


# --------------------------------------------------------------------------- load and latency


async def test_twenty_concurrent_commands_are_all_answered_and_the_loop_never_lags(
    fake: FakeDiscord, tiny_model_dir: Path, record_property: Any
) -> None:
    loop = asyncio.get_running_loop()
    async with running(fake, settings_for(fake, tiny_model_dir, length=400)), LoopLag() as lag:
        sent = {}
        for user in range(20):
            message_id = await fake.send_message("!bard To be", author_id=10_000 + user)
            sent[message_id] = loop.time()
        answered = {m: await fake.wait_for(lambda m=m: fake.reply_to(m), timeout=60) for m in sent}
    worst_lag = lag.worst
    latencies = sorted(answered[m].at - sent[m] for m in sent)
    p50, p95 = statistics.median(latencies), statistics.quantiles(latencies, n=20)[18]
    record_property("loop_lag_max_ms", round(worst_lag * 1000, 1))
    record_property("reply_latency_p50_ms", round(p50 * 1000, 1))
    record_property("reply_latency_p95_ms", round(p95 * 1000, 1))
    ms = {"lag": worst_lag * 1000, "p50": p50 * 1000, "p95": p95 * 1000}
    print("\n20 concurrent: max loop lag {lag:.1f} ms, reply p50 {p50:.0f} ms, p95 {p95:.0f} ms".format(**ms))
    assert worst_lag < 0.100
    for call in answered.values():
        assert_safe(call)
        assert call.json["content"].startswith("*The bard continues:*\n>>> To be")
    assert len(fake.typing_calls()) == 20


# --------------------------------------------------------------------------- slash commands


async def test_the_slash_command_defers_then_follows_up_safely(fake: FakeDiscord, tiny_model_dir: Path) -> None:
    async with running(fake, settings_for(fake, tiny_model_dir)):
        seed = [{"name": "seed", "type": 3, "value": "-n 40 To be @everyone"}]
        token = await fake.slash([{"name": "write", "type": 1, "options": seed}], user_id=7)
        followup = await fake.wait_for(
            lambda: next((c for c in fake.calls if c.matches("POST", rf"/webhooks/{fake.BOT_ID}/{token}")), None)
        )
        info_token = await fake.slash([{"name": "info", "type": 1, "options": []}], user_id=7)
        info = await fake.wait_for(lambda: next((c for c in fake.calls if info_token in c.path), None))
        bad_seed = [seed[0] | {"value": "-n 0"}]
        bad_token = await fake.slash([{"name": "write", "type": 1, "options": bad_seed}], user_id=7)
        bad = await fake.wait_for(lambda: next((c for c in fake.calls if bad_token in c.path), None))
    callbacks = [c for c in fake.calls if c.path == f"/interactions/{token.split('-')[1]}/{token}/callback"]
    assert [c.json["type"] for c in callbacks] == [5]  # deferred: "thinking" while generating
    assert_safe(followup)
    assert followup.json["content"].split("\n>>> ", 1)[1].startswith("To be everyone")
    assert info.json["type"] == 4 and "model card" in info.json["data"]["content"]
    assert info.json["data"]["allowed_mentions"] == {"parse": []}
    assert bad.json["type"] == 4 and bad.json["data"]["flags"] & 64  # an error is ephemeral
    assert bad.json["data"]["content"] == replies.bad_options("option “-n” must be from 1 to 1500, not “0”", "/").text


async def test_slash_commands_are_synced_only_on_request(fake: FakeDiscord, tiny_model_dir: Path) -> None:
    async with running(fake, settings_for(fake, tiny_model_dir)):
        pass
    assert not [c for c in fake.calls if c.method == "PUT"]
    async with running(fake, settings_for(fake, tiny_model_dir), sync=True):
        pass
    (put,) = [c for c in fake.calls if c.method == "PUT"]
    assert put.path == f"/applications/{fake.BOT_ID}/commands"
    command, menu = put.json
    assert (command["name"], menu["name"], menu["type"]) == ("bard", "Continue as the bard", 3)
    expected = {"write", "help", "info", "speakers", "models", "reload", "stats", "settings", "sonnet"}  # `set`: prefix
    assert {o["name"] for o in command["options"]} == expected
    write = next(o for o in command["options"] if o["name"] == "write")
    form = next(o for o in write["options"] if o["name"] == "form")  # a sonnet instead of a monologue
    assert [choice["value"] for choice in form["choices"]] == ["monologue", "sonnet"]


# --------------------------------------------------------------------------- shutdown, plugin, console


async def test_shutdown_lets_the_command_in_flight_finish_then_closes(
    fake: FakeDiscord, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running(fake, settings_for(fake, tiny_model_dir)) as bot:
        gate = Gate(bot.bard_service, monkeypatch)
        message_id = await fake.send_message("!bard To be", author_id=1)
        await gate.wait_entered()
        with LogEvent("bot.bard", "finishing 1 command(s) in flight") as draining:
            shutdown = asyncio.create_task(bot.shutdown("SIGTERM"))
            await asyncio.wait_for(draining.wait(), 10)
        assert not shutdown.done() and fake.reply_to(message_id) is None and not bot.is_closed()
        gate.release.set()
        await asyncio.wait_for(shutdown, 10)
        reply = fake.reply_to(message_id)
        assert reply is not None and reply.json["content"].startswith("*The bard continues:*")
        assert bot.is_closed() and bot.bard_service.executor._shutdown  # type: ignore[union-attr]


async def test_the_stand_alone_bot_loads_the_extension_with_its_settings_and_service(
    fake: FakeDiscord, tiny_model_dir: Path
) -> None:
    async with running(fake, settings_for(fake, tiny_model_dir)) as bot:
        assert list(bot.extensions) == ["bot.cog"]
        cog: Any = bot.get_cog("Bard")  # discord.py executes the extension anew: not bot.cog.BardCog by identity
        assert cog.bard.settings is bot.bard_settings and cog.bard.service is bot.bard_service
        assert bot.bard_service.serving  # started, warmed up, by the extension's setup
    assert not bot.bard_service.serving and bot.bard_service.executor._shutdown  # type: ignore[union-attr]


async def test_the_cog_loads_into_a_plain_bot_as_an_extension(fake: FakeDiscord, tiny_model_dir: Path) -> None:
    intents = discord.Intents.default()
    intents.message_content = True
    host = commands.Bot(command_prefix="?", intents=intents, guild_ready_timeout=0.01)
    host.bard_settings = settings_for(fake, tiny_model_dir)  # type: ignore[attr-defined]
    point_at(fake.api_base_url, fake.gateway_url)  # the host bot's own business
    async with host:
        await host.load_extension("bot.cog")
        group = host.get_command("bard")
        assert isinstance(group, commands.Group)
        expected = {"help", "info", "speakers", "models", "reload", "stats", "settings", "set", "sonnet"}
        assert {c.name for c in group.commands} == expected
        cog = host.get_cog("Bard")
        task = await start(host)
        reply = await ask(fake, "?bard -t 0 -n 40 To be")  # greedy: random text can open with a "NAME:" line
        await host.unload_extension("bot.cog")
        await host.close()
        await task
    assert_safe(reply)  # even though the host bot allows mentions
    assert reply.json["content"].startswith("*The bard continues:*\n>>> To be")
    assert cog.bard.service.executor._shutdown  # type: ignore[union-attr]


async def test_a_service_the_host_lends_is_the_hosts_to_close(fake: FakeDiscord, tiny_model_dir: Path) -> None:
    settings = settings_for(fake, tiny_model_dir)
    host = commands.Bot(command_prefix="?", intents=discord.Intents.default())
    host.bard_settings = settings  # type: ignore[attr-defined]
    async with open_service(settings) as service:
        host.bard_service = service  # type: ignore[attr-defined]
        async with host:
            await host.load_extension("bot.cog")
            cog: Any = host.get_cog("Bard")
            assert cog.bard.service is service
            await host.unload_extension("bot.cog")
        assert service.serving and not service.executor._shutdown  # type: ignore[attr-defined]
    assert not service.serving and service.executor._shutdown  # type: ignore[attr-defined]


async def test_the_extension_fails_to_load_with_a_clear_message_when_the_model_is_missing(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    host = commands.Bot(command_prefix="?", intents=discord.Intents.default())
    host.bard_settings = settings_for(fake, tmp_path / "nowhere")  # type: ignore[attr-defined]
    async with host:
        with pytest.raises(commands.ExtensionFailed) as err:
            await host.load_extension("bot.cog")
    assert "does not exist" in str(err.value.original)
    assert host.get_command("bard") is None


async def test_the_console_gives_the_reply_the_channel_gets(fake: FakeDiscord, tiny_model_dir: Path) -> None:
    command = "!bard -t 0 -n 80 To be, or not"  # greedy: the same text every time
    settings = settings_for(fake, tiny_model_dir)
    async with running(fake, settings):
        channel = await ask(fake, command)
    out = io.StringIO()
    async with open_service(settings) as service:
        status = await run_console(
            Bard(settings, service), stdin=io.StringIO(command + "\n"), stdout=out, stderr=io.StringIO()
        )
    assert status == 0
    assert out.getvalue() == channel.json["content"] + "\n\n"
