"""What goes on a bard's message besides its text: the buttons (Continue, Another, Answer), the Answer menu, and
no mentions. A press is recognised by its component's custom id (bot/scene.py), whatever message it is on, so the
buttons work after a restart; the Bard cog (bot/cog.py) answers it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from bot import scene
from bot.scene import Said, Spoken

if TYPE_CHECKING:
    from bot.bard import Bard

# Nobody is ever pinged, whatever the host bot allows and whatever the seed or the model says.
NO_MENTIONS = discord.AllowedMentions.none()


class BardButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=scene.BUTTON_ID):
    """Continue, Another or Answer under a monologue; its custom id holds the model and options (bot/scene.py)."""

    def __init__(self, custom_id: str, label: str = "", style: discord.ButtonStyle = discord.ButtonStyle.secondary):
        super().__init__(discord.ui.Button(label=label, style=style, custom_id=custom_id))

    @classmethod
    async def from_custom_id(  # type: ignore[override]
        cls, interaction: discord.Interaction, item: discord.ui.Button[Any], match: re.Match[str], /
    ) -> BardButton:
        return cls(item.custom_id or match.string, item.label or "", item.style)

    async def callback(self, interaction: discord.Interaction) -> None:  # type: ignore[override]
        match = self.template.fullmatch(self.custom_id)
        cog = _bard_cog(interaction)
        if match is not None and cog is not None:
            await cog.press(interaction, match)  # type: ignore[attr-defined]


class AnswerMenu(discord.ui.DynamicItem[discord.ui.Select[Any]], template=scene.SELECT_ID):
    """Answer as…: the speakers who may answer a monologue."""

    def __init__(self, custom_id: str, names: Sequence[str] = ()):
        options = [discord.SelectOption(label=name[:100], value=name[:100]) for name in names]
        super().__init__(discord.ui.Select(custom_id=custom_id, placeholder="Answer as…", options=options))

    @classmethod
    async def from_custom_id(  # type: ignore[override]
        cls, interaction: discord.Interaction, item: discord.ui.Select[Any], match: re.Match[str], /
    ) -> AnswerMenu:
        return cls(item.custom_id or match.string)

    async def callback(self, interaction: discord.Interaction) -> None:  # type: ignore[override]
        match = self.template.fullmatch(self.custom_id)
        values = (interaction.data or {}).get("values") or []
        cog = _bard_cog(interaction)
        if match is not None and cog is not None:
            await cog.press(interaction, match, speaker=str(values[0]) if values else None)  # type: ignore[attr-defined]


def _bard_cog(interaction: discord.Interaction) -> Any:
    """The cog that answers presses, if this client is a bot that has it (an AutoShardedBot, Red's too, is no
    commands.Bot: both are BotBase)."""
    client = interaction.client
    return client.get_cog("Bard") if isinstance(client, commands.Bot | commands.AutoShardedBot) else None


DYNAMIC_ITEMS = (BardButton, AnswerMenu)  # what a bot registers (add_dynamic_items) for presses to reach the cog


def view_for(bard: Bard, said: Said, earlier: Sequence[Spoken], *, buttons: bool = True) -> discord.ui.View | None:
    """The components under a monologue: Continue, Another, Answer, and a menu of who may answer; None when the
    buttons are off (`buttons`: the server's setting, BARD_COMPONENTS by default) or an id would not fit."""
    if not buttons:
        return None
    ids = {action: scene.custom_id(action, said) for action in ("c", "a", "w", "s")}
    if None in ids.values():  # a model name too long for Discord's 100 characters: a plain reply
        return None
    view = discord.ui.View(timeout=None)
    if not said.options.sonnet:  # a sonnet is complete: only Another
        view.add_item(BardButton(str(ids["c"]), "Continue", discord.ButtonStyle.primary))
    view.add_item(BardButton(str(ids["a"]), "Another", discord.ButtonStyle.secondary))
    if said.spoken.speaker is not None:
        view.add_item(BardButton(str(ids["w"]), "Answer", discord.ButtonStyle.secondary))
        names = bard.answerers(said, earlier)
        if names:
            view.add_item(AnswerMenu(str(ids["s"]), names))
    # Presses reach the dynamic items whatever the message; a stored view would answer them a second time
    # and be kept in memory for ever, so it is finished before it is sent.
    view.stop()
    return view


def with_view(view: discord.ui.View | None) -> dict[str, Any]:
    """The send() keyword for a view, if there is one (none: a plain reply, as with BARD_COMPONENTS=false)."""
    return {"view": view} if view is not None else {}
