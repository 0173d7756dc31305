"""The bard's Discord commands, as a Cog in a discord.py extension: the stand-alone BardBot loads it as any host
bot does, `await bot.load_extension("bot.cog")` (see setup for what it takes from the bot).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot import replies
from bot.bard import Bard
from bot.replies import Reply
from bot.service import GenerationService, create_service, inference_executor
from bot.settings import Settings, load_settings

log = logging.getLogger(__name__)

# Nobody is ever pinged, whatever the host bot allows and whatever the seed or the model says.
NO_MENTIONS = discord.AllowedMentions.none()


class ChannelNotAllowed(commands.CheckFailure):
    """A bard command in a channel outside BARD_ALLOWED_CHANNELS."""


class BardCog(commands.Cog, name="Bard"):
    """Shakespearean monologues from a character-level LSTM."""

    def __init__(self, bard: Bard, *, on_unload: Callable[[], Awaitable[None]] | None = None) -> None:
        self.bard = bard
        self._on_unload = on_unload

    # ------------------------------------------------------------------ commands

    @commands.hybrid_group(name="bard", fallback="write", case_insensitive=True)
    @app_commands.describe(
        seed="Your opening words, after any options: -t 0.5 -n 300 Hamlet: To be",
        model="Which bard (see /bard models); the default if left out",
    )
    async def bard_group(self, ctx: commands.Context[Any], *, seed: str = "", model: str | None = None) -> None:
        """Continue your line as a Shakespearean monologue (options: bard help)."""
        # `model` comes from the slash command's option; a prefix command names it in the text (-m NAME).
        with self.bard.in_flight():
            reply = await self.bard.write(
                ctx.author.id,
                with_model(seed, model),
                prefix=ctx.clean_prefix,
                is_owner=await self._is_owner(ctx),
                while_generating=ctx.typing,
            )
            await self._send(ctx, reply)

    @bard_group.command(name="help")
    async def help_command(self, ctx: commands.Context[Any]) -> None:
        """How to ask the bard: options, their ranges and examples."""
        await self._send(ctx, self.bard.help(ctx.clean_prefix))

    @bard_group.autocomplete("model")
    async def _model_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return model_choices(self.bard.service.names, current)

    @bard_group.command(name="info")
    @app_commands.describe(model="Which bard (see /bard models); the default if left out")
    async def info_command(self, ctx: commands.Context[Any], model: str | None = None) -> None:
        """The model card: corpus, size, validation loss, when it was trained."""
        await self._send(ctx, self.bard.info(with_model("", model), ctx.clean_prefix))

    @info_command.autocomplete("model")
    async def _info_model_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return model_choices(self.bard.service.names, current)

    @bard_group.command(name="models")
    async def models_command(self, ctx: commands.Context[Any]) -> None:
        """The bards served here, each with a line from its card; -m NAME picks one."""
        await self._send(ctx, self.bard.models())

    @bard_group.command(name="speakers")
    @app_commands.describe(name="Only speakers whose name contains this, e.g. ham")
    async def speakers_command(self, ctx: commands.Context[Any], *, name: str = "") -> None:
        """The speakers the bard knows best; name one before your seed: Hamlet: To be."""
        await self._send(ctx, self.bard.speakers(name, ctx.clean_prefix))

    @bard_group.command(name="reload")
    async def reload_command(self, ctx: commands.Context[Any]) -> None:
        """Owners only: serve the newly exported model without a restart."""
        with self.bard.in_flight():
            is_owner = await self._is_owner(ctx)
            if not is_owner:
                await self._send(ctx, replies.NOT_OWNER)
                return
            async with ctx.typing():  # loading can outlast a slash command's 3 s to answer
                reply = await self.bard.reload(is_owner=True)
            await self._send(ctx, reply)

    @bard_group.command(name="stats")
    async def stats_command(self, ctx: commands.Context[Any]) -> None:
        """Owners only: requests, errors, busy refusals, generation times, uptime."""
        is_owner = await self._is_owner(ctx)
        await self._send(ctx, self.bard.stats(is_owner=is_owner, transport=transport_facts(ctx.bot)))

    # ------------------------------------------------------------------ plumbing

    async def cog_check(self, ctx: commands.Context[Any]) -> bool:  # type: ignore[override]
        allowed = self.bard.settings.allowed_channels
        if not allowed:
            return True
        channel = ctx.channel
        # A thread is allowed where its parent channel is.
        if channel.id in allowed or getattr(channel, "parent_id", None) in allowed:
            return True
        raise ChannelNotAllowed()

    async def cog_command_error(self, ctx: commands.Context[Any], error: Exception) -> None:  # type: ignore[override]
        if isinstance(error, ChannelNotAllowed):
            if ctx.interaction is not None:  # a slash command must be answered; a message is just ignored
                await self._send_quietly(ctx, replies.WRONG_CHANNEL)
            return
        if isinstance(error, commands.UserInputError):
            reply = replies.bad_options(str(error).rstrip("."), ctx.clean_prefix)
        elif isinstance(error, commands.CheckFailure):
            reply = replies.NOT_OWNER
        else:
            original = getattr(error, "original", error)
            log.error("command %s failed", ctx.command, exc_info=original)
            reply = replies.FAILED
        await self._send_quietly(ctx, reply)

    async def cog_unload(self) -> None:
        await self.bard.close(self.bard.settings.shutdown_grace)
        if self._on_unload is not None:
            await self._on_unload()

    async def _is_owner(self, ctx: commands.Context[Any]) -> bool:
        if ctx.author.id in self.bard.settings.owner_ids:
            return True
        try:
            return await ctx.bot.is_owner(ctx.author)
        except discord.HTTPException:  # the application's owner could not be fetched: not an owner, for now
            log.warning("could not fetch the application owner", exc_info=True)
            return False

    @staticmethod
    async def _send(ctx: commands.Context[Any], reply: Reply) -> None:
        kwargs: dict[str, Any] = {"allowed_mentions": NO_MENTIONS, "suppress_embeds": True}
        if ctx.interaction is None:
            # A reply, so each user sees which monologue is theirs; fine if their message is gone by now.
            kwargs["reference"] = ctx.message.to_reference(fail_if_not_exists=False)
        else:
            kwargs["ephemeral"] = not reply.ok
        await ctx.send(reply.text, **kwargs)

    async def _send_quietly(self, ctx: commands.Context[Any], reply: Reply) -> None:
        try:
            await self._send(ctx, reply)
        except discord.HTTPException:
            log.warning("could not send the error reply", exc_info=True)


def with_model(text: str, model: str | None) -> str:
    """The command text with a slash command's model option in front, as `-m NAME` (the text's own options,
    after it, have the last word)."""
    return text if not model else f"-m {model.strip()} {text}"


def model_choices(names: list[str], current: str) -> list[app_commands.Choice[str]]:
    """Autocomplete: the served models whose name contains what was typed so far (Discord shows 25 at most)."""
    typed = current.strip().lower()
    return [app_commands.Choice(name=n, value=n) for n in names if typed in n.lower()][:25]


def transport_facts(bot: discord.Client) -> dict[str, Any]:
    """What `!bard stats` tells about the connection: guilds (the sharding threshold), shards, gateway latency."""
    facts: dict[str, Any] = {"guilds": f"{len(bot.guilds):,}"}
    if bot.shard_count:
        here = sorted(bot.shards) if isinstance(bot, discord.AutoShardedClient) else [bot.shard_id]
        facts["shards"] = f"{','.join(map(str, here))} of {bot.shard_count}"
    if math.isfinite(bot.latency):  # infinite until the first heartbeat is acknowledged
        facts["latency"] = f"{bot.latency * 1000:.0f} ms"
    return facts


async def setup(bot: commands.Bot) -> None:
    """Extension entry point, one path for every bot: the stand-alone BardBot and any host discord.py bot.

    It uses what the bot carries: `bot.bard_settings` (else the BARD_* settings) and `bot.bard_service` (a
    GenerationService the bot owns and closes). A bot that carries no service gets one of its own, with its own
    inference thread, both released when the extension is unloaded.
    """
    settings: Settings = getattr(bot, "bard_settings", None) or load_settings()
    service: GenerationService | None = getattr(bot, "bard_service", None)
    release = None
    if service is None:
        service, release = await _service_of_its_own(settings)
    else:
        await service.start()  # warm-up, once: the first request does not pay for it
    try:
        await bot.add_cog(BardCog(Bard(settings, service), on_unload=release))
    except BaseException:  # e.g. the host already has a `bard` command
        if release is not None:
            await service.close()
            await release()
        raise
    log.info("bard loaded into %s: serving %s", type(bot).__name__, service.describe())


async def _service_of_its_own(settings: Settings) -> tuple[GenerationService, Callable[[], Awaitable[None]]]:
    """A started service on its own inference thread, and what releases the thread; raises store.ModelError."""
    executor = inference_executor()
    try:
        service = await asyncio.to_thread(create_service, settings, executor)
        await service.start()
    except BaseException:
        executor.shutdown(wait=False, cancel_futures=True)
        raise

    async def release_executor() -> None:
        executor.shutdown(wait=False, cancel_futures=True)

    return service, release_executor
