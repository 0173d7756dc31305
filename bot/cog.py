"""The bard's Discord commands, as a Cog in a discord.py extension: the stand-alone BardBot loads it as any host
bot does, `await bot.load_extension("bot.cog")` (see setup for what it takes from the bot).
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import math
import re
from collections.abc import Callable
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot import replies, scene, server_commands
from bot.bard import Bard
from bot.components import DYNAMIC_ITEMS, NO_MENTIONS, view_for, with_view
from bot.limits import MAX_SEED_CHARS
from bot.options import OptionError
from bot.replies import Reply
from bot.request import Caller
from bot.scene import Spoken
from bot.server_settings import DEFAULT, KEYS, ServerSettingsStore, Where, kind_of, open_servers
from bot.service import GenerationService, UnknownModel, open_service
from bot.settings import Settings, load_settings

log = logging.getLogger(__name__)

BUTTONS_LAST = datetime.timedelta(days=14)  # a press on an older monologue is told to ask anew
# The slash command and the message menu can be installed to a server or to a user's account, and used in servers,
# DMs and group DMs; a user-installed call is answered through its interaction, with the host's defaults.
ANYWHERE_INSTALLS = app_commands.AppInstallationType(guild=True, user=True)
ANYWHERE_CONTEXTS = app_commands.AppCommandContext(guild=True, dm_channel=True, private_channel=True)
CONTEXT_MENU = "Continue as the bard"
FORMS = ("monologue", "sonnet")  # the slash command's form option


class ChannelNotAllowed(commands.CheckFailure):
    """A bard command in a channel outside BARD_ALLOWED_CHANNELS."""


class BardCog(commands.Cog, name="Bard"):
    """Shakespearean monologues from a character-level LSTM."""

    def __init__(self, bot: commands.Bot, bard: Bard, *, owned: contextlib.AsyncExitStack | None = None) -> None:
        self.bot = bot
        self.bard = bard
        self._owned = owned or contextlib.AsyncExitStack()  # what the extension opened for itself: its own service
        self.context_menu = app_commands.ContextMenu(
            name=CONTEXT_MENU,
            callback=self.continue_message,
            allowed_installs=ANYWHERE_INSTALLS,
            allowed_contexts=ANYWHERE_CONTEXTS,
        )

    async def cog_load(self) -> None:
        # Presses are recognised by their custom id, whatever message they are on: buttons survive restarts.
        self.bot.add_dynamic_items(*DYNAMIC_ITEMS)
        self.bot.tree.add_command(self.context_menu)

    # ------------------------------------------------------------------ commands

    @commands.hybrid_group(name="bard", fallback="write", case_insensitive=True)
    @app_commands.allowed_installs(guilds=True, users=True)  # usable anywhere: see ANYWHERE_INSTALLS
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    @app_commands.describe(
        seed="Your opening words, after any options: -t 0.5 -n 300 To be",
        model="Which bard (see /bard models); the default if left out",
        speaker="Who speaks (see /bard speakers); the bard chooses if left out",
        form="A monologue (the default) or a sonnet: 14 rhymed lines, the seed opening the first",
    )
    @app_commands.choices(form=[app_commands.Choice(name=f, value=f) for f in FORMS])
    async def bard_group(
        self,
        ctx: commands.Context[Any],
        *,
        seed: str = "",
        model: str | None = None,
        speaker: str | None = None,
        form: str | None = None,
    ) -> None:
        """Continue your line as a Shakespearean monologue (options: bard help)."""
        # `model`, `speaker` and `form` come from the slash command's options; a prefix command names them in the
        # text (-m NAME, Hamlet: To be) or asks `!bard sonnet`.
        with self.bard.in_flight():
            server_id = self._server_id(ctx)
            caller = Caller(ctx.author.id, ctx.clean_prefix, await self._is_owner(ctx), ctx.typing, server_id)
            sonnet = form == "sonnet"
            await self._send(ctx, await self.bard.write(caller, seed, model=model, speaker=speaker, sonnet=sonnet))

    @bard_group.command(name="sonnet")
    @app_commands.describe(
        seed="Your opening words, after any options: -t 0.5 Shall I compare thee",
        model="Which bard (see /bard models); the default if left out",
    )
    async def sonnet_command(self, ctx: commands.Context[Any], *, seed: str = "", model: str | None = None) -> None:
        """A Shakespearean sonnet: 14 lines rhymed ABAB CDCD EFEF GG, your words opening the first."""
        with self.bard.in_flight():
            server_id = self._server_id(ctx)
            caller = Caller(ctx.author.id, ctx.clean_prefix, await self._is_owner(ctx), ctx.typing, server_id)
            await self._send(ctx, await self.bard.write(caller, seed, model=model, sonnet=True))

    @sonnet_command.autocomplete("model")
    async def _sonnet_model_choices(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        return model_choices(self.bard.service.names, current)

    @bard_group.command(name="help")
    async def help_command(self, ctx: commands.Context[Any]) -> None:
        """How to ask the bard: options, their ranges and examples."""
        await self._send(ctx, self.bard.help(ctx.clean_prefix, self.bard.server_of(self._server_id(ctx))))

    @bard_group.autocomplete("model")
    async def _model_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return model_choices(self.bard.service.names, current)

    @bard_group.autocomplete("speaker")
    async def _speaker_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        model = getattr(interaction.namespace, "model", None) or None  # the model picked so far, if any
        try:
            found, _ = self.bard.service.speakers(25, current.strip(), model=model)
        except UnknownModel:  # a model typed but not (yet) a served one's name: the default's speakers
            found, _ = self.bard.service.speakers(25, current.strip())
        return [app_commands.Choice(name=name[:100], value=name[:100]) for name, _ in found]

    @bard_group.command(name="info")
    @app_commands.describe(model="Which bard (see /bard models); the default if left out")
    async def info_command(self, ctx: commands.Context[Any], model: str | None = None) -> None:
        """The model card: corpus, size, validation loss, when it was trained."""
        await self._send(ctx, self.bard.info("", ctx.clean_prefix, model=model))

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

    @bard_group.command(name="settings")
    @app_commands.describe(
        key="The setting to change; leave out to see them all",
        value=f"Its new value; `{DEFAULT}` gives it back to the host's",
    )
    @app_commands.choices(key=[app_commands.Choice(name=name, value=name) for name in KEYS])
    async def settings_command(self, ctx: commands.Context[Any], key: str | None = None, *, value: str = "") -> None:
        """This server's settings; with a key and a value, change one (Manage Server)."""
        await self._settings(ctx, "settings", f"{key or ''} {value}")

    @bard_group.command(name="set", with_app_command=False)
    async def set_command(self, ctx: commands.Context[Any], *, text: str = "") -> None:
        """Change one of this server's settings: set KEY VALUE (Manage Server); set KEY default resets it."""
        await self._settings(ctx, "set", text)

    @settings_command.autocomplete("value")
    async def _value_choices(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        name = getattr(interaction.namespace, "key", None) or ""
        if name not in KEYS:
            return []
        where = Where(self.bard.service.names)
        typed = current.strip().lower()
        offered = [*kind_of(name).choices(where), DEFAULT]
        return [app_commands.Choice(name=v[:100], value=v[:100]) for v in offered if typed in v.lower()][:25]

    async def _settings(self, ctx: commands.Context[Any], word: str, text: str) -> None:
        server_id = self._server_id(ctx)
        caller = Caller(ctx.author.id, ctx.clean_prefix, await self._is_owner(ctx), server_id=server_id)
        may_change = caller.is_owner or _manages_server(ctx)
        channels = None if ctx.guild is None else {c.id for c in ctx.guild.channels}
        where = Where(self.bard.service.names, channels)
        await self._send(
            ctx, await server_commands.run(self.bard, caller, word, text, may_change=may_change, where=where)
        )

    # ------------------------------------------------------------------ components and the context menu

    async def continue_message(self, interaction: discord.Interaction, message: discord.Message) -> None:
        """Continue this message's text as a monologue."""
        server_id = interaction_server(interaction)
        if not self._allowed(interaction.channel, server_id, user_install=_user_installed(interaction)):
            await interaction.response.send_message(replies.WRONG_CHANNEL.text, ephemeral=True)
            return
        await interaction.response.defer(thinking=True)  # answered within 3 s, whatever the queue holds
        with self.bard.in_flight():
            text = scene.tail(message.content.strip(), MAX_SEED_CHARS)
            if not text:
                reply = replies.NOTHING_TO_CONTINUE
            else:
                is_owner = await self._user_is_owner(interaction.user)
                caller = Caller(interaction.user.id, "/", is_owner, server_id=server_id)
                note = f"from a message by {message.author.display_name}"  # named, not mentioned
                reply = await self.bard.write_message(caller, text, note=note)  # all of it seed, even a leading -
            buttons = self.bard.server_of(server_id).buttons
            view = view_for(self.bard, reply.said, (), buttons=buttons) if reply.said is not None else None
            await interaction.followup.send(
                reply.text,
                ephemeral=not reply.ok,
                allowed_mentions=NO_MENTIONS,
                suppress_embeds=True,
                **with_view(view),
            )

    async def press(self, interaction: discord.Interaction, match: re.Match[str], speaker: str | None = None) -> None:
        """A monologue's button or Answer menu: deferred at once, then a new monologue replying to it (or a
        short ephemeral note why not). Everything it needs comes from the message and the component's id."""
        await interaction.response.defer()  # within Discord's 3 s, even with the queue full; nothing shows
        with self.bard.in_flight():
            message = interaction.message
            reply = self._refusal(interaction, match)
            if reply is None and message is not None:
                reply = await self._act(interaction, message, scene.ACTIONS[match["action"]], match, speaker)
            if reply is not None:
                await self._followup_quietly(interaction, reply)

    def _refusal(self, interaction: discord.Interaction, match: re.Match[str]) -> Reply | None:
        """Why a press cannot be answered, checked before anything is generated; None when it can."""
        message, server_id = interaction.message, interaction_server(interaction)
        if not self.bard.server_of(server_id).buttons:
            return replies.COMPONENTS_OFF
        if not self._allowed(interaction.channel, server_id, user_install=_user_installed(interaction)):
            return replies.WRONG_CHANNEL
        if message is None or scene.read_reply(message.content) is None:
            return replies.NOT_A_MONOLOGUE
        if discord.utils.utcnow() - message.created_at > BUTTONS_LAST:
            return replies.TOO_OLD
        if match["model"] not in self.bard.service.names:
            return replies.model_gone(match["model"])
        return None

    async def _act(
        self,
        interaction: discord.Interaction,
        message: discord.Message,
        action: str,
        match: re.Match[str],
        speaker: str | None,
    ) -> Reply | None:
        """Generate for a press and send the new monologue; returns a refusal to send instead, or None if sent."""
        spoken = scene.read_reply(message.content)
        try:
            options = scene.options_of(match)
        except OptionError:
            return replies.NOT_A_MONOLOGUE
        assert spoken is not None  # checked in _refusal
        said = scene.recovered(spoken, options, int(match["seed"]))
        earlier = await self._earlier(message)
        user, server_id = interaction.user, interaction_server(interaction)
        typing = None if _user_installed(interaction) else getattr(interaction.channel, "typing", None)
        caller = Caller(user.id, "/", await self._user_is_owner(user), typing, server_id)
        reply = await self.bard.act(caller, action, said, earlier, speaker=speaker)
        if reply.said is None:
            return reply
        # Continue and Answer reply to the pressed monologue, so that a scene is a chain of replies; Another stands
        # in for it, so it replies to what the pressed one replied to.
        if action == "another":
            parent, before = message.reference, earlier
        else:
            parent, before = message.to_reference(fail_if_not_exists=False), [*earlier, said.spoken]
        channel = interaction.channel
        view = with_view(view_for(self.bard, reply.said, before, buttons=self.bard.server_of(server_id).buttons))
        try:
            if _user_installed(interaction):  # the bot may not be in this channel: the interaction carries it
                await interaction.followup.send(reply.text, allowed_mentions=NO_MENTIONS, suppress_embeds=True, **view)
                return None
            if not isinstance(channel, discord.abc.Messageable):
                return replies.FAILED
            await channel.send(
                reply.text,
                reference=_reference_to(parent),  # type: ignore[arg-type]
                allowed_mentions=NO_MENTIONS,
                suppress_embeds=True,
                **view,
            )
        except discord.HTTPException:
            log.warning("could not send the monologue for a press", exc_info=True)
            return replies.FAILED
        return None

    async def _earlier(self, message: discord.Message) -> list[Spoken]:
        """The speeches before a monologue, oldest first: the bard's monologues it replies to, one after another
        (EXCHANGE_SPEECHES at most); the chain ends at anything else (a user's command, a deleted message)."""
        found: list[Spoken] = []
        reference, me = message.reference, self.bot.user
        while reference is not None and reference.message_id is not None and len(found) < scene.EXCHANGE_SPEECHES:
            parent = reference.resolved if isinstance(reference.resolved, discord.Message) else None
            if parent is None:
                try:
                    parent = await message.channel.fetch_message(reference.message_id)
                except discord.HTTPException:
                    break
            spoken = scene.read_reply(parent.content) if me is not None and parent.author.id == me.id else None
            if spoken is None:
                break
            found.append(spoken)
            reference = parent.reference
        return found[::-1]

    async def _followup_quietly(self, interaction: discord.Interaction, reply: Reply) -> None:
        try:
            await interaction.followup.send(reply.text, ephemeral=True, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException:
            log.warning("could not send the note for a press", exc_info=True)

    def _allowed(self, channel: Any, server_id: int | None, *, user_install: bool = False) -> bool:
        """Whether the bard answers in this channel: the server's channels (a user-installed call: anywhere)."""
        if user_install:
            return True
        allowed = self.bard.server_of(server_id).channels
        # A thread is allowed where its parent channel is.
        return not allowed or getattr(channel, "id", None) in allowed or getattr(channel, "parent_id", None) in allowed

    async def _user_is_owner(self, user: discord.abc.User) -> bool:
        if user.id in self.bard.settings.owner_ids:
            return True
        try:
            return await self.bot.is_owner(user)
        except discord.HTTPException:
            log.warning("could not fetch the application owner", exc_info=True)
            return False

    # ------------------------------------------------------------------ plumbing

    async def cog_check(self, ctx: commands.Context[Any]) -> bool:  # type: ignore[override]
        # The settings are managed anywhere, or a server that shut the bard out of every channel could not undo it.
        if ctx.command in (self.settings_command, self.set_command):
            return True
        user_install = ctx.interaction is not None and _user_installed(ctx.interaction)
        if self._allowed(ctx.channel, self._server_id(ctx), user_install=user_install):
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
        self.bot.remove_dynamic_items(*DYNAMIC_ITEMS)
        self.bot.tree.remove_command(self.context_menu.name, type=self.context_menu.type)
        await self.bard.close(self.bard.settings.shutdown_grace)  # the commands in flight finish first
        await self._owned.aclose()  # then what the extension opened for itself: its own service

    async def _is_owner(self, ctx: commands.Context[Any]) -> bool:
        return await self._user_is_owner(ctx.author)

    @staticmethod
    def _server_id(ctx: commands.Context[Any]) -> int | None:
        """Whose settings a command uses: its server's, unless it came through a user's install."""
        if ctx.interaction is not None:
            return interaction_server(ctx.interaction)
        return ctx.guild.id if ctx.guild is not None else None

    async def _send(self, ctx: commands.Context[Any], reply: Reply) -> None:
        kwargs: dict[str, Any] = {"allowed_mentions": NO_MENTIONS, "suppress_embeds": True}
        if ctx.interaction is None:
            # A reply, so each user sees which monologue is theirs; fine if their message is gone by now.
            kwargs["reference"] = ctx.message.to_reference(fail_if_not_exists=False)
        else:
            kwargs["ephemeral"] = not reply.ok
        async with self.bard.sending:  # a burst's replies built and sent a few at a time, so the loop never lags
            if reply.said is not None:
                buttons = self.bard.server_of(self._server_id(ctx)).buttons
                kwargs |= with_view(view_for(self.bard, reply.said, (), buttons=buttons))
            await ctx.send(reply.text, **kwargs)

    async def _send_quietly(self, ctx: commands.Context[Any], reply: Reply) -> None:
        try:
            await self._send(ctx, reply)
        except discord.HTTPException:
            log.warning("could not send the error reply", exc_info=True)


def _reference_to(parent: discord.MessageReference | None) -> discord.MessageReference | None:
    """A reply's reference to `parent` (None: not a reply), fine if that message is gone by now."""
    if parent is None or parent.message_id is None:
        return None
    return discord.MessageReference(
        message_id=parent.message_id, channel_id=parent.channel_id, guild_id=parent.guild_id, fail_if_not_exists=False
    )


def interaction_server(interaction: discord.Interaction) -> int | None:
    """The server whose settings an interaction uses: None in DMs and where only a user installed the bard (the
    bard may not be a member there: the host's defaults hold)."""
    return None if interaction.guild_id is None or _user_installed(interaction) else interaction.guild_id


def _user_installed(interaction: discord.Interaction) -> bool:
    """Called through a user's install only: the server (if any) did not install the bard."""
    return not interaction.is_guild_integration()


def _manages_server(ctx: commands.Context[Any]) -> bool:
    """Whether the member may manage the server (Discord's Manage Server permission) where the command was used."""
    if ctx.interaction is not None:
        return ctx.interaction.guild_id is not None and ctx.interaction.permissions.manage_guild
    return isinstance(ctx.author, discord.Member) and ctx.author.guild_permissions.manage_guild


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

    It uses what the bot carries: `bot.bard_settings` (else the BARD_* settings), `bot.bard_service` (a
    GenerationService the bot lends: the bot opened it and closes it) and `bot.bard_servers` (the servers' settings,
    likewise). A bot that lends none gets its own, opened by the extension (its own inference thread; the database
    of BARD_DATABASE_URL) and closed when it is unloaded.
    """
    settings: Settings = getattr(bot, "bard_settings", None) or load_settings()
    await add_bard(bot, settings, getattr(bot, "bard_service", None), servers=getattr(bot, "bard_servers", None))


async def add_bard(
    bot: commands.Bot,
    settings: Settings,
    lent: GenerationService | None = None,
    *,
    servers: ServerSettingsStore | None = None,
    make_cog: Callable[..., BardCog] = BardCog,
) -> BardCog:
    """The bard added to a bot as the cog `make_cog(bot, bard, owned=...)` makes (BardCog here, the Red cog in
    bard/): a service and the servers' settings are opened for it unless lent, and closed by the cog's unload, or
    here if adding fails."""
    owned = contextlib.AsyncExitStack()
    try:
        if servers is None:
            servers = await owned.enter_async_context(open_servers(settings))
        service = lent if lent is not None else await owned.enter_async_context(open_service(settings))
        await service.start()  # a lent service: warmed up once, here if not yet (the first request does not pay)
        metrics = getattr(bot, "bard_metrics", None)  # the bot's /metrics, if it has one
        cog = make_cog(bot, Bard(settings, service, servers=servers, metrics=metrics), owned=owned)
        await bot.add_cog(cog)
    except BaseException:  # e.g. the model is missing, or the host already has a `bard` command
        await owned.aclose()
        raise
    log.info("bard loaded into %s: serving %s", type(bot).__name__, service.describe())
    return cog
