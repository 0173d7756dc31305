"""The bard as a Red-DiscordBot cog: the stand-alone bot's cog (bot/cog.py, BardCog) with its commands declared again
through Red's decorators, because Red.add_command takes only Red's Command classes. Each Red command is built as
discord.py copies a command (from the same callback and keyword arguments), so the commands, options, replies and
buttons stay BardCog's own: a command added there appears here. What is Red's alone: the owner's model folder kept
in Red's Config (`[p]bardset model PATH`) and red_delete_data_for_user.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any, Literal

from discord.ext import commands as dpy_commands
from redbot.core import Config, commands
from redbot.core.bot import Red

from bot.bard import Bard
from bot.cog import BardCog
from model_store import DEFAULT_MODEL_DIR

log = logging.getLogger(__name__)

CONFIG_ID = 0xBA4D_0034  # Red's Config identifier for the bard: fixed for good, or what owners set is lost
COG_NAME = "Bard"  # the cog's name: the buttons find the cog by it (bot/components.py), and Config files under it


def bard_config() -> Config:
    """The bard's settings in Red's Config: one global value, the owner's model folder (None: the bundled model)."""
    config = Config.get_conf(None, identifier=CONFIG_ID, cog_name=COG_NAME, force_registration=True)
    config.register_global(model_dir=None)
    return config


def red_command(command: dpy_commands.Command, parent: commands.Group | None = None) -> commands.Command:
    """Red's copy of one of BardCog's commands, under `parent` (a Red group) if it has one: the same callback and
    keyword arguments (what discord.py's Command.copy uses), the same checks and the slash options' autocompletes."""
    kwargs = {key: value for key, value in command.__original_kwargs__.items() if key != "parent"}
    kwargs["name"] = command.name
    if isinstance(command, dpy_commands.HybridGroup):
        make = parent.group if parent is not None else commands.hybrid_group
    elif isinstance(command, dpy_commands.HybridCommand):
        make = parent.command if parent is not None else commands.hybrid_command
    elif isinstance(command, dpy_commands.Group):
        make = parent.group if parent is not None else commands.group
    else:
        make = parent.command if parent is not None else commands.command
    twin = make(**kwargs)(command.callback)
    twin.checks = list(command.checks)  # not re-read from the callback: discord.py reverses that list in place
    for name, autocomplete in _autocompletes(command).items():
        twin.autocomplete(name)(autocomplete)
    return twin


def _autocompletes(command: dpy_commands.Command) -> dict[str, Any]:
    """A hybrid command's autocomplete callbacks by option name (a hybrid group's: its fallback's)."""
    slash = getattr(command, "app_command", None)
    if isinstance(command, dpy_commands.HybridGroup):
        slash = slash.get_command(command.fallback) if slash is not None and command.fallback else None
    if slash is None:
        return {}
    # discord.py exposes only whether an option has one (Parameter.autocomplete); the callback is on _params.
    return {name: param.autocomplete for name, param in slash._params.items() if param.autocomplete is not None}


def red_commands(cog_class: type[dpy_commands.Cog]) -> dict[str, commands.Command]:
    """Red's copies of a cog class's commands, by the attribute names the class declares them under (parents
    first, so that each subcommand joins its Red group)."""
    declared = {name: value for name, value in vars(cog_class).items() if isinstance(value, dpy_commands.Command)}
    made: dict[int, commands.Command] = {}

    def copy_of(command: dpy_commands.Command) -> commands.Command:
        if id(command) not in made:
            parent = copy_of(command.parent) if command.parent is not None else None  # type: ignore[arg-type]
            made[id(command)] = red_command(command, parent)
        return made[id(command)]

    return {name: copy_of(command) for name, command in declared.items()}


class _RedBard(BardCog, commands.Cog):
    """Shakespearean monologues from a character-level LSTM."""

    def __init__(self, bot: Red, bard: Bard, *, owned: contextlib.AsyncExitStack, config: Config) -> None:
        super().__init__(bot, bard, owned=owned)
        self.config = config

    @commands.group(name="bardset", invoke_without_command=True)
    @commands.is_owner()
    async def bardset(self, ctx: commands.Context) -> None:
        """Owners only: which model the bard serves (kept in Red's Config)."""
        stored = await self.config.model_dir()
        where = f"`{stored}`" if stored else f"the bundled model (`{DEFAULT_MODEL_DIR}`)"
        await ctx.send(f"The bard serves **{self.bard.service.describe()}** from {where}.")

    @bardset.command(name="model")
    async def bardset_model(self, ctx: commands.Context, *, path: str = "") -> None:
        """Serve the model exported to PATH (a folder bard-train or bard-generate wrote); no PATH: the bundled one."""
        folder = Path(path.strip()).expanduser().resolve() if path.strip() else None
        before = self.bard.settings
        self.bard.settings = before.model_copy(update={"model_dir": folder or DEFAULT_MODEL_DIR})
        with self.bard.in_flight():
            async with ctx.typing():  # loading and warming up a model takes a while
                reply = await self.bard.reload(is_owner=True)
        if reply.ok:
            await self.config.model_dir.set(str(folder) if folder else None)
        else:  # refused: the model that served before goes on serving, and the setting is not changed
            self.bard.settings = before
        await self._send(ctx, reply)

    async def red_delete_data_for_user(
        self,
        *,
        requester: Literal["discord_deleted_user", "owner", "user", "user_strict"],
        user_id: int,
    ) -> None:
        """What the bard keeps about a user: in memory, when they last asked (the cooldown's); on disk, their id beside
        the settings changes they made (it becomes 0; the changes stay)."""
        await self.bard.forget_user(user_id)


# The class Red loads: _RedBard with every BardCog command replaced by Red's copy of it, under the same name.
RedBardCog = type(_RedBard)(
    "RedBardCog",
    (_RedBard,),
    {"__module__": __name__, "__doc__": _RedBard.__doc__, **red_commands(BardCog)},
    name=COG_NAME,
)
