"""BardBot: the stand-alone bot, a commands.Bot that is handed its settings, opens the bard's service and lends it
to the bard's extension (bot.cog), which it loads as a host bot does (discord.py's advanced_startup pattern).

Sharding (BARD_SHARD_COUNT, BARD_SHARD_IDS): a process that runs one shard is a BardBot with shard_id and
shard_count; one that runs several is a ShardedBardBot (discord.py's AutoShardedBot), its shards sharing one
model. create_bot picks.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import resource
from typing import Any

import discord
import yarl
from discord.ext import commands

from bot.components import NO_MENTIONS
from bot.metrics import BardMetrics
from bot.server_settings import ServerSettingsStore, open_servers
from bot.service import GenerationService, open_service
from bot.settings import Settings

log = logging.getLogger(__name__)

EXTENSION = "bot.cog"


def point_at(api_base_url: str, gateway_url: str) -> None:
    """Use these Discord REST and gateway endpoints (a Discord-compatible server, or a test's fake)."""
    # discord.py keeps both as class attributes; there is no per-client option.
    discord.http.Route.BASE = api_base_url
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


def intents_for(settings: Settings) -> discord.Intents:
    intents = discord.Intents.default()  # guilds and messages; not members or presences
    # Privileged: must also be enabled in the Developer Portal. Without it only mentions and slash commands work.
    intents.message_content = settings.message_content_intent
    return intents


class _BardBotMixin:
    """The bard as a bot of its own: the prefix (or a mention), the bard's extension, and an orderly shutdown.

    It owns its service and the servers' settings: `async with bot` opens them (the database, then the model,
    loaded and warmed up before any connection, so a bad one stops start-up at once; setup_hook opens them if the
    bot was started without), and close() closes them. It carries what the extension's setup() looks for
    (bard_settings, bard_service, bard_servers, bard_metrics), so the extension serves this bot's service and
    settings rather than opening its own, and counts its requests in the bot's metrics.
    """

    def __init__(self, settings: Settings, *, sync_commands: bool = False, **options: Any) -> None:
        # The bard has no voice: discord.py's warnings about missing voice libraries are only noise here.
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        super().__init__(
            command_prefix=commands.when_mentioned_or(settings.prefix),
            intents=intents_for(settings),
            allowed_mentions=NO_MENTIONS,
            owner_ids=set(settings.owner_ids),
            case_insensitive=True,
            **options,
        )
        self.bard_settings = settings
        self.bard_service: GenerationService | None = None  # open while the bot is
        self.bard_metrics = BardMetrics()  # its /metrics: the extension counts requests here
        self.bard_metrics.watch_gateway(self)
        self.bard_servers: ServerSettingsStore | None = None  # each server's settings: open while the bot is
        self._owned = contextlib.AsyncExitStack()
        self.sync_commands = sync_commands

    async def __aenter__(self) -> Any:
        entered = await super().__aenter__()
        try:
            await self._open_service()
        except BaseException:
            await self.close()
            raise
        return entered

    async def _open_service(self) -> None:
        if self.bard_servers is None:  # first: a database that cannot be opened stops start-up before the model loads
            self.bard_servers = await self._owned.enter_async_context(open_servers(self.bard_settings))
        if self.bard_service is None:
            self.bard_service = await self._owned.enter_async_context(open_service(self.bard_settings))
            self.bard_metrics.watch_service(self.bard_service)
            freeze_what_lives_long()

    async def login(self, token: str) -> None:
        point_at(self.bard_settings.api_base_url, self.bard_settings.gateway_url)
        await super().login(token)

    async def setup_hook(self) -> None:
        await self._open_service()  # open already, unless the bot was started without `async with bot`
        await self.load_extension(EXTENSION)
        if self.sync_commands:
            synced = await self.tree.sync()
            log.info("slash commands synced: %s", ", ".join(f"/{c.name}" for c in synced) or "none")

    async def on_ready(self) -> None:
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
        shards = f" on shard(s) {','.join(map(str, self.bard_settings.shards_here))} of {self.shard_count}"
        log.info(
            "ready as %s in %d guild(s)%s, serving %s; peak RSS %.0f MB",
            self.user,
            len(self.guilds),
            shards if self.shard_count else "",
            self.bard_service.describe() if self.bard_service is not None else "nothing",
            peak_mb,
        )

    async def on_shard_ready(self, shard_id: int) -> None:
        log.info("shard %d of %s ready", shard_id, self.shard_count)

    async def on_command_error(self, context: commands.Context[Any], exception: commands.CommandError, /) -> None:
        # Other bots' commands share the prefix: an unknown command is not an error worth a traceback.
        if isinstance(exception, commands.CommandNotFound):
            return
        await super().on_command_error(context, exception)

    async def shutdown(self, reason: str) -> None:
        """Stop taking commands, let those in flight finish (BARD_SHUTDOWN_GRACE), close the gateway."""
        if self.is_closed():
            return
        log.info("%s: shutting down", reason)
        await self.close()

    async def close(self) -> None:
        """The extension first (BardCog.cog_unload lets the commands in flight finish), then the service (a command
        still waiting is told the bard is leaving), then the gateway."""
        try:
            if EXTENSION in self.extensions:
                await self.unload_extension(EXTENSION)
        finally:
            try:
                await self._owned.aclose()
            finally:
                await super().close()


def freeze_what_lives_long() -> None:
    """What is loaded by now (the models and their records, the settings, the bot) lives as long as the process: out
    of the cyclic garbage collector's way, so that its full collections, which would otherwise walk all of it, no
    longer pause the event loop (measured in a burst of 1,000 settings changes: pauses of 50-60 ms, 3 ms without
    collections). Objects that die are still freed as usual: only cycles among these would stay."""
    gc.collect()
    gc.freeze()


class BardBot(_BardBotMixin, commands.Bot):
    """The bard on one gateway connection: the whole bot, or one shard (shard_id, shard_count) of several."""


class ShardedBardBot(_BardBotMixin, commands.AutoShardedBot):
    """The bard on several shards in one process (shard_ids, shard_count), all served by one model."""


def create_bot(settings: Settings, **options: Any) -> BardBot | ShardedBardBot:
    """The bot for the shards this process runs (see Settings.shards_here); options go to the constructor."""
    shards = settings.shards_here
    if len(shards) > 1:
        return ShardedBardBot(settings, shard_ids=list(shards), shard_count=settings.shard_count, **options)
    if shards:
        return BardBot(settings, shard_id=shards[0], shard_count=settings.shard_count, **options)
    return BardBot(settings, **options)
